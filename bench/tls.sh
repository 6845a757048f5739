#!/usr/bin/env bash
# tls.sh: TLS 1.3 (ECDSA P-256), edge against nginx, same workers, same CPUs,
# alternating servers, two measurements per round:
#   keep-alive  wrk over HTTPS keep-alive: req/s, p99, server CPU per request
#   handshake   a new connection per request, full handshake, no resumption
#               (bench/handshake): handshakes/s, p99, server CPU per handshake
# See bench/README.md for the knobs and for why handshakes are not measured
# with wrk.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

WORKERS=${WORKERS:-1}
CONNS=${CONNS:-64}
DUR=${DUR:-10s}
WARMUP=${WARMUP:-2s}
HS_CONNS=${HS_CONNS:-32}
HS_DUR=${HS_DUR:-10s}
HS_WARMUP=${HS_WARMUP:-2s}
HS_SOURCES=${HS_SOURCES:-127.0.0.1-127.0.0.20}
TESTS=${TESTS:-keepalive handshake}
ROUNDS=${ROUNDS:-3}
SERVER_CPUS=${SERVER_CPUS:-1}
CLIENT_CPUS=${CLIENT_CPUS:-0}
SERVERS=${SERVERS:-edge nginx}
MAX_SECONDS=${MAX_SECONDS:-290}
QUIET_MAX=${QUIET_MAX:-0}
QUIET_PCT=${QUIET_PCT:-20}
TARGET_RATIO=${TARGET_RATIO:-0.8}
# Groups of the crypto/tls resumption check (BoringCrypto builds of edge have no X25519: P256).
CHECK_CURVES=${CHECK_CURVES:-X25519}

[[ $WORKERS =~ ^[1-9][0-9]*$ ]] || die "WORKERS must be a positive integer"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer"
[[ $CONNS =~ ^[1-9][0-9]*$ ]] || die "CONNS must be a positive integer"
[[ $HS_CONNS =~ ^[1-9][0-9]*$ ]] || die "HS_CONNS must be a positive integer"
[[ $QUIET_MAX =~ ^[0-9]+$ ]] || die "QUIET_MAX must be a number of seconds"
servers=()
for s in $SERVERS; do
	case $s in edge | nginx) servers+=("$s") ;; *) die "SERVERS: unknown server '$s' (edge, nginx)" ;; esac
