#!/bin/bash
# psctl against Redis on this machine, in one run (not part of make check).
#
#   tests/bench/run.sh [PATH-TO-psctl]
#
# The server (psctl serve, redis-server) is pinned on core 0 and the clients
# (psctl bench, redis-benchmark) on core 1 with taskset: unpinned, a 2-core
# machine gives small-message figures that differ 3x from run to run.  Each
# scenario measures psctl and its Redis baseline back to back, prints one
# line per figure with the ratio and the target, and the script exits 1 if
# any target was missed.
#
#   (a) 10,000 parameters, 4 workers, pushpull: round trips/s against
#       redis-benchmark -t set,get -d 40000 -c 4 as GET+SET pairs
#       (pair rate = 1 / (1/get + 1/set)); targets 0.7x and 15,000/s.
#   (b) 1,000,000 parameters, 1 worker: pull MB/s against GET of a
#       4,000,000-byte value (-c 1), target 1.7x (issue 10: no worse
#       than the core that first measured 2x; the original target was
#       0.9x); push (applied) MB/s against SET, target 0.7x.
#   (c) server peak RSS (VmHWM) while 4 workers pull a 10,000,000-parameter
#       model: target <= 2 x model bytes + 32 MiB.
#
# (a) and (b) run in ROUNDS rounds, psctl and Redis back to back in each
# (which goes first alternates); a ratio is the median of the rounds'.
#
# Environment: PSCTL (the binary, else $1, else ./src/psctl or psctl on
# PATH), BENCH_SECONDS (each psctl run, default 5), ROUNDS (3),
# SERVER_CPU (0), CLIENT_CPU (1).  Redis comes from Debian's redis-server
# and redis-tools, installed with apt-get if missing; it runs on a spare
# port with persistence off and is stopped at the end.

set -u
. "$(dirname "$0")/median.sh"

secs=${BENCH_SECONDS:-5}
rounds=${ROUNDS:-3}
scpu=${SERVER_CPU:-0}
ccpu=${CLIENT_CPU:-1}
psctl=${1:-${PSCTL:-}}
if [ -z "$psctl" ]; then
	if [ -x ./src/psctl ]; then
		psctl=./src/psctl
	else
		psctl=$(command -v psctl) || { echo "run.sh: no psctl" >&2; exit 2; }
	fi
fi
psctl=$(readlink -f "$psctl")

for t in taskset python3; do
	command -v "$t" >/dev/null || { echo "run.sh: $t is needed" >&2; exit 2; }
done
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark \
    >/dev/null || ! command -v redis-cli >/dev/null; then
	echo "run.sh: installing redis-server and redis-tools" >&2
	sudo=
	[ "$(id -u)" -ne 0 ] && sudo=sudo
	$sudo apt-get install -y redis-server redis-tools >&2 ||
	    { echo "run.sh: cannot install redis" >&2; exit 2; }
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/psctl-bench.XXXXXX") || exit 2
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

missed=0

# A free TCP port on 127.0.0.1.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts a pinned psctl server; sets spid and surl.
psctl_start() {
	local log=$tmp/serve.$RANDOM.log i port=
	taskset -c "$scpu" "$psctl" serve --listen 127.0.0.1:0 >"$log" 2>&1 &
	spid=$!
	pids+=("$spid")
	for i in $(seq 100); do
		port=$(grep -o '127\.0\.0\.1:[0-9][0-9]*' "$log" |
		    grep -v ':0$' | head -n 1 | sed 's/.*://')
		[ -n "$port" ] && break
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$port" ]; then
		echo "run.sh: psctl serve did not start:" >&2
		cat "$log" >&2
		exit 2
	fi
	surl=ws://127.0.0.1:$port
}

psctl_stop() {
	local p keep=()
	kill "$spid" 2>/dev/null
	wait "$spid" 2>/dev/null
	for p in "${pids[@]}"; do
		[ "$p" != "$spid" ] && keep+=("$p")
	done
	pids=("${keep[@]}")
}

# psctl_bench ARGS...: runs a pinned bench, prints its JSON object.
psctl_bench() {
	local out=$tmp/bench.json
	if ! taskset -c "$ccpu" "$psctl" bench --connect "$surl" \
	    --seconds "$secs" --json "$@" >"$out" 2>"$tmp/bench.err"; then
		echo "run.sh: psctl bench $* failed:" >&2
		cat "$tmp/bench.err" >&2
		exit 2
	fi
	[ -s "$tmp/bench.err" ] && sed 's/^/psctl bench: /' "$tmp/bench.err" >&2
	cat "$out"
}

