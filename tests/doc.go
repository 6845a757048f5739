// Package tests holds edge's tests that need modules the library itself
// must not require (an ACME server, other WebSocket and TLS client
// libraries, an embedded NATS server): a module of its own, so that
// importers of github.com/edge-rt/edge never inherit them. ./test.sh runs
// it like the main module.
package tests
