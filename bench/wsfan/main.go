// Command wsfan measures WebSocket fan-out: N clients subscribed to one
// topic, messages published to it, the time until the last of them got
// each message and the messages delivered per second; or, with -idle, the
// server memory per idle subscribed connection.
//
// Typical usage (see bench/README.md and bench/ws.sh):
//
//	go run ./wsfan -kind edge -url 'ws://127.0.0.1:18090/ws?room=bench' -pid PID
//	go run ./wsfan -kind nats -url ws://127.0.0.1:18222/ -pid PID
//	go run ./wsfan -idle -kind edge -tls -url 'wss://127.0.0.1:18445/ws?room=bench' -pid PID
//
// Kinds:
//
//   - edge: a chat stream (cmd/edge's `stream: {mode: chat}`, or
//     bench/wsserver): every client of the URL's room receives every message
//     sent by any of them, the sender included. Subscribers just connect;
//     connection 0 is also the publisher, so there are N receivers.
//   - api: edge chat-stream clients as for edge, spread over one or more
//     edge nodes (-url is a comma-separated list; connection i goes to URL
//     i mod len), all N of them receivers; messages are published through
//     the control API instead (-publish http://127.0.0.1:PORT/api/publish,
//     -tag, -token): POST {"tag": TAG, "data": PAYLOAD}, from -window
//     goroutines (the epoll loop never waits for an answer). The time
//     starts just before the request is handed to them. The latency line
//     gives the time to the last receiver per node too (node0_p99_ms...).
//     Set GOMAXPROCS to 2 or more, so that a POST does not wait for the
//     loop's epoll_wait to give up its P.
//   - nats: nats-server's WebSocket listener. After the upgrade each
//     subscriber reads the server's INFO, sends CONNECT (verbose off),
//     `SUB <subject> 1` and PING, and waits for the PONG. A separate
//     publisher connection (CONNECT, no SUB) sends `PUB <subject> <len>`:
//     N receivers.
//
// Every message carries the same -size payload (its sequence number and the
// send time in ASCII, padded). Connections are opened from the -sources
// addresses in turn, at most -concurrency at once (the ws handshake and,
// for nats, the protocol handshake included).
//
// Then (not -idle) one goroutine runs an epoll loop over all connections
// (the Go connections' descriptors, duplicated), in which the publisher
// writes too:
//
//  1. latency: -warmup messages, then -msgs messages, one at a time: a
//     message is published when every receiver has the previous one (or
//     after -msg-timeout, counted as lost). For each, the time from just
//     before the publisher's write to the receipt by the last receiver
//     (and by the first): p50, p99 (nearest rank) and max.
//  2. throughput: for -dur, messages are published whenever fewer than
//     -window are in flight (not yet received by all N): delivered/s is the
//     number of messages received over all connections in that time divided
//     by it.
//
// Each phase also reports this process's CPU (getrusage) and, with -pid,
// the server's CPU (/proc/PID/stat utime+stime), the time the server's
// threads waited for a CPU (schedstat), and the CPU used by the rest of the
// machine, all in % of the phase's wall time.
//
// With -idle it reads the server's memory (VmRSS, and Pss/Private from
// smaps_rollup), waits for RSS to settle, opens N subscribed connections,
// waits for RSS to settle again and prints bytes per connection; then it
// pings every connection (a WebSocket ping, answered by a pong) to prove
// the server kept them all. -tls (wss://, certificate not verified,
// X25519 only, as bench/idle) works in -idle mode only: in the fan-out loop
// this process reads the raw sockets.
//
// Every step is bounded: dials and handshakes have timeouts, every message
// -msg-timeout, the whole run -timeout.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"github.com/edge-rt/edge/bench/internal/procmem"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

type options struct {
	kind        string
	url         string
	urls        []string // api: the nodes' URLs
	publishURL  string   // api: the control API's publish URL
	tag         string   // api
	token       string   // api
	n           int
	sources     []netip.Addr
	concurrency int
	dialTimeout time.Duration
	ioTimeout   time.Duration
	timeout     time.Duration
	size        int
	subject     string
	warmup      int
	msgs        int
	msgTimeout  time.Duration
	dur         time.Duration
	window      int
	idle        bool
	pids        []int
	tls         *tls.Config
	settleEvery time.Duration
	settleMax   time.Duration
	settleTol   int64
	verify      bool
}

func main() {
	o, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsfan:", err)
		os.Exit(2)
	}
	// A last resort, in case something blocks where no deadline reaches.
	time.AfterFunc(o.timeout+30*time.Second, func() {
		fmt.Fprintln(os.Stderr, "wsfan: watchdog: run exceeded -timeout by 30s")
		os.Exit(3)
	})
	if o.idle {
		err = runIdle(o)
	} else {
		err = runFan(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsfan:", err)
		os.Exit(1)
	}
}