# jget JSON KEY: one number from a JSON object.
jget() {
	python3 -c 'import json, sys; v = json.loads(sys.argv[1])[sys.argv[2]]; print(0 if v is None else v)' "$1" "$2"
}

# redis_rps CSV TEST: requests per second of TEST in redis-benchmark --csv.
redis_rps() {
	awk -F, -v t="\"$2\"" '$1 == t { gsub(/"/, "", $2); print $2 }' <<<"$1"
}

# verdict FIGURE TARGET [le]: sets v to " ok" or " MISSED" (figure >=
# target, or <=) and counts misses; not in a subshell, or the count is lost.
verdict() {
	if awk -v f="$1" -v t="$2" -v le="${3:-}" \
	    'BEGIN { exit !(le == "le" ? f <= t : f >= t) }'; then
		v=" ok"
	else
		missed=$((missed + 1))
		v=" MISSED"
	fi
}

calc() {
	awk "BEGIN { printf \"%.${2:-0}f\", $1 }"
}

# Redis on a spare port, no persistence, pinned like psctl serve.
rport=$(free_port)
taskset -c "$scpu" redis-server --port "$rport" --bind 127.0.0.1 \
    --save '' --appendonly no --daemonize no --logfile "$tmp/redis.log" &
rpid=$!
pids+=("$rpid")
for i in $(seq 100); do
	[ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ] && break
	sleep 0.1
done
[ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ] ||
    { echo "run.sh: redis-server did not start" >&2; exit 2; }

rbench() {
	taskset -c "$ccpu" redis-benchmark -h 127.0.0.1 -p "$rport" --csv "$@"
}

