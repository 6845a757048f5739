#!/usr/bin/env bash
# proxy.sh: reverse proxying, edge (request mode and pin mode) against nginx
# (proxy_pass, upstream keepalive) and haproxy (mode http, http-reuse
# always), same backend, same workers, same CPUs, alternating rounds:
#   proxy  TLS-terminated proxying of a 13-byte response from a keep-alive
#          backend: wrk over HTTPS keep-alive: req/s, p99, the proxy's CPU
#          per request
#   idle   memory per idle proxied keep-alive connection (bench/idle)
#   bulk   bytes through an edge SNI passthrough host (spliced) against
#          straight to the same backend (bench/bulk)
# See bench/README.md for the knobs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

WORKERS=${WORKERS:-1}
CONNS=${CONNS:-64}
DUR=${DUR:-10s}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-3}
SERVER_CPUS=${SERVER_CPUS:-1}
CLIENT_CPUS=${CLIENT_CPUS:-0}
BACKEND_CPUS=${BACKEND_CPUS:-$CLIENT_CPUS}
BACKEND_WORKERS=${BACKEND_WORKERS:-1}
POOL=${POOL:-32}
TESTS=${TESTS:-proxy idle bulk}
SERVERS=${SERVERS:-edge-req edge-pin nginx haproxy}
IDLE_SERVERS=${IDLE_SERVERS:-edge-req edge-pin nginx}
IDLE_N=${IDLE_N:-9000}
IDLE_TLS=${IDLE_TLS:-0}
IDLE_TIMEOUT=${IDLE_TIMEOUT:-120}
SOURCES=${SOURCES:-127.0.0.1-127.0.0.20}
BULK_SIZE=${BULK_SIZE:-1GiB}
BULK_KINDS=${BULK_KINDS:-raw tls}
BULK_ROUNDS=${BULK_ROUNDS:-5}
BULK_BACKEND_CPUS=${BULK_BACKEND_CPUS:-$BACKEND_CPUS}
MAX_SECONDS=${MAX_SECONDS:-900}
QUIET_MAX=${QUIET_MAX:-0}
QUIET_PCT=${QUIET_PCT:-20}

BACKEND_PORT=${BACKEND_PORT:-18681}
BULK_RAW_PORT=${BULK_RAW_PORT:-18649}
BULK_TLS_PORT=${BULK_TLS_PORT:-18650}
PASSTHROUGH_PORT=${PASSTHROUGH_PORT:-18648}
# TLS listeners (proxy test, IDLE_TLS=1) and plain ones (IDLE_TLS=0).
# Ports of their own (186xx), so that proxy.sh can run beside the other scripts.
declare -A tls_port=([nginx]=${PX_NGINX_TLS_PORT:-18643} [edge-req]=${PX_EDGE_TLS_PORT:-18644}
	[haproxy]=${PX_HAPROXY_TLS_PORT:-18646} [edge-pin]=${PX_EDGE_PIN_TLS_PORT:-18647})
declare -A plain_port=([nginx]=${PX_NGINX_PORT:-18680} [edge-req]=${PX_EDGE_PORT:-18689}
	[haproxy]=${PX_HAPROXY_PORT:-18686} [edge-pin]=${PX_EDGE_PIN_PORT:-18687})

# Targets (issue 8): request mode CPU/request <= 0.8x nginx's and req/s >=
# 1.2x haproxy's; pin mode CPU/request <= 0.6x nginx's; idle proxied
# connection <= nginx's memory; passthrough >= 0.9x direct.
T_REQ_CPU=0.8
T_REQ_RPS_HAPROXY=1.2
T_PIN_CPU=0.6
T_IDLE=1.0
T_BULK=0.9

for v in WORKERS ROUNDS CONNS IDLE_N BACKEND_WORKERS BULK_ROUNDS POOL; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer"
done
[[ $QUIET_MAX =~ ^[0-9]+$ ]] || die "QUIET_MAX must be a number of seconds"
[[ $IDLE_TLS == 0 || $IDLE_TLS == 1 ]] || die "IDLE_TLS must be 0 or 1"
all_proxies="edge-req edge-pin nginx haproxy"
servers=()
for s in $SERVERS; do
	[[ " $all_proxies " == *" $s "* ]] || die "SERVERS: unknown server '$s' ($all_proxies)"
	servers+=("$s")
done
idle_servers=()
for s in $IDLE_SERVERS; do
	[[ " $all_proxies " == *" $s "* ]] || die "IDLE_SERVERS: unknown server '$s' ($all_proxies)"
	idle_servers+=("$s")
done
tests=()
for t in $TESTS; do
	case $t in proxy | idle | bulk) tests+=("$t") ;; *) die "TESTS: unknown test '$t' (proxy, idle, bulk)" ;; esac
