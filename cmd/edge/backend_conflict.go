//go:build openssl && goexperiment.boringcrypto

package main

// Building with -tags openssl and GOEXPERIMENT=boringcrypto asks for two
// TLS backends at once. This file exists only in that build, and stops it
// with the error below: build with one of them.
var _ = edge_cannot_build_with_both_the_openssl_tag_and_GOEXPERIMENT_boringcrypto__choose_one_TLS_backend
