package main

import (
	"io"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"
)

// openStreams opens --open streams and runs them all at once; it reports an
// "open-done" line. Streams are opened one after another, so stream index i
// gets the i-th id of this side (2i+1 on the client, 2i+2 on the server);
// opening blocks while --accept-backlog streams await their ACK.
func (p *peer) openStreams() {
	start := time.Now()
	var wg sync.WaitGroup
	var okCount int64
	for i := 0; i < p.o.open; i++ {
		st, err := p.sess.OpenStream()
		if err != nil {
			out.fail("open stream: "+err.Error(), Event{"index": i})
			continue
		}
		atomic.AddInt64(&p.opened, 1)
		out.emit("stream-opened", Event{"id": st.StreamID(), "index": i})
		wg.Add(1)
		atomic.AddInt64(&p.handlers, 1)
		go func(index int) {
			defer wg.Done()
			defer atomic.AddInt64(&p.handlers, -1)
			if p.runOpenedStream(st, index) {
				atomic.AddInt64(&okCount, 1)
			}
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	total := float64(p.o.bytes) * float64(p.o.open)
	done := Event{"streams": p.o.open, "ok": okCount, "bytesEachWay": p.o.bytes, "ms": ms(elapsed)}
	if okCount == int64(p.o.open) && !p.o.resetStream {
		done["mibPerSecEachWay"] = math.Round(total/elapsed.Seconds()/(1<<20)*10) / 10
	}
	out.emit("open-done", done)
}

// runOpenedStream writes --bytes of pattern index on the stream while
// reading the echo concurrently and verifying it byte for byte, then closes
// it. With --reset-stream it resets the stream after --reset-after echoed
// bytes instead. It reports whether the stream did what was asked.
func (p *peer) runOpenedStream(st *yamux.Stream, index int) bool {
	id := st.StreamID()
	start := time.Now()

	// Writer: the pattern, in --chunk writes.
	var sent int64
	writeDone := make(chan error, 1)
	go func() {
		pat := newPattern(index)
		buf := make([]byte, p.o.chunk)
		for total := int64(0); total < p.o.bytes; {
			n := int64(len(buf))
			if left := p.o.bytes - total; left < n {
				n = left
			}
			pat.fill(buf[:n])
			w, err := st.Write(buf[:n])
			total += int64(w)
			atomic.AddInt64(&sent, int64(w))
			atomic.AddInt64(&p.bytesOut, int64(w))
			if err != nil {
				writeDone <- err
				return
			}
		}
		writeDone <- nil
	}()

	// Reader: exactly as many bytes as were sent (or --reset-after).
	want := p.o.bytes
	if p.o.resetStream && p.o.resetAfter < want {
		want = p.o.resetAfter
	}
	v := newVerifier(index)
	buf := make([]byte, p.o.chunk)
	var got int64
	fail := func(msg string, err error) bool {
		fields := Event{"index": index, "bytesIn": got, "bytesOut": atomic.LoadInt64(&sent)}
		if err == yamux.ErrConnectionReset {
			out.emit("stream-reset", withFields(fields, Event{"id": id}))
			msg += " (stream reset by the remote)"
		}
		if err != nil {
			msg += ": " + err.Error()
		}
		p.streamFailed(id, msg, fields)
		if !p.sess.IsClosed() && err != yamux.ErrConnectionReset {
			// Free the stream: stop the writer by resetting it.
			p.resetStream(st)
		}
		return false
	}
	for got < want {
		n := int64(len(buf))
		if left := want - got; left < n {
			n = left
		}
		r, err := st.Read(buf[:n])
		if r > 0 {
			if off := v.check(buf[:r]); off >= 0 {
				return fail("echo differs from what was sent", errString("first wrong byte at offset "+strconv.FormatInt(off, 10)))
			}
			got += int64(r)
			atomic.AddInt64(&p.bytesIn, int64(r))
		}
		if err == io.EOF {
			if p.tap.finReceived(id) {
				return fail("echo ended early: the remote closed its side", nil)
			}
			return fail("echo ended early: session closed", nil)
		}
		if err != nil {
			return fail("read echo", err)
		}
	}

	if p.o.resetStream {
		// Reset, then let the writer notice (it fails with ErrConnectionReset).
		if err := p.resetStream(st); err != nil {
			return fail(err.Error(), nil)
		}
		<-writeDone
		out.emit("stream-reset-sent", Event{"id": id, "index": index, "bytesIn": got, "bytesOut": atomic.LoadInt64(&sent)})
		return true
	}
	if err := <-writeDone; err != nil {
		return fail("write", err)
	}
	st.Close()
	// After Close the snapshot's Read only returns bytes already buffered:
	// anything there is more echo than was sent.
	if extra, _ := st.Read(buf); extra > 0 {
		return fail("echo longer than what was sent", nil)
	}
	elapsed := time.Since(start)
	out.emit("stream-result", Event{"id": id, "index": index, "ok": true, "bytes": p.o.bytes, "ms": ms(elapsed)})
	return true
}

// pushStream opens one stream and writes --push bytes of pattern 0 without
// ever reading, reporting when the writes stall on the send window ("push-
// stalled", with the bytes written so far: with a reader that does not read,
// that is the window the remote granted) and when they resume.
func (p *peer) pushStream() {
	atomic.AddInt64(&p.handlers, 1)
	defer atomic.AddInt64(&p.handlers, -1)
	st, err := p.sess.OpenStream()
	if err != nil {
		out.fail("open push stream: "+err.Error(), nil)
		return
	}
	atomic.AddInt64(&p.opened, 1)
	id := st.StreamID()
	out.emit("stream-opened", Event{"id": id, "index": 0, "push": true})
	start := time.Now()

	pat := newPattern(0)
	buf := make([]byte, p.o.chunk)
	var written int64
	stalled, stalls := false, 0
	for written < p.o.push {
		n := int64(len(buf))
		if left := p.o.push - written; left < n {
			n = left
		}
		pat.fill(buf[:n])
		for off := int64(0); off < n; {
			st.SetWriteDeadline(time.Now().Add(p.o.stallMs))
			w, err := st.Write(buf[off:n])
			off += int64(w)
			written += int64(w)
			atomic.AddInt64(&p.bytesOut, int64(w))
			if w > 0 && stalled {
				stalled = false
				out.emit("push-resumed", Event{"id": id, "written": written - int64(w)})
			}
			if err == yamux.ErrTimeout {
				if !stalled {
					stalled = true
					stalls++
					out.emit("push-stalled", Event{"id": id, "written": written})
				}
				continue
			}
			if err != nil {
				p.streamFailed(id, "push write: "+err.Error(), Event{"written": written})
				return
			}
		}
	}
	st.SetWriteDeadline(time.Time{})
	st.Close()
	out.emit("push-done", Event{"id": id, "written": written, "stalls": stalls, "ms": ms(time.Since(start))})
}

// pings sends --ping pings one after another.
func (p *peer) pings() {
	var sum, min, max time.Duration
	count := 0
	for i := 0; i < p.o.ping; i++ {
		if i > 0 && p.o.pingInterval > 0 {
			time.Sleep(p.o.pingInterval)
		}
		// The snapshot's Ping starts its clock only once the ping frame has
		// been written, and the pong can beat that (it then reports ~0):
		// time the whole call instead, and report the library's figure too.
		start := time.Now()
		libRTT, err := p.sess.Ping()
		rtt := time.Since(start)
		if err != nil {
			out.fail("ping: "+err.Error(), Event{"seq": i})
			return
		}
		out.emit("rtt", Event{"seq": i, "ms": ms(rtt), "libMs": ms(libRTT)})
		if count == 0 || rtt < min {
			min = rtt
		}
		if rtt > max {
			max = rtt
		}
		sum += rtt
		count++
	}
	out.emit("ping-done", Event{"count": count, "minMs": ms(min), "avgMs": ms(sum / time.Duration(count)), "maxMs": ms(max)})
}
