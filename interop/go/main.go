// Command yamux-peer is a hashicorp/yamux peer for interoperability tests.
//
// It listens for or dials one TCP connection, runs a yamux session over it
// (listener = yamux server, dialer = yamux client) and performs the work its
// flags ask for: serving inbound streams (echo, summary, discard), opening
// streams that send a verifiable pattern and check its echo, pushing bytes
// to observe flow control, pings, Go Away, graceful or abrupt close, and
// stream resets. It reports everything as JSON lines on stdout (see
// README.md); yamux's own log goes to stderr.
//
// Exit status: 0 all went well, 1 some check failed (an "error" line was
// printed), 2 bad usage or connection failure, 3 overall timeout.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/hashicorp/yamux"
)

// options are the parsed command-line flags. Durations given in
// milliseconds; a negative value means "not set".
type options struct {
	listen, dial string

	serve       string
	acceptDelay time.Duration
	slowReader  time.Duration
	resetStream bool
	resetAfter  int64

	open  int
	bytes int64
	chunk int

	push    int64
	stallMs time.Duration

	ping         int
	pingInterval time.Duration

	goawayAfter        time.Duration
	gracefulCloseAfter time.Duration
	closeAfter         time.Duration
	stay               bool
	drainTimeout       time.Duration

	acceptBacklog     int
	window            uint
	keepaliveInterval time.Duration
	noKeepalive       bool
	writeTimeout      time.Duration

	timeout time.Duration
	trace   bool
}

