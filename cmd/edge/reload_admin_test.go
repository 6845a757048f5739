package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// reloadRoutesConfig serves /echo (a WebSocket echo) and /r{n}, with the
// admin listener on {port2}; reload tests rewrite the route's number.
const reloadRoutesConfig = `reusePort: false
admin: {listen: "127.0.0.1:{port2}", token: "t0k"}
listeners:
  - listen: "127.0.0.1:{port}"
    hosts:
      - routes:
          - path: /echo
            stream: {mode: echo}
          - path: /r{n}
            respond: {body: "r{n}\n"}
`

// writeRoutes writes the config with route /r{n} (ports filled in).
func writeRoutes(t *testing.T, dir string, ports []string, n int, extra string) {
	t.Helper()
	b := strings.ReplaceAll(reloadRoutesConfig, "{port2}", ports[1])
	b = strings.ReplaceAll(b, "{port}", ports[0])
	b = strings.ReplaceAll(b, "{n}", fmt.Sprint(n)) + extra
	if err := os.WriteFile(filepath.Join(dir, "edge.yaml"), []byte(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

// httpStatus GETs url and returns the status, 0 on a transport error.
func httpStatus(url string) int {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// postReload calls POST /reload on the admin listener and decodes the answer.
func postReload(t *testing.T, admin, token string) (int, reloadResult) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+admin+"/reload", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("POST /reload: %v", err)
	}
	defer resp.Body.Close()
	var res reloadResult
	if resp.StatusCode != http.StatusUnauthorized {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("POST /reload: Content-Type %q", ct)
		}
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
			t.Fatalf("POST /reload: body: %v", err)
		}
	}
	return resp.StatusCode, res
}

// TestE2EReloadAdmin: POST /reload on the admin listener (behind its
// token) runs the reload: 200 {"ok":true} and the new route served; a
// broken file gives 422 with file:line:col and the old routes serve.
func TestE2EReloadAdmin(t *testing.T) {
	t.Parallel()
	dir := configDir(t)
	p, ports := startEdgeN(t, dir, strings.ReplaceAll(reloadRoutesConfig, "{n}", "0"), 2)
	base, admin := "http://127.0.0.1:"+ports[0], "127.0.0.1:"+ports[1]
	if s := httpStatus(base + "/r0"); s != 200 {
		t.Fatalf("/r0: %d", s)
	}
	writeRoutes(t, dir, ports, 1, "")
	if s, _ := postReload(t, admin, ""); s != http.StatusUnauthorized {
		t.Fatalf("POST /reload without the token: %d, want 401", s)
	}
	if s := httpStatus(base + "/r1"); s != 404 {
		t.Fatalf("/r1 served before any reload: %d", s)
	}
	req, _ := http.NewRequest("GET", "http://"+admin+"/reload", nil)
	req.Header.Set("Authorization", "Bearer t0k")
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET /reload: %d, want 405", resp.StatusCode)
	}

	s, res := postReload(t, admin, "t0k")
	if s != 200 || !res.OK || res.Error != "" {
		t.Fatalf("POST /reload: %d %+v", s, res)
	}
	// The reload is done when the answer comes: no polling.
	if s := httpStatus(base + "/r1"); s != 200 {
		t.Fatalf("/r1 after POST /reload: %d", s)
	}
	if s := httpStatus(base + "/r0"); s != 404 {
		t.Fatalf("removed /r0 after POST /reload: %d", s)
	}

	// A mistake on line 11 (a route without an action): refused with
	// file:line:col, counted, and /r1 keeps serving.
	writeRoutes(t, dir, ports, 2, "          - path: /bad\n")
	s, res = postReload(t, admin, "t0k")
	if s != http.StatusUnprocessableEntity || res.OK {
		t.Fatalf("POST /reload of a broken file: %d %+v", s, res)
	}
	if !regexp.MustCompile(`edge\.yaml:1[0-9]:[0-9]+: `).MatchString(res.Error) {
		t.Errorf("error without file:line:col: %q", res.Error)
	}
	if s := httpStatus(base + "/r1"); s != 200 {
		t.Fatalf("/r1 after a refused reload: %d", s)
	}
	if s := httpStatus(base + "/r2"); s != 404 {
		t.Fatalf("/r2 of a refused file served: %d", s)
	}
	_, body := scrape(t, admin, "t0k")
	if ok, bad := sample(body, `edge_reloads_total{result="ok"}`), sample(body, `edge_reloads_total{result="error"}`); ok != 1 || bad != 1 {
		t.Errorf("reloads counted: success %v, failure %v", ok, bad)
	}
	p.alive(t)
}

