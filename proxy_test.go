package edge

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edge-rt/edge/proxy"
	edgews "github.com/edge-rt/edge/ws"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// httpBackend serves h over loopback TCP ("tcp") or a Unix socket
// ("unix") and returns the address as a proxy route takes it.
func httpBackend(t testing.TB, network string, h http.Handler) string {
	t.Helper()
	var ln net.Listener
	var err error
	addr := ""
	if network == "unix" {
		path := filepath.Join(t.TempDir(), "b.sock")
		ln, err = net.Listen("unix", path)
		addr = "unix:" + path
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err == nil {
			addr = ln.Addr().String()
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return addr
}

// named answers with its name, the path and the request's body length.
func named(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%s %s %s body=%d", name, r.Method, r.URL.Path, n)
	})
}

// proxyDial connects to the test server, over TLS when pool is set.
func proxyDial(t testing.TB, addr string, pool *x509.CertPool) net.Conn {
	t.Helper()
	if pool != nil {
		return tlsDial(t, addr, "a.test", pool)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// proxyServer starts edge (plain, or TLS when tlsOn) with setup's routes.
func proxyServer(t testing.TB, tlsOn bool, cfg Config, setup func(l *Listener)) (*Server, string, *x509.CertPool) {
	t.Helper()
	if tlsOn {
		return tlsTestServer(t, cfg, func(s *Server, l *Listener) { setup(l) })
	}
	s, addr := testServer(t, cfg, func(s *Server, l *Listener) { setup(l) })
	return s, addr, nil
}

// TestProxyMixedRoutes is the test: one keep-alive connection
// mixing static answers, a TCP backend and a Unix-socket backend gets each
// response from the right place and in order, one at a time and
// pipelined, on plain and TLS listeners.
func TestProxyMixedRoutes(t *testing.T) {
	t.Parallel()
	a := httpBackend(t, "tcp", named("A"))
	b := httpBackend(t, "unix", named("B"))
	for _, tlsOn := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tlsOn), func(t *testing.T) {
			t.Parallel()
			s, addr, pool := proxyServer(t, tlsOn, Config{}, func(l *Listener) {
				l.Any().Get("/static", hello).
					Proxy(Prefix("/a/"), &proxy.Route{To: []string{a}}).
					Proxy(Prefix("/b/"), &proxy.Route{To: []string{b}})
			})
			c := proxyDial(t, addr, pool)
			defer c.Close()
			br := bufio.NewReader(c)
			paths := []string{"/a/1", "/static", "/b/2", "/a/3", "/static", "/b/4", "/b/5", "/a/6"}
			want := func(p string) string {
				switch {
				case strings.HasPrefix(p, "/a/"):
					return "A GET " + p + " body=0"
				case strings.HasPrefix(p, "/b/"):
					return "B GET " + p + " body=0"
				}
				return "Hello, World!"
			}
			// One at a time.
			for _, p := range paths {
				fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: a.test\r\n\r\n", p)
				r := readResponses(t, br, 1, "GET")[0]
				if got := bodyOf(r); r.StatusCode != 200 || got != want(p) {
					t.Fatalf("%s: %d %q, want %q", p, r.StatusCode, got, want(p))
				}
			}
			// Pipelined, in one write.
			var req bytes.Buffer
			for _, p := range paths {
				fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: a.test\r\n\r\n", p)
			}
			c.Write(req.Bytes())
			rs := readResponses(t, br, len(paths), "GET")
			for i, r := range rs {
				if got := bodyOf(r); got != want(paths[i]) {
					t.Fatalf("pipelined %d (%s): %q, want %q", i, paths[i], got, want(paths[i]))
				}
			}
			if st := s.Stats(); st.UpConnects > 4 || st.UpReused == 0 {
				t.Errorf("backend connections: %d opened, %d reuses; want them pooled", st.UpConnects, st.UpReused)
			}
		})
	}
}

