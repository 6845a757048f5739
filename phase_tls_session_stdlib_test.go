//go:build !openssl

package edge

// testSessions reports whether the engine's TLS tests run on sessions
// driven by the loop (the openssl build); here they run on the goroutine
// path with crypto/tls.
const testSessions = false
