// Package boringcrypto is edge's FIPS TLS backend: Go's crypto/tls on the
// BoringCrypto module (the FIPS 140 validated BoringSSL core that Go links
// in under GOEXPERIMENT=boringcrypto), restricted to FIPS-approved
// settings. The package is empty in other builds, so that `go vet ./...`
// and `go build ./...` work everywhere; build edge with
//
//	CGO_ENABLED=1 GOEXPERIMENT=boringcrypto go build ./cmd/edge
//
// (`-tags boringcrypto` does not select it: the experiment does).
//
// Typical usage:
//
//	if err := boringcrypto.Check(); err != nil { ... } // BoringCrypto not in use
//	srv, err := boringcrypto.New().NewServer(&tlsbackend.Config{GetCertificate: store.GetCertificate})
//	if err != nil { ... } // BoringCrypto not in use, or a Config outside the FIPS policy
//	defer srv.Close()
//	tc := srv.Conn(rawConn)
//
// # FIPS-only settings
//
// The backend is tlsbackend/stdlib with the policy of crypto/tls's
// Go+BoringCrypto FIPS mode (crypto/tls/defaults_boring.go, after
// BoringSSL's ssl_compliance_policy_fips_202205, NIST SP 800-52r2):
//   - TLS 1.2 and TLS 1.3 only;
//   - TLS 1.2 suites ECDHE with AES-GCM (no ChaCha20-Poly1305); TLS 1.3
//     suites TLS_AES_128_GCM_SHA256 and TLS_AES_256_GCM_SHA384;
//   - key exchange on P-256, P-384 or P-521 (no X25519, no
//     X25519MLKEM768);
//   - certificate keys RSA 2048, 3072 or 4096, or ECDSA on P-256, P-384
//     or P-521 (no Ed25519), refused at handshake time otherwise.
//
// NewServer refuses a Config naming a suite or group outside the policy,
// with an error saying so, rather than dropping it silently. The
// signature algorithms and TLS 1.3 suites, which a crypto/tls
// configuration cannot name, are restricted by crypto/tls/fipsonly, which
// this package imports: every crypto/tls configuration of the program,
// client or server, is then limited to FIPS-approved settings, as a FIPS
// build wants.
//
// NewServer fails with [ErrNotEnabled] when crypto/boring.Enabled() is
// false: the experiment is on but BoringCrypto is not linked in (cgo off,
// or a platform other than linux/amd64 and linux/arm64), so crypto/tls
// would run on Go's own code, which is not what a FIPS build promises.
package boringcrypto
