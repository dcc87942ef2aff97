#!/bin/bash
# The Python client (python3 -m psctl bench) against the C client (psctl
# bench) on one pinned server, in one run (not part of make check).
#
#   tests/bench/py-vs-c.sh [PATH-TO-psctl]
#
# The server runs on core 0 and both clients on core 1 (taskset), each
# client right after the other against the same server, so their ratio
# means something on a busy machine where the absolute figures do not.
# Scenarios and targets (issue 8), 1 worker:
#   1,000,000 parameters in 4 tensors: pull MiB/s and push MiB/s, >= 0.5x
#   10,000 parameters: pushpull round trips/s, >= 0.3x
# Prints one line per figure with the ratio and the target; exits 1 if a
# target was missed.
#
# Environment: PSCTL (the binary, else $1, else ./src/psctl or psctl on
# PATH), PYTHON (/usr/bin/python3), BENCH_SECONDS (each run, default 5),
# SERVER_CPU (0), CLIENT_CPU (1).

set -u

secs=${BENCH_SECONDS:-5}
scpu=${SERVER_CPU:-0}
ccpu=${CLIENT_CPU:-1}
py=${PYTHON:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
psctl=${1:-${PSCTL:-}}
if [ -z "$psctl" ]; then
	if [ -x ./src/psctl ]; then
		psctl=./src/psctl
	else
		psctl=$(command -v psctl) || { echo "py-vs-c: no psctl" >&2; exit 2; }
	fi
fi
psctl=$(readlink -f "$psctl")
export PYTHONPATH="$here/../../contrib/python${PYTHONPATH:+:$PYTHONPATH}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/py-vs-c.XXXXXX") || exit 2
srv=
cleanup() {
	[ -n "$srv" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 2' INT TERM

# serve: starts a pinned server, sets $url.
serve() {
	[ -n "$srv" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null
	taskset -c "$scpu" "$psctl" serve --listen 127.0.0.1:0 -q \
	    >"$tmp/serve.log" 2>&1 &
	srv=$!
	local i port=
	for i in $(seq 100); do
		port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' \
		    "$tmp/serve.log" | head -n 1)
		[ -n "$port" ] && break
		sleep 0.05
	done
	[ -n "$port" ] || { echo "py-vs-c: server did not start" >&2;
	    cat "$tmp/serve.log" >&2; exit 2; }
	url=ws://127.0.0.1:$port
}

# key JSON KEY: one number from a bench's JSON line; KEY "steps" is the
# smaller of pulls_per_s and pushes_per_s (psctl-bench(1)).
key() {
	"$py" -c 'import json,sys
o = json.loads(sys.argv[1])
print(min(o["pulls_per_s"], o["pushes_per_s"]) if sys.argv[2] == "steps"
      else o[sys.argv[2]])' "$1" "$2"
}

missed=0
# compare LABEL KEY TARGET ARGS...: both clients, the same arguments.
compare() {
	local label=$1 k=$2 target=$3 c p cv pv ratio
	shift 3
	c=$(taskset -c "$ccpu" "$psctl" bench --connect "$url" --json \
	    --seconds "$secs" "$@") || { echo "py-vs-c: psctl bench failed" >&2;
	    exit 2; }
	p=$(taskset -c "$ccpu" "$py" -m psctl bench --connect "$url" --json \
	    --seconds "$secs" "$@") || { echo "py-vs-c: python bench failed" >&2;
	    exit 2; }
	cv=$(key "$c" "$k")
	pv=$(key "$p" "$k")
	ratio=$("$py" -c 'import sys; print("%.2f" % (float(sys.argv[1]) /
	    float(sys.argv[2])))' "$pv" "$cv")
	verdict=ok
	if ! "$py" -c 'import sys; sys.exit(float(sys.argv[1]) < float(sys.argv[2]))' \
	    "$ratio" "$target"; then
		verdict=MISSED
		missed=$((missed + 1))
	fi
	printf '%-34s C %10.1f  Python %10.1f  %5sx (target %sx) %s\n' \
	    "$label" "$cv" "$pv" "$ratio" "$target" "$verdict"
}

echo "py-vs-c: server on core $scpu, clients on core $ccpu, $secs s a run," \
    "load $(cut -d' ' -f1-3 /proc/loadavg)"
serve
compare "1M params/4 tensors pull MiB/s" pull_mib_per_s 0.5 \
    --params 1000000 --tensors 4 --op pull
compare "1M params/4 tensors push MiB/s" push_mib_per_s 0.5 \
    --params 1000000 --tensors 4 --op push
serve
compare "10k params pushpull steps/s" steps 0.3 \
    --params 10000 --op pushpull
[ "$missed" -eq 0 ]
