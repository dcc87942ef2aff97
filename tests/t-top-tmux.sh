#!/bin/sh
# psctl top in a real terminal: tmux runs the console against a live
# psctl serve that psctl bench keeps busy, and capture-pane reads the
# screen back.  Checked: the bench's tensors and workers are listed and the
# model version moves; c writes a checkpoint that psctl inspect verifies;
# R asks and y resets (the server counts it and training goes on); S then n
# leaves the server up; the screen redraws at 90x30, says "too small" at
# 50x10, and draws again at 120x40 and 250x40; S then y stops the server
# (exit 0, final checkpoint); top then shows DISCONNECTED, still answers
# q, and gives the terminal back.  The figures checked against the screen
# come from the server (psctl status --json) and the files (psctl
# inspect), not from the console.  Timing only bounds the waits: each
# thing has 10 s to appear.
if [ -z "$TMUX_BIN" ]; then
	echo "1..0 # SKIP tmux not found"
	exit 0
fi

unset PSCTL_URL PSCTL_TOKEN NO_COLOR TMUX
tmp=$(mktemp -d "${TMPDIR:-/tmp}/t-top-tmux.XXXXXX") || exit 1
sock=psctl-test-$$
sockpath=
spid=
bpid=
tm() {
	"$TMUX_BIN" -L "$sock" -f /dev/null "$@"
}
cleanup() {
	# The pane's processes get SIGHUP from the tmux server going away.
	tm kill-server 2>/dev/null
	# tmux leaves its socket behind.
	[ -n "$sockpath" ] && rm -f "$sockpath"
	for p in $bpid $spid; do
		kill "$p" 2>/dev/null
	done
	for p in $bpid $spid; do
		wait "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

n=0
ok() {	# ok STATUS DESCRIPTION; a failure shows the last screen
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
		return
	fi
	echo "not ok $n - $2"
	if [ -f "$tmp/screen" ]; then
		echo "# the screen was:"
		sed 's/^/# |/' "$tmp/screen"
	fi
}
bail() {
	echo "Bail out! $1"
	for f in serve.log bench.out top.log; do
		[ -f "$tmp/$f" ] && sed "s|^|# $f: |" "$tmp/$f"
	done
	exit 1
}

# capture: the pane's text now, one line a row, into $tmp/screen.
capture() {
	tm capture-pane -p -t top >"$tmp/screen" 2>/dev/null
}
# until CMD...: captures until CMD succeeds, for 10 s at most.
until_screen() {
	i=0
	while :; do
		capture
		"$@" && return 0
		i=$((i + 1))
		[ $i -ge 50 ] && return 1
		sleep 0.2
	done
}
# has ERE: some row matches.  row N ERE: row N matches.
has() {
	grep -E -q -- "$1" "$tmp/screen"
}
row() {
	sed -n "$1p" "$tmp/screen" | grep -E -q -- "$2"
}
# The model version in the header, without the thousands' commas.
screen_version() {
	sed -n 's/^model .*  version \([0-9,]*\)  .*/\1/p' "$tmp/screen" |
	    tr -d ,
}
# The server's own figures: json KEY, from psctl status --json.
status_json() {
	"$PSCTL" status --json --connect "$url" >"$tmp/status.json" \
	    2>"$tmp/status.err"
}
json() {
	sed -n "s/.*\"$1\":\\([0-9][0-9]*\\).*/\\1/p" "$tmp/status.json"
}
# screen_grows OLD: the header's version is over OLD.
screen_grows() {
	v=$(screen_version)
	[ -n "$v" ] && [ "$v" -gt "$1" ]
}
# server_grows OLD: the server's model version is over OLD.
server_grows() {
	status_json && v=$(json model_version) && [ -n "$v" ] &&
	    [ "$v" -gt "$1" ]
}
# until_true CMD...: CMD succeeds within 10 s (no screen involved).
until_true() {
	i=0
	while :; do
		"$@" && return 0
		i=$((i + 1))
		[ $i -ge 50 ] && return 1
		sleep 0.2
	done
}
# resized COLS LINES: the screen is drawn whole at that size.
resized() {
	[ "$(tm display -p -t top '#{pane_width}x#{pane_height}')" = \
	    "$1x$2" ] && row 1 '^psctl top ' && row "$2" '^q Quit ' &&
	    has '^TENSORS 3 '
}
# lags_ok: in the worker table on the screen, each live worker's LAG is
# the fastest live worker's CLOCK minus its own (one snapshot gives both),
# and no number is cut: a LAG is whole ("16,060") or has a unit ("16.1k",
# within 1%).
lags_ok() {
	awk '
	function whole(s) {
		if (s !~ /^[0-9][0-9]?[0-9]?(,[0-9][0-9][0-9])*$/)
			return -1
		gsub(/,/, "", s)
		return s + 0
	}
	function unit(s,   u) {
		if (s !~ /^[0-9]+(\.[0-9]+)?[kMG]$/)
			return -1
		u = substr(s, length(s))
		return substr(s, 1, length(s) - 1) * \
		    (u == "k" ? 1e3 : u == "M" ? 1e6 : 1e9)
	}
	/^WORKERS / { on = 1; getline; next }
	on && !NF { on = 0 }
	on && $2 != "GONE" {
		n++
		clock[n] = whole($7)
		lag[n] = $8
		if (clock[n] < 0) {
			print "# cut CLOCK: " $0
			bad = 1
		}
		if (clock[n] > max)
			max = clock[n]
	}
	END {
		if (n < 2)
			bad = 1
		for (i = 1; i <= n; i++) {
			want = max - clock[i]
			if ((v = whole(lag[i])) >= 0)
				d = v - want
			else if ((v = unit(lag[i])) >= 0)
				d = (v - want > want / 100 || want - v > want / 100)
			else
				d = 1
			if (d != 0) {
				print "# LAG " lag[i] ", want " want
				bad = 1
			}
		}
		exit bad
	}' "$tmp/screen"
}
# inspect_ok PATH VERSION: psctl inspect verifies the file, whose model
# version is VERSION.
inspect_ok() {
	"$PSCTL" inspect "$1" >"$tmp/inspect" 2>&1 &&
	    grep -q '^checksum: verified ' "$tmp/inspect" &&
	    grep -q "^model version: $2\$" "$tmp/inspect"
}

echo "1..35"

mkdir "$tmp/ckpt"
"$PSCTL" serve --listen 127.0.0.1:0 --checkpoint-dir "$tmp/ckpt" \
    >"$tmp/serve.log" 2>&1 &
spid=$!
port=
i=0
while [ $i -lt 100 ]; do
	port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' \
	    "$tmp/serve.log")
	[ -n "$port" ] && break
	kill -0 "$spid" 2>/dev/null || break
	sleep 0.1
	i=$((i + 1))
done
[ -n "$port" ] || bail "psctl serve did not start"
url=ws://127.0.0.1:$port

"$PSCTL" bench --connect "$url" --workers 2 --params 20000 --tensors 3 \
    --seconds 30 --op pushpull >"$tmp/bench.out" 2>&1 &
bpid=$!

# The pane runs top, then reports how it ended and the terminal's modes.
cat >"$tmp/run.sh" <<EOF
"\$PSCTL" top --connect "$url" -d 0.3 -v "$tmp/top.log"
echo "top exited \$?"
stty -a >"$tmp/stty"
exec sleep 60
EOF
tm new-session -d -s top -x 120 -y 40 \
    "env TERM=screen LC_ALL=C.UTF-8 PSCTL='$PSCTL' sh '$tmp/run.sh'" ||
    bail "tmux cannot start a session"
sockpath=$(tm display -p '#{socket_path}')

until_screen row 1 '^psctl top  ws://127\.0\.0\.1:[0-9]+  CONNECTED  every 0\.3s'
ok $? "top connects and says so on its first row, with the -d interval"
until_screen eval "has '^TENSORS 3 ' && has '^ +1 bench/0 +6667 ' &&
    has '^ +2 bench/1 +6667 ' && has '^ +3 bench/2 +6666 '"
ok $? "the tensor table lists the bench's 3 tensors, 20000 parameters split 6667+6667+6666"
live='(active|waiting|LAGGING)'
until_screen eval "has '^ +[0-9]+ $live +bench-0 +127\\.0\\.0\\.1:[0-9]+ ' &&
    has '^ +[0-9]+ $live +bench-1 +127\\.0\\.0\\.1:[0-9]+ '"
ok $? "the worker table has a live row for each of the 2 bench workers"
until_screen has '^workers 2  pushes/s '
ok $? "the header counts 2 workers connected"

v1=$(screen_version)
[ -n "$v1" ] && [ "$v1" -gt 0 ]
ok $? "the header shows a model version ($v1)"
until_screen screen_grows "$v1"
r=$?
v2=$(screen_version)
ok $r "the version on the screen grows between captures ($v1, then $v2)"
status_json && sv=$(json model_version) && [ "$sv" -ge "$v2" ]
ok $? "the server's own version, read after, is no less ($sv >= $v2)"

# c: a checkpoint, named on the status line.
tm send-keys -t top c
until_screen row 39 '^checkpoint saved: .* \(.* in [0-9.]+ s, version [0-9]+\)$'
ok $? "c reports the saved checkpoint on the status line"
ck=$(sed -n '39s/^checkpoint saved: \(.*\) (.* in .*, version [0-9]*)$/\1/p' \
    "$tmp/screen")
ckv=$(sed -n '39s/.*, version \([0-9]*\))$/\1/p' "$tmp/screen")
[ -n "$ck" ] && [ "$(dirname "$ck")" = "$tmp/ckpt" ] && [ -f "$ck" ]
ok $? "the file it names is in the checkpoint directory ($ck)"
inspect_ok "$ck" "$ckv"
ok $? "psctl inspect verifies it and finds the version the line named ($ckv)"

# R: a question first, then y resets.
tm send-keys -t top R
until_screen row 39 '^Reset the model .*\[y/N\]$'
ok $? "R asks [y/N] on the status line"
status_json && [ "$(json resets_total)" = 0 ]
ok $? "nothing is reset before the answer"
tm send-keys -t top y
until_screen row 39 '^model reset from .*, now version [0-9]+$'
ok $? "y resets the model, and the status line says from what"
status_json && [ "$(json resets_total)" = 1 ]
ok $? "the server counts exactly one reset"
rv=$(json model_version)
until_true server_grows "$rv"
ok $? "the model version keeps increasing after the reset ($rv, then $v)"
until_screen has '  resets 1$'
ok $? "the header shows the reset"

# S, then n: nothing happens.
tm send-keys -t top S
until_screen row 39 '^Stop the server \(after a final checkpoint\)\? \[y/N\]$'
ok $? "S asks [y/N], naming the final checkpoint"
tm send-keys -t top n
until_screen row 39 '^stop cancelled$'
ok $? "n cancels the stop"
kill -0 "$spid" 2>/dev/null && status_json
ok $? "the server is still up and answering"
until_screen eval 'row 1 CONNECTED && ! row 1 STALE'
ok $? "and top is still connected to it"

# Resizes: smaller, too small, back, very wide.
tm resize-window -t top -x 90 -y 30
until_screen resized 90 30
ok $? "at 90x30 the screen is drawn whole: header on row 1, footer on row 30"
grep '^updates/s ' "$tmp/screen" | grep -q ' (last 3m)$' &&
    grep '^model L2 ' "$tmp/screen" | grep -q ' (last 3m)$'
ok $? "at 90 columns the sparklines leave room for their figures"
tm resize-window -t top -x 50 -y 10
until_screen row 1 '^terminal too small: 50x10, psctl top needs 60x12$'
ok $? "at 50x10 it says the terminal is too small"
tm resize-window -t top -x 120 -y 40
until_screen resized 120 40
ok $? "back at 120x40 it draws the whole screen again"
v3=$(screen_version)
until_screen screen_grows "$v3"
ok $? "and its numbers still move"
capture
lags_ok
ok $? "each live worker's LAG is the fastest CLOCK minus its own, no number cut"
tm resize-window -t top -x 250 -y 40
until_screen resized 250 40
ok $? "at 250x40 it draws the whole screen"
# The newest samples are at the right end of a sparkline.
spark=$(sed -n 's/^updates\/s  \(.*\)  [0-9.-]* now, max .*(last 3m)$/\1/p' \
    "$tmp/screen" | tail -c 31)
[ -n "$spark" ] && [ -n "$(printf '%s' "$spark" | tr -d ' ')" ]
ok $? "a 250-column sparkline reaches its newest samples"
tm resize-window -t top -x 120 -y 40
until_screen resized 120 40

# S, then y: the server stops.
tm send-keys -t top S
until_screen row 39 '\[y/N\]$'
tm send-keys -t top y
until_screen row 39 '^server stopping; final checkpoint .*\.safetensors$'
ok $? "S y stops the server, and the status line names its final checkpoint"
fin=$(sed -n '39s/^server stopping; final checkpoint //p' "$tmp/screen")
until_true eval '! kill -0 "$spid" 2>/dev/null'
gone=$?
if [ $gone -eq 0 ]; then
	wait "$spid"
	rc=$?
else
	rc=timeout
fi
spid=
[ "$rc" = 0 ]
ok $? "the server exits with status 0 ($rc)"
fv=$(sed -n 's/.*checkpoint .*: model version \([0-9]*\),.*/\1/p' \
    "$tmp/serve.log" | tail -n 1)
[ -n "$fin" ] && [ "$(dirname "$fin")" = "$tmp/ckpt" ] &&
    inspect_ok "$fin" "$fv"
ok $? "the final checkpoint verifies, at the version the server logged ($fv)"
until_screen eval "row 1 '  DISCONNECTED  STALE [0-9.]+s old  every 0\\.3s  retry in ' &&
    has '^TENSORS 3 '"
ok $? "top shows the server DISCONNECTED and the last frame STALE"

# q, while disconnected.
tm send-keys -t top q
until_screen has '^top exited 0$'
ok $? "q still quits, with status 0"
until_true test -s "$tmp/stty"
grep -E -q '(^| )icanon( |$)' "$tmp/stty" &&
    grep -E -q '(^| )echo( |$)' "$tmp/stty"
ok $? "the terminal is back in canonical mode with echo"
[ "$(tm display -p -t top '#{alternate_on} #{cursor_flag}')" = "0 1" ]
ok $? "the pane has left the alternate screen and shows the cursor"
