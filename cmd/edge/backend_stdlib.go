//go:build !openssl && !goexperiment.boringcrypto

package main

import (
	"github.com/edge-rt/edge/tlsbackend"
	"github.com/edge-rt/edge/tlsbackend/stdlib"
)

// tlsBackend is the TLS library this binary is built with.
func tlsBackend() tlsbackend.Backend { return stdlib.New() }
