package main

// The frame tap: a net.Conn wrapper between yamux and the TCP socket.
//
// The hashicorp/yamux snapshot has no public stream reset, no way to learn
// that a Go Away arrived (or with which code), and no frame trace. The peer
// therefore hands yamux a tapConn, which follows the frame stream in both
// directions (it parses headers only; payloads pass through untouched) and
// can insert whole frames at frame boundaries:
//
//   - outbound: a frame written between two frames of the session's send
//     loop reaches the remote exactly as if yamux had sent it;
//   - inbound: a frame handed to the session's receive loop between two real
//     frames is processed as if the remote had sent it.
//
// A local stream reset uses both (see peer.resetStream): an RST is injected
// inbound so the Go session tears the stream down exactly as on a remote
// reset, and the same RST is sent to the remote.

import (
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

const headerSize = 12

// Frame types and flags, as in the Yamux specification.
const (
	typeData         = 0
	typeWindowUpdate = 1
	typePing         = 2
	typeGoAway       = 3

	flagSYN = 0x1
	flagACK = 0x2
	flagFIN = 0x4
	flagRST = 0x8
)

// frameHeader is one 12-byte Yamux frame header.
type frameHeader [headerSize]byte

func (h frameHeader) version() uint8   { return h[0] }
func (h frameHeader) typ() uint8       { return h[1] }
func (h frameHeader) flags() uint16    { return binary.BigEndian.Uint16(h[2:4]) }
func (h frameHeader) streamID() uint32 { return binary.BigEndian.Uint32(h[4:8]) }
func (h frameHeader) length() uint32   { return binary.BigEndian.Uint32(h[8:12]) }

// encodeFrame builds a body-less frame (a header).
func encodeFrame(typ uint8, flags uint16, id, length uint32) []byte {
	b := make([]byte, headerSize)
	b[1] = typ
	binary.BigEndian.PutUint16(b[2:4], flags)
	binary.BigEndian.PutUint32(b[4:8], id)
	binary.BigEndian.PutUint32(b[8:12], length)
	return b
}

var typeNames = []string{"data", "window-update", "ping", "go-away"}

// describe renders a header as event fields (used by --trace).
func (h frameHeader) describe() Event {
	name := "unknown"
	if int(h.typ()) < len(typeNames) {
		name = typeNames[h.typ()]
	}
	flags := []string{}
	for _, f := range []struct {
		bit  uint16
		name string
	}{{flagSYN, "SYN"}, {flagACK, "ACK"}, {flagFIN, "FIN"}, {flagRST, "RST"}} {
		if h.flags()&f.bit != 0 {
			flags = append(flags, f.name)
		}
	}
	return Event{"type": name, "flags": flags, "stream": h.streamID(), "length": h.length(), "version": h.version()}
}

// frameCursor follows a byte stream made of Yamux frames.
type frameCursor struct {
	hdr      frameHeader
	hdrN     int    // header bytes seen so far
	bodyLeft uint32 // Data payload bytes still to come
	onHeader func(frameHeader)
}

// atBoundary reports whether the next byte starts a new frame.
func (c *frameCursor) atBoundary() bool { return c.hdrN == 0 && c.bodyLeft == 0 }

// segmentLeft is the number of bytes until the end of the current header or
// payload, so that reads can be cut at frame boundaries.
func (c *frameCursor) segmentLeft() int {
	if c.bodyLeft > 0 {
		return int(c.bodyLeft)
	}
	return headerSize - c.hdrN
}

// feed advances the cursor over b, calling onHeader for each completed header.
func (c *frameCursor) feed(b []byte) {
	for len(b) > 0 {
		if c.bodyLeft > 0 {
			n := uint32(len(b))
			if n > c.bodyLeft {
				n = c.bodyLeft
			}
			c.bodyLeft -= n
			b = b[n:]
			continue
		}
		n := copy(c.hdr[c.hdrN:], b)
		c.hdrN += n
		b = b[n:]
		if c.hdrN == headerSize {
			c.hdrN = 0
			if c.hdr.typ() == typeData {
				c.bodyLeft = c.hdr.length()
			}
			c.onHeader(c.hdr)
		}
	}
}

// chunk is one read from the socket, handed from the pump to Read.
type chunk struct {
	b   []byte
	err error
}

// tapConn is the connection yamux runs on. Read is only called by the
// session's receive loop; Write only by its send loop (and by injections,
// which the write mutex serialises with it).
type tapConn struct {
	net.Conn
	trace bool

	// Outbound side.
	wmu      sync.Mutex
	wcur     frameCursor
	wpending [][]byte // injected frames waiting for a frame boundary

	// Inbound side. The pump goroutine reads the socket into two alternating
	// buffers; the unbuffered channel keeps it at most one chunk ahead.
	chunks   chan chunk
	injectIn chan injection
	rcur     frameCursor
	rbuf     []byte // unread rest of the current chunk
	rerr     error
	injBuf   []byte // unread rest of an injected frame
	done     chan struct{}
	doneOnce sync.Once
	abrupt   int32 // set: Close does not linger (see Close)
	// readEnded is closed when a socket read fails (EOF included); pumpDone
	// when the pump has handed that error to Read (or given up).
	readEnded, pumpDone chan struct{}

	// Inbound bookkeeping, read by stream handlers.
	mu     sync.Mutex
	fin    map[uint32]bool  // streams on which the remote sent FIN
	rst    map[uint32]bool  // streams the remote reset
	dataIn map[uint32]int64 // Data payload bytes received per stream
}

// injection is a frame to hand to the session's receive loop; delivered is
// closed once the session has read it.
type injection struct {
	frame     []byte
	delivered chan struct{}
}

func newTapConn(conn net.Conn, trace bool) *tapConn {
	t := &tapConn{
		Conn:      conn,
		trace:     trace,
		chunks:    make(chan chunk),
		injectIn:  make(chan injection, 1024),
		done:      make(chan struct{}),
		readEnded: make(chan struct{}),
		pumpDone:  make(chan struct{}),
		fin:       make(map[uint32]bool),
		rst:       make(map[uint32]bool),
		dataIn:    make(map[uint32]int64),
	}
	t.wcur.onHeader = t.onOutboundHeader
	t.rcur.onHeader = t.onInboundHeader
	go t.pump()
	return t
}

// pump reads the socket and hands chunks to Read.
func (t *tapConn) pump() {
	defer close(t.pumpDone)
	bufs := [2][]byte{make([]byte, 64*1024), make([]byte, 64*1024)}
	for i := 0; ; i ^= 1 {
		n, err := t.Conn.Read(bufs[i])
		if err != nil {
			// the socket has nothing more to give (EOF, or closed)
			close(t.readEnded)
		}
		if n > 0 {
			select {
			case t.chunks <- chunk{b: bufs[i][:n]}:
			case <-t.done:
				return
			}
		}
		if err != nil {
			select {
			case t.chunks <- chunk{err: err}:
			case <-t.done:
			}
			return
		}
	}
}

// Read hands the session the socket's bytes, cut at frame boundaries so that
// injected frames can be slipped in between two frames.
func (t *tapConn) Read(p []byte) (int, error) {
	if len(t.injBuf) > 0 {
		n := copy(p, t.injBuf)
		t.injBuf = t.injBuf[n:]
		return n, nil
	}
	for len(t.rbuf) == 0 {
		if t.rerr != nil {
			return 0, t.rerr
		}
		var c chunk
		if t.rcur.atBoundary() {
			select {
			case inj := <-t.injectIn:
				n := copy(p, inj.frame)
				t.injBuf = inj.frame[n:]
				if t.trace {
					out.emit("frame", withFields(toHeader(inj.frame).describe(), Event{"dir": "in", "injected": true}))
				}
				close(inj.delivered)
				return n, nil
			case c = <-t.chunks:
			case <-t.done:
				return 0, net.ErrClosed
			}
		} else {
			select {
			case c = <-t.chunks:
			case <-t.done:
				return 0, net.ErrClosed
			}
		}
		t.rbuf, t.rerr = c.b, c.err
	}
	n := len(p)
	if s := t.rcur.segmentLeft(); n > s {
		n = s
	}
	if n > len(t.rbuf) {
		n = len(t.rbuf)
	}
	copy(p, t.rbuf[:n])
	t.rbuf = t.rbuf[n:]
	t.rcur.feed(p[:n])
	return n, nil
}

// Write passes the session's bytes to the socket, then flushes any injected
// frames if the write ended on a frame boundary.
func (t *tapConn) Write(p []byte) (int, error) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	// Feed first so that --trace lines come out in wire order (a reply can
	// otherwise be traced before the frame that caused it).
	t.wcur.feed(p)
	n, err := t.Conn.Write(p)
	if err == nil && t.wcur.atBoundary() {
		err = t.flushPendingLocked()
	}
	return n, err
}

