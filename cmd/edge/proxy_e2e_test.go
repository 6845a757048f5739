package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// needProgram returns the path of a program the test needs. Without it the
// test is skipped, except in CI (CI set), where it fails.
func needProgram(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("%s not installed (apt-get install %s); in CI this test fails instead", name, pkg)
		}
		t.Fatalf("%s is required in CI: %v", name, err)
	}
	return p
}

// startHAProxy runs haproxy with config (in dir) until the test ends and
// waits until it accepts on each of addrs.
func startHAProxy(t *testing.T, dir, config string, addrs ...string) {
	t.Helper()
	bin := needProgram(t, "haproxy", "haproxy")
	name := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(name, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	check := exec.Command(bin, "-c", "-f", name)
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	var out syncBuffer
	cmd := exec.Command(bin, "-db", "-f", name)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("haproxy output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for _, a := range addrs {
		for !dialOK("tcp", a) {
			if time.Now().After(deadline) {
				t.Fatalf("haproxy is not listening on %s:\n%s", a, out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// getFrom sends GET path to addr from the local address 127.0.0.2 (so the
// client is told apart from the proxies, which all use 127.0.0.1) and
// returns the status and body.
func getFrom(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
		return d.DialContext(ctx, network, a)
	}, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s%s: %v", addr, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestE2EProxyHAProxy: HAProxy as the real peer of the PROXY protocol,
// both ways: haproxy send-proxy-v2 in front of edge (the listener trusts
// it), and edge sending v2 to a haproxy accept-proxy frontend behind it,
// which answers with the source address it was given. The client
// (127.0.0.2) is seen by the last hop through both.
func TestE2EProxyHAProxy(t *testing.T) {
	needProgram(t, "haproxy", "haproxy")
	dir := t.TempDir()
	front, back := "127.0.0.1:"+freePort(t), "127.0.0.1:"+freePort(t)
	edgePort := freePort(t)
	startHAProxy(t, dir, fmt.Sprintf(`global
  log stderr format raw local0 err
defaults
  mode http
  timeout connect 5s
  timeout client 10s
  timeout server 10s
frontend front
  mode tcp
  bind %s
  default_backend edge
backend edge
  mode tcp
  server edge 127.0.0.1:%s send-proxy-v2
frontend back
  bind %s accept-proxy
  http-request return status 200 content-type text/plain lf-string "src=%%[src]"
`, front, edgePort, back), front, back)
	p := tryStartEdge(t, dir, fmt.Sprintf(`listeners:
  - listen: "127.0.0.1:%s"
    proxyProtocol: {trust: [127.0.0.1]}
    hosts:
      - routes:
          - prefix: /
            proxy: {to: ["%s"], proxyProtocol: v2}
`, edgePort, back), "127.0.0.1:"+edgePort, "")
	if p == nil {
		t.Skip("port taken")
	}
	// Through haproxy into edge, and from edge to haproxy again.
	status, body := getFrom(t, front, "/x")
	if status != 200 || body != "src=127.0.0.2" {
		t.Fatalf("through both: %d %q, want the client's address 127.0.0.2", status, body)
	}
	// Straight to edge without a PROXY header: refused although the
	// source is trusted (every connection must carry one).
	c, err := net.Dial("tcp", "127.0.0.1:"+edgePort)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if line, err := bufio.NewReader(c).ReadString('\n'); err == nil {
		t.Fatalf("served without a PROXY header: %q", line)
	}
}

// TestE2EProxyConfig: the config file's proxy action, with a TCP and a
// Unix-socket backend, request and pin modes, through curl.
func TestE2EProxyConfig(t *testing.T) {
	curlBin := needCurl(t)
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "app.sock")
	uln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range []net.Listener{ln, uln} {
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "backend%d %s %s xff=%s", i, r.Method, r.URL.Path, r.Header.Get("X-Forwarded-For"))
		})}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
	}
	p := startEdge(t, dir, fmt.Sprintf(`listeners:
  - listen: "127.0.0.1:{port}"
    hosts:
      - routes:
          - path: /hello
            respond: {body: "edge"}
          - prefix: /api/
            proxy:
              to: ["%s", "unix:%s"]
              balance: leastConn
              forwardedFor: true
              connectTimeout: 2s
              healthCheck: {interval: 1s}
`, ln.Addr(), sock), "")
	base := "http://" + p.addr
	out, err := exec.Command(curlBin, "-sS", "--max-time", "10", base+"/hello", base+"/api/a", base+"/api/b", "--next", "-sS", "-d", "x=1", base+"/api/c").CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	got := string(out)
	if !strings.HasPrefix(got, "edge") || strings.Count(got, "backend") != 3 || !strings.Contains(got, "POST /api/c xff=127.0.0.1") {
		t.Fatalf("curl got %q", got)
	}
}
