#!/bin/sh
# psctl top -b against tests/fake-control.py, a stand-in psctl.control.v1
# server replaying tests/data snapshots: the frames' facts, the exit codes
# for an unreachable server (69), a refused token (77), a server that goes
# away (69) and bad options (64).  Expected figures are worked out by hand
# from the snapshot files.
. "${PS_SRCDIR:?}/tests/tap.sh"
if [ -z "$PYTHON3" ] || ! "$PYTHON3" -c 'import websockets' 2>/dev/null; then
	skip_all "python3 with websockets not found"
fi

unset PSCTL_URL PSCTL_TOKEN
# has FILE TEXT: the file has a line containing TEXT (fixed string).
has() {
	grep -F -q -- "$2" "$1"
}

# fake NAME ARGS...: starts a fake server; its pid lands in $fpid, its
# port in $port.
fake() {
	name=$1
	shift
	"$PYTHON3" "$PS_SRCDIR/tests/fake-control.py" "$@" \
	    >"$tmp/$name.port" 2>"$tmp/$name.err" &
	fpid=$!
	kill_at_exit "$fpid"
	wait_for '[ -n "$(head -n 1 "$tmp/$name.port" 2>/dev/null)" ]'
	port=$(head -n 1 "$tmp/$name.port" 2>/dev/null)
	if [ -z "$port" ]; then
		echo "Bail out! the fake control server did not start"
		diag_file "$tmp/$name.err"
		exit 1
	fi
}

plan 25
D=$PS_TEST_DATA

fake replay "$D/snap-async-1.json" "$D/snap-async-2.json"
"$PSCTL" top -b -n 2 -d 0.2 --connect "ws://127.0.0.1:$port" \
    >"$tmp/out" 2>"$tmp/err"
is $? 0 "top -b -n 2 exits 0"
ok '[ "$(grep -c "^psctl top " "$tmp/out")" -eq 2 ]' \
    "it prints exactly two frames"
ok 'has "$tmp/out" "CONNECTED  every 0.2s  frame 2"' \
    "frames say CONNECTED, the -d interval and their number"
ok 'has "$tmp/out" "mode async  rule adam (lr=0.001 beta1=0.9 beta2=0.999 eps=1e-08)"' \
    "the header shows mode, rule and its parameters"
ok 'has "$tmp/out" "model 101,770 params, 397.5 KiB  version 480"' \
    "the second frame has the model size and version 480"
# 480 - 400 versions over 12 - 10 s of uptime.
ok 'has "$tmp/out" "40.0 now, max 40.0"' \
    "the update rate is (480 - 400) / (12 - 10) = 40/s"
ok 'has "$tmp/out" "workers 4  pushes/s 23.5  pulls/s 23.9  in 9.1 MiB/s  out 9.3 MiB/s  rejected 2 (shape 1, nonfinite 1)"' \
    "traffic: rates, bytes/s (9566380 B = 9.1 MiB) and rejected updates"
ok 'has "$tmp/out" "checkpoint 4.0s ago ok in 0.021 s  3 saved"' \
    "the last checkpoint's age and result"
ok 'has "$tmp/out" "   3 out/kernel         128x10        3.1       0.31        -     10.0"' \
    "a tensor row: index, name, shape, L2, update L2, no growth from this server, rate"
ok 'has "$tmp/out" "   3 LAGGING trainer-slow 10.0.0.3:40100           4.0    4.0       -       -      93    27"' \
    "a worker at 4 pushes/s against the fastest 10 in async mode is LAGGING, in words"
ok 'has "$tmp/out" "   4 SILENT  w4" && has "$tmp/out" "   5 GONE    w5"' \
    "silent and gone workers are marked in words"
ok 'has "$tmp/out" "WORKERS 5  sort: STATE desc  1 LAGGING  1 SILENT  1 GONE"' \
    "the worker title counts the marks; workers sort by STATE at first"
ok 'grep -A 6 "^WORKERS 5 " "$tmp/out" | tail -n 5 | awk "{ print \$2 }" |
    tr "\n" " " | grep -q "^SILENT LAGGING active active GONE $"' \
    "live trouble first, GONE last, and a batch frame lists GONE workers"

# Nothing listens on a port just closed.
fake gone "$D/snap-empty.json"
closed=$port
reap "$fpid"
"$PSCTL" top -b -n 1 --connect "ws://127.0.0.1:$closed" >"$tmp/out" \
    2>"$tmp/err"
is $? 69 "an unreachable server exits 69 (EX_UNAVAILABLE)"
ok '[ ! -s "$tmp/out" ]' \
    "and prints no frame"

echo secret >"$tmp/token"
echo wrong >"$tmp/bad-token"
fake auth --token secret "$D/snap-ssp.json"
PSCTL_TOKEN= "$PSCTL" top -b -n 1 --connect "ws://127.0.0.1:$port" \
    >"$tmp/out" 2>"$tmp/err"
is $? 77 "no token where one is needed exits 77"
"$PSCTL" top -b -n 1 --token-file "$tmp/bad-token" \
    --connect "ws://127.0.0.1:$port" >"$tmp/out" 2>"$tmp/err"
is $? 77 "a refused token exits 77 (EX_NOPERM)"
"$PSCTL" top -b -n 1 --token-file "$tmp/token" \
    --connect "ws://127.0.0.1:$port" >"$tmp/out" 2>"$tmp/err"
is $? 0 "the right token from --token-file is accepted"
ok 'has "$tmp/out" "mode ssp (staleness 2)" &&
    has "$tmp/out" "  10 LAGGING d" && has "$tmp/out" "   8 waiting b"' \
    "ssp: lag 3 over staleness 2 is LAGGING, a waiting worker within it is not"

fake leaves --close-after 1 "$D/snap-async-1.json"
"$PSCTL" top -b -n 5 -d 0.1 --connect "ws://127.0.0.1:$port" \
    >"$tmp/out" 2>"$tmp/err"
is $? 69 "a server that goes away mid-run exits 69"
ok '[ "$(grep -c "^psctl top " "$tmp/out")" -eq 1 ]' \
    "after printing the one frame it sent"

"$PSCTL" top -b -d 0.01 >/dev/null 2>&1
is $? 64 "-d under 0.1 s is a usage error"
"$PSCTL" top -b -n 0 >/dev/null 2>&1
is $? 64 "-n 0 is a usage error"
"$PSCTL" top -b --silent 0 >/dev/null 2>&1
is $? 64 "--silent 0 is a usage error"
"$PSCTL" top -b --slow 2 >/dev/null 2>&1
is $? 64 "--slow over 1 is a usage error"

done_testing
