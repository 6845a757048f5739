//go:build openssl

package edge

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edge-rt/edge/tlsbackend/openssl/ossltest"
)

// leakChildEnv names the test a child process runs (see inChild).
const leakChildEnv = "EDGE_TLS_LEAK_CHILD"

// inChild runs the calling test in a fresh test process, so that its
// memory figures are its own: true in the child (go on with the body),
// false in the parent, which fails if the child did and logs its figures.
func inChild(t *testing.T, timeout time.Duration) bool {
	t.Helper()
	if os.Getenv(leakChildEnv) == t.Name() {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), leakChildEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("child test process failed (%v):\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "_leak_test.go:") {
			t.Log(strings.TrimSpace(line))
		}
	}
	return false
}

// memFigures are a process's memory figures after settling (GC, Go's
// free memory and the C heap's returned to the system).
type memFigures struct {
	rss, cheap, goHeap uint64
}

func settledMemory(t testing.TB) memFigures {
	t.Helper()
	ossltest.Settle()
	rss, err := ossltest.RSS()
	if err != nil {
		t.Skip(err)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memFigures{rss: rss, cheap: ossltest.CHeapInUse(), goHeap: ms.HeapInuse}
}

func (m memFigures) String() string {
	return fmt.Sprintf("RSS %.1f MiB, C heap %.1f MiB, Go heap %.1f MiB", float64(m.rss)/(1<<20), float64(m.cheap)/(1<<20), float64(m.goHeap)/(1<<20))
}

// tlsLeakBounds are how far memory may stay above its baseline after the
// loop of handshakes: a leaked SSL per handshake would be ~60 MiB over
// 10,000, a leaked session struct or handle ~2 MiB of Go heap.
const (
	leakRSSBound   = 12 << 20
	leakCHeapBound = 1 << 20
	leakGoBound    = 1 << 20
)

// 10,000 handshakes through the engine on OpenSSL sessions (full TLS 1.3
// and 1.2, resumed with tickets, and clients that give up mid-handshake),
// each with a request, 8 at a time: afterwards the C heap, the Go heap and
// the process's RSS return to within the bounds above of what they were
// after a warm-up, so a leak in the cgo layer or the session path fails
// here. In a child process of its own, for clean figures.
func TestTLSSessionHandshakeLoopNoLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 handshakes: not in -short")
	}
	if !inChild(t, 8*time.Minute) {
		return
	}
	cert, pool := selfSigned(t, "a.test")
	s, addr := testServer(t, Config{Workers: 2}, func(s *Server, l *Listener) {
		l.TLS(TLSConfig{Server: testTLS{&tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}}, HandshakeTimeout: 10 * time.Second})
		l.Get("/", hello)
	})
	hello := clientHello(t, "a.test")
	cache := tls.NewLRUClientSessionCache(64)
	var failed atomic.Int64
	var firstErr sync.Once
	one := func(i int) {
		if i%10 == 9 { // gives up after the server's first flight
			c, err := net.Dial("tcp", addr)
			if err != nil {
				failed.Add(1)
				return
			}
			c.SetDeadline(time.Now().Add(30 * time.Second))
			c.Write(hello)
			var b [1]byte
			c.Read(b[:])
			c.Close()
			return
		}
		cfg := &tls.Config{ServerName: "a.test", RootCAs: pool}
		switch i % 4 {
		case 1:
			cfg.MaxVersion = tls.VersionTLS12
		case 2:
			cfg.ClientSessionCache = cache // resumed after the first
		}
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", addr, cfg)
		if err != nil {
			failed.Add(1)
			firstErr.Do(func() { t.Logf("handshake %d: %v", i, err) })
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
		if _, err := readResponsesErr(bufio.NewReader(c)); err != nil {
			failed.Add(1)
			firstErr.Do(func() { t.Logf("request %d: %v", i, err) })
		}
	}
	run := func(n int) {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
					one(i)
				}
			}()
		}
		wg.Wait()
		deadline := time.Now().Add(20 * time.Second)
		for s.Stats().Open != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%d connections still open", s.Stats().Open)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	run(1000) // warm-up: caches, arenas and pools reach their size
	base := settledMemory(t)
	start := time.Now()
	const n = 10000
	run(n)
	took := time.Since(start)
	after := settledMemory(t)
	t.Logf("%d handshakes in %v (%.0f/s); before: %v; after: %v", n, took.Round(time.Millisecond), n/took.Seconds(), base, after)
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d clients failed", f, n)
	}
	if st := s.Stats(); st.TLSHandshakes < n*8/10 {
		t.Fatalf("%d handshakes completed, want at least %d", st.TLSHandshakes, n*8/10)
	}
	grew := func(a, b uint64) int64 { return int64(b) - int64(a) }
	if d := grew(base.cheap, after.cheap); d > leakCHeapBound {
		t.Errorf("C heap grew %d KiB over %d handshakes (bound %d KiB)", d>>10, n, leakCHeapBound>>10)
	}
	if d := grew(base.goHeap, after.goHeap); d > leakGoBound {
		t.Errorf("Go heap grew %d KiB over %d handshakes (bound %d KiB)", d>>10, n, leakGoBound>>10)
	}
	if d := grew(base.rss, after.rss); d > leakRSSBound {
		t.Errorf("RSS grew %d KiB over %d handshakes (bound %d KiB)", d>>10, n, leakRSSBound>>10)
	}
}
