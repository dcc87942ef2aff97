#!/bin/sh
# psctl status --watch: one line per refresh while a bench pushes, figures
# that agree with psctl status --json, a server restart survived, SIGINT
# ending it with status 0, no escape codes into a file, and clear errors
# for bad options.
: "${PSCTL:?}" "${PS_SRCDIR:?}"
. "$PS_SRCDIR/tests/tap.sh"
PY=${PYTHON3:-/usr/bin/python3}
tap_on_fail() {
	diag_file "$tmp/watch.out" watch
	diag_file "$tmp/watch.err" stderr
	diag_file "$tmp/err" err
}
plan 24

# 1-8: bad options are refused before connecting, with exit status 64.
for d in 0 0.05 61 abc 1x -1; do
	"$PSCTL" status --watch -d "$d" --connect ws://127.0.0.1:9 \
	    >/dev/null 2>"$tmp/err"
	is "$? $(grep -c -- "-d wants a number from 0.1 to 60, not \"$d\"" \
	    "$tmp/err")" "64 1" "-d $d is refused with a message naming it"
done
"$PSCTL" status -d 1 --connect ws://127.0.0.1:9 >/dev/null 2>"$tmp/err"
is "$? $(grep -c -- '-d sets the refresh of --watch' "$tmp/err")" "64 1" \
    "-d without --watch is refused"
"$PSCTL" status --watch --json --connect ws://127.0.0.1:9 >/dev/null \
    2>"$tmp/err"
is "$? $(grep -c -- '--json and --watch do not go together' "$tmp/err")" \
    "64 1" "--watch with --json is refused"

# 9: no server at the start is an error, not a wait.
serve_start dead
dead=$port
serve_stop "$pid" >/dev/null
"$PSCTL" status --watch --connect "127.0.0.1:$dead" >/dev/null 2>"$tmp/err"
is "$? $(grep -c 'cannot reach the server' "$tmp/err")" "69 1" \
    "a server that cannot be reached at the start exits 69"

mkdir "$tmp/ck"
serve_start a --checkpoint-dir "$tmp/ck"
spid=$pid

# Data lines of the watch output (the header and notes left out).
lines() {
	awk '$1 ~ /^[0-9]/' "$tmp/watch.out"
}
nlines() {
	lines | wc -l
}

"$PSCTL" status --watch -d 0.1 --connect "$url" >"$tmp/watch.out" \
    2>"$tmp/watch.err" &
wpid=$!
kill_at_exit "$wpid"

# 10: lines appear for an empty server: version 0, no L2, no rate yet.
wait_for '[ "$(nlines)" -ge 2 ]'
ok 'lines | head -n 1 | grep -q "^ *0  *-  *-  *0  *0  *0  *0  *-  *none yet$"' \
    "the first line: version 0, no rate yet, no workers, no model, no checkpoint"

# 11-12: the version column grows as a bench pushes; the rates move.
"$PSCTL" bench --connect "$url" --workers 2 --params 1000 --tensors 3 \
    --seconds 2 --op push >/dev/null 2>"$tmp/err"
is $? 0 "bench pushes"
ok 'lines | awk "
	{ if (\$1 + 0 < v) bad = 1; if (\$1 + 0 > v) up++; v = \$1 + 0 }
	\$2 + 0 > 0 { moved = 1 }
	END { exit !(up >= 2 && !bad && moved) }"' \
    "the version column grows line by line, never back, and push/s moves"

# 13-18: quiescent: the figures agree with status --json.
"$PSCTL" checkpoint --connect "$url" >/dev/null 2>"$tmp/err"
is $? 0 "a checkpoint is written"
wait_for 'lines | tail -n 1 | grep -q " ckpt-"'
"$PSCTL" status --json --connect "$url" >"$tmp/status.json" 2>"$tmp/err"
is $? 0 "status --json answers"
n=$(nlines)
wait_for '[ "$(nlines)" -ge $((n + 2)) ]'
lines | tail -n 1 >"$tmp/last"
"$PY" - "$tmp/status.json" "$tmp/last" >"$tmp/cmp" <<'EOF'
import json, os, sys
st = json.load(open(sys.argv[1]))
f = open(sys.argv[2]).read().split()
def num(s):
    m = {"k": 1e3, "M": 1e6, "G": 1e9}
    return float(s[:-1]) * m[s[-1]] if s[-1] in m else float(s)
states = [w["state"] for w in st["workers"]]
ck = os.path.basename(st["checkpoint"]["last_path"])
print("version", int(f[0]) == st["model_version"])
print("rates", f[1] == "0" and f[2] == "0")
print("workers", [int(x) for x in f[3:7]] ==
      [states.count(s) for s in ("active", "waiting", "silent", "gone")])
print("l2", abs(num(f[7]) - st["model_l2"]) <= 5e-4 * st["model_l2"])
print("checkpoint", f[8] + ".safetensors" == ck and f[-1] == "ago")
EOF
for k in version rates workers l2 checkpoint; do
	is "$(sed -n "s/^$k //p" "$tmp/cmp")" True \
	    "$k: the watch line agrees with status --json"
done
diag_file "$tmp/last" "line"

# 19-20: a server restart: "disconnected", then lines from the new one.
wait_for '[ "$(nlines)" -ge 22 ]'
serve_stop "$spid"
wait_for 'grep -q "^disconnected from $url: " "$tmp/watch.out"'
is $? 0 "the lost server is reported as disconnected"
"$PSCTL" serve --listen "127.0.0.1:$port" -q >"$tmp/b.log" 2>&1 &
spid=$!
kill_at_exit "$spid"
wait_for 'sed -n "/^disconnected/,\$p" "$tmp/watch.out" |
    grep -q "^ *0  *-  *-  *0  *0  *0  *0  *-  *-$"'
is $? 0 "lines resume from the restarted server (empty, no checkpoint dir)"

# 21-23: SIGINT ends it with status 0; no escape codes into a file; the
# header comes back every 20 lines.
kill -INT "$wpid"
wait "$wpid"
is $? 0 "SIGINT ends --watch with status 0"
tap_forget "$wpid"
ok '! grep -q "$(printf "\033")" "$tmp/watch.out"' \
    "no escape codes when stdout is not a terminal"
ok 'awk "/^ *version/ { if (n && n != 20) bad = 1; h++; n = 0; next }
	/^disconnected/ { n = 0; next }
	{ n++ } END { exit !(h >= 3 && !bad) }" "$tmp/watch.out"' \
    "the header repeats every 20 lines and after a reconnection"

serve_stop "$spid"
done_testing
