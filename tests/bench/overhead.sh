#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# tests/bench/overhead.sh - what the agent costs a busy HTTP server.
#
# nginx serves a small static file on 127.0.0.1; wrk drives it with keep-alive
# connections; runs without and with the agent alternate (ABBA order, so a
# drift in machine speed cancels out).  The agent exports to the test
# collector in counting mode (collector.js --discard).  Printed:
#   * throughput without / with the agent and their ratio (per pair and overall)
#   * agent CPU: seconds per run, % of a core per 1k requests/s, µs per request
#     (utime+stime from /proc/PID/stat, sampled just before and after wrk)
#   * agent peak RSS (VmHWM from /proc/PID/status just before SIGTERM)
#   * exported SERVER spans / requests served (wrk's count vs. the collector's)
# Targets (issue 2): ratio >= 0.90, >= 99% of requests exported, RSS <= 32 MiB.
#
# nginx runs ONE worker on purpose: the machines here have 2 cores shared by
# nginx, wrk (2 threads) and the agent.  One worker keeps nginx to one core so
# the comparison is "what the agent takes away", not scheduler noise between
# two nginx workers and wrk; it is also how DESIGN.md's figures were measured.
#
# Usage: tests/bench/overhead.sh [--agent PATH] [--duration S] [--pairs N]
#            [--threads N] [--connections N] [--warmup S] [--ports] [--check]
#   --ports   set filters.ports to nginx's port (default: no filter, every process traced)
#   --check   exit 1 when a target is missed (default: report only)
# Default: 3 pairs of 10 s runs, about 90 s in all; needs root, nginx, wrk, node.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
REPO=$(pwd)

AGENT=$REPO/build/spanbpf
DURATION=10
PAIRS=3
THREADS=2
CONNECTIONS=32
WARMUP=3
USE_PORTS=0
CHECK=0

usage() { sed -n '3,28p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while (($#)); do
	case $1 in
	--agent) AGENT=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--pairs) PAIRS=$2; shift 2 ;;
	--threads) THREADS=$2; shift 2 ;;
	--connections) CONNECTIONS=$2; shift 2 ;;
	--warmup) WARMUP=$2; shift 2 ;;
	--ports) USE_PORTS=1; shift ;;
	--check) CHECK=1; shift ;;
	-h|--help) usage 0 ;;
	*) echo "overhead.sh: unknown argument $1" >&2; usage 2 ;;
	esac
done
for n in "$DURATION" "$PAIRS" "$THREADS" "$CONNECTIONS" "$WARMUP"; do
	[[ $n =~ ^[0-9]+$ ]] || { echo "overhead.sh: not a number: $n" >&2; exit 2; }
done
((PAIRS >= 1 && DURATION >= 1)) || { echo "overhead.sh: need --pairs >= 1 and --duration >= 1" >&2; exit 2; }

die() { echo "overhead.sh: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "needs root (the agent loads BPF programs)"
[[ -x $AGENT ]] || die "agent $AGENT not found: build first (cmake -S . -B build && cmake --build build)"
command -v nginx >/dev/null || die "nginx not found (apt-get install nginx)"
command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"
command -v node >/dev/null || die "node not found (apt-get install nodejs)"
bash tests/collector/install.sh

WORK=$(mktemp -d /tmp/spanbpf-bench-XXXXXX)
chmod 755 "$WORK"
NGINX_PID=""
COLLECTOR_PID=""
AGENT_PID=""

# Stop what this script started, by PID.
stop_pid() {	# pid signal
	local pid=$1 sig=${2:-TERM} i
	[[ -n $pid ]] || return 0
	kill -0 "$pid" 2>/dev/null || return 0
	kill "-$sig" "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
	stop_pid "$AGENT_PID" TERM
	stop_pid "$NGINX_PID" QUIT
	stop_pid "$COLLECTOR_PID" TERM
	if [[ ${KEEP:-0} == 1 ]]; then
		echo "bench files kept in $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---- nginx ------------------------------------------------------------------
mkdir -p "$WORK/www" "$WORK/tmp"
head -c 612 /dev/zero | tr '\0' 'x' >"$WORK/www/index.html"
chmod -R a+rX "$WORK/www"
NGINX_PORT=$(free_port)
cat >"$WORK/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
user nobody nogroup;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $WORK/tmp/body;
    proxy_temp_path $WORK/tmp/proxy;
    fastcgi_temp_path $WORK/tmp/fastcgi;
    uwsgi_temp_path $WORK/tmp/uwsgi;
    scgi_temp_path $WORK/tmp/scgi;
    types { text/html html; }
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $WORK/www;
    }
}
EOF
nginx -p "$WORK" -c "$WORK/nginx.conf" -e "$WORK/nginx-error.log" >"$WORK/nginx.out" 2>&1 &
NGINX_PID=$!
for ((i = 0; i < 100; i++)); do
	curl -sf -o /dev/null --noproxy '*' "http://127.0.0.1:$NGINX_PORT/index.html" && break
	kill -0 "$NGINX_PID" 2>/dev/null || die "nginx exited: $(cat "$WORK/nginx-error.log" "$WORK/nginx.out" 2>/dev/null)"
	sleep 0.1
