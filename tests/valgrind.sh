#!/bin/sh
# make check-valgrind: the C unit tests named on the command line (those
# that need no server), then a short live session, under valgrind's
# memcheck, one TAP result each.  Logs stay in tests/valgrind/ in the
# build tree (NAME.vg is memcheck's report, NAME.out the program's output).
#
# What fails, and why:
#	- any memory error (invalid read or write, uninitialised value in a
#	  branch or a system call, bad free), in every run;
#	- in the unit tests, memory lost: definite, indirect and possible
#	  leaks.  Still-reachable memory is not a failure there: a test may
#	  exit holding what its globals point to.  A forked child that ends
#	  with _exit() is checked too, where the parent's pointers are dead:
#	  it frees what it inherited first;
#	- in the live session, anything left at exit, still reachable
#	  included: psctl serve, stopped by SIGTERM, and the client commands
#	  free all they allocated.  tests/valgrind.supp holds the third-party
#	  suppressions this may need, each named for the library that keeps
#	  the memory and matched by its own frames only.
#
# The session runs psctl serve under memcheck with worker and operator
# tokens and drives it with psctl init, push, pull, status, checkpoint and
# reset, each also under memcheck, then stops it with SIGTERM.  With
# VG_TLS=1 (and the openssl command) it runs over TLS, OpenSSL on both
# sides; not by default, because libwebsockets closes a TLS connection
# whose handshake is not done within its fixed accept timeout, which two
# memcheck processes on a loaded machine can miss.  Otherwise no result
# depends on speed (memcheck is 20 to 50 times slower, more on a busy
# machine): the server never times a worker out (--worker-timeout 0),
# every client waits up to $VG_WAIT seconds (--timeout), and the script
# waits for the server to listen and to stop for as long, each a wait for
# a condition that only bounds a hang.
. "${PS_SRCDIR:?}/tests/tap.sh"
: "${VALGRIND:?VALGRIND names valgrind}"
VG_WAIT=${VG_WAIT:-900}

out=tests/valgrind
rm -rf "$out"
mkdir -p "$out"
vg="--error-exitcode=1 --leak-check=full --num-callers=30
    --suppressions=$PS_SRCDIR/tests/valgrind.supp"
vg_unit="$vg --errors-for-leak-kinds=definite,indirect,possible
    --show-leak-kinds=definite,indirect,possible --child-silent-after-fork=yes"
vg_all="$vg --errors-for-leak-kinds=all --show-leak-kinds=all"

# Shows what memcheck said about a run (its report, less the banner).
show_vg() {	# show_vg NAME
	grep -v -e '^==[0-9]*== *$' -e 'Copyright' -e 'Using Valgrind' \
	    -e 'Memcheck, a memory' -e 'Command:' -e 'Parent PID' \
	    -e 'rerun with' "$out/$1.vg" 2>/dev/null | head -n 60 |
	    sed 's/^/# /'
	tail -n 20 "$out/$1.out" 2>/dev/null | sed 's/^/# output: /'
}

# Runs a program under memcheck with the options in $1; its output goes
# to $out/NAME.out.  libtool's wrapper scripts run through libtool.
memcheck() {	# memcheck OPTS NAME PROGRAM ARGS...
	mc_opts=$1
	mc_name=$2
	shift 2
	if [ -n "${LIBTOOL:-}" ] && head -c 2 "$1" 2>/dev/null | grep -q '#!'
	then
		# shellcheck disable=SC2086
		$LIBTOOL --mode=execute "$VALGRIND" $mc_opts \
		    --log-file="$out/$mc_name.vg" "$@" >"$out/$mc_name.out" 2>&1
	else
		# shellcheck disable=SC2086
		"$VALGRIND" $mc_opts --log-file="$out/$mc_name.vg" "$@" \
		    >"$out/$mc_name.out" 2>&1
	fi
}

