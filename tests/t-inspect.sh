#!/bin/sh
# psctl inspect: output for psctl's and numpy's files, --json against
# numpy's own norms (tests/data/*.json, written by tests/mksafetensors.py),
# and the exit codes: 65 and one line on stderr for a file that does not
# verify, 66 for one that cannot be opened, 64 for usage errors.
data=${PS_TEST_DATA:?}
. "${PS_SRCDIR:?}/tests/tap.sh"
has_numpy=0
if [ -n "$PYTHON3" ] && "$PYTHON3" -c 'import numpy' 2>/dev/null; then
	has_numpy=1
fi

# json_matches OUT WANT: inspect's --json in OUT agrees with numpy's WANT.
json_matches() {
	"$PYTHON3" - "$1" "$2" <<'EOF'
import json, sys
got = json.load(open(sys.argv[1]))
want = json.load(open(sys.argv[2]))
names = [t["name"] for t in got["tensors"]]
assert names == want["order"], names
for t in got["tensors"]:
    w = want["tensors"][t["name"]]
    assert t["dtype"] == w["dtype"], t
    assert t["converted"] == (w["dtype"] != "F32"), t
    assert t["shape"] == w["shape"], t
    assert t["params"] == len(w["values"]), t
    assert abs(t["l2"] - w["l2"]) <= 1e-6 * max(1.0, w["l2"]), (t, w["l2"])
assert got["checksum"] == ("verified" if "versions" in want else "none")
if "versions" in want:
    assert [t["version"] for t in got["tensors"]] == want["versions"]
    assert [t["steps"] for t in got["tensors"]] == want["steps"]
    assert got["model_version"] == want["model_version"]
    assert got["rule"] == {"name": "adam", "lr": 0.001, "beta1": 0.8,
                           "beta2": 0.99, "eps": 1e-07}, got["rule"]
    assert len(got["state"]) == 6 and all(s["restored"] for s in got["state"])
    assert got["metadata"]["psctl.mode"] == "sync"
EOF
}

plan 32

# A psctl file, written by Python from the man page.
"$PSCTL" inspect "$data/psctl.safetensors" >"$tmp/out" 2>"$tmp/err"
is $? 0 "inspect of a psctl checkpoint exits 0"
ok 'grep -q "^checksum: verified (data crc32c 167246cd, header crc32c 31b28bc8)$" "$tmp/out"' \
    "it says the checksums are verified, with their values"
awk '/^NAME/ { on = 1; next } on && !NF { exit } on { print $1 }' \
    "$tmp/out" | tr '\n' ' ' >"$tmp/order"
ok '[ "$(cat "$tmp/order")" = "layer.2 layer.1 b " ]' \
    "it lists the tensors in psctl.tensors' order ($(cat "$tmp/order"))"
ok 'grep -q "^layer.1  *F32  *\[3, 4\]  *12  *2.17423  *9  *6$" "$tmp/out"' \
    "a tensor's line has dtype, shape, parameters, L2 norm, version, steps"
ok 'grep -q "^rule: adam (lr 0.001, beta1 0.8, beta2 0.99, eps 1e-07)$" "$tmp/out"' \
    "it shows the rule and its parameters"
ok 'grep -q "^model version: 9$" "$tmp/out" && grep -q "^mode: sync$" "$tmp/out"' \
    "it shows the model version and the mode"
ok 'grep -q "^optimizer state: 6 tensors, 6 restored, 0 dropped$" "$tmp/out" &&
    grep -q "^__psctl.v.layer.1  *F32  *\[3, 4\]  *12 " "$tmp/out"' \
    "it lists adam's state tensors"
ok 'grep -q "^  psctl.rule: adam$" "$tmp/out" && grep -q "^  format: pt$" "$tmp/out"' \
    "it prints the metadata"
ok '[ ! -s "$tmp/err" ]' "it writes nothing on stderr"

# numpy's file of mixed dtypes.
"$PSCTL" inspect "$data/mixed.safetensors" >"$tmp/out" 2>"$tmp/err"
is $? 0 "inspect of numpy's mixed-dtype file exits 0"
ok 'grep -q "^checksum: none in file$" "$tmp/out"' \
    "it says there is no checksum in the file"
ok 'grep -q "^conv.weight  *F16 (converted to F32)  *\[2, 3\]  *6 " "$tmp/out" &&
    grep -q "^bias  *BF16 (converted to F32)  *\[4\]  *4 " "$tmp/out" &&
    grep -q "^dense.kernel  *F64 (converted to F32)  *\[2, 2\]  *4 " \
    "$tmp/out" && grep -q "^scale  *F32  *\[\]  *1  *1.5$" "$tmp/out"' \
    "it names each file dtype and says which were converted to F32"

# --json against numpy's norms.
for f in psctl mixed; do
	if [ $has_numpy -eq 0 ]; then
		skip 2 "no numpy"
		continue
	fi
	"$PSCTL" inspect --json "$data/$f.safetensors" >"$tmp/$f.out"
	is $? 0 "inspect --json of $f.safetensors exits 0"
	ok 'json_matches "$tmp/$f.out" "$data/$f.json"' \
	    "its JSON has numpy's order, dtypes, shapes and L2 norms ($f)"
