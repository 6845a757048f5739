package proxy

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func now() int64 { return time.Now().UnixNano() }

// TestHealthCheckHTTP: a real net/http server on 127.0.0.1 whose health
// endpoint fails, then recovers; and a Unix socket backend.
func TestHealthCheckHTTP(t *testing.T) {
	t.Parallel()
	var status atomic.Int32
	status.Store(http.StatusOK)
	var hits atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || r.Method != http.MethodGet {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		hits.Add(1)
		w.WriteHeader(int(status.Load()))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	sock := filepath.Join(t.TempDir(), "b.sock")
	uln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	usrv := &http.Server{Handler: h}
	go usrv.Serve(uln)
	t.Cleanup(func() { usrv.Close() })

	r := &Route{
		To:          []string{ln.Addr().String(), "unix:" + sock},
		HealthCheck: &HealthCheck{Interval: 20 * time.Millisecond, Timeout: 2 * time.Second, Path: "/healthz"},
		Logger:      slog.New(slog.DiscardHandler),
	}
	if err := r.Init(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r.Start(ctx)
	r.Start(ctx) // no second goroutine
	bs := r.Backends()
	waitFor(t, "checks", func() bool { return hits.Load() >= 4 })
	if !bs[0].Up(now()) || !bs[1].Up(now()) {
		t.Fatal("down while healthy")
	}

	status.Store(http.StatusServiceUnavailable)
	waitFor(t, "both down", func() bool { return !bs[0].Up(now()) && !bs[1].Up(now()) })
	if b := r.Pick(now(), nil); b != nil {
		t.Fatalf("picked %v while all down", b)
	}
	status.Store(http.StatusFound) // 3xx is up
	waitFor(t, "both up", func() bool { return bs[0].Up(now()) && bs[1].Up(now()) })

	cancel()
	waitDone(t, r)
}

// waitDone fails the test if r's health checks do not stop in time after
// their context was canceled.
func waitDone(t *testing.T, r *Route) {
	t.Helper()
	done := make(chan struct{})
	go func() { r.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("health checks still running 10s after their context was canceled")
	}
}

// TestHealthCheckTCP: connect-only checks against a listener that goes
// away and comes back on the same port.
func TestHealthCheckTCP(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	var accepted atomic.Int32
	serve := func(ln net.Listener) {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}
	go serve(ln)
	r := &Route{
		To:          []string{addr},
		HealthCheck: &HealthCheck{Interval: 20 * time.Millisecond},
		Logger:      slog.New(slog.DiscardHandler),
	}
	if err := r.Init(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer func() { cancel(); waitDone(t, r) }()
	r.Start(ctx)
	b := r.Backends()[0]
	waitFor(t, "a check", func() bool { return accepted.Load() > 0 })
	if !b.Up(now()) {
		t.Fatal("down while listening")
	}
	ln.Close()
	waitFor(t, "down", func() bool { return !b.Up(now()) })
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	defer ln.Close()
	go serve(ln)
	waitFor(t, "up", func() bool { return b.Up(now()) })
}

// TestStartNoHealthCheck: without HealthCheck, Start starts nothing.
func TestStartNoHealthCheck(t *testing.T) {
	t.Parallel()
	r := &Route{To: []string{"127.0.0.1:1"}}
	if err := r.Init(); err != nil {
		t.Fatal(err)
	}
	r.Start(t.Context())
	r.Wait() // returns at once
}

func TestStatusCode(t *testing.T) {
	t.Parallel()
	for line, want := range map[string]int{
		"HTTP/1.1 200 OK": 200, "HTTP/1.0 302": 302, "HTTP/1.1 503 Service Unavailable": 503,
		"HTTP/1.1 20 OK": 0, "HTTP/2 200": 0, "HTTP/1.1 200OK": 0, "HTTP/1.1 abc": 0, "HTTP/1.1 099 x": 0,
	} {
		code, err := statusCode(line)
		if code != want || (err != nil) != (want == 0) {
			t.Errorf("%q: %d, %v", line, code, err)
		}
	}
}