// TestProxyBodiesAndHeaders: Content-Length and chunked bodies (a large
// one streamed with back-pressure) reach the backend whole, without
// AllowPost; the backend sees X-Forwarded-* and no hop-by-hop headers.
func TestProxyBodiesAndHeaders(t *testing.T) {
	t.Parallel()
	back := httpBackend(t, "tcp", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		fmt.Fprintf(w, "n=%d sha=%s xff=%s proto=%s real=%s foo=%q te=%q", n, hex.EncodeToString(h.Sum(nil))[:16],
			r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Real-IP"),
			r.Header.Get("Foo"), r.Header.Get("Keep-Alive"))
	}))
	for _, tlsOn := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tlsOn), func(t *testing.T) {
			t.Parallel()
			_, addr, pool := proxyServer(t, tlsOn, Config{MaxBodySize: 64 << 20}, func(l *Listener) {
				l.Any().Proxy(Prefix("/"), &proxy.Route{To: []string{back}, ForwardedFor: true})
			})
			c := proxyDial(t, addr, pool)
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			br := bufio.NewReader(c)
			big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB
			sum := sha256.Sum256(big)
			proto := "http"
			if tlsOn {
				proto = "https"
			}
			// Content-Length, with hop-by-hop headers to drop.
			go func() {
				fmt.Fprintf(c, "POST /up HTTP/1.1\r\nHost: a.test\r\nContent-Length: %d\r\nConnection: keep-alive, Foo\r\nFoo: bar\r\nKeep-Alive: timeout=5\r\nX-Forwarded-For: 10.1.2.3\r\n\r\n", len(big))
				c.Write(big)
			}()
			r := readResponses(t, br, 1, "POST")[0]
			want := fmt.Sprintf("n=%d sha=%s xff=10.1.2.3, 127.0.0.1 proto=%s real=127.0.0.1 foo=\"\" te=\"\"", len(big), hex.EncodeToString(sum[:])[:16], proto)
			if got := bodyOf(r); got != want {
				t.Fatalf("content-length body:\n got %q\nwant %q", got, want)
			}
			// Chunked, in uneven chunks, followed by a pipelined GET.
			go func() {
				fmt.Fprintf(c, "PUT /up HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n")
				rest := big
				for k := 1; len(rest) > 0; k = k*3 + 1 {
					n := min(k, len(rest))
					fmt.Fprintf(c, "%x\r\n", n)
					c.Write(rest[:n])
					io.WriteString(c, "\r\n")
					rest = rest[n:]
				}
				io.WriteString(c, "0\r\n\r\nGET /after HTTP/1.1\r\nHost: a.test\r\n\r\n")
			}()
			rs := readResponses(t, br, 2, "PUT")
			if got := bodyOf(rs[0]); !strings.HasPrefix(got, fmt.Sprintf("n=%d sha=%s ", len(big), hex.EncodeToString(sum[:])[:16])) {
				t.Fatalf("chunked body: %q", got)
			}
			if got := bodyOf(rs[1]); !strings.HasPrefix(got, "n=0 ") {
				t.Fatalf("request after the chunked body: %q", got)
			}
		})
	}
}

// rawBackend runs serve for each connection accepted on loopback.
func rawBackend(t testing.TB, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				serve(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// TestProxyResponseFraming: every way a response can end is found, and
// the client connection goes on after each (a close-delimited one closes
// it).
func TestProxyResponseFraming(t *testing.T) {
	t.Parallel()
	responses := map[string]string{
		"/cl":      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"/chunked": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n",
		"/204":     "HTTP/1.1 204 No Content\r\n\r\n",
		"/304":     "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
		"/head":    "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
		"/1xx":     "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"/close":   "HTTP/1.1 200 OK\r\n\r\nuntil the end",
	}
	back := rawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.WriteString(c, responses[req.URL.Path])
			if req.URL.Path == "/close" {
				return
			}
		}
	})
	_, addr := testServer(t, Config{}, func(s *Server, l *Listener) {
		l.Any().Proxy(Prefix("/"), &proxy.Route{To: []string{back}})
	})
	c := proxyDial(t, addr, nil)
	defer c.Close()
	br := bufio.NewReader(c)
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/cl", "hello"}, {"GET", "/chunked", "abcde"}, {"GET", "/204", ""}, {"GET", "/304", ""},
		{"HEAD", "/head", ""}, {"GET", "/1xx", "ok"}, {"GET", "/cl", "hello"}, {"GET", "/close", "until the end"},
	} {
		fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: a\r\n\r\n", tc.method, tc.path)
		r, err := http.ReadResponse(br, &http.Request{Method: tc.method})
		for err == nil && r.StatusCode < 200 {
			// An interim response, passed through: the final one follows.
			r, err = http.ReadResponse(br, &http.Request{Method: tc.method})
		}
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		body, err := io.ReadAll(r.Body)
		if err != nil || string(body) != tc.body {
			t.Fatalf("%s %s: body %q (%v), want %q", tc.method, tc.path, body, err, tc.body)
		}
	}
	if b, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after a close-delimited response: %q, %v; want the connection closed", b, err)
	}
}