done

# Refusals: one line on stderr, nothing on stdout, the right exit code.
# usage: refused CODE FILE DESCRIPTION [PATTERN]
refused() {
	"$PSCTL" inspect "$2" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	lines=$(wc -l <"$tmp/err")
	want="psctl inspect: $2: "
	first=$(head -n 1 "$tmp/err")
	want_rc=$1
	want_pat=$4
	ok '[ $rc -eq "$want_rc" ] && [ "$lines" -eq 1 ] && [ ! -s "$tmp/out" ] &&
	    [ "${first#"$want"}" != "$first" ] &&
	    { [ -z "$want_pat" ] || grep -q -- "$want_pat" "$tmp/err"; }' "$3" ||
	    { diag "exit $rc, stderr:"; diag_file "$tmp/err"; }
}

refused 65 "$data/i64.safetensors" \
    "an I64 tensor: exit 65, one line" 'tensor "step": dtype I64 is not supported$'
# One data byte changed in a copy of the psctl file (the last one).
size=$(wc -c <"$data/psctl.safetensors")
head -c $((size - 1)) "$data/psctl.safetensors" >"$tmp/bad.safetensors"
printf 'X' >>"$tmp/bad.safetensors"
refused 65 "$tmp/bad.safetensors" \
    "a changed data byte: exit 65, one line" 'data checksum mismatch'
head -c 100 "$data/psctl.safetensors" >"$tmp/cut.safetensors"
refused 65 "$tmp/cut.safetensors" \
    "a truncated file: exit 65, one line" 'runs past the end of the file'
printf '{"a": 1' >"$tmp/junk.safetensors"
refused 65 "$tmp/junk.safetensors" "a file of junk: exit 65, one line"
# Issue 11 item 12: an unknown key in psctl.rule_params was quoted after
# it was freed (an abort under the sanitizers).
hdr='{"__metadata__":{"psctl.rule":"sgd","psctl.rule_params":"{\"lr\":0.1,\"learning_rate_decay\":0.5}"},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
while [ $((${#hdr} % 8)) -ne 0 ]; do hdr="$hdr "; done
{ printf "\\$(printf %03o ${#hdr})\\000\\000\\000\\000\\000\\000\\000"
  printf '%s' "$hdr"; printf '\000\000\000\000'; } >"$tmp/param.safetensors"
refused 65 "$tmp/param.safetensors" \
    "an unknown rule parameter: exit 65, one line" \
    'psctl.rule_params: unknown parameter "learning_rate_decay"$'
# Issue 12: something else altogether says so in plain words.
printf '# psctl\n\nA parameter server.\n' >"$tmp/README.md"
refused 65 "$tmp/README.md" "a text file: exit 65, one line" \
    ': not a safetensors file$'
refused 66 "$tmp/missing.safetensors" \
    "a missing file: exit 66, one line" 'No such file or directory'
refused 66 "$tmp" "a directory: exit 66, one line" 'not a regular file'

# A file psctl saves records the model's L2 norm (psctl.model_l2), and
# inspect shows it: numpy's file, through a server, pulled to a file.
serve_start l2
"$PSCTL" init --connect "$url" "$data/f32.safetensors" >/dev/null 2>&1 &&
    "$PSCTL" pull --connect "$url" -o "$tmp/l2.safetensors" >/dev/null 2>&1
is $? 0 "a model pulled from a server is saved to a file"
"$PSCTL" inspect "$tmp/l2.safetensors" >"$tmp/out" 2>&1
saved=$(sed -n 's/^model L2 norm when saved: //p' "$tmp/out")
loaded=$(sed -n 's/^tensors: .*, L2 norm \([^ ]*\).*/\1/p' "$tmp/out")
ok '[ -n "$saved" ] && [ "$saved" != 0 ] && [ "$saved" = "$loaded" ]' \
    "inspect shows the L2 norm saved, that of the data ($saved, $loaded)"
"$PSCTL" inspect --json "$tmp/l2.safetensors" >"$tmp/l2.json" 2>&1
ok 'grep -q "\"model_l2\": [1-9]" "$tmp/l2.json"' "--json has it as model_l2"
"$PSCTL" inspect --json "$data/f32.safetensors" >"$tmp/f32.json" 2>&1
ok 'grep -q "\"model_l2\": null" "$tmp/f32.json"' \
    "a file from elsewhere has none"
serve_stop "$pid" >/dev/null

"$PSCTL" inspect >/dev/null 2>&1
is $? 64 "no file: exit 64"
"$PSCTL" inspect "$data/f32.safetensors" "$data/f32.safetensors" \
    >/dev/null 2>&1
is $? 64 "two files: exit 64"
"$PSCTL" inspect --bogus "$data/f32.safetensors" >/dev/null 2>&1
is $? 64 "an unknown option: exit 64"
"$PSCTL" inspect --json "$data/f32.safetensors" >/dev/null 2>&1
is $? 0 "--json may come before the file"

done_testing