func parseFlags() (*options, error) {
	o := &options{}
	var pidList, sources string
	flag.StringVar(&o.kind, "kind", "edge", "server kind: `edge` (chat stream), api (edge chat streams, published through the control API) or nats (NATS over WebSocket)")
	flag.StringVar(&o.publishURL, "publish", "http://127.0.0.1:19090/api/publish", "api: the control API's publish URL")
	flag.StringVar(&o.tag, "tag", "room:bench", "api: the tag to publish to")
	flag.StringVar(&o.token, "token", "", "api: the control API's bearer token")
	flag.StringVar(&o.url, "url", "", "ws:// or wss:// URL (default: ws://127.0.0.1:18090/ws?room=bench for edge, ws://127.0.0.1:18222/ for nats)")
	flag.IntVar(&o.n, "n", 10000, "receivers (edge: connections, the publisher being one; nats: subscriber connections, plus a publisher)")
	flag.StringVar(&sources, "sources", "127.0.0.1-127.0.0.20", "source addresses: `list` of IPs or ranges A-B in 127.0.0.0/8")
	flag.IntVar(&o.concurrency, "concurrency", 200, "connections being opened at once")
	flag.DurationVar(&o.dialTimeout, "dial-timeout", 5*time.Second, "timeout of one dial and WebSocket handshake")
	flag.DurationVar(&o.ioTimeout, "io-timeout", 10*time.Second, "timeout of one protocol exchange (NATS handshake, verify ping)")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "timeout of the whole run")
	flag.IntVar(&o.size, "size", 64, "message payload `bytes` (at least 40)")
	flag.StringVar(&o.subject, "subject", "bench", "nats: the subject")
	flag.IntVar(&o.warmup, "warmup", 20, "messages published one at a time before the latency phase (not measured)")
	flag.IntVar(&o.msgs, "msgs", 200, "latency phase: messages, one at a time")
	flag.DurationVar(&o.msgTimeout, "msg-timeout", 10*time.Second, "longest wait for every receiver to get one message")
	flag.DurationVar(&o.dur, "dur", 10*time.Second, "throughput phase length (0: skip)")
	flag.IntVar(&o.window, "window", 8, "throughput phase: messages in flight (published, not yet received by all)")
	flag.BoolVar(&o.idle, "idle", false, "measure server memory per idle connection instead (needs -pid)")
	flag.StringVar(&pidList, "pid", "", "server `pid`s, comma-separated (summed): memory (-idle), CPU (fan-out)")
	useTLS := flag.Bool("tls", false, "-idle only: wss:// (certificate not verified)")
	sni := flag.String("sni", "localhost", "with -tls: the server name (SNI) to send")
	flag.DurationVar(&o.settleEvery, "settle-interval", time.Second, "-idle: memory poll interval while waiting for RSS to settle")
	flag.DurationVar(&o.settleMax, "settle-max", 15*time.Second, "-idle: longest wait for RSS to settle")
	flag.Int64Var(&o.settleTol, "settle-tolerance", 64<<10, "-idle: RSS is settled when two polls differ by at most this many `bytes`")
	flag.BoolVar(&o.verify, "verify", true, "-idle: after measuring, ping every connection")
	flag.Parse()
	if flag.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	switch o.kind {
	case "edge", "api":
		if o.url == "" {
			o.url = "ws://127.0.0.1:18090/ws?room=bench"
		}
	case "nats":
		if o.url == "" {
			o.url = "ws://127.0.0.1:18222/"
		}
	default:
		return nil, fmt.Errorf("-kind %q: want edge, api or nats", o.kind)
	}
	o.urls = strings.Split(o.url, ",")
	if len(o.urls) > 1 && o.kind != "api" {
		return nil, errors.New("-url: several URLs with -kind api only")
	}
	if len(o.urls) > maxNodes {
		return nil, fmt.Errorf("-url: at most %d URLs", maxNodes)
	}
	var ap netip.AddrPort
	for _, s := range o.urls {
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("-url: %v", err)
		}
		if *useTLS && u.Scheme != "wss" || !*useTLS && u.Scheme != "ws" {
			return nil, fmt.Errorf("-url %s: the scheme must be wss with -tls, ws without", s)
		}
		ap, err = netip.ParseAddrPort(u.Host)
		if err != nil || !ap.Addr().IsLoopback() {
			return nil, fmt.Errorf("-url %s: the host must be a loopback IP:port", s)
		}
	}
	if o.kind == "api" {
		u, err := url.Parse(o.publishURL)
		if err != nil || u.Scheme != "http" {
			return nil, fmt.Errorf("-publish %q: want http://127.0.0.1:PORT/api/publish", o.publishURL)
		}
		if a, err := netip.ParseAddrPort(u.Host); err != nil || !a.Addr().IsLoopback() {
			return nil, fmt.Errorf("-publish %s: the host must be a loopback IP:port", o.publishURL)
		}
		if o.idle {
			return nil, errors.New("-kind api: fan-out only")
		}
	}
	if *useTLS && !o.idle {
		return nil, errors.New("-tls works with -idle only (the fan-out loop reads raw sockets)")
	}
	if pidList != "" {
		for f := range strings.SplitSeq(pidList, ",") {
			pid, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || pid <= 0 {
				return nil, fmt.Errorf("-pid: bad pid %q", f)
			}
			o.pids = append(o.pids, pid)
		}
	}
	if o.idle && len(o.pids) == 0 {
		return nil, errors.New("-idle needs -pid")
	}
	if o.n <= 0 || o.concurrency <= 0 || o.msgs < 0 || o.warmup < 0 || o.window <= 0 {
		return nil, errors.New("-n, -concurrency and -window must be positive, -msgs and -warmup not negative")
	}
	if o.size < 40 || o.size > 1<<20 {
		return nil, errors.New("-size must be within 40 bytes..1 MiB")
	}
	if o.window > ringSize/2 {
		return nil, fmt.Errorf("-window must be at most %d", ringSize/2)
	}
	var err error
	o.sources, err = parseSources(sources, ap.Addr().Is4())
	if err != nil {
		return nil, fmt.Errorf("-sources: %v", err)
	}
	if *useTLS {
		o.tls = &tls.Config{
			InsecureSkipVerify: true, // a self-signed test certificate
			ServerName:         *sni,
			// As bench/idle: one group for every server.
			CurvePreferences: []tls.CurveID{tls.X25519},
		}
	}
	return o, nil
}