const usage = `yamux-peer: a hashicorp/yamux peer for interoperability tests.

Connection (exactly one):
  --listen ADDR              listen on ADDR (e.g. 127.0.0.1:0), print the port, accept ONE
                             connection and run a yamux server session on it
  --dial ADDR                dial ADDR (host:port) and run a yamux client session

Serving inbound streams (always on):
  --serve MODE               echo (default): write back every byte, close after the remote's FIN
                             summary: read to FIN, reply "<bytes> <sha256 hex>\n", close
                             discard: read to FIN, close without replying
  --accept-delay MS          do not call Accept for MS ms (lets the accept backlog fill up)
  --slow-reader MS           on each accepted stream, do not read for MS ms
  --reset-stream             reset each stream (accepted and opened) once --reset-after bytes
                             were read from it (accepted: echoed first)
  --reset-after N            bytes to read before --reset-stream resets (default 1024)

Active work (when all of it is done the peer closes gracefully, unless --stay):
  --open N                   open N streams at once; each writes --bytes bytes of pattern i
                             while reading and verifying the echo, then closes
  --bytes B                  bytes per opened stream (default 1048576)
  --chunk B                  bytes per write call = largest Data frame sent (default 262144)
  --push B                   open one stream and write B bytes of pattern 0 without reading;
                             report when writes stall on the send window and when they resume
  --stall-ms MS              a write blocked this long counts as stalled (default 300)
  --ping K                   send K pings one after another and report each round-trip time
  --ping-interval MS         pause between pings (default 0)

Session lifecycle:
  --goaway-after MS          send Go Away (code 0) after MS ms; keep serving open streams
  --graceful-close-after MS  after MS ms: Go Away, wait for every stream to finish, close
  --close-after MS           close the session abruptly after MS ms (no Go Away, TCP closed)
  --stay                     after the active work, wait for the remote to close instead
  --drain-timeout MS         how long a graceful close waits for streams (default 10000)
  --timeout MS               overall watchdog; exit 3 when it fires (default 60000)

hashicorp/yamux configuration:
  --accept-backlog N         Config.AcceptBacklog (default 256): inbound streams waiting for
                             Accept beyond it are refused with RST; also caps our un-ACKed
                             outbound streams
  --window B                 Config.MaxStreamWindowSize (default and minimum 262144); the
                             extra over 256 KiB is advertised on SYN/ACK window updates
  --keepalive-interval MS    Config.KeepAliveInterval (default 30000)
  --no-keepalive             Config.EnableKeepAlive = false
  --write-timeout MS         Config.ConnectionWriteTimeout (default 10000; also the ping timeout)

Output:
  --trace                    print a "frame" line for every frame header sent and received

Every stdout line is one JSON object with "event" and "t" (ms since start). See README.md.
`

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("yamux-peer", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by main, --help prints usage
	fs.Usage = func() {}
	o := &options{}
	msFlag := func(dst *time.Duration, name string, def int) func() {
		v := fs.Int(name, def, "")
		return func() {
			if *v < 0 {
				*dst = -1
			} else {
				*dst = time.Duration(*v) * time.Millisecond
			}
		}
	}
	fs.StringVar(&o.listen, "listen", "", "")
	fs.StringVar(&o.dial, "dial", "", "")
	fs.StringVar(&o.serve, "serve", "echo", "")
	fs.BoolVar(&o.resetStream, "reset-stream", false, "")
	fs.Int64Var(&o.resetAfter, "reset-after", 1024, "")
	fs.IntVar(&o.open, "open", 0, "")
	fs.Int64Var(&o.bytes, "bytes", 1<<20, "")
	fs.IntVar(&o.chunk, "chunk", 256*1024, "")
	fs.Int64Var(&o.push, "push", 0, "")
	fs.IntVar(&o.ping, "ping", 0, "")
	fs.BoolVar(&o.stay, "stay", false, "")
	fs.IntVar(&o.acceptBacklog, "accept-backlog", 256, "")
	fs.UintVar(&o.window, "window", 256*1024, "")
	fs.BoolVar(&o.noKeepalive, "no-keepalive", false, "")
	fs.BoolVar(&o.trace, "trace", false, "")
	setters := []func(){
		msFlag(&o.acceptDelay, "accept-delay", 0),
		msFlag(&o.slowReader, "slow-reader", 0),
		msFlag(&o.stallMs, "stall-ms", 300),
		msFlag(&o.pingInterval, "ping-interval", 0),
		msFlag(&o.goawayAfter, "goaway-after", -1),
		msFlag(&o.gracefulCloseAfter, "graceful-close-after", -1),
		msFlag(&o.closeAfter, "close-after", -1),
		msFlag(&o.drainTimeout, "drain-timeout", 10000),
		msFlag(&o.keepaliveInterval, "keepalive-interval", 30000),
		msFlag(&o.writeTimeout, "write-timeout", 10000),
		msFlag(&o.timeout, "timeout", 60000),
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	for _, set := range setters {
		set()
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case (o.listen == "") == (o.dial == ""):
		return nil, fmt.Errorf("give exactly one of --listen and --dial")
	case o.serve != "echo" && o.serve != "summary" && o.serve != "discard":
		return nil, fmt.Errorf("--serve must be echo, summary or discard, not %q", o.serve)
	case o.open < 0 || o.bytes < 0 || o.push < 0 || o.ping < 0:
		return nil, fmt.Errorf("--open, --bytes, --push and --ping must not be negative")
	case o.chunk <= 0:
		return nil, fmt.Errorf("--chunk must be positive")
	case o.resetAfter < 1:
		return nil, fmt.Errorf("--reset-after must be at least 1")
	case o.acceptBacklog <= 0:
		return nil, fmt.Errorf("--accept-backlog must be positive")
	case o.window < 256*1024 || o.window > 1<<32-1:
		return nil, fmt.Errorf("--window must be between 262144 and 4294967295")
	case o.keepaliveInterval <= 0:
		return nil, fmt.Errorf("--keepalive-interval must be positive")
	case o.writeTimeout <= 0 || o.timeout <= 0 || o.stallMs <= 0:
		return nil, fmt.Errorf("--write-timeout, --timeout and --stall-ms must be positive")
	}
	return o, nil
}

// connect establishes the TCP connection; it reports whether this side is
// the yamux client (the dialer).
func connect(o *options) (net.Conn, bool, error) {
	if o.dial != "" {
		conn, err := net.Dial("tcp", o.dial)
		return conn, true, err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return nil, false, err
	}
	defer ln.Close()
	addr := ln.Addr().(*net.TCPAddr)
	out.emit("listening", Event{"port": addr.Port, "address": addr.String()})
	conn, err := ln.Accept()
	return conn, false, err
}

func yamuxConfig(o *options) *yamux.Config {
	cfg := yamux.DefaultConfig()
	cfg.AcceptBacklog = o.acceptBacklog
	cfg.EnableKeepAlive = !o.noKeepalive
	cfg.KeepAliveInterval = o.keepaliveInterval
	cfg.ConnectionWriteTimeout = o.writeTimeout
	cfg.MaxStreamWindowSize = uint32(o.window)
	cfg.LogOutput = logWriter{}
	return cfg
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err == flag.ErrHelp {
		fmt.Print(usage)
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "yamux-peer: %v (run with --help for the flags)\n", err)
		out.fail(err.Error(), Event{"usage": true})
		os.Exit(2)
	}

	// The watchdog ends a run that hangs, whatever state it is in.
	time.AfterFunc(o.timeout, func() {
		out.fail(fmt.Sprintf("timeout: still running after %v", o.timeout), nil)
		out.emit("done", Event{"ok": false, "timeout": true})
		os.Exit(3)
	})

	conn, isClient, err := connect(o)
	if err != nil {
		out.fail("connection failed: "+err.Error(), nil)
		out.emit("done", Event{"ok": false})
		os.Exit(2)
	}
	role := "server"
	if isClient {
		role = "client"
	}
	out.emit("connected", Event{"role": role, "local": conn.LocalAddr().String(), "remote": conn.RemoteAddr().String()})

	tap := newTapConn(conn, o.trace)
	var sess *yamux.Session
	if isClient {
		sess, err = yamux.Client(tap, yamuxConfig(o))
	} else {
		sess, err = yamux.Server(tap, yamuxConfig(o))
	}
	if err != nil {
		out.fail("yamux setup failed: "+err.Error(), nil)
		out.emit("done", Event{"ok": false})
		os.Exit(2)
	}

	p := newPeer(o, sess, tap)
	p.run()
	summary := p.summary()
	ok := out.errorCount() == 0
	summary["ok"] = ok
	out.emit("done", summary)
	if !ok {
		os.Exit(1)
	}
}
