package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

const reloadConfigA = `reusePort: false
listeners:
  - listen: "127.0.0.1:{port}"
    hosts:
      - routes:
          - path: /a
            respond: {body: "a\n"}
          - path: /echo
            stream: {mode: echo}
`

// TestE2EReload: SIGHUP swaps the routes in (a route added, one removed)
// while a WebSocket stays open and working; a bad file is refused with
// file:line and the running routes keep serving; edge never exits.
func TestE2EReload(t *testing.T) {
	t.Parallel()
	dir := configDir(t)
	p, ports := startEdgeN(t, dir, reloadConfigA, 1)
	base := "http://127.0.0.1:" + ports[0]
	status := func(path string) int {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := status("/a"); s != 200 {
		t.Fatalf("/a before: %d", s)
	}
	cl := dialWS(t, "ws://127.0.0.1:"+ports[0]+"/echo", ws.Dialer{})
	cl.send(ws.OpText, "before")
	cl.expect(ws.OpText, "before")

	name := filepath.Join(dir, "edge.yaml")
	b := strings.ReplaceAll(reloadConfigA, "{port}", ports[0])
	b = strings.Replace(b, "- path: /a\n            respond: {body: \"a\\n\"}", "- path: /b\n            respond: {body: \"b\\n\"}", 1)
	for round := 0; round < 5; round++ {
		if err := os.WriteFile(name, []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for status("/b") != 200 {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: /b not served after SIGHUP\n%s", round, p.stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if s := status("/a"); s != 404 {
			t.Fatalf("round %d: removed route /a answers %d", round, s)
		}
		cl.send(ws.OpText, "during")
		cl.expect(ws.OpText, "during")
	}

	// A broken file: refused with file:line, the routes stay.
	if err := os.WriteFile(name, []byte(b+"  - listen: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.stderr.String(), "reload refused") {
		if time.Now().After(deadline) {
			t.Fatalf("no refusal logged:\n%s", p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(p.stderr.String(), "edge.yaml:") {
		t.Errorf("refusal without file:line:\n%s", p.stderr.String())
	}
	select {
	case <-p.done:
		t.Fatalf("edge exited on SIGHUP: %v\n%s", p.err, p.stderr.String())
	default:
	}
	if s := status("/b"); s != 200 {
		t.Fatalf("/b after a refused reload: %d", s)
	}
	cl.send(ws.OpText, "after")
	cl.expect(ws.OpText, "after")
}