// parseSources parses "127.0.0.1-127.0.0.20,127.0.1.1": IPs and inclusive
// ranges, at most 1024 addresses, all loopback (as bench/idle).
func parseSources(s string, v4 bool) ([]netip.Addr, error) {
	var out []netip.Addr
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		lo, hi, isRange := strings.Cut(f, "-")
		a, err := netip.ParseAddr(lo)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = netip.ParseAddr(hi); err != nil {
				return nil, err
			}
		}
		if b.Less(a) {
			return nil, fmt.Errorf("empty range %q", f)
		}
		for x := a; ; x = x.Next() {
			if !x.IsLoopback() {
				return nil, fmt.Errorf("%s is not a loopback address", x)
			}
			if x.Is4() != v4 {
				return nil, fmt.Errorf("%s is not of the same family as the URL's host", x)
			}
			out = append(out, x)
			if len(out) > 1024 {
				return nil, errors.New("more than 1024 source addresses")
			}
			if x == b {
				break
			}
		}
	}
	return out, nil
}

// ---------------------------------------------------------------------------
// Connections and the wire protocol.

// handler receives what a client's parser decodes. The setup/idle code
// (blocking net.Conn) and the epoll loop (raw descriptors) implement it.
type handler interface {
	message(c *client, payload []byte) // an edge message or a NATS MSG payload
	write(c *client, frame []byte) error
}

// client is one WebSocket connection.
type client struct {
	idx   int
	node  int      // index in -url's list
	nc    net.Conn // until detach (and in -idle mode)
	fd    int      // after detach
	nats  bool
	pend  []byte // unparsed bytes of an incomplete frame
	frag  []byte // edge: a fragmented message being assembled
	npend []byte // nats: unparsed bytes of the NATS protocol stream
	out   []byte // loop: bytes the socket did not take yet
	// Protocol state.
	gotInfo   bool
	natsPongs int
	wsPongs   int
	closed    bool
	err       error
}

var errPeerClosed = errors.New("server sent a close frame")

// feed parses server frames (unmasked) from data.
func (c *client) feed(h handler, data []byte) error {
	if len(c.pend) > 0 {
		c.pend = append(c.pend, data...)
		data = c.pend
	}
	for len(data) >= 2 {
		b0, b1 := data[0], data[1]
		if b1&0x80 != 0 {
			return errors.New("masked frame from the server")
		}
		n, h0 := int(b1&0x7f), 2
		switch n {
		case 126:
			if len(data) < 4 {
				goto keep
			}
			n, h0 = int(binary.BigEndian.Uint16(data[2:])), 4
		case 127:
			if len(data) < 10 {
				goto keep
			}
			n64 := binary.BigEndian.Uint64(data[2:])
			if n64 > 16<<20 {
				return fmt.Errorf("frame of %d bytes", n64)
			}
			n, h0 = int(n64), 10
		}
		if len(data) < h0+n {
			break
		}
		if err := c.frame(h, ws.OpCode(b0&0x0f), b0&0x80 != 0, data[h0:h0+n]); err != nil {
			return err
		}
		data = data[h0+n:]
	}
keep:
	if len(data) == 0 {
		if cap(c.pend) > 4096 {
			c.pend = nil
		} else {
			c.pend = c.pend[:0]
		}
		return nil
	}
	c.pend = append(c.pend[:0], data...) // memmove: data may alias c.pend
	return nil
}

func (c *client) frame(h handler, op ws.OpCode, fin bool, p []byte) error {
	switch op {
	case ws.OpText, ws.OpBinary, ws.OpContinuation:
		if c.nats {
			return c.natsFeed(h, p)
		}
		if fin && op != ws.OpContinuation && len(c.frag) == 0 {
			h.message(c, p)
			return nil
		}
		c.frag = append(c.frag, p...)
		if fin {
			h.message(c, c.frag)
			c.frag = nil
		}
	case ws.OpPing:
		return h.write(c, clientFrame(ws.OpPong, p))
	case ws.OpPong:
		c.wsPongs++
	case ws.OpClose:
		return errPeerClosed
	default:
		return fmt.Errorf("unexpected opcode %d", op)
	}
	return nil
}

var (
	crlf      = []byte("\r\n")
	natsPing  = []byte("PING")
	natsPong  = []byte("PONG")
	natsMsg   = []byte("MSG ")
	natsInfo  = []byte("INFO ")
	natsOK    = []byte("+OK")
	natsErr   = []byte("-ERR")
	pongFrame = clientFrame(ws.OpBinary, []byte("PONG\r\n"))
)

// natsFeed parses the NATS protocol stream carried by the data frames.
func (c *client) natsFeed(h handler, data []byte) error {
	if len(c.npend) > 0 {
		c.npend = append(c.npend, data...)
		data = c.npend
	}
	for len(data) > 0 {
		i := bytes.Index(data, crlf)
		if i < 0 {
			if len(data) > 64<<10 {
				return errors.New("NATS protocol line longer than 64 KiB")
			}
			break
		}
		line := data[:i]
		switch {
		case bytes.HasPrefix(line, natsMsg):
			// MSG <subject> <sid> [reply-to] <#bytes>
			sp := bytes.LastIndexByte(line, ' ')
			size, err := strconv.Atoi(string(line[sp+1:]))
			if err != nil || size < 0 {
				return fmt.Errorf("bad NATS line %q", line)
			}
			need := i + 2 + size + 2
			if len(data) < need {
				goto keep
			}
			h.message(c, data[i+2:i+2+size])
			data = data[need:]
			continue
		case bytes.Equal(line, natsPing):
			if err := h.write(c, pongFrame); err != nil {
				return err
			}
		case bytes.Equal(line, natsPong):
			c.natsPongs++
		case bytes.HasPrefix(line, natsInfo):
			c.gotInfo = true
		case bytes.Equal(line, natsOK):
		case bytes.HasPrefix(line, natsErr):
			return fmt.Errorf("nats: %s", line)
		default:
			return fmt.Errorf("unexpected NATS line %q", line)
		}
		data = data[i+2:]
	}
keep:
	if len(data) == 0 {
		c.npend = c.npend[:0]
		return nil
	}
	c.npend = append(c.npend[:0], data...)
	return nil
}

