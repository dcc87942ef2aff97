#!/bin/sh
# Issue 12's operator drill, in a real terminal at 80x24: tmux runs psctl
# top against a psctl serve with four workers (small Python clients of the
# worker protocol, written below): two that train, one stalled with
# SIGSTOP, and one "exploder" whose pushes blow up one tensor; ten one-shot
# psctl push runs come first.  Checked, each on the screen (capture-pane)
# and against the server's or the files' own facts: the stalled worker's
# row is on the first screen, marked SILENT, and no one-shot is listed;
# sorting the tensors by GROWTH puts the exploding one first, the one the
# server gives the largest growth; k on the exploder's row (sorted by
# UPD_L2) disconnects it with 1008 and it comes back; K disconnects and
# blocks it: its next HELLOs are refused, and so is psctl push under its
# name; R lists the checkpoints as psctl checkpoints does, and resets to
# the older one picked with the arrows, after which the model pulled is
# that file, tensor for tensor; u lists the block and lifts it, and the
# exploder's HELLO is accepted again.  Timing only bounds the waits.
if [ -z "$TMUX_BIN" ]; then
	echo "1..0 # SKIP tmux not found"
	exit 0
fi
py=${PYTHON3:-/usr/bin/python3}
if ! "$py" -c 'import numpy, websocket' 2>/dev/null; then
	echo "1..0 # SKIP Python with numpy and websocket not found"
	exit 0
fi

. "${PS_SRCDIR:?}/tests/tap.sh"

unset PSCTL_URL PSCTL_TOKEN NO_COLOR TMUX
PYTHONPATH="$PS_SRCDIR/tests${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH
sock=psctl-drill-$$
sockpath=
tm() {
	"$TMUX_BIN" -L "$sock" -f /dev/null "$@"
}
atexit 'tm kill-server 2>/dev/null; [ -n "$sockpath" ] && rm -f "$sockpath"'

tap_on_fail() {
	if [ -f "$tmp/screen" ]; then
		diag "the screen was:"
		diag_file "$tmp/screen" ""
	fi
}
setup_failed() {
	for f in serve.log push.out top.log w-good-1.log w-stall.log \
	    w-exploder.log; do
		diag_file "$tmp/$f" "$f"
	done
	bail "$1"
}

# The drill's Python side: files, workers, and reading JSON and files.
cat >"$tmp/drill.py" <<'EOF'
import json
import sys
import time

import numpy as np

import pstest as T
import psproto as P

SHAPES = {"dense/kernel": (64, 32), "dense/bias": (32,), "out/kernel": (32, 10)}


def files(d):
    import mksafetensors as M
    rng = np.random.default_rng(1)
    M.write(d + "/init.safetensors", [
        (n, "F32", s, (rng.standard_normal(s) * 0.05).astype("f4"))
        for n, s in SHAPES.items()])
    M.write(d + "/small.safetensors",
            [("dense/bias", "F32", (32,), np.full(32, 1e-3, "f4"))])


def worker(url, name, kind, log):
    """Pushes until killed; a closed or refused connection is logged and
    tried again, as a training job's worker would."""
    out = open(log, "a", buffering=1)
    rng = np.random.default_rng(sum(map(ord, name)))
    w = None
    while True:
        if w is None:
            try:
                w = T.Worker(url, name, hello=False)
                r = w.request(P.HELLO, text=name)
            except Exception as e:
                out.write("error %r\n" % e)
                w = None
                time.sleep(0.3)
                continue
            if r.op != P.REPLY:
                out.write("refused %s\n" % r.text)
                w.close()
                w = None
                time.sleep(0.3)
                continue
            w.id = r.arg
            out.write("hello %d\n" % w.id)
        if kind == "bad":
            upd = {"out/kernel": np.full((32, 10), 50, "f4")}
        else:
            upd = {n: (rng.standard_normal(s) * 1e-3).astype("f4")
                   for n, s in SHAPES.items()}
        try:
            if w.pending():
                w.recv()        # the server's close frame, read first
            w.push(upd)
        except T.Closed as e:
            out.write("closed %s %s\n" % (e.code, e.reason))
            w = None
            continue
        except Exception as e:
            out.write("error %r\n" % e)
            w = None
        time.sleep(0.1)


