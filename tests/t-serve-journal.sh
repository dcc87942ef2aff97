#!/bin/sh
# psctl serve's log into the journal: when $JOURNAL_STREAM names stderr's
# device and inode (as systemd sets it), every line starts with its syslog
# priority (<3> error, <4> warning, <6> info, <7> debug) and carries no
# timestamp; when it names something else, is malformed, or the log goes
# to --log-file, lines are as ever.
: "${PSCTL:?}" "${PS_SRCDIR:?}"
. "$PS_SRCDIR/tests/tap.sh"
tap_on_fail() {
	diag_file "$tmp/$log" log
}
plan 12

# The journal stream of a file: "DEVICE:INODE", as systemd writes it.
stream() {
	stat -c '%d:%i' "$1"
}
stamp='^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9:.]*Z psctl '

umask 077
echo worker-secret >"$tmp/tok"

# 1-5: stderr is the journal: priorities, no timestamps.
log=j.log
: >"$tmp/$log"
JOURNAL_STREAM=$(stream "$tmp/$log")
export JOURNAL_STREAM
serve_start j --token-file "$tmp/tok" -v
ok 'grep -q "^<6>info: listening on 127\.0\.0\.1:$port " "$tmp/$log"' \
    "the listening line has priority <6> and no timestamp"
ok 'grep -q "^<4>warn: --token-file without --operator-token-file" \
    "$tmp/$log"' "a warning has priority <4>"
ok 'grep -q "^<7>debug: " "$tmp/$log"' "with -v, debug lines have priority <7>"
serve_stop "$pid"
is $? 0 "the server stops with status 0"
ok '! grep -v "^<[3467]>\(error\|warn\|info\|debug\): " "$tmp/$log"' \
    "every line starts with a priority, none with a timestamp"

# 6-7: an error has priority <3>.
log=e.log
: >"$tmp/$log"
JOURNAL_STREAM=$(stream "$tmp/$log") "$PSCTL" serve --listen 127.0.0.1:0 \
    --load "$tmp/nonexistent" >"$tmp/$log" 2>&1
is $? 66 "a model that cannot be read exits 66"
ok 'grep -q "^<3>error: cannot read $tmp/nonexistent" "$tmp/$log"' \
    "and says so with priority <3>"

# 8-9: JOURNAL_STREAM naming another file, or malformed: as ever.
log=other.log
: >"$tmp/$log"
JOURNAL_STREAM=$(stream "$tmp/tok")
serve_start other
serve_stop "$pid"
ok 'grep -q "${stamp}info: listening on" "$tmp/$log" &&
    ! grep -q "^<" "$tmp/$log"' \
    "JOURNAL_STREAM of another file: timestamps, no priorities"
log=bad.log
: >"$tmp/$log"
JOURNAL_STREAM="$(stream "$tmp/$log")x"
serve_start bad
serve_stop "$pid"
ok 'grep -q "${stamp}info: listening on" "$tmp/$log" &&
    ! grep -q "^<" "$tmp/$log"' \
    "a malformed JOURNAL_STREAM: timestamps, no priorities"

# 10-12: --log-file is a file, not the journal, even when stderr is.
log=lf.log
: >"$tmp/$log"
JOURNAL_STREAM=$(stream "$tmp/$log")
"$PSCTL" serve --listen 127.0.0.1:0 --log-file "$tmp/file.log" \
    >"$tmp/$log" 2>&1 &
pid=$!
kill_at_exit "$pid"
wait_for 'grep -q "listening on" "$tmp/file.log" 2>/dev/null'
is $? 0 "with --log-file the server logs there"
serve_stop "$pid"
is $? 0 "and stops with status 0"
log=file.log
ok 'grep -q "${stamp}info: listening on" "$tmp/$log" &&
    ! grep -q "^<" "$tmp/$log"' \
    "--log-file lines keep their timestamps"
unset JOURNAL_STREAM

done_testing