done
((${#servers[@]} > 0)) || die "SERVERS is empty"
tests=()
for t in $TESTS; do
	case $t in keepalive | handshake) tests+=("$t") ;; *) die "TESTS: unknown test '$t' (keepalive, handshake)" ;; esac
done
((${#tests[@]} > 0)) || die "TESTS is empty"
want_test() { [[ " ${tests[*]} " == *" $1 "* ]]; }

dur_s=$(dur_seconds "$DUR")
warm_s=$(dur_seconds "$WARMUP")
hs_dur_s=$(dur_seconds "$HS_DUR")
hs_warm_s=$(dur_seconds "$HS_WARMUP")
for v in "$dur_s" "$warm_s" "$hs_dur_s" "$hs_warm_s"; do
	[[ $v =~ ^[0-9]+$ ]] || die "DUR, WARMUP, HS_DUR and HS_WARMUP take wrk durations like 10s or 1m"
done
per_round=0
want_test keepalive && per_round=$((per_round + dur_s + warm_s + QUIET_MAX + 1))
# The handshake tool lets the connections in flight finish: about 1 s more.
want_test handshake && per_round=$((per_round + hs_dur_s + hs_warm_s + QUIET_MAX + 3))
planned=$((ROUNDS * ${#servers[@]} * per_round + 40))
((planned <= MAX_SECONDS)) ||
	die "planned run time ${planned}s exceeds MAX_SECONDS=$MAX_SECONDS; lower ROUNDS/DUR/HS_DUR or raise MAX_SECONDS"

deps=(nginx:nginx curl:curl taskset:util-linux openssl:openssl)
want_test keepalive && deps+=(wrk:wrk)
ensure_packages "${deps[@]}"
command -v go >/dev/null 2>&1 || die "go is not in PATH (needed to build bench/handshake)"
check_cpus "$SERVER_CPUS" "$CLIENT_CPUS"
bench_init
want_server edge && build_edge
log "building the handshake tool: (cd $here && go build -o $bench_tmp/handshake ./handshake)"
(cd "$here" && go build -o "$bench_tmp/handshake" ./handshake)
tls_setup

write_nginx_conf "$WORKERS" 4096 8192
write_edge_conf "$WORKERS"

echo "== tls.sh $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: nproc=$(nproc), $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r)"
echo "versions: $(go version 2>/dev/null | awk '{ print $3 }' || echo 'go ?'), $(nginx -v 2>&1 | sed 's/^nginx version: //') ($(nginx -V 2>&1 | sed -n 's/^built with //p')), $(wrk -v 2>&1 | awk 'NR == 1 { print $1, $2 }'), $(openssl version)"
echo "settings: WORKERS=$WORKERS TESTS='${tests[*]}' CONNS=$CONNS DUR=$DUR WARMUP=$WARMUP HS_CONNS=$HS_CONNS HS_DUR=$HS_DUR HS_WARMUP=$HS_WARMUP ROUNDS=$ROUNDS SERVER_CPUS=$SERVER_CPUS CLIENT_CPUS=$CLIENT_CPUS SERVERS='${servers[*]}' QUIET_MAX=$QUIET_MAX QUIET_PCT=$QUIET_PCT"
echo "nginx: master_process on, worker_processes $WORKERS, TLSv1.3, tickets off, session cache off, NumTickets ${NGINX_TLS13_TICKETS:-0}; edge: workers $WORKERS, GOMAXPROCS=$WORKERS, minVersion 1.3, sessionTickets false"
echo "certificate: ECDSA P-256, self-signed, CN=localhost ($(openssl x509 -in "$tls_cert" -noout -fingerprint -sha256 | sed 's/.*=//' | cut -c1-23)...)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

for s in "${servers[@]}"; do
	start_server "$s" "$WORKERS"
done
for s in "${servers[@]}"; do
	check_response "$s"
done
echo

# What each server negotiates, and proof that nothing resumes: an OpenSSL
# client (the library wrk uses, default settings); crypto/tls offering X25519
# only, three connections with a session cache (it offers any ticket it got);
# crypto/tls with its default groups (informative).
echo "negotiated (TLS parameters and resumption):"
for s in "${servers[@]}"; do
	addr=127.0.0.1:$(server_port "$s")
	printf '  %-6s openssl s_client (as wrk): %s\n' "$s" "$(tls_openssl_summary "$s")"
	out=$(timeout 60 "$bench_tmp/handshake" -addr "$addr" -check 3 -curves "$CHECK_CURVES") ||
		die "crypto/tls check against $s failed: $out"
	printf '  %-6s crypto/tls, %s only, 3 connections with a session cache: %s; %s\n' "$s" "$CHECK_CURVES" \
		"$(awk '/^check conn=1 / { print $3, $4, $5; exit }' <<<"$out")" \
		"$(awk '/^check conns=/ { print $3, $4 }' <<<"$out")"
	out=$(timeout 60 "$bench_tmp/handshake" -addr "$addr" -check 1 -curves default) ||
		die "crypto/tls check against $s failed: $out"
	printf '  %-6s crypto/tls, default groups (not used below): %s\n' "$s" \
		"$(awk '/^check conn=1 / { print $5; exit }' <<<"$out")"
done
echo "(the handshake tool offers X25519 only, TLS_AES_128_GCM_SHA256 only, and no pre_shared_key)"
echo

# run_keepalive NAME ROUND: one wrk run; appends a row to ka_rows.
run_keepalive() {
	local s=$1 r=$2 url out reqs rps p99 errs cpu_us
	url=$(server_url "$s")
	out=$bench_tmp/wrk-$s-$r.txt
	wait_quiet
	timeout $((warm_s + 30)) taskset -c "$CLIENT_CPUS" wrk -t1 -c"$CONNS" -d"$WARMUP" "$url" >/dev/null
	measure_begin "$s"
	timeout $((dur_s + 30)) taskset -c "$CLIENT_CPUS" wrk -t1 -c"$CONNS" -d"$DUR" --latency "$url" >"$out"
	measure_end "$s"
	reqs=$(awk '/ requests in / { print $1; exit }' "$out")
	rps=$(awk '/^Requests\/sec:/ { print $2; exit }' "$out")
	p99=$(to_ms "$(awk '$1 == "99%" { print $2; exit }' "$out")")
	errs=$(awk '/^ *Socket errors:/ { sub(/^ *Socket errors: */, ""); e = e $0 " " }
		/^ *Non-2xx or 3xx responses:/ { e = e "non2xx " $NF " " }
		END { print (e == "" ? "-" : e) }' "$out")
	[[ -n $reqs && $reqs -gt 0 ]] || { cat "$out" >&2; die "no requests completed against $s"; }
	cpu_us=$(awk -v d="$m_server_ticks" -v hz="$clk_tck" -v n="$reqs" 'BEGIN { printf "%.3f\n", d / hz / n * 1e6 }')
	ka_rate[$s]+="$rps "
	ka_p99[$s]+="$p99 "
	ka_cpu[$s]+="$cpu_us "
	ka_client[$s]+="$m_client_pct "
	row=$(printf '%-5s %-6s %12s %10s %12s %10s %6s %6s %7s  %s' "$r" "$s" "$rps" "$p99" "$cpu_us" "$reqs" \
		"$m_wait_pct" "$m_other_pct" "$m_client_pct" "$errs")
	ka_rows+=("$row")
	log "keepalive $row"
}

# run_handshake NAME ROUND: one run of the handshake tool; appends a row to hs_rows.
run_handshake() {
	local s=$1 r=$2 addr out ok rate p99 errs cpu_us tickets
	addr=127.0.0.1:$(server_port "$s")
	out=$bench_tmp/hs-$s-$r.txt
	hs_cmd=(taskset -c "$CLIENT_CPUS" "$bench_tmp/handshake" -addr "$addr" -c "$HS_CONNS" -sources "$HS_SOURCES")
	wait_quiet
	timeout $((hs_warm_s + 60)) "${hs_cmd[@]}" -d "$HS_WARMUP" -timeout $((hs_warm_s + 30))s >/dev/null 2>"$out.warm" ||
		{ cat "$out.warm" >&2; die "handshake tool failed against $s (warm-up)"; }
	measure_begin "$s"
	if ! timeout $((hs_dur_s + 60)) "${hs_cmd[@]}" -d "$HS_DUR" -timeout $((hs_dur_s + 30))s >"$out" 2>"$out.err"; then
		cat "$out" "$out.err" >&2
		die "handshake tool failed against $s (round $r)"
	fi
	measure_end "$s"
	kv() { awk -v k="$1" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit } }' "$out"; }
	ok=$(kv ok)
	rate=$(kv hs_per_s)
	p99=$(kv p99_ms)
	tickets=$(kv tickets)
	errs=$(kv errors)
	[[ -n $ok && $ok -gt 0 ]] || { cat "$out" "$out.err" >&2; die "no handshake completed against $s"; }
	[[ $errs == 0 ]] && errs=- || errs="errors=$errs($(grep -m1 'error x' "$out.err" | cut -c1-60))"
	[[ $tickets == 0 ]] || errs+=" tickets=$tickets"
	cpu_us=$(awk -v d="$m_server_ticks" -v hz="$clk_tck" -v n="$ok" 'BEGIN { printf "%.3f\n", d / hz / n * 1e6 }')
	hs_rate[$s]+="$rate "
	hs_p99[$s]+="$p99 "
	hs_cpu[$s]+="$cpu_us "
	hs_client[$s]+="$m_client_pct "
	row=$(printf '%-5s %-6s %12s %10s %12s %10s %6s %6s %7s  %s' "$r" "$s" "$rate" "$p99" "$cpu_us" "$ok" \
		"$m_wait_pct" "$m_other_pct" "$m_client_pct" "$errs")
	hs_rows+=("$row")
	log "handshake $row"
}

declare -A ka_rate=() ka_p99=() ka_cpu=() ka_client=() hs_rate=() hs_p99=() hs_cpu=() hs_client=()
ka_rows=()
hs_rows=()
log "rounds: ${tests[*]} (progress on stderr, tables at the end)"
for ((r = 1; r <= ROUNDS; r++)); do
	# Alternate the order too: edge first in odd rounds, last in even ones.
	order=("${servers[@]}")
	if ((r % 2 == 0 && ${#servers[@]} == 2)); then
		order=("${servers[1]}" "${servers[0]}")
	fi
	for t in "${tests[@]}"; do
		for s in "${order[@]}"; do
			"run_$t" "$s" "$r"
		done
	done
done

med() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | median; }
hdr() { printf '%-5s %-6s %12s %10s %12s %10s %6s %6s %7s  %s\n' round server "$1" p99_ms "$2" "$3" wait% other% client% errors; }
echo "wait%   = time the server's threads were runnable but had no CPU, in % of the run"
echo "other%  = CPU used by all other processes (not this server, not the client), in % of all $ncpu CPUs"
echo "client% = CPU used by the load generator (wrk, bench/handshake), in % of one CPU: near 100, it was the bottleneck"
echo "rounds with a high wait% or other% were disturbed (rate, p99); CPU per request/handshake is robust to it"
verdicts=()
summary() {
	local t=$1 what=$2 unit=$3 s ratio_rate ratio_cpu verdict
	local -n rate=${t}_rate p99=${t}_p99 cpu=${t}_cpu client=${t}_client
	declare -A mr=() mc=()
	echo
	echo "MEDIANS $what over $ROUNDS rounds (CPU = utime+stime of all server processes / $unit)"
	printf '%-6s %12s %10s %12s %14s %8s\n' server "$unit/s" p99_ms "cpu_us/$unit" "$unit/cpu_s" client%
	for s in "${servers[@]}"; do
		mr[$s]=$(med "${rate[$s]}")
		mc[$s]=$(med "${cpu[$s]}")
		printf '%-6s %12s %10s %12s %14s %8s\n' "$s" "${mr[$s]}" "$(med "${p99[$s]}")" "${mc[$s]}" \
			"$(awk -v c="${mc[$s]}" 'BEGIN { printf "%.0f\n", 1e6 / c }')" "$(med "${client[$s]}")"
	done
	if want_server edge && want_server nginx; then
		ratio_rate=$(ratio "${mr[edge]}" "${mr[nginx]}")
		ratio_cpu=$(ratio "${mc[edge]}" "${mc[nginx]}")
		echo "RATIOS $what edge/nginx (of medians): $unit/s $ratio_rate  cpu/$unit $ratio_cpu" \
			" p99 $(ratio "$(med "${p99[edge]}")" "$(med "${p99[nginx]}")")"
		verdict=PASS
		awk -v v="$ratio_rate" -v t="$TARGET_RATIO" 'BEGIN { exit !(v >= t) }' || verdict=FAIL
		verdicts+=("target $what: edge $unit/s >= ${TARGET_RATIO}x nginx's: $verdict ($ratio_rate; $unit per CPU-second: $(ratio "${mc[nginx]}" "${mc[edge]}"))")
	fi
}
if want_test keepalive; then
	echo
	echo "KEEP-ALIVE: wrk -t1 -c$CONNS -d$DUR --latency https://127.0.0.1:PORT/ (cpu per request)"
	hdr req/s cpu_us/req requests
	printf '%s\n' "${ka_rows[@]}"
fi
if want_test handshake; then
	echo
	echo "FULL HANDSHAKES: bench/handshake -c $HS_CONNS -d $HS_DUR, new connection per request, no resumption, X25519 (cpu per handshake)"
	hdr hs/s cpu_us/hs handshakes
	printf '%s\n' "${hs_rows[@]}"
fi
want_test keepalive && summary ka keep-alive req
want_test handshake && summary hs handshakes hs
if ((${#verdicts[@]})); then
	echo
	printf '%s\n' "${verdicts[@]}"
	echo "(rates: higher is better for edge; CPU per request/handshake and p99: lower is better)"
fi
