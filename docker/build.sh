#!/bin/sh
# The build command of each TLS backend, in one place: the Dockerfiles run
# it, and so does test.sh (CI), so an image is built the way CI proves.
#
# Usage: docker/build.sh stdlib|openssl|boringcrypto OUTPUT [VERSION]
#
#   stdlib        crypto/tls, static (CGO_ENABLED=0): runs on distroless/static
#   openssl       the system's OpenSSL 3 through cgo (-tags openssl): needs libssl3
#   boringcrypto  crypto/tls on BoringCrypto (GOEXPERIMENT=boringcrypto, cgo)
set -eu
if [ $# -lt 2 ]; then
	echo "usage: docker/build.sh stdlib|openssl|boringcrypto OUTPUT [VERSION]" >&2
	exit 2
fi
backend=$1 out=$2 version=${3:-dev}
cd "$(dirname "$0")/.."
ldflags="-s -w -X main.version=$version"
case $backend in
stdlib)
	CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out" ./cmd/edge ;;
openssl)
	CGO_ENABLED=1 go build -trimpath -tags openssl -ldflags "$ldflags" -o "$out" ./cmd/edge ;;
boringcrypto)
	CGO_ENABLED=1 GOEXPERIMENT=boringcrypto go build -trimpath -ldflags "$ldflags" -o "$out" ./cmd/edge ;;
*)
	echo "docker/build.sh: unknown backend $backend (stdlib, openssl or boringcrypto)" >&2
	exit 2 ;;
esac
