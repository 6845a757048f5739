//go:build goexperiment.boringcrypto

package boringcrypto_test

import (
	"crypto/tls"
	"log"
	"net"

	"github.com/edge-rt/edge/tlsbackend"
	"github.com/edge-rt/edge/tlsbackend/boringcrypto"
)

// A FIPS TLS listener: refuse to run without BoringCrypto, then serve one
// certificate (RSA 2048+ or ECDSA P-256/P-384/P-521) with the FIPS
// defaults: TLS 1.2 and 1.3, AES-GCM, P-256 and P-384.
func Example() {
	if err := boringcrypto.Check(); err != nil {
		log.Fatal(err)
	}
	log.Printf("TLS by %s", boringcrypto.Version())
	cert, err := tls.LoadX509KeyPair("fullchain.pem", "privkey.pem")
	if err != nil {
		log.Fatal(err)
	}
	srv, err := boringcrypto.New().NewServer(&tlsbackend.Config{
		GetCertificate: func(*tlsbackend.ClientHello) (*tls.Certificate, error) { return &cert, nil },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
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
			tc.Write([]byte("hello\n"))
		}()
	}
}
