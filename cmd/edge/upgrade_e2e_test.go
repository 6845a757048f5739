package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// upgradeConfig is served by both processes of an upgrade; {who} tells
// them apart in /hello's body.
const upgradeConfig = `post: true
shutdownGrace: 1s
shutdownTimeout: 20s
admin: {listen: "127.0.0.1:{port2}"}
listeners:
  - listen: "127.0.0.1:{port}"
    hosts:
      - routes:
          - path: /hello
            respond: {body: "{who}\n"}
          - path: /post
            methods: [POST]
            respond: {body: "posted by {who}\n"}
          - path: /echo
            stream: {mode: echo}
`

// TestE2EUpgrade upgrades a running edge binary with `edge -upgrade`
// while clients keep opening new connections: none is refused or reset
// (both processes served some), a request in flight on the old process
// finishes after the new one took over, a WebSocket open on the old one
// gets close 1001 after shutdownGrace and reconnects to the new one, the
// old process exits 0, and a second edge started without -upgrade is
// refused with the holder's pid.
func TestE2EUpgrade(t *testing.T) {
	t.Parallel()
	dir := configDir(t)
	old, ports := startEdgeN(t, dir, strings.ReplaceAll(upgradeConfig, "{who}", "old"), 2)
	addr := "127.0.0.1:" + ports[0]
	newCfg := strings.ReplaceAll(upgradeConfig, "{port2}", ports[1])
	newCfg = strings.ReplaceAll(newCfg, "{port}", ports[0])
	newCfg = strings.ReplaceAll(newCfg, "{who}", "new")
	newFile := filepath.Join(dir, "edge-new.yaml")
	if err := os.WriteFile(newFile, []byte(newCfg), 0o644); err != nil {
		t.Fatal(err)
	}

	// Started by mistake: refused, naming the running edge.
	out, code := runEdge(t, "-config", newFile)
	if want := fmt.Sprintf("is served by another edge (pid %d)", old.cmd.Process.Pid); code != 1 || !strings.Contains(out, want) {
		t.Fatalf("second edge: exit %d, output:\n%s\nwant %q", code, out, want)
	}

	// A WebSocket and a request in flight (half a body) on the old process.
	cl := dialWS(t, "ws://"+addr+"/echo", ws.Dialer{})
	cl.send(ws.OpText, "before")
	cl.expect(ws.OpText, "before")
	inflight, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer inflight.Close()
	fmt.Fprintf(inflight, "POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345")

	// Clients opening a new connection per request, throughout.
	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
		served   = map[string]int{}
	)
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				who, err := getOnce(addr)
				mu.Lock()
				if err != nil {
					failures = append(failures, err.Error())
				} else {
					served[who]++
				}
				mu.Unlock()
			}
		})
	}
	defer func() { stop.Store(true); wg.Wait() }()
	waitFor(t, 5*time.Second, "requests served by the old edge", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return served["old"] >= 20
	})

	// The upgrade.
	upStart := time.Now()
	nw := &edgeProc{stderr: &syncBuffer{}, done: make(chan struct{}), addr: addr, dir: dir}
	nw.cmd = exec.Command(edgeBin, "-upgrade", "-config", newFile)
	nw.cmd.Stdout, nw.cmd.Stderr = nw.stderr, nw.stderr
	if err := nw.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { nw.err = nw.cmd.Wait(); close(nw.done) }()
	t.Cleanup(func() {
		select {
		case <-nw.done:
		default:
			nw.cmd.Process.Kill()
			<-nw.done
		}
		if t.Failed() {
			t.Logf("new edge output:\n%s", nw.stderr.String())
		}
	})
	waitFor(t, 10*time.Second, "the old edge draining", func() bool {
		return strings.Contains(old.stderr.String(), "the new process serves; draining")
	})

	// The request in flight finishes on the old process.
	io.WriteString(inflight, "67890")
	inflight.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(inflight), nil)
	if err != nil {
		t.Fatalf("request in flight during the upgrade: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "posted by old\n" || !resp.Close {
		t.Errorf("request in flight: %d %q close=%v, want 200 from the old edge with Connection: close", resp.StatusCode, body, resp.Close)
	}

	// The WebSocket echoes during the grace, then gets 1001 and
	// reconnects, to the new process.
	cl.send(ws.OpText, "during")
	cl.expect(ws.OpText, "during")
	cl.c.SetDeadline(time.Now().Add(10 * time.Second))
	ce := cl.expectClose()
	if ce.Code != ws.StatusGoingAway {
		t.Errorf("WebSocket closed with %d %q, want 1001", ce.Code, ce.Reason)
	}
	if took := time.Since(upStart); took < 900*time.Millisecond {
		t.Errorf("1001 came %v after the upgrade began, before the 1 s grace", took)
	}
	cl2 := dialWS(t, "ws://"+addr+"/echo", ws.Dialer{})
	cl2.send(ws.OpText, "again")
	cl2.expect(ws.OpText, "again")

	// The old process exits 0 once empty.
	select {
	case <-old.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("the old edge did not exit after the upgrade:\n%s", old.stderr.String())
	}
	if code := old.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("old edge exit code %d, want 0", code)
	}
	// A while longer on the new one alone, then the tally.
	mu.Lock()
	before := served["new"]
	mu.Unlock()
	waitFor(t, 5*time.Second, "requests served by the new edge alone", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return served["new"] >= before+20
	})
	stop.Store(true)
	wg.Wait()
	if len(failures) > 0 {
		t.Errorf("%d connections failed during the upgrade; first: %s", len(failures), failures[0])
	}
	if served["old"] == 0 || served["new"] == 0 {
		t.Errorf("served: %v, want both", served)
	}
	t.Logf("served %v, %d failures; old edge exited %v after the upgrade began", served, len(failures), time.Since(upStart).Round(time.Millisecond))

	// The new edge holds the addresses now: a mistaken start names it.
	out, code = runEdge(t, "-config", newFile)
	if want := fmt.Sprintf("(pid %d)", nw.cmd.Process.Pid); code != 1 || !strings.Contains(out, want) {
		t.Errorf("edge after the upgrade: exit %d, output:\n%s\nwant %q", code, out, want)
	}
	if c := scrapeCode(t, "127.0.0.1:"+ports[1]); c != 200 {
		t.Errorf("admin after the upgrade: %d", c)
	}
	if err := nw.cmd.Process.Signal(syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-nw.done:
	case <-time.After(15 * time.Second):
		t.Fatal("the new edge did not exit on SIGQUIT")
	}
	if code := nw.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("new edge exit code %d after SIGQUIT, want 0", code)
	}
}

