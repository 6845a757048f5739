package edge

// Adversarial tests of the engine over real loopback sockets: slow clients
// (slowloris, idle holders, stalled readers), memory amplification
// (pipelined output, body preallocation), request smuggling, random and
// mutated garbage, pipelining floods, half-closes, connection churn,
// async replies racing with closes, reply storms, replies while output is
// blocked, ClientMax, descriptor exhaustion, large configured limits,
// read deadlines, and shutdown under load.
//
// Run with: go test -race -run Hostile -count=1 .
//
// Tests that change or measure process-wide state (heap size, CPU time,
// RLIMIT_NOFILE) or that may crash the process (a panic on an event loop)
// run their body in a child test process (hostileChild), so that they
// neither disturb the other tests nor take them down.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edge-rt/edge/static"
	"golang.org/x/sys/unix"
)

// ---------------------------------------------------------------------------
// Helpers (all prefixed "hostile" so they never clash with edge_test.go).

func hostileConfig() Config {
	return Config{
		Workers:        2,
		ReadTimeout:    time.Second,
		WriteTimeout:   time.Second,
		IdleTimeout:    5 * time.Second,
		PendingTimeout: 3 * time.Second,
		Logger:         slog.New(slog.DiscardHandler),
	}
}

// hostileServer starts a server on 127.0.0.1:0 with a GET /ok route (body
// "ok") plus whatever setup adds, and shuts it down when the test ends.
func hostileServer(t testing.TB, cfg Config, setup func(s *Server, l *Listener)) (*Server, string) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	srv := New(&cfg)
	l := srv.Listen("tcp", "127.0.0.1:0")
	l.Get("/ok", func(c *Ctx) { c.Text(200, "ok") })
	if setup != nil {
		setup(srv, l)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Logf("shutdown: %v", err)
		}
	})
	return srv, l.Addr().String()
}

func hostileDial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// hostileDialSmallRcvbuf dials with a tiny receive buffer, so that a large
// response blocks the server's writes quickly.
func hostileDialSmallRcvbuf(t testing.TB, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(network, address string, rc syscall.RawConn) error {
		var serr error
		rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4096) })
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// hostileReadAll reads c until EOF, a reset or the deadline d from now, and
// says how it ended: "eof", "reset", "timeout" or the error text.
func hostileReadAll(c net.Conn, d time.Duration) ([]byte, string) {
	c.SetReadDeadline(time.Now().Add(d))
	var buf bytes.Buffer
	_, err := buf.ReadFrom(c)
	return buf.Bytes(), hostileHow(err)
}

func hostileHow(err error) string {
	switch {
	case err == nil, errors.Is(err, io.EOF):
		return "eof"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	}
	return err.Error()
}

type hostileResp struct {
	status int
	header http.Header
	body   []byte
	close  bool
}

// hostileParse parses every response in data (method is the request
// method, for HEAD). A trailing partial response is an error.
func hostileParse(data []byte, method string) ([]hostileResp, error) {
	br := bufio.NewReader(bytes.NewReader(data))
	var out []hostileResp
	for {
		if _, err := br.Peek(1); err == io.EOF {
			return out, nil
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			return out, fmt.Errorf("response %d: %w", len(out), err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return out, fmt.Errorf("response %d body: %w", len(out), err)
		}
		out = append(out, hostileResp{resp.StatusCode, resp.Header, body, resp.Close})
	}
}

func hostileStatuses(rs []hostileResp) []int {
	var s []int
	for _, r := range rs {
		s = append(s, r.status)
	}
	return s
}

// hostileWait polls cond every 10 ms until it holds or d passes.
func hostileWait(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func hostileHeapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func hostileCPU() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

const hostileChildEnv = "EDGE_HOSTILE_CHILD"

// hostileChild runs the calling test in a fresh test process. It returns
// true in that child, where the caller goes on with the test body; in the
// parent it runs the child, fails the test if the child failed (a panic,
// a data race, a failed check) and returns false.
func hostileChild(t *testing.T) bool {
	t.Helper()
	if os.Getenv(hostileChildEnv) == t.Name() {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), hostileChildEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("child test process failed (%v):\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "hostile_test.go:") {
			t.Log(strings.TrimSpace(line))
		}
	}
	return false
}

// hostileProbe is a well-behaved client issuing GET /ok every 20 ms (on a
// keep-alive connection, with a fresh connection every 5th time) while an
// attack runs, recording its worst latency and any failure.
type hostileProbe struct {
	stop, done chan struct{}
	sent       atomic.Int64 // requests written
	max        time.Duration
	n          int
	errs       []string
}

func hostileStartProbe(addr string) *hostileProbe {
	p := &hostileProbe{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		var c net.Conn
		var br *bufio.Reader
		defer func() {
			if c != nil {
				c.Close()
			}
		}()
		fail := func(s string) {
			p.errs = append(p.errs, s)
			if c != nil {
				c.Close()
				c = nil
			}
		}
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			start := time.Now()
			if c == nil || i%5 == 0 {
				if c != nil {
					c.Close()
				}
				var err error
				if c, err = net.DialTimeout("tcp", addr, 5*time.Second); err != nil {
					c = nil
					fail("dial: " + err.Error())
					continue
				}
				br = bufio.NewReader(c)
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			p.sent.Add(1)
			if _, err := io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: probe\r\n\r\n"); err != nil {
				fail("write: " + err.Error())
				continue
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				fail("read: " + err.Error())
				continue
			}
			b, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != 200 || string(b) != "ok" {
				fail(fmt.Sprintf("bad response %d %q %v", resp.StatusCode, b, err))
				continue
			}
			if d := time.Since(start); d > p.max {
				p.max = d
			}
			p.n++
		}
	}()
	return p
}

func (p *hostileProbe) finish(t testing.TB, maxLatency time.Duration) {
	t.Helper()
	close(p.stop)
	<-p.done
	t.Logf("normal client: %d requests, worst latency %v, %d failures", p.n, p.max, len(p.errs))
	if len(p.errs) > 0 {
		t.Errorf("normal client failed %d times during the attack, e.g. %q", len(p.errs), p.errs[:min(3, len(p.errs))])
	}
	if p.n == 0 {
		t.Errorf("normal client got no response during the attack")
	}
	if p.max > maxLatency {
		t.Errorf("normal client stalled: worst latency %v > %v", p.max, maxLatency)
	}
}

// ---------------------------------------------------------------------------
// 1. Slowloris.

// TestHostileSlowloris: 200 connections dribble a request head one byte
// every 200 ms. Each must get 408 (or be closed) within ReadTimeout plus
// the sweep granularity, and a normal client must keep getting fast
// answers meanwhile.
func TestHostileSlowloris(t *testing.T) {
	t.Parallel()
	cfg := hostileConfig()
	srv, addr := hostileServer(t, cfg, nil)
	probe := hostileStartProbe(addr)

	const n = 200
	const head = "GET /ok HTTP/1.1\r\nHost: a\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	type result struct {
		data []byte
		how  string
		took time.Duration
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				results[i].how = "dial: " + err.Error()
				return
			}
			defer c.Close()
			start := time.Now()
			stop := make(chan struct{})
			go func() {
				for k := 0; k < len(head); k++ {
					if _, err := c.Write([]byte{head[k]}); err != nil {
						return
					}
					select {
					case <-stop:
						return
					case <-time.After(200 * time.Millisecond):
					}
				}
			}()
			data, how := hostileReadAll(c, cfg.ReadTimeout+6*time.Second)
			close(stop)
			results[i] = result{data, how, time.Since(start)}
		}()
	}
	wg.Wait()
	probe.finish(t, time.Second)

	limit := 2*cfg.ReadTimeout + 2*time.Second // sweep once a second, noisy machine
	var n408, nclosed int
	var worst time.Duration
	for i, r := range results {
		worst = max(worst, r.took)
		switch {
		case r.how != "eof" && r.how != "reset":
			t.Errorf("slow client %d: ended with %q after %v (data %q)", i, r.how, r.took, r.data)
			continue
		case r.took > limit:
			t.Errorf("slow client %d: closed only after %v (limit %v)", i, r.took, limit)
		}
		switch {
		case len(r.data) == 0:
			nclosed++
		case bytes.HasPrefix(r.data, []byte("HTTP/1.1 408 ")):
			n408++
		default:
			t.Errorf("slow client %d: unexpected answer %q", i, r.data)
		}
	}
	t.Logf("%d answered 408, %d closed silently, slowest %v; stats timeouts=%d", n408, nclosed, worst, srv.Stats().Timeouts)
	if n408 < n/2 {
		t.Errorf("only %d of %d slow clients got a 408", n408, n)
	}
}

