package edge

import (
	"bufio"
	"crypto/tls"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/edge-rt/edge/tlsbackend"
)

// TLS through the engine, on the build's path: OpenSSL sessions on the
// loop with -tags openssl, crypto/tls with a handshake goroutine without.
// The client is crypto/tls in the same process, so each figure includes
// the client's half of the work (compare paths, not with other servers).
// cpu-ns/op is the process's CPU time (user+system) per operation, steadier
// than ns/op on a shared machine.

// cpuTime is the process's CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per operation since start.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

func benchTLSServer(b *testing.B, srv func(cfg *tls.Config) tlsbackend.Server) (addr string, pool *tls.Config) {
	cert, p := selfSigned(b, "a.test")
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
	_, addr = testServer(b, Config{Workers: 1}, func(s *Server, l *Listener) {
		l.TLS(TLSConfig{Server: srv(cfg)})
		l.Get("/", hello)
	})
	return addr, &tls.Config{ServerName: "a.test", RootCAs: p}
}

// BenchmarkTLSHandshake is a full handshake (ECDSA P-256, TLS 1.3, no
// resumption) and one GET per connection.
func BenchmarkTLSHandshake(b *testing.B) {
	for _, bb := range []struct {
		name string
		srv  func(cfg *tls.Config) tlsbackend.Server
	}{
		{"build", func(cfg *tls.Config) tlsbackend.Server { return testTLS{cfg} }},
		{"goroutine", func(cfg *tls.Config) tlsbackend.Server { return struct{ tlsbackend.Server }{testTLS{cfg}} }},
	} {
		b.Run(bb.name, func(b *testing.B) {
			addr, ccfg := benchTLSServer(b, bb.srv)
			req := []byte("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
			b.ReportAllocs()
			b.ResetTimer()
			defer reportCPU(b, cpuTime())
			for i := 0; i < b.N; i++ {
				c, err := tls.Dial("tcp", addr, ccfg)
				if err != nil {
					b.Fatal(err)
				}
				c.Write(req)
				if _, err := readResponsesErr(bufio.NewReader(c)); err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}

// BenchmarkTLSGET is a keep-alive GET over an established TLS connection.
func BenchmarkTLSGET(b *testing.B) {
	addr, ccfg := benchTLSServer(b, func(cfg *tls.Config) tlsbackend.Server { return testTLS{cfg} })
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	c := tls.Client(raw, ccfg)
	defer c.Close()
	req := []byte("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
	r := bufio.NewReader(c)
	c.Write(req)
	if _, err := readResponsesErr(r); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b, cpuTime())
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := readResponsesErr(r); err != nil {
			b.Fatal(err)
		}
	}
}
