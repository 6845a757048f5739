package edge

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edge-rt/edge/observe"
)

// The TLS phase's handshake on both paths: with -tags openssl the engine
// drives OpenSSL sessions on the loop (phase_tls_session.go), otherwise a
// goroutine per handshake runs crypto/tls. Real clients over loopback.

// errCaptured ends a handshake whose ClientHello was captured.
var errCaptured = errors.New("captured")

// helloCapture is a net.Conn that keeps what a TLS client writes first
// and fails it.
type helloCapture struct {
	net.Conn
	hello []byte
}

func (h *helloCapture) Write(p []byte) (int, error) {
	h.hello = append(h.hello, p...)
	return 0, errCaptured
}

func (h *helloCapture) Read([]byte) (int, error) { return 0, errCaptured }
func (h *helloCapture) Close() error             { return nil }

// clientHello returns the bytes of a crypto/tls client's ClientHello for
// name (TLS 1.3 and 1.2 offered).
func clientHello(t testing.TB, name string) []byte {
	t.Helper()
	h := &helloCapture{}
	tls.Client(h, &tls.Config{ServerName: name, NextProtos: []string{"http/1.1"}}).Handshake()
	if len(h.hello) < 100 || h.hello[0] != 22 {
		t.Fatalf("captured ClientHello: % x", h.hello)
	}
	return h.hello
}

// hangMidHandshake opens a connection, sends hello and reads the server's
// first flight (the server then waits for the client's Finished, which
// never comes). No goroutine on the client side.
func hangMidHandshake(t testing.TB, addr string, hello []byte) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(hello); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil || b[0] != 22 {
		t.Fatalf("server's first flight: %v (record type %d)", err, b[0])
	}
	return c
}

// waitOpen polls the server's open connection count until it is n.
func waitOpen(t testing.TB, s *Server, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Open != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open, want %d", s.Stats().Open, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// On the session path a handshake holds no goroutine: 200 clients stopped
// in the middle of theirs (after the server's first flight) leave the
// goroutine count where it was. On the goroutine path each would hold one.
func TestTLSSessionHandshakesHoldNoGoroutine(t *testing.T) {
	if !testSessions {
		t.Skip("the goroutine path holds a goroutine per handshake; the loop path needs -tags openssl")
	}
	cert, _ := selfSigned(t, "a.test")
	s, addr := testServer(t, Config{Workers: 1}, func(s *Server, l *Listener) {
		l.TLS(TLSConfig{Server: testTLS{&tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}}, HandshakeTimeout: time.Minute})
		l.Get("/", hello)
	})
	hello := clientHello(t, "a.test")
	runtime.GC()
	base := runtime.NumGoroutine()
	peak := base
	const n = 200
	for i := 0; i < n; i++ {
		c := hangMidHandshake(t, addr, hello)
		defer c.Close()
		peak = max(peak, runtime.NumGoroutine())
	}
	waitOpen(t, s, n)
	// Sample for a while: nothing may start late either.
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		peak = max(peak, runtime.NumGoroutine())
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("goroutines: %d before, at most %d with %d handshakes in progress", base, peak, n)
	if peak > base+10 {
		t.Fatalf("goroutines went from %d to %d with %d handshakes in progress: one per handshake", base, peak, n)
	}
	if st := s.Stats(); st.TLSHandshakes != 0 {
		t.Fatalf("%d handshakes completed, want none (all stopped midway)", st.TLSHandshakes)
	}
}

// A handshake that does not finish within HandshakeTimeout is closed,
// counted as a handshake error and reported to the observer, even when
// the client keeps trickling bytes.
func TestTLSSlowHandshakeTimesOut(t *testing.T) {
	t.Parallel()
	rec := &recorder{closed: map[string]int{}}
	cert, _ := selfSigned(t, "a.test")
	s, addr := testServer(t, Config{Observer: rec}, func(s *Server, l *Listener) {
		l.TLS(TLSConfig{Server: testTLS{&tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}}, HandshakeTimeout: time.Second})
		l.Get("/", hello)
	})
	hello := clientHello(t, "a.test")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		io.Copy(io.Discard, c)
		closed <- time.Since(start)
	}()
	// One byte every 50 ms: the whole hello would take seconds.
	var took time.Duration