func (t *tapConn) flushPendingLocked() error {
	for len(t.wpending) > 0 {
		f := t.wpending[0]
		t.wpending = t.wpending[1:]
		if err := t.writeInjectedLocked(f); err != nil {
			return err
		}
	}
	return nil
}

func (t *tapConn) writeInjectedLocked(f []byte) error {
	if t.trace {
		out.emit("frame", withFields(toHeader(f).describe(), Event{"dir": "out", "injected": true}))
	}
	_, err := t.Conn.Write(f)
	return err
}

// injectOutbound sends a body-less frame to the remote at the next frame
// boundary of the session's outbound stream.
func (t *tapConn) injectOutbound(f []byte) error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if t.wcur.atBoundary() {
		return t.writeInjectedLocked(f)
	}
	t.wpending = append(t.wpending, f)
	return nil
}

// injectInbound hands a body-less frame to the session as if the remote had
// sent it. The returned channel is closed once the session has read it.
func (t *tapConn) injectInbound(f []byte) <-chan struct{} {
	inj := injection{frame: f, delivered: make(chan struct{})}
	t.injectIn <- inj
	return inj.delivered
}

// lingerTimeout bounds how long Close waits for the remote to close its
// end; handOffTimeout how long it then waits for the session's receive loop
// to take the last bytes (it no longer reads when the session failed).
const (
	lingerTimeout  = 2 * time.Second
	handOffTimeout = 500 * time.Millisecond
)

