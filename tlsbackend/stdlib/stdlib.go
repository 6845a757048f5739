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
// # FIPS 140-3 mode
//
// When Go's FIPS 140-3 mode is on (GODEBUG=fips140=on, or a binary built
// with GOFIPS140), crypto/tls restricts itself to FIPS-approved settings,
// and New applies the same policy, [FIPS140Policy], to what NewServer
// accepts: the defaults lose ChaCha20-Poly1305 and X25519, a Config
// naming them is refused, and a certificate with a key outside the policy
// (RSA below 2048 bits) fails the handshake. [Version] then says
// "fips140". [NewWithPolicy] applies another policy; tlsbackend/boringcrypto
// is this backend under BoringCrypto's.
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
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/fips140"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edge-rt/edge/tlsbackend"
)

// DefaultTicketKeyRotation is the ticket key rotation period used when
// Config.TicketKeyRotation is zero.
const DefaultTicketKeyRotation = 12 * time.Hour

// New returns the crypto/tls backend. When Go's FIPS 140-3 mode is on
// (GODEBUG=fips140=on or only, or a binary built with GOFIPS140), it is
// NewWithPolicy(FIPS140Policy()) under the name "stdlib".
func New() tlsbackend.Backend {
	if fips140.Enabled() {
		return NewWithPolicy(FIPS140Policy())
	}
	return backend{}
}

// NewWithPolicy returns the crypto/tls backend restricted by p. It is how
// tlsbackend/boringcrypto reuses this backend.
func NewWithPolicy(p Policy) tlsbackend.Backend {
	p.CipherSuites = slices.Clone(p.CipherSuites)
	p.Curves = slices.Clone(p.Curves)
	return backend{policy: &p}
}

// Version describes the TLS library of this backend: the Go release, with
// "fips140" and the Go Cryptographic Module's version when Go's FIPS
// 140-3 mode is on, as in "go1.26.8 fips140, Go Cryptographic Module
// latest".
func Version() string {
	if fips140.Enabled() {
		return runtime.Version() + " fips140, Go Cryptographic Module " + fips140.Version()
	}
	return runtime.Version()
}

// Policy narrows what the backend accepts, for a compliance regime such
// as FIPS 140: NewServer refuses a Config that names anything outside it,
// and the defaults of tlsbackend.Config are cut down to it. The zero
// Policy restricts nothing beyond what New accepts.
//
// crypto/tls chooses the TLS 1.3 cipher suites and the signature
// algorithms itself: a Policy cannot restrict them. In FIPS 140 mode
// (GODEBUG=fips140=on, or crypto/tls/fipsonly under BoringCrypto)
// crypto/tls restricts them to the approved ones on its own.
type Policy struct {
	// Name is the backend's Name and the prefix of its errors. "" means
	// "stdlib".
	Name string
	// Regime names the policy in errors, as in "not allowed by FIPS
	// 140-3". "" means "the policy".
	Regime string
	// CipherSuites are the TLS 1.2 suites allowed, among
	// tlsbackend.DefaultCipherSuites. Nil means all of those.
	CipherSuites []uint16
	// Curves are the key exchange groups allowed. Nil means every group
	// crypto/tls implements.
	Curves []tls.CurveID
	// Key vets the public key of each certificate GetCertificate returns
	// (the leaf's); an error fails the handshake. Nil accepts any key
	// crypto/tls can use.
	Key func(pub crypto.PublicKey) error
}

// FIPS140Policy is the policy of Go's FIPS 140-3 mode: crypto/tls's own
// FIPS 140-3 restrictions (crypto/tls/defaults_fips140.go) within what New
// accepts: TLS 1.2 suites ECDHE with AES-GCM (no ChaCha20-Poly1305), the
// groups X25519MLKEM768, SecP256r1MLKEM768, SecP384r1MLKEM1024, P-256,
// P-384 and P-521 (no X25519 on its own), and certificate keys RSA of at
// least 2048 bits, ECDSA on P-256, P-384 or P-521, or Ed25519.
func FIPS140Policy() Policy {
	return Policy{
		Name:   "stdlib",
		Regime: "FIPS 140-3",
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		},
		Curves: []tls.CurveID{
			tls.X25519MLKEM768, tls.SecP256r1MLKEM768, tls.SecP384r1MLKEM1024,
			tls.CurveP256, tls.CurveP384, tls.CurveP521,
		},
		Key: func(pub crypto.PublicKey) error {
			return CheckFIPSKey(pub, func(bits int) bool { return bits >= 2048 }, true)
		},
	}
}