// clientFrame returns a complete masked frame (clients must mask).
func clientFrame(op ws.OpCode, p []byte) []byte {
	f := ws.MaskFrameInPlace(ws.NewFrame(op, true, append([]byte(nil), p...)))
	b, err := ws.CompileFrame(f)
	if err != nil {
		panic(err)
	}
	return b
}

// blocking is the handler of the setup and -idle code: net.Conn I/O.
type blocking struct {
	o      *options
	strays atomic.Int64 // messages received outside the fan-out loop
}

func (b *blocking) message(*client, []byte) { b.strays.Add(1) }

func (b *blocking) write(c *client, frame []byte) error {
	if err := c.nc.SetWriteDeadline(time.Now().Add(b.o.ioTimeout)); err != nil {
		return err
	}
	_, err := c.nc.Write(frame)
	return err
}

// readUntil reads and parses until done() or the deadline.
func (b *blocking) readUntil(c *client, buf []byte, done func() bool) error {
	if err := c.nc.SetReadDeadline(time.Now().Add(b.o.ioTimeout)); err != nil {
		return err
	}
	for !done() {
		n, err := c.nc.Read(buf)
		if n > 0 {
			if err := c.feed(b, buf[:n]); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
	}
	return c.nc.SetReadDeadline(time.Time{})
}

// connect opens one connection: TCP from source src, the WebSocket
// handshake and, for nats, INFO / CONNECT / [SUB] / PING / PONG.
func connect(ctx context.Context, o *options, b *blocking, idx int, src netip.Addr, sub bool) (*client, error) {
	d := ws.Dialer{
		Timeout:   o.dialTimeout,
		TLSConfig: o.tls,
		NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nd := net.Dialer{
				Timeout:   o.dialTimeout,
				KeepAlive: -1, // no TCP keep-alive probes
				LocalAddr: &net.TCPAddr{IP: src.AsSlice()},
			}
			return nd.DialContext(ctx, network, addr)
		},
	}
	node := idx % len(o.urls)
	nc, br, _, err := d.Dial(ctx, o.urls[node])
	if err != nil {
		return nil, err
	}
	c := &client{idx: idx, node: node, nc: nc, fd: -1, nats: o.kind == "nats"}
	if br != nil {
		// Bytes the server sent right after its 101 (NATS's INFO).
		rest := make([]byte, br.Buffered())
		br.Read(rest)
		ws.PutReader(br)
		if err := c.feed(b, rest); err != nil {
			nc.Close()
			return nil, err
		}
	}
	if !c.nats {
		return c, nil
	}
	buf := make([]byte, 4096)
	if err := b.readUntil(c, buf, func() bool { return c.gotInfo }); err != nil {
		nc.Close()
		return nil, fmt.Errorf("waiting for INFO: %w", err)
	}
	hello := `CONNECT {"verbose":false,"pedantic":false,"protocol":1}` + "\r\n"
	if sub {
		hello += "SUB " + o.subject + " 1\r\n"
	}
	hello += "PING\r\n"
	pongs := c.natsPongs
	if err := b.write(c, clientFrame(ws.OpBinary, []byte(hello))); err != nil {
		nc.Close()
		return nil, err
	}
	if err := b.readUntil(c, buf, func() bool { return c.natsPongs > pongs }); err != nil {
		nc.Close()
		return nil, fmt.Errorf("waiting for PONG: %w", err)
	}
	return c, nil
}

// detach replaces the Go connection by a duplicate of its descriptor (non-
// blocking, like the original) for the epoll loop.
func (c *client) detach() error {
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return errors.New("not a plain socket")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) {
		fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return err
	}
	if derr != nil {
		return derr
	}
	c.nc.Close()
	c.nc = nil
	c.fd = fd
	return nil
}

// errTally counts errors by kind (the text after the last ": ") and keeps
// one full message of each kind (as bench/idle).
type errTally struct {
	mu      sync.Mutex
	counts  map[string]int
	example map[string]string
	total   int
}

func (t *errTally) add(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.counts == nil {
		t.counts = make(map[string]int)
		t.example = make(map[string]string)
	}
	msg := err.Error()
	kind := msg
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		kind = msg[i+2:]
	}
	if t.counts[kind] == 0 {
		t.example[kind] = msg
	}
	t.counts[kind]++
	t.total++
}

func (t *errTally) report(what string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for kind, n := range t.counts {
		fmt.Fprintf(os.Stderr, "wsfan: %s error x%d: %s\n", what, n, t.example[kind])
	}
}

