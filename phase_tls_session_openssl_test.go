//go:build openssl

package edge

import (
	"crypto/tls"
	"net"
	"sync"

	"github.com/edge-rt/edge/tlsbackend"
	"github.com/edge-rt/edge/tlsbackend/openssl"
)

// Under -tags openssl the engine's TLS tests run on OpenSSL sessions
// driven by the event loop: testTLS (tls_test.go) then implements
// tlsbackend.SessionServer with an OpenSSL server holding the same
// certificates and ALPN list, so the engine takes the session path. A
// config that selects certificates with a GetCertificate hook of its own
// (which may block: TestShutdownClosesTLSHandshakes hangs it on purpose)
// stays on the goroutine path, whose handshake may block; the session
// path calls GetCertificate on the loop, which must not block.

// opensslServers caches one OpenSSL server per crypto/tls config.
var opensslServers sync.Map // *tls.Config -> tlsbackend.SessionServer

// testSessions is the backend the openssl build's session tests use.
const testSessions = true

func (s testTLS) sessionServer() tlsbackend.SessionServer {
	if v, ok := opensslServers.Load(s.cfg); ok {
		return v.(tlsbackend.SessionServer)
	}
	cfg := s.cfg
	srv, err := openssl.New().NewServer(&tlsbackend.Config{
		NextProtos: cfg.NextProtos,
		GetCertificate: func(h *tlsbackend.ClientHello) (*tls.Certificate, error) {
			for i := range cfg.Certificates {
				c := &cfg.Certificates[i]
				if c.Leaf != nil && h.ServerName != "" && c.Leaf.VerifyHostname(h.ServerName) == nil {
					return c, nil
				}
			}
			return &cfg.Certificates[0], nil
		},
	})
	if err != nil {
		panic("openssl test server: " + err.Error())
	}
	v, _ := opensslServers.LoadOrStore(s.cfg, srv)
	return v.(tlsbackend.SessionServer)
}

// NewSession makes testTLS a tlsbackend.SessionServer (see above).
func (s testTLS) NewSession(local, remote net.Addr) tlsbackend.Session {
	return s.sessionServer().NewSession(local, remote)
}