// CheckFIPSKey reports an error unless pub is an RSA key whose size rsaOK
// accepts, an ECDSA key on P-256, P-384 or P-521, or (when ed25519OK) an
// Ed25519 key: the certificate keys FIPS 140 policies allow.
func CheckFIPSKey(pub crypto.PublicKey, rsaOK func(bits int) bool, ed25519OK bool) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if rsaOK(k.N.BitLen()) {
			return nil
		}
		return fmt.Errorf("RSA-%d key", k.N.BitLen())
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return fmt.Errorf("ECDSA key on %s", k.Curve.Params().Name)
	case ed25519.PublicKey:
		if ed25519OK {
			return nil
		}
		return errors.New("Ed25519 key")
	}
	return fmt.Errorf("%T key", pub)
}

// backend is crypto/tls, restricted by policy when it is not nil.
type backend struct {
	policy *Policy
}

// Interface guards.
var (
	_ tlsbackend.Backend = backend{}
	_ tlsbackend.Server  = (*server)(nil)
	_ tlsbackend.Conn    = conn{}
)

func (b backend) Name() string {
	if b.policy != nil && b.policy.Name != "" {
		return b.policy.Name
	}
	return "stdlib"
}

// SupportsCurve reports whether the backend's policy allows the key
// exchange group id (it implements tlsbackendtest.CurveSupporter).
func (b backend) SupportsCurve(id tls.CurveID) bool {
	return slices.Contains(knownCurves, id) && (b.policy == nil || b.policy.Curves == nil || slices.Contains(b.policy.Curves, id))
}

// SupportsCipherSuite reports whether the backend's policy allows the
// cipher suite id, TLS 1.2 or TLS 1.3 (it implements
// tlsbackendtest.CipherSuiteSupporter). Under a policy that leaves out
// ChaCha20-Poly1305 for TLS 1.2, TLS_CHACHA20_POLY1305_SHA256 is left out
// too: crypto/tls does so in FIPS 140 mode.
func (b backend) SupportsCipherSuite(id uint16) bool {
	if id == tls.TLS_AES_128_GCM_SHA256 || id == tls.TLS_AES_256_GCM_SHA384 {
		return true
	}
	if id == tls.TLS_CHACHA20_POLY1305_SHA256 {
		id = tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
	}
	return slices.Contains(allowedSuites, id) && (b.policy == nil || b.policy.CipherSuites == nil || slices.Contains(b.policy.CipherSuites, id))
}

// SupportsKey reports whether the backend's policy lets it serve a
// certificate with the public key pub (it implements
// tlsbackendtest.KeySupporter).
func (b backend) SupportsKey(pub crypto.PublicKey) bool {
	return b.policy == nil || b.policy.Key == nil || b.policy.Key(pub) == nil
}

