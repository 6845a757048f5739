//go:build !openssl && !goexperiment.boringcrypto

package main

import (
	"github.com/edge-rt/edge/tlsbackend"
	"github.com/edge-rt/edge/tlsbackend/stdlib"
)

// tlsBackend is the TLS library this binary is built with.
func tlsBackend() tlsbackend.Backend { return stdlib.New() }

// tlsLibrary names the TLS library and its version: the Go release, with
// "fips140" when Go's FIPS 140-3 mode is on.
func tlsLibrary() string { return stdlib.Version() }

// tlsBackendCheck reports why the backend cannot run: never, for stdlib.
func tlsBackendCheck() error { return nil }

// buildTags are the build tags this binary was built with, for the tests
// that build it again.
const buildTags = ""
