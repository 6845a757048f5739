// Package openssl is edge's TLS backend on the system's OpenSSL 3 (libssl),
// through a small cgo binding of its own. It is built with the build tag
// openssl (`go build -tags openssl ./cmd/edge`) and needs the libssl
// headers and pkg-config (Debian: libssl-dev pkg-config); without the tag
// the package is empty.
//
// Typical usage:
//
//	srv, err := openssl.New().NewServer(&tlsbackend.Config{GetCertificate: store.GetCertificate})
//	if err != nil { ... } // an invalid Config, or one this OpenSSL cannot do
//	tc := srv.Conn(rawConn)
//	err = tc.HandshakeContext(ctx)
//
// # How it works
//
// Each connection is an SSL object between two memory BIOs: Conn reads
// ciphertext from the net.Conn into the read BIO and sends what OpenSSL
// puts in the write BIO, so it works over any net.Conn, including a
// non-blocking one whose Read returns a temporary error ("would block"):
// after the handshake, Conn.Read returns that error unchanged, as (0,
// err), and a later Read resumes where it stopped. The handshake blocks on
// the net.Conn; when the context of HandshakeContext ends, the connection's
// deadline is set in the past to interrupt it.
//
// Certificates come from Config.GetCertificate, called from OpenSSL's
// ClientHello callback with the SNI, the ALPN offer and whether the client
// accepts ECDSA. Each *tls.Certificate is converted (DER chain, PKCS #8
// key: ECDSA, RSA or Ed25519) once and cached while it is reachable.
//
// # Policy
//
// As tlsbackend/stdlib: TLS 1.2 and 1.3 only; TLS 1.2 suites ECDHE with
// AES-GCM or ChaCha20-Poly1305 only (in the server's order); groups from
// Config.CurvePreferences that this OpenSSL has (OpenSSL 3.0 has no
// X25519MLKEM768: it is left out, and a list left empty is refused);
// ALPN by server preference, a client offering only unknown protocols
// refused with no_application_protocol; no renegotiation.
//
// Session tickets are stateless tickets (AES-256-CBC, HMAC-SHA256), on
// unless Config.DisableSessionTickets (which also turns off TLS 1.3
// stateful tickets); there is no server-side session cache. Their keys
// come from crypto/rand and rotate every Config.TicketKeyRotation (12
// hours by default): a ticket decrypts with the current or the previous
// key, so it resumes for at least one period and at most two (one
// decrypted with the previous key is replaced by a new one). Tickets do
// not survive a restart or another Server. Close stops the rotation.
package openssl
