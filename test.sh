#!/usr/bin/env bash
# The whole test suite: installs the real peers the tests talk to (Debian
# packages: curl, openssl, certbot, pebble, nodejs and npm for the node `ws`
# interop test, which npm-installs `ws` itself, and chromium for the browser
# test, which npm-installs playwright-core to drive it, and prometheus for
# promtool, which checks the /metrics output, and tshark for the
# independent JA4 derivation in tests/clienthello), checks formatting and
# vet, then runs every test with the race detector.
# Usage: ./test.sh   (extra arguments go to `go test`)
set -euo pipefail
cd "$(dirname "$0")"

need=()
# nats-server: the backplane test with the Debian binary (tests/backplane_test.go);
# promtool (prometheus): checks /metrics (cmd/edge/ops_e2e_test.go);
# tshark: the independent JA4 derivation (tests/clienthello);
# haproxy: the PROXY protocol peer both ways (cmd/edge/proxy_e2e_test.go);
# systemd-analyze (systemd): verifies docker/edge.service (cmd/edge/packaging_test.go);
# python3: the stream hooks chat backend (cmd/edge/hooks_e2e_test.go);
# testssl (testssl.sh): the scan of each TLS backend (cmd/edge/backend_testssl_test.go).
for pair in python3:python3 curl:curl openssl:openssl certbot:certbot pebble:pebble node:nodejs npm:npm chromium:chromium nats-server:nats-server promtool:prometheus tshark:tshark haproxy:haproxy systemd-analyze:systemd testssl:testssl.sh; do
	cmd=${pair%%:*} pkg=${pair#*:}
	command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
# libssl-dev, pkg-config: the OpenSSL backend (go test -tags openssl below).
{ command -v pkg-config >/dev/null 2>&1 && pkg-config --exists libssl; } || need+=(libssl-dev pkg-config)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "test.sh: installing ${need[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
	else
		echo "test.sh: missing ${need[*]} (install them, or run as root to let this script do it)" >&2
	fi
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
echo "== go vet"
go vet ./...
CGO_ENABLED=0 go build ./...
# The images' build commands (docker/Dockerfile.*), one per TLS backend.
echo "== docker/build.sh"
bin=$(mktemp -d)
./docker/build.sh stdlib "$bin/edge-stdlib"
./docker/build.sh openssl "$bin/edge-openssl"
if grep -qs '^//go:build goexperiment.boringcrypto' cmd/edge/*.go; then
	./docker/build.sh boringcrypto "$bin/edge-boringcrypto"
else
	echo "docker/build.sh boringcrypto: skipped, cmd/edge has no boringcrypto backend yet"
fi
rm -rf "$bin"
(cd bench && go vet ./...)
(cd tests && go vet ./...)
echo "== go test -race"
go test -race -shuffle=on -count=1 -timeout 20m "$@" ./...
# The OpenSSL backend (tlsbackend/openssl) and everything on it, cmd/edge's
# end-to-end tests included.
echo "== go test -tags openssl -race"
go vet -tags openssl ./...
go test -tags openssl -race -count=1 -timeout 20m "$@" ./...
# The cgo layer under AddressSanitizer (gcc's libasan; leaks are reported at exit).
CC=gcc go test -asan -tags openssl -count=1 -timeout 10m ./tlsbackend/openssl/
# The BoringCrypto backend (tlsbackend/boringcrypto, FIPS-only settings) and
# everything on it, cmd/edge's end-to-end tests included (their edge binary
# is built with the same GOEXPERIMENT). Without -race: on the shared 2-core
# machine it took 1m49s; with -race the root package alone took 3m19s and
# the whole run had not finished after 14 minutes.
echo "== GOEXPERIMENT=boringcrypto go test"
GOEXPERIMENT=boringcrypto go vet ./...
GOEXPERIMENT=boringcrypto go test -count=1 -timeout 20m "$@" ./...
echo "== go test -race (tests module)"
(cd tests && go test -race -shuffle=on -count=1 -timeout 20m "$@" ./...)
