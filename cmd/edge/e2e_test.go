package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// edgeBin is the edge binary built by TestMain for the end-to-end tests.
var edgeBin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "edge-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	edgeBin = filepath.Join(dir, "edge")
	// The binary has the test's TLS backend: -tags openssl, or
	// GOEXPERIMENT=boringcrypto from the environment (backend_*.go).
	cmd := exec.Command("go", "build", "-tags", buildTags, "-ldflags", "-X main.version=v0.0.0-e2e", "-o", edgeBin, ".")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building edge:", err)
		return 1
	}
	return m.Run()
}

// needCurl returns curl's path. Without curl the test is skipped, except in
// CI (CI set), where it fails.
func needCurl(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("curl not installed")
		}
		t.Fatal("curl is required in CI:", err)
	}
	return p
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// edgeProc is a running edge binary.
type edgeProc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{} // closed when the process exited
	err    error         // Wait's result, after done
	addr   string        // host:port of the first TCP listener
	dir    string        // the config's directory
}

// freePort returns a port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// startEdge writes config (with {port} replaced by a free port) to
// dir/edge.yaml, starts edge with it and waits until it accepts
// connections on that port (and on waitUnix, if not empty).
func startEdge(t *testing.T, dir, config, waitUnix string) *edgeProc {
	t.Helper()
	var lastErr string
	for range 3 { // another process may take the port between freePort and bind
		port := freePort(t)
		p := tryStartEdge(t, dir, strings.ReplaceAll(config, "{port}", port), "127.0.0.1:"+port, waitUnix)
		if p != nil {
			return p
		}
		lastErr = "port " + port + " taken"
	}
	t.Fatal("edge did not start:", lastErr)
	return nil
}