done
URL="http://127.0.0.1:$NGINX_PORT/index.html"

# ---- collector (counting only) -------------------------------------------
node tests/collector/collector.js --port 0 --discard --stats "$WORK/stats.json" \
	--requests "$WORK/requests.jsonl" >"$WORK/collector.out" 2>"$WORK/collector.err" &
COLLECTOR_PID=$!
COLLECTOR_PORT=""
for ((i = 0; i < 100; i++)); do
	COLLECTOR_PORT=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$WORK/collector.out" | head -1)
	[[ -n $COLLECTOR_PORT ]] && break
	kill -0 "$COLLECTOR_PID" 2>/dev/null || die "collector exited: $(cat "$WORK/collector.err")"
	sleep 0.1
done
[[ -n $COLLECTOR_PORT ]] || die "collector did not start"

{
	echo "exporter:"
	echo "  endpoint: http://127.0.0.1:$COLLECTOR_PORT/v1/traces"
	echo "  compression: gzip"
	if ((USE_PORTS)); then
		echo "filters:"
		echo "  ports: [$NGINX_PORT]"
	fi
	echo "log:"
	echo "  level: info"
} >"$WORK/spanbpf.yaml"

# SERVER spans on nginx's port the collector has accepted so far.
server_spans() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["server_spans_by_port"].get(sys.argv[2], 0))' \
		"$WORK/stats.json" "$NGINX_PORT" 2>/dev/null || echo 0
}