def same(a, b):
    """Exit 0 when the two files hold the same tensors, bit for bit."""
    _, x = T.read_safetensors(a)
    _, y = T.read_safetensors(b)
    bad = sorted(set(x) ^ set(y))
    bad += [n for n in x if n in y and (x[n].shape != y[n].shape or
            x[n].tobytes() != y[n].tobytes())]
    for n in bad:
        print("# differs: %s" % n)
    return 1 if bad or not x else 0


def main(argv):
    if argv[1] == "files":
        files(argv[2])
    elif argv[1] == "worker":
        worker(*argv[2:6])
    elif argv[1] == "same":
        return same(argv[2], argv[3])
    elif argv[1] == "json":
        with open(argv[2]) as f:
            s = json.load(f)
        print(eval(argv[3], {"s": s}))
    return 0


sys.exit(main(sys.argv))
EOF

# capture: the pane's text now, one line a row, into $tmp/screen.
capture() {
	tm capture-pane -p -t top >"$tmp/screen" 2>/dev/null
}
# until_screen CODE [SECONDS]: captures until CODE (eval) holds.
until_screen() {
	screen_code=$1
	wait_for 'capture; eval "$screen_code"' "${2:-20}"
}
# see CODE DESC [SECONDS]: one test, passing when CODE holds on the
# screen within SECONDS (20).
see() {
	see_code=$1
	see_secs=${3:-20}
	ok 'until_screen "$see_code" "$see_secs"' "$2"
}
has() {
	grep -E -q -- "$1" "$tmp/screen"
}
row() {
	sed -n "$1p" "$tmp/screen" | grep -E -q -- "$2"
}
# first_row TITLE: the first row of the table titled TITLE.
first_row() {
	awk -v t="$1" 'on == 2 { print; exit } on { on++ } $0 ~ "^" t " " { on = 1 }' \
	    "$tmp/screen"
}
# pick_names: the names of the open list's rows, one a line.
pick_names() {
	awk '/^CHECKPOINTS / { on = 1; getline; next }
	    on && !NF { exit }
	    on { sub(/^>/, " "); print $1 }' "$tmp/screen"
}
# The server's own figures: sj EXPR evaluates EXPR on psctl status --json
# (s).
sj() {
	"$PSCTL" status --json --connect "$url" >"$tmp/status.json" \
	    2>"$tmp/status.err" &&
	    "$py" "$tmp/drill.py" json "$tmp/status.json" "$1"
}
commas() {
	printf '%s\n' "$1" | sed ':a
s/\B[0-9]\{3\}\>/,&/
ta'
}
# start_worker NAME KIND: a worker process; its pid in $wpid.
start_worker() {
	"$py" "$tmp/drill.py" worker "$url" "$1" "$2" "$tmp/w-$1.log" \
	    2>>"$tmp/w-$1.log" &
	wpid=$!
	kill_at_exit "$wpid"
}
# hello_id NAME [N]: the id of worker NAME's Nth accepted HELLO (1st).
hello_id() {
	sed -n 's/^hello //p' "$tmp/w-$1.log" | sed -n "${2:-1}p"
}
# keys KEY...: sends keys to the console, one at a time.
keys() {
	for k in "$@"; do
		tm send-keys -t top "$k"
	done
}

plan 39

mkdir "$tmp/ckpt"
serve_start serve --checkpoint-dir "$tmp/ckpt"
"$py" "$tmp/drill.py" files "$tmp" || setup_failed "cannot write the files"
"$PSCTL" init --connect "$url" "$tmp/init.safetensors" >"$tmp/push.out" \
    2>&1 || setup_failed "psctl init failed"
i=0
while [ $i -lt 10 ]; do
	"$PSCTL" push --connect "$url" "$tmp/small.safetensors" \
	    >>"$tmp/push.out" 2>&1 || setup_failed "psctl push failed"
	i=$((i + 1))
done
ok '[ "$(sj "len([w for w in s[\"workers\"] if w[\"name\"] == \"psctl push\"])")" = 10 ]' \
    "the server has seen ten one-shot psctl push connections"

start_worker good-1 good
g1pid=$wpid
start_worker good-2 good
g2pid=$wpid
start_worker stall good
spid=$wpid
wait_for '[ -n "$(hello_id good-1)" ] && [ -n "$(hello_id good-2)" ] &&
    [ -n "$(hello_id stall)" ]' 20 || setup_failed "the workers did not start"
sid=$(hello_id stall)