# rbench_timed N0 ARGS...: a calibration run of N0 requests, then one of
# about $secs seconds per test (redis-benchmark counts requests, not time).
rbench_timed() {
	local n0=$1 r n
	shift
	r=$(rbench "$@" -n "$n0")
	n=$(awk -F, -v s="$secs" -v n0="$n0" '$1 == "\"SET\"" || $1 == "\"GET\"" {
		gsub(/"/, "", $2); if (min == "" || $2 < min) min = $2 }
		END { n = int(min * s); print (n < n0 ? n0 : n) }' <<<"$r")
	rbench "$@" -n "$n"
}

echo "# $("$psctl" --version), $(redis-server --version | cut -d' ' -f1-3)," \
    "$(nproc) cpus, server on cpu $scpu, clients on cpu $ccpu," \
    "psctl runs of $secs s, $rounds rounds"

# Each of (a) and (b) runs in $rounds rounds of psctl and its Redis
# baseline back to back, psctl first in odd rounds and Redis first in even
# ones; a figure is the median of its rounds' ratios (each round's shown
# beside it), so that a drift in the host's speed over the script's
# minutes, which moves one 5 s figure by 20 % or more, falls on both sides
# of a ratio rather than on one.

# in_order PSCTL-FIRST PSCTL-PART REDIS-PART: runs the two, psctl's first
# when PSCTL-FIRST is 1.
in_order() {
	if [ "$1" -eq 1 ]; then
		"$2"; "$3"
	else
		"$3"; "$2"
	fi
}

# The parts of (a): set j (psctl bench's JSON) and r (redis-benchmark's CSV).
psctl_a() {
	psctl_start
	j=$(psctl_bench --workers 4 --params 10000 --op pushpull) || exit 2
	psctl_stop
}
redis_a() {
	r=$(rbench_timed 20000 -t set,get -d 40000 -c 4)
}

# round_a PSCTL-FIRST: one round of (a); appends to $tmp/a the round trips
# per second of psctl and of Redis (GET+SET pairs), Redis's GET and SET
# rates, and psctl's pull and push p50 (ms).
round_a() {
	local set_rps get_rps pulls pushes
	in_order "$1" psctl_a redis_a
	set_rps=$(redis_rps "$r" SET)
	get_rps=$(redis_rps "$r" GET)
	pulls=$(jget "$j" pulls_per_s)
	pushes=$(jget "$j" pushes_per_s)
	echo "$(calc "($pulls < $pushes) ? $pulls : $pushes")" \
	    "$(calc "1 / (1 / $get_rps + 1 / $set_rps)")" \
	    "$(calc "$get_rps") $(calc "$set_rps")" \
	    "$(calc "$(jget "$j" pull_p50_ms)" 3)" \
	    "$(calc "$(jget "$j" push_p50_ms)" 3)" >>"$tmp/a"
}

# The parts of (b): set jpull and jpush, and r.
psctl_b() {
	psctl_start
	jpull=$(psctl_bench --workers 1 --params 1000000 --op pull) || exit 2
	jpush=$(psctl_bench --workers 1 --params 1000000 --op push) || exit 2
	psctl_stop
}
redis_b() {
	r=$(rbench_timed 200 -t set,get -d 4000000 -c 1)
}

# round_b PSCTL-FIRST: one round of (b); appends to $tmp/b psctl's pull and
# push MB/s, Redis's GET and SET MB/s, and psctl's pull and push p50 (ms).
round_b() {
	in_order "$1" psctl_b redis_b
	echo "$(calc "$(jget "$jpull" pull_mib_per_s) * 1.048576")" \
	    "$(calc "$(jget "$jpush" push_mib_per_s) * 1.048576")" \
	    "$(calc "$(redis_rps "$r" GET) * 4")" \
	    "$(calc "$(redis_rps "$r" SET) * 4")" \
	    "$(calc "$(jget "$jpull" pull_p50_ms)" 2)" \
	    "$(calc "$(jget "$jpush" push_p50_ms)" 2)" >>"$tmp/b"
}

# col FILE N [M]: each line's field N (divided by field M), in order.
col() {
	awk -v n="$2" -v m="${3:-0}" \
	    '{ printf "%s%s", (NR > 1 ? " " : ""), m ? sprintf("%.2f", $n / $m) : $n }' "$1"
}

for ((round = 1; round <= rounds; round++)); do
	round_a $((round % 2))
	round_b $((round % 2))
done

# (a) 10k parameters, 4 workers, push + pull round trips.
ratios=$(col "$tmp/a" 1 2)
ratio=$(digits=2 median $ratios)
verdict "$ratio" 0.70
echo "pushpull 10k x4: psctl $(median $(col "$tmp/a" 1))/s (pull p50" \
    "$(digits=3 median $(col "$tmp/a" 5)) ms, push p50" \
    "$(digits=3 median $(col "$tmp/a" 6)) ms), redis pairs" \
    "$(median $(col "$tmp/a" 2))/s (get $(median $(col "$tmp/a" 3))/s," \
    "set $(median $(col "$tmp/a" 4))/s), ratio $ratio (target 0.70)$v" \
    "(rounds: $ratios)"
rts=$(col "$tmp/a" 1)
rt=$(median $rts)
verdict "$rt" 15000
echo "pushpull 10k x4 absolute: psctl ${rt}/s (target 15000)$v" \
    "(rounds: $rts)"

# (b) 1M parameters, 1 worker: pull and push (applied) bandwidth.
ratios=$(col "$tmp/b" 1 3)
ratio=$(digits=2 median $ratios)
verdict "$ratio" 1.70
echo "pull 1M x1: psctl $(median $(col "$tmp/b" 1)) MB/s (p50" \
    "$(digits=2 median $(col "$tmp/b" 5)) ms), redis GET" \
    "$(median $(col "$tmp/b" 3)) MB/s, ratio $ratio (target 1.70)$v" \
    "(rounds: $ratios)"
ratios=$(col "$tmp/b" 2 4)
ratio=$(digits=2 median $ratios)
verdict "$ratio" 0.70
echo "push 1M x1: psctl $(median $(col "$tmp/b" 2)) MB/s (p50" \
    "$(digits=2 median $(col "$tmp/b" 6)) ms), redis SET" \
    "$(median $(col "$tmp/b" 4)) MB/s, ratio $ratio (target 0.70)$v" \
    "(rounds: $ratios)"

# (c) peak server RSS with 4 workers pulling a 10M-parameter model.
# The model is created first by one short run, so that the peak of
# creating it and the peak of serving it show separately.
psctl_start
psctl_bench --workers 1 --params 10000000 --op pull --seconds 0.1 \
    >/dev/null || exit 2
init_kb=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$spid/status")
j=$(psctl_bench --workers 4 --params 10000000 --op pull) || exit 2
hwm_kb=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$spid/status")
rss_kb=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$spid/status")
psctl_stop
model=40000000
limit=$((2 * model + 32 * 1048576))
hwm=$((hwm_kb * 1024))
verdict "$hwm" "$limit" le
echo "rss 10M x4 pull: psctl VmHWM $(calc "$hwm / 1e6") MB" \
    "(after init $(calc "$init_kb * 1024 / 1e6") MB, VmRSS at the end" \
    "$(calc "$rss_kb * 1024 / 1e6") MB," \
    "$(calc "$(jget "$j" pull_mib_per_s) * 1.048576") MB/s pulled)," \
    "model $(calc "$model / 1e6") MB, ratio $(calc "$hwm / $model" 2)x," \
    "limit $(calc "$limit / 1e6") MB (2 x model + 32 MiB)$v"

exit $((missed > 0))
