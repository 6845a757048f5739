#!/usr/bin/env bash
# tls_backends.sh: tls.sh once per TLS backend of edge (stdlib crypto/tls,
# OpenSSL 3 via cgo, BoringCrypto), each run against its own nginx with the
# same settings, one after the other, then a summary of the ratios per backend.
#
#   stdlib   go build ./cmd/edge
#   openssl  go build -tags openssl ./cmd/edge        (needs libssl-dev)
#   boring   GOEXPERIMENT=boringcrypto go build ./cmd/edge
#
# The BoringCrypto build has no X25519 (FIPS policy). bench/handshake's load
# client offers X25519 only, so the boring run measures keep-alive only (wrk,
# i.e. OpenSSL, offers P-256 too) and its crypto/tls check offers P256.
# Resumed handshakes and RSA-2048 are not measured: bench/handshake never
# resumes (no pre_shared_key) and lib.sh makes an ECDSA P-256 certificate only.
#
# Knobs: BACKENDS (default "stdlib openssl boring"), MAX_SECONDS (whole run,
# default 900); every other knob of tls.sh passes through (ROUNDS, DUR, ...),
# with shorter defaults here: ROUNDS=2 DUR=5s HS_DUR=5s.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
BACKENDS=${BACKENDS:-stdlib openssl boring}
MAX_SECONDS=${MAX_SECONDS:-900}
export ROUNDS=${ROUNDS:-2} DUR=${DUR:-5s} HS_DUR=${HS_DUR:-5s}

die() { printf 'error: %s\n' "$*" >&2; exit 1; }
command -v go >/dev/null 2>&1 || die "go is not in PATH"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/edge-tlsb.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT

for b in $BACKENDS; do
	case $b in
	stdlib) (cd "$repo" && go build -o "$tmp/edge-$b" ./cmd/edge) ;;
	openssl) (cd "$repo" && go build -tags openssl -o "$tmp/edge-$b" ./cmd/edge) ;;
	boring) (cd "$repo" && GOEXPERIMENT=boringcrypto go build -o "$tmp/edge-$b" ./cmd/edge) ;;
	*) die "BACKENDS: unknown backend '$b' (stdlib, openssl, boring)" ;;
	esac || die "edge does not build with backend $b"
	printf 'built %s\n' "$b" >&2
done

start=$SECONDS
summary=()
for b in $BACKENDS; do
	left=$((MAX_SECONDS - (SECONDS - start)))
	((left > 60)) || { summary+=("$b: skipped, MAX_SECONDS=$MAX_SECONDS reached"); continue; }
	env_extra=()
	if [[ $b == boring ]]; then
		env_extra=(TESTS=keepalive CHECK_CURVES=P256)
	fi
	echo "######## backend $b"
	out=$tmp/tls-$b.txt
	if ! env "${env_extra[@]}" EDGE_BIN="$tmp/edge-$b" MAX_SECONDS="$left" "$here/tls.sh" | tee "$out"; then
		summary+=("$b: tls.sh failed (see above)")
		continue
	fi
	while IFS= read -r line; do
		summary+=("$b: $line")
	done < <(grep -E '^(MEDIANS|server +[a-z]|(edge|nginx) +[0-9]|RATIOS|target)' "$out")
done
echo
echo "SUMMARY per backend (edge/nginx)"
printf '%s\n' "${summary[@]}"