// TestHostileIdleHold: 200 connections that never send a byte (and 50
// that go quiet after one request) are closed by IdleTimeout, silently
// for the first ones, and the server keeps serving.
func TestHostileIdleHold(t *testing.T) {
	t.Parallel()
	cfg := hostileConfig()
	cfg.IdleTimeout = time.Second
	srv, addr := hostileServer(t, cfg, nil)
	probe := hostileStartProbe(addr)
	var conns []net.Conn
	for range 200 {
		conns = append(conns, hostileDial(t, addr))
	}
	var quiet []net.Conn
	for range 50 {
		c := hostileDial(t, addr)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
		br := bufio.NewReader(c)
		if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
			t.Fatalf("request before going quiet: %v", err)
		}
		io.Copy(io.Discard, io.LimitReader(br, 2)) // the "ok" body
		quiet = append(quiet, c)
	}
	start := time.Now()
	limit := 2*cfg.IdleTimeout + 2*time.Second
	for i, c := range append(conns, quiet...) {
		data, how := hostileReadAll(c, limit-time.Since(start)+time.Second)
		if how != "eof" || len(data) != 0 {
			t.Errorf("idle connection %d: %q, %s after %v; want a close within %v", i, data, how, time.Since(start), limit)
		}
	}
	probe.finish(t, time.Second)
	if !hostileWait(2*time.Second, func() bool { return srv.Stats().Open == 0 }) {
		t.Errorf("Open = %d", srv.Stats().Open)
	}
	t.Logf("closed for idleness: %d", srv.Stats().Closed["idle"])
}

// ---------------------------------------------------------------------------
// 2. Slow readers: memory stays bounded while output is blocked, the write
// timeout closes them, and others are unaffected.

