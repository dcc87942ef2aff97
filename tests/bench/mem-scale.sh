#!/bin/bash
# Server memory and push bandwidth against the number of workers (issue
# 10's table), in one run; not part of make check, and no figure is
# judged: it prints the table.
#
#   tests/bench/mem-scale.sh [PATH-TO-psctl]
#
# Pinned as tests/bench/run.sh is: the server on core 0, the clients on
# core 1 (taskset).  Each row is a fresh server with default flags (plus
# what the row says); its peak RSS is VmHWM from /proc when the run ends.
#
#   push 1/16/64    N workers pushing the whole model for BENCH_SECONDS:
#                   aggregate push MiB/s, peak RSS against 2x model + 64 MiB
#   pull 64 + ckpt  64 workers pulling while --checkpoint-every 2 writes
#   idle            IDLE connections (HELLO, then nothing): KiB each, and
#                   the slowest of 20 pulls and of 20 /livez meanwhile
#
# Environment: PSCTL (else $1, else ./src/psctl), PARAMS (10000000),
# BENCH_SECONDS (5), WORKERS ("1 16 64"), IDLE (10000; 0 skips the row),
# SERVER_CPU (0), CLIENT_CPU (1).  Small sizes check that the script runs:
#   PARAMS=100000 BENCH_SECONDS=1 WORKERS="1 4" IDLE=200 tests/bench/mem-scale.sh

set -u

params=${PARAMS:-10000000}
secs=${BENCH_SECONDS:-5}
workers=${WORKERS:-1 16 64}
idle=${IDLE:-10000}
scpu=${SERVER_CPU:-0}
ccpu=${CLIENT_CPU:-1}
py=/usr/bin/python3
psctl=${1:-${PSCTL:-}}
if [ -z "$psctl" ]; then
	if [ -x ./src/psctl ]; then
		psctl=./src/psctl
	else
		psctl=$(command -v psctl) || { echo "mem-scale.sh: no psctl" >&2; exit 2; }
	fi
fi
psctl=$(readlink -f "$psctl")
here=$(cd "$(dirname "$0")" && pwd)

for t in taskset "$py"; do
	command -v "$t" >/dev/null || { echo "mem-scale.sh: $t is needed" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/psctl-memscale.XXXXXX") || exit 2
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

# Starts a pinned server with ARGS; sets spid, surl and shttp.
serve() {
	local log=$tmp/serve.$RANDOM.log i port=
	taskset -c "$scpu" "$psctl" serve --listen 127.0.0.1:0 -q "$@" \
	    >"$log" 2>&1 &
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
		echo "mem-scale.sh: psctl serve did not start:" >&2
		cat "$log" >&2
		exit 2
	fi
	surl=ws://127.0.0.1:$port
	shttp=http://127.0.0.1:$port
}

# Peak RSS of the server, MB; then stops it.
stop() {
	local hwm p keep=()
	hwm=$(awk '/^VmHWM:/ { printf "%.0f", $2 / 1000 }' "/proc/$spid/status")
	kill "$spid" 2>/dev/null
	wait "$spid" 2>/dev/null
	for p in "${pids[@]}"; do
		[ "$p" != "$spid" ] && keep+=("$p")
	done
	pids=("${keep[@]}")
	echo "$hwm"
}

# A pinned psctl bench against the server; its JSON on stdout.
bench() {
	taskset -c "$ccpu" "$psctl" bench --connect "$surl" --params "$params" \
	    --seconds "$secs" --json "$@" 2>"$tmp/bench.err" ||
	    { echo "mem-scale.sh: psctl bench $* failed:" >&2;
	      cat "$tmp/bench.err" >&2; exit 2; }
}

jget() {
	"$py" -c 'import json, sys; v = json.loads(sys.argv[1])[sys.argv[2]]; print(0 if v is None else v)' "$1" "$2"
}

model_mb=$(awk -v p="$params" 'BEGIN { printf "%.1f", p * 4 / 1e6 }')
target=$(awk -v p="$params" 'BEGIN { printf "%.0f", (2 * p * 4 + 64 * 1048576) / 1e6 }')
echo "# $("$psctl" --version), $(nproc) cpus, server on cpu $scpu," \
    "clients on cpu $ccpu, $params parameters ($model_mb MB), runs of $secs s"
echo "# peak RSS target: 2 x model + 64 MiB = $target MB"
printf '%-28s %14s %16s\n' "scenario" "peak RSS (MB)" "push (MiB/s)"

for n in $workers; do
	serve
	j=$(bench --workers "$n" --op push) || exit 2
	printf '%-28s %14s %16.0f\n' "push, $n workers" "$(stop)" \
	    "$(jget "$j" push_mib_per_s)"
done

ck=$tmp/ckpt
mkdir -p "$ck"
serve --checkpoint-dir "$ck" --checkpoint-every 2
j=$(bench --workers 64 --op pull) || exit 2
printf '%-28s %14s %16s\n' "pull, 64 workers + ckpt" "$(stop)" \
    "(pull $(jget "$j" pull_mib_per_s | cut -d. -f1) MiB/s)"

if [ "$idle" -gt 0 ]; then
	ulimit -n $((idle + 1024)) 2>/dev/null ||
	    echo "# ulimit -n $((idle + 1024)) refused: the idle row may fail" >&2
	serve
	# The model first, so that idle workers hold what a real one would.
	taskset -c "$ccpu" "$psctl" bench --connect "$surl" --params "$params" \
	    --seconds 1 --op push >/dev/null 2>&1
	r=$(PSCTL="$psctl" taskset -c "$ccpu" "$py" - "$surl" "$shttp" "$spid" "$idle" \
	    "$here/../" <<'EOF'
import os, socket, sys, time, urllib.request
url, http, pid, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
sys.path.insert(0, sys.argv[5])
import psproto as P


def rss():
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


def hello_frame():
    b = P.encode(P.HELLO, id=1, text="idle")
    return bytes([0x82, 0x80 | len(b)]) + b"\0\0\0\0" + b


host, port = url[5:].split(":")
before = rss()
socks = []
for i in range(n):
    s = socket.create_connection((host, int(port)))
    s.sendall(("GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: "
               "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Protocol: %s\r\n\r\n" % (url, P.PROTOCOL)
               ).encode())
    got = b""
    while b"\r\n\r\n" not in got:
        got += s.recv(4096)
    s.sendall(hello_frame())
    socks.append(s)
for s in socks:		# each HELLO answered
    s.recv(65536)
per = (rss() - before) / n
worst_pull = worst_livez = 0.0
for i in range(20):
    t = time.monotonic()
    os.system("%s pull --connect %s -o /dev/null >/dev/null 2>&1"
              % (os.environ.get("PSCTL", "psctl"), url))
    worst_pull = max(worst_pull, time.monotonic() - t)
    t = time.monotonic()
    urllib.request.urlopen(http + "/livez", timeout=10).read()
    worst_livez = max(worst_livez, time.monotonic() - t)
print("%.1f %.0f %.1f" % (per, worst_pull * 1000, worst_livez * 1000))
EOF
)
	hwm=$(stop)
	set -- $r
	printf '%-28s %14s %16s\n' "idle, $idle connections" "$hwm" \
	    "${1:-?} KiB each"
	echo "# with them: slowest pull ${2:-?} ms (a psctl pull process," \
	    "start-up included), slowest /livez ${3:-?} ms"
fi