// connectAll opens n subscribers (and, for nats, a publisher). With
// detach, each is handed to the epoll loop's form as soon as it is ready.
func connectAll(ctx context.Context, o *options, b *blocking, detach bool) (subs []*client, pub *client, err error) {
	total := o.n
	if o.kind == "nats" && !o.idle {
		total++ // the last one is the publisher
	}
	all := make([]*client, total)
	var (
		wg     sync.WaitGroup
		sem    = make(chan struct{}, o.concurrency)
		errs   errTally
		opened atomic.Int64
	)
	start := time.Now()
	proto := "ws"
	if o.tls != nil {
		proto = "wss"
	}
	fmt.Fprintf(os.Stderr, "wsfan: opening %d %s connections (%s) to %s from %d source addresses\n",
		total, proto, o.kind, o.url, len(o.sources))
launch:
	for i := range total {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break launch
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			sub := o.kind != "nats" || i < o.n
			c, err := connect(ctx, o, b, i, o.sources[i%len(o.sources)], sub)
			if err == nil && detach {
				if err = c.detach(); err != nil {
					c.nc.Close()
				}
			}
			if err != nil {
				errs.add(err)
				return
			}
			all[i] = c
			opened.Add(1)
		}()
	}
	wg.Wait()
	errs.report("connect")
	fmt.Fprintf(os.Stderr, "wsfan: %d/%d connections ready after %v\n", opened.Load(), total, time.Since(start).Round(time.Millisecond))
	if int(opened.Load()) != total {
		for _, c := range all {
			if c != nil {
				c.close()
			}
		}
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, fmt.Errorf("only %d of %d connections opened", opened.Load(), total)
	}
	subs = all[:o.n]
	switch {
	case o.idle:
	case o.kind == "nats":
		pub = all[o.n]
	case o.kind == "api":
		// Not a connection: the control API publishes. Never registered
		// in the loop, never closed by the server.
		pub = &client{idx: -1, fd: -1}
	default:
		pub = all[0]
	}
	return subs, pub, nil
}

func (c *client) close() {
	if c.nc != nil {
		c.nc.Close()
		c.nc = nil
	}
	if c.fd >= 0 {
		unix.Close(c.fd)
		c.fd = -1
	}
	c.closed = true
}

// ---------------------------------------------------------------------------
// The fan-out epoll loop.

const ringSize = 1024

// maxNodes bounds -url's list (kind api).
const maxNodes = 8

// slot tracks one published message.
type slot struct {
	seq    int64
	count  int
	tPub   int64 // ns since loop.base
	tFirst int64
	tLast  int64
	done   bool
	lost   bool
	// kind api: per node, receipts and the time of the last one.
	nodeCount [maxNodes]int
	nodeLast  [maxNodes]int64
}

type loop struct {
	o       *options
	epfd    int
	conns   []*client // by index: the event's Fd field
	pub     *client
	events  []unix.EpollEvent
	rbuf    []byte
	base    time.Time
	ring    [ringSize]slot
	want    int   // receivers per message
	next    int64 // next sequence number
	oldest  int64 // oldest sequence number not done or lost
	inFly   int
	recv    int64 // messages received (all connections)
	strays  int64 // of which for no message in flight (late, lost)
	dead    int   // connections that closed or failed
	writeQ  []*client
	errs    errTally
	payload []byte
	// kind api
	nodeWant [maxNodes]int
	api      *apiPublisher
}

func (l *loop) now() int64 { return int64(time.Since(l.base)) }

func newLoop(o *options, subs []*client, pub *client) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	l := &loop{
		o:      o,
		epfd:   epfd,
		pub:    pub,
		events: make([]unix.EpollEvent, 1024),
		rbuf:   make([]byte, 64<<10),
		base:   time.Now(),
		want:   len(subs),
		next:   1,
		oldest: 1,
	}
	l.conns = append(l.conns, subs...)
	for _, c := range subs {
		l.nodeWant[c.node]++
	}
	if o.kind == "api" {
		l.api = newAPIPublisher(o)
	}
	if o.kind == "nats" {
		l.conns = append(l.conns, pub)
	}
	for i, c := range l.conns {
		c.idx = i
		// Edge-triggered: a read shorter than the buffer drained the
		// socket, and new data raises a new event.
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(i)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
			unix.Close(epfd)
			return nil, err
		}
	}
	return l, nil
}

func (l *loop) closeAll() {
	if l.api != nil {
		l.api.close()
	}
	for _, c := range l.conns {
		c.close()
	}
	unix.Close(l.epfd)
}

// message counts one receipt (handler).
func (l *loop) message(c *client, p []byte) {
	l.recv++
	seq := parseSeq(p)
	if seq <= 0 {
		l.strays++
		return
	}
	s := &l.ring[seq%ringSize]
	if s.seq != seq || s.done || s.lost {
		l.strays++
		return
	}
	s.count++
	s.nodeCount[c.node]++
	if s.nodeCount[c.node] == l.nodeWant[c.node] {
		s.nodeLast[c.node] = l.now()
	}
	if s.count == 1 {
		s.tFirst = l.now()
	}
	if s.count == l.want {
		s.tLast = l.now()
		s.done = true
		l.inFly--
	}
}

// write sends without blocking; what the socket does not take waits in
// c.out for the next loop turn (handler).
func (l *loop) write(c *client, frame []byte) error {
	if c.closed {
		return nil
	}
	if len(c.out) > 0 {
		c.out = append(c.out, frame...)
		return nil
	}
	n, err := sendAll(c.fd, frame)
	if err != nil {
		return err
	}
	if n < len(frame) {
		c.out = append(c.out, frame[n:]...)
		l.writeQ = append(l.writeQ, c)
	}
	return nil
}

