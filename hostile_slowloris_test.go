package edge

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

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
	probe.finish(t, 3*time.Second)

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
	probe.finish(t, 3*time.Second) // generous: 250 idle sockets cost the loop nothing, a loaded machine does
	if !hostileWait(2*time.Second, func() bool { return srv.Stats().Open == 0 }) {
		t.Errorf("Open = %d", srv.Stats().Open)
	}
	t.Logf("closed for idleness: %d", srv.Stats().Closed["idle"])
}