func tryStartEdge(t *testing.T, dir, config, addr, waitUnix string) *edgeProc {
	t.Helper()
	name := filepath.Join(dir, "edge.yaml")
	if err := os.WriteFile(name, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &edgeProc{stderr: &syncBuffer{}, done: make(chan struct{}), addr: addr, dir: dir}
	p.cmd = exec.Command(edgeBin, "-config", name)
	p.cmd.Stdout, p.cmd.Stderr = p.stderr, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("edge output:\n%s", p.stderr.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-p.done:
			if strings.Contains(p.stderr.String(), "address already in use") {
				return nil
			}
			t.Fatalf("edge exited early (%v):\n%s", p.err, p.stderr.String())
		default:
		}
		if dialOK("tcp", addr) && (waitUnix == "" || dialOK("unix", waitUnix)) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("edge is not listening on %s after 10s:\n%s", addr, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func dialOK(network, addr string) bool {
	c, err := net.DialTimeout(network, addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// stop sends sig and waits for the process to exit, at most 5 s.
func (p *edgeProc) stop(t *testing.T, sig os.Signal) (exitCode int, took time.Duration) {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		t.Fatalf("edge did not exit within 5s of %v", sig)
	}
	return p.cmd.ProcessState.ExitCode(), time.Since(start)
}

// curl runs curl with args and returns its output (headers with -i/-I).
func curl(t *testing.T, args ...string) string {
	t.Helper()
	bin := needCurl(t)
	args = append([]string{"-sS", "--max-time", "10"}, args...)
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("curl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// split separates an HTTP response as curl -i prints it into its status
// line, headers (lower-case names) and body.
func split(t *testing.T, raw string) (status string, headers map[string]string, body string) {
	t.Helper()
	head, body, ok := strings.Cut(raw, "\r\n\r\n")
	if !ok {
		t.Fatalf("no header end in %q", raw)
	}
	lines := strings.Split(head, "\r\n")
	headers = map[string]string{}
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, ":")
		headers[strings.ToLower(k)] = strings.TrimSpace(v)
	}
	return lines[0], headers, body
}

const e2eConfig = `reusePort: false
headerServer: true
serverName: edge-e2e
headerDate: true
listeners:
  - listen: "127.0.0.1:{port}"
    hosts:
      - routes:
          - path: /hello
            respond: {body: "Hello, World!\n"}
          - path: /old
            redirect: {to: "http://{host}/new{url}", status: 301}
          - path: /about
            file: ./about.html
          - prefix: /assets/
            static: ./public
          - prefix: /
            static: "embed:"
        fallback: {status: 404, body: "nothing here\n"}
  - listen: "unix:edge.sock"
    hosts:
      - routes:
          - path: /hello
            respond: {body: "Hello over a Unix socket\n"}
`

func TestE2ECurl(t *testing.T) {
	t.Parallel()
	needCurl(t)
	dir := configDir(t)
	sock := filepath.Join(dir, "edge.sock")
	p := startEdge(t, dir, e2eConfig, sock)
	base := "http://" + p.addr

	t.Run("demo page", func(t *testing.T) {
		status, h, body := split(t, curl(t, "-i", base+"/"))
		if status != "HTTP/1.1 200 OK" {
			t.Errorf("status %q", status)
		}
		if !strings.Contains(body, "edge is running") || !strings.Contains(body, `href="/hello"`) {
			t.Errorf("not the demo page: %q", body)
		}
		want := map[string]string{"content-type": "text/html; charset=utf-8", "server": "edge-e2e", "content-length": strconv.Itoa(len(body))}
		for k, v := range want {
			if h[k] != v {
				t.Errorf("%s: %q, want %q", k, h[k], v)
			}
		}
		if _, err := http.ParseTime(h["date"]); err != nil {
			t.Errorf("date %q: %v", h["date"], err)
		}
		if h["content-encoding"] != "" {
			t.Errorf("content-encoding %q without Accept-Encoding", h["content-encoding"])
		}
	})
	t.Run("compressed", func(t *testing.T) {
		for _, enc := range []string{"br", "gzip", "deflate"} {
			raw := curl(t, "-i", "--compressed", "-H", "Accept-Encoding: "+enc, base+"/")
			_, h, body := split(t, raw)
			if h["content-encoding"] != enc || h["vary"] != "Accept-Encoding" {
				t.Errorf("%s: content-encoding %q, vary %q", enc, h["content-encoding"], h["vary"])
			}
			if !strings.Contains(body, "edge is running") {
				t.Errorf("%s: body after decompression: %q", enc, body)
			}
		}
		// curl's own Accept-Encoding (deflate, gzip, br, zstd): edge picks one.
		_, h, body := split(t, curl(t, "-i", "--compressed", base+"/"))
		if e := h["content-encoding"]; e != "br" && e != "gzip" {
			t.Errorf("--compressed: content-encoding %q", e)
		}
		if !strings.Contains(body, "edge is running") {
			t.Errorf("--compressed: body %q", body)
		}
	})
	t.Run("HEAD", func(t *testing.T) {
		raw := curl(t, "-I", base+"/")
		status, h, body := split(t, raw)
		if status != "HTTP/1.1 200 OK" || body != "" {
			t.Errorf("HEAD: %q, body %q", status, body)
		}
		if n, _ := strconv.Atoi(h["content-length"]); n < 500 {
			t.Errorf("HEAD: content-length %q", h["content-length"])
		}
	})
	t.Run("not found", func(t *testing.T) {
		status, _, body := split(t, curl(t, "-i", base+"/no/such/page"))
		if status != "HTTP/1.1 404 Not Found" || body != "nothing here\n" {
			t.Errorf("404: %q %q", status, body)
		}
	})
	t.Run("respond", func(t *testing.T) {
		status, h, body := split(t, curl(t, "-i", base+"/hello"))
		if status != "HTTP/1.1 200 OK" || body != "Hello, World!\n" || h["content-type"] != "text/plain; charset=utf-8" {
			t.Errorf("/hello: %q %q %q", status, h["content-type"], body)
		}
	})
	t.Run("redirect", func(t *testing.T) {
		status, h, _ := split(t, curl(t, "-i", base+"/old?x=1"))
		if status != "HTTP/1.1 301 Moved Permanently" || h["location"] != "http://127.0.0.1/new/old?x=1" {
			t.Errorf("redirect: %q location %q", status, h["location"])
		}
	})
	t.Run("static dir and file", func(t *testing.T) {
		if out := curl(t, base+"/assets/css/site.css"); !strings.Contains(out, "color: #123") {
			t.Errorf("site.css: %q", out)
		}
		if out := curl(t, base+"/about"); !strings.Contains(out, "<h1>About</h1>") {
			t.Errorf("about: %q", out)
		}
		if out := curl(t, base+"/favicon.svg"); !strings.HasPrefix(out, "<svg") {
			t.Errorf("favicon: %q", out)
		}
	})
	t.Run("keep-alive", func(t *testing.T) {
		out := curl(t, "-v", base+"/hello", base+"/hello")
		if !strings.Contains(out, "Re-using existing connection") {
			t.Errorf("curl did not reuse the connection:\n%s", out)
		}
	})
	t.Run("unix socket", func(t *testing.T) {
		out := curl(t, "--unix-socket", sock, "http://localhost/hello")
		if out != "Hello over a Unix socket\n" {
			t.Errorf("unix socket: %q", out)
		}
	})
}

// TestE2EHTTPClient checks the server with Go's client over TCP and a Unix
// socket.
func TestE2EHTTPClient(t *testing.T) {
	t.Parallel()
	dir := configDir(t)
	sock := filepath.Join(dir, "edge.sock")
	p := startEdge(t, dir, e2eConfig, sock)
	base := "http://" + p.addr

	client := &http.Client{Timeout: 10 * time.Second}
	for range 3 { // on one keep-alive connection
		resp, err := client.Get(base + "/hello")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "Hello, World!\n" {
			t.Fatalf("/hello: %d %q", resp.StatusCode, body)
		}
	}
	// Go's transport asks for gzip and decompresses.
	resp, err := client.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !resp.Uncompressed || !strings.Contains(string(body), "edge is running") {
		t.Errorf("/: uncompressed %v, body %q", resp.Uncompressed, body)
	}
	for _, e := range []exchange{
		{path: "/", header: hdr{"Accept-Encoding": "gzip;q=0.5, br"}, status: 200, headers: hdr{"Content-Encoding": "br", "Vary": "Accept-Encoding"}},
		{path: "/", header: hdr{"Accept-Encoding": "identity"}, status: 200, has: "edge is running", headers: hdr{"Content-Encoding": ""}},
		{path: "/style.css", status: 200, headers: hdr{"Content-Type": "text/css; charset=utf-8"}},
		{path: "/old", status: 301, headers: hdr{"Location": "http://127.0.0.1/new/old"}},
		{path: "/missing", status: 404, body: "nothing here\n"},
		{method: "POST", path: "/hello", status: 405},
	} {
		e.check(t, base)
	}

	status, ubody := get(t, unixClient(sock), "http://edge/hello")
	if status != 200 || ubody != "Hello over a Unix socket\n" {
		t.Errorf("unix: %d %q", status, ubody)
	}
}

func TestE2ESignals(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			dir := configDir(t)
			sock := filepath.Join(dir, "edge.sock")
			p := startEdge(t, dir, e2eConfig, sock)
			// An idle keep-alive connection must not hold the shutdown up.
			c, err := net.Dial("tcp", p.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fmt.Fprintf(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
			buf := make([]byte, 4096)
			if n, err := c.Read(buf); err != nil || !bytes.Contains(buf[:n], []byte("Hello, World!")) {
				t.Fatalf("read %q, %v", buf[:n], err)
			}
			code, took := p.stop(t, sig)
			if code != 0 {
				t.Errorf("exit code %d after %v, want 0", code, sig)
			}
			t.Logf("exited %v after %v", code, took)
			if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("socket file left behind: %v", err)
			}
			if dialOK("tcp", p.addr) {
				t.Errorf("still accepting on %s", p.addr)
			}
			if out := p.stderr.String(); !strings.Contains(out, "shutting down") {
				t.Errorf("no shutdown log:\n%s", out)
			}
		})
	}
}

// runEdge runs the binary to completion and returns its combined output and
// exit code.
func runEdge(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, edgeBin, args...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("edge %v: %v", args, err)
	return "", 0
}

func TestE2ECheck(t *testing.T) {
	t.Parallel()
	dir := configDir(t)
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	loadBad := filepath.Join(dir, "loadbad.yaml")
	noCert := filepath.Join(dir, "nocert.yaml")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	files := map[string]string{
		// -t never binds: a taken address is fine.
		good:   "listeners:\n  - listen: \"" + busy.Addr().String() + "\"\n    hosts:\n      - routes:\n          - prefix: /\n            static: ./public\n",
		noCert: "listeners:\n  - listen: \":1\"\n    tls: true\n    hosts:\n      - certificates: {privKey: nokey.pem, fullChain: nochain.pem}\n        host: example.com\n        fallback: {}\n",
		bad:    "workers: 1\nconnectionTimeout: 12 parsecs\nlisteners:\n  - listen: \":1\"\n    hosts:\n      - routes:\n          - path: /\n            statik: ./public\n",
	}
	for name, data := range files {
		if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"good", []string{"-t", "-config", good}, 0, []string{good + ": configuration ok\n"}},
		{"default", []string{"-t"}, 0, []string{"default.yaml (embedded): configuration ok\n"}},
		{"full reference", []string{"-t", "-config", filepath.Join("testdata", "full.yaml")}, 0, []string{"full.yaml: configuration ok"}},
		{"bad", []string{"-t", "-config", bad}, 1, []string{
			bad + `:2:20: connectionTimeout: bad duration "12 parsecs"`,
			bad + `:8:13: listeners[0].hosts[0].routes[0]: unknown key "statik" (did you mean "static"?)`,
		}},
		{"missing file", []string{"-t", "-config", filepath.Join(dir, "nope.yaml")}, 1, []string{"nope.yaml: no such file or directory"}},
		// Regression: "configuration ok" with only a WARN.
		{"missing certificate", []string{"-t", "-config", noCert}, 1, []string{noCert + ":5:23: listeners[0].hosts[0].certificates: " + filepath.Join(dir, "nokey.pem") + ": no such file"}},
		{"version", []string{"-version"}, 0, []string{"edge v0.0.0-e2e " + runtime.Version() + " " + tlsBackend().Name() + " (" + tlsLibrary() + ")\n"}},
		{"bad flag", []string{"-nope"}, 2, []string{"flag provided but not defined: -nope", "usage: edge"}},
		{"extra argument", []string{"-t", "edge.yaml"}, 2, []string{`unexpected argument "edge.yaml"`}},
	}
	if runtime.GOOS == "linux" && os.Getuid() != 0 {
		// A file edge cannot read: found only when loading.
		if err := os.Mkdir(filepath.Join(dir, "private"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "private", "secret"), nil, 0o000); err != nil {
			t.Fatal(err)
		}
		cfg := "listeners:\n  - listen: \":1\"\n    hosts:\n      - routes:\n          - prefix: /\n            static: ./private\n"
		if err := os.WriteFile(loadBad, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		tests = append(tests, struct {
			name string
			args []string
			code int
			want []string
		}{"load error", []string{"-t", "-config", loadBad}, 1, []string{loadBad + ":6:21: listeners[0].hosts[0].routes[0].static: ", "permission denied"}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := runEdge(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d; output:\n%s", code, tt.code, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output does not contain %q:\n%s", w, out)
				}
			}
		})
	}
}