// sendAll writes p (no SIGPIPE); it returns what went out before EAGAIN.
func sendAll(fd int, p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := unix.SendmsgN(fd, p[done:], nil, nil, unix.MSG_NOSIGNAL)
		if n > 0 {
			done += n
		}
		switch {
		case err == nil:
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			return done, nil
		default:
			return done, err
		}
	}
	return done, nil
}

func (l *loop) fail(c *client, err error) {
	if c.closed {
		return
	}
	l.errs.add(fmt.Errorf("connection %d: %w", c.idx, err))
	l.dead++
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	c.close()
}

// poll waits at most d for events and handles them.
func (l *loop) poll(d time.Duration) {
	ms := int(d / time.Millisecond)
	if d > 0 && ms == 0 {
		ms = 1
	}
	if len(l.writeQ) > 0 {
		ms = 0
	}
	n, err := unix.EpollWait(l.epfd, l.events, ms)
	if err != nil {
		if err != unix.EINTR {
			l.errs.add(fmt.Errorf("epoll_wait: %w", err))
			time.Sleep(time.Millisecond)
		}
		n = 0
	}
	for _, ev := range l.events[:n] {
		c := l.conns[ev.Fd]
		if c.closed {
			continue
		}
		l.readConn(c)
	}
	if len(l.writeQ) > 0 {
		q := l.writeQ
		l.writeQ = nil
		for _, c := range q {
			if c.closed || len(c.out) == 0 {
				continue
			}
			n, err := sendAll(c.fd, c.out)
			if err != nil {
				l.fail(c, err)
				continue
			}
			c.out = append(c.out[:0], c.out[n:]...)
			if len(c.out) > 0 {
				l.writeQ = append(l.writeQ, c)
			}
		}
	}
}

func (l *loop) readConn(c *client) {
	for {
		n, _, err := unix.Recvfrom(c.fd, l.rbuf, 0)
		if n > 0 {
			if err := c.feed(l, l.rbuf[:n]); err != nil {
				l.fail(c, err)
				return
			}
			if n < len(l.rbuf) {
				return // drained: the next data raises a new event
			}
			continue
		}
		switch {
		case err == nil: // n == 0: EOF
			l.fail(c, errors.New("connection closed by the server"))
			return
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			return
		default:
			l.fail(c, err)
			return
		}
	}
}

// parseSeq reads the 16-digit sequence number at the start of a payload.
func parseSeq(p []byte) int64 {
	if len(p) < 16 {
		return -1
	}
	var v int64
	for _, ch := range p[:16] {
		if ch < '0' || ch > '9' {
			return -1
		}
		v = v*10 + int64(ch-'0')
	}
	return v
}

// publish sends message seq: "<seq, 16 digits> <unix ns, 19 digits> xxx..."
// of -size bytes.
func (l *loop) publish() *slot {
	seq := l.next
	l.next++
	p := l.payload[:0]
	p = fmt.Appendf(p, "%016d %019d ", seq, time.Now().UnixNano())
	for len(p) < l.o.size {
		p = append(p, 'x')
	}
	l.payload = p
	var frame []byte
	if l.api != nil {
		s := &l.ring[seq%ringSize]
		*s = slot{seq: seq}
		l.inFly++
		s.tPub = l.now()
		l.api.publish(p)
		return s
	}
	if l.o.kind == "nats" {
		msg := fmt.Appendf(nil, "PUB %s %d\r\n", l.o.subject, len(p))
		msg = append(msg, p...)
		msg = append(msg, crlf...)
		frame = clientFrame(ws.OpBinary, msg)
	} else {
		frame = clientFrame(ws.OpText, p)
	}
	s := &l.ring[seq%ringSize]
	*s = slot{seq: seq}
	l.inFly++
	s.tPub = l.now()
	if err := l.write(l.pub, frame); err != nil {
		l.fail(l.pub, err)
	}
	return s
}

// expire marks messages in flight for longer than -msg-timeout as lost
// and advances oldest; it returns how many it marked.
func (l *loop) expire() int {
	lost := 0
	now := l.now()
	for l.oldest < l.next {
		s := &l.ring[l.oldest%ringSize]
		if !s.done && !s.lost {
			if now-s.tPub < int64(l.o.msgTimeout) {
				break
			}
			s.lost = true
			l.inFly--
			lost++
		}
		l.oldest++
	}
	return lost
}

// usage is a snapshot of the CPU accounting around a phase.
type usage struct {
	wall        time.Time
	self        time.Duration // this process, getrusage
	selfWait    int64         // ns runnable without a CPU, this process's threads
	server      int64         // clock ticks, utime+stime of -pid
	serverSys   int64         // clock ticks, stime of -pid
	serverWait  int64         // ns
	machine     int64         // clock ticks, /proc/stat
	serverKnown bool
}

const clkTck = 100 // USER_HZ: the unit of /proc/PID/stat and /proc/stat on Linux

func takeUsage(pids []int) usage {
	u := usage{wall: time.Now()}
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
		u.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	u.selfWait = runDelay(os.Getpid())
	u.machine = machineTicks()
	if len(pids) > 0 {
		u.serverKnown = true
		for _, pid := range pids {
			t, sys, err := procTicks(pid)
			if err != nil {
				u.serverKnown = false
			}
			u.server += t
			u.serverSys += sys
			u.serverWait += runDelay(pid)
		}
	}
	return u
}

