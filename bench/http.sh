#!/usr/bin/env bash
# http.sh: keep-alive "Hello, World!" throughput, p99 latency and server CPU
# per request, edge against nginx, same workers, same CPUs, alternating rounds.
# See bench/README.md for the knobs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

WORKERS=${WORKERS:-1}
CONNS=${CONNS:-64}
DUR=${DUR:-10s}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-5}
SERVER_CPUS=${SERVER_CPUS:-1}
CLIENT_CPUS=${CLIENT_CPUS:-0}
SERVERS=${SERVERS:-edge nginx}
MAX_SECONDS=${MAX_SECONDS:-290}
QUIET_MAX=${QUIET_MAX:-0}
QUIET_PCT=${QUIET_PCT:-20}

[[ $WORKERS =~ ^[1-9][0-9]*$ ]] || die "WORKERS must be a positive integer"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer"
[[ $CONNS =~ ^[1-9][0-9]*$ ]] || die "CONNS must be a positive integer"
servers=()
for s in $SERVERS; do
	case $s in edge | nginx) servers+=("$s") ;; *) die "SERVERS: unknown server '$s' (edge, nginx)" ;; esac
done
((${#servers[@]} > 0)) || die "SERVERS is empty"

dur_s=$(dur_seconds "$DUR")
warm_s=$(dur_seconds "$WARMUP")
[[ $dur_s =~ ^[0-9]+$ && $warm_s =~ ^[0-9]+$ ]] || die "DUR and WARMUP take wrk durations like 10s or 1m"
[[ $QUIET_MAX =~ ^[0-9]+$ ]] || die "QUIET_MAX must be a number of seconds"
planned=$((ROUNDS * ${#servers[@]} * (dur_s + warm_s + QUIET_MAX + 1) + 30))
((planned <= MAX_SECONDS)) ||
	die "planned run time ${planned}s exceeds MAX_SECONDS=$MAX_SECONDS; lower ROUNDS/DUR or raise MAX_SECONDS"

deps=(nginx:nginx wrk:wrk curl:curl taskset:util-linux)
ensure_packages "${deps[@]}"
check_cpus "$SERVER_CPUS" "$CLIENT_CPUS"
bench_init
want_server edge && build_edge

write_nginx_conf "$WORKERS" 4096 8192
write_edge_conf "$WORKERS"

clk_tck=$(getconf CLK_TCK)
ncpu=$(getconf _NPROCESSORS_ONLN)

echo "== http.sh $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: nproc=$(nproc), $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r)"
echo "versions: $(go version 2>/dev/null | awk '{ print $3 }' || echo 'go ?'), $(nginx -v 2>&1 | sed 's/^nginx version: //'), $(wrk -v 2>&1 | awk 'NR == 1 { print $1, $2 }')"
echo "settings: WORKERS=$WORKERS CONNS=$CONNS DUR=$DUR WARMUP=$WARMUP ROUNDS=$ROUNDS SERVER_CPUS=$SERVER_CPUS CLIENT_CPUS=$CLIENT_CPUS SERVERS='${servers[*]}' QUIET_MAX=$QUIET_MAX QUIET_PCT=$QUIET_PCT"
echo "nginx: master_process on, worker_processes $WORKERS; edge: workers $WORKERS, GOMAXPROCS=$WORKERS"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wait%  = time the server's threads were runnable but had no CPU, in % of the round"
echo "other% = CPU used by all other processes (not this server, not wrk), in % of all $ncpu CPUs"
echo "rounds with a high wait% or other% were disturbed (req/s, p99); cpu/request is robust to it"
echo

for s in "${servers[@]}"; do
	start_server "$s" "$WORKERS"
done
for s in "${servers[@]}"; do
	check_response "$s"
done
echo

declare -A rps_list=() p99_list=() cpu_list=()
printf '%-5s %-6s %12s %10s %12s %10s %6s %6s  %s\n' round server req/s p99_ms cpu_us/req requests wait% other% errors
for ((r = 1; r <= ROUNDS; r++)); do
	for s in "${servers[@]}"; do
		url="http://127.0.0.1:$(server_port "$s")/"
		out=$bench_tmp/wrk-$s-$r.txt
		wait_quiet
		timeout $((warm_s + 30)) taskset -c "$CLIENT_CPUS" wrk -t1 -c"$CONNS" -d"$WARMUP" "$url" >/dev/null
		mapfile -t pids < <(server_pids "$s")
		children_ticks_to "$bench_tmp/k0"
		m0=$(machine_ticks)
		t0=$(cpu_ticks "${pids[@]}")
		w0=$(run_delay_ns "${pids[@]}")
		c0=$(date +%s%N)
		timeout $((dur_s + 30)) taskset -c "$CLIENT_CPUS" wrk -t1 -c"$CONNS" -d"$DUR" --latency "$url" >"$out"
		t1=$(cpu_ticks "${pids[@]}")
		w1=$(run_delay_ns "${pids[@]}")
		c1=$(date +%s%N)
		m1=$(machine_ticks)
		children_ticks_to "$bench_tmp/k1"
		k=$(($(<"$bench_tmp/k1") - $(<"$bench_tmp/k0")))
		wait_pct=$(awk -v w=$((w1 - w0)) -v c=$((c1 - c0)) 'BEGIN { if (w < 0) w = 0; printf "%.1f\n", 100 * w / c }')
		# CPU used by everything but this server and wrk, in % of the machine.
		other_pct=$(awk -v o=$((m1 - m0 - (t1 - t0) - k)) -v c=$((c1 - c0)) -v hz="$clk_tck" -v n="$ncpu" \
			'BEGIN { p = 100 * o / hz / (c / 1e9) / n; if (p < 0) p = 0; if (p > 100) p = 100; printf "%.1f\n", p }')

		reqs=$(awk '/ requests in / { print $1; exit }' "$out")
		rps=$(awk '/^Requests\/sec:/ { print $2; exit }' "$out")
		p99=$(to_ms "$(awk '$1 == "99%" { print $2; exit }' "$out")")
		errs=$(awk '/^ *Socket errors:/ { sub(/^ *Socket errors: */, ""); e = e $0 " " }
			/^ *Non-2xx or 3xx responses:/ { e = e "non2xx " $NF " " }
			END { print (e == "" ? "-" : e) }' "$out")
		[[ -n $reqs && $reqs -gt 0 ]] || { cat "$out" >&2; die "no requests completed against $s"; }
		cpu_us=$(awk -v d=$((t1 - t0)) -v hz="$clk_tck" -v n="$reqs" 'BEGIN { printf "%.3f\n", d / hz / n * 1e6 }')

		rps_list[$s]+="$rps "
		p99_list[$s]+="$p99 "
		cpu_list[$s]+="$cpu_us "
		printf '%-5s %-6s %12s %10s %12s %10s %6s %6s  %s\n' "$r" "$s" "$rps" "$p99" "$cpu_us" "$reqs" "$wait_pct" "$other_pct" "$errs"
	done
done

med() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | median; }
echo
echo "MEDIANS over $ROUNDS rounds (CPU = utime+stime of all server processes / requests)"
printf '%-6s %12s %10s %12s\n' server req/s p99_ms cpu_us/req
declare -A m_rps=() m_p99=() m_cpu=()
for s in "${servers[@]}"; do
	m_rps[$s]=$(med "${rps_list[$s]}")
	m_p99[$s]=$(med "${p99_list[$s]}")
	m_cpu[$s]=$(med "${cpu_list[$s]}")
	printf '%-6s %12s %10s %12s\n' "$s" "${m_rps[$s]}" "${m_p99[$s]}" "${m_cpu[$s]}"
done
if want_server edge && want_server nginx; then
	echo
	echo "RATIOS edge/nginx (of medians): req/s $(ratio "${m_rps[edge]}" "${m_rps[nginx]}")" \
		" cpu/request $(ratio "${m_cpu[edge]}" "${m_cpu[nginx]}")" \
		" p99 $(ratio "${m_p99[edge]}" "${m_p99[nginx]}")"
	echo "(req/s: higher is better for edge; cpu/request and p99: lower is better)"
fi