cpu_ticks() {	# utime + stime of a pid, in clock ticks
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

# ---- one run ------------------------------------------------------------------
# run_wrk NAME: wrk for DURATION seconds; prints "requests req/s non2xx"
run_wrk() {
	local out=$WORK/wrk-$1.txt
	timeout $((DURATION + 30)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" "$URL" >"$out" 2>&1 ||
		die "wrk failed: $(cat "$out")"
	local reqs rps non2xx
	reqs=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$out")
	rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$out")
	non2xx=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$out")
	echo "${reqs:-0} ${rps:-0} ${non2xx:-0}"
}

TICKS=$(getconf CLK_TCK)
RESULTS=$WORK/results.txt
: >"$RESULTS"

run_off() {	# run number
	local r
	r=$(run_wrk "$1-off")
	echo "$1 off $r - - - -" >>"$RESULTS"
	printf '  run %-2s without agent: %s\n' "$1" "$(awk '{printf "%d requests, %.0f req/s", $1, $2}' <<<"$r")"
}

run_on() {	# run number
	local err=$WORK/agent-$1.err i
	local before_spans after_spans t0 t1 hwm r
	before_spans=$(server_spans)
	"$AGENT" --config "$WORK/spanbpf.yaml" >"$WORK/agent-$1.out" 2>"$err" &
	AGENT_PID=$!
	for ((i = 0; i < 600; i++)); do
		grep -qw ready "$err" && break
		kill -0 "$AGENT_PID" 2>/dev/null || die "agent exited before ready: $(tail -20 "$err")"
		sleep 0.1
	done
	grep -qw ready "$err" || die "agent not ready after 60s: $(tail -20 "$err")"
	t0=$(cpu_ticks "$AGENT_PID")
	r=$(run_wrk "$1-on")
	t1=$(cpu_ticks "$AGENT_PID")
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$AGENT_PID/status")
	kill -TERM "$AGENT_PID"
	local rc=0
	wait "$AGENT_PID" || rc=$?
	AGENT_PID=""
	((rc == 0)) || echo "  warning: agent exited with status $rc after SIGTERM"
	# Let the collector record the final flush.
	sleep 0.5
	after_spans=$(server_spans)
	echo "$1 on $r $((t1 - t0)) $hwm $((after_spans - before_spans)) $TICKS" >>"$RESULTS"
	# The agent's own closing counters (events lost, spans dropped...), when it logs them.
	grep -iE 'final|lost|dropped' "$err" 2>/dev/null | tail -2 | sed 's/^/    agent: /' || true
	awk -v run="$1" '{ printf "  run %-2s with agent:    %d requests, %.0f req/s, agent CPU %.2f s, peak RSS %.1f MiB, %d SERVER spans exported\n",
		run, $1, $2, $4 / $7, $5 / 1024, $6 }' <<<"$r $((t1 - t0)) $hwm $((after_spans - before_spans)) $TICKS"
}

echo "spanbpf overhead: nginx (1 worker) on 127.0.0.1:$NGINX_PORT, 612-byte file;" \
	"wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s; $PAIRS pairs, ABBA order;" \
	"filter: $( ((USE_PORTS)) && echo "ports [$NGINX_PORT]" || echo none)"
echo "agent: $AGENT ($("$AGENT" --version 2>&1 | head -1))"
if ((WARMUP > 0)); then
	timeout $((WARMUP + 30)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" "$URL" >/dev/null 2>&1 || true
fi
for ((p = 1; p <= PAIRS; p++)); do
	if ((p % 2)); then
		run_off "$((2 * p - 1))"
		run_on "$((2 * p))"
	else
		run_on "$((2 * p - 1))"
		run_off "$((2 * p))"
	fi
done

# ---- summary ----------------------------------------------------------------
# results.txt: run mode requests rps non2xx cpu_ticks hwm_kib spans ticks_per_s
awk -v duration="$DURATION" -v check="$CHECK" '
	$2 == "off" { off_n++; off_rps += $4; off_req += $3; pair_off[int((NR + 1) / 2)] = $4; non2xx += $5 }
	$2 == "on"  { on_n++; on_rps += $4; on_req += $3; pair_on[int((NR + 1) / 2)] = $4; non2xx += $5
		cpu += $6 / $9; if ($7 > hwm) hwm = $7; spans += $8 }
	END {
		off = off_rps / off_n; on = on_rps / on_n; ratio = on / off
		printf "\nthroughput without agent: %.0f req/s (mean of %d runs)\n", off, off_n
		printf "throughput with agent:    %.0f req/s (mean of %d runs)\n", on, on_n
		printf "ratio with/without:       %.3f   (per pair:", ratio
		for (p = 1; p in pair_on; p++) printf " %.3f", pair_on[p] / pair_off[p]
		printf ")\n"
		cpu_s = cpu / on_n            # agent CPU seconds per run
		util = cpu_s / duration       # cores
		printf "agent CPU:                %.2f s per %d s run = %.1f%% of a core; %.2f%% of a core per 1k req/s; %.2f us per request\n", \
			cpu_s, duration, util * 100, util * 100 / (on / 1000), cpu * 1e6 / on_req
		printf "agent peak RSS:           %.1f MiB (VmHWM, max over runs)\n", hwm / 1024
		printf "exported / served:        %d SERVER spans / %d requests = %.2f%%\n", spans, on_req, 100 * spans / on_req
		if (non2xx) printf "warning: %d non-2xx responses\n", non2xx
		fail = 0
		if (ratio < 0.90) { print "target missed: throughput ratio < 0.90"; fail = 1 }
		if (spans < 0.99 * on_req) { print "target missed: < 99% of requests exported"; fail = 1 }
		if (hwm > 32 * 1024) { print "target missed: peak RSS > 32 MiB"; fail = 1 }
		if (!fail) print "all targets met (ratio >= 0.90, >= 99% exported, RSS <= 32 MiB)"
		exit (check && fail) ? 1 : 0
	}' "$RESULTS"
