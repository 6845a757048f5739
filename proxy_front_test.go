package edge

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edge-rt/edge/observe"
	"github.com/edge-rt/edge/proxy"
	proxyproto "github.com/pires/go-proxyproto"
)

// passthroughServer starts a TLS edge passing pass.test through to back
// and terminating a.test itself.
func passthroughServer(t *testing.T, back string) (*Server, string, *tls.Config) {
	t.Helper()
	edgeCert, edgePool := selfSigned(t, "a.test")
	ts := testTLS{&tls.Config{Certificates: []tls.Certificate{edgeCert}}}
	s, addr := testServer(t, Config{}, func(s *Server, l *Listener) {
		l.TLS(TLSConfig{Server: ts, HandshakeTimeout: 2 * time.Second})
		l.Passthrough("pass.test", &proxy.Route{To: []string{back}})
		l.Passthrough("*.wild.test", &proxy.Route{To: []string{back}})
		l.Any().Get("/", hello)
	})
	return s, addr, &tls.Config{RootCAs: edgePool}
}

// TestProxyPassthroughMixed: on one TLS port, hosts passed through reach
// a backend that terminates TLS itself (the client sees the backend's
// certificate), spliced, while another host is terminated by edge.
func TestProxyPassthroughMixed(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t, "pass.test", "x.wild.test")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	back := &http.Server{Handler: named("P")}
	go back.Serve(ln)
	t.Cleanup(func() { back.Close() })
	s, addr, edgeTLS := passthroughServer(t, ln.Addr().String())
	client := func(name string, roots *tls.Config) *http.Client {
		cfg := roots.Clone()
		cfg.ServerName = name
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
	}
	for _, tc := range []struct {
		name  string
		roots *tls.Config
		want  string
	}{
		{"pass.test", &tls.Config{RootCAs: pool}, "P GET /x body=0"},
		{"x.wild.test", &tls.Config{RootCAs: pool}, "P GET /x body=0"},
		{"a.test", edgeTLS, "Hello, World!"},
	} {
		path := "/x"
		if tc.name == "a.test" {
			path = "/"
		}
		req, _ := http.NewRequest("GET", "https://"+addr+path, nil)
		req.Host = tc.name
		resp, err := client(tc.name, tc.roots).Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != tc.want {
			t.Fatalf("%s: %q, want %q", tc.name, b, tc.want)
		}
	}
	if st := s.Stats(); st.UpSplices == 0 {
		t.Errorf("passthrough bytes did not move with splice: %+v", st)
	}
}

// TestProxyProtocolIn: a listener accepting PROXY headers from trusted
// sources takes the client address they carry (v1 and v2); an untrusted
// source, or a trusted one without a header, is refused.
func TestProxyProtocolIn(t *testing.T) {
	t.Parallel()
	mk := func(trust ...netip.Prefix) string {
		_, addr := testServer(t, Config{}, func(s *Server, l *Listener) {
			l.AcceptProxyProtocol(trust...)
			l.Any().Get("/who", func(c *Ctx) { c.Text(200, c.RemoteAddr().String()) })
		})
		return addr
	}
	trusted := mk(netip.MustParsePrefix("127.0.0.0/8"))
	untrusted := mk(netip.MustParsePrefix("10.0.0.0/8"))
	src := &net.TCPAddr{IP: net.ParseIP("203.0.113.7"), Port: 4242}
	dst := &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 443}
	v1 := proxyproto.HeaderProxyFromAddrs(1, src, dst)
	v2 := proxyproto.HeaderProxyFromAddrs(2, src, dst)
	for _, tc := range []struct {
		name, addr string
		hdr        *proxyproto.Header
		want       string // "" = refused
	}{
		{"v1", trusted, v1, "203.0.113.7:4242"},
		{"v2", trusted, v2, "203.0.113.7:4242"},
		{"missing", trusted, nil, ""},
		{"untrusted", untrusted, v2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if tc.hdr != nil {
				raw, _ := tc.hdr.Format()
				// Split the header: the reader must wait for the rest.
				c.Write(raw[:5])
				time.Sleep(20 * time.Millisecond)
				c.Write(raw[5:])
			}
			io.WriteString(c, "GET /who HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
			b, _ := io.ReadAll(c)
			got := string(b)
			if tc.want == "" {
				if strings.Contains(got, "HTTP/1.1 200") {
					t.Fatalf("served: %q", got)
				}
				return
			}
			if !strings.HasSuffix(got, tc.want) {
				t.Fatalf("got %q, want the address %s", got, tc.want)
			}
		})
	}
}