done
((${#tests[@]} > 0)) || die "TESTS is empty"
want_test() { [[ " ${tests[*]} " == *" $1 "* ]]; }
want_test proxy && ((${#servers[@]} == 0)) && die "SERVERS is empty"
want_test idle && ((${#idle_servers[@]} == 0)) && die "IDLE_SERVERS is empty"
bulk_kinds=()
for k in $BULK_KINDS; do
	case $k in raw | tls) bulk_kinds+=("$k") ;; *) die "BULK_KINDS: unknown kind '$k' (raw, tls)" ;; esac
done
want_test bulk && ((${#bulk_kinds[@]} == 0)) && die "BULK_KINDS is empty"
in_list() { [[ " $2 " == *" $1 "* ]]; }

# Open files: pin mode holds a client and a backend socket per connection, in
# one process whose hard limit is `ulimit -Hn` (20,000 on the machine this was
# written on): IDLE_N=9000 leaves room for the listeners and the pool.
hard=$(ulimit -Hn)
[[ $hard == unlimited ]] && hard=1048576
if want_test idle; then
	need=$((IDLE_N + 200))
	in_list edge-pin "${idle_servers[*]}" && need=$((2 * IDLE_N + 300))
	((need <= hard)) || die "IDLE_N=$IDLE_N needs $need open files in one process; the hard limit is $hard (pin mode holds 2 per connection)"
fi

dur_s=$(dur_seconds "$DUR")
warm_s=$(dur_seconds "$WARMUP")
[[ $dur_s =~ ^[0-9]+$ && $warm_s =~ ^[0-9]+$ ]] || die "DUR and WARMUP take wrk durations like 10s or 1m"
# Planned length: per wrk round its duration, warm-up, quiet wait and 2 s of
# bookkeeping; per idle round (a fresh server, 9,000 connections, two RSS
# settles of up to 15 s each) 35 s; per bulk transfer 10 s (1 GiB at ~100 MiB/s).
planned=45
want_test proxy && planned=$((planned + ROUNDS * ${#servers[@]} * (dur_s + warm_s + QUIET_MAX + 2)))
want_test idle && planned=$((planned + ROUNDS * ${#idle_servers[@]} * 35))
want_test bulk && planned=$((planned + BULK_ROUNDS * ${#bulk_kinds[@]} * 2 * (10 + QUIET_MAX)))
((planned <= MAX_SECONDS)) ||
	die "planned run time ${planned}s exceeds MAX_SECONDS=$MAX_SECONDS; lower ROUNDS/DUR/TESTS or raise MAX_SECONDS"
started=$(date +%s)
# over_time SECONDS: true when starting something that may take SECONDS more
# would end the run past MAX_SECONDS.
over_time() { (($(date +%s) - started + $1 > MAX_SECONDS)); }

deps=(nginx:nginx-light curl:curl taskset:util-linux openssl:openssl)
want_test proxy && deps+=(wrk:wrk)
if in_list haproxy "${servers[*]} ${idle_servers[*]}"; then deps+=(haproxy:haproxy); fi
ensure_packages "${deps[@]}"
command -v go >/dev/null 2>&1 || die "go is not in PATH (needed to build bench/idle and bench/bulk)"
check_cpus "$SERVER_CPUS" "$CLIENT_CPUS" "$BACKEND_CPUS" "$BULK_BACKEND_CPUS"
bench_init
# shellcheck disable=SC2154 # edge_bin is set by build_edge
build_edge
want_test idle && {
	log "building the idle tool: (cd $here && go build -o $bench_tmp/idle ./idle)"
	(cd "$here" && go build -o "$bench_tmp/idle" ./idle)
}
want_test bulk && {
	log "building the bulk tool: (cd $here && go build -o $bench_tmp/bulk ./bulk)"
	(cd "$here" && go build -o "$bench_tmp/bulk" ./bulk)
}
tls_setup
cat "$tls_cert" "$tls_key" >"$bench_tmp/tls/haproxy.pem"

# ---- configurations

# The backend: nginx answering "Hello, World!" (the http.sh configuration) on
# BACKEND_PORT, plain HTTP, keep-alive, its own instance and directory.
write_backend_conf() {
	local wconns=$((2 * IDLE_N + 1000))
	write_nginx_conf "$BACKEND_WORKERS" "$wconns" $((wconns + 100 < hard ? wconns + 100 : hard)) backend "
    server {
        listen 127.0.0.1:$BACKEND_PORT;
        location = / {
            default_type text/plain;
            return 200 \"$BODY\";
        }
        location = /status {
            stub_status;
        }
    }"
}

# backend_accepts: the connections the backend has accepted so far
# (stub_status; the request itself makes one more).
backend_accepts() {
	curl -s --max-time 5 "http://127.0.0.1:$BACKEND_PORT/status" | awk 'NR == 3 { print $1 }'
}

# proxy_port NAME TLS(0|1)
proxy_port() { if (($2)); then echo "${tls_port[$1]}"; else echo "${plain_port[$1]}"; fi; }

# write_nginx_proxy_conf TLS: proxy_pass to an upstream with keepalive POOL,
# HTTP/1.1, Connection "" (what the nginx documentation prescribes for
# keep-alive upstreams); the TLS settings of tls.sh.
write_nginx_proxy_conf() {
	local use_tls=$1 tls="" wconns=$((IDLE_N + IDLE_N / 8 + 500))
	((use_tls)) && tls=$(nginx_tls_directives)
	write_nginx_conf "$WORKERS" "$wconns" $((wconns + 100 < hard ? wconns + 100 : hard)) nginx "
    upstream backend {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive $POOL;
    }
    server {
        listen 127.0.0.1:$(proxy_port nginx "$use_tls")${tls:+ ssl};$tls
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }
    }"
}

# write_haproxy_conf TLS: mode http, http-reuse always, nbthread WORKERS,
# maxconn IDLE_N + 500 (haproxy needs two files per connection and refuses
# to start when the hard limit does not allow them: at most (limit - 100)/2); TLS
# 1.3 only, no tickets, AES-128-GCM preferred (the server's order, haproxy's
# default), as nginx.
write_haproxy_conf() {
	local use_tls=$1 bind
	bind="127.0.0.1:$(proxy_port haproxy "$use_tls")"
	((use_tls)) && bind+=" ssl crt $bench_tmp/tls/haproxy.pem"
	cat >"$bench_tmp/haproxy.cfg" <<EOF
# generated by edge/bench/proxy.sh; see bench/README.md
global
    nbthread $WORKERS
    maxconn $(((hard - 100) / 2 < IDLE_N + 500 ? (hard - 100) / 2 : IDLE_N + 500))
    ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256
    ssl-default-bind-options ssl-min-ver TLSv1.3 no-tls-tickets

defaults
    mode http
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-keep-alive 300s
    http-reuse always

frontend fe
    bind $bind
    default_backend be

backend be
    http-reuse always
    server b1 127.0.0.1:$BACKEND_PORT
EOF
}

# write_edge_proxy_conf NAME MODE TLS: the http.sh / tls.sh edge settings,
# one route "prefix: /" proxying to the backend in MODE (request | pin),
# maxIdle POOL (pooled backend connections per worker, as nginx's keepalive),
# defaults otherwise (forwardedFor off, as nginx's and haproxy's here).
write_edge_proxy_conf() {
	local name=$1 mode=$2 use_tls=$3 route
	route="        routes:
          - prefix: /
            proxy:
              to: [\"127.0.0.1:$BACKEND_PORT\"]
              mode: $mode
              maxIdle: $POOL"
	{
		cat <<EOF
# generated by edge/bench/proxy.sh; see bench/README.md
workers: $WORKERS
headerServer: true
headerDate: true
clientMax: 32000
limitOpenFiles: -1
connectionTimeout: 300s
EOF
		if ((use_tls)); then
			cat <<EOF
sslRoutesHost: host
tls:
  minVersion: "1.3"
  sessionTickets: false
listeners:
  - listen: "127.0.0.1:$(proxy_port "$name" 1)"
    tls: true
    defaultHost: localhost
    hosts:
      - host: localhost
        certificates: {privKey: "$tls_key", fullChain: "$tls_cert"}
$route
      - host: ""
$route
EOF
		else
			cat <<EOF
listeners:
  - listen: "127.0.0.1:$(proxy_port "$name" 0)"
    hosts:
      - host: ""
$route
EOF
		fi
	} >"$bench_tmp/$name.yaml"
}

# write_edge_passthrough_conf: a TLS listener with two passthrough hosts (the
# raw and the TLS bulk backends) and, for the readiness check, a terminated
# host answering "Hello, World!".
write_edge_passthrough_conf() {
	cat >"$bench_tmp/edge-pt.yaml" <<EOF
# generated by edge/bench/proxy.sh; see bench/README.md
workers: $WORKERS
clientMax: 32000
limitOpenFiles: -1
connectionTimeout: 300s
sslRoutesHost: host
tls:
  minVersion: "1.3"
  sessionTickets: false
listeners:
  - listen: "127.0.0.1:$PASSTHROUGH_PORT"
    tls: true
    defaultHost: localhost
    hosts:
      - host: raw.bulk.test
        passthrough: {to: ["127.0.0.1:$BULK_RAW_PORT"]}
      - host: tls.bulk.test
        passthrough: {to: ["127.0.0.1:$BULK_TLS_PORT"]}
      - host: localhost
        certificates: {privKey: "$tls_key", fullChain: "$tls_cert"}
        routes:
          - path: /
            respond: {status: 200, type: text/plain, body: "$BODY"}
      - host: ""
        routes:
          - path: /
            respond: {status: 200, type: text/plain, body: "$BODY"}
EOF
}

# start_proxy NAME TLS: writes NAME's configuration and starts it pinned to
# SERVER_CPUS, then waits until it answers through the backend.
start_proxy() {
	local name=$1 use_tls=$2 scheme=http port
	((use_tls)) && scheme=https
	port=$(proxy_port "$name" "$use_tls")
	port_busy "$port" && die "127.0.0.1:$port is already in use"
	bench_url[$name]="$scheme://127.0.0.1:$port/"
	case $name in
	nginx)
		write_nginx_proxy_conf "$use_tls"
		start_pinned nginx "$SERVER_CPUS" nginx -p "$bench_tmp/nginx/" -e "$bench_tmp/nginx/error.log" \
			-c "$bench_tmp/nginx/nginx.conf"
		;;
	haproxy)
		write_haproxy_conf "$use_tls"
		start_pinned haproxy "$SERVER_CPUS" haproxy -db -f "$bench_tmp/haproxy.cfg"
		;;
	edge-req | edge-pin)
		if [[ $name == edge-req ]]; then
			write_edge_proxy_conf "$name" request "$use_tls"
		else
			write_edge_proxy_conf "$name" pin "$use_tls"
		fi
		start_pinned "$name" "$SERVER_CPUS" env GOMAXPROCS="$WORKERS" "$edge_bin" -config "$bench_tmp/$name.yaml"
		;;
	esac
	wait_ready "$name" "${server_pid[$name]}"
}

start_backend() {
	write_backend_conf
	port_busy "$BACKEND_PORT" && die "127.0.0.1:$BACKEND_PORT is already in use"
	bench_url[backend]="http://127.0.0.1:$BACKEND_PORT/"
	start_pinned backend "$BACKEND_CPUS" nginx -p "$bench_tmp/backend/" -e "$bench_tmp/backend/error.log" \
		-c "$bench_tmp/backend/nginx.conf"
	wait_ready backend "${server_pid[backend]}"
}

kv() { awk -v k="$1" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit } }' "$2"; }
med() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | median; }
# rotate ROUND NAMES...: NAMES rotated by ROUND-1 (alternating who goes first).
rotate() {
	local r=$1 n i
	shift
	n=$#
	local a=("$@")
	for ((i = 0; i < n; i++)); do printf '%s\n' "${a[$(((i + r - 1) % n))]}"; done
}
# pass V OP T: PASS or FAIL for "V OP T" (OP <= or >=), "n/a" when V is nan.
pass() {
	awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
		if (v == "nan" || v == "") { print "n/a"; exit }
		ok = (op == "<=") ? (v + 0 <= t + 0) : (v + 0 >= t + 0)
		print (ok ? "PASS" : "FAIL") }'
}

echo "== proxy.sh $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: nproc=$(nproc), $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r), $(awk '/^MemTotal/ { printf "%.0f GB RAM", $2 / 1048576 }' /proc/meminfo)"
echo "versions: $(go version | awk '{ print $3 }'), edge $(cd "$bench_repo" && git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nginx -v 2>&1 | sed 's/^nginx version: //'), $(haproxy -v 2>/dev/null | awk 'NR == 1 { print $1, $3 }'), $(wrk -v 2>&1 | awk 'NR == 1 { print $1, $2 }'), $(openssl version)"
echo "settings: TESTS='${tests[*]}' WORKERS=$WORKERS CONNS=$CONNS DUR=$DUR WARMUP=$WARMUP ROUNDS=$ROUNDS SERVER_CPUS=$SERVER_CPUS CLIENT_CPUS=$CLIENT_CPUS BACKEND_CPUS=$BACKEND_CPUS BACKEND_WORKERS=$BACKEND_WORKERS POOL=$POOL SERVERS='${servers[*]}' IDLE_SERVERS='${idle_servers[*]}' IDLE_N=$IDLE_N IDLE_TLS=$IDLE_TLS BULK_SIZE=$BULK_SIZE BULK_KINDS='${bulk_kinds[*]}' BULK_ROUNDS=$BULK_ROUNDS BULK_BACKEND_CPUS=$BULK_BACKEND_CPUS QUIET_MAX=$QUIET_MAX"
echo "proxies (pinned to CPUs $SERVER_CPUS): edge-req: edge, proxy mode request; edge-pin: edge, proxy mode pin; both workers $WORKERS, GOMAXPROCS=$WORKERS, maxIdle $POOL"
echo "  nginx: proxy_pass to upstream {keepalive $POOL}, proxy_http_version 1.1, Connection \"\", worker_processes $WORKERS (master + workers counted)"
echo "  haproxy: mode http, http-reuse always, nbthread $WORKERS"
echo "  TLS on all three: TLS 1.3 only, ECDSA P-256 certificate, no session tickets (tls.sh's settings)"
echo "backend (pinned to CPUs $BACKEND_CPUS, not counted in the proxies' CPU): nginx, return 200 \"$BODY\", plain HTTP keep-alive on 127.0.0.1:$BACKEND_PORT, worker_processes $BACKEND_WORKERS"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

declare -A pr_rate=() pr_p99=() pr_cpu=() pr_be=() pr_client=() pr_new=()
pr_rows=()
declare -A id_per=() id_pss=() id_after=()
id_rows=()
declare -A bk_rate=() bk_cpu=()
bk_rows=()

want_test proxy || want_test idle && start_backend

# ---- 1. TLS-terminated proxying, wrk over HTTPS keep-alive

run_wrk_round() {
	local s=$1 r=$2 url out reqs rps p99 errs cpu_us be_us a0 a1 be_new
	url=${bench_url[$s]}
	out=$bench_tmp/wrk-$s-$r.txt
	wait_quiet
	timeout $((warm_s + 30)) taskset -c "$CLIENT_CPUS" wrk -t1 -c"$CONNS" -d"$WARMUP" "$url" >/dev/null
	a0=$(backend_accepts)
	measure_begin "$s" backend
	timeout $((dur_s + 30)) taskset -c "$CLIENT_CPUS" wrk -t1 -c"$CONNS" -d"$DUR" --latency "$url" >"$out"
	measure_end
	a1=$(backend_accepts)
	be_new=$((a1 - a0 - 1))
	reqs=$(awk '/ requests in / { print $1; exit }' "$out")
	rps=$(awk '/^Requests\/sec:/ { print $2; exit }' "$out")
	p99=$(to_ms "$(awk '$1 == "99%" { print $2; exit }' "$out")")
	errs=$(awk '/^ *Socket errors:/ { sub(/^ *Socket errors: */, ""); e = e $0 " " }
		/^ *Non-2xx or 3xx responses:/ { e = e "non2xx " $NF " " }
		END { print (e == "" ? "-" : e) }' "$out")
	[[ -n $reqs && $reqs -gt 0 ]] || { cat "$out" >&2; die "no requests completed against $s"; }
	cpu_us=$(awk -v d="$m_server_ticks" -v hz="$clk_tck" -v n="$reqs" 'BEGIN { printf "%.3f\n", d / hz / n * 1e6 }')
	be_us=$(awk -v d="$m_extra_ticks" -v hz="$clk_tck" -v n="$reqs" 'BEGIN { printf "%.3f\n", d / hz / n * 1e6 }')
	pr_rate[$s]+="$rps "
	pr_p99[$s]+="$p99 "
	pr_cpu[$s]+="$cpu_us "
	pr_be[$s]+="$be_us "
	pr_client[$s]+="$m_client_pct "
	pr_new[$s]+="$(awk -v a="$be_new" -v n="$reqs" 'BEGIN { printf "%.2f\n", 1000 * a / n }') "
	row=$(printf '%-5s %-8s %11s %8s %10s %9s %9s %7s %6s %6s %7s  %s' "$r" "$s" "$rps" "$p99" "$cpu_us" "$reqs" "$be_us" \
		"$be_new" "$m_wait_pct" "$m_other_pct" "$m_client_pct" "$errs")
	pr_rows+=("$row")
	log "proxy $row"
}

if want_test proxy; then
	for s in "${servers[@]}"; do
		start_proxy "$s" 1
	done
	check_response backend
	for s in "${servers[@]}"; do
		check_response "$s"
	done
	echo
	log "proxy: $ROUNDS rounds of ${servers[*]} (progress on stderr, tables at the end)"
	for ((r = 1; r <= ROUNDS; r++)); do
		if over_time $((${#servers[@]} * (dur_s + warm_s + QUIET_MAX + 2))); then
			log "proxy: stopping after $((r - 1)) rounds (MAX_SECONDS=$MAX_SECONDS)"
			break
		fi
		mapfile -t order < <(rotate "$r" "${servers[@]}")
		for s in "${order[@]}"; do
			run_wrk_round "$s" "$r"
		done
	done
	for s in "${servers[@]}"; do
		stop_server "$s"
	done
fi

# ---- 2. idle proxied keep-alive connections

if want_test idle; then
	idle_args=()
	((IDLE_TLS)) && idle_args=(-tls -sni localhost)
	log "idle: $ROUNDS rounds of ${idle_servers[*]}, $IDLE_N connections each, a fresh proxy per round"
	for ((r = 1; r <= ROUNDS; r++)); do
		if over_time $((${#idle_servers[@]} * 35)); then
			log "idle: stopping after $((r - 1)) rounds (MAX_SECONDS=$MAX_SECONDS)"
			break
		fi
		mapfile -t order < <(rotate "$r" "${idle_servers[@]}")
		for s in "${order[@]}"; do
			start_proxy "$s" "$IDLE_TLS"
			check_response "$s" quiet
			mapfile -t pids < <(server_pids "$s")
			pidcsv=$(IFS=,; echo "${pids[*]}")
			out=$bench_tmp/idle-$s-$r.txt
			# Count the established backend connections every 0.5 s while the
			# tool runs (pin mode: one per client; request mode: the pool).
			(while :; do
				ss -Htn state established "( sport = :$BACKEND_PORT )" 2>/dev/null | wc -l
				sleep 0.5
			done) >"$out.be" &
			server_pid[sampler]=$!
			bench_started_pids+=("$!")
			if ! timeout $((IDLE_TIMEOUT + 60)) taskset -c "$CLIENT_CPUS" "$bench_tmp/idle" \
				-addr "127.0.0.1:$(proxy_port "$s" "$IDLE_TLS")" -pid "$pidcsv" -n "$IDLE_N" -sources "$SOURCES" \
				"${idle_args[@]}" -timeout "${IDLE_TIMEOUT}s" >"$out" 2>"$out.err"; then
				cat "$out" "$out.err" >&2
				die "idle tool failed against $s (round $r)"
			fi
			stop_server sampler
			be_conns=$(sort -n "$out.be" | tail -n 1)
			stop_server "$s"
			per=$(kv per_conn_bytes "$out")
			pss=$(kv pss_per_conn_bytes "$out")
			[[ -n $per ]] || { cat "$out" "$out.err" >&2; die "no result from the idle tool against $s"; }
			id_per[$s]+="$per "
			id_after[$s]+="$(kv rss_after "$out") "
			[[ -n $pss ]] && id_pss[$s]+="$pss "
			row=$(printf '%-5s %-8s %7s %12s %12s %11s %12s %8s  %s' "$r" "$s" "$(kv conns "$out")" "$(kv rss_before "$out")" \
				"$(kv rss_after "$out")" "$per" "${pss:--}" "$be_conns" "$(kv alive "$out")")
			id_rows+=("$row")
			log "idle $row"
		done
	done
fi

want_test proxy || want_test idle && stop_server backend

# ---- 3. passthrough bulk throughput

if want_test bulk; then
	start_pinned bulk-raw "$BULK_BACKEND_CPUS" "$bench_tmp/bulk" -serve "127.0.0.1:$BULK_RAW_PORT" -size "$BULK_SIZE"
	wait_port bulk-raw "${server_pid[bulk-raw]}" "$BULK_RAW_PORT"
	start_pinned bulk-tls "$BULK_BACKEND_CPUS" "$bench_tmp/bulk" -serve "127.0.0.1:$BULK_TLS_PORT" -size "$BULK_SIZE" \
		-cert "$tls_cert" -key "$tls_key"
	wait_port bulk-tls "${server_pid[bulk-tls]}" "$BULK_TLS_PORT"
	write_edge_passthrough_conf
	port_busy "$PASSTHROUGH_PORT" && die "127.0.0.1:$PASSTHROUGH_PORT is already in use"
	bench_url[edge-pt]="https://127.0.0.1:$PASSTHROUGH_PORT/"
	start_pinned edge-pt "$SERVER_CPUS" env GOMAXPROCS="$WORKERS" "$edge_bin" -config "$bench_tmp/edge-pt.yaml"
	wait_ready edge-pt "${server_pid[edge-pt]}"
	log "bulk: $BULK_ROUNDS rounds of ${bulk_kinds[*]} x (direct, passthrough), $BULK_SIZE each"
	for ((r = 1; r <= BULK_ROUNDS; r++)); do
		if over_time $((${#bulk_kinds[@]} * 2 * (10 + QUIET_MAX))); then
			log "bulk: stopping after $((r - 1)) rounds (MAX_SECONDS=$MAX_SECONDS)"
			break
		fi
		for k in "${bulk_kinds[@]}"; do
			mapfile -t order < <(rotate "$r" direct passthrough)
			for path in "${order[@]}"; do
				tls_flag=()
				[[ $k == tls ]] && tls_flag=(-tls)
				if [[ $path == direct ]]; then
					port=$BULK_RAW_PORT
					[[ $k == tls ]] && port=$BULK_TLS_PORT
				else
					port=$PASSTHROUGH_PORT
				fi
				out=$bench_tmp/bulk-$k-$path-$r.txt
				wait_quiet
				measure_begin edge-pt "bulk-$k"
				if ! timeout 150 taskset -c "$CLIENT_CPUS" "$bench_tmp/bulk" -get "127.0.0.1:$port" -sni "$k.bulk.test" \
					-size "$BULK_SIZE" "${tls_flag[@]}" -timeout 120s >"$out" 2>"$out.err"; then
					cat "$out" "$out.err" >&2
					log "---- edge-pt log:"
					tail -n 20 "$bench_tmp/edge-pt.log" >&2
					die "bulk transfer failed: $k $path (round $r)"
				fi
				measure_end
				rate=$(kv mib_per_s "$out")
				bytes=$(kv bytes "$out")
				edge_s=$(awk -v d="$m_server_ticks" -v hz="$clk_tck" 'BEGIN { printf "%.2f\n", d / hz }')
				be_s=$(awk -v d="$m_extra_ticks" -v hz="$clk_tck" 'BEGIN { printf "%.2f\n", d / hz }')
				edge_us=$(awk -v d="$m_server_ticks" -v hz="$clk_tck" -v b="$bytes" 'BEGIN { printf "%.2f\n", d / hz * 1e6 / (b / 1048576) }')
				bk_rate[$k-$path]+="$rate "
				bk_cpu[$k-$path]+="$edge_us "
				row=$(printf '%-5s %-4s %-12s %10s %9s %9s %12s %9s %7s %6s' "$r" "$k" "$path" "$rate" "$(kv elapsed_s "$out")" \
					"$edge_s" "$edge_us" "$be_s" "$m_client_pct" "$m_other_pct")
				bk_rows+=("$row")
				log "bulk $row"
			done
		done
	done
fi

# ---- tables

echo "wait%   = time the proxy's threads were runnable but had no CPU, in % of the run"
echo "other%  = CPU used by all other processes (not the proxy, not the backend, not the client), in % of all $ncpu CPUs"
echo "client% = CPU used by the load generator (wrk, bench/bulk), in % of one CPU: near 100, it was the bottleneck"
echo "rounds with a high wait% or other% were disturbed (req/s, p99); CPU per request is robust to it"
verdicts=()

if ((${#pr_rows[@]})); then
	echo
	echo "PROXY: wrk -t1 -c$CONNS -d$DUR --latency https://127.0.0.1:PORT/ through each proxy to the backend"
	echo "(cpu_us/req: the proxy's processes only; be_us/req: the backend's, for reference; be_new: connections"
	echo " the backend accepted during the round (stub_status): a proxy whose pool is smaller than the"
	echo " requests in flight opens and closes backend connections)"
	printf '%-5s %-8s %11s %8s %10s %9s %9s %7s %6s %6s %7s  %s\n' round server req/s p99_ms cpu_us/req requests be_us/req \
		be_new wait% other% client% errors
	printf '%s\n' "${pr_rows[@]}"
	echo
	echo "MEDIANS proxy over the rounds"
	printf '%-8s %11s %8s %10s %11s %9s %12s %7s\n' server req/s p99_ms cpu_us/req req/cpu_s be_us/req be_new/kreq client%
	declare -A mr=() mc=()
	for s in "${servers[@]}"; do
		mr[$s]=$(med "${pr_rate[$s]}")
		mc[$s]=$(med "${pr_cpu[$s]}")
		printf '%-8s %11s %8s %10s %11s %9s %12s %7s\n' "$s" "${mr[$s]}" "$(med "${pr_p99[$s]}")" "${mc[$s]}" \
			"$(awk -v c="${mc[$s]}" 'BEGIN { printf "%.0f\n", 1e6 / c }')" "$(med "${pr_be[$s]}")" "$(med "${pr_new[$s]}")" \
			"$(med "${pr_client[$s]}")"
	done
	echo
	for e in edge-req edge-pin; do
		in_list "$e" "${servers[*]}" || continue
		for o in nginx haproxy; do
			in_list "$o" "${servers[*]}" || continue
			echo "RATIOS $e/$o (of medians): req/s $(ratio "${mr[$e]}" "${mr[$o]}")  cpu/request $(ratio "${mc[$e]}" "${mc[$o]}")" \
				" p99 $(ratio "$(med "${pr_p99[$e]}")" "$(med "${pr_p99[$o]}")")"
		done
	done
	if in_list edge-req "${servers[*]}" && in_list nginx "${servers[*]}"; then
		v=$(ratio "${mc[edge-req]}" "${mc[nginx]}")
		verdicts+=("target request mode cpu/request <= ${T_REQ_CPU}x nginx's: $(pass "$v" '<=' "$T_REQ_CPU") ($v)")
	fi
	if in_list edge-req "${servers[*]}" && in_list haproxy "${servers[*]}"; then
		v=$(ratio "${mr[edge-req]}" "${mr[haproxy]}")
		verdicts+=("target request mode req/s >= ${T_REQ_RPS_HAPROXY}x haproxy's: $(pass "$v" '>=' "$T_REQ_RPS_HAPROXY") ($v)")
	fi
	if in_list edge-pin "${servers[*]}" && in_list nginx "${servers[*]}"; then
		v=$(ratio "${mc[edge-pin]}" "${mc[nginx]}")
		verdicts+=("target pin mode cpu/request <= ${T_PIN_CPU}x nginx's: $(pass "$v" '<=' "$T_PIN_CPU") ($v)")
	fi
fi

if ((${#id_rows[@]})); then
	kind=plain
	((IDLE_TLS)) && kind="TLS 1.3"
	echo
	echo "IDLE: $IDLE_N $kind keep-alive connections through each proxy, one request each, then idle (bench/idle)"
	echo "(memory of the proxy's processes only; be_conns: most established backend connections seen during the run, sampled every 0.5 s)"
	printf '%-5s %-8s %7s %12s %12s %11s %12s %8s  %s\n' round server conns rss_before rss_after per_conn_B pss_per_conn \
		be_conns alive
	printf '%s\n' "${id_rows[@]}"
	echo
	echo "MEDIANS idle over the rounds"
	printf '%-8s %14s %14s %12s\n' server per_conn_bytes pss_per_conn rss_after
	declare -A mp=()
	for s in "${idle_servers[@]}"; do
		mp[$s]=$(med "${id_per[$s]}")
		printf '%-8s %14s %14s %12s\n' "$s" "${mp[$s]}" "$(med "${id_pss[$s]:-}")" "$(med "${id_after[$s]}")"
	done
	if in_list nginx "${idle_servers[*]}"; then
		for e in edge-req edge-pin; do
			in_list "$e" "${idle_servers[*]}" || continue
			v=$(ratio "${mp[$e]}" "${mp[nginx]}")
			echo "RATIO $e/nginx per_conn_bytes: $v"
			verdicts+=("target idle $e bytes per connection <= nginx's: $(pass "$v" '<=' "$T_IDLE") ($v)")
		done
	fi
fi

if ((${#bk_rows[@]})); then
	echo
	echo "BULK: $BULK_SIZE per connection from bench/bulk -serve (pinned to CPUs $BULK_BACKEND_CPUS), read by bench/bulk -get (CPUs $CLIENT_CPUS)"
	echo "  direct: to the backend's port; passthrough: to edge's TLS listener, SNI <kind>.bulk.test, passthrough host (spliced)"
	echo "  raw: one real ClientHello, then plain bytes; tls: a TLS 1.3 handshake with the backend, then the body in TLS records"
	echo "(edge_s: edge's CPU seconds in the transfer; edge_us/MiB: per MiB; backend_s: the bulk server's CPU seconds)"
	printf '%-5s %-4s %-12s %10s %9s %9s %12s %9s %7s %6s\n' round kind path MiB/s elapsed_s edge_s edge_us/MiB backend_s client% other%
	printf '%s\n' "${bk_rows[@]}"
	echo
	echo "MEDIANS bulk over the rounds"
	printf '%-4s %12s %14s %8s %12s\n' kind direct_MiB/s passthru_MiB/s ratio edge_us/MiB
	for k in "${bulk_kinds[@]}"; do
		d=$(med "${bk_rate[$k-direct]}")
		p=$(med "${bk_rate[$k-passthrough]}")
		v=$(ratio "$p" "$d")
		printf '%-4s %12s %14s %8s %12s\n' "$k" "$d" "$p" "$v" "$(med "${bk_cpu[$k-passthrough]}")"
		verdicts+=("target passthrough ($k) >= ${T_BULK}x direct: $(pass "$v" '>=' "$T_BULK") ($v)")
	done
fi

if ((${#verdicts[@]})); then
	echo
	echo "TARGETS (issue 8; benchmark, not test)"
	printf '  %s\n' "${verdicts[@]}"
	echo "(req/s and MiB/s: higher is better for edge; CPU per request, p99 and memory: lower is better)"
fi
echo
echo "run time: $(($(date +%s) - started)) s, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
