#!/bin/sh
# psctl top -b against tests/fake-control.py, a stand-in psctl.control.v1
# server replaying tests/data snapshots: the frames' facts, the exit codes
# for an unreachable server (69), a refused token (77), a server that goes
# away (69) and bad options (64).  Expected figures are worked out by hand
# from the snapshot files.
if [ -z "$PYTHON3" ] || ! "$PYTHON3" -c 'import websockets' 2>/dev/null; then
	echo "1..0 # SKIP python3 with websockets not found"
	exit 0
fi

unset PSCTL_URL PSCTL_TOKEN
tmp=$(mktemp -d "${TMPDIR:-/tmp}/t-top-batch.XXXXXX") || exit 1
pids=""
cleanup() {
	for p in $pids; do
		kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

n=0
ok() {
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
	fi
}
# has FILE TEXT: the file has a line containing TEXT (fixed string).
has() {
	grep -F -q -- "$2" "$1"
}

# fake NAME ARGS...: starts a fake server; its port lands in $port.
fake() {
	name=$1
	shift
	"$PYTHON3" "$PS_SRCDIR/tests/fake-control.py" "$@" \
	    >"$tmp/$name.port" 2>"$tmp/$name.err" &
	pids="$pids $!"
	port=""
	i=0
	while [ $i -lt 100 ]; do
		port=$(head -n 1 "$tmp/$name.port" 2>/dev/null)
		[ -n "$port" ] && break
		sleep 0.1
		i=$((i + 1))
	done
	if [ -z "$port" ]; then
		echo "Bail out! the fake control server did not start"
		cat "$tmp/$name.err" | sed 's/^/# /'
		exit 1
	fi
}

echo "1..22"
D=$PS_TEST_DATA

fake replay "$D/snap-async-1.json" "$D/snap-async-2.json"
"$PSCTL" top -b -n 2 -d 0.2 --connect "ws://127.0.0.1:$port" \
    >"$tmp/out" 2>"$tmp/err"
ok $? "top -b -n 2 exits 0"
[ "$(grep -c '^psctl top ' "$tmp/out")" -eq 2 ]
ok $? "it prints exactly two frames"
has "$tmp/out" "CONNECTED  every 0.2s  frame 2"
ok $? "frames say CONNECTED, the -d interval and their number"
has "$tmp/out" "mode async  rule adam (lr=0.001 beta1=0.9 beta2=0.999 eps=1e-08)"
ok $? "the header shows mode, rule and its parameters"
has "$tmp/out" "model 101,770 params, 397.5 KiB  version 480"
ok $? "the second frame has the model size and version 480"
# 480 - 400 versions over 12 - 10 s of uptime.
has "$tmp/out" "40.0 now, max 40.0"
ok $? "the update rate is (480 - 400) / (12 - 10) = 40/s"
has "$tmp/out" "workers 4  pushes/s 23.5  pulls/s 23.9  in 9.1 MiB/s  out 9.3 MiB/s  rejected 2 (shape 1, nonfinite 1)"
ok $? "traffic: rates, bytes/s (9566380 B = 9.1 MiB) and rejected updates"
has "$tmp/out" "checkpoint 4.0s ago ok in 0.021 s  3 saved"
ok $? "the last checkpoint's age and result"
has "$tmp/out" "   3 out/kernel         128x10        3.1       0.31  1.00e-01     10.0"
ok $? "a tensor row: index, name, shape, L2, update L2, ratio 0.31/3.1, rate"
has "$tmp/out" "   3 LAGGING trainer-slow 10.0.0.3:40100           4.0    4.0      93    27"
ok $? "a worker at 4 pushes/s against the fastest 10 in async mode is LAGGING, in words"
has "$tmp/out" "   4 SILENT  w4" && has "$tmp/out" "   5 GONE    w5"
ok $? "silent and gone workers are marked in words"
has "$tmp/out" "WORKERS 5  sort: ID asc  1 LAGGING  1 SILENT  1 GONE"
ok $? "the worker title counts the marks"

# Nothing listens on a port just closed.
fake gone "$D/snap-empty.json"
closed=$port
kill "$!" 2>/dev/null
wait "$!" 2>/dev/null
"$PSCTL" top -b -n 1 --connect "ws://127.0.0.1:$closed" >"$tmp/out" \
    2>"$tmp/err"
ok $([ $? -eq 69 ] && echo 0 || echo 1) \
    "an unreachable server exits 69 (EX_UNAVAILABLE)"
[ ! -s "$tmp/out" ]
ok $? "and prints no frame"

echo secret >"$tmp/token"
echo wrong >"$tmp/bad-token"
fake auth --token secret "$D/snap-ssp.json"
PSCTL_TOKEN= "$PSCTL" top -b -n 1 --connect "ws://127.0.0.1:$port" \
    >"$tmp/out" 2>"$tmp/err"
ok $([ $? -eq 77 ] && echo 0 || echo 1) "no token where one is needed exits 77"
"$PSCTL" top -b -n 1 --token-file "$tmp/bad-token" \
    --connect "ws://127.0.0.1:$port" >"$tmp/out" 2>"$tmp/err"
ok $([ $? -eq 77 ] && echo 0 || echo 1) "a refused token exits 77 (EX_NOPERM)"
"$PSCTL" top -b -n 1 --token-file "$tmp/token" \
    --connect "ws://127.0.0.1:$port" >"$tmp/out" 2>"$tmp/err"
ok $? "the right token from --token-file is accepted"
has "$tmp/out" "mode ssp (staleness 2)" &&
    has "$tmp/out" "  10 LAGGING d" && has "$tmp/out" "   8 waiting b"
ok $? "ssp: lag 3 over staleness 2 is LAGGING, a waiting worker within it is not"

fake leaves --close-after 1 "$D/snap-async-1.json"
"$PSCTL" top -b -n 5 -d 0.1 --connect "ws://127.0.0.1:$port" \
    >"$tmp/out" 2>"$tmp/err"
ok $([ $? -eq 69 ] && echo 0 || echo 1) \
    "a server that goes away mid-run exits 69"
[ "$(grep -c '^psctl top ' "$tmp/out")" -eq 1 ]
ok $? "after printing the one frame it sent"

"$PSCTL" top -b -d 0.01 >/dev/null 2>&1
ok $([ $? -eq 64 ] && echo 0 || echo 1) "-d under 0.1 s is a usage error"
"$PSCTL" top -b -n 0 >/dev/null 2>&1
ok $([ $? -eq 64 ] && echo 0 || echo 1) "-n 0 is a usage error"
