#!/bin/sh
# psctl init, pull and push against psctl serve: exit codes, what they
# print, and the model they leave, checked with numpy (tests/mksafetensors.py
# reads the pulled file independently of psctl's C code).
PY=${PYTHON3:-/usr/bin/python3}
if ! "$PY" -c 'import numpy' >/dev/null 2>&1; then
	echo "1..0 # SKIP $PY lacks numpy"
	exit 0
fi
if ! "$PSCTL" help serve >/dev/null 2>&1; then
	echo "1..0 # SKIP psctl has no serve command yet"
	exit 0
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/psctl-cmd.XXXXXX") || exit 1
spid=
trap '[ -n "$spid" ] && kill $spid 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
echo "1..22"
n=0
check() {	# check DESCRIPTION: the exit status of the last command is 0
	rc=$?
	n=$((n + 1))
	if [ $rc -eq 0 ]; then echo "ok $n - $1"; else echo "not ok $n - $1"; fi
}
expect() {	# expect WANT GOT DESCRIPTION
	n=$((n + 1))
	if [ "$1" = "$2" ]; then
		echo "ok $n - $3"
	else
		echo "not ok $n - $3"
		echo "# want \"$1\", got \"$2\""
		sed 's/^/# stderr: /' "$dir/err" 2>/dev/null
	fi
}

# The model, an update, and files the server must refuse, written by numpy.
"$PY" - "$dir" <<'EOF'
import json, struct, sys
import numpy as np
d = sys.argv[1]
def write(name, tensors, dtype="F32"):
    hdr, off, data = {}, 0, b""
    for k, a in tensors:
        b = np.ascontiguousarray(a, "<f4" if dtype == "F32" else "<f2").tobytes()
        hdr[k] = {"dtype": dtype, "shape": list(np.shape(a)),
                  "data_offsets": [off, off + len(b)]}
        off += len(b)
        data += b
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    open("%s/%s" % (d, name), "wb").write(struct.pack("<Q", len(h)) + h + data)
rng = np.random.default_rng(7)
w = rng.standard_normal((300, 700)).astype("f4")      # 840 kB
b = rng.standard_normal(9).astype("f4")
u = rng.standard_normal((300, 700)).astype("f4")
write("model.safetensors", [("layer/w", w), ("layer/b", b)])
write("other.safetensors", [("layer/w", w[:2]), ("layer/b", b)])
write("update.safetensors", [("layer/w", u)])
write("update16.safetensors", [("layer/b", b.astype("f2"))], "F16")
write("shape.safetensors", [("layer/w", u[:3])])
write("unknown.safetensors", [("nope", b)])
np.save(d + "/want_w.npy", w + u)
np.save(d + "/want_b.npy", b + b.astype("f2").astype("f4"))
EOF

"$PSCTL" serve --listen 127.0.0.1:0 -q 2>"$dir/serve.log" &
spid=$!
port=
for i in $(seq 100); do
	port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$dir/serve.log")
	[ -n "$port" ] && break
	sleep 0.1
done
if [ -z "$port" ]; then
	echo "Bail out! psctl serve did not start"
	cat "$dir/serve.log"
	exit 1
fi
export PSCTL_URL=ws://127.0.0.1:$port
unset PSCTL_TOKEN

out=$("$PSCTL" pull -o "$dir/early.safetensors" 2>"$dir/err")
expect 65 $? "pull before init exits 65"
grep -q "no_model" "$dir/err"
check "and says there is no model"

out=$("$PSCTL" init "$dir/model.safetensors" 2>"$dir/err")
expect 0 $? "init exits 0"
expect 0 "$out" "init prints the version, 0"
out=$("$PSCTL" init --name again "$dir/model.safetensors" 2>"$dir/err")
expect "0 0" "$? $out" "a second init of the same model succeeds"
"$PSCTL" init "$dir/other.safetensors" 2>"$dir/err"
expect 65 $? "an init of a different model exits 65"

out=$("$PSCTL" push "$dir/update.safetensors" 2>"$dir/err")
expect 0 $? "push exits 0"
expect 1 "$out" "push prints the new version, 1"
out=$("$PSCTL" push "$dir/update16.safetensors" 2>"$dir/err")
expect "0 2" "$? $out" "an F16 file is pushed as float32"
out=$("$PSCTL" push "$dir/shape.safetensors" 2>"$dir/err")
expect "65 " "$? $out" "a push with the wrong shape exits 65, prints nothing"
grep -q "shape" "$dir/err"
check "and gives the server's reason"
"$PSCTL" push "$dir/unknown.safetensors" 2>"$dir/err"
expect 65 $? "a push of an unknown tensor exits 65"
grep -q "nope" "$dir/err"
check "and names the tensor"
"$PSCTL" push "$dir/missing.safetensors" 2>"$dir/err"
expect 66 $? "a push of a missing file exits 66"

out=$("$PSCTL" pull -o "$dir/out.safetensors" 2>"$dir/err")
expect "0 2" "$? $out" "pull exits 0 and prints version 2"
"$PY" - "$dir" <<'EOF'
import json, subprocess, sys, os
import numpy as np
d = sys.argv[1]
dump = json.loads(subprocess.check_output(
    [os.environ.get("PYTHON3", "/usr/bin/python3"),
     os.environ["PS_SRCDIR"] + "/tests/mksafetensors.py", "dump",
     d + "/out.safetensors"]))
t = dump["tensors"]
def arr(name):
    x = t[name]
    v = x["values"] if isinstance(x, dict) and "values" in x else x
    return np.asarray(v, dtype="f4")
ok = (np.array_equal(arr("layer/w").ravel(), np.load(d + "/want_w.npy").ravel())
      and np.array_equal(arr("layer/b").ravel(), np.load(d + "/want_b.npy").ravel())
      and dump["crc_ok"] is True)
sys.exit(0 if ok else 1)
EOF
check "the pulled file holds w + u and b + b16, exactly, with a valid CRC"
"$PY" "$PS_SRCDIR/tests/mksafetensors.py" dump "$dir/out.safetensors" |
    grep -q '"psctl.model_version": *"2"'
check "and records model version 2"
"$PSCTL" pull -o "$dir/no/such/dir/out.safetensors" 2>"$dir/err"
expect 73 $? "a pull into a missing directory exits 73"
"$PSCTL" pull 2>"$dir/err"
expect 64 $? "a pull without -o exits 64"

kill $spid
wait $spid 2>/dev/null
spid=
"$PSCTL" push "$dir/update.safetensors" 2>"$dir/err"
expect 69 $? "a push to a stopped server exits 69"
grep -q "cannot reach" "$dir/err"
check "and says the server cannot be reached"

# A server that wants a worker token refuses a push without it: 77.
n=$((n + 1))
if "$PSCTL" help serve 2>&1 | grep -q -- --token-file; then
	echo "worker-secret" >"$dir/token"
	"$PSCTL" serve --listen 127.0.0.1:0 -q --token-file "$dir/token" \
	    2>"$dir/serve2.log" &
	spid=$!
	port=
	for i in $(seq 100); do
		port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' \
		    "$dir/serve2.log")
		[ -n "$port" ] && break
		sleep 0.1
	done
	echo wrong >"$dir/badtoken"
	"$PSCTL" init --connect "ws://127.0.0.1:$port" \
	    --token-file "$dir/badtoken" "$dir/model.safetensors" 2>"$dir/err"
	rc=$?
	if [ $rc -eq 77 ]; then
		echo "ok $n - a refused token exits 77"
	else
		echo "not ok $n - a refused token exits 77 (got $rc)"
	fi
else
	echo "ok $n # SKIP psctl serve has no --token-file"
fi