// TestProxyFailures: a backend refusing connections gets 502, one that
// never answers 504, one that dies mid-response closes the client
// connection; with two backends the dead one is skipped; nothing leaks.
func TestProxyFailures(t *testing.T) {
	dead := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a := ln.Addr().String()
		ln.Close()
		return a
	}()
	silent := rawBackend(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	cut := rawBackend(t, func(c net.Conn) {
		http.ReadRequest(bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
	})
	good := httpBackend(t, "tcp", named("G"))
	baseG := runtime.NumGoroutine()
	baseFD := countFDs(t)
	s, addr := testServer(t, Config{}, func(s *Server, l *Listener) {
		l.Any().
			Proxy(Path("/dead"), &proxy.Route{To: []string{dead}}).
			Proxy(Path("/silent"), &proxy.Route{To: []string{silent}, ResponseTimeout: 300 * time.Millisecond}).
			Proxy(Path("/cut"), &proxy.Route{To: []string{cut}}).
			Proxy(Path("/failover"), &proxy.Route{To: []string{dead, good}})
	})
	get := func(path string) (*http.Response, string, error) {
		c := proxyDial(t, addr, nil)
		defer c.Close()
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", path)
		r, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return nil, "", err
		}
		b, err := io.ReadAll(r.Body)
		return r, string(b), err
	}
	if r, _, err := get("/dead"); err != nil || r.StatusCode != 502 {
		t.Fatalf("/dead: %v %v, want 502", r, err)
	}
	start := time.Now()
	if r, _, err := get("/silent"); err != nil || r.StatusCode != 504 {
		t.Fatalf("/silent: %v %v, want 504", r, err)
	} else if time.Since(start) > 5*time.Second {
		t.Fatalf("504 after %v", time.Since(start))
	}
	if r, body, err := get("/cut"); err == nil || r.StatusCode != 200 || body != "only part" {
		t.Fatalf("/cut: %v %q %v, want a 200 cut short", r, body, err)
	}
	for i := 0; i < 6; i++ {
		if r, body, err := get("/failover"); err != nil || r.StatusCode != 200 || !strings.HasPrefix(body, "G ") {
			t.Fatalf("/failover %d: %v %q %v", i, r, body, err)
		}
	}
	if st := s.Stats(); st.UpFailures == 0 {
		t.Errorf("no backend failure counted: %+v", st)
	}
	// Back to the baseline (the server's own goroutines and descriptors
	// aside: workers, listener, epoll): poll, the loops close lazily.
	ok := hostileWait(10*time.Second, func() bool {
		return runtime.NumGoroutine() <= baseG+2*2+4 && countFDs(t) <= baseFD+2*3+1+4
	})
	if !ok {
		t.Errorf("leak: goroutines %d (base %d), fds %d (base %d)", runtime.NumGoroutine(), baseG, countFDs(t), baseFD)
	}
}

func countFDs(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestProxyPinAndHalfClose: in pin mode the first matching request and
// everything after it go to the backend unchanged (a path edge itself
// serves too), and a half-close travels both ways.
func TestProxyPinAndHalfClose(t *testing.T) {
	t.Parallel()
	// The backend echoes everything until the client half-closes, then
	// answers "bye" and closes.
	echo := rawBackend(t, func(c net.Conn) {
		io.Copy(c, c)
		io.WriteString(c, "bye")
		c.(*net.TCPConn).CloseWrite()
	})
	for _, tlsOn := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tlsOn), func(t *testing.T) {
			t.Parallel()
			s, addr, pool := proxyServer(t, tlsOn, Config{}, func(l *Listener) {
				l.Any().Get("/static", hello).Proxy(Prefix("/pin"), &proxy.Route{To: []string{echo}, Mode: proxy.ModePin})
			})
			c := proxyDial(t, addr, pool)
			defer c.Close()
			first := "GET /pin HTTP/1.1\r\nHost: a.test\r\n\r\n"
			second := "GET /static HTTP/1.1\r\nHost: a.test\r\n\r\n"
			io.WriteString(c, first+second)
			got := make([]byte, len(first)+len(second))
			if _, err := io.ReadFull(c, got); err != nil || string(got) != first+second {
				t.Fatalf("echoed %q, %v", got, err)
			}
			switch cc := c.(type) {
			case *tls.Conn:
				cc.CloseWrite()
			case *net.TCPConn:
				cc.CloseWrite()
			}
			rest, err := io.ReadAll(c)
			if err != nil || string(rest) != "bye" {
				t.Fatalf("after half-close: %q, %v; want \"bye\" then EOF", rest, err)
			}
			// Plain on both ends: zero-copy (TLS is never spliced).
			if sp := s.Stats().UpSplices; (sp > 0) != !tlsOn {
				t.Errorf("tls=%v: %d splice calls", tlsOn, sp)
			}
		})
	}
}