session_tests=11
plan $(($# + session_tests))

for t in "$@"; do
	name=$(basename "$t")
	memcheck "$vg_unit" "$name" "$t"
	rc=$?
	is "$rc" 0 "$name under memcheck: no memory error, nothing lost" ||
	    show_vg "$name"
done

# --- the live session ---
# Whether PID runs: a child that ended is a zombie until wait reaps it,
# and kill -0 still succeeds on a zombie.
running() {	# running PID
	[ -e "/proc/$1" ] &&
	    ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

tls=
if [ "${VG_TLS:-0}" = 1 ] && command -v openssl >/dev/null 2>&1 &&
    (cd "$tmp" &&
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	-nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=psctl-test-ca &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	-nodes -keyout srv.key -out srv.csr -subj /CN=localhost &&
    printf 'subjectAltName=DNS:localhost\n' >ext.cnf &&
    openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key \
	-CAcreateserial -out srv.pem -days 2 -extfile ext.cnf) \
    >"$tmp/openssl.log" 2>&1; then
	tls=1
fi
(umask 077 && echo worker-secret >"$tmp/w.tok" &&
    echo operator-secret >"$tmp/o.tok")
mkdir "$tmp/ck"
set -- serve --listen 127.0.0.1:0 --rule adam --checkpoint-dir "$tmp/ck" \
    --worker-timeout 0 --token-file "$tmp/w.tok" \
    --operator-token-file "$tmp/o.tok"
if [ -n "$tls" ]; then
	set -- "$@" --tls-cert "$tmp/srv.pem" --tls-key "$tmp/srv.key"
	diag "the session runs over TLS"
else
	diag "the session runs without TLS (VG_TLS=1 for TLS)"
fi
# shellcheck disable=SC2086
"$VALGRIND" $vg_all --log-file="$out/serve.vg" "$PSCTL" "$@" \
    >"$out/serve.out" 2>&1 &
spid=$!
kill_at_exit "$spid"
wait_for 'grep -q "listening on" "$out/serve.out" || ! running "$spid"' \
    "$VG_WAIT"
port=$(serve_port "$out/serve.out")
if [ -z "$port" ]; then
	show_vg serve
	bail "psctl serve under memcheck did not start"
fi
if [ -n "$tls" ]; then
	url=wss://localhost:$port
	set -- --connect "$url" --ca-file "$tmp/ca.pem"
else
	url=ws://127.0.0.1:$port
	set -- --connect "$url"
fi
set -- "$@" --timeout "$VG_WAIT"
w=$tmp/w.tok
o=$tmp/o.tok
data=$PS_TEST_DATA

# Each client command under memcheck too: libpsctl and the control client.
client() {	# client NAME WANT-OUTPUT-PATTERN ARGS...
	cl_name=$1
	cl_want=$2
	shift 2
	memcheck "$vg_all" "$cl_name" "$PSCTL" "$@"
	cl_rc=$?
	ok '[ "$cl_rc" -eq 0 ] && grep -q "$cl_want" "$out/$cl_name.out"' \
	    "psctl $cl_name under memcheck: it works, no memory error, \
nothing left at exit" || show_vg "$cl_name"
}
client init '^0$' init "$@" --token-file "$w" "$data/f32.safetensors"
client push '^1$' push "$@" --token-file "$w" "$data/f32.safetensors"
client push-again '^2$' push "$@" --token-file "$w" --name again \
    "$data/f32.safetensors"
client pull '^2$' pull "$@" --token-file "$w" -o "$tmp/pulled.safetensors"
client status 'model version 2' status "$@" --token-file "$o"
client status-json '"model_version": *2' status "$@" --token-file "$o" --json
client checkpoint 'snap1' checkpoint "$@" --token-file "$o" snap1
client reset 'snap1' reset "$@" --token-file "$o" snap1
client status-after 'model version 3' status "$@" --token-file "$o"
"$PSCTL" inspect "$tmp/ck/snap1.safetensors" >"$tmp/inspect" 2>&1
ok 'grep -q "__psctl.v." "$tmp/inspect"' "the checkpoint written under \
memcheck verifies and holds adam's state" || diag_file "$tmp/inspect"

kill -TERM "$spid"
if ! wait_for '! running "$spid"' "$VG_WAIT"; then
	diag "psctl serve under memcheck did not stop $VG_WAIT s after SIGTERM"
	kill -KILL "$spid"
fi
wait "$spid"
rc=$?
tap_forget "$spid"
is "$rc" 0 "psctl serve under memcheck stops on SIGTERM: no memory \
error, nothing left at exit" || show_vg serve
done_testing
