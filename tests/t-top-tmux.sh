#!/bin/sh
# psctl top in a real terminal: tmux runs the console against a live
# psctl serve that psctl bench keeps busy, and capture-pane reads the
# screen back.  Checked: the bench's tensors and workers are listed and the
# model version moves; c writes a checkpoint that psctl inspect verifies;
# R lists the checkpoints and Enter, y resets to the one c wrote (the
# server counts it and training goes on); S then n
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
. "${PS_SRCDIR:?}/tests/tap.sh"
[ -n "$TMUX_BIN" ] || skip_all "tmux not found"

unset PSCTL_URL PSCTL_TOKEN NO_COLOR TMUX
sock=psctl-test-$$
sockpath=
tm() {
	"$TMUX_BIN" -L "$sock" -f /dev/null "$@"
}
# The pane's processes get SIGHUP from the tmux server going away; tmux
# leaves its socket behind.
atexit 'tm kill-server 2>/dev/null; [ -n "$sockpath" ] && rm -f "$sockpath"'

# A failure shows the last screen.
tap_on_fail() {
	if [ -f "$tmp/screen" ]; then
		diag "the screen was:"
		diag_file "$tmp/screen" ""
	fi
}
# setup_failed TEXT: bails, showing the logs.
setup_failed() {
	for f in serve.log bench.out top.log; do
		diag_file "$tmp/$f" "$f"
	done
	bail "$1"
}