// getOnce opens a connection, GETs /hello and returns the body's first
// line (who served it).
func getOnce(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		return "", fmt.Errorf("write: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", fmt.Errorf("read: %w", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("body: %w", err)
	}
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	return strings.TrimSpace(string(body)), nil
}

// waitFor polls cond until it holds, failing the test after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %v", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// scrapeCode GETs /metrics on the admin listener and returns the status.
func scrapeCode(t *testing.T, addr string) int {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestE2EDrainDeadline: SIGTERM with a request stuck in its body and a
// WebSocket whose grace outlasts shutdownTimeout: at the deadline the
// WebSocket still gets 1001, the stuck request is cut, and edge exits 0.
func TestE2EDrainDeadline(t *testing.T) {
	t.Parallel()
	dir := configDir(t)
	cfg := strings.Replace(upgradeConfig, "shutdownGrace: 1s\nshutdownTimeout: 20s", "shutdownGrace: 30s\nshutdownTimeout: 1s", 1)
	p, ports := startEdgeN(t, dir, strings.ReplaceAll(cfg, "{who}", "old"), 2)
	addr := "127.0.0.1:" + ports[0]
	cl := dialWS(t, "ws://"+addr+"/echo", ws.Dialer{})
	cl.send(ws.OpText, "x")
	cl.expect(ws.OpText, "x")
	stuck, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	fmt.Fprintf(stuck, "POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n123")
	waitFor(t, 5*time.Second, "two open connections (the WebSocket, the stuck request)", func() bool {
		_, body := scrape(t, "127.0.0.1:"+ports[1], "")
		return sample(body, `edge_connections_open{listener="`+addr+`"}`) >= 2
	})
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	cl.c.SetDeadline(time.Now().Add(10 * time.Second))
	if ce := cl.expectClose(); ce.Code != ws.StatusGoingAway {
		t.Errorf("WebSocket closed with %d, want 1001", ce.Code)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("edge did not exit at its drain deadline")
	}
	took := time.Since(start)
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d at the drain deadline, want 0", code)
	}
	if took < 900*time.Millisecond {
		t.Errorf("exited after %v, before the 1 s shutdownTimeout with a request in flight", took)
	}
	if out := p.stderr.String(); !strings.Contains(out, "drain deadline reached") || !strings.Contains(out, "1 requests cut") {
		t.Errorf("no deadline warning:\n%s", out)
	}
}