// phaseCPU formats the CPU figures between two snapshots.
func phaseCPU(a, b usage) string {
	wall := b.wall.Sub(a.wall).Seconds()
	self := (b.self - a.self).Seconds()
	s := fmt.Sprintf("client_cpu_pct=%.1f client_wait_pct=%.1f", 100*self/wall, 100*float64(b.selfWait-a.selfWait)/1e9/wall)
	if a.serverKnown && b.serverKnown {
		srv := float64(b.server-a.server) / clkTck
		other := float64(b.machine-a.machine)/clkTck - srv - self
		ncpu := float64(runtimeNumCPU())
		sysShare := 0.0
		if b.server > a.server {
			sysShare = 100 * float64(b.serverSys-a.serverSys) / float64(b.server-a.server)
		}
		s += fmt.Sprintf(" server_cpu_pct=%.1f server_sys_share_pct=%.1f server_wait_pct=%.1f other_pct=%.1f",
			100*srv/wall, sysShare, 100*float64(b.serverWait-a.serverWait)/1e9/wall, max(0, min(100, 100*other/wall/ncpu)))
	}
	return s
}

func runtimeNumCPU() int {
	var set unix.CPUSet
	n := 0
	// All online CPUs, whatever this process is pinned to.
	b, err := os.ReadFile("/proc/stat")
	if err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if len(line) > 3 && line[:3] == "cpu" && line[3] >= '0' && line[3] <= '9' {
				n++
			}
		}
	}
	if n == 0 && unix.SchedGetaffinity(0, &set) == nil {
		n = set.Count()
	}
	return max(n, 1)
}

// procTicks returns utime+stime and stime (fields 14, 15) of /proc/PID/stat.
func procTicks(pid int) (total, sys int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ut + st, st, nil
}

// runDelay sums field 2 of /proc/PID/task/*/schedstat (ns runnable
// without a CPU).
func runDelay(pid int) int64 {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var total int64
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if fs := strings.Fields(string(b)); len(fs) >= 2 {
			v, _ := strconv.ParseInt(fs[1], 10, 64)
			total += v
		}
	}
	return total
}

// machineTicks: user+nice+system+irq+softirq+steal of all CPUs.
func machineTicks() int64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var t int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		t += v
	}
	return t
}

// pct returns the nearest-rank p-th percentile of sorted ns values, in ms.
func pct(sorted []int64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.999999) - 1
	i = max(0, min(len(sorted)-1, i))
	return float64(sorted[i]) / 1e6
}

func runFan(o *options) error {
	// Each connection is a descriptor; a dial in progress holds a second
	// one until it is detached.
	if err := procmem.RaiseNofile(o.n + o.concurrency + 64); err != nil {
		return err
	}
	if per := (o.n + len(o.sources)) / len(o.sources); per > 20000 {
		return fmt.Errorf("%d connections per source address is too many for the ephemeral port range; add -sources", per)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	start := time.Now()
	b := &blocking{o: o}
	subs, pub, err := connectAll(ctx, o, b, true)
	if err != nil {
		return err
	}
	l, err := newLoop(o, subs, pub)
	if err != nil {
		for _, c := range subs {
			c.close()
		}
		pub.close()
		return err
	}
	defer l.closeAll()
	fmt.Printf("wsfan connect kind=%s conns=%d receivers=%d sources=%d connect_s=%.2f size=%d\n",
		o.kind, len(l.conns), l.want, len(o.sources), time.Since(start).Seconds(), o.size)

	// 1. Latency: one message at a time.
	var lastNs, firstNs []int64
	var nodeNs [maxNodes][]int64
	lost := 0
	var u0 usage
	latStart := time.Now()
	for i := range o.warmup + o.msgs {
		if i == o.warmup {
			u0 = takeUsage(o.pids)
			latStart = time.Now()
		}
		if ctx.Err() != nil {
			return fmt.Errorf("run timeout in the latency phase (%d of %d messages)", i, o.warmup+o.msgs)
		}
		s := l.publish()
		deadline := s.tPub + int64(o.msgTimeout)
		for !s.done {
			rem := deadline - l.now()
			if rem <= 0 || l.pub.closed {
				s.lost = true
				l.inFly--
				break
			}
			l.poll(min(time.Duration(rem), 100*time.Millisecond))
		}
		l.oldest = l.next
		if i < o.warmup {
			continue
		}
		if s.lost {
			lost++
			continue
		}
		lastNs = append(lastNs, s.tLast-s.tPub)
		firstNs = append(firstNs, s.tFirst-s.tPub)
		for k := range o.urls {
			nodeNs[k] = append(nodeNs[k], s.nodeLast[k]-s.tPub)
		}
	}
	u1 := takeUsage(o.pids)
	slices.Sort(lastNs)
	slices.Sort(firstNs)
	var mean float64
	for _, v := range lastNs {
		mean += float64(v)
	}
	if len(lastNs) > 0 {
		mean /= float64(len(lastNs)) * 1e6
	}
	fmt.Printf("wsfan latency msgs=%d lost=%d last_p50_ms=%.3f last_p99_ms=%.3f last_max_ms=%.3f last_mean_ms=%.3f first_p50_ms=%.3f first_p99_ms=%.3f elapsed_s=%.2f %s\n",
		len(lastNs), lost, pct(lastNs, 50), pct(lastNs, 99), pct(lastNs, 100), mean,
		pct(firstNs, 50), pct(firstNs, 99), time.Since(latStart).Seconds(), phaseCPU(u0, u1))
	if len(o.urls) > 1 {
		fmt.Printf("wsfan nodes")
		for k := range o.urls {
			slices.Sort(nodeNs[k])
			fmt.Printf(" node%d_receivers=%d node%d_p50_ms=%.3f node%d_p99_ms=%.3f", k, l.nodeWant[k], k, pct(nodeNs[k], 50), k, pct(nodeNs[k], 99))
		}
		fmt.Println()
	}

	// 2. Throughput: -window messages in flight.
	if o.dur > 0 {
		u0 = takeUsage(o.pids)
		r0, p0 := l.recv, l.next
		t0 := l.now()
		end := t0 + int64(o.dur)
		lost = 0
		for l.now() < end {
			if ctx.Err() != nil {
				return errors.New("run timeout in the throughput phase")
			}
			if l.pub.closed {
				break
			}
			for l.inFly < o.window {
				l.publish()
			}
			l.poll(min(time.Duration(end-l.now()), 50*time.Millisecond))
			lost += l.expire()
		}
		t1 := l.now()
		r1, p1 := l.recv, l.next
		u1 = takeUsage(o.pids)
		// Let what is in flight arrive, so the connections end quiet.
		drainEnd := l.now() + int64(o.msgTimeout)
		for l.inFly > 0 && l.now() < drainEnd && !l.pub.closed {
			l.poll(50 * time.Millisecond)
			lost += l.expire()
		}
		elapsed := float64(t1-t0) / 1e9
		delivered := r1 - r0
		srvUs := ""
		if u0.serverKnown && u1.serverKnown && delivered > 0 {
			srvUs = fmt.Sprintf(" server_us_per_delivery=%.3f", float64(u1.server-u0.server)/clkTck*1e6/float64(delivered))
		}
		fmt.Printf("wsfan throughput window=%d elapsed_s=%.2f published=%d delivered=%d delivered_per_s=%.0f msgs_per_s=%.1f lost=%d client_us_per_delivery=%.3f%s %s\n",
			o.window, elapsed, p1-p0, delivered, float64(delivered)/elapsed, float64(delivered)/elapsed/float64(l.want),
			lost, (u1.self-u0.self).Seconds()*1e6/float64(max(delivered, 1)), srvUs, phaseCPU(u0, u1))
	}
	l.errs.report("loop")
	fmt.Printf("wsfan done dead_conns=%d strays=%d elapsed_s=%.2f\n", l.dead, l.strays, time.Since(start).Seconds())
	if l.dead > 0 {
		return fmt.Errorf("%d connections failed during the run", l.dead)
	}
	return nil
}

// ---------------------------------------------------------------------------
// -idle: memory per idle connection.

// settle polls the memory until two readings in a row differ by at most the
// tolerance, or settleMax passes.
func settle(ctx context.Context, o *options, what string) (procmem.Mem, error) {
	prev, err := procmem.Read(o.pids)
	if err != nil {
		return prev, err
	}
	deadline := time.Now().Add(o.settleMax)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return prev, ctx.Err()
		case <-time.After(o.settleEvery):
		}
		cur, err := procmem.Read(o.pids)
		if err != nil {
			return cur, err
		}
		if d := cur.RSS - prev.RSS; d <= o.settleTol && d >= -o.settleTol {
			return cur, nil
		}
		prev = cur
	}
	fmt.Fprintf(os.Stderr, "wsfan: warning: RSS %s did not settle within %v (last %d bytes)\n", what, o.settleMax, prev.RSS)
	return prev, nil
}

