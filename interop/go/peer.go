package main

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"
)

// peer runs one yamux session: it serves inbound streams, performs the
// active work and closes the session as the flags say.
type peer struct {
	o    *options
	sess *yamux.Session
	tap  *tapConn
	// start is when the session started.
	start time.Time

	// handlers counts running stream handlers (accepted and opened).
	handlers int64
	// abrupt is set when we close the session ourselves without draining;
	// stream failures after that are expected and not reported as errors.
	abrupt int32

	accepted, opened, resets int64
	bytesIn, bytesOut        int64
	goAwayOnce, gracefulOnce sync.Once
	closeReason              atomic.Value  // string: why the session ended
	acceptDone               chan struct{} // closed when the accept loop ends
}

func newPeer(o *options, sess *yamux.Session, tap *tapConn) *peer {
	return &peer{o: o, sess: sess, tap: tap, start: time.Now(), acceptDone: make(chan struct{})}
}

// run drives the session until it is closed, by either side.
func (p *peer) run() {
	go p.acceptLoop()
	p.startTimers()

	work := p.startWork()
	select {
	case <-work:
		if !p.o.stay {
			p.gracefulClose("work done")
		}
	case <-p.sess.CloseChan():
	}
	<-p.sess.CloseChan()

	// The accept loop records why the session ended; stream handlers notice
	// the shutdown at once. Give them a moment to report before the summary.
	select {
	case <-p.acceptDone:
	case <-time.After(2 * time.Second):
	}
	deadline := time.Now().Add(2 * time.Second)
	for atomic.LoadInt64(&p.handlers) > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	reason, _ := p.closeReason.Load().(string)
	out.emit("session-closed", Event{"reason": reason})
}

// startWork launches the active work (--open, --push, --ping) and returns a
// channel closed when all of it has finished; nil (never ready) if there is
// no active work.
func (p *peer) startWork() <-chan struct{} {
	var tasks []func()
	if p.o.open > 0 {
		tasks = append(tasks, p.openStreams)
	}
	if p.o.push > 0 {
		tasks = append(tasks, p.pushStream)
	}
	if p.o.ping > 0 {
		tasks = append(tasks, p.pings)
	}
	if len(tasks) == 0 {
		return nil
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(len(tasks))
	for _, task := range tasks {
		go func(task func()) {
			defer wg.Done()
			task()
		}(task)
	}
	go func() {
		wg.Wait()
		close(done)
	}()
	return done
}

func (p *peer) startTimers() {
	if d := p.o.goawayAfter; d >= 0 {
		time.AfterFunc(d, p.goAway)
	}
	if d := p.o.gracefulCloseAfter; d >= 0 {
		time.AfterFunc(d, func() { p.gracefulClose("--graceful-close-after") })
	}
	if d := p.o.closeAfter; d >= 0 {
		time.AfterFunc(d, func() { p.closeNow("--close-after", true) })
	}
}

// goAway sends Go Away with code 0 (once). The snapshot then refuses new
// inbound streams with RST; streams already open keep running.
func (p *peer) goAway() {
	p.goAwayOnce.Do(func() {
		if err := p.sess.GoAway(); err != nil && !p.sess.IsClosed() {
			out.fail("GoAway failed: "+err.Error(), nil)
		}
	})
}

// gracefulClose sends Go Away, waits until every stream has finished in both
// directions (bounded by --drain-timeout), then closes the session.
func (p *peer) gracefulClose(why string) {
	p.gracefulOnce.Do(func() {
		if p.sess.IsClosed() {
			return
		}
		out.emit("closing", Event{"graceful": true, "why": why})
		p.goAway()
		deadline := time.Now().Add(p.o.drainTimeout)
		for (atomic.LoadInt64(&p.handlers) > 0 || p.sess.NumStreams() > 0) && time.Now().Before(deadline) {
			if p.sess.IsClosed() {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		if n := p.sess.NumStreams(); n > 0 {
			out.fail("graceful close: streams still open after --drain-timeout", Event{"streams": n, "handlers": atomic.LoadInt64(&p.handlers)})
		}
		p.closeNow(why, false)
	})
}

// closeNow closes the session (and the TCP connection) immediately.
func (p *peer) closeNow(why string, abrupt bool) {
	if p.sess.IsClosed() {
		return
	}
	if abrupt {
		atomic.StoreInt32(&p.abrupt, 1)
		p.tap.setAbrupt()
		out.emit("closing", Event{"graceful": false, "why": why})
	}
	p.closeReason.Store("closed locally: " + why)
	p.sess.Close()
}

// streamFailed reports a stream that did not complete: an error, unless we
// closed the session abruptly ourselves.
func (p *peer) streamFailed(id uint32, message string, fields Event) {
	if fields == nil {
		fields = Event{}
	}
	fields["id"] = id
	if atomic.LoadInt32(&p.abrupt) == 1 {
		fields["message"] = message
		out.emit("stream-aborted", fields)
		return
	}
	out.fail(message, fields)
}

// resetStream resets a stream the snapshot's way, which has no public API
// for it: an RST frame is handed to the session as if the remote had sent
// it, so the Go stream ends exactly as on a remote reset (Read and Write
// fail with ErrConnectionReset, the stream leaves the session's table, no
// frame is sent for it any more), and then the same RST (a Window Update
// with the RST flag and length 0) is sent to the remote at the next frame
// boundary. The caller must make sure no other goroutine is still writing to
// the stream when it returns (a write in flight could otherwise follow the
// RST on the wire).
func (p *peer) resetStream(st *yamux.Stream) error {
	id := st.StreamID()
	frame := encodeFrame(typeWindowUpdate, flagRST, id, 0)
	select {
	case <-p.tap.injectInbound(frame):
	case <-p.sess.CloseChan():
		return errString("reset: session closed")
	case <-time.After(5 * time.Second):
		return errString("reset: session did not take the injected RST")
	}
	// Wait until the session has processed it: a zero-length Read reports
	// ErrConnectionReset once the stream is reset, and never sends a frame.
	deadline := time.Now().Add(5 * time.Second)
	for {
		st.SetReadDeadline(time.Now().Add(time.Millisecond))
		_, err := st.Read(nil)
		if err == yamux.ErrConnectionReset {
			break
		}
		if p.sess.IsClosed() {
			return errString("reset: session closed")
		}
		if time.Now().After(deadline) {
			return errString("reset: stream not reset locally")
		}
	}
	st.SetReadDeadline(time.Time{})
	atomic.AddInt64(&p.resets, 1)
	return p.tap.injectOutbound(frame)
}

func (p *peer) summary() Event {
	elapsed := time.Since(p.start)
	return Event{
		"accepted":   atomic.LoadInt64(&p.accepted),
		"opened":     atomic.LoadInt64(&p.opened),
		"resetsSent": atomic.LoadInt64(&p.resets),
		"bytesIn":    atomic.LoadInt64(&p.bytesIn),
		"bytesOut":   atomic.LoadInt64(&p.bytesOut),
		"errors":     out.errorCount(),
		"elapsedMs":  ms(elapsed),
	}
}

type errString string

func (e errString) Error() string { return string(e) }