// NewServer validates cfg, applies the defaults of tlsbackend.Config and
// returns a server. A negative TicketKeyRotation is refused.
func (b backend) NewServer(cfg *tlsbackend.Config) (tlsbackend.Server, error) {
	tc, err := b.tlsConfig(cfg)
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

// tlsConfig checks cfg against b's policy and builds the crypto/tls
// configuration.
func (b backend) tlsConfig(cfg *tlsbackend.Config) (*tls.Config, error) {
	name := b.Name()
	var p Policy
	if b.policy != nil {
		p = *b.policy
	}
	regime := p.Regime
	if regime == "" {
		regime = "the policy"
	}
	if cfg == nil {
		return nil, fmt.Errorf("%s: nil Config", name)
	}
	if cfg.GetCertificate == nil {
		return nil, fmt.Errorf("%s: Config.GetCertificate is required", name)
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
			return nil, fmt.Errorf("%s: TLS version %s not supported (only TLS 1.2 and TLS 1.3)", name, tls.VersionName(v))
		}
	}
	if maxV < minV {
		return nil, fmt.Errorf("%s: MaxVersion %s below MinVersion %s", name, tls.VersionName(maxV), tls.VersionName(minV))
	}

	suiteOK := func(id uint16) bool { return p.CipherSuites == nil || slices.Contains(p.CipherSuites, id) }
	suites := slices.DeleteFunc(slices.Clone(tlsbackend.DefaultCipherSuites), func(id uint16) bool { return !suiteOK(id) })
	if cfg.CipherSuites != nil {
		for _, id := range cfg.CipherSuites {
			if !slices.Contains(allowedSuites, id) {
				return nil, fmt.Errorf("%s: cipher suite %s not allowed (only ECDHE with AES-GCM or ChaCha20-Poly1305)", name, tls.CipherSuiteName(id))
			}
			if !suiteOK(id) {
				return nil, fmt.Errorf("%s: cipher suite %s not allowed by %s", name, tls.CipherSuiteName(id), regime)
			}
		}
		if len(cfg.CipherSuites) == 0 && minV <= tls.VersionTLS12 {
			return nil, fmt.Errorf("%s: CipherSuites is empty but TLS 1.2 is enabled", name)
		}
		suites = cfg.CipherSuites
	}

	curveOK := func(id tls.CurveID) bool { return p.Curves == nil || slices.Contains(p.Curves, id) }
	curves := slices.DeleteFunc(slices.Clone(tlsbackend.DefaultCurves), func(id tls.CurveID) bool { return !curveOK(id) })
	if cfg.CurvePreferences != nil {
		for _, id := range cfg.CurvePreferences {
			if !slices.Contains(knownCurves, id) {
				return nil, fmt.Errorf("%s: key exchange group %v not supported", name, id)
			}
			if !curveOK(id) {
				return nil, fmt.Errorf("%s: key exchange group %v not allowed by %s", name, id, regime)
			}
		}
		if len(cfg.CurvePreferences) == 0 {
			return nil, fmt.Errorf("%s: CurvePreferences is empty", name)
		}
		curves = cfg.CurvePreferences
	}
	if len(curves) == 0 {
		return nil, fmt.Errorf("%s: %s allows none of the default key exchange groups", name, regime)
	}
	if minV <= tls.VersionTLS12 && !slices.ContainsFunc(curves, func(id tls.CurveID) bool {
		return !slices.Contains(tls13OnlyCurves, id)
	}) {
		return nil, fmt.Errorf("%s: CurvePreferences has no group usable with TLS 1.2, which is enabled", name)
	}

	protos := tlsbackend.DefaultNextProtos
	if cfg.NextProtos != nil {
		for _, p := range cfg.NextProtos {
			if len(p) == 0 || len(p) > 255 {
				return nil, fmt.Errorf("%s: ALPN protocol %q must be 1 to 255 bytes", name, p)
			}
		}
		protos = cfg.NextProtos
	}

	if cfg.TicketKeyRotation < 0 {
		return nil, fmt.Errorf("%s: negative TicketKeyRotation %v", name, cfg.TicketKeyRotation)
	}

	get, checkKey := cfg.GetCertificate, p.Key
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
				err = fmt.Errorf("%s: GetCertificate returned no certificate for %q", name, hello.ServerName)
			}
			if err == nil && checkKey != nil {
				if kerr := checkKey(leafKey(cert)); kerr != nil {
					err = fmt.Errorf("%s: certificate for %q: %w not allowed by %s", name, hello.ServerName, kerr, regime)
				}
			}
			if err != nil {
				return nil, err
			}
			return cert, nil
		},
	}, nil
}

// leafKey returns the public key of cert's leaf: from Leaf when it is set,
// else from the private key (parsing the leaf on every handshake would
// cost more).
func leafKey(cert *tls.Certificate) crypto.PublicKey {
	if cert.Leaf != nil {
		return cert.Leaf.PublicKey
	}
	if s, ok := cert.PrivateKey.(crypto.Signer); ok {
		return s.Public()
	}
	return nil
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