trickle:
	for _, b := range hello {
		if _, err := c.Write([]byte{b}); err != nil {
			break
		}
		select {
		case took = <-closed:
			break trickle
		case <-time.After(50 * time.Millisecond):
		}
	}
	if took == 0 {
		took = <-closed
	}
	t.Logf("handshake trickling 1 byte / 50 ms closed after %v (timeout 1 s)", took)
	if took < 900*time.Millisecond || took > 10*time.Second {
		t.Fatalf("slow handshake closed after %v, want the 1 s timeout", took)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec.mu.Lock()
		hs := append([]observe.Handshake(nil), rec.handshakes...)
		rec.mu.Unlock()
		if len(hs) == 1 && s.Stats().TLSHandshakeErrors == 1 && s.Stats().Open == 0 {
			if hs[0].Err == nil {
				t.Fatalf("handshake event without an error: %+v", hs[0])
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("handshake events %+v, stats %+v", hs, s.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Shutdown closes connections in their handshake at once (they carry no
// request): it returns without waiting for the handshake timeout, the
// clients see the close and every descriptor is released.
func TestShutdownClosesHandshakesInProgress(t *testing.T) {
	base := openFDs(t)
	cert, _ := selfSigned(t, "a.test")
	s := New(&Config{Workers: 2, Logger: discard()})
	l := s.Listen("tcp", "127.0.0.1:0")
	l.TLS(TLSConfig{Server: testTLS{&tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}}, HandshakeTimeout: time.Minute})
	l.Get("/", hello)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	hello := clientHello(t, "a.test")
	const n = 20
	var conns []net.Conn
	for i := 0; i < n; i++ {
		c := hangMidHandshake(t, addr, hello)
		defer c.Close()
		conns = append(conns, c)
	}
	waitOpen(t, s, n)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Shutdown took %v with handshakes in progress", d)
	}
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
			t.Fatalf("client %d: %v, want the server's close", i, err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for openFDs(t) > base+n+2 || s.Stats().Open != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d descriptors open after shutdown (%d before, %d client sockets), %d connections counted open", openFDs(t), base, n, s.Stats().Open)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A response with Connection: close ends with the server's close_notify:
// the client's Read returns io.EOF, not a truncation error.
func TestTLSCloseNotifyOnCleanClose(t *testing.T) {
	t.Parallel()
	_, addr, pool := tlsTestServer(t, Config{}, func(s *Server, l *Listener) { l.Get("/", hello) })
	c := tlsDial(t, addr, "a.test", pool)
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
	r := bufio.NewReader(c)
	readResponses(t, r, 1, "GET")
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("after the response: %v, want io.EOF (close_notify)", err)
	}
}

// Takeover over a TLS listener gets the decrypted stream on both paths
// (on the loop path, a blocking net.Conn over the session), with reads
// and writes from two goroutines at once.
func TestTLSTakeoverBothWays(t *testing.T) {
	t.Parallel()
	_, addr, pool := tlsTestServer(t, Config{}, func(s *Server, l *Listener) {
		l.Get("/tunnel", func(c *Ctx) {
			c.Takeover(func(ctx context.Context, tk *Takeover) {
				defer tk.Conn.Close()
				io.WriteString(tk.Conn, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
				var wg sync.WaitGroup
				lines := make(chan string, 16)
				wg.Add(1)
				go func() { // writer
					defer wg.Done()
					for l := range lines {
						io.WriteString(tk.Conn, strings.ToUpper(l))
					}
				}()
				br := bufio.NewReader(tk.Conn)
				for {
					l, err := br.ReadString('\n')
					if err != nil || l == "quit\n" {
						break
					}
					lines <- l
				}
				close(lines)
				wg.Wait()
			})
		})
	})
	c := tlsDial(t, addr, "a.test", pool)
	defer c.Close()
	io.WriteString(c, "GET /tunnel HTTP/1.1\r\nHost: a.test\r\n\r\n")
	r := bufio.NewReader(c)
	readResponses(t, r, 1, "GET")
	big := strings.Repeat("x", 40000) + "\n"
	for i := 0; i < 5; i++ {
		io.WriteString(c, big)
		got, err := r.ReadString('\n')
		if err != nil || got != strings.ToUpper(big) {
			t.Fatalf("echo %d: %d bytes, %v", i, len(got), err)
		}
	}
	io.WriteString(c, "quit\n")
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("after quit: %v, want io.EOF (close_notify)", err)
	}
}
