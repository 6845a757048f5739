// Package stdlib is edge's default TLS backend: Go's crypto/tls. It needs
// no cgo, so edge builds as a static binary.
//
// Typical usage:
//
//	srv, err := stdlib.New().NewServer(&tlsbackend.Config{GetCertificate: store.GetCertificate})
//	if err != nil { ... } // an invalid or insecure Config
//	defer srv.Close() // stops session ticket key rotation
//	tc := srv.Conn(rawConn)
//	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
//	err = tc.HandshakeContext(hctx)
//	cancel()
//	if err != nil { tc.Close(); ... }
//	st := tc.State() // version, SNI, ALPN, resumption, key exchange
//
// # What NewServer accepts
//
// Versions are TLS 1.2 and TLS 1.3 only. TLS 1.2 cipher suites are limited
// to ECDHE key exchange with an AEAD (AES-GCM, ChaCha20-Poly1305): the
// suites of [tlsbackend.DefaultCipherSuites]; anything else (CBC, static
// RSA, 3DES, RC4, TLS 1.3 suite IDs) is refused. Key exchange groups are
// those crypto/tls implements (X25519MLKEM768, SecP256r1MLKEM768,
// SecP384r1MLKEM1024, X25519, P-256, P-384, P-521). crypto/tls ignores the
// order of CipherSuites and CurvePreferences and applies its own
// preference; the lists only select.
//
// When the client offers ALPN protocols and none of them is in
// Config.NextProtos, the handshake fails with a no_application_protocol
// alert (RFC 7301, Section 3.2). A client that offers no ALPN gets none.
// (crypto/tls makes one exception: a server offering "h2" accepts an
// "http/1.1"-only client as if it had sent no ALPN.)
//
// Session tickets are on unless Config.DisableSessionTickets. Their keys
// come from crypto/rand and rotate every Config.TicketKeyRotation; a ticket
// decrypts with the current or the previous key, so it resumes for at
// least one period and at most two. Tickets do not survive a restart or
// another Server. Close stops the rotation.
//
// # Non-blocking transports
//
// The connection given to Server.Conn must block during the handshake: a
// temporary error then fails the handshake for good. When the context
// given to HandshakeContext ends, crypto/tls closes the connection to
// interrupt the handshake.
//
// After the handshake, the connection's Read may return "would block": an
// error value that itself implements net.Error (crypto/tls checks with a
// type assertion, not errors.As, so do not wrap it) and whose Temporary
// method reports true. Conn.Read returns that error unchanged and stays
// usable: the bytes of a partly received record stay buffered inside the
// Conn, and a later Read continues where this one stopped, however the
// record was split. Conn.Read returns either data or such an error, never
// both at once.
//
// Writes are different. crypto/tls treats every error from the
// connection's Write, temporary or not, as permanent (the Conn fails every
// later Write, and part of a record may have been sent), so the connection
// must never return "would block" from Write: it must block or buffer.
// crypto/tls writes from inside Read too (a KeyUpdate answer in TLS 1.3),
// and Close and CloseWrite write a close_notify alert. Close and CloseWrite
// also set a write deadline on the connection (5 s, then now) so that the
// alert cannot block forever; a transport whose SetWriteDeadline acts on
// deadlines in the past must expect that call.
package stdlib

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edge-rt/edge/tlsbackend"
)

// DefaultTicketKeyRotation is the ticket key rotation period used when
// Config.TicketKeyRotation is zero.
const DefaultTicketKeyRotation = 12 * time.Hour

// New returns the crypto/tls backend.
func New() tlsbackend.Backend { return backend{} }

type backend struct{}

// Interface guards.
var (
	_ tlsbackend.Backend = backend{}
	_ tlsbackend.Server  = (*server)(nil)
	_ tlsbackend.Conn    = conn{}
)

func (backend) Name() string { return "stdlib" }

// NewServer validates cfg, applies the defaults of tlsbackend.Config and
// returns a server. A negative TicketKeyRotation is refused.
func (backend) NewServer(cfg *tlsbackend.Config) (tlsbackend.Server, error) {
	tc, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	s := &server{config: tc}
	if !cfg.DisableSessionTickets {
		s.period = cfg.TicketKeyRotation
		if s.period == 0 {
			s.period = DefaultTicketKeyRotation
		}
		s.mu.Lock()
		rand.Read(s.current[:])
		tc.SetSessionTicketKeys([][32]byte{s.current})
		s.timer = time.AfterFunc(s.period, s.rotate)
		s.mu.Unlock()
	}
	return s, nil
}

// allowedSuites are the TLS 1.2 suites NewServer accepts.
var allowedSuites = tlsbackend.DefaultCipherSuites

// knownCurves are the groups crypto/tls implements.
var knownCurves = []tls.CurveID{
	tls.X25519MLKEM768, tls.SecP256r1MLKEM768, tls.SecP384r1MLKEM1024,
	tls.X25519, tls.CurveP256, tls.CurveP384, tls.CurveP521,
}

// tls13OnlyCurves are the hybrid post-quantum groups, which TLS 1.2 cannot
// use.
var tls13OnlyCurves = []tls.CurveID{tls.X25519MLKEM768, tls.SecP256r1MLKEM768, tls.SecP384r1MLKEM1024}

