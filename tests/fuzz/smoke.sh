#!/bin/sh
# make fuzz-smoke: runs each libFuzzer harness named on the command line
# (tests/fuzz/fuzz-NAME, built by configure --enable-fuzzing) for
# $FUZZ_SECONDS (60) seconds, from its committed seed corpus and with its
# dictionary, and reports one TAP result per harness: ok when it ran the
# whole time without a crash, a leak, a timeout or a broken property.
#
# New inputs libFuzzer finds go to tests/fuzz/smoke/NAME/ in the build
# tree, never into the seed corpus; an input that failed is kept there as
# NAME-crash-* (or -leak-, -timeout-, -oom-): reproduce it with
# `tests/fuzz/fuzz-NAME FILE`.  FUZZ_ARGS adds libFuzzer options (-jobs=2
# to use both cores, -runs=N for a fixed count...).
. "${PS_SRCDIR:?}/tests/tap.sh"

seconds=${FUZZ_SECONDS:-60}

# Prints each input a harness failed on, whole (the build tree may be gone
# when CI's log is read): its bytes in base64 (at most -max_len, 8192) in
# a command that writes it back and runs the harness on it.
reproducers() {	# reproducers NAME DIR
	rp_n=0
	for f in "$2/$1"-*; do
		[ -f "$f" ] || continue
		rp_n=$((rp_n + 1))
		diag "kept: $f ($(wc -c <"$f") bytes); reproduce with:"
		diag "echo $(base64 -w 0 "$f") | base64 -d >input &&" \
		    "tests/fuzz/fuzz-$1 input"
	done
	[ "$rp_n" -gt 0 ] || diag "fuzz-$1 kept no input (its log is above)"
}

fuzzdir=$PS_SRCDIR/tests/fuzz
[ $# -gt 0 ] || bail "usage: smoke.sh NAME..."
plan $#
for name in "$@"; do
	bin=tests/fuzz/fuzz-$name
	out=tests/fuzz/smoke/$name
	if [ ! -x "$bin" ]; then
		tap_result 1 "fuzz-$name: not built (configure --enable-fuzzing)"
		continue
	fi
	rm -rf "$out"
	mkdir -p "$out/corpus"
	# shellcheck disable=SC2086
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	"$bin" -max_total_time="$seconds" -timeout=60 -rss_limit_mb=2048 \
	    -max_len=8192 -print_final_stats=1 \
	    -dict="$fuzzdir/$name.dict" -artifact_prefix="$out/$name-" \
	    $FUZZ_ARGS "$out/corpus" "$fuzzdir/corpus/$name" \
	    >"$out/log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/log" |
	    tail -n 1)
	cov=$(sed -n 's/^#[0-9]*.*DONE *cov: \([0-9]*\).*/\1/p' "$out/log" |
	    tail -n 1)
	new=$(ls "$out/corpus" | wc -l)
	if [ "$rc" -eq 0 ] && [ -n "$execs" ]; then
		tap_result 0 "fuzz-$name: ${seconds} s, $execs runs, \
coverage ${cov:-?}, $new new inputs, no crash, leak or broken property"
	else
		tap_result 1 "fuzz-$name: exit status $rc after ${execs:-?} runs"
		tail -n 60 "$out/log" | sed 's/^/# /'
		reproducers "$name" "$out"
	fi
done
done_testing