func runIdle(o *options) error {
	if err := procmem.RaiseNofile(o.n + o.concurrency + 64); err != nil {
		return err
	}
	if per := (o.n + len(o.sources)) / len(o.sources); per > 20000 {
		return fmt.Errorf("%d connections per source address is too many for the ephemeral port range; add -sources", per)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	start := time.Now()
	before, err := settle(ctx, o, "before")
	if err != nil {
		return err
	}
	b := &blocking{o: o}
	subs, _, err := connectAll(ctx, o, b, false)
	if err != nil {
		return err
	}
	conns := subs
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()
	after, err := settle(ctx, o, "after")
	if err != nil {
		return err
	}
	n := int64(len(conns))
	tlsFlag := 0
	if o.tls != nil {
		tlsFlag = 1
	}
	fmt.Printf("wsidle kind=%s tls=%d conns=%d rss_before=%d rss_after=%d per_conn_bytes=%d\n",
		o.kind, tlsFlag, n, before.RSS, after.RSS, (after.RSS-before.RSS)/n)
	if before.Rollup && after.Rollup {
		fmt.Printf("wsidle pss_before=%d pss_after=%d pss_per_conn_bytes=%d private_before=%d private_after=%d private_per_conn_bytes=%d\n",
			before.PSS, after.PSS, (after.PSS-before.PSS)/n,
			before.Private, after.Private, (after.Private-before.Private)/n)
	}
	if !o.verify {
		return nil
	}
	// Every connection must still answer a WebSocket ping.
	var (
		wg    sync.WaitGroup
		sem   = make(chan struct{}, o.concurrency)
		alive atomic.Int64
		verrs errTally
		ping  = clientFrame(ws.OpPing, []byte("wsfan"))
	)
	for _, c := range conns {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			pongs := c.wsPongs
			if err := b.write(c, ping); err != nil {
				verrs.add(err)
				return
			}
			if err := b.readUntil(c, make([]byte, 1024), func() bool { return c.wsPongs > pongs }); err != nil {
				verrs.add(err)
				return
			}
			alive.Add(1)
		}()
	}
	wg.Wait()
	verrs.report("verify")
	fmt.Printf("wsidle verify alive=%d/%d strays=%d\n", alive.Load(), n, b.strays.Load())
	fmt.Fprintf(os.Stderr, "wsfan: idle done in %v\n", time.Since(start).Round(time.Millisecond))
	if alive.Load() != n {
		return fmt.Errorf("%d of %d idle connections no longer answered", n-alive.Load(), n)
	}
	return nil
}