// Close ends the connection. Unless setAbrupt was called it lingers: it
// sends TCP FIN (CloseWrite) and lets the session's receive loop read what
// the remote still sends until the remote closes too (bounded by
// lingerTimeout), and only then closes the socket. Closing a socket with
// unread bytes in its receive buffer makes the kernel answer with a TCP RST,
// and an RST makes the remote's kernel drop whatever it has received but not
// yet handed to the application: the last frames we sent (an RST for a
// stream, the Go Away) would be lost, and the remote would see a connection
// reset instead of a graceful close. Letting the receive loop (rather than
// Close) drain the socket also keeps it from being cut off in the middle of
// a frame, which yamux would log as an error.
func (t *tapConn) Close() error {
	if tcp, ok := t.Conn.(*net.TCPConn); ok && atomic.LoadInt32(&t.abrupt) == 0 {
		if tcp.CloseWrite() == nil {
			tcp.SetReadDeadline(time.Now().Add(lingerTimeout))
			<-t.readEnded // EOF, or the deadline
			select {
			case <-t.pumpDone:
			case <-time.After(handOffTimeout):
			}
		}
	}
	t.doneOnce.Do(func() { close(t.done) })
	return t.Conn.Close()
}

// setAbrupt makes Close close the socket at once, without lingering.
func (t *tapConn) setAbrupt() { atomic.StoreInt32(&t.abrupt, 1) }

// finReceived reports whether the remote sent FIN on the stream. A stream's
// Read returns io.EOF both on FIN and when the session shuts down; this tells
// the two apart.
func (t *tapConn) finReceived(id uint32) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fin[id]
}

// received reports how many Data payload bytes the remote has sent on the
// stream so far (counted when their header arrives).
func (t *tapConn) received(id uint32) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dataIn[id]
}

func (t *tapConn) onInboundHeader(h frameHeader) {
	if t.trace {
		out.emit("frame", withFields(h.describe(), Event{"dir": "in"}))
	}
	switch h.typ() {
	case typeGoAway:
		out.emit("goaway-received", Event{"code": h.length()})
	case typeData, typeWindowUpdate:
		f := h.flags()
		if f&(flagFIN|flagRST) != 0 || h.typ() == typeData {
			t.mu.Lock()
			if f&flagFIN != 0 {
				t.fin[h.streamID()] = true
			}
			if f&flagRST != 0 {
				t.rst[h.streamID()] = true
			}
			if h.typ() == typeData {
				t.dataIn[h.streamID()] += int64(h.length())
			}
			t.mu.Unlock()
		}
		// A window update on SYN or ACK is the peer's extra initial window
		// (its receive window beyond 256 KiB).
		if h.typ() == typeWindowUpdate && f&(flagSYN|flagACK) != 0 && h.length() > 0 {
			out.emit("peer-window", Event{"stream": h.streamID(), "extra": h.length(), "window": uint64(h.length()) + 256*1024})
		}
	}
}

func (t *tapConn) onOutboundHeader(h frameHeader) {
	if t.trace {
		out.emit("frame", withFields(h.describe(), Event{"dir": "out"}))
	}
	if h.typ() == typeGoAway {
		out.emit("goaway-sent", Event{"code": h.length()})
	}
}

func toHeader(b []byte) (h frameHeader) {
	copy(h[:], b)
	return h
}

func withFields(e Event, extra Event) Event {
	for k, v := range extra {
		e[k] = v
	}
	return e
}
