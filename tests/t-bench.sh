#!/bin/sh
# psctl bench against a server the test starts, and with --spawn: the JSON
# object has exactly the documented keys, counts are positive and agree with
# the model size, a different model is refused, and a spawned server is gone
# afterwards.  Never a timing threshold.

. "${PS_SRCDIR:?}/tests/tap.sh"
[ -n "$PYTHON3" ] && [ -x "$PYTHON3" ] || skip_all "python3 not found"
tap_on_fail() {
	diag_file "$tmp/err"
	diag_file "$tmp/out" out
}

plan 13

# Checks the --json object in $tmp/out: python exits 0 when all holds.
# $1 = op, $2 = workers, $3 = params.
json_ok() {
	"$PYTHON3" - "$tmp/out" "$1" "$2" "$3" <<'EOF'
import json, sys
path, op, workers, params = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
text = open(path).read()
lines = [l for l in text.splitlines() if l.strip()]
assert len(lines) == 1, "one line of output, got %d" % len(lines)
o = json.loads(lines[0])
keys = {"workers", "params", "seconds", "pulls_per_s", "pushes_per_s",
        "pull_mib_per_s", "push_mib_per_s", "pull_p50_ms", "pull_p99_ms",
        "push_p50_ms", "push_p99_ms", "errors"}
assert set(o) == keys, "keys %s" % sorted(set(o) ^ keys)
assert o["workers"] == workers and o["params"] == params, o
assert o["seconds"] > 0 and o["errors"] == 0, o
mib = params * 4 / 1048576.0
for kind, on in (("pull", op in ("pull", "pushpull")),
                 ("push", op in ("push", "pushpull"))):
    rate = o[{"pull": "pulls_per_s", "push": "pushes_per_s"}[kind]]
    if on:
        assert rate > 0, (kind, o)
        # every call moves the whole model: MiB/s = calls/s * model MiB
        want = rate * mib
        assert abs(o[kind + "_mib_per_s"] - want) <= 1e-4 * want, (kind, o)
        p50, p99 = o[kind + "_p50_ms"], o[kind + "_p99_ms"]
        assert 0 < p50 <= p99, (kind, o)
    else:
        assert rate == 0 and o[kind + "_mib_per_s"] == 0, (kind, o)
        assert o[kind + "_p50_ms"] is None and o[kind + "_p99_ms"] is None, o
if op == "pushpull":
    # a worker pushes then pulls: the two counts differ by at most one
    # call per worker
    d = abs(o["pulls_per_s"] - o["pushes_per_s"]) * o["seconds"]
    assert d <= workers + 0.5, o
EOF
}

# A server of our own on a free port.
serve_start serve
spid=$pid

# 1-2: push and pull on an empty server, which bench initialises first.
"$PSCTL" bench --connect "$url" --workers 2 --params 1000 --tensors 3 \
    --seconds 1 --op pushpull --json >"$tmp/out" 2>"$tmp/err"
is $? 0 "bench --json exits 0 against an empty server"
ok 'json_ok pushpull 2 1000 2>"$tmp/err"' \
    "pushpull --json has exactly the documented keys and consistent counts"

# 3-4: the same model again is reused; pulls only.
"$PSCTL" bench --connect "$url" --workers 1 --params 1000 --tensors 3 \
    --seconds 0.5 --op pull --json >"$tmp/out" 2>"$tmp/err"
is $? 0 "bench reuses a server's model of the same size"
ok 'json_ok pull 1 1000 2>"$tmp/err"' \
    "pull --json reports pulls only, push latencies null"

# 5-6: pushes only.
"$PSCTL" bench --connect "$url" --workers 3 --params 1000 --tensors 3 \
    --seconds 0.5 --op push --json >"$tmp/out" 2>"$tmp/err"
is $? 0 "bench --op push exits 0"
ok 'json_ok push 3 1000 2>"$tmp/err"' \
    "push --json reports pushes only, pull latencies null"

# 7-8: a different model size is a clear error naming the server's model.
"$PSCTL" bench --connect "$url" --params 999 --tensors 3 --seconds 0.5 \
    >"$tmp/out" 2>"$tmp/err"
is $? 65 "a different model exits 65 (EX_DATAERR)"
ok 'grep -q -- "--params 1000 --tensors 3" "$tmp/err"' \
    "the error says which --params and --tensors match the server"

serve_stop "$spid"

# 9-10: --spawn runs its own server and stops it afterwards.
"$PSCTL" bench --spawn --workers 1 --params 100 --seconds 0.5 \
    >"$tmp/out" 2>"$tmp/err"
is $? 0 "bench --spawn exits 0"
sport=$(sed -n '1s/^ws:\/\/127\.0\.0\.1:\([0-9]*\):.*/\1/p' "$tmp/out")
# refused PORT: nothing listens on 127.0.0.1:PORT.
refused() {
	"$PYTHON3" - "$1" <<'EOF'
import socket, sys
s = socket.socket()
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
except ConnectionRefusedError:
    sys.exit(0)
sys.exit(1)
EOF
}
ok '[ -n "$sport" ] && grep -q "^pulls: " "$tmp/out" &&
    grep -q "^pushes: " "$tmp/out" && grep -q "^errors: 0$" "$tmp/out" &&
    refused "$sport"' "the spawned server's port refuses connections after the run"

# 11-13: usage errors and an unreachable server.
"$PSCTL" bench --spawn --connect "$url" >"$tmp/out" 2>"$tmp/err"
is $? 64 "--spawn with --connect exits 64 (EX_USAGE)"
"$PSCTL" bench --op fetch >"$tmp/out" 2>"$tmp/err"
is $? 64 "an unknown --op exits 64 (EX_USAGE)"
"$PSCTL" bench --connect "$url" --seconds 0.5 >"$tmp/out" 2>"$tmp/err"
is $? 69 "a server that is not there exits 69 (EX_UNAVAILABLE)"

done_testing
