package main

import (
	"encoding/json"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Event is one machine-readable output line: a JSON object with an "event"
// field, printed on its own line on stdout.
type Event map[string]interface{}

// emitter serialises events to stdout, one JSON object per line. Every line
// carries "t", the milliseconds elapsed since the peer started.
type emitter struct {
	mu     sync.Mutex
	start  time.Time
	errors int64 // number of "error" events emitted
}

var out = &emitter{start: time.Now()}

// emit prints one event line. It is safe for concurrent use.
func (e *emitter) emit(name string, fields Event) {
	if fields == nil {
		fields = Event{}
	}
	fields["event"] = name
	fields["t"] = ms(time.Since(e.start))
	line, err := json.Marshal(fields)
	if err != nil {
		line = []byte(`{"event":"error","message":"cannot encode event"}`)
	}
	line = append(line, '\n')
	e.mu.Lock()
	os.Stdout.Write(line)
	e.mu.Unlock()
}

// fail reports an error event; any error event makes the final "done" line
// report ok=false and the process exit with status 1.
func (e *emitter) fail(message string, fields Event) {
	atomic.AddInt64(&e.errors, 1)
	if fields == nil {
		fields = Event{}
	}
	fields["message"] = message
	e.emit("error", fields)
}

func (e *emitter) errorCount() int64 { return atomic.LoadInt64(&e.errors) }

// ms converts a duration to fractional milliseconds, rounded to microseconds.
func ms(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

// logWriter is the yamux session's LogOutput: every log line goes to stderr
// unchanged and is also reported on stdout as a "yamux-log" event, so tests
// can assert that the Go side saw no warnings (for example "frame for missing
// stream", which the snapshot logs when a peer sends frames after a stream is
// finished).
type logWriter struct{}

func (logWriter) Write(p []byte) (int, error) {
	os.Stderr.Write(p)
	msg := string(p)
	level := "INFO"
	for _, l := range []string{"ERR", "WARN", "DEBUG"} {
		if strings.Contains(msg, "["+l+"]") {
			level = l
			break
		}
	}
	out.emit("yamux-log", Event{"level": level, "message": strings.TrimRight(msg, "\r\n")})
	return len(p), nil
}
