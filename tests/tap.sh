# psctl's one harness for tests written in sh: TAP for automake's
# tap-driver, a psctl serve of the test's own, a temporary directory and
# clean-up at exit.  Every tests/t-*.sh sources it and copies none of it.
#
#	. "$PS_SRCDIR/tests/tap.sh"
#	plan 3
#	serve_start a --rule sgd	# sets $pid, $port and $url
#	"$PSCTL" status --connect "$url" >"$tmp/out" 2>"$tmp/err"
#	is $? 0 "psctl status answers"
#	ok 'grep -q "^model version 0" "$tmp/out"' "it shows version 0"
#	serve_stop "$pid"
#	is $? 0 "SIGTERM stops the server with status 0"
#	done_testing
#
# The contract:
#
# ok CODE DESC	One test.  CODE is shell code, run with eval in the current
#		shell; the test passes when it succeeds (exit status 0), as
#		C's ok(cond) passes when cond is true.  Quote CODE in single
#		quotes so that it expands when it runs; its redirections
#		stay inside it.  Inside CODE, $1, $2... are ok's own: a
#		function that calls ok passes its arguments in variables.
#		Returns CODE's status, so `ok ... || diag_file F` works.
# is GOT WANT DESC  One test: passes when the two strings are equal, and
#		shows both when not.  `cmd; is $? 64 "..."` checks an exit
#		status.
# plan N	Announces N tests, before the first; without it,
#		done_testing prints the plan at the end.
# skip N WHY	Counts N tests as skipped.
# skip_all WHY	Skips the whole file (exit 0), before the first test.
# diag TEXT...	A comment line.  diag_file FILE [LABEL] shows a file,
#		each line as a comment.
# bail TEXT	Stops the whole test (exit 1): for setup that failed.
# done_testing	Exits 0 when every test passed and the plan was kept, 1
#		otherwise.  Call it last.
# tap_on_fail	Runs after each failed test; does nothing unless the test
#		redefines it (to show a log or a screen).
#
# $tmp		A fresh directory under $TMPDIR (or /tmp), removed at exit.
# atexit CODE	CODE runs at exit (before the directory goes).  The test
#		must not set an EXIT trap of its own; HUP, INT and TERM exit
#		through it too.
# kill_at_exit PID  PID is killed (SIGKILL) and reaped at exit if it is
#		still running.  reap PID kills it (SIGTERM) and waits for
#		it now instead.
# wait_for CODE [SECONDS]  Runs CODE (eval) every 0.1 s until it succeeds,
#		for SECONDS at most (10); returns 0 if it did, 1 if not.
#		Timing only bounds the wait: it never decides a result.
#
# serve_start NAME [ARGS...]  Runs `$PSCTL serve --listen 127.0.0.1:0
#		ARGS` in the background, its stdout and stderr in
#		$tmp/NAME.log, and waits (10 s) for its "listening on" line.
#		Sets pid, port and url (ws://127.0.0.1:PORT); bails, with
#		the log, if the server does not start.  Call it directly,
#		never in $(...): the variables must reach the test.
# serve_stop PID [SIGNAL]  Sends SIGNAL (TERM), waits 10 s, and returns
#		the server's exit status, or 124 after a SIGKILL if it did
#		not exit.  serve_wait PID does the same without a signal,
#		for a server stopped some other way.

: "${PSCTL:?PSCTL names the psctl binary under test}"

tap_n=0
tap_failed=0
tap_planned=
tap_atexit=
tap_pids=

tmp=$(mktemp -d "${TMPDIR:-/tmp}/psctl-$(basename "$0" .sh).XXXXXX") ||
    { echo "Bail out! mktemp -d failed"; exit 1; }

tap_on_fail() {
	:
}

plan() {
	tap_planned=$1
	echo "1..$1"
}

tap_result() {	# tap_result STATUS DESC
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
		tap_failed=$((tap_failed + 1))
		tap_on_fail
	fi
}

ok() {
	eval "$1"
	set -- "$?" "$2"
	tap_result "$1" "$2"
	return "$1"
}

is() {
	if [ "$1" = "$2" ]; then
		tap_result 0 "$3"
		return 0
	fi
	tap_result 1 "$3"
	echo "# got \"$1\", want \"$2\""
	return 1
}

skip() {
	tap_i=0
	while [ "$tap_i" -lt "$1" ]; do
		tap_n=$((tap_n + 1))
		echo "ok $tap_n # SKIP $2"
		tap_i=$((tap_i + 1))
	done
}

skip_all() {
	echo "1..0 # SKIP $1"
	exit 0
}

diag() {
	echo "# $*"
}

diag_file() {	# diag_file FILE [LABEL]
	[ -f "$1" ] || return 0
	if [ -n "$2" ]; then
		sed "s|^|# $2: |" "$1"
	else
		sed 's/^/# /' "$1"
	fi
}

bail() {
	echo "Bail out! $*"
	exit 1
}

done_testing() {
	if [ -z "$tap_planned" ]; then
		echo "1..$tap_n"
	elif [ "$tap_n" -ne "$tap_planned" ]; then
		diag "planned $tap_planned tests but ran $tap_n"
		exit 1
	fi
	[ "$tap_failed" -eq 0 ] || exit 1
	exit 0
}

atexit() {
	tap_atexit="$tap_atexit
$1"
}

kill_at_exit() {
	tap_pids="$tap_pids $1"
}

reap() {	# reap PID
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	tap_forget "$1"
}

tap_forget() {	# tap_forget PID: no longer killed at exit
	set -- "$1" "$tap_pids"
	tap_pids=
	for tap_p in $2; do
		[ "$tap_p" = "$1" ] || tap_pids="$tap_pids $tap_p"
	done
}

tap_exit() {
	eval "$tap_atexit"
	for tap_p in $tap_pids; do
		kill -KILL "$tap_p" 2>/dev/null
		wait "$tap_p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap tap_exit EXIT
trap 'exit 1' HUP INT TERM

wait_for() {	# wait_for CODE [SECONDS]
	set -- "$1" $((${2:-10} * 10))
	while ! eval "$1"; do
		[ "$2" -le 0 ] && return 1
		sleep 0.1
		set -- "$1" $(($2 - 1))
	done
	return 0
}

serve_port() {	# serve_port LOG: the port in its "listening on" line
	sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$1" |
	    head -n 1
}

serve_start() {
	tap_name=$1
	shift
	"$PSCTL" serve --listen 127.0.0.1:0 "$@" >"$tmp/$tap_name.log" 2>&1 &
	pid=$!
	kill_at_exit "$pid"
	port=
	url=
	wait_for '[ -n "$(serve_port "$tmp/$tap_name.log")" ] ||
	    ! kill -0 "$pid" 2>/dev/null'
	port=$(serve_port "$tmp/$tap_name.log")
	if [ -z "$port" ]; then
		echo "Bail out! psctl serve $* did not start"
		diag_file "$tmp/$tap_name.log"
		exit 1
	fi
	url=ws://127.0.0.1:$port
}

serve_stop() {	# serve_stop PID [SIGNAL]
	kill -"${2:-TERM}" "$1" 2>/dev/null
	serve_wait "$1"
}

serve_wait() {	# serve_wait PID
	tap_pid=$1
	tap_forget "$1"
	if ! wait_for '! kill -0 "$tap_pid" 2>/dev/null'; then
		kill -KILL "$1" 2>/dev/null
		wait "$1" 2>/dev/null
		return 124
	fi
	wait "$1"
}