cat >"$tmp/run.sh" <<EOT
"\$PSCTL" top --connect "$url" -d 0.5 --silent 3 -v "$tmp/top.log"
echo "top exited \$?"
exec sleep 120
EOT
tm new-session -d -s top -x 80 -y 24 \
    "env TERM=screen LC_ALL=C.UTF-8 PSCTL='$PSCTL' sh '$tmp/run.sh'" ||
    setup_failed "tmux cannot start a session"
sockpath=$(tm display -p '#{socket_path}')
see 'row 1 "^psctl top  ws://127\.0\.0\.1:[0-9]+  CONNECTED" &&
    has "^TENSORS 3 " && has " good-1 " && has " good-2 " && has " stall "' \
    "at 80x24 top connects and lists the model's 3 tensors and the workers"

# A checkpoint of the model before the damage.
keys c
see 'row 23 "^checkpoint saved: [^ /]+ \(.*, version [0-9]+\)$"' \
    "c saves a checkpoint before the damage"
goodname=$(sed -n '23s/^checkpoint saved: \(.*\) (.*, version [0-9]*)$/\1/p' \
    "$tmp/screen")
goodv=$(sed -n '23s/.*, version \([0-9]*\))$/\1/p' "$tmp/screen")
good=$tmp/ckpt/$goodname.safetensors
ok '[ -n "$goodname" ] && [ -f "$good" ]' \
    "it names a file of the checkpoint directory ($goodname)"

# The trouble: one worker stalls, one explodes.
start_worker exploder bad
xpid=$wpid
wait_for '[ -n "$(hello_id exploder)" ]' 20 ||
    setup_failed "the exploder did not start"
xid=$(hello_id exploder)
kill -STOP "$spid"
see 'has "^[ >] +$sid SILENT +stall( |$)"' \
    "the stalled worker's row (id $sid) is on the first screen, SILENT" 30
ok '! has "psctl push"' "no one-shot psctl push is listed"

# Tensors by GROWTH: the exploding one first.
keys '>' '>' '>' '>' '>'
see 'has "^TENSORS 3  sort: GROWTH desc" &&
    first_row TENSORS | grep -E -q "^[ >] +3 out/kernel .*[0-9kMGTPE%]!( |$)"' \
    "sorted by GROWTH, out/kernel is first, marked the worst" 40
ok '[ "$(sj "max(s[\"tensors\"], key=lambda t: t[\"growth_1m\"] or -1e300)[\"name\"]")" = out/kernel ]' \
    "the server gives out/kernel the largest growth too"

# Workers by UPD_L2: the exploder first; k kicks it.
keys Tab '>' '>' '>' '>' '>' Home
see 'has "^WORKERS [0-9]+ .*sort: UPD_L2 desc" &&
    first_row WORKERS | grep -E -q "^> +$xid [A-Za-z]+ +exploder "' \
    "sorted by UPD_L2, the exploder (id $xid) is first and selected"
keys k
see 'row 23 "^Kick worker $xid \(exploder, 127\.0\.0\.1:[0-9]+\)\? \[y/N\]$"' \
    "k asks [y/N], naming the worker"
keys y
see 'row 23 "^worker $xid \(exploder\) kicked$"' "y kicks it"
ok 'wait_for "grep -q \"^closed 1008 .*operator\" \"\$tmp/w-exploder.log\""' \
    "the exploder's connection was closed with 1008, naming the operator"
wait_for '[ -n "$(hello_id exploder 2)" ]' 20
xid2=$(hello_id exploder 2)
ok '[ -n "$xid2" ] && [ "$xid2" != "$xid" ]' \
    "kicked only, it comes back with a new id ($xid2)"

# K blocks it.
see 'keys Home; first_row WORKERS | grep -E -q "^> +$xid2 [A-Za-z]+ +exploder "' \
    "its new row (id $xid2) is first and selected"
keys K
see 'row 23 "^Kick and block worker $xid2 \(exploder\) until unblocked\? \[y/N\]$"' \
    "K asks [y/N], naming the worker"
keys y
see 'row 23 "^worker $xid2 \(exploder\) kicked and blocked; u lifts it$"' \
    "y kicks and blocks it"
ok '[ "$(sj "[(b[\"id\"], b[\"name\"]) for b in s[\"blocked\"]]")" = "[($xid2, '"'exploder'"')]" ]' \
    "the server lists the block: id $xid2 and name exploder"