// TestProxyWebSocket: a WebSocket through a request-mode route (the 101
// turns the exchange into a tunnel) and through a pin-mode route, to an
// edge stream as the backend.
func TestProxyWebSocket(t *testing.T) {
	t.Parallel()
	_, backAddr := testServer(t, Config{}, func(s *Server, l *Listener) {
		l.Any().Stream("/ws", &Stream{OnMessage: func(c *Client, op edgews.Opcode, data []byte) { c.Send(op, data) }})
	})
	for _, mode := range []proxy.Mode{proxy.ModeRequest, proxy.ModePin} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			_, addr := testServer(t, Config{}, func(s *Server, l *Listener) {
				l.Any().Proxy(Path("/ws"), &proxy.Route{To: []string{backAddr}, Mode: mode})
			})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, _, _, err := ws.Dial(ctx, "ws://"+addr+"/ws")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			for i := 0; i < 20; i++ {
				msg := []byte(fmt.Sprintf("message %d %s", i, strings.Repeat("x", i*1000)))
				if err := wsutil.WriteClientText(c, msg); err != nil {
					t.Fatal(err)
				}
				got, err := wsutil.ReadServerText(c)
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("echo %d: %d bytes, %v", i, len(got), err)
				}
			}
		})
	}
}

// TestProxySlowClientBounded: a client that does not read a large proxied
// response costs edge a bounded amount of memory (the backend is not read
// while the client has output waiting).
func TestProxySlowClientBounded(t *testing.T) {
	chunk := bytes.Repeat([]byte("z"), 1<<20)
	back := httpBackend(t, "tcp", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(256*len(chunk)))
		for i := 0; i < 256; i++ {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	_, addr := testServer(t, Config{}, func(s *Server, l *Listener) {
		l.Any().Proxy(Prefix("/"), &proxy.Route{To: []string{back}})
	})
	runtime.GC()
	base := hostileHeapInuse()
	for i := 0; i < 8; i++ {
		c := hostileDialSmallRcvbuf(t, addr) // closed at the end of the test
		io.WriteString(c, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
	}
	// Let the transfers run into the stalled clients.
	time.Sleep(time.Second)
	runtime.GC()
	if grown := int64(hostileHeapInuse()) - int64(base); grown > 24<<20 {
		t.Fatalf("8 stalled clients of a 256 MiB response grew the heap by %d MiB", grown>>20)
	}
	// A reading client still gets the whole response.
	c := proxyDial(t, addr, nil)
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	io.WriteString(c, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
	r, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, r.Body)
	if err != nil || n != int64(256*len(chunk)) {
		t.Fatalf("read %d bytes, %v", n, err)
	}
}

// TestProxyHTTP10Client: an HTTP/1.0 client never gets a chunked response
// (the backend is asked in HTTP/1.0), and keep-alive still works when the
// response has a length.
func TestProxyHTTP10Client(t *testing.T) {
	t.Parallel()
	back := httpBackend(t, "tcp", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			io.WriteString(w, "part one, ")
			w.(http.Flusher).Flush() // chunked to an HTTP/1.1 request
			io.WriteString(w, "part two")
			return
		}
		io.WriteString(w, r.Proto)
	}))
	_, addr := testServer(t, Config{}, func(s *Server, l *Listener) {
		l.Any().Proxy(Prefix("/"), &proxy.Route{To: []string{back}})
	})
	got := exchange(t, addr, "GET /stream HTTP/1.0\r\nHost: a\r\n\r\n")
	if strings.Contains(strings.ToLower(got), "transfer-encoding") || !strings.HasSuffix(got, "part one, part two") {
		t.Fatalf("HTTP/1.0 client got %q", got)
	}
	c := proxyDial(t, addr, nil)
	defer c.Close()
	br := bufio.NewReader(c)
	for i := 0; i < 2; i++ {
		io.WriteString(c, "GET /proto HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n")
		if r := readResponses(t, br, 1, "GET")[0]; bodyOf(r) != "HTTP/1.0" {
			t.Fatalf("request %d: backend saw %q", i, bodyOf(r))
		}
	}
}