// TestHostileSlowReaderStatic: 50 clients pipeline 20 requests each for a
// 4 MiB static content (sent by reference) and never read.
func TestHostileSlowReaderStatic(t *testing.T) {
	t.Parallel()
	if !hostileChild(t) {
		return
	}
	data := make([]byte, 4<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	big := static.New(data, "image/png") // incompressible type: identity only
	data = nil
	cfg := hostileConfig()
	cfg.WriteTimeout = 3 * time.Second
	srv, addr := hostileServer(t, cfg, func(s *Server, l *Listener) {
		l.Get("/big", func(c *Ctx) { c.Content(big) })
	})
	hostileSlowReaders(t, srv, addr, cfg, 50, 20, "/big", 64<<20, true)
}

// TestHostileSlowReaderCopied: 4 clients pipeline 300 requests each (10 KB
// of input, one read) for a 64 KiB body answered with Ctx.Send (copied)
// and never read. A server that answers every pipelined request of a read
// before looking at its output keeps 300 x 64 KiB per connection (and its
// loop is busy copying meanwhile).
func TestHostileSlowReaderCopied(t *testing.T) {
	t.Parallel()
	if !hostileChild(t) {
		return
	}
	body := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	cfg := hostileConfig()
	cfg.WriteTimeout = 5 * time.Second
	srv, addr := hostileServer(t, cfg, func(s *Server, l *Listener) {
		l.Get("/send", func(c *Ctx) { c.Send(200, "application/octet-stream", body) })
	})
	hostileSlowReaders(t, srv, addr, cfg, 4, 300, "/send", 32<<20, false)
}

func hostileSlowReaders(t *testing.T, srv *Server, addr string, cfg Config, nclients, depth int, path string, maxGrowth uint64, checkWriteTimeout bool) {
	base := hostileHeapInuse()
	closedBefore := srv.Stats().Closed["write_timeout"]
	probe := hostileStartProbe(addr)
	req := "GET " + path + " HTTP/1.1\r\nHost: a\r\n\r\n"
	burst := strings.Repeat(req, depth)
	conns := make([]net.Conn, nclients)
	for i := range conns {
		conns[i] = hostileDialSmallRcvbuf(t, addr)
		if _, err := io.WriteString(conns[i], burst); err != nil {
			t.Fatalf("client %d: write: %v", i, err)
		}
	}
	// Let the server take in whatever it is willing to take in: wait until
	// it parses no more of these requests (the probe's aside) for 300 ms.
	sent := time.Now()
	attack := func() int64 { return int64(srv.Stats().Requests) - probe.sent.Load() }
	last, lastChange := attack(), time.Now()
	hostileWait(5*time.Second, func() bool {
		if r := attack(); r > last+1 {
			last, lastChange = r, time.Now()
		}
		return last >= int64(nclients*depth) || time.Since(lastChange) > 300*time.Millisecond
	})
	peak := hostileHeapInuse()
	st := srv.Stats()
	t.Logf("heap in use: %d MiB before, %d MiB with %d stalled readers (requests parsed %d, bytes out %d MiB)",
		base>>20, peak>>20, nclients, st.Requests, st.BytesOut>>20)
	if since := time.Since(sent); since >= cfg.WriteTimeout {
		t.Logf("warning: measured %v after the burst, the write timeout may have fired already", since)
	}
	if peak > base && peak-base > maxGrowth {
		t.Errorf("heap grew by %d MiB with %d stalled readers (bound %d MiB): output for pipelined requests is not bounded",
			(peak-base)>>20, nclients, maxGrowth>>20)
	}

	if !checkWriteTimeout {
		for _, c := range conns {
			c.Close()
		}
		probe.finish(t, 1500*time.Millisecond)
		return
	}
	// The write timeout closes every stalled reader.
	if !hostileWait(2*cfg.WriteTimeout+3*time.Second, func() bool {
		return srv.Stats().Closed["write_timeout"]-closedBefore >= uint64(nclients)
	}) {
		t.Errorf("write timeout closed %d of %d stalled readers", srv.Stats().Closed["write_timeout"]-closedBefore, nclients)
	}
	t.Logf("stalled readers closed by the write timeout %v after the burst", time.Since(sent))
	// (Reading them to EOF would drain megabytes of orphaned kernel
	// buffers through tiny windows: count open connections instead; the
	// probe holds at most one.)
	if open := srv.Stats().Open; open > 1 {
		t.Errorf("%d connections still open after the write timeout", open)
	}
	for _, c := range conns {
		c.Close()
	}
	probe.finish(t, 1500*time.Millisecond)
	after := hostileHeapInuse()
	t.Logf("heap in use after the readers were closed: %d MiB", after>>20)
}

// ---------------------------------------------------------------------------
// 3. Request smuggling over the socket.

// TestHostileSmuggling sends smuggling vectors, each hiding a request for
// /smuggled, and reads until the server closes: the expected error status
// (and nothing for /smuggled) must come back, then EOF.
func TestHostileSmuggling(t *testing.T) {
	t.Parallel()
	cfg := hostileConfig()
	cfg.AllowPost = true
	cfg.MaxBodySize = 1024
	routes := func(s *Server, l *Listener) {
		l.Get("/smuggled", func(c *Ctx) { c.Text(200, "SMUGGLED") })
		l.Any().Post(Path("/echo"), func(c *Ctx) { c.Text(200, "len="+strconv.Itoa(len(c.Body()))) })
		l.Any().PostStream(Path("/stream"), StreamHandler{OnEnd: func(c *Ctx, ok bool) {
			if ok {
				c.Text(200, "streamed")
			}
		}})
	}
	_, post := hostileServer(t, cfg, routes)
	cfg.AllowPost = false
	_, nopost := hostileServer(t, cfg, routes)

	const smug = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
	type tc struct {
		name string
		addr string
		raw  string
		want []int
	}
	cases := []tc{
		{"CL+TE", post, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smug, []int{400}},
		{"TE+CL", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smug, []int{400}},
		{"dup CL same", post, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello" + smug, []int{400}},
		{"dup CL differ", post, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 37\r\n\r\n" + smug, []int{400}},
		{"CL list", post, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello" + smug, []int{400}},
		{"CL plus", post, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello" + smug, []int{400}},
		{"CL negative", post, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n" + smug, []int{400}},
		{"CL hex", post, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello" + smug, []int{400}},
		{"CL overflow", post, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n" + smug, []int{400}},
		{"CL inner space", post, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1 0\r\n\r\n" + smug, []int{400}},
		{"TE obs-fold", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n" + smug, []int{400}},
		{"obs-fold hides TE", post, "POST /echo HTTP/1.1\r\nHost: a\r\nX-A: b\r\n Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smug, []int{400}},
		{"TE space colon", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + smug, []int{400}},
		{"TE chunked,identity", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + smug, []int{400}},
		{"TE identity", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n" + smug, []int{501}},
		{"TE xchunked", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + smug, []int{501}},
		{"TE twice", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smug, []int{400}},
		{"TE vertical tab", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n" + smug, []int{400}},
		{"TE in HTTP/1.0", post, "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smug, []int{400}},
		{"chunk size 2^64", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nx\r\n0\r\n\r\n" + smug, []int{400}},
		{"chunk size huge", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\nx\r\n0\r\n\r\n" + smug, []int{400}},
		{"chunk size 0x", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n" + smug, []int{400}},
		{"chunk size negative", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n" + smug, []int{400}},
		{"chunk size empty", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n" + smug, []int{400}},
		{"chunk bare LF", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n" + smug, []int{400}},
		{"chunk data overrun", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n" + smug, []int{400}},
		{"chunked over max body", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" + strings.Repeat("x", 0x800) + "\r\n0\r\n\r\n" + smug, []int{413}},
		{"stream bad chunk", post, "POST /stream HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n" + smug, []int{400}},
		{"CL over max body", post, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n" + smug, []int{413}},
		// A body on a route that does not take one is read and dropped
		// (its framing checked), never parsed as requests; Connection:
		// close so that the harness sees the end.
		{"GET with body, POST on", post, "GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(smug)) + "\r\n\r\n" + smug, []int{200}},
		{"GET chunked body, POST on", post, "GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(smug), smug) + smug, []int{200}},
		{"GET with body, POST off", nopost, "GET /ok HTTP/1.1\r\nHost: a\r\nContent-Length: " + strconv.Itoa(len(smug)) + "\r\n\r\n" + smug, []int{405}},
		{"GET bad chunked body, POST on", post, "GET /ok HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n" + smug, []int{400}},
		{"GET body keep-alive, POST on", post, "GET /ok HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", []int{200, 200}},
		{"POST off", nopost, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: " + strconv.Itoa(len(smug)) + "\r\n\r\n" + smug, []int{405}},
		{"POST off chunked", nopost, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smug, []int{405}},
		{"unknown method", post, "FOO /ok HTTP/1.1\r\nHost: a\r\n\r\n" + smug, []int{501}},
		{"valid then CL+TE", post, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\nPOST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smug, []int{200, 400}},
		{"valid POST then bad", post, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /ok HTTP/1.1\nHost: a\n\n" + smug, []int{200, 400}},
		{"bare LF head", post, "GET /ok HTTP/1.1\nHost: a\n\n" + smug, []int{400}},
		{"bare CR head", post, "GET /ok HTTP/1.1\rHost: a\r\n\r\n" + smug, []int{400}},
		{"NUL in value", post, "GET /ok HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n" + smug, []int{400}},
		{"bad field name", post, "GET /ok HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n" + smug, []int{400}},
		{"absolute form", post, "GET http://a/ok HTTP/1.1\r\nHost: a\r\n\r\n" + smug, []int{400}},
		{"double space", post, "GET  /ok HTTP/1.1\r\nHost: a\r\n\r\n" + smug, []int{400}},
		{"space in target", post, "GET /o k HTTP/1.1\r\nHost: a\r\n\r\n" + smug, []int{400}},
		{"HTTP/2.0", post, "GET /ok HTTP/2.0\r\nHost: a\r\n\r\n" + smug, []int{505}},
		{"no Host", post, "GET /ok HTTP/1.1\r\n\r\n" + smug, []int{400}},
		{"two Hosts", post, "GET /ok HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" + smug, []int{400}},
		{"bad Host", post, "GET /ok HTTP/1.1\r\nHost: a b\r\n\r\n" + smug, []int{400}},
		{"Expect other", post, "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 5\r\n\r\nhello" + smug, []int{417}},
		{"header too big", post, "GET /ok HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("b", 20000) + "\r\n\r\n" + smug, []int{431}},
		{"line too long", post, "GET /" + strings.Repeat("l", 9000) + " HTTP/1.1\r\nHost: a\r\n\r\n" + smug, []int{414}},
		// The hidden request sits inside a body that never completes: the
		// server must time out, never parse it as a request.
		{"inside short CL body", post, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n" + smug, []int{408}},
		{"inside short chunk", post, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n" + smug, []int{408}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			conn := hostileDial(t, c.addr)
			if _, err := io.WriteString(conn, c.raw); err != nil {
				t.Fatal(err)
			}
			data, how := hostileReadAll(conn, 2*cfg.ReadTimeout+4*time.Second)
			if how != "eof" && how != "reset" {
				t.Errorf("connection not closed: %s", how)
			}
			if bytes.Contains(data, []byte("SMUGGLED")) {
				t.Errorf("the hidden request was answered:\n%s", data)
			}
			rs, err := hostileParse(data, "GET")
			if err != nil {
				t.Errorf("malformed response stream: %v\n%q", err, data)
			}
			if got := hostileStatuses(rs); fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("statuses %v, want %v\n%q", got, c.want, data)
			}
			// The server closes after the last response: it must say so
			// (RFC 9112 section 9.6), or a client pipelining behind it
			// cannot tell a close from a lost connection.
			if n := len(rs); n > 0 && !rs[n-1].close {
				t.Errorf("last response (status %d) before the close lacks Connection: close", rs[n-1].status)
			}
		})
	}
}

// TestHostilePostWithoutLength: a POST with neither Content-Length nor
// Transfer-Encoding has an empty body (RFC 9112 section 6.3). Sent to a
// Post or PostStream route it must be answered, not crash the process.
func TestHostilePostWithoutLength(t *testing.T) {
	t.Parallel()
	if !hostileChild(t) { // the bug is a panic on the event loop
		return
	}
	cfg := hostileConfig()
	cfg.AllowPost = true
	_, addr := hostileServer(t, cfg, func(s *Server, l *Listener) {
		l.Any().Post(Path("/post"), func(c *Ctx) { c.Text(200, "len="+strconv.Itoa(len(c.Body()))) })
		l.Any().PostStream(Path("/stream"), StreamHandler{OnEnd: func(c *Ctx, ok bool) {
			if ok {
				c.Text(200, "size="+strconv.FormatInt(c.BodySize(), 10))
			}
		}})
	})
	for _, tc := range []struct{ path, want string }{{"/post", "len=0"}, {"/stream", "size=0"}} {
		c := hostileDial(t, addr)
		io.WriteString(c, "POST "+tc.path+" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		data, how := hostileReadAll(c, 5*time.Second)
		rs, err := hostileParse(data, "GET")
		if err != nil || len(rs) != 1 || rs[0].status != 200 || string(rs[0].body) != tc.want {
			t.Errorf("POST %s without a length: got %q (%s, %v), want 200 %q", tc.path, data, how, err, tc.want)
		}
	}
}

// TestHostileSplitBodyWithClose: a request that asks to close the
// connection (Connection: close, or HTTP/1.0) and whose body arrives in
// more than one read must still be received whole and answered.
func TestHostileSplitBodyWithClose(t *testing.T) {
	t.Parallel()
	cfg := hostileConfig()
	cfg.AllowPost = true
	_, addr := hostileServer(t, cfg, func(s *Server, l *Listener) {
		l.Any().Post(Path("/echo"), func(c *Ctx) { c.Send(200, "text/plain", c.Body()) })
		l.Any().PostStream(Path("/stream"), StreamHandler{OnEnd: func(c *Ctx, ok bool) {
			if ok {
				c.Text(200, "size="+strconv.FormatInt(c.BodySize(), 10))
			}
		}})
	})
	for _, tc := range []struct {
		name, first, second, want string
	}{
		{"post close", "POST /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 10\r\n\r\n01234", "56789", "0123456789"},
		{"post HTTP/1.0", "POST /echo HTTP/1.0\r\nContent-Length: 10\r\n\r\n01234", "56789", "0123456789"},
		{"post chunked close", "POST /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n01234\r\n", "5\r\n56789\r\n0\r\n\r\n", "0123456789"},
		{"stream close", "POST /stream HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 10\r\n\r\n01234", "56789", "size=10"},
		{"post keep-alive (control)", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n01234", "56789GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "0123456789"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := hostileDial(t, addr)
			io.WriteString(c, tc.first)
			time.Sleep(150 * time.Millisecond) // the server reads the first part alone
			io.WriteString(c, tc.second)
			data, how := hostileReadAll(c, 2*cfg.ReadTimeout+3*time.Second)
			rs, err := hostileParse(data, "GET")
			if err != nil || len(rs) == 0 || rs[0].status != 200 || string(rs[0].body) != tc.want {
				t.Errorf("got %q (%s, %v), want 200 %q: the rest of the body was dropped", data, how, err, tc.want)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// 4. Random garbage.

// TestHostileGarbage sends a few thousand random and mutated requests on
// fresh connections: each must end with valid responses and/or a close,
// never hang, and the server must keep serving.
func TestHostileGarbage(t *testing.T) {
	t.Parallel()
	if !hostileChild(t) { // a panic on a loop must not take the other tests down
		return
	}
	cfg := hostileConfig()
	cfg.AllowPost = true
	cfg.MaxBodySize = 4096
	cfg.IdleTimeout = time.Second
	cfg.Headers = []string{"X-Test", "User-Agent"}
	small := static.New([]byte(strings.Repeat("static content ", 100)), "text/plain")
	srv, addr := hostileServer(t, cfg, func(s *Server, l *Listener) {
		l.Get("/s", func(c *Ctx) { c.Content(small) })
		l.Get("/p", func(c *Ctx) {
			id := c.Pending()
			go s.Reply(id, 200, "text/plain", []byte("pending"))
		})
		l.Any().Handle(Pattern("/u/:id/x"), func(c *Ctx) { c.Text(200, c.Param("id")+c.Header("X-Test")+c.Query("q")) })
		l.Any().Handle(Regexp(`/r/([a-z]+)`), func(c *Ctx) { c.Text(200, c.Match(1)+c.Cookie("k")) })
		l.Any().Post(Path("/post"), func(c *Ctx) { c.Send(200, "text/plain", c.Body()) })
		l.Any().PostStream(Path("/stream"), StreamHandler{
			OnData: func(c *Ctx, data []byte) {},
			OnEnd: func(c *Ctx, ok bool) {
				if ok {
					c.Text(200, strconv.FormatInt(c.BodySize(), 10))
				}
			},
		})
	})
	templates := []string{
		"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /p?x=1 HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip, br;q=0.5\r\n\r\n",
		"GET /s HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"x\"\r\nAccept-Encoding: gzip\r\n\r\n",
		"GET /u/42/x?q=%41+b HTTP/1.1\r\nHost: a:80\r\nX-Test: t\r\nUser-Agent: fuzz\r\n\r\n",
		"GET /r/abc HTTP/1.1\r\nHost: [::1]:8080\r\nCookie: k=v; j=w\r\n\r\n",
		"POST /post HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
		"POST /stream HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\n",
		"POST /post HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"GET /ok HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"POST /post HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
		"DELETE /nope HTTP/1.1\r\nHost: a\r\n\r\n",
	}
	inserts := []string{"\r", "\n", "\r\n", " ", "\t", "\x00", ":", "%", "%zz", "chunked", "\r\n\r\n",
		"Content-Length: 9\r\n", "Transfer-Encoding: chunked\r\n", "Content-Length: 99999999999\r\n", "\xff\xfe", "HTTP/1.1"}
	rng := rand.New(rand.NewPCG(20240601, 7))
	gen := func() []byte {
		switch k := rng.IntN(10); {
		case k < 4: // uniform random bytes
			b := make([]byte, 1+rng.IntN(300))
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			return b
		case k < 5: // printable junk with line breaks
			b := make([]byte, 1+rng.IntN(300))
			for i := range b {
				if rng.IntN(12) == 0 {
					b[i] = '\n'
				} else {
					b[i] = byte(0x20 + rng.IntN(0x5f))
				}
			}
			return b
		case k < 6: // a valid request followed by junk
			b := []byte(templates[rng.IntN(len(templates))])
			for range rng.IntN(40) {
				b = append(b, byte(rng.Uint32()))
			}
			return b
		default: // mutated valid requests, sometimes pipelined
			b := []byte(templates[rng.IntN(len(templates))])
			if rng.IntN(4) == 0 {
				b = append(b, templates[rng.IntN(len(templates))]...)
			}
			for range 1 + rng.IntN(4) {
				if len(b) == 0 {
					break
				}
				i := rng.IntN(len(b))
				switch rng.IntN(6) {
				case 0:
					b[i] = byte(rng.Uint32())
				case 1:
					b = append(b[:i], b[i+1:]...)
				case 2:
					b = append(b[:i], append([]byte(inserts[rng.IntN(len(inserts))]), b[i:]...)...)
				case 3:
					j := i + rng.IntN(len(b)-i)
					b = append(b[:j], append(bytes.Clone(b[i:j]), b[j:]...)...)
				case 4:
					b[i] ^= 0x20 // case flip
				case 5:
					if rng.IntN(4) == 0 {
						b = b[:i] // truncation: incomplete, answered 408 later
					}
				}
			}
			return b
		}
	}
	const total = 3000
	payloads := make([][]byte, total)
	for i := range payloads {
		payloads[i] = gen()
	}

	var outcomes sync.Map // outcome -> *atomic.Int64
	count := func(k string) {
		v, _ := outcomes.LoadOrStore(k, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	var failures atomic.Int64
	sem := make(chan struct{}, 100)
	var wg sync.WaitGroup
	for i, p := range payloads {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			outcome, bad := hostileGarbageOne(addr, p, 2*cfg.ReadTimeout+4*time.Second)
			count(outcome)
			if bad && failures.Add(1) <= 10 {
				t.Errorf("payload %d %q: %s", i, p, outcome)
			}
		}()
	}
	wg.Wait()
	var summary []string
	outcomes.Range(func(k, v any) bool {
		summary = append(summary, fmt.Sprintf("%s=%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	t.Logf("outcomes: %s", strings.Join(summary, " "))
	if n := failures.Load(); n > 0 {
		t.Errorf("%d of %d garbage connections misbehaved", n, total)
	}

	// The server still serves, and every connection is released.
	p := hostileStartProbe(addr)
	time.Sleep(300 * time.Millisecond)
	p.finish(t, time.Second)
	if !hostileWait(2*cfg.IdleTimeout+3*time.Second, func() bool { return srv.Stats().Open == 0 }) {
		t.Errorf("%d connections still open after the garbage run", srv.Stats().Open)
	}
}

// hostileGarbageOne sends p on a fresh connection and classifies what
// comes back. bad reports a hang or a malformed response.
func hostileGarbageOne(addr string, p []byte, limit time.Duration) (outcome string, bad bool) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "dial error " + err.Error(), true
	}
	defer c.Close()
	deadline := time.Now().Add(limit)
	c.SetDeadline(deadline)
	if _, err := c.Write(p); err != nil {
		return "write error", false // the server may have answered and closed already
	}
	method := "GET"
	if bytes.HasPrefix(p, []byte("HEAD ")) {
		method = "HEAD"
	}
	br := bufio.NewReader(c)
	n := 0
	for {
		if _, err := br.Peek(1); err != nil {
			switch how := hostileHow(err); {
			case how == "eof" && n == 0:
				return "closed without response", false
			case how == "eof":
				return "responses then close", false
			case how == "reset" && n == 0:
				return "reset without response", false
			case how == "reset":
				return "responses then reset", false
			case how == "timeout" && n > 0:
				return "keep-alive (idle)", false
			case how == "timeout":
				return "hang: no response and no close", true
			default:
				return "read error " + how, true
			}
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			return "malformed or truncated response: " + err.Error(), true
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return "bad response body: " + err.Error(), true
		}
		if resp.StatusCode < 100 || resp.StatusCode > 599 {
			return "bad status " + resp.Status, true
		}
		if resp.StatusCode >= 200 {
			n++
		}
		if resp.Close {
			if _, err := br.Peek(1); hostileHow(err) != "eof" && hostileHow(err) != "reset" {
				return "data or no close after Connection: close: " + hostileHow(err), true
			}
			if resp.StatusCode >= 400 {
				return "error response then close", false
			}
			return "responses then close", false
		}
		if resp.StatusCode >= 200 {
			// More responses (pipelined) come at once; otherwise the
			// connection is idle and that is fine.
			c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		}
	}
}

// ---------------------------------------------------------------------------
// 5. Pipelining floods.

// TestHostilePipelineFlood: 10,000 tiny GETs in one write burst on one
// connection are all answered, in order.
func TestHostilePipelineFlood(t *testing.T) {
	t.Parallel()
	cfg := hostileConfig()
	cfg.WriteTimeout = 5 * time.Second
	cfg.ReadTimeout = 5 * time.Second
	_, addr := hostileServer(t, cfg, func(s *Server, l *Listener) {
		l.Get("/i", func(c *Ctx) { c.Text(200, c.Query("n")) })
		l.Get("/p", func(c *Ctx) {
			id, n := c.Pending(), strings.Clone(c.Query("n"))
			go s.Reply(id, 200, "text/plain", []byte(n))
		})
	})
	for _, tc := range []struct {
		path string
		n    int
	}{{"/i", 10000}, {"/p", 2000}} {
		t.Run(tc.path, func(t *testing.T) {
			var burst bytes.Buffer
			for i := range tc.n {
				fmt.Fprintf(&burst, "GET %s?n=%d HTTP/1.1\r\nHost: a\r\n", tc.path, i)
				if i == tc.n-1 {
					burst.WriteString("Connection: close\r\n")
				}
				burst.WriteString("\r\n")
			}
			c := hostileDial(t, addr)
			c.SetDeadline(time.Now().Add(20 * time.Second))
			werr := make(chan error, 1)
			go func() { _, err := c.Write(burst.Bytes()); werr <- err }()
			br := bufio.NewReader(c)
			for i := range tc.n {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("response %d of %d: %v", i, tc.n, err)
				}
				b, err := io.ReadAll(resp.Body)
				if err != nil || resp.StatusCode != 200 || string(b) != strconv.Itoa(i) {
					t.Fatalf("response %d: status %d body %q err %v", i, resp.StatusCode, b, err)
				}
			}
			if err := <-werr; err != nil {
				t.Fatalf("write: %v", err)
			}
			if _, err := br.ReadByte(); hostileHow(err) != "eof" {
				t.Errorf("after the last response: %v, want EOF", err)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// 6. Half-close.

// TestHostileHalfClose: a client that sends its requests and then shuts
// down its write side still gets every response in full.
func TestHostileHalfClose(t *testing.T) {
	t.Parallel()
	bigData := make([]byte, 8<<20)
	for i := range bigData {
		bigData[i] = byte(i % 251)
	}
	big := static.New(bigData, "image/png")
	cfg := hostileConfig()
	cfg.AllowPost = true
	cfg.WriteTimeout = 5 * time.Second
	_, addr := hostileServer(t, cfg, func(s *Server, l *Listener) {
		l.Get("/big", func(c *Ctx) { c.Content(big) })
		l.Get("/later", func(c *Ctx) {
			id := c.Pending()
			go func() {
				time.Sleep(200 * time.Millisecond)
				s.Reply(id, 200, "text/plain", []byte("later"))
			}()
		})
		l.Any().Post(Path("/echo"), func(c *Ctx) { c.Send(200, "text/plain", c.Body()) })
	})
	cases := []struct {
		name   string
		raw    string
		bodies []string // "" + len check for /big
		delay  time.Duration
	}{
		{"one", "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n", []string{"ok"}, 0},
		{"pipelined", strings.Repeat("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n", 3), []string{"ok", "ok", "ok"}, 0},
		{"pending", "GET /later HTTP/1.1\r\nHost: a\r\n\r\nGET /ok HTTP/1.1\r\nHost: a\r\n\r\n", []string{"later", "ok"}, 0},
		{"post", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", []string{"hello"}, 0},
		{"big slow reader", "GET /big HTTP/1.1\r\nHost: a\r\n\r\nGET /ok HTTP/1.1\r\nHost: a\r\n\r\n", []string{"BIG", "ok"}, 300 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := hostileDialSmallRcvbuf(t, addr)
			if _, err := io.WriteString(c, tc.raw); err != nil {
				t.Fatal(err)
			}
			if err := c.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(tc.delay)
			c.(*net.TCPConn).SetReadBuffer(1 << 20)
			data, how := hostileReadAll(c, 10*time.Second)
			if how != "eof" {
				t.Errorf("ended with %s after %d bytes", how, len(data))
			}
			rs, err := hostileParse(data, "GET")
			if err != nil {
				t.Fatalf("%v (%d bytes)", err, len(data))
			}
			if len(rs) != len(tc.bodies) {
				t.Fatalf("%d responses, want %d", len(rs), len(tc.bodies))
			}
			for i, want := range tc.bodies {
				if want == "BIG" {
					if !bytes.Equal(rs[i].body, bigData) {
						t.Errorf("response %d: big body corrupted (%d bytes)", i, len(rs[i].body))
					}
				} else if string(rs[i].body) != want {
					t.Errorf("response %d: body %q, want %q", i, rs[i].body, want)
				}
			}
		})
	}
}

// TestHostileHalfCloseBlockedNoSpin: a client requests a large response,
// shuts down its write side and does not read. While the response is
// blocked the worker must sleep, not spin: the connection waits for
// EPOLLOUT with EPOLLRDHUP in its mask, and a level-triggered EPOLLRDHUP
// fires on every epoll_wait once the peer has half-closed.
func TestHostileHalfCloseBlockedNoSpin(t *testing.T) {
	if !hostileChild(t) {
		return
	}
	bigData := make([]byte, 8<<20)
	for i := range bigData {
		bigData[i] = byte(i % 253)
	}
	big := static.New(bigData, "image/png")
	cfg := hostileConfig()
	cfg.Workers = 1
	cfg.WriteTimeout = 10 * time.Second
	srv, addr := hostileServer(t, cfg, func(s *Server, l *Listener) {
		l.Get("/big", func(c *Ctx) { c.Content(big) })
	})
	c := hostileDialSmallRcvbuf(t, addr)
	io.WriteString(c, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
	c.(*net.TCPConn).CloseWrite()
	hostileWait(2*time.Second, func() bool { return srv.Stats().Requests >= 1 })
	time.Sleep(300 * time.Millisecond)
	cpu0, t0 := hostileCPU(), time.Now()
	time.Sleep(1500 * time.Millisecond)
	cpu, wall := hostileCPU()-cpu0, time.Since(t0)
	t.Logf("process CPU while the half-closed client does not read: %v in %v", cpu, wall)
	if cpu > wall/4 {
		t.Errorf("the server burns CPU (%v in %v) while a half-closed client's response is blocked: busy loop on EPOLLRDHUP", cpu, wall)
	}
	c.(*net.TCPConn).SetReadBuffer(1 << 20)
	data, how := hostileReadAll(c, 10*time.Second)
	rs, err := hostileParse(data, "GET")
	if how != "eof" || err != nil || len(rs) != 1 || !bytes.Equal(rs[0].body, bigData) {
		t.Errorf("response not delivered intact after the stall: %s, %v, %d bytes", how, err, len(data))
	}
}

// ---------------------------------------------------------------------------
// 7. Connection churn.

// TestHostileChurn: 5,000 connect / request / close cycles of various
// shapes over 8 goroutines. Every connection is released: Stats().Open
// returns to 0 and no descriptor leaks.
func TestHostileChurn(t *testing.T) {
	// Not parallel: it counts the process's descriptors.
	cfg := hostileConfig()
	srv, addr := hostileServer(t, cfg, nil)
	countFDs := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(ents)
	}
	// Warm up (the runtime's own descriptors, the free lists).
	for range 20 {
		c := hostileDial(t, addr)
		io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		hostileReadAll(c, 5*time.Second)
		c.Close()
	}
	hostileWait(3*time.Second, func() bool { return srv.Stats().Open == 0 })
	before := countFDs()

	const total, workers = 5000, 8
	var next atomic.Int64
	var errs atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= total {
					return
				}
				if err := hostileChurnOne(addr, int(i)); err != nil && errs.Add(1) <= 5 {
					t.Errorf("cycle %d (shape %d): %v", i, i%6, err)
				}
			}
		}()
	}
	wg.Wait()
	if !hostileWait(5*time.Second, func() bool { return srv.Stats().Open == 0 }) {
		t.Errorf("Stats().Open = %d after the churn, want 0", srv.Stats().Open)
	}
	var after int
	if !hostileWait(5*time.Second, func() bool { after = countFDs(); return after <= before+5 }) {
		t.Errorf("descriptor leak: %d open before the churn, %d after", before, after)
	}
	st := srv.Stats()
	t.Logf("accepted %d, requests %d, closed %v", st.Accepted, st.Requests, st.Closed)
}

func hostileChurnOne(addr string, i int) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	switch i % 6 {
	case 0: // Connection: close, read to EOF
		io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		data, how := hostileReadAll(c, 5*time.Second)
		if how != "eof" || !bytes.HasPrefix(data, []byte("HTTP/1.1 200 ")) {
			return fmt.Errorf("got %q, %s", data, how)
		}
	case 1: // keep-alive, client closes after the response
		io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
	case 2: // partial head, then close
		io.WriteString(c, "GET /ok HTTP/1.1\r\nHo")
	case 3: // connect and close at once
	case 4: // keep-alive, then an abortive close (RST)
		io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		c.(*net.TCPConn).SetLinger(0)
	case 5: // garbage: error response and linger, client closes at once
		io.WriteString(c, "\x16\x03\x01garbage\r\n\r\n")
		c.(*net.TCPConn).SetLinger(0)
	}
	return nil
}

// ---------------------------------------------------------------------------
// 8, 9. Async replies racing with closes, and reply storms.

// TestHostilePendingCloseRace: handlers keep requests pending while their
// clients disconnect in various ways; worker goroutines reply (twice) at
// the same time. Reply returns nil or ErrGone, no response is sent twice,
// and every connection is released.
func TestHostilePendingCloseRace(t *testing.T) {
	t.Parallel()
	const iters = 1000
	ids := make(chan ClientID, iters+16)
	cfg := hostileConfig()
	srv, addr := hostileServer(t, cfg, func(s *Server, l *Listener) {
		l.Get("/p", func(c *Ctx) { ids <- c.Pending() })
	})
	var nilErr, gone atomic.Int64
	var rwg sync.WaitGroup
	for r := range 4 {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			for id := range ids {
				if rng.IntN(2) == 0 {
					time.Sleep(time.Duration(rng.IntN(500)) * time.Microsecond)
				}
				for k, body := range []string{"first", "second"} {
					switch err := srv.Reply(id, 200, "text/plain", []byte(body)); {
					case err == nil:
						if k == 0 {
							nilErr.Add(1)
						}
					case errors.Is(err, ErrGone):
						if k == 0 {
							gone.Add(1)
						}
					default:
						t.Errorf("Reply: %v", err)
					}
				}
			}
		}()
	}
	var next atomic.Int64
	var cwg sync.WaitGroup
	for range 8 {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			for {
				i := next.Add(1) - 1
				if i >= iters {
					return
				}
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					t.Errorf("dial: %v", err)
					return
				}
				c.SetDeadline(time.Now().Add(5 * time.Second))
				io.WriteString(c, "GET /p HTTP/1.1\r\nHost: a\r\n\r\n")
				switch i % 4 {
				case 0: // close at once
				case 1: // close a moment later
					time.Sleep(time.Duration(i%7) * 100 * time.Microsecond)
				case 2: // abortive close
					c.(*net.TCPConn).SetLinger(0)
				case 3: // wait for the reply: exactly one response
					br := bufio.NewReader(c)
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						t.Errorf("client %d: %v", i, err)
						break
					}
					b, _ := io.ReadAll(resp.Body)
					if string(b) != "first" {
						t.Errorf("client %d: body %q, want \"first\"", i, b)
					}
					c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
					if extra, err := br.ReadByte(); err == nil {
						t.Errorf("client %d: data after the reply (%q): the second Reply was sent", i, extra)
					}
				}
				c.Close()
			}
		}()
	}
	cwg.Wait()
	if !hostileWait(cfg.PendingTimeout+5*time.Second, func() bool { return srv.Stats().Open == 0 }) {
		t.Errorf("%d connections still open", srv.Stats().Open)
	}
	close(ids)
	rwg.Wait()
	t.Logf("replies: %d accepted, %d ErrGone; stats requests %d, closed %v", nilErr.Load(), gone.Load(), srv.Stats().Requests, srv.Stats().Closed)
}

// TestHostileReplyStorm: 1,000 pending requests (one connection each,
// 100 clients at a time) answered by 8 goroutines while 4 more fire
// replies at the IDs of finished connections. Every client gets its own
// body; a stale ID never answers anyone.
func TestHostileReplyStorm(t *testing.T) {
	t.Parallel()
	type item struct {
		id  ClientID
		tok string
	}
	const clients, perClient = 100, 10
	reqs := make(chan item, clients*perClient+16)
	cfg := hostileConfig()
	srv, addr := hostileServer(t, cfg, func(s *Server, l *Listener) {
		l.Get("/p", func(c *Ctx) { reqs <- item{c.Pending(), strings.Clone(c.Query("t"))} })
	})
	var staleMu sync.Mutex
	var stale []ClientID
	var rwg sync.WaitGroup
	// Readers stop on stopReaders, never on a closed reqs: a handler's send
	// and a close would have no happens-before edge the race detector sees
	// (the client learns of the reply over a socket).
	stopReaders := make(chan struct{})
	for range 8 {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for {
				var it item
				select {
				case it = <-reqs:
				case <-stopReaders:
					return
				}
				if err := srv.Reply(it.id, 200, "text/plain", []byte(it.tok)); err != nil && !errors.Is(err, ErrGone) {
					t.Errorf("Reply: %v", err)
				}
				staleMu.Lock()
				stale = append(stale, it.id)
				staleMu.Unlock()
			}
		}()
	}
	stopChaos := make(chan struct{})
	var chaosWG sync.WaitGroup
	var chaosSent atomic.Int64
	for k := range 4 {
		chaosWG.Add(1)
		go func() {
			defer chaosWG.Done()
			rng := rand.New(rand.NewPCG(uint64(k), 99))
			for {
				select {
				case <-stopChaos:
					return
				default:
				}
				staleMu.Lock()
				var id ClientID
				if n := len(stale); n > 0 && rng.IntN(4) != 0 {
					id = stale[rng.IntN(n)]
				} else {
					id = ClientID(rng.Uint64())
				}
				staleMu.Unlock()
				// Only IDs of connections whose client already has its
				// answer (and closed) or random ones: any delivery is a bug.
				srv.ReplyFunc(id, func(c *Ctx) { c.Text(200, "chaos") })
				chaosSent.Add(1)
				runtime.Gosched()
			}
		}()
	}
	var cwg sync.WaitGroup
	for g := range clients {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			for i := range perClient {
				tok := fmt.Sprintf("%d-%d", g, i)
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					t.Errorf("dial: %v", err)
					return
				}
				c.SetDeadline(time.Now().Add(10 * time.Second))
				io.WriteString(c, "GET /p?t="+tok+" HTTP/1.1\r\nHost: a\r\n\r\n")
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Errorf("client %s: %v", tok, err)
					c.Close()
					return
				}
				b, _ := io.ReadAll(resp.Body)
				if string(b) != tok {
					t.Errorf("client %s got body %q", tok, b)
				}
				c.Close()
			}
		}()
	}
	cwg.Wait()
	close(stopChaos)
	chaosWG.Wait()
	close(stopReaders)
	rwg.Wait()
	t.Logf("%d chaos replies fired", chaosSent.Load())
	if !hostileWait(5*time.Second, func() bool { return srv.Stats().Open == 0 }) {
		t.Errorf("%d connections still open", srv.Stats().Open)
	}
}

// TestHostileReplyWhileOutputBlocked: a pipelined pending request is
// replied to while the response before it is still blocked on a slow
// reader. The reply must go out after that response, not into the middle
// of it, and the blocked output must still be flushed.
func TestHostileReplyWhileOutputBlocked(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("0123456789ABCDEF"), (8<<20)/16) // 8 MiB
	cfg := hostileConfig()
	cfg.WriteTimeout = 5 * time.Second
	replied := make(chan error, 1)
	_, addr := hostileServer(t, cfg, func(s *Server, l *Listener) {
		l.Get("/big", func(c *Ctx) { c.Send(200, "application/octet-stream", big) })
		l.Get("/later", func(c *Ctx) {
			id := c.Pending()
			go func() {
				time.Sleep(100 * time.Millisecond)
				replied <- s.Reply(id, 200, "text/plain", []byte("REPLY"))
			}()
		})
	})
	c := hostileDialSmallRcvbuf(t, addr)
	io.WriteString(c, "GET /big HTTP/1.1\r\nHost: a\r\n\r\nGET /later HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	// A server that parses /later at once replies while /big is blocked
	// (the case under test); one that waits for /big to drain first is fine
	// too, and replies once the client reads.
	time.Sleep(400 * time.Millisecond)
	c.(*net.TCPConn).SetReadBuffer(1 << 20)
	data, how := hostileReadAll(c, 10*time.Second)
	if i := bytes.Index(data[1:], []byte("HTTP/1.1 ")); i >= 0 && i+1 < len(big) {
		t.Errorf("a second response starts at byte %d, inside the first one (%d bytes): the reply was written ahead of the blocked output", i+1, len(big))
	}
	rs, err := hostileParse(data, "GET")
	if err != nil {
		t.Errorf("response stream broken: %v (%d bytes, ended with %s)", err, len(data), how)
	}
	if len(rs) >= 1 && !bytes.Equal(rs[0].body, big) {
		i := 0
		for i < len(rs[0].body) && i < len(big) && rs[0].body[i] == big[i] {
			i++
		}
		t.Errorf("first response body corrupted at byte %d of %d: %q", i, len(big), rs[0].body[i:min(i+60, len(rs[0].body))])
	}
	if len(rs) != 2 || string(rs[1].body) != "REPLY" {
		t.Errorf("got %d responses (statuses %v), want /big then REPLY; stream ended with %s", len(rs), hostileStatuses(rs), how)
	}
	select {
	case err := <-replied:
		if err != nil {
			t.Errorf("Reply: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("the pending handler never ran")
	}
}

// ---------------------------------------------------------------------------
// 10. ClientMax.

// TestHostileClientMax: with ClientMax 50, of 60 connections exactly 10 get
// 503 and a close; once some close, new ones are served again.
func TestHostileClientMax(t *testing.T) {
	t.Parallel()
	cfg := hostileConfig()
	cfg.ClientMax = 50
	cfg.IdleTimeout = 30 * time.Second
	srv, addr := hostileServer(t, cfg, nil)
	get := func(c net.Conn, br *bufio.Reader) error {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	var kept []net.Conn
	for i := range 50 {
		c := hostileDial(t, addr)
		if err := get(c, bufio.NewReader(c)); err != nil {
			t.Fatalf("connection %d of 50: %v", i, err)
		}
		kept = append(kept, c)
	}
	if !hostileWait(2*time.Second, func() bool { return srv.Stats().Open == 50 }) {
		t.Fatalf("Open = %d, want 50", srv.Stats().Open)
	}
	for i := range 10 {
		c := hostileDial(t, addr)
		data, how := hostileReadAll(c, 5*time.Second)
		if !bytes.HasPrefix(data, []byte("HTTP/1.1 503 ")) || how != "eof" {
			t.Errorf("extra connection %d: got %q, %s; want 503 and close", i, data, how)
		}
		c.Close()
	}
	if st := srv.Stats(); st.Refused != 10 || st.Open != 50 {
		t.Errorf("Refused = %d, Open = %d; want 10 and 50", st.Refused, st.Open)
	}
	for _, c := range kept[:5] {
		c.Close()
	}
	if !hostileWait(3*time.Second, func() bool { return srv.Stats().Open == 45 }) {
		t.Fatalf("Open = %d after closing 5, want 45", srv.Stats().Open)
	}
	for i := range 5 {
		c := hostileDial(t, addr)
		if err := get(c, bufio.NewReader(c)); err != nil {
			t.Errorf("new connection %d after some closed: %v", i, err)
		}
	}
	c := hostileDial(t, addr)
	if data, _ := hostileReadAll(c, 5*time.Second); !bytes.HasPrefix(data, []byte("HTTP/1.1 503 ")) {
		t.Errorf("connection over the limit again: got %q, want 503", data)
	}
	// The kept ones still work.
	for i, c := range kept[5:10] {
		if err := get(c, bufio.NewReader(c)); err != nil {
			t.Errorf("kept connection %d: %v", i, err)
		}
	}
}

// ---------------------------------------------------------------------------
// 11. Shutdown under load.

// TestHostileShutdownBusy: Shutdown with idle connections, pending
// requests (some replied during shutdown, some never) and a slow head in
// progress: idle ones close at once, replied ones get their answer, the
// others 504, Shutdown returns nil before its deadline, and no goroutine
// is left behind.
func TestHostileShutdownBusy(t *testing.T) {
	// Not parallel: it counts goroutines.
	runtime.GC()
	baseline := runtime.NumGoroutine()
	cfg := hostileConfig()
	cfg.PendingTimeout = 1500 * time.Millisecond
	var quits atomic.Int32
	cfg.OnQuit = func() { quits.Add(1) }
	ids := make(chan ClientID, 100)
	srv, addr := hostileServer(t, cfg, func(s *Server, l *Listener) {
		l.Get("/p", func(c *Ctx) { ids <- c.Pending() })
	})
	var idle []net.Conn
	for range 10 {
		c := hostileDial(t, addr)
		io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	var pend []net.Conn
	var pendIDs []ClientID
	for range 10 {
		c := hostileDial(t, addr)
		io.WriteString(c, "GET /p HTTP/1.1\r\nHost: a\r\n\r\n")
		pend = append(pend, c)
		select {
		case id := <-ids:
			pendIDs = append(pendIDs, id)
		case <-time.After(5 * time.Second):
			t.Fatal("pending handler not reached")
		}
	}
	slow := hostileDial(t, addr)
	io.WriteString(slow, "GET /ok HTTP/1.1\r\nHost: a\r\nX-Slow: ")

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	start := time.Now()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()
	go func() {
		time.Sleep(200 * time.Millisecond)
		for _, id := range pendIDs[:5] {
			srv.Reply(id, 200, "text/plain", []byte("done"))
		}
	}()

	for i, c := range idle {
		data, how := hostileReadAll(c, 3*time.Second)
		if len(data) != 0 || how != "eof" {
			t.Errorf("idle connection %d: got %q, %s; want a close", i, data, how)
		}
	}
	for i, c := range pend {
		data, how := hostileReadAll(c, cfg.PendingTimeout+4*time.Second)
		rs, err := hostileParse(data, "GET")
		want, wantBody := 200, "done"
		if i >= 5 {
			want, wantBody = 504, ""
		}
		switch {
		case err != nil || len(rs) != 1:
			t.Errorf("pending %d: %v, %d responses, %q", i, err, len(rs), data)
		case rs[0].status != want || (wantBody != "" && string(rs[0].body) != wantBody) || !rs[0].close:
			t.Errorf("pending %d: status %d body %q close %v, want %d %q with Connection: close", i, rs[0].status, rs[0].body, rs[0].close, want, wantBody)
		}
		if how != "eof" {
			t.Errorf("pending %d: ended with %s, want EOF", i, how)
		}
	}
	if data, how := hostileReadAll(slow, 2*cfg.ReadTimeout+3*time.Second); how != "eof" && how != "reset" {
		t.Errorf("slow head during shutdown: %q, %s", data, how)
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown: %v after %v", err, time.Since(start))
		}
		t.Logf("Shutdown returned after %v", time.Since(start))
	case <-time.After(8 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	if q := quits.Load(); q != 1 {
		t.Errorf("OnQuit ran %d times, want 1", q)
	}
	if err := srv.Reply(pendIDs[9], 200, "", nil); !errors.Is(err, ErrGone) {
		t.Errorf("Reply after shutdown: %v, want ErrGone", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("the listener still accepts after Shutdown")
	}
	var n int
	if !hostileWait(3*time.Second, func() bool { n = runtime.NumGoroutine(); return n <= baseline+2 }) {
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines: %d before, %d after shutdown\n%s", baseline, n, buf[:runtime.Stack(buf, true)])
	}
}

// TestHostileShutdownFinishesPartialRequest: a request whose head or body
// is half received when Shutdown starts is in flight: when the rest
// arrives it must be answered (with Connection: close), not dropped.
func TestHostileShutdownFinishesPartialRequest(t *testing.T) {
	t.Parallel()
	cfg := hostileConfig()
	cfg.AllowPost = true
	cfg.ReadTimeout = 3 * time.Second
	quit := make(chan struct{})
	cfg.OnQuit = func() { close(quit) }
	srv, addr := hostileServer(t, cfg, func(s *Server, l *Listener) {
		l.Any().Post(Path("/up"), func(c *Ctx) { c.Send(200, "text/plain", c.Body()) })
	})
	head := hostileDial(t, addr)
	io.WriteString(head, "GET /ok HTTP/1.1\r\nHo")
	body := hostileDial(t, addr)
	io.WriteString(body, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n01234")
	hostileWait(2*time.Second, func() bool { return srv.Stats().Requests >= 1 })
	time.Sleep(100 * time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()
	select { // listeners closed, connections told to finish
	case <-quit:
	case <-time.After(5 * time.Second):
		t.Fatal("OnQuit not called")
	}
	io.WriteString(head, "st: a\r\n\r\n")
	io.WriteString(body, "56789")
	for _, tc := range []struct {
		name string
		c    net.Conn
		body string
	}{{"partial head", head, "ok"}, {"partial body", body, "0123456789"}} {
		data, how := hostileReadAll(tc.c, 2*cfg.ReadTimeout+3*time.Second)
		rs, err := hostileParse(data, "GET")
		if err != nil || len(rs) != 1 || rs[0].status != 200 || string(rs[0].body) != tc.body {
			t.Errorf("%s completed during shutdown: got %q (%s), want 200 %q", tc.name, data, how, tc.body)
		}
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("Shutdown did not return")
	}
}

// ---------------------------------------------------------------------------
// Timeouts and limits beyond the list.

// TestHostileReadDeadlinePerHead: the read deadline runs from the first
// byte of each head. A client pipelining slowly, each head within
// ReadTimeout, must not get a 408 because the previous head started long
// ago.
func TestHostileReadDeadlinePerHead(t *testing.T) {
	t.Parallel()
	cfg := hostileConfig()
	cfg.ReadTimeout = 3 * time.Second // margins of 1 s: robust on a loaded machine
	_, addr := hostileServer(t, cfg, nil)
	c := hostileDial(t, addr)
	io.WriteString(c, "GET /ok HTTP/1.1\r\nHo") // head 1 starts at t0
	time.Sleep(2 * time.Second)
	io.WriteString(c, "st: a\r\n\r\nGET /ok HTTP/1.1\r\nHo") // head 1 ends, head 2 starts at t0+2s
	time.Sleep(2 * time.Second)
	io.WriteString(c, "st: a\r\nConnection: close\r\n\r\n") // head 2 took 2 s < ReadTimeout
	data, how := hostileReadAll(c, 5*time.Second)
	rs, err := hostileParse(data, "GET")
	if err != nil || fmt.Sprint(hostileStatuses(rs)) != "[200 200]" {
		t.Errorf("got statuses %v (%v, %s), want [200 200]: the second head was timed out from the first head's start\n%q",
			hostileStatuses(rs), err, how, data)
	}
}

// TestHostileLargeHeaderLimits: limits configured above the 64 KiB read
// buffer. A head that fills the buffer must get an answer (431, or 200
// if it is served), never crash the process.
func TestHostileLargeHeaderLimits(t *testing.T) {
	t.Parallel()
	if !hostileChild(t) {
		return
	}
	cfg := hostileConfig()
	cfg.MaxHeaderBytes = 1 << 20
	cfg.MaxRequestLine = 1 << 20
	_, addr := hostileServer(t, cfg, nil)
	for _, tc := range []struct{ name, raw string }{
		{"header", "GET /ok HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("h", 100<<10) + "\r\n\r\n"},
		{"request line", "GET /ok?" + strings.Repeat("q", 100<<10) + " HTTP/1.1\r\nHost: a\r\n\r\n"},
	} {
		c := hostileDial(t, addr)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		// In pieces, so that the server holds a partial head between reads.
		for i := 0; i < len(tc.raw); i += 16 << 10 {
			io.WriteString(c, tc.raw[i:min(i+16<<10, len(tc.raw))])
			time.Sleep(20 * time.Millisecond)
		}
		data, how := hostileReadAll(c, 5*time.Second)
		if !bytes.HasPrefix(data, []byte("HTTP/1.1 200 ")) && !bytes.HasPrefix(data, []byte("HTTP/1.1 4")) {
			t.Errorf("%s: got %.80q (%s), want 200 or a 4xx", tc.name, data, how)
		}
	}
	p := hostileStartProbe(addr)
	time.Sleep(200 * time.Millisecond)
	p.finish(t, time.Second)
}

// TestHostileAcceptEMFILE: out of descriptors, the accept loop must back
// off (the listener is paused until the next tick) rather than retry
// accept4 in a busy loop; once descriptors are back, the waiting
// connections are served.
func TestHostileAcceptEMFILE(t *testing.T) {
	t.Parallel()
	if !hostileChild(t) {
		return
	}
	cfg := hostileConfig()
	srv, addr := hostileServer(t, cfg, nil)
	ap := netip.MustParseAddrPort(addr)
	sa := &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	var socks []int
	for range 4 {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		socks = append(socks, fd)
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	maxfd := 0
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			maxfd = max(maxfd, n)
		}
	}
	var saved unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &saved); err != nil {
		t.Fatal(err)
	}
	lim := saved
	lim.Cur = uint64(maxfd + 8)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip("setrlimit:", err)
	}
	var fillers []int
	restore := func() {
		for _, fd := range fillers {
			unix.Close(fd)
		}
		fillers = nil
		unix.Setrlimit(unix.RLIMIT_NOFILE, &saved)
	}
	defer restore()
	for {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			break
		}
		fillers = append(fillers, fd)
	}
	for _, fd := range socks {
		if err := unix.Connect(fd, sa); err != nil {
			restore()
			t.Fatalf("connect: %v", err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	e0, cpu0, t0 := srv.Stats().AcceptErrors, hostileCPU(), time.Now()
	time.Sleep(time.Second)
	e1, cpu1, wall := srv.Stats().AcceptErrors, hostileCPU(), time.Since(t0)
	restore()
	t.Logf("out of descriptors for %v: %d failed accepts, %v CPU", wall, e1-e0, cpu1-cpu0)
	if e1 == 0 {
		t.Fatalf("the server never hit EMFILE; the test setup is wrong")
	}
	if e1-e0 > 20 {
		t.Errorf("%d failed accept calls in %v (CPU %v): the accept loop spins on EMFILE instead of pausing the listener", e1-e0, wall, cpu1-cpu0)
	}
	for i, fd := range socks {
		f := os.NewFile(uintptr(fd), "client")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("client %d after descriptors came back: %v", i, err)
		}
	}
}

// TestHostilePostPrealloc: 100 clients each send a POST head declaring a
// 1 MiB body (the limit) and one byte of it. The server must not set aside
// the declared size up front: that turns 60 bytes from each client into
// 1 MiB of heap (ClientMax x MaxBodySize in all).
func TestHostilePostPrealloc(t *testing.T) {
	t.Parallel()
	if !hostileChild(t) {
		return
	}
	cfg := hostileConfig()
	cfg.AllowPost = true
	cfg.ReadTimeout = 10 * time.Second
	srv, addr := hostileServer(t, cfg, func(s *Server, l *Listener) {
		l.Any().Post(Path("/up"), func(c *Ctx) { c.Text(200, strconv.Itoa(len(c.Body()))) })
	})
	base := hostileHeapInuse()
	const n = 100
	for range n {
		c := hostileDial(t, addr)
		io.WriteString(c, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1048576\r\n\r\nx")
	}
	if !hostileWait(5*time.Second, func() bool { return srv.Stats().Requests >= n }) {
		t.Fatalf("only %d requests parsed", srv.Stats().Requests)
	}
	peak := hostileHeapInuse()
	t.Logf("heap in use: %d MiB before, %d MiB with %d one-byte uploads in progress", base>>20, peak>>20, n)
	if peak > base && peak-base > 32<<20 {
		t.Errorf("heap grew by %d MiB for %d uploads that sent 1 byte each: body buffers are preallocated to Content-Length",
			(peak-base)>>20, n)
	}
}
