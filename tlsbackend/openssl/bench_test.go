//go:build openssl

package openssl

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"testing"

	"github.com/edge-rt/edge/tlsbackend"
	"github.com/edge-rt/edge/tlsbackend/tlsbackendtest"
)

// The same benchmarks as tlsbackend/stdlib's, for comparison.

// pipePair returns a handshaken server Conn and client over loopback TCP
// (not net.Pipe: OpenSSL sends the TLS 1.3 tickets at the end of the
// handshake, and over an unbuffered pipe that write waits for a client
// that is not reading yet).
func pipePair(tb testing.TB, ln net.Listener, srv tlsbackend.Server, client *tls.Config) (tlsbackend.Conn, *tls.Conn) {
	tb.Helper()
	c2, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	c1, err := ln.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	tc := srv.Conn(c1)
	errc := make(chan error, 1)
	go func() { errc <- tc.HandshakeContext(context.Background()) }()
	cc := tls.Client(c2, client)
	if err := cc.Handshake(); err != nil {
		tb.Fatalf("client handshake: %v", err)
	}
	if err := <-errc; err != nil {
		tb.Fatalf("server handshake: %v", err)
	}
	return tc, cc
}

func benchServer(b *testing.B) (net.Listener, tlsbackend.Server, *tls.Config) {
	ca := tlsbackendtest.NewTestCA(b)
	cert := ca.Leaf(b, "bench.test")
	srv, err := New().NewServer(&tlsbackend.Config{
		GetCertificate: func(*tlsbackend.ClientHello) (*tls.Certificate, error) { return cert, nil },
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	return ln, srv, &tls.Config{RootCAs: ca.Pool(), ServerName: "bench.test"}
}

// BenchmarkHandshakeECDSA is a full TLS 1.3 handshake (X25519 on OpenSSL
// 3.0, ECDSA P-256 certificate, session tickets sent) over net.Pipe, both
// sides counted, over loopback TCP.
func BenchmarkHandshakeECDSA(b *testing.B) {
	ln, srv, client := benchServer(b)
	b.ReportAllocs()
	for b.Loop() {
		tc, cc := pipePair(b, ln, srv, client)
		if tc.State().Version != tls.VersionTLS13 {
			b.Fatal("not TLS 1.3")
		}
		cc.NetConn().Close()
		tc.Close()
	}
}

// BenchmarkRead1KiB is the server reading 1 KiB application records.
func BenchmarkRead1KiB(b *testing.B) {
	ln, srv, client := benchServer(b)
	tc, cc := pipePair(b, ln, srv, client)
	defer tc.Close()
	msg := make([]byte, 1024)
	go func() {
		for {
			if _, err := cc.Write(msg); err != nil {
				return
			}
		}
	}()
	defer cc.Close()
	buf := make([]byte, 1024)
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := io.ReadFull(tc, buf); err != nil {
			b.Fatal(err)
		}
	}
}
