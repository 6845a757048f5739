package edge

import (
	"net"
	"strings"
	"time"

	"github.com/edge-rt/edge/http1"
	"github.com/edge-rt/edge/tlsbackend"
)

// HostPolicy says how a TLS listener treats a Host header that differs
// from the name the client asked for in its ClientHello (SNI).
type HostPolicy uint8

const (
	// HostMatchesSNI (the default) answers 421 Misdirected Request when the
	// request's Host (without port) is not the SNI name. Requests from
	// clients that sent no SNI are routed by Host alone.
	HostMatchesSNI HostPolicy = iota
	// HostIgnoresSNI routes by Host whatever the SNI was.
	HostIgnoresSNI
)

// TLSConfig makes a listener terminate TLS.
type TLSConfig struct {
	// Server is the TLS context of the build's backend (required), from
	// tlsbackend.Backend.NewServer; it holds the certificates hook. When it
	// implements tlsbackend.SessionServer (the OpenSSL backend), the event
	// loop runs each connection's TLS, handshake included, with no
	// goroutine, and the certificates hook is called on the loop: it must
	// not block (sni.Store's does not). Otherwise each handshake runs in a
	// goroutine of its own.
	Server tlsbackend.Server
	// HostPolicy is the SNI-versus-Host rule (Caprese's sslRoutesHost).
	HostPolicy HostPolicy
	// HandshakeTimeout bounds the TLS handshake. Zero means the server's
	// ReadTimeout.
	HandshakeTimeout time.Duration
	// Backend names the TLS library for observers (tlsbackend.Backend's
	// Name()); empty means the Server's Name() if it has one.
	Backend string
	// JA4 computes each client's JA4 fingerprint from its ClientHello
	// (Ctx.JA4, observers and access logs), where the handshake runs.
	JA4 bool
	// AllowJA4, if not nil (with JA4), decides from each client's JA4
	// fingerprint ("" when its ClientHello could not be read) whether it
	// is served: a refused client gets a TLS close (close_notify, then
	// FIN) right after its handshake, before any request is read, and is
	// counted as refused (observe.RefusePolicy). Called on a worker's
	// loop: it must be fast and safe for concurrent use.
	AllowJA4 func(fingerprint string) bool
}

// backendName names the TLS library for observers: the Server's
// Name() when it has one.
func (cfg *TLSConfig) backendName() string {
	if cfg.Backend != "" {
		return cfg.Backend
	}
	if n, ok := cfg.Server.(interface{ Name() string }); ok {
		return n.Name()
	}
	return ""
}

// TLS makes the listener terminate TLS with cfg. Call before Start.
func (l *Listener) TLS(cfg TLSConfig) *Listener {
	l.tls = &cfg
	return l
}

var _ net.Conn = (*transport)(nil)

// hostMisdirected reports whether a TLS request's Host contradicts its
// SNI under the listener's policy.
func (c *conn) hostMisdirected(host []byte) bool {
	if c.tls == nil || c.sni == "" || c.l.tls.HostPolicy == HostIgnoresSNI || len(host) == 0 {
		return false
	}
	return !strings.EqualFold(http1.StripPort(str(host)), c.sni)
}
