package edge

import (
	"crypto/tls"
	"io"
	"net"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/edge-rt/edge/ja4"
	"github.com/edge-rt/edge/sni"
)

// With TLSConfig.JA4 the engine fingerprints each client from the
// ClientHello its transport read; the value equals ja4 of the same bytes
// captured independently by a relay in front of edge.
func TestJA4OnTerminatedTLS(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t, "a.test")
	got := make(chan string, 4)
	_, addr := testServer(t, Config{}, func(s *Server, l *Listener) {
		l.TLS(TLSConfig{Server: testTLS{&tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}}, JA4: true})
		l.Get("/", func(c *Ctx) { got <- c.JA4(); c.Text(200, c.JA4()) })
	})
	// The relay records what the client sends first.
	rl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	var mu sync.Mutex
	var first []byte
	go func() {
		c, err := rl.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		up, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		defer up.Close()
		go io.Copy(c, up)
		buf := make([]byte, 16<<10)
		for {
			n, err := c.Read(buf)
			mu.Lock()
			if len(first) < sni.MaxHelloBytes {
				first = append(first, buf[:n]...)
			}
			mu.Unlock()
			if _, werr := up.Write(buf[:n]); werr != nil || err != nil {
				return
			}
		}
	}()
	c, err := tls.Dial("tcp", rl.Addr().String(), &tls.Config{ServerName: "a.test", RootCAs: pool, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
	fp := <-got
	if !regexp.MustCompile(`^t13d\d{4}h1_[0-9a-f]{12}_[0-9a-f]{12}$`).MatchString(fp) {
		t.Fatalf("JA4 %q is not a JA4 for a TLS 1.3 client with SNI offering http/1.1", fp)
	}
	mu.Lock()
	h, err := sni.ParseClientHello(first)
	mu.Unlock()
	if err != nil {
		t.Fatalf("relay's capture: %v", err)
	}
	if want := ja4.Fingerprint(h, ja4.TCP); fp != want {
		t.Fatalf("engine JA4 %q, from the relay's capture %q", fp, want)
	}
}
