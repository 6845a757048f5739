//go:build openssl && !goexperiment.boringcrypto

package main

import (
	"github.com/edge-rt/edge/tlsbackend"
	"github.com/edge-rt/edge/tlsbackend/openssl"
)

// tlsBackend is the TLS library this binary is built with: the system's
// OpenSSL 3 (libssl), through cgo.
func tlsBackend() tlsbackend.Backend { return openssl.New() }

// tlsLibrary names the TLS library and its version: OpenSSL_version().
func tlsLibrary() string { return openssl.Version() }

// tlsBackendCheck reports why the backend cannot run: never (a missing
// libssl stops the binary before main).
func tlsBackendCheck() error { return nil }

// buildTags are the build tags this binary was built with, for the tests
// that build it again.
const buildTags = "openssl"
