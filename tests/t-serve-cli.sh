#!/bin/sh
# psctl serve from the command line: usage errors and their exit codes, a
# port already in use, a checkpoint to load, --demo, and signals.
: "${PSCTL:?}" "${PYTHON3:=python3}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/t-serve-cli.XXXXXX") || exit 1
pids=
cleanup() {
	for p in $pids; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

n=0
failed=0
ok() {	# ok STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
	fi
}

# start NAME ARGS...: runs psctl serve on a free port, sets $port and $pid.
start() {
	name=$1
	shift
	"$PSCTL" serve --listen 127.0.0.1:0 "$@" 2>"$tmp/$name.log" &
	pid=$!
	pids="$pids $pid"
	port=
	i=0
	while [ $i -lt 100 ]; do
		port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' \
		    "$tmp/$name.log")
		[ -n "$port" ] && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
		i=$((i + 1))
	done
	echo "Bail out! psctl serve $* did not start"
	sed 's/^/# /' "$tmp/$name.log"
	exit 1
}

# stop PID: SIGTERM, then the exit status (124 if it did not exit in 10 s).
stop() {
	kill -TERM "$1" 2>/dev/null
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$1" 2>/dev/null; then
		kill -9 "$1"
		wait "$1" 2>/dev/null
		return 124
	fi
	wait "$1"
}

# status CMD...: the exit status of a psctl run bounded to 10 s.
status() {
	timeout 10 "$@" >"$tmp/out" 2>"$tmp/err"
}

have_py=0
"$PYTHON3" -c 'import numpy, websocket, psproto' 2>/dev/null && have_py=1

echo "1..21"

status "$PSCTL" serve --bogus
ok $(($? != 64)) "an unknown option exits 64"
status "$PSCTL" serve --mode bsp
ok $(($? != 64)) "an unknown mode exits 64"
status "$PSCTL" serve --workers 3
ok $(($? != 64)) "--workers without --mode sync exits 64"
status "$PSCTL" serve --mode sync
ok $(($? != 64)) "--mode sync without --workers exits 64"
status "$PSCTL" serve --lr 0.1
ok $(($? != 64)) "--lr with the add rule exits 64"
status "$PSCTL" serve --listen 127.0.0.1:70000
ok $(($? != 64)) "a port over 65535 exits 64"
grep -q "usage: psctl serve" "$tmp/err"
ok $? "a usage error prints the usage"
status "$PSCTL" serve --load "$tmp/missing.safetensors"
ok $(($? != 66)) "a --load file that cannot be read exits 66"
printf 'not a checkpoint at all' >"$tmp/junk.safetensors"
status "$PSCTL" serve --load "$tmp/junk.safetensors"
ok $(($? != 65)) "a --load file that does not verify exits 65"
status "$PSCTL" help serve
grep -q -- "--worker-timeout" "$tmp/out"
ok $? "psctl help serve shows the options"

start a
status "$PSCTL" serve --listen "127.0.0.1:$port"
ok $(($? != 69)) "a port in use exits 69, without hanging"
grep -q "cannot listen on 127.0.0.1:$port: Address already in use" "$tmp/err"
ok $? "and says why"
stop "$pid"
ok $? "SIGTERM stops an idle server with status 0"

if [ $have_py -eq 0 ]; then
	for i in 1 2 3 4 5 6 7 8; do
		echo "ok $((n + i)) # SKIP python3 with numpy, websocket, psproto"
	done
	exit 0
fi

# A checkpoint written by another program (safetensors, no psctl metadata).
"$PYTHON3" - "$tmp/foreign.safetensors" <<'EOF'
import json, struct, sys
import numpy as np
a = np.arange(6, dtype="<f4").reshape(2, 3)
b = np.array([0.5, -1.5], dtype="<f4")
hdr = {"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
       "b": {"dtype": "F32", "shape": [2], "data_offsets": [24, 32]}}
h = json.dumps(hdr).encode()
h += b" " * (-len(h) % 8)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + a.tobytes() + b.tobytes())
EOF

# pull.py PORT: prints "version count params" and checks a and b.
cat >"$tmp/pull.py" <<'EOF'
import sys
import numpy as np
import websocket
import psproto as P
ws = websocket.create_connection("ws://127.0.0.1:%s" % sys.argv[1],
                                 subprotocols=[P.PROTOCOL], timeout=10)
ws.send_binary(P.encode(P.HELLO, id=1, text="t-serve-cli.sh"))
P.decode(ws.recv())
ws.send_binary(P.encode(P.PULL, id=2))
m = P.decode(ws.recv())
print(m.version, len(m.tensors), sum(t.array.size for t in m.tensors))
if len(sys.argv) > 2:
    d = m.named()
    good = (np.array_equal(d["a"], np.arange(6, dtype="f4").reshape(2, 3))
            and np.array_equal(d["b"], np.array([0.5, -1.5], "f4")))
    print("same" if good else "different")
EOF

start load --load "$tmp/foreign.safetensors" --rule sgd
"$PYTHON3" "$tmp/pull.py" "$port" check >"$tmp/pulled" 2>&1
grep -q same "$tmp/pulled"
ok $? "--load serves the checkpoint's tensors, values intact"
grep -q "loaded .*foreign.safetensors: 2 tensors, 8 parameters" "$tmp/load.log"
ok $? "and logs what it loaded"
stop "$pid"

# --demo: the model version climbs with no outside worker.
start demo --demo
"$PYTHON3" "$tmp/pull.py" "$port" >"$tmp/first"
read -r v0 count params <"$tmp/first"
[ "$count" = 4 ] && [ "$params" = 9352 ]
ok $? "--demo creates a model of 4 tensors, 9352 parameters ($count, $params)"
i=0
v=$v0
while [ $i -lt 100 ] && [ "$v" -lt $((v0 + 10)) ]; do
	sleep 0.1
	read -r v count params <<EOF
$("$PYTHON3" "$tmp/pull.py" "$port")
EOF
	i=$((i + 1))
done
[ "$v" -ge $((v0 + 10)) ]
ok $? "--demo workers push on their own (version $v0 -> $v)"
grep -q "demo: 3 workers pushing" "$tmp/demo.log"
ok $? "the demo workers are logged"
kill -INT "$pid"
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
wait "$pid"
ok $? "SIGINT stops a busy demo server with status 0"

start demosync --demo --mode sync --rule adam --lr 0.001
"$PYTHON3" "$tmp/pull.py" "$port" >"$tmp/first"
read -r v0 count params <"$tmp/first"
i=0
v=$v0
while [ $i -lt 100 ] && [ "$v" -lt $((v0 + 5)) ]; do
	sleep 0.1
	read -r v count params <<EOF
$("$PYTHON3" "$tmp/pull.py" "$port")
EOF
	i=$((i + 1))
done
[ "$v" -ge $((v0 + 5)) ]
ok $? "--demo in sync mode completes rounds of its three workers ($v0 -> $v)"
stop "$pid"
ok $? "and stops with status 0"

exit $((failed != 0))