// TestProxyProtocolOut: a route sending PROXY v1/v2 gives the backend the
// client's address first on each new connection; X-Forwarded-For agrees.
func TestProxyProtocolOut(t *testing.T) {
	t.Parallel()
	type seen struct{ src, xff string }
	got := make(chan seen, 8)
	back := rawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		h, err := proxyproto.Read(br)
		if err != nil {
			got <- seen{src: "error: " + err.Error()}
			return
		}
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			got <- seen{src: h.SourceAddr.String(), xff: req.Header.Get("X-Forwarded-For")}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	for _, v := range []proxy.ProxyProtocol{proxy.ProxyV1, proxy.ProxyV2} {
		_, addr := testServer(t, Config{}, func(s *Server, l *Listener) {
			l.Any().Proxy(Prefix("/"), &proxy.Route{To: []string{back}, ProxyProtocol: v, ForwardedFor: true})
		})
		c := proxyDial(t, addr, nil)
		local := c.LocalAddr().String()
		br := bufio.NewReader(c)
		for i := 0; i < 2; i++ {
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			readResponses(t, br, 1, "GET")
			s := <-got
			if s.src != local || s.xff != "127.0.0.1" {
				t.Fatalf("%v: backend saw %+v, want source %s", v, s, local)
			}
		}
		c.Close()
	}
}

// TestProxyBalancing: round robin alternates; a Director can pick, add
// headers and reject.
func TestProxyBalancing(t *testing.T) {
	t.Parallel()
	a := httpBackend(t, "tcp", named("A"))
	b := httpBackend(t, "tcp", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "B %s", r.Header.Get("X-Tenant"))
	}))
	rr := &proxy.Route{To: []string{a, b}}
	directed := &proxy.Route{To: []string{a, b}}
	directed.Director = func(req *proxy.Request, extra []byte) (*proxy.Backend, []byte, int) {
		if strings.HasSuffix(string(req.Target), "/deny") {
			return nil, extra, 403
		}
		return directed.Backends()[1], append(extra, "X-Tenant: t1\r\n"...), 0
	}
	_, addr := testServer(t, Config{}, func(s *Server, l *Listener) {
		l.Any().Proxy(Prefix("/rr/"), rr).Proxy(Prefix("/d/"), directed)
	})
	c := proxyDial(t, addr, nil)
	defer c.Close()
	br := bufio.NewReader(c)
	var seq []string
	for i := 0; i < 4; i++ {
		io.WriteString(c, "GET /rr/x HTTP/1.1\r\nHost: a\r\n\r\n")
		seq = append(seq, bodyOf(readResponses(t, br, 1, "GET")[0])[:1])
	}
	if s := strings.Join(seq, ""); s != "ABAB" && s != "BABA" {
		t.Fatalf("round robin served %s", s)
	}
	io.WriteString(c, "GET /d/x HTTP/1.1\r\nHost: a\r\n\r\nGET /d/deny HTTP/1.1\r\nHost: a\r\n\r\n")
	rs := readResponses(t, br, 2, "GET")
	if got := bodyOf(rs[0]); got != "B t1" {
		t.Fatalf("director: %q", got)
	}
	if rs[1].StatusCode != 403 {
		t.Fatalf("director reject: %d", rs[1].StatusCode)
	}
}

