package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"
)

// acceptLoop accepts every inbound stream (after --accept-delay) and serves
// each in its own goroutine. It ends when the session shuts down.
func (p *peer) acceptLoop() {
	defer close(p.acceptDone)
	if d := p.o.acceptDelay; d > 0 {
		select {
		case <-time.After(d):
		case <-p.sess.CloseChan():
		}
	}
	for {
		st, err := p.sess.AcceptStream()
		if err != nil {
			// The session's shutdown error: EOF means the remote closed TCP.
			p.closeReason.CompareAndSwap(nil, "accept: "+err.Error())
			return
		}
		atomic.AddInt64(&p.accepted, 1)
		atomic.AddInt64(&p.handlers, 1)
		out.emit("stream-accepted", Event{"id": st.StreamID()})
		go func() {
			defer atomic.AddInt64(&p.handlers, -1)
			p.serveStream(st)
		}()
	}
}

// serveStream handles one inbound stream according to --serve.
//
// The snapshot's Read returns io.EOF both after the remote's FIN and when
// the session shuts down; the tap tells the two apart. There is no
// CloseWrite: Close sends FIN, and once the Go side has closed, Read returns
// EOF as soon as its buffer is empty; so replies are always written before
// Close.
func (p *peer) serveStream(st *yamux.Stream) {
	id := st.StreamID()
	start := time.Now()
	if d := p.o.slowReader; d > 0 {
		out.emit("read-paused", Event{"id": id, "ms": ms(d)})
		select {
		case <-time.After(d):
		case <-p.sess.CloseChan():
		}
		// What the remote managed to send while we did not read: with a
		// sender that writes as much as it can, that is our receive window.
		out.emit("read-resumed", Event{"id": id, "received": p.tap.received(id)})
	}

	var in, sent int64
	hash := sha256.New()
	buf := make([]byte, p.o.chunk)
	write := func(b []byte) error {
		n, err := st.Write(b)
		sent += int64(n)
		atomic.AddInt64(&p.bytesOut, int64(n))
		return err
	}
	for {
		n, err := st.Read(buf)
		if n > 0 {
			in += int64(n)
			atomic.AddInt64(&p.bytesIn, int64(n))
			switch p.o.serve {
			case "echo":
				if werr := write(buf[:n]); werr != nil {
					p.streamEnded(st, "echo write", werr, in, sent)
					return
				}
			case "summary":
				hash.Write(buf[:n])
			}
			if p.o.resetStream && in >= p.o.resetAfter {
				if rerr := p.resetStream(st); rerr != nil {
					p.streamFailed(id, rerr.Error(), nil)
					return
				}
				out.emit("stream-reset-sent", Event{"id": id, "bytesIn": in, "bytesOut": sent})
				return
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			p.streamEnded(st, "read", err, in, sent)
			return
		}
	}
	if !p.tap.finReceived(id) {
		p.streamFailed(id, "stream ended without FIN from the remote (session closed)", Event{"bytesIn": in, "bytesOut": sent})
		return
	}
	if p.o.serve == "summary" {
		reply := fmt.Sprintf("%d %x\n", in, hash.Sum(nil))
		if err := write([]byte(reply)); err != nil {
			p.streamEnded(st, "summary write", err, in, sent)
			return
		}
	}
	st.Close()
	fields := Event{"id": id, "bytesIn": in, "bytesOut": sent, "ms": ms(time.Since(start))}
	if p.o.serve == "summary" {
		fields["sha256"] = fmt.Sprintf("%x", hash.Sum(nil))
	}
	out.emit("stream-done", fields)
}

// streamEnded reports a stream cut short: a remote reset is an event, any
// other failure an error.
func (p *peer) streamEnded(st *yamux.Stream, op string, err error, in, sent int64) {
	if err == yamux.ErrConnectionReset {
		out.emit("stream-reset", Event{"id": st.StreamID(), "bytesIn": in, "bytesOut": sent})
		return
	}
	p.streamFailed(st.StreamID(), op+": "+err.Error(), Event{"bytesIn": in, "bytesOut": sent})
}