# capture: the pane's text now, one line a row, into $tmp/screen.
capture() {
	tm capture-pane -p -t top >"$tmp/screen" 2>/dev/null
}
# until_screen CODE: captures until CODE (eval) holds, for 10 s at most.
until_screen() {
	screen_code=$1
	wait_for 'capture; eval "$screen_code"'
}
# see CODE DESC: one test, passing when CODE holds on the screen within
# 10 s.
see() {
	see_code=$1
	ok 'until_screen "$see_code"' "$2"
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
# commas N: N as the console writes it, thousands grouped.
commas() {
	printf '%s\n' "$1" | sed ':a
s/\B[0-9]\{3\}\>/,&/
ta'
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
# resized COLS LINES: the screen is drawn whole at that size.
resized() {
	[ "$(tm display -p -t top '#{pane_width}x#{pane_height}')" = \
	    "$1x$2" ] && row 1 '^psctl top ' && row "$2" '^q Quit ' &&
	    has '^TENSORS 3 '
}
# lags_ok: in the worker table on the screen, each live worker's LAG is
# the fastest live worker's CLOCK minus its own (one snapshot gives both),
# and no number is cut (CLOCK and LAG are fields 9 and 10 at 120 columns): a LAG is whole ("16,060") or has a unit ("16.1k",
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
	on { sub(/^>/, " ") }
	on && $2 != "GONE" {
		n++
		clock[n] = whole($9)
		lag[n] = $10
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

plan 36

mkdir "$tmp/ckpt"
serve_start serve --checkpoint-dir "$tmp/ckpt"
spid=$pid

"$PSCTL" bench --connect "$url" --workers 2 --params 20000 --tensors 3 \
    --seconds 600 --op pushpull >"$tmp/bench.out" 2>&1 &
bpid=$!
kill_at_exit "$bpid"

# The pane runs top, then reports how it ended and the terminal's modes.
cat >"$tmp/run.sh" <<EOT
"\$PSCTL" top --connect "$url" -d 0.3 -v "$tmp/top.log"
echo "top exited \$?"
stty -a >"$tmp/stty"
exec sleep 60
EOT
tm new-session -d -s top -x 120 -y 40 \
    "env TERM=screen LC_ALL=C.UTF-8 PSCTL='$PSCTL' sh '$tmp/run.sh'" ||
    setup_failed "tmux cannot start a session"
sockpath=$(tm display -p '#{socket_path}')

see 'row 1 "^psctl top  ws://127\.0\.0\.1:[0-9]+  CONNECTED  every 0\.3s"' \
    "top connects and says so on its first row, with the -d interval"
see 'has "^TENSORS 3 " && has "^[ >] +1 bench/0 +6667 " &&
    has "^[ >] +2 bench/1 +6667 " && has "^[ >] +3 bench/2 +6666 "' \
    "the tensor table lists the bench's 3 tensors, 20000 parameters split 6667+6667+6666"
live='(active|waiting|LAGGING)'
see 'has "^[ >] +[0-9]+ $live +bench-0 +127\.0\.0\.1:[0-9]+ " &&
    has "^[ >] +[0-9]+ $live +bench-1 +127\.0\.0\.1:[0-9]+ "' \
    "the worker table has a live row for each of the 2 bench workers"
see 'has "^workers 2  pushes/s "' "the header counts 2 workers connected"

# The workers may be listed before their first push is applied.
until_screen 'screen_grows 0'
v1=$(screen_version)
ok '[ -n "$v1" ] && [ "$v1" -gt 0 ]' "the header shows a model version ($v1)"
until_screen 'screen_grows "$v1"'
r=$?
v2=$(screen_version)
ok '[ $r -eq 0 ]' \
    "the version on the screen grows between captures ($v1, then $v2)"
status_json && sv=$(json model_version)
ok '[ "$sv" -ge "$v2" ]' \
    "the server's own version, read after, is no less ($sv >= $v2)"

# c: a checkpoint, named on the status line.
tm send-keys -t top c
see 'row 39 "^checkpoint saved: .* \(.* in [0-9.]+ s, version [0-9]+\)$"' \
    "c reports the saved checkpoint on the status line"
ckname=$(sed -n '39s/^checkpoint saved: \(.*\) (.* in .*, version [0-9]*)$/\1/p' \
    "$tmp/screen")
ckv=$(sed -n '39s/.*, version \([0-9]*\))$/\1/p' "$tmp/screen")
ck=$tmp/ckpt/$ckname.safetensors
ok '[ -n "$ckname" ] && [ -f "$ck" ]' \
    "it names a file of the checkpoint directory ($ckname)"
ok 'inspect_ok "$ck" "$ckv"' \
    "psctl inspect verifies it and finds the version the line named ($ckv)"

# R: the server's checkpoints, newest first (the one c wrote); Enter
# asks by name, then y resets to it.
tm send-keys -t top R
see 'has "^CHECKPOINTS [0-9]+ .* reset to which\?" &&
    has "^> $ckname +[0-9,]+ +[0-9.smh]+ +[0-9.,]+ +[0-9.]+ [KMG]?i?B$" &&
    row 39 "^Reset to which checkpoint\?"' \
    "R lists the checkpoints, the newest ($ckname) selected"
ok 'status_json && [ "$(json resets_total)" = 0 ]' \
    "nothing is reset before the answer"
tm send-keys -t top Enter
see 'row 39 "^Reset to $ckname \(version $(commas "$ckv"), [0-9]+[smhd] ago, L2 [0-9.,]+\)\? \[y/N\]$"' \
    "Enter asks [y/N], naming the checkpoint and its version"
tm send-keys -t top y
see 'row 39 "^model reset from $ckname, now version [0-9]+$"' \
    "y resets the model to it, and the status line says so"
ok 'status_json && [ "$(json resets_total)" = 1 ]' \
    "the server counts exactly one reset"
rv=$(json model_version)
wait_for 'server_grows "$rv"'
r=$?
ok '[ $r -eq 0 ]' \
    "the model version keeps increasing after the reset ($rv, then $v)"
see 'has "^checkpoint .*  resets 1( |$)"' "the header shows the reset"

# S, then n: nothing happens.
tm send-keys -t top S
see 'row 39 "^Stop the server \(after a final checkpoint\)\? \[y/N\]$"' \
    "S asks [y/N], naming the final checkpoint"
tm send-keys -t top n
see 'row 39 "^stop cancelled$"' "n cancels the stop"
ok 'kill -0 "$spid" 2>/dev/null && status_json' \
    "the server is still up and answering"
see 'row 1 CONNECTED && ! row 1 STALE' "and top is still connected to it"

# Resizes: smaller, too small, back, very wide.
tm resize-window -t top -x 90 -y 30
see 'resized 90 30' \
    "at 90x30 the screen is drawn whole: header on row 1, footer on row 30"
ok 'grep "^updates/s " "$tmp/screen" | grep -q " (last 3m)$" &&
    grep "^model L2 " "$tmp/screen" | grep -q " (last 3m)$"' \
    "at 90 columns the sparklines leave room for their figures"
tm resize-window -t top -x 50 -y 10
see 'row 1 "^terminal too small: 50x10, psctl top needs 60x12$"' \
    "at 50x10 it says the terminal is too small"
tm resize-window -t top -x 120 -y 40
see 'resized 120 40' "back at 120x40 it draws the whole screen again"
v3=$(screen_version)
see 'screen_grows "$v3"' "and its numbers still move"
capture
ok lags_ok \
    "each live worker's LAG is the fastest CLOCK minus its own, no number cut"
tm resize-window -t top -x 250 -y 40
see 'resized 250 40' "at 250x40 it draws the whole screen"
# The newest samples are at the right end of a sparkline.
spark=$(sed -n 's/^updates\/s  \(.*\)  [0-9.-]* now, max .*(last 3m)$/\1/p' \
    "$tmp/screen" | tail -c 31)
ok '[ -n "$spark" ] && [ -n "$(printf "%s" "$spark" | tr -d " ")" ]' \
    "a 250-column sparkline reaches its newest samples"
tm resize-window -t top -x 120 -y 40
until_screen 'resized 120 40'

# S, then y: the server stops.
tm send-keys -t top S
until_screen 'row 39 "\[y/N\]$"'
tm send-keys -t top y
see 'row 39 "^server stopping; final checkpoint [^ /]+$"' \
    "S y stops the server, and the status line names its final checkpoint"
fin=$tmp/ckpt/$(sed -n '39s/^server stopping; final checkpoint //p' \
    "$tmp/screen").safetensors
serve_wait "$spid"
is $? 0 "the server exits with status 0"
fv=$(sed -n 's/.*checkpoint .*: model version \([0-9]*\),.*/\1/p' \
    "$tmp/serve.log" | tail -n 1)
ok '[ -f "$fin" ] &&
    inspect_ok "$fin" "$fv"' \
    "the final checkpoint verifies, at the version the server logged ($fv)"
see 'row 1 "  DISCONNECTED  STALE [0-9.]+s old  every 0\.3s  retry in " &&
    has "^TENSORS 3 "' \
    "top shows the server DISCONNECTED and the last frame STALE"

# q, while disconnected.
tm send-keys -t top q
see 'has "^top exited 0$"' "q still quits, with status 0"
wait_for 'test -s "$tmp/stty"'
ok 'grep -E -q "(^| )icanon( |$)" "$tmp/stty" &&
    grep -E -q "(^| )echo( |$)" "$tmp/stty"' \
    "the terminal is back in canonical mode with echo"
is "$(tm display -p -t top '#{alternate_on} #{cursor_flag}')" "0 1" \
    "the pane has left the alternate screen and shows the cursor"

done_testing
