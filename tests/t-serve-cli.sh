#!/bin/sh
# psctl serve from the command line: usage errors and their exit codes, a
# port already in use, a checkpoint to load, --demo, and signals.
: "${PSCTL:?}" "${PS_SRCDIR:?}" "${PYTHON3:=python3}"
. "$PS_SRCDIR/tests/tap.sh"

# status CMD...: the exit status of a psctl run bounded to 10 s.
status() {
	timeout 10 "$@" >"$tmp/out" 2>"$tmp/err"
}

have_py=0
"$PYTHON3" -c 'import numpy, websocket, psproto' 2>/dev/null && have_py=1

plan 21

status "$PSCTL" serve --bogus
is $? 64 "an unknown option exits 64"
status "$PSCTL" serve --mode bsp
is $? 64 "an unknown mode exits 64"
status "$PSCTL" serve --workers 3
is $? 64 "--workers without --mode sync exits 64"
status "$PSCTL" serve --mode sync
is $? 64 "--mode sync without --workers exits 64"
status "$PSCTL" serve --lr 0.1
is $? 64 "--lr with the add rule exits 64"
status "$PSCTL" serve --listen 127.0.0.1:70000
is $? 64 "a port over 65535 exits 64"
ok 'grep -q "usage: psctl serve" "$tmp/err"' "a usage error prints the usage"
status "$PSCTL" serve --load "$tmp/missing.safetensors"
is $? 66 "a --load file that cannot be read exits 66"
printf 'not a checkpoint at all' >"$tmp/junk.safetensors"
status "$PSCTL" serve --load "$tmp/junk.safetensors"
is $? 65 "a --load file that does not verify exits 65"
status "$PSCTL" help serve
ok 'grep -q -- "--worker-timeout" "$tmp/out"' "psctl help serve shows the options"

serve_start a
status "$PSCTL" serve --listen "127.0.0.1:$port"
is $? 69 "a port in use exits 69, without hanging"
ok 'grep -q "cannot listen on 127.0.0.1:$port: Address already in use" "$tmp/err"' \
    "and says why"
serve_stop "$pid"
is $? 0 "SIGTERM stops an idle server with status 0"

if [ $have_py -eq 0 ]; then
	skip 8 "python3 with numpy, websocket, psproto"
	done_testing
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

# version_over N: the model version, pulled into $v, is at least N.
version_over() {
	read -r v count params <<EOF
$("$PYTHON3" "$tmp/pull.py" "$port")
EOF
	[ "$v" -ge "$1" ]
}

serve_start load --load "$tmp/foreign.safetensors" --rule sgd
"$PYTHON3" "$tmp/pull.py" "$port" check >"$tmp/pulled" 2>&1
ok 'grep -q same "$tmp/pulled"' \
    "--load serves the checkpoint's tensors, values intact"
ok 'grep -q "loaded .*foreign.safetensors: 2 tensors, 8 parameters" "$tmp/load.log"' \
    "and logs what it loaded"
serve_stop "$pid"

# --demo: the model version climbs with no outside worker.
serve_start demo --demo
"$PYTHON3" "$tmp/pull.py" "$port" >"$tmp/first"
read -r v0 count params <"$tmp/first"
ok '[ "$count" = 4 ] && [ "$params" = 9352 ]' \
    "--demo creates a model of 4 tensors, 9352 parameters ($count, $params)"
v=$v0
wait_for 'version_over $((v0 + 10))'
ok '[ "$v" -ge $((v0 + 10)) ]' \
    "--demo workers push on their own (version $v0 -> $v)"
ok 'grep -q "demo: 3 workers pushing" "$tmp/demo.log"' \
    "the demo workers are logged"
serve_stop "$pid" INT
is $? 0 "SIGINT stops a busy demo server with status 0"

serve_start demosync --demo --mode sync --rule adam --lr 0.001
"$PYTHON3" "$tmp/pull.py" "$port" >"$tmp/first"
read -r v0 count params <"$tmp/first"
v=$v0
wait_for 'version_over $((v0 + 5))'
ok '[ "$v" -ge $((v0 + 5)) ]' \
    "--demo in sync mode completes rounds of its three workers ($v0 -> $v)"
serve_stop "$pid"
is $? 0 "and stops with status 0"

done_testing
