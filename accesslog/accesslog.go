// Package accesslog writes one line per answered request, as an
// observe.Observer, without ever blocking the event loop that reports it.
//
// The calling goroutine formats the line into one of a fixed number of
// preallocated buffers and hands it to a writer goroutine over a channel;
// when every buffer is in use (the disk is slower than the traffic) the
// line is dropped and counted (Dropped). Reopen reopens the file, for
// logrotate's postrotate.
//
// Typical usage:
//
//	l, err := accesslog.New(accesslog.Config{Path: "/var/log/edge/access.log", Format: accesslog.JSON})
//	srv := edge.New(&edge.Config{Observer: l})
//	defer l.Close()
package accesslog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/edge-rt/edge/observe"
)

// Format is a line format.
type Format uint8

// Formats.
const (
	// Text is a combined-log-like line:
	//   127.0.0.1:5000 - - [02/Jan/2026:15:04:05 +0000] "GET /a?b HTTP/1.1" 200 1234 "host" 0.000512 tls=1.3 ja4=t13d...
	// (the target and host quoted, with " \ and control bytes escaped as \xHH).
	Text Format = iota
	// JSON is one JSON object per line with the keys time, remote, host,
	// method, target, status, bytes, duration (seconds), tls, ja4,
	// listener, host_group and route.
	JSON
)

// Config configures a Log.
type Config struct {
	// Path is the file to append to (created with mode 0640). Empty or "-"
	// means stderr (and Reopen does nothing).
	Path string
	// Format is Text (the zero value) or JSON.
	Format Format
	// Buffers is the number of lines that may wait for the writer; beyond,
	// lines are dropped and counted. Zero means 4096.
	Buffers int
	// Output, if not nil, replaces Path (tests, or a writer of your own).
	// It is written from one goroutine.
	Output io.Writer
}

// Log is an access log. Safe for concurrent use; Request never blocks.
type Log struct {
	format  Format
	path    string
	free    chan *[]byte
	queue   chan *[]byte
	reopen  chan chan error
	quit    chan struct{}
	done    chan struct{}
	dropped atomic.Uint64
	written atomic.Uint64
	closing sync.Once

	// owned by the writer goroutine
	out  io.Writer
	file *os.File
	bw   *bufio.Writer
	err  error // the last write error, reported once
}

var _ observe.Observer = (*Log)(nil)

// New opens the log and starts its writer.
func New(cfg Config) (*Log, error) {
	n := cfg.Buffers
	if n <= 0 {
		n = 4096
	}
	l := &Log{
		format: cfg.Format,
		free:   make(chan *[]byte, n),
		queue:  make(chan *[]byte, n),
		reopen: make(chan chan error),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	for range n {
		b := make([]byte, 0, 512)
		l.free <- &b
	}
	switch {
	case cfg.Output != nil:
		l.out = cfg.Output
	case cfg.Path == "" || cfg.Path == "-":
		l.out = os.Stderr
	default:
		l.path = cfg.Path
		f, err := openFile(cfg.Path)
		if err != nil {
			return nil, err
		}
		l.file, l.out = f, f
	}
	l.bw = bufio.NewWriterSize(l.out, 64<<10)
	go l.run()
	return l, nil
}

func openFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("accesslog: %w", err)
	}
	return f, nil
}

// Dropped is the number of lines dropped because every buffer was in use.
func (l *Log) Dropped() uint64 { return l.dropped.Load() }

// Written is the number of lines handed to the output.
func (l *Log) Written() uint64 { return l.written.Load() }

// maxLine bounds a buffer kept for reuse: a longer line's buffer is
// replaced by a small one after writing.
const maxLine = 16 << 10

// Request implements observe.Observer: it formats the line and queues
// it, or drops it when no buffer is free.
func (l *Log) Request(r *observe.Request) {
	var bp *[]byte
	select {
	case bp = <-l.free:
	default:
		l.dropped.Add(1)
		return
	}
	b := (*bp)[:0]
	if l.format == JSON {
		b = appendJSON(b, r, time.Now())
	} else {
		b = appendText(b, r, time.Now())
	}
	*bp = b
	select {
	case l.queue <- bp:
	default: // cannot happen: queue has room for every buffer
		l.free <- bp
		l.dropped.Add(1)
	}
}

// The events access logs do not record.

// ConnOpened implements observe.Observer; it does nothing.
func (l *Log) ConnOpened(observe.Conn) {}

// ConnRefused implements observe.Observer; it does nothing.
func (l *Log) ConnRefused(string, observe.RefuseReason) {}

// ConnClosed implements observe.Observer; it does nothing.
func (l *Log) ConnClosed(observe.Conn, string) {}

// Handshake implements observe.Observer; it does nothing.
func (l *Log) Handshake(observe.Handshake) {}

// WSMessage implements observe.Observer; it does nothing.
func (l *Log) WSMessage(string, observe.Direction, int) {}

// QueueDrop implements observe.Observer; it does nothing.
func (l *Log) QueueDrop(string, bool) {}

// Reopen closes and reopens the file (after logrotate moved it), once the
// lines queued before it are written. It does nothing for stderr or an
// Output.
func (l *Log) Reopen() error {
	reply := make(chan error, 1)
	select {
	case l.reopen <- reply:
		return <-reply
	case <-l.done:
		return errors.New("accesslog: closed")
	}
}