// TestProxyHealthCheck: an active check marks a backend down (requests go
// to the other) and up again.
func TestProxyHealthCheck(t *testing.T) {
	t.Parallel()
	var healthy atomic.Bool
	healthy.Store(true)
	a := httpBackend(t, "tcp", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && !healthy.Load() {
			w.WriteHeader(503)
			return
		}
		io.WriteString(w, "A")
	}))
	b := httpBackend(t, "tcp", named("B"))
	r := &proxy.Route{To: []string{a, b}, HealthCheck: &proxy.HealthCheck{Interval: 50 * time.Millisecond, Timeout: time.Second, Path: "/healthz"},
		Logger: slog.New(slog.DiscardHandler)}
	ev := &proxyEvents{}
	_, addr := testServer(t, Config{Observer: ev}, func(s *Server, l *Listener) {
		l.Any().Proxy(Prefix("/"), r)
	})
	only := func(want string) bool {
		for i := 0; i < 4; i++ {
			got := exchange(t, addr, "GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
			if i := strings.Index(got, "\r\n\r\n"); i < 0 || got[i+4:i+5] != want {
				return false
			}
		}
		return true
	}
	healthy.Store(false)
	if !hostileWait(10*time.Second, func() bool { return only("B") }) {
		t.Fatal("the unhealthy backend still serves")
	}
	healthy.Store(true)
	if !hostileWait(10*time.Second, func() bool { return !only("B") }) {
		t.Fatal("the backend did not come back")
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	// At least one of each (a connect already under way when the check
	// took the backend out may report it up again from the passive side).
	if ev.down < 1 || ev.up < 1 {
		t.Errorf("observed %d down and %d up transitions, want at least 1 of each", ev.down, ev.up)
	}
}

// trickleConn writes its first n bytes one small piece at a time, so the
// ClientHello reaches edge over many TCP segments.
type trickleConn struct {
	net.Conn
	n int
}

func (c *trickleConn) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) && c.n > 0 {
		k := min(7, len(p)-done, c.n)
		if _, err := c.Conn.Write(p[done : done+k]); err != nil {
			return done, err
		}
		done += k
		c.n -= k
		time.Sleep(time.Millisecond)
	}
	if done < len(p) {
		m, err := c.Conn.Write(p[done:])
		return done + m, err
	}
	return done, nil
}

// TestProxyPassthroughSplitHello: a ClientHello trickling in over many
// segments (a post-quantum key share makes it ~1.8 KB) is read whole, then
// replayed to the backend.
func TestProxyPassthroughSplitHello(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t, "pass.test")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	back := &http.Server{Handler: named("P")}
	go back.Serve(ln)
	t.Cleanup(func() { back.Close() })
	_, addr, _ := passthroughServer(t, ln.Addr().String())
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(20 * time.Second))
	c := tls.Client(&trickleConn{Conn: raw, n: 4096}, &tls.Config{ServerName: "pass.test", RootCAs: pool})
	io.WriteString(c, "GET /split HTTP/1.1\r\nHost: pass.test\r\nConnection: close\r\n\r\n")
	b, err := io.ReadAll(c)
	if err != nil || !strings.HasSuffix(string(b), "P GET /split body=0") {
		t.Fatalf("%q, %v", b, err)
	}
}

// proxyEvents records an observer's proxy events.
type proxyEvents struct {
	observe.Nop
	mu                sync.Mutex
	down, up, errs, n int
}

func (p *proxyEvents) BackendUp(backend string, up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if up {
		p.up++
	} else {
		p.down++
	}
}

func (p *proxyEvents) BackendConnectError(backend string) {
	p.mu.Lock()
	p.errs++
	p.mu.Unlock()
}

func (p *proxyEvents) UpstreamLatency(backend string, d time.Duration) {
	p.mu.Lock()
	if d > 0 {
		p.n++
	}
	p.mu.Unlock()
}

// TestProxyObserved: an observer implementing observe.ProxyObserver is told
// of connect errors, a backend going down, and each response's latency.
func TestProxyObserved(t *testing.T) {
	t.Parallel()
	good := httpBackend(t, "tcp", named("G"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	ev := &proxyEvents{}
	_, addr := testServer(t, Config{Observer: ev}, func(s *Server, l *Listener) {
		l.Any().Proxy(Prefix("/"), &proxy.Route{To: []string{dead, good}})
	})
	c := proxyDial(t, addr, nil)
	defer c.Close()
	br := bufio.NewReader(c)
	for i := 0; i < 4; i++ {
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		if r := readResponses(t, br, 1, "GET")[0]; r.StatusCode != 200 {
			t.Fatalf("status %d", r.StatusCode)
		}
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if ev.errs == 0 || ev.down != 1 || ev.n != 4 {
		t.Fatalf("events: %d connect errors, %d down, %d latencies; want >0, 1, 4", ev.errs, ev.down, ev.n)
	}
}