ok 'wait_for "[ \$(grep -c \"^closed 1008\" \"\$tmp/w-exploder.log\") -ge 2 ] &&
    sed -n \"/^hello $xid2\$/,\\\$p\" \"\$tmp/w-exploder.log\" |
    grep -q \"^refused .*operator blocked it\""' \
    "disconnected again, its next HELLO is refused: an operator blocked it"
"$PSCTL" push --connect "$url" --name exploder "$tmp/small.safetensors" \
    >"$tmp/xpush.out" 2>&1
r=$?
is "$r" 77 "psctl push under the name exploder is refused too (EX_NOPERM)"
ok 'grep -q "refused the worker: .*operator blocked" "$tmp/xpush.out"' \
    "and it says the server's reason: an operator blocked it"
see 'has "^WORKERS .* 1 blocked \(u\)"' "the worker title counts the block"

# The damage, saved: the newest checkpoint holds it.
reap "$g1pid"
reap "$g2pid"
keys c
see 'row 23 "^checkpoint saved: [^ /]+ \(.*, version [0-9]+\)$" &&
    ! row 23 " $goodname "' "c saves a checkpoint after the damage"
badname=$(sed -n '23s/^checkpoint saved: \(.*\) (.*, version [0-9]*)$/\1/p' \
    "$tmp/screen")
"$PSCTL" checkpoints --json --connect "$url" >"$tmp/ckpts.json" 2>&1
ok '[ "$("$py" "$tmp/drill.py" json "$tmp/ckpts.json" "[c[\"name\"] for c in s]")" = "['"'$badname', '$goodname', 'initial'"']" ]' \
    "psctl checkpoints lists $badname, $goodname, initial"
ok '"$py" "$tmp/drill.py" json "$tmp/ckpts.json" "s[0][\"model_l2\"] > 100 * s[1][\"model_l2\"]" | grep -q True' \
    "the newest holds the damage: its model L2 is over 100 times the older's"

# R: the list, the older checkpoint picked, the question by name, reset.
keys R
see 'has "^CHECKPOINTS 3  reset to which\?  now: version [0-9,]+, L2 [0-9.,]+" &&
    has "^> $badname " && row 23 "^Reset to which checkpoint\?"' \
    "R lists 3 checkpoints, the newest selected"
ok '[ "$(pick_names | tr "\n" " ")" = "$badname $goodname initial " ]' \
    "in the server's order, newest first, initial last"
ok 'has "^  $goodname +$(commas "$goodv") +[0-9.smh]+ +[0-9.,]+ +[0-9.]+ [KM]?i?B$"' \
    "the older one's row shows its version ($goodv), age, L2 and size"
ok 'status_resets=$(sj "s[\"resets_total\"]") && [ "$status_resets" = 0 ]' \
    "nothing is reset while the list is open"
see 'has "^> $goodname " || { keys Down; false; }' \
    "Down selects the older checkpoint"
keys Enter
see 'row 23 "^Reset to $goodname \(version $(commas "$goodv"), [0-9]+[smhd] ago, L2 [0-9.,]+\)\? \[y/N\]$"' \
    "Enter asks [y/N], naming it with its version, age and L2"
keys y
see 'row 23 "^model reset from $goodname, now version [0-9]+$"' \
    "y resets the model to it, and the status line names the file"
ok '[ "$(sj "s[\"resets_total\"]")" = 1 ]' "the server counts one reset"
"$PSCTL" pull --connect "$url" -o "$tmp/after.safetensors" \
    >"$tmp/pull.out" 2>&1
ok '"$py" "$tmp/drill.py" same "$good" "$tmp/after.safetensors"' \
    "the model pulled now equals $goodname, tensor for tensor"

# u: the block listed, lifted.
keys u
see 'has "^BLOCKED 1  unblock which\?" && has "^> +$xid2 exploder$"' \
    "u lists the block, selected"
keys Enter
see 'row 23 "^Unblock worker $xid2 \(exploder\): its HELLO accepted again\? \[y/N\]$"' \
    "Enter asks [y/N], naming the worker"
keys y
see 'row 23 "^worker $xid2 \(exploder\) unblocked: its HELLO is accepted again$"' \
    "y unblocks it"
ok '[ "$(sj "s[\"blocked\"]")" = "[]" ]' "the server holds no block now"
ok 'wait_for "[ -n \"\$(hello_id exploder 3)\" ]" 20' \
    "and the exploder's next HELLO is accepted"
reap "$xpid"

keys q
see 'has "^top exited 0$"' "q quits, with status 0"
kill -CONT "$spid" 2>/dev/null
done_testing
