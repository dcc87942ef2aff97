#!/bin/sh
# psctl init, pull and push against psctl serve: exit codes, what they
# print, and the model they leave, checked with numpy (tests/mksafetensors.py
# reads the pulled file independently of psctl's C code).
: "${PSCTL:?}" "${PS_SRCDIR:?}"
. "$PS_SRCDIR/tests/tap.sh"
PY=${PYTHON3:-/usr/bin/python3}
"$PY" -c 'import numpy' >/dev/null 2>&1 || skip_all "$PY lacks numpy"
tap_on_fail() {
	diag_file "$tmp/err" stderr
}
plan 25

# The model, an update, and files the server must refuse, written by numpy.
"$PY" - "$tmp" <<'EOF'
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

serve_start serve -q
spid=$pid
export PSCTL_URL=$url
unset PSCTL_TOKEN

out=$("$PSCTL" pull -o "$tmp/early.safetensors" 2>"$tmp/err")
is $? 65 "pull before init exits 65"
ok 'grep -q "no_model" "$tmp/err"' "and says there is no model"

out=$("$PSCTL" init "$tmp/model.safetensors" 2>"$tmp/err")
is $? 0 "init exits 0"
is "$out" 0 "init prints the version, 0"
out=$("$PSCTL" init --name again "$tmp/model.safetensors" 2>"$tmp/err")
is "$? $out" "0 0" "a second init of the same model succeeds"
"$PSCTL" init "$tmp/other.safetensors" 2>"$tmp/err"
is $? 65 "an init of a different model exits 65"

out=$("$PSCTL" push "$tmp/update.safetensors" 2>"$tmp/err")
is $? 0 "push exits 0"
is "$out" 1 "push prints the new version, 1"
out=$("$PSCTL" push "$tmp/update16.safetensors" 2>"$tmp/err")
is "$? $out" "0 2" "an F16 file is pushed as float32"
out=$("$PSCTL" push "$tmp/shape.safetensors" 2>"$tmp/err")
is "$? $out" "65 " "a push with the wrong shape exits 65, prints nothing"
ok 'grep -q "shape" "$tmp/err"' "and gives the server's reason"
"$PSCTL" push "$tmp/unknown.safetensors" 2>"$tmp/err"
is $? 65 "a push of an unknown tensor exits 65"
ok 'grep -q "nope" "$tmp/err"' "and names the tensor"
"$PSCTL" push "$tmp/missing.safetensors" 2>"$tmp/err"
is $? 66 "a push of a missing file exits 66"

out=$("$PSCTL" pull -o "$tmp/out.safetensors" 2>"$tmp/err")
is "$? $out" "0 2" "pull exits 0 and prints version 2"
# pulled_ok: out.safetensors holds w + u and b + b16, exactly, CRC valid.
pulled_ok() {
	"$PY" - "$tmp" <<'EOF'
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
}
ok pulled_ok \
    "the pulled file holds w + u and b + b16, exactly, with a valid CRC"
ok '"$PY" "$PS_SRCDIR/tests/mksafetensors.py" dump "$tmp/out.safetensors" |
    grep -q "\"psctl.model_version\": *\"2\""' "and records model version 2"
"$PSCTL" pull -o "$tmp/no/such/dir/out.safetensors" 2>"$tmp/err"
is $? 73 "a pull into a missing directory exits 73"
"$PSCTL" pull 2>"$tmp/err"
is $? 64 "a pull without -o exits 64"

serve_stop "$spid"
"$PSCTL" push "$tmp/update.safetensors" 2>"$tmp/err"
is $? 69 "a push to a stopped server exits 69"
ok 'grep -q "cannot reach" "$tmp/err"' \
    "and says the server cannot be reached"

# A server that wants a worker token refuses a push without it: 77.
echo "worker-secret" >"$tmp/token"
serve_start serve2 -q --token-file "$tmp/token"
echo wrong >"$tmp/badtoken"
"$PSCTL" init --connect "$url" --token-file "$tmp/badtoken" \
    "$tmp/model.safetensors" 2>"$tmp/err"
is $? 77 "a refused token exits 77"
ok 'grep -q "refused the token: " "$tmp/err"' "and says the token was refused"
unset PSCTL_TOKEN
"$PSCTL" init --connect "$url" "$tmp/model.safetensors" 2>"$tmp/err"
is $? 77 "no token exits 77"
ok 'grep -q "wants a token: give --token-file FILE or set PSCTL_TOKEN" \
    "$tmp/err"' "and says how to give one"

done_testing