// TestProxyUpgradeFirstBytes: bytes a backend sends right behind its 101
// (in the same segment) reach the client; a 101 to a request that asked
// for no upgrade is a bad gateway.
func TestProxyUpgradeFirstBytes(t *testing.T) {
	t.Parallel()
	back := rawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: upgrade\r\n\r\nhello ")
		if req.Header.Get("Upgrade") == "" {
			return
		}
		io.Copy(c, br)
	})
	_, addr := testServer(t, Config{}, func(s *Server, l *Listener) {
		l.Any().Proxy(Prefix("/"), &proxy.Route{To: []string{back}})
	})
	c := proxyDial(t, addr, nil)
	defer c.Close()
	io.WriteString(c, "GET /up HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(c)
	r, err := http.ReadResponse(br, nil)
	if err != nil || r.StatusCode != 101 {
		t.Fatalf("%v %v", r, err)
	}
	io.WriteString(c, "world")
	got := make([]byte, len("hello world"))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "hello world" {
		t.Fatalf("tunnel: %q %v", got, err)
	}
	if got := exchange(t, addr, "GET /plain HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 502 ") {
		t.Fatalf("an unasked 101: %q", got)
	}
}

// TestProxyTLSTunnelIdleNoSpin: an idle pinned tunnel on a TLS listener
// waits for readiness like any idle connection: it costs no CPU (a read
// queued after every read once kept a worker spinning).
func TestProxyTLSTunnelIdleNoSpin(t *testing.T) {
	if !hostileChild(t) { // measures the process's CPU: alone in a process
		return
	}
	echo := rawBackend(t, func(c net.Conn) { io.Copy(c, c) })
	_, addr, pool := proxyServer(t, true, Config{Workers: 1}, func(l *Listener) {
		l.Any().Proxy(Prefix("/"), &proxy.Route{To: []string{echo}, Mode: proxy.ModePin})
	})
	c := proxyDial(t, addr, pool)
	defer c.Close()
	req := "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"
	io.WriteString(c, req)
	got := make([]byte, len(req))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	cpu0, t0 := hostileCPU(), time.Now()
	time.Sleep(time.Second)
	if used, wall := hostileCPU()-cpu0, time.Since(t0); used > wall/4 {
		t.Fatalf("an idle TLS tunnel used %v of CPU in %v", used, wall)
	}
	// Still a working tunnel.
	io.WriteString(c, "ping")
	if _, err := io.ReadFull(c, got[:4]); err != nil || string(got[:4]) != "ping" {
		t.Fatalf("%q %v", got[:4], err)
	}
}

// TestProxyClientWhilePending: while a request waits for a slow backend,
// the client's next request (sent later, not pipelined in the same write)
// and a half-close are read ahead and honoured: both responses come, in
// order, then the connection closes.
func TestProxyClientWhilePending(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	back := httpBackend(t, "tcp", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		io.WriteString(w, r.URL.Path)
	}))
	for _, tlsOn := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tlsOn), func(t *testing.T) {
			_, addr, pool := proxyServer(t, tlsOn, Config{}, func(l *Listener) {
				l.Any().Proxy(Prefix("/"), &proxy.Route{To: []string{back}})
			})
			c := proxyDial(t, addr, pool)
			defer c.Close()
			io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: a.test\r\n\r\n")
			time.Sleep(50 * time.Millisecond)
			io.WriteString(c, "GET /next HTTP/1.1\r\nHost: a.test\r\n\r\n")
			switch cc := c.(type) {
			case *tls.Conn:
				cc.CloseWrite()
			case *net.TCPConn:
				cc.CloseWrite()
			}
			time.Sleep(50 * time.Millisecond)
			release <- struct{}{}
			br := bufio.NewReader(c)
			rs := readResponses(t, br, 2, "GET")
			if bodyOf(rs[0]) != "/slow" || bodyOf(rs[1]) != "/next" {
				t.Fatalf("responses %q, %q", bodyOf(rs[0]), bodyOf(rs[1]))
			}
			if b, err := br.ReadByte(); err == nil {
				t.Fatalf("byte %q after the responses to a half-closed client", b)
			}
		})
	}
}
