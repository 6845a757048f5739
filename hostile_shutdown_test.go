package edge

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

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
