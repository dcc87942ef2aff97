#!/bin/sh
# tests/bench/mem-scale.sh at toy sizes: it runs to the end, prints every
# row in the shape its header describes (with each round's steal), and
# leaves nothing behind in the directory it ran from.  Its figures are
# not judged: the script is a benchmark, and this only keeps it working.

. "${PS_SRCDIR:?}/tests/tap.sh"
[ -x /usr/bin/python3 ] || skip_all "/usr/bin/python3 not found"
command -v taskset >/dev/null || skip_all "taskset not found"
tap_on_fail() {
	diag_file "$tmp/err"
	diag_file "$tmp/out" out
}

plan 6

mkdir "$tmp/cwd" && cd "$tmp/cwd" || bail "no scratch directory"
PARAMS=100000 BENCH_SECONDS=1 WORKERS="1 2" ROUNDS=2 PULLERS=2 MANY=8 \
    IDLE=50 SERVER_CPU=0 CLIENT_CPU=0 \
    bash "$PS_SRCDIR/tests/bench/mem-scale.sh" "$PSCTL" \
    >"$tmp/out" 2>"$tmp/err"
is $? 0 "mem-scale.sh runs to the end"
n='[0-9][0-9]*'
ok 'grep -q "^push, 1 workers  *$n  *$n  *1.00x the first row (rounds: $n $n; % stolen: $n $n)\$" "$tmp/out"' \
    "the first push row gives its median, its rounds and their steal"
ok 'grep -q "^push, 2 workers  *$n  *$n  *[0-9.]*x the first row (rounds: $n $n; % stolen: $n $n)\$" "$tmp/out"' \
    "and so does the second, against the first"
ok 'grep -q "^push, 8 workers  *$n  *$n  *(0 pushes failed; kernel TCP memory peak $n MB, pressure at $n MB; $n segments dropped; % stolen: $n)\$" "$tmp/out"' \
    "the many row gives failures, the kernel's TCP memory, drops and steal"
ok 'grep -q "^pull, 2 workers + ckpt  *$n (pull $n MiB/s)\$" "$tmp/out" &&
    grep -q "^idle, 50 connections  *$n  *[0-9.]* KiB each\$" "$tmp/out"' \
    "the pull and idle rows are there"
is "$(ls -A "$tmp/cwd")" "" "it leaves no file in the directory it ran from"
done_testing
