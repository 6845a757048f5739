//go:build openssl

package openssl_test

import (
	"context"
	"crypto/tls"
	"log"
	"net"
	"time"

	"github.com/edge-rt/edge/tlsbackend"
	"github.com/edge-rt/edge/tlsbackend/openssl"
)

// A TLS listener on OpenSSL with one certificate and the default
// settings: TLS 1.2 and 1.3, ALPN http/1.1, session tickets rotating every
// 12 hours.
func Example() {
	cert, err := tls.LoadX509KeyPair("fullchain.pem", "privkey.pem")
	if err != nil {
		log.Fatal(err)
	}
	srv, err := openssl.New().NewServer(&tlsbackend.Config{
		GetCertificate: func(*tlsbackend.ClientHello) (*tls.Certificate, error) { return &cert, nil },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	log.Printf("TLS by %s", openssl.Version())
	ln, err := net.Listen("tcp", ":8443")
	if err != nil {
		log.Fatal(err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			tc := srv.Conn(c)
			defer tc.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := tc.HandshakeContext(ctx); err != nil {
				return
			}
			st := tc.State()
			log.Printf("%s %s ALPN %q resumed %v", tls.VersionName(st.Version), st.ServerName, st.NegotiatedProtocol, st.DidResume)
			tc.Write([]byte("hello\n"))
		}()
	}
}
