//go:build openssl && !goexperiment.boringcrypto

package main

import (
	"github.com/edge-rt/edge/tlsbackend"
	"github.com/edge-rt/edge/tlsbackend/openssl"
)

// tlsBackend is the TLS library this binary is built with: the system's
// OpenSSL 3 (libssl), through cgo.
func tlsBackend() tlsbackend.Backend { return openssl.New() }
