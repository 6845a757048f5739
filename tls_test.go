package edge

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/edge-rt/edge/static"
	"github.com/edge-rt/edge/tlsbackend"
)

// testTLS is a minimal crypto/tls backend for the engine's own tests.
type testTLS struct{ cfg *tls.Config }

func (s testTLS) Conn(c net.Conn) tlsbackend.Conn { return testTLSConn{tls.Server(c, s.cfg)} }
func (s testTLS) Close() error                    { return nil }

type testTLSConn struct{ *tls.Conn }

func (c testTLSConn) State() tlsbackend.State {
	st := c.ConnectionState()
	return tlsbackend.State{Version: st.Version, ServerName: st.ServerName, NegotiatedProtocol: st.NegotiatedProtocol}
}

func selfSigned(t testing.TB, names ...string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func tlsTestServer(t testing.TB, cfg Config, setup func(s *Server, l *Listener)) (*Server, string, *x509.CertPool) {
	t.Helper()
	cert, pool := selfSigned(t, "a.test", "b.test")
	ts := testTLS{&tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}}
	s, addr := testServer(t, cfg, func(s *Server, l *Listener) {
		l.TLS(TLSConfig{Server: ts, HandshakeTimeout: 2 * time.Second})
		setup(s, l)
	})
	return s, addr, pool
}

func tlsDial(t testing.TB, addr, name string, pool *x509.CertPool) *tls.Conn {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: name, RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

func TestTLSRequests(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<17) // 2 MiB, several TLS records and partial writes
	ct := static.New(big, "application/octet-stream")
	s, addr, pool := tlsTestServer(t, Config{AllowPost: true}, func(s *Server, l *Listener) {
		l.Get("/", hello)
		l.Any().Content(ct, "/big")
		l.Any().Post(Path("/echo"), func(c *Ctx) { c.Send(200, "application/octet-stream", c.Body()) })
		l.Get("/later", func(c *Ctx) {
			id := c.Pending()
			go func() { time.Sleep(20 * time.Millisecond); s.Reply(id, 200, "text/plain", []byte("later")) }()
		})
	})
	addr0 := addr
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr0)
		},
	}}
	addr = "a.test"
	for i := 0; i < 20; i++ {
		resp, err := client.Get("https://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		if b := bodyOf(resp); b != "Hello, World!" {
			t.Fatalf("body %q", b)
		}
		resp.Body.Close()
	}
	resp, err := client.Get("https://" + addr + "/big")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); !bytes.Equal(b, big) {
		t.Fatalf("big body: %d bytes", len(b))
	}
	resp.Body.Close()
	body := strings.Repeat("x", 200000)
	resp, err = client.Post("https://"+addr+"/echo", "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if b := bodyOf(resp); b != body {
		t.Fatalf("echo: %d bytes", len(b))
	}
	resp.Body.Close()
	// Pipelined, with an async reply in the middle.
	c := tlsDial(t, addr0, "a.test", pool)
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\nGET /later HTTP/1.1\r\nHost: a.test\r\n\r\nGET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
	rs := readResponses(t, bufio.NewReader(c), 3, "GET")
	if got := bodyOf(rs[0]) + "|" + bodyOf(rs[1]) + "|" + bodyOf(rs[2]); got != "Hello, World!|later|Hello, World!" {
		t.Errorf("pipelined: %q", got)
	}
	if st := s.Stats(); st.TLSHandshakes == 0 {
		t.Errorf("stats: %+v", st)
	}
}

func TestTLSMisdirected(t *testing.T) {
	t.Parallel()
	_, addr, pool := tlsTestServer(t, Config{}, func(s *Server, l *Listener) { l.Get("/", hello) })
	for _, tt := range []struct {
		sni, host string
		status    int
	}{
		{"a.test", "a.test", 200},
		{"a.test", "A.TEST:443", 200},
		{"a.test", "b.test", 421},
	} {
		c := tlsDial(t, addr, tt.sni, pool)
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", tt.host)
		r := readResponses(t, bufio.NewReader(c), 1, "GET")[0]
		if r.StatusCode != tt.status {
			t.Errorf("sni %s host %s: %d, want %d", tt.sni, tt.host, r.StatusCode, tt.status)
		}
		c.Close()
	}
}

func TestTLSHandshakeTimeoutAndIdleCost(t *testing.T) {
	t.Parallel()
	s, addr, pool := tlsTestServer(t, Config{}, func(s *Server, l *Listener) { l.Get("/", hello) })
	// A client that never sends its ClientHello is dropped on time.
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	start := time.Now()
	raw.SetDeadline(time.Now().Add(5 * time.Second))
	if n, err := raw.Read(make([]byte, 1)); n != 0 || err == nil || time.Since(start) > 4500*time.Millisecond {
		t.Errorf("stalled handshake: %d %v after %v", n, err, time.Since(start))
	}
	if s.Stats().TLSHandshakeErrors == 0 {
		t.Error("handshake timeout not counted")
	}
	// Idle TLS connections hold no goroutine once their handshake is done.
	base := runtime.NumGoroutine()
	for i := 0; i < 50; i++ {
		c := tlsDial(t, addr, "a.test", pool)
		defer c.Close()
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
		readResponses(t, bufio.NewReader(c), 1, "GET")
	}
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > base+5 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > base+5 {
		t.Errorf("%d goroutines for 50 idle TLS connections (base %d)", g, base)
	}
}