// TestE2EReloadManyWebSockets is the reload test: 1,000
// WebSockets open over loopback during 20 reloads (SIGHUP and POST
// /reload in turn), each adding a route and removing the previous one.
// The new route must answer within a second of each reload and the old
// one 404; no WebSocket may be dropped: every one echoes after the
// reloads (and a rotating 50 echo after each).
func TestE2EReloadManyWebSockets(t *testing.T) {
	t.Parallel()
	const (
		nWS     = 1000
		reloads = 20
		dialers = 8
	)
	start := time.Now()
	dir := configDir(t)
	p, ports := startEdgeN(t, dir, strings.ReplaceAll(reloadRoutesConfig, "{n}", "0"), 2)
	base, admin := "http://127.0.0.1:"+ports[0], "127.0.0.1:"+ports[1]
	url := "ws://127.0.0.1:" + ports[0] + "/echo"

	conns := make([]net.Conn, nWS)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, dialers)
	for range dialers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < nWS; i = int(next.Add(1)) - 1 {
				c, err := dialEcho(url)
				if err != nil {
					errs <- fmt.Errorf("WebSocket %d: %w", i, err)
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	close(errs)
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	dialed := time.Since(start)

	var slowest time.Duration
	for round := 1; round <= reloads; round++ {
		writeRoutes(t, dir, ports, round, "")
		at := time.Now()
		if round%2 == 1 {
			if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
		} else if s, res := postReload(t, admin, "t0k"); s != 200 || !res.OK {
			t.Fatalf("round %d: POST /reload: %d %+v", round, s, res)
		}
		for httpStatus(fmt.Sprintf("%s/r%d", base, round)) != 200 {
			if time.Since(at) > time.Second {
				t.Fatalf("round %d: /r%d not served a second after the reload\n%s", round, round, p.stderr.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		slowest = max(slowest, time.Since(at))
		if s := httpStatus(fmt.Sprintf("%s/r%d", base, round-1)); s != 404 {
			t.Fatalf("round %d: removed /r%d answers %d", round, round-1, s)
		}
		for i := range 50 {
			k := (round*50 + i) % nWS
			if err := echo(conns[k], fmt.Sprintf("round %d ws %d", round, k)); err != nil {
				t.Fatalf("round %d: WebSocket %d: %v", round, k, err)
			}
		}
	}
	reloaded := time.Since(start)

	// Every WebSocket still echoes: none was dropped.
	var failed atomic.Int64
	next.Store(0)
	var first atomic.Value
	for range dialers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < nWS; i = int(next.Add(1)) - 1 {
				if err := echo(conns[i], fmt.Sprintf("after %d", i)); err != nil {
					failed.Add(1)
					first.CompareAndSwap(nil, fmt.Errorf("WebSocket %d: %w", i, err))
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d WebSockets dropped after %d reloads; first: %v", n, nWS, reloads, first.Load())
	}
	p.alive(t)
	t.Logf("%d WebSockets: dialed in %v; %d reloads (slowest new route %v) done at %v; all echo at %v",
		nWS, dialed.Round(time.Millisecond), reloads, slowest.Round(time.Millisecond), reloaded.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// dialEcho opens a WebSocket with gobwas/ws (no goroutine, no buffers kept).
func dialEcho(url string) (net.Conn, error) {
	d := ws.Dialer{Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, br, _, err := d.Dial(ctx, url)
	if err != nil {
		return nil, err
	}
	if br != nil {
		ws.PutReader(br)
		c.Close()
		return nil, fmt.Errorf("data after the 101 response")
	}
	return c, nil
}

// echo sends msg on c and reads it back, within 10 s.
func echo(c net.Conn, msg string) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if err := wsutil.WriteClientMessage(c, ws.OpText, []byte(msg)); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	data, op, err := wsutil.ReadServerData(c)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if op != ws.OpText || string(data) != msg {
		return fmt.Errorf("echo %v %q, want %q", op, data, msg)
	}
	return nil
}