// Close writes the lines queued, flushes, stops the writer and closes the
// file. Request after Close drops lines.
func (l *Log) Close() error {
	l.closing.Do(func() { close(l.quit) })
	<-l.done
	if l.file != nil {
		if err := l.file.Close(); err != nil {
			return fmt.Errorf("accesslog: %w", err)
		}
	}
	return nil
}

// run is the writer goroutine: it writes queued lines, flushing whenever
// the queue is empty.
func (l *Log) run() {
	defer close(l.done)
	for {
		select {
		case bp := <-l.queue:
			l.write(bp)
			l.drain()
			l.flush()
		case reply := <-l.reopen:
			l.drain()
			l.flush()
			reply <- l.doReopen()
		case <-l.quit:
			l.drain()
			l.flush()
			// Lines queued after quit by late callers get their buffers
			// back unwritten; callers keep dropping nothing until the
			// buffers run out.
			return
		}
	}
}

func (l *Log) drain() {
	for {
		select {
		case bp := <-l.queue:
			l.write(bp)
		default:
			return
		}
	}
}

func (l *Log) write(bp *[]byte) {
	if _, err := l.bw.Write(*bp); err != nil {
		l.report(err)
	} else {
		l.written.Add(1)
	}
	if cap(*bp) > maxLine {
		*bp = make([]byte, 0, 512)
	}
	l.free <- bp
}

func (l *Log) flush() {
	if err := l.bw.Flush(); err != nil {
		l.report(err)
		l.bw.Reset(l.out) // drop what cannot be written rather than wedge
	}
}

func (l *Log) report(err error) {
	if l.err == nil {
		l.err = err
		fmt.Fprintf(os.Stderr, "accesslog: write: %v\n", err)
	}
}

func (l *Log) doReopen() error {
	if l.path == "" {
		return nil
	}
	f, err := openFile(l.path)
	if err != nil {
		return err
	}
	old := l.file
	l.file, l.out, l.err = f, f, nil
	l.bw.Reset(f)
	if err := old.Close(); err != nil {
		return fmt.Errorf("accesslog: %w", err)
	}
	return nil
}

func tlsName(v uint16) string {
	switch v {
	case 0:
		return ""
	case 0x0301:
		return "1.0"
	case 0x0302:
		return "1.1"
	case 0x0303:
		return "1.2"
	case 0x0304:
		return "1.3"
	}
	return "unknown"
}

const hexDigits = "0123456789abcdef"

// appendText appends the Text line for r.
func appendText(b []byte, r *observe.Request, now time.Time) []byte {
	if r.Remote.IsValid() {
		b = r.Remote.AppendTo(b)
	} else {
		b = append(b, '-')
	}
	b = append(b, " - - ["...)
	b = now.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
	b = append(b, "] \""...)
	b = appendTextEscaped(b, r.Method)
	b = append(b, ' ')
	b = appendTextEscaped(b, r.Target)
	b = append(b, " HTTP/1.1\" "...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.BytesOut, 10)
	b = append(b, " \""...)
	b = appendTextEscaped(b, r.Host)
	b = append(b, "\" "...)
	b = strconv.AppendFloat(b, r.Duration.Seconds(), 'f', 6, 64)
	if v := tlsName(r.TLSVersion); v != "" {
		b = append(b, " tls="...)
		b = append(b, v...)
	}
	if r.JA4 != "" {
		b = append(b, " ja4="...)
		b = appendTextEscaped(b, r.JA4)
	}
	return append(b, '\n')
}

// appendTextEscaped appends s with '"', '\\', spaces outside quotes' reach
// and non-printable bytes as \xHH.
func appendTextEscaped[S string | []byte](b []byte, s S) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&15])
			continue
		}
		b = append(b, c)
	}
	return b
}

// appendJSON appends the JSON line for r.
func appendJSON(b []byte, r *observe.Request, now time.Time) []byte {
	b = append(b, `{"time":"`...)
	b = now.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","remote":"`...)
	if r.Remote.IsValid() {
		b = r.Remote.AppendTo(b)
	}
	b = append(b, `","host":`...)
	b = appendJSONString(b, r.Host)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, r.Method)
	b = append(b, `,"target":`...)
	b = appendJSONString(b, r.Target)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, r.BytesOut, 10)
	b = append(b, `,"duration":`...)
	b = strconv.AppendFloat(b, r.Duration.Seconds(), 'f', 6, 64)
	b = append(b, `,"tls":"`...)
	b = append(b, tlsName(r.TLSVersion)...)
	b = append(b, `","ja4":`...)
	b = appendJSONString(b, r.JA4)
	b = append(b, `,"listener":`...)
	b = appendJSONString(b, r.Listener)
	b = append(b, `,"host_group":`...)
	b = appendJSONString(b, r.HostGroup)
	b = append(b, `,"route":`...)
	b = appendJSONString(b, r.Route)
	return append(b, "}\n"...)
}

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes
// U+FFFD, as encoding/json does.
func appendJSONString[S string | []byte](b []byte, s S) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		var buf [utf8.UTFMax]byte
		k := copy(buf[:], s[i:])
		r, n := utf8.DecodeRune(buf[:k])
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = utf8.AppendRune(b, r)
		}
		i += n
	}
	return append(b, '"')
}
