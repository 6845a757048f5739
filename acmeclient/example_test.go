package acmeclient_test

import (
	"context"
	"crypto/tls"
	"errors"
	"log"
	"net/http"
	"strings"

	"golang.org/x/crypto/acme"

	"github.com/edge-rt/edge/acmeclient"
	"github.com/edge-rt/edge/tlsbackend"
)

// Example keeps a certificate for example.com, answering HTTP-01 with a
// net/http handler on port 80 and TLS-ALPN-01 through a tlsbackend
// Config's hooks on port 443.
func Example() {
	m, err := acmeclient.New(acmeclient.Config{
		DirectoryURL: acme.LetsEncryptURL,
		Email:        "ops@example.com",
		Hosts:        []string{"example.com"},
		CertsPath:    "/var/lib/edge/certs",
	})
	if err != nil {
		log.Fatal(err)
	}

	// Port 80: HTTP-01.
	http.HandleFunc(acmeclient.HTTPChallengePath, func(w http.ResponseWriter, r *http.Request) {
		if ka, ok := m.HTTPChallenge(strings.TrimPrefix(r.URL.Path, acmeclient.HTTPChallengePath)); ok {
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte(ka))
			return
		}
		http.NotFound(w, r)
	})

	// Port 443: TLS-ALPN-01, before the usual certificates.
	usual := func(*tlsbackend.ClientHello) (*tls.Certificate, error) { return nil, errors.New("no certificate") }
	_ = &tlsbackend.Config{
		NextProtos: []string{"http/1.1", acmeclient.ALPNProto},
		GetCertificate: func(hello *tlsbackend.ClientHello) (*tls.Certificate, error) {
			if c := m.ChallengeCertificate(hello); c != nil {
				return c, nil
			}
			return usual(hello)
		},
	}

	// Obtain and renew until ctx ends; Status tells how it goes.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx)
}