// tlsConfig checks cfg and builds the crypto/tls configuration.
func tlsConfig(cfg *tlsbackend.Config) (*tls.Config, error) {
	if cfg == nil {
		return nil, errors.New("stdlib: nil Config")
	}
	if cfg.GetCertificate == nil {
		return nil, errors.New("stdlib: Config.GetCertificate is required")
	}
	minV, maxV := cfg.MinVersion, cfg.MaxVersion
	if minV == 0 {
		minV = tls.VersionTLS12
	}
	if maxV == 0 {
		maxV = tls.VersionTLS13
	}
	for _, v := range []uint16{minV, maxV} {
		if v != tls.VersionTLS12 && v != tls.VersionTLS13 {
			return nil, fmt.Errorf("stdlib: TLS version %s not supported (only TLS 1.2 and TLS 1.3)", tls.VersionName(v))
		}
	}
	if maxV < minV {
		return nil, fmt.Errorf("stdlib: MaxVersion %s below MinVersion %s", tls.VersionName(maxV), tls.VersionName(minV))
	}

	suites := tlsbackend.DefaultCipherSuites
	if cfg.CipherSuites != nil {
		for _, id := range cfg.CipherSuites {
			if !slices.Contains(allowedSuites, id) {
				return nil, fmt.Errorf("stdlib: cipher suite %s not allowed (only ECDHE with AES-GCM or ChaCha20-Poly1305)", tls.CipherSuiteName(id))
			}
		}
		if len(cfg.CipherSuites) == 0 && minV <= tls.VersionTLS12 {
			return nil, errors.New("stdlib: CipherSuites is empty but TLS 1.2 is enabled")
		}
		suites = cfg.CipherSuites
	}

	curves := tlsbackend.DefaultCurves
	if cfg.CurvePreferences != nil {
		for _, id := range cfg.CurvePreferences {
			if !slices.Contains(knownCurves, id) {
				return nil, fmt.Errorf("stdlib: key exchange group %v not supported", id)
			}
		}
		if len(cfg.CurvePreferences) == 0 {
			return nil, errors.New("stdlib: CurvePreferences is empty")
		}
		if minV <= tls.VersionTLS12 && !slices.ContainsFunc(cfg.CurvePreferences, func(id tls.CurveID) bool {
			return !slices.Contains(tls13OnlyCurves, id)
		}) {
			return nil, errors.New("stdlib: CurvePreferences has no group usable with TLS 1.2, which is enabled")
		}
		curves = cfg.CurvePreferences
	}

	protos := tlsbackend.DefaultNextProtos
	if cfg.NextProtos != nil {
		for _, p := range cfg.NextProtos {
			if len(p) == 0 || len(p) > 255 {
				return nil, fmt.Errorf("stdlib: ALPN protocol %q must be 1 to 255 bytes", p)
			}
		}
		protos = cfg.NextProtos
	}

	if cfg.TicketKeyRotation < 0 {
		return nil, fmt.Errorf("stdlib: negative TicketKeyRotation %v", cfg.TicketKeyRotation)
	}

	get := cfg.GetCertificate
	return &tls.Config{
		MinVersion:             minV,
		MaxVersion:             maxV,
		CipherSuites:           slices.Clone(suites),
		CurvePreferences:       slices.Clone(curves),
		NextProtos:             slices.Clone(protos),
		SessionTicketsDisabled: cfg.DisableSessionTickets,
		GetCertificate: func(chi *tls.ClientHelloInfo) (*tls.Certificate, error) {
			hello := tlsbackend.ClientHello{
				ServerName:      strings.ToLower(chi.ServerName),
				SupportedProtos: chi.SupportedProtos,
				SupportsECDSA:   supportsECDSA(chi),
				Conn:            chi.Conn,
			}
			cert, err := get(&hello)
			if err == nil && cert == nil {
				err = fmt.Errorf("stdlib: GetCertificate returned no certificate for %q", hello.ServerName)
			}
			return cert, err
		},
	}, nil
}

// ecdsaProbe is a certificate with an ECDSA P-256 key and no chain, used
// to ask crypto/tls whether a client could accept an ECDSA certificate.
var ecdsaProbe = sync.OnceValue(func() *tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic("stdlib: " + err.Error())
	}
	return &tls.Certificate{PrivateKey: key}
})

// supportsECDSA reports whether the client accepts an ECDSA P-256
// certificate on this server: a mutual signature scheme and, for TLS 1.2,
// an ECDHE-ECDSA suite and the P-256 curve. The name is left out: the
// probe certificate has none.
func supportsECDSA(chi *tls.ClientHelloInfo) bool {
	c := *chi
	c.ServerName = ""
	return c.SupportsCertificate(ecdsaProbe()) == nil
}

// server is a crypto/tls configuration plus the ticket key rotation.
type server struct {
	config *tls.Config

	mu      sync.Mutex
	period  time.Duration
	current [32]byte    // encrypts new tickets
	timer   *time.Timer // nil without session tickets
	closed  bool
}

// rotate makes a new ticket key current and keeps the previous one for
// decryption only.
func (s *server) rotate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	previous := s.current
	rand.Read(s.current[:])
	s.config.SetSessionTicketKeys([][32]byte{s.current, previous})
	s.timer.Reset(s.period)
}

func (s *server) Conn(c net.Conn) tlsbackend.Conn {
	return conn{tls.Server(c, s.config)}
}

// Close stops the ticket key rotation; the current keys stay in use. It
// is idempotent and always returns nil.
func (s *server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		if s.timer != nil {
			s.timer.Stop()
		}
	}
	return nil
}
