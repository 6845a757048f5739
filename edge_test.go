package edge

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edge-rt/edge/static"
)

// testServer starts a server on 127.0.0.1:0 with cfg, after setup has
// added routes to the listener, and shuts it down at the end of the test.
func testServer(t testing.TB, cfg Config, setup func(s *Server, l *Listener)) (*Server, string) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Workers == 0 {
		cfg.Workers = 2
	}
	s := New(&cfg)
	l := s.Listen("tcp", "127.0.0.1:0")
	setup(s, l)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s, l.Addr().String()
}

// exchange sends raw bytes on a fresh connection and returns everything
// the server sends until it closes (or 5 s pass).
func exchange(t testing.TB, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v (got %q)", err, b)
	}
	return string(b)
}

// readResponses parses n responses from r.
func readResponses(t testing.TB, r *bufio.Reader, n int, method string) []*http.Response {
	t.Helper()
	var out []*http.Response
	for i := 0; i < n; i++ {
		resp, err := http.ReadResponse(r, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		out = append(out, resp)
	}
	return out
}

func bodyOf(r *http.Response) string {
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

func hello(c *Ctx) { c.Text(200, "Hello, World!") }

func TestKeepAliveOneConnection(t *testing.T) {
	t.Parallel()
	s, addr := testServer(t, Config{HeaderServer: true, HeaderDate: true}, func(s *Server, l *Listener) {
		l.Get("/", hello)
	})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	for i := 0; i < 50; i++ {
		resp, err := client.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		if b := bodyOf(resp); resp.StatusCode != 200 || b != "Hello, World!" {
			t.Fatalf("got %d %q", resp.StatusCode, b)
		}
		if resp.Header.Get("Server") != "edge" || resp.Header.Get("Date") == "" {
			t.Fatalf("headers %v", resp.Header)
		}
		resp.Body.Close()
	}
	if got := s.Stats().Accepted; got != 1 {
		t.Errorf("accepted %d connections, want 1 (keep-alive)", got)
	}
}

func TestPipeliningInOrder(t *testing.T) {
	t.Parallel()
	_, addr := testServer(t, Config{}, func(s *Server, l *Listener) {
		l.Any().Handle(Pattern("/n/:i"), func(c *Ctx) { c.Text(200, c.Param("i")) })
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var req strings.Builder
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&req, "GET /n/%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
	}
	io.WriteString(c, req.String())
	resps := readResponses(t, bufio.NewReader(c), 100, "GET")
	for i, r := range resps {
		if b := bodyOf(r); b != fmt.Sprint(i) {
			t.Fatalf("response %d has body %q", i, b)
		}
	}
}

func TestHeadAndHTTP10(t *testing.T) {
	t.Parallel()
	_, addr := testServer(t, Config{}, func(s *Server, l *Listener) { l.Get("/", hello) })
	got := exchange(t, addr, "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if !strings.Contains(got, "Content-Length: 13\r\n") || strings.HasSuffix(got, "Hello, World!") {
		t.Errorf("HEAD: %q", got)
	}
	got = exchange(t, addr, "GET / HTTP/1.0\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(got, "Hello, World!") {
		t.Errorf("HTTP/1.0: %q", got)
	}
	// HTTP/1.0 keep-alive: the response says so and the connection stays.
	c, _ := net.Dial("tcp", addr)
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n")
	c.SetDeadline(time.Now().Add(5 * time.Second))
	all, _ := io.ReadAll(c)
	if n := strings.Count(string(all), "Hello, World!"); n != 2 || !strings.Contains(string(all), "Connection: keep-alive") {
		t.Errorf("HTTP/1.0 keep-alive: %q", all)
	}
}

func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	_, addr := testServer(t, Config{MaxRequestLine: 100, MaxHeaders: 10}, func(s *Server, l *Listener) {
		l.Get("/", hello)
	})
	long := strings.Repeat("a", 200)
	many := strings.Repeat("X-A: b\r\n", 20)
	tests := []struct {
		name, req string
		status    int
	}{
		{"cl and te", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"duplicate cl", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na", 400},
		{"bad cl", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n", 400},
		{"bare lf", "GET / HTTP/1.1\nHost: x\n\n", 400},
		{"bare cr", "GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n", 400},
		{"nul", "GET / HTTP/1.1\r\nHost: x\r\nX-A: \x00\r\n\r\n", 400},
		{"bad token", "GET / HTTP/1.1\r\nHost: x\r\nX(A): b\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n", 400},
		{"no host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two hosts", "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400},
		{"absolute form", "GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"http2", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"long uri", "GET /" + long + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
		{"many headers", "GET / HTTP/1.1\r\nHost: x\r\n" + many + "\r\n", 431},
		{"unknown method", "BREW / HTTP/1.1\r\nHost: x\r\n\r\n", 501},
		{"post disabled", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405},
		{"body disabled", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab", 405},
		{"te not chunked", "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// A second, valid request behind the bad one must never be answered.
			got := exchange(t, addr, tt.req+"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			want := fmt.Sprintf("HTTP/1.1 %d ", tt.status)
			if !strings.HasPrefix(got, want) {
				t.Fatalf("got %q, want status %d", got, tt.status)
			}
			if !strings.Contains(got, "Connection: close\r\n") {
				t.Errorf("no Connection: close in %q", got)
			}
			if strings.Contains(got, "Hello, World!") {
				t.Errorf("request after the bad one was answered: %q", got)
			}
		})
	}
}

func TestRouting(t *testing.T) {
	t.Parallel()
	maintenance := atomic.Bool{}
	_, addr := testServer(t, Config{}, func(s *Server, l *Listener) {
		site := l.Routes("site.example")
		site.Get("/", func(c *Ctx) { c.Text(200, "site root") })
		wild := l.Routes("*.wild.example")
		wild.Get("/", func(c *Ctx) { c.Text(200, "wild "+c.Host()) })
		g := l.Any()
		g.Handle(Any(), func(c *Ctx) {
			if maintenance.Load() {
				c.Text(503, "maintenance")
			}
		})
		g.Get("/", hello)
		g.Handle(Path("/home", "/about"), func(c *Ctx) { c.Text(200, "main "+c.Path()) }, "GET")
		g.Handle(Regexp(`/([a-z]+)(\d+)`), func(c *Ctx) { c.Text(200, c.Match(1)+"|"+c.Match(2)) })
		g.Handle(Pattern("/user/:name/post/:id"), func(c *Ctx) { c.Text(200, c.Param("name")+"#"+c.Param("id")) })
		g.Handle(Func(func(c *Ctx) bool { return c.Query("magic") == "yes" }), func(c *Ctx) { c.Text(200, "magic") })
		g.Handle(Prefix("/early/"), func(c *Ctx) {
			if c.Path() == "/early/skip" {
				return // falls through
			}
			c.Text(200, "early")
		})
		g.Redirect(Path("/old"), 301, "https://{host}{url}")
		g.Redirect(Path("/tmp"), 307, "/new")
		g.Fallback(func(c *Ctx) { c.Text(404, "nothing at "+EscapeHTML(c.URL())) })
	})
	get := func(host, target string) (int, string, http.Header) {
		req, _ := http.NewRequest("GET", "http://"+addr+target, nil)
		req.Host = host
		resp, err := (&http.Transport{}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, bodyOf(resp), resp.Header
	}
	tests := []struct {
		host, target string
		status       int
		body         string
	}{
		{"x", "/", 200, "Hello, World!"},
		{"site.example", "/", 200, "site root"},
		{"SITE.example:8080", "/", 200, "site root"},
		{"a.wild.example", "/", 200, "wild a.wild.example"},
		{"wild.example", "/", 200, "Hello, World!"},
		{"x", "/home", 200, "main /home"},
		{"x", "/about", 200, "main /about"},
		{"x", "/abc123", 200, "abc|123"},
		{"x", "/user/bob/post/7", 200, "bob#7"},
		{"x", "/user/bob/post/", 404, "nothing at /user/bob/post/"},
		{"x", "/zzz?magic=yes", 200, "magic"},
		{"x", "/early/x", 200, "early"},
		{"x", "/early/skip", 404, "nothing at /early/skip"},
	}
	for _, tt := range tests {
		status, body, _ := get(tt.host, tt.target)
		if status != tt.status || body != tt.body {
			t.Errorf("%s%s: got %d %q, want %d %q", tt.host, tt.target, status, body, tt.status, tt.body)
		}
	}
	status, _, h := get("example.org:8089", "/old?q=1")
	if status != 301 || h.Get("Location") != "https://example.org/old?q=1" {
		t.Errorf("redirect: %d %v", status, h)
	}
	status, _, h = get("x", "/tmp")
	if status != 307 || h.Get("Location") != "/new" {
		t.Errorf("redirect 307: %d %v", status, h)
	}
	if got := exchange(t, addr, "GET /<b> HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); !strings.HasSuffix(got, "nothing at /&lt;b&gt;") {
		t.Errorf("escaping: %q", got)
	}
	maintenance.Store(true)
	if status, body, _ := get("x", "/"); status != 503 || body != "maintenance" {
		t.Errorf("guard: %d %q", status, body)
	}
}

func TestCookiesQueryHeaders(t *testing.T) {
	t.Parallel()
	_, addr := testServer(t, Config{Headers: []string{"User-Agent", "X-Token"}}, func(s *Server, l *Listener) {
		l.Get("/", func(c *Ctx) {
			c.SetCookie(&http.Cookie{Name: "session", Value: "abc", HttpOnly: true, Path: "/"})
			c.SetHeader("X-Bad", "a\r\nInjected: yes")
			c.Text(200, fmt.Sprintf("%s|%s|%s|%s|%s|%s", c.Cookie("theme"), c.Query("q"), c.Query("sp"),
				c.Header("user-agent"), c.Header("X-Token"), c.Header("Accept")))
		})
	})
	req := "GET /?q=a%20b&sp=x+y HTTP/1.1\r\nHost: x\r\nCookie: a=1; theme=\"dark\"\r\nUser-Agent: ua/1\r\nX-Token: t\r\nAccept: */*\r\nConnection: close\r\n\r\n"
	got := exchange(t, addr, req)
	if !strings.HasSuffix(got, "dark|a b|x y|ua/1|t|") {
		t.Errorf("accessors: %q", got)
	}
	if !strings.Contains(got, "Set-Cookie: session=abc; Path=/; HttpOnly\r\n") {
		t.Errorf("set-cookie: %q", got)
	}
	if strings.Contains(got, "Injected") {
		t.Errorf("header injection went through: %q", got)
	}
}

func TestPendingReply(t *testing.T) {
	t.Parallel()
	var ids = make(chan ClientID, 10)
	s, addr := testServer(t, Config{PendingTimeout: 2 * time.Second}, func(s *Server, l *Listener) {
		l.Get("/later", func(c *Ctx) { ids <- c.Pending() })
		l.Get("/never", func(c *Ctx) { c.Pending() })
		l.Get("/now", func(c *Ctx) { c.Text(200, "now") })
	})
	c, _ := net.Dial("tcp", addr)
	defer c.Close()
	// The second request is pipelined behind the pending one: it must wait.
	io.WriteString(c, "GET /later HTTP/1.1\r\nHost: x\r\n\r\nGET /now HTTP/1.1\r\nHost: x\r\n\r\n")
	id := <-ids
	time.Sleep(50 * time.Millisecond)
	go s.Reply(id, 200, "text/plain", []byte("later"))
	resps := readResponses(t, bufio.NewReader(c), 2, "GET")
	if resps[0].StatusCode != 200 {
		t.Fatalf("first response: %d", resps[0].StatusCode)
	}
	if a, b := bodyOf(resps[0]), bodyOf(resps[1]); a != "later" || b != "now" {
		t.Errorf("order: %q %q", a, b)
	}
	c.Close()
	// The client is gone: Reply says so eventually.
	deadline := time.Now().Add(3 * time.Second)
	for s.Reply(id, 200, "", nil) != ErrGone {
		if time.Now().After(deadline) {
			t.Fatal("Reply to a closed client did not return ErrGone")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Reply(0, 200, "", nil); err != ErrGone {
		t.Errorf("Reply(0) = %v", err)
	}
	got := exchange(t, addr, "GET /never HTTP/1.1\r\nHost: x\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 504 ") {
		t.Errorf("pending timeout: %q", got)
	}
}

func TestPendingQueueWorkers(t *testing.T) {
	t.Parallel()
	q := NewPendingQueue[string](1)
	var s *Server
	block := make(chan struct{})
	s, addr := testServer(t, Config{}, func(_ *Server, l *Listener) {
		l.Any().Handle(Prefix("/job/"), func(c *Ctx) {
			if err := q.Push(c, strings.Clone(c.Path())); err != nil {
				c.Text(503, "busy")
			}
		})
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for {
			p, err := q.Recv(ctx)
			if err != nil {
				return
			}
			<-block
			s.Reply(p.ID, 200, "text/plain", []byte("done "+p.Data))
		}
	}()
	// First job is taken by the worker (blocked), second fills the queue,
	// third finds it full.
	results := make(chan string, 3)
	for i := 0; i < 3; i++ {
		go func() {
			got := exchange(t, addr, fmt.Sprintf("GET /job/%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", i))
			results <- got
		}()
		time.Sleep(100 * time.Millisecond)
	}
	busy := <-results
	if !strings.HasPrefix(busy, "HTTP/1.1 503 ") {
		t.Fatalf("want 503 first, got %q", busy)
	}
	close(block)
	for i := 0; i < 2; i++ {
		if got := <-results; !strings.Contains(got, "done /job/") {
			t.Errorf("job: %q", got)
		}
	}
}

func TestPostBodies(t *testing.T) {
	t.Parallel()
	type streamLog struct {
		start, end bool
		ok         bool
		data       bytes.Buffer
	}
	logs := make(chan *streamLog, 10)
	var cur *streamLog
	_, addr := testServer(t, Config{AllowPost: true, MaxBodySize: 1 << 16}, func(s *Server, l *Listener) {
		g := l.Any()
		g.Post(Path("/echo"), func(c *Ctx) { c.Send(200, "application/octet-stream", c.Body()) })
		g.PostStream(Path("/upload"), StreamHandler{
			OnStart: func(c *Ctx) { cur = &streamLog{start: true} },
			OnData:  func(c *Ctx, d []byte) { cur.data.Write(d) },
			OnEnd: func(c *Ctx, ok bool) {
				cur.end, cur.ok = true, ok
				logs <- cur
				if ok {
					c.Text(200, fmt.Sprintf("got %d bytes at %s", c.BodySize(), c.Path()))
				}
			},
		})
	})
	big := strings.Repeat("0123456789", 5000) // 50000 bytes: several reads
	tests := []struct {
		name, req, want string
	}{
		{"cl", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello", "hello"},
		{"cl big", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 50000\r\nConnection: close\r\n\r\n" + big, big},
		{"chunked", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n", "hello world"},
		{"empty", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", "HTTP/1.1 200"},
		{"too large cl", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n", "HTTP/1.1 413 "},
		{"too large chunked", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n11170\r\n" + strings.Repeat("a", 70000) + "\r\n0\r\n\r\n", "HTTP/1.1 413 "},
		{"bad chunk", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "HTTP/1.1 400 "},
		{"stream", "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 50000\r\nConnection: close\r\n\r\n" + big, "got 50000 bytes at /upload"},
	}
	for _, tt := range tests {
		got := exchange(t, addr, tt.req)
		if !strings.Contains(got, tt.want) && !strings.HasPrefix(got, tt.want) {
			t.Errorf("%s: got %.200q, want %.80q", tt.name, got, tt.want)
		}
	}
	if l := <-logs; !l.start || !l.end || !l.ok || l.data.String() != big {
		t.Errorf("stream callbacks: start %v end %v ok %v len %d", l.start, l.end, l.ok, l.data.Len())
	}
	// A body sent slowly, in pieces, with Expect: 100-continue.
	c, _ := net.Dial("tcp", addr)
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n")
	br := bufio.NewReader(c)
	line, _ := br.ReadString('\n')
	if line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("expect: %q", line)
	}
	br.ReadString('\n')
	for _, p := range []string{"01234", "567", "89"} {
		io.WriteString(c, p)
		time.Sleep(20 * time.Millisecond)
	}
	resp := readResponses(t, br, 1, "POST")[0]
	if b := bodyOf(resp); b != "0123456789" {
		t.Errorf("slow body: %q", b)
	}
	// A stream whose client goes away: OnEnd(false).
	c2, _ := net.Dial("tcp", addr)
	io.WriteString(c2, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part")
	time.Sleep(50 * time.Millisecond)
	c2.Close()
	select {
	case l := <-logs:
		if !l.end || l.ok || l.data.String() != "only part" {
			t.Errorf("aborted stream: end %v ok %v data %q", l.end, l.ok, l.data.String())
		}
	case <-time.After(3 * time.Second):
		t.Error("OnEnd not called for an aborted stream")
	}
}

func TestTimeouts(t *testing.T) {
	t.Parallel()
	_, addr := testServer(t, Config{ReadTimeout: time.Second, IdleTimeout: time.Second}, func(s *Server, l *Listener) {
		l.Get("/", hello)
	})
	start := time.Now()
	got := exchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	if !strings.HasPrefix(got, "HTTP/1.1 408 ") {
		t.Errorf("slow head: %q", got)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("slow head closed after %v", d)
	}
	// Idle keep-alive connections are closed.
	c, _ := net.Dial("tcp", addr)
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetDeadline(time.Now().Add(5 * time.Second))
	all, err := io.ReadAll(c)
	if err != nil || !strings.HasSuffix(string(all), "Hello, World!") {
		t.Errorf("idle close: %q %v", all, err)
	}
}

func TestClientMax(t *testing.T) {
	t.Parallel()
	s, addr := testServer(t, Config{ClientMax: 2, Workers: 1}, func(s *Server, l *Listener) { l.Get("/", hello) })
	var conns []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		readResponses(t, bufio.NewReader(c), 1, "GET")
		conns = append(conns, c)
	}
	got := exchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 503 ") {
		t.Errorf("over clientMax: %q", got)
	}
	if s.Stats().Refused != 1 {
		t.Errorf("refused = %d", s.Stats().Refused)
	}
	conns[0].Close()
	deadline := time.Now().Add(3 * time.Second)
	for s.Stats().Open > 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := exchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); !strings.HasSuffix(got, "Hello, World!") {
		t.Errorf("after a close: %q", got)
	}
}

func TestStaticContent(t *testing.T) {
	t.Parallel()
	page := strings.Repeat("<p>edge serves this from memory</p>\n", 100)
	ct := static.New([]byte(page), "html")
	_, addr := testServer(t, Config{}, func(s *Server, l *Listener) {
		l.Any().Content(ct, "/", "/index.html")
	})
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Header.Set("Accept-Encoding", "gzip;q=1, br;q=0")
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Vary") != "Accept-Encoding" || resp.Header.Get("ETag") != ct.ETag {
		t.Fatalf("headers: %v", resp.Header)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(zr); string(b) != page {
		t.Errorf("gzip body differs")
	}
	got := exchange(t, addr, "GET /index.html HTTP/1.1\r\nHost: x\r\nIf-None-Match: W/"+ct.ETag+"\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 304 ") || strings.Contains(got, "Content-Length") {
		t.Errorf("304: %q", got)
	}
}

func TestStaticLargeBodyByReference(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("x"), 3<<20) // written by reference, in many writes
	ct := static.New(big, "application/octet-stream")
	_, addr := testServer(t, Config{}, func(s *Server, l *Listener) { l.Any().Content(ct, "/big") })
	c, _ := net.Dial("tcp", addr)
	defer c.Close()
	io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetDeadline(time.Now().Add(10 * time.Second))
	time.Sleep(200 * time.Millisecond) // let the socket buffer fill: partial writes
	for _, r := range readResponses(t, bufio.NewReader(c), 2, "GET") {
		if b := bodyOf(r); len(b) != len(big) {
			t.Fatalf("body %d bytes", len(b))
		}
	}
}

func TestUnixAndIPv6Listeners(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "edge.sock")
	cfg := Config{Logger: slog.New(slog.DiscardHandler), Workers: 1}
	s := New(&cfg)
	s.Listen("unix", sock).Get("/", hello)
	v6 := s.Listen("tcp6", "[::1]:0")
	v6.Get("/", func(c *Ctx) { c.Text(200, c.RemoteAddr().Addr().String()) })
	if err := s.Start(); err != nil {
		if strings.Contains(err.Error(), "::1") && os.Getenv("CI") == "" {
			t.Skip("no IPv6 loopback here: ", err)
		}
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if b, _ := io.ReadAll(c); !strings.HasSuffix(string(b), "Hello, World!") {
		t.Errorf("unix: %q", b)
	}
	got := exchange(t, v6.Addr().String(), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if !strings.HasSuffix(got, "::1") {
		t.Errorf("ipv6: %q", got)
	}
}

func TestDetach(t *testing.T) {
	t.Parallel()
	_, addr := testServer(t, Config{}, func(s *Server, l *Listener) {
		l.Get("/raw", func(c *Ctx) {
			c.Text(200, "switching")
			c.Detach(func(ctx context.Context, nc net.Conn, buffered []byte) {
				nc.Write([]byte("\nbuffered:" + string(buffered) + "\n"))
				io.Copy(nc, nc) // echo until the client closes
			})
		})
	})
	c, _ := net.Dial("tcp", addr)
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /raw HTTP/1.1\r\nHost: x\r\n\r\nearly")
	br := bufio.NewReader(c)
	readResponses(t, br, 1, "GET")
	br.ReadString('\n')
	line, _ := br.ReadString('\n')
	if line != "buffered:early\n" {
		t.Fatalf("buffered: %q", line)
	}
	io.WriteString(c, "ping\n")
	if line, _ := br.ReadString('\n'); line != "ping\n" {
		t.Errorf("echo: %q", line)
	}
}

func TestShutdownGraceful(t *testing.T) {
	t.Parallel()
	quit := make(chan struct{})
	ids := make(chan ClientID, 1)
	cfg := Config{Logger: slog.New(slog.DiscardHandler), Workers: 2, OnQuit: func() { close(quit) }}
	s := New(&cfg)
	l := s.Listen("tcp", "127.0.0.1:0")
	l.Get("/", hello)
	l.Get("/slow", func(c *Ctx) { ids <- c.Pending() })
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	idle, _ := net.Dial("tcp", addr)
	defer idle.Close()
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	readResponses(t, bufio.NewReader(idle), 1, "GET")
	busy, _ := net.Dial("tcp", addr)
	defer busy.Close()
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	id := <-ids
	done := make(chan error)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	<-quit
	// The idle connection is closed, new ones are refused, the busy one
	// still gets its answer.
	idle.SetDeadline(time.Now().Add(3 * time.Second))
	if n, err := idle.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("idle connection still open: %d %v", n, err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("listener still accepting")
	}
	if err := s.Reply(id, 200, "text/plain", []byte("finished")); err != nil {
		t.Fatal(err)
	}
	busy.SetDeadline(time.Now().Add(3 * time.Second))
	all, _ := io.ReadAll(busy)
	if !strings.HasSuffix(string(all), "finished") || !strings.Contains(string(all), "Connection: close") {
		t.Errorf("in-flight request: %q", all)
	}
	if err := <-done; err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

func TestServerErrors(t *testing.T) {
	t.Parallel()
	s := New(&Config{Logger: slog.New(slog.DiscardHandler)})
	if err := s.Start(); err == nil {
		t.Error("Start with no listeners succeeded")
	}
	_, addr := testServer(t, Config{}, func(s *Server, l *Listener) {})
	s2 := New(&Config{Logger: slog.New(slog.DiscardHandler)})
	s2.Listen("tcp", addr)
	err := s2.Start()
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Errorf("second bind: %v", err)
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("error does not wrap the net error: %v", err)
	}
}

// BenchmarkServerGET measures a keep-alive GET through the whole server:
// socket read, parse, route, respond, socket write. The allocation count
// covers client and server and must be 0.
func BenchmarkServerGET(b *testing.B) {
	benchmarkGET(b, Config{HeaderServer: true, HeaderDate: true, Workers: 1})
}

func benchmarkGET(b *testing.B, cfg Config) {
	_, addr := testServer(b, cfg, func(s *Server, l *Listener) {
		l.Get("/", hello)
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: bench\r\nAccept: */*\r\nAccept-Encoding: gzip\r\nAccept-Language: en\r\nCache-Control: no-cache\r\nConnection: keep-alive\r\nCookie: a=b\r\nPragma: no-cache\r\nReferer: http://localhost/\r\n\r\n")
	buf := make([]byte, 4096)
	// One warm-up exchange tells the response size.
	c.Write(req)
	n, _ := c.Read(buf)
	size := n
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		got := 0
		for got < size {
			n, err := c.Read(buf[got:])
			if err != nil {
				b.Fatal(err)
			}
			got += n
		}
	}
}
