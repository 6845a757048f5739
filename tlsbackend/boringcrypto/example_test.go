//go:build goexperiment.boringcrypto

package boringcrypto_test

import (
	"context"
	"crypto/tls"
	"log"

	"github.com/edge-rt/edge"
	"github.com/edge-rt/edge/tlsbackend"
	"github.com/edge-rt/edge/tlsbackend/boringcrypto"
)

// An edge HTTPS listener in FIPS mode: refuse to run without BoringCrypto,
// then serve one certificate (RSA 2048+ or ECDSA P-256/P-384/P-521) with
// the FIPS defaults (TLS 1.2 and 1.3, AES-GCM, P-256 and P-384).
func Example() {
	if err := boringcrypto.Check(); err != nil {
		log.Fatal(err) // built without cgo: no BoringCrypto
	}
	cert, err := tls.LoadX509KeyPair("fullchain.pem", "privkey.pem")
	if err != nil {
		log.Fatal(err)
	}
	b := boringcrypto.New()
	srv, err := b.NewServer(&tlsbackend.Config{
		GetCertificate: func(*tlsbackend.ClientHello) (*tls.Certificate, error) { return &cert, nil },
	})
	if err != nil {
		log.Fatal(err) // a Config outside the FIPS policy
	}
	defer srv.Close()
	log.Printf("TLS by %s (%s)", b.Name(), boringcrypto.Version())

	s := edge.New(&edge.Config{})
	l := s.Listen("tcp", ":443").TLS(edge.TLSConfig{Server: srv})
	l.Any().Handle(edge.Path("/"), func(c *edge.Ctx) { c.SendString(200, "text/plain", "FIPS hello\n") })
	log.Fatal(s.Run(context.Background()))
}
