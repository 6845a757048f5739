//go:build goexperiment.boringcrypto

package boringcrypto

import (
	"crypto"
	"crypto/boring"
	"crypto/tls"
	_ "crypto/tls/fipsonly" // see the package doc: FIPS-only crypto/tls in the whole program
	"errors"
	"runtime"
	"strings"

	"github.com/edge-rt/edge/tlsbackend"
	"github.com/edge-rt/edge/tlsbackend/stdlib"
)

// ErrNotEnabled is the error of Check and NewServer when the program runs
// without BoringCrypto although it was built with GOEXPERIMENT=boringcrypto.
var ErrNotEnabled = errors.New("boringcrypto: BoringCrypto is not enabled (crypto/boring.Enabled() is false): " +
	"build with CGO_ENABLED=1 GOEXPERIMENT=boringcrypto for linux/amd64 or linux/arm64, or use the stdlib backend")

// Check returns ErrNotEnabled when BoringCrypto does not handle the
// program's cryptography, and nil when it does. A program using this
// backend calls it at startup to refuse to run without BoringCrypto.
func Check() error {
	if !boring.Enabled() {
		return ErrNotEnabled
	}
	return nil
}

// Version describes the TLS library: "BoringCrypto" and the Go release
// whose crypto/tls drives it, as in "BoringCrypto go1.26.8".
func Version() string {
	v, _, _ := strings.Cut(runtime.Version(), "-X:") // "go1.26.8-X:boringcrypto"
	return "BoringCrypto " + v
}

// Policy is the FIPS policy of this backend (see the package doc), for
// tlsbackend/stdlib.
func Policy() stdlib.Policy {
	return stdlib.Policy{
		Name:   "boringcrypto",
		Regime: "FIPS 140 (BoringCrypto)",
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		},
		Curves: []tls.CurveID{tls.CurveP256, tls.CurveP384, tls.CurveP521},
		Key: func(pub crypto.PublicKey) error {
			return stdlib.CheckFIPSKey(pub, func(bits int) bool { return bits == 2048 || bits == 3072 || bits == 4096 }, false)
		},
	}
}

// policyBackend is the stdlib backend with what it reports about its
// policy (the tlsbackendtest optional interfaces).
type policyBackend interface {
	tlsbackend.Backend
	SupportsCurve(id tls.CurveID) bool
	SupportsCipherSuite(id uint16) bool
	SupportsKey(pub crypto.PublicKey) bool
}

// New returns the BoringCrypto backend.
func New() tlsbackend.Backend {
	return backend{stdlib.NewWithPolicy(Policy()).(policyBackend)}
}

// backend is the stdlib backend under Policy, refusing to run without
// BoringCrypto.
type backend struct {
	policyBackend
}

// Interface guard.
var _ tlsbackend.Backend = backend{}

// Name returns "boringcrypto".
func (backend) Name() string { return "boringcrypto" }

// NewServer is the stdlib backend's NewServer under Policy, after Check.
func (b backend) NewServer(cfg *tlsbackend.Config) (tlsbackend.Server, error) {
	if err := Check(); err != nil {
		return nil, err
	}
	return b.policyBackend.NewServer(cfg)
}
