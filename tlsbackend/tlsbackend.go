// Package tlsbackend is the seam between edge and the TLS library chosen
// at build time: Go's crypto/tls (tlsbackend/stdlib, the default), OpenSSL
// 3 through cgo (tlsbackend/openssl, build tag openssl) or crypto/tls under
// GOEXPERIMENT=boringcrypto (tlsbackend/boringcrypto).
//
// A Backend turns a Config into a Server, and a Server wraps accepted
// connections. The connection handed to Server.Conn may be non-blocking:
// once the handshake is done, its Read may return an error whose
// Temporary() method reports true ("would block"); a backend's Conn.Read
// must pass such an error through and stay usable (retrying later resumes
// where it stopped). During HandshakeContext the underlying connection
// blocks as usual. Conn.Read never returns data together with a
// would-block error. Every backend passes the suite in tlsbackendtest.
//
// Typical usage:
//
//	srv, err := stdlib.New().NewServer(&tlsbackend.Config{GetCertificate: store.GetCertificate})
//	tc := srv.Conn(rawConn)
//	if err := tc.HandshakeContext(ctx); err != nil { ... }
//	n, err := tc.Read(buf)
package tlsbackend

import (
	"context"
	"crypto/tls"
	"net"
	"time"
)

// Backend is one TLS library.
type Backend interface {
	// Name identifies the backend: "stdlib", "openssl", "boringcrypto".
	Name() string
	// NewServer validates cfg and returns a server-side TLS context. cfg
	// must not be modified afterwards.
	NewServer(cfg *Config) (Server, error)
}

// Server is a server-side TLS context shared by many connections. Safe for
// concurrent use.
type Server interface {
	// Conn wraps an accepted connection; the handshake runs on the first
	// Read, Write or HandshakeContext.
	Conn(c net.Conn) Conn
	// Close stops what the server runs in the background (ticket key
	// rotation). Connections already made keep working.
	Close() error
}

// Conn is one server-side TLS connection.
type Conn interface {
	net.Conn
	// HandshakeContext runs the handshake; ctx bounds it.
	HandshakeContext(ctx context.Context) error
	// State describes the connection once the handshake is done.
	State() State
	// CloseWrite sends close_notify without closing the connection.
	CloseWrite() error
}

// State is what the handshake settled.
type State struct {
	Version            uint16 // tls.VersionTLS12, tls.VersionTLS13
	CipherSuite        uint16
	ServerName         string // SNI sent by the client, "" if none
	NegotiatedProtocol string // ALPN result, "" if none
	DidResume          bool
	CurveID            tls.CurveID // key exchange group, 0 if unknown
}

// ClientHello is the part of a ClientHello that certificate selection
// needs.
type ClientHello struct {
	ServerName      string   // SNI, lower case, "" if absent
	SupportedProtos []string // ALPN offered
	// SupportsECDSA reports whether the client accepts ECDSA certificates
	// (for choosing between an ECDSA and an RSA certificate).
	SupportsECDSA bool
	// Conn is the connection being handshaken, for logging.
	Conn net.Conn
}

// Config is the backend-neutral TLS server configuration. Zero fields take
// the documented defaults.
type Config struct {
	// GetCertificate returns the certificate for a ClientHello (required).
	// It may return (nil, err) to abort the handshake. It is called
	// concurrently.
	GetCertificate func(hello *ClientHello) (*tls.Certificate, error)
	// NextProtos is the ALPN list in preference order. Nil means
	// ["http/1.1"].
	NextProtos []string
	// MinVersion and MaxVersion bound the protocol version. Zero means TLS
	// 1.2 and TLS 1.3; versions below 1.2 are refused by NewServer.
	MinVersion, MaxVersion uint16
	// CipherSuites lists the TLS 1.2 suites allowed, in preference order.
	// Nil means the AEAD ECDHE suites (AES-GCM and ChaCha20-Poly1305).
	// TLS 1.3 suites are not configurable.
	CipherSuites []uint16
	// CurvePreferences lists key exchange groups. Nil means
	// X25519MLKEM768, X25519, P-256, P-384 (where the backend has them).
	CurvePreferences []tls.CurveID
	// DisableSessionTickets turns off resumption by session tickets (on by
	// default).
	DisableSessionTickets bool
	// TicketKeyRotation is how often session ticket keys rotate; tickets
	// stay valid for two periods. Zero means 12 hours.
	TicketKeyRotation time.Duration
}

// DefaultNextProtos is the ALPN list used when Config.NextProtos is nil.
var DefaultNextProtos = []string{"http/1.1"}

// DefaultCipherSuites are the TLS 1.2 suites used when Config.CipherSuites
// is nil: ECDHE with AEADs only.
var DefaultCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// DefaultCurves is the key exchange preference used when
// Config.CurvePreferences is nil.
var DefaultCurves = []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256, tls.CurveP384}
