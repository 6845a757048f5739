//go:build goexperiment.boringcrypto && !openssl

package main

import (
	"github.com/edge-rt/edge/tlsbackend"
	"github.com/edge-rt/edge/tlsbackend/boringcrypto"
)

// tlsBackend is the TLS library this binary is built with: crypto/tls on
// the BoringCrypto module, FIPS-only (GOEXPERIMENT=boringcrypto).
func tlsBackend() tlsbackend.Backend { return boringcrypto.New() }

// tlsLibrary names the TLS library and its version: "BoringCrypto" and
// the Go release.
func tlsLibrary() string { return boringcrypto.Version() }

// tlsBackendCheck refuses to run when BoringCrypto is not linked in
// (built with CGO_ENABLED=0, say): a FIPS build must not fall back to Go's
// own cryptography.
func tlsBackendCheck() error { return boringcrypto.Check() }

// buildTags are the build tags this binary was built with, for the tests
// that build it again (GOEXPERIMENT comes from the environment).
const buildTags = ""
