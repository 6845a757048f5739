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
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

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
