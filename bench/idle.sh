#!/usr/bin/env bash
# idle.sh: server memory per idle keep-alive connection, edge against nginx,
# same workers, same CPUs, a fresh server per round. TLS=1: per idle TLS 1.3
# keep-alive connection (the configurations of tls.sh). See bench/README.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

N=${N:-10000}
WORKERS=${WORKERS:-1}
ROUNDS=${ROUNDS:-3}
SERVER_CPUS=${SERVER_CPUS:-1}
CLIENT_CPUS=${CLIENT_CPUS:-0}
SOURCES=${SOURCES:-127.0.0.1-127.0.0.20}
SERVERS=${SERVERS:-edge nginx}
TLS=${TLS:-0}
TARGET=${TARGET:-4096}
IDLE_TIMEOUT=${IDLE_TIMEOUT:-120}

[[ $N =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer"
[[ $WORKERS =~ ^[1-9][0-9]*$ ]] || die "WORKERS must be a positive integer"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer"
[[ $TLS == 0 || $TLS == 1 ]] || die "TLS must be 0 or 1"
servers=()
for s in $SERVERS; do
	case $s in edge | nginx) servers+=("$s") ;; *) die "SERVERS: unknown server '$s' (edge, nginx)" ;; esac
done
((${#servers[@]} > 0)) || die "SERVERS is empty"

hard=$(ulimit -Hn)
[[ $hard == unlimited ]] && hard=1048576
((N + 200 <= hard)) || die "N=$N needs more open files than the hard limit $hard allows"

deps=(nginx:nginx curl:curl taskset:util-linux)
((TLS)) && deps+=(openssl:openssl)
ensure_packages "${deps[@]}"
command -v go >/dev/null 2>&1 || die "go is not in PATH (needed to build bench/idle)"
check_cpus "$SERVER_CPUS" "$CLIENT_CPUS"
bench_init
tls_args=()
if ((TLS)); then
	tls_setup
	tls_args=(-tls -sni localhost)
	# IDLE_P256=1: the client offers P-256, not X25519 (BoringCrypto builds of edge).
	((${IDLE_P256:-0})) && tls_args+=(-p256)
fi
want_server edge && build_edge
log "building the idle tool: (cd $here && go build -o $bench_tmp/idle ./idle)"
(cd "$here" && go build -o "$bench_tmp/idle" ./idle)

# Each worker may get every connection, so each may need N of them. nginx
# closes idle keep-alive connections once fewer than 1/16 of worker_connections
# are free (ngx_get_connection -> ngx_drain_connections), so leave 1/8 spare.
wconns=$((N + N / 8 + 100))
nofile=$((wconns + 100 < hard ? wconns + 100 : hard))
write_nginx_conf "$WORKERS" "$wconns" "$nofile"
write_edge_conf "$WORKERS"

echo "== idle.sh $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: nproc=$(nproc), $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r)"
echo "versions: $(go version | awk '{ print $3 }'), $(nginx -v 2>&1 | sed 's/^nginx version: //')"
echo "settings: TLS=$TLS N=$N WORKERS=$WORKERS ROUNDS=$ROUNDS SERVER_CPUS=$SERVER_CPUS CLIENT_CPUS=$CLIENT_CPUS SOURCES=$SOURCES SERVERS='${servers[*]}'"
echo "nginx: master_process on, worker_processes $WORKERS, worker_connections $wconns, worker_rlimit_nofile $nofile; edge: workers $WORKERS, GOMAXPROCS=$WORKERS"
((TLS)) && echo "TLS 1.3 on both (see tls.sh): ECDSA P-256 certificate, no session tickets, client offers X25519 only"
echo "memory is summed over the server's processes (nginx: master + workers); nginx allocates and touches"
echo "its worker_connections array at start, so that part is in rss_before, not in per_conn"
echo

# Once, before measuring: both servers answer exactly 200 + the body, and
# their header sets are shown.
for s in "${servers[@]}"; do
	start_server "$s" "$WORKERS"
	check_response "$s"
	stop_server "$s"
done
echo

declare -A per_list=() after_list=() pss_list=()
printf '%-5s %-6s %8s %14s %14s %14s %12s  %s\n' round server conns rss_before rss_after per_conn_B pss_per_conn alive
for ((r = 1; r <= ROUNDS; r++)); do
	for s in "${servers[@]}"; do
		start_server "$s" "$WORKERS"
		check_response "$s" quiet
		mapfile -t pids < <(server_pids "$s")
		pidcsv=$(IFS=,; echo "${pids[*]}")
		out=$bench_tmp/idle-$s-$r.txt
		if ! timeout $((IDLE_TIMEOUT + 60)) taskset -c "$CLIENT_CPUS" "$bench_tmp/idle" \
			-addr "127.0.0.1:$(server_port "$s")" -pid "$pidcsv" -n "$N" -sources "$SOURCES" "${tls_args[@]}" \
			-timeout "${IDLE_TIMEOUT}s" >"$out" 2>"$out.err"; then
			cat "$out" "$out.err" >&2
			die "idle tool failed against $s (round $r)"
		fi
		stop_server "$s"
		kv() { awk -v k="$1" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit } }' "$out"; }
		per=$(kv per_conn_bytes)
		pss=$(kv pss_per_conn_bytes)
		[[ -n $per ]] || { cat "$out" "$out.err" >&2; die "no result from the idle tool against $s"; }
		per_list[$s]+="$per "
		after_list[$s]+="$(kv rss_after) "
		[[ -n $pss ]] && pss_list[$s]+="$pss "
		printf '%-5s %-6s %8s %14s %14s %14s %12s  %s\n' "$r" "$s" "$(kv conns)" "$(kv rss_before)" \
			"$(kv rss_after)" "$per" "${pss:--}" "$(kv alive)"
	done
done

med() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | median; }
echo
kind="keep-alive"
((TLS)) && kind="TLS keep-alive"
echo "MEDIANS over $ROUNDS rounds ($N idle $kind connections)"
printf '%-6s %16s %16s %14s\n' server per_conn_bytes pss_per_conn rss_after
declare -A m_per=()
for s in "${servers[@]}"; do
	m_per[$s]=$(med "${per_list[$s]}")
	printf '%-6s %16s %16s %14s\n' "$s" "${m_per[$s]}" "$(med "${pss_list[$s]:-}")" "$(med "${after_list[$s]}")"
done
if want_server edge && want_server nginx; then
	echo
	echo "RATIO edge/nginx per_conn_bytes: $(ratio "${m_per[edge]}" "${m_per[nginx]}")"
fi
if want_server edge && ((TLS)); then
	echo "edge per idle TLS connection: ${m_per[edge]} bytes (for reference: the WebSocket issue's future target is 6144 bytes per idle wss:// connection)"
elif want_server edge; then
	verdict=PASS
	awk -v v="${m_per[edge]}" -v t="$TARGET" 'BEGIN { exit !(v <= t) }' || verdict=FAIL
	echo "edge target <= $TARGET bytes per idle connection: $verdict (${m_per[edge]})"
fi
