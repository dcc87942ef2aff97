#!/bin/sh
# Every command psctl help lists, so that a new command is covered by its
# table entry alone: --help and -h exit 0 with the usage on stdout and
# nothing on stderr; psctl help COMMAND shows the same usage; the usage is
# exactly psctl(1)'s COMMANDS entry and, for a command with a page of its
# own, that page's SYNOPSIS; an unknown option exits 64 with a message that
# begins "psctl COMMAND:", a short usage and where to read more.  Then what
# psctl.c does for all commands: its own usage, stdout errors, "did you
# mean", help -m, and URLs without a scheme.
. "$PS_SRCDIR/tests/tap.sh"

tap_on_fail() {
	diag_file "$tmp/out" out
	diag_file "$tmp/err" err
}
run() {		# run ARGS...: psctl's exit status, its output in out and err
	timeout 20 "$PSCTL" "$@" >"$tmp/out" 2>"$tmp/err"
}
# render PAGE: the page as plain text, one line per paragraph.
render() {
	"$MANDOC" -Tascii -O width=1000 "$PS_SRCDIR/man/$1" |
	    sed 's/.\x08//g'
}

have_mandoc=0
[ -n "$MANDOC" ] && [ -x "$MANDOC" ] && have_mandoc=1
[ $have_mandoc = 1 ] && render psctl.1 >"$tmp/psctl.txt"

run --help
cmds=$(awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }
    on && /^$/ { exit }' "$tmp/out")
[ -n "$cmds" ] || bail "psctl --help lists no commands"
plan $(($(echo "$cmds" | wc -l) * 8 + 15))

for c in $cmds; do
	run "$c" --help
	is "$?" 0 "psctl $c --help exits 0"
	usage=$(cat "$tmp/out")
	ok '[ ! -s "$tmp/err" ] && [ "$(wc -l <"$tmp/out")" -eq 1 ] &&
	    case $usage in "usage: psctl $c "*|"usage: psctl $c") ;;
	    *) false ;; esac' "and prints one usage line on stdout, nothing else"

	run "$c" -h
	ok '[ $? -eq 0 ] && [ ! -s "$tmp/err" ] &&
	    [ "$(cat "$tmp/out")" = "$usage" ]' "psctl $c -h does the same"

	run help "$c"
	ok '[ $? -eq 0 ] && grep -qxF -- "$usage" "$tmp/out"' \
	    "psctl help $c shows that usage"

	synopsis=${usage#usage: psctl }
	if [ $have_mandoc = 1 ]; then
		item=$(sed -n '/^COMMANDS/,/^[A-Z]/p' "$tmp/psctl.txt" |
		    grep -E "^     $c( |\$)" | sed 's/^ *//')
		is "$item" "$synopsis" "psctl(1) COMMANDS has $c's usage"
		if [ -f "$PS_SRCDIR/man/psctl-$c.1" ]; then
			own=$(render "psctl-$c.1" |
			    sed -n '/^SYNOPSIS/{n;p;}' | sed 's/^ *//')
			is "$own" "psctl $synopsis" \
			    "psctl-$c(1)'s SYNOPSIS is its usage"
		else
			ok true "psctl $c has no page of its own"
		fi
	else
		skip 2 "mandoc not found"
	fi

	run "$c" --no-such-option
	ok '[ $? -eq 64 ] && [ ! -s "$tmp/out" ] &&
	    [ "$(head -n 1 "$tmp/err")" = \
	    "psctl $c: unknown option --no-such-option" ] &&
	    grep -q "^usage: psctl $c" "$tmp/err" &&
	    grep -q "^see psctl $c --help" "$tmp/err"' \
	    "psctl $c --no-such-option: exit 64, psctl $c: ..., a short usage, where to read more"
	ok 'awk "length > 80 { bad = 1 } END { exit bad }" "$tmp/err"' \
	    "and no line of it is over 80 columns"
done

run --help
ok '[ $? -eq 0 ] && [ ! -s "$tmp/err" ] && cp "$tmp/out" "$tmp/help"' \
    "psctl --help exits 0"
run -h
ok '[ $? -eq 0 ] && cmp -s "$tmp/out" "$tmp/help"' "psctl -h does the same"
run help
ok '[ $? -eq 0 ] && cmp -s "$tmp/out" "$tmp/help"' "so does psctl help"
if [ $have_mandoc = 1 ]; then
	sed -n '/^SYNOPSIS/,/^$/p' "$tmp/psctl.txt" | sed '1d;$d' |
	    sed 's/^ *//' >"$tmp/want"
	sed -n '1,/^$/p' "$tmp/help" | sed '$d' |
	    sed 's/^usage: //; s/^ *//' >"$tmp/got"
	ok 'cmp -s "$tmp/want" "$tmp/got"' \
	    "psctl --help's usage is psctl(1)'s SYNOPSIS" ||
	    diag_file "$tmp/want" want
else
	skip 1 "mandoc not found"
fi

if [ -w /dev/full ]; then
	"$PSCTL" --help >/dev/full 2>"$tmp/err"
	ok '[ $? -eq 74 ] && grep -q "cannot write the output" "$tmp/err"' \
	    "psctl --help to /dev/full exits 74 and says so"
	"$PSCTL" inspect "$PS_TEST_DATA/f32.safetensors" >/dev/full \
	    2>"$tmp/err"
	ok '[ $? -eq 74 ] &&
	    grep -q "^psctl inspect: cannot write the output" "$tmp/err"' \
	    "psctl inspect to /dev/full exits 74 and says so"
else
	skip 2 "no /dev/full"
fi

run stauts
ok '[ $? -eq 64 ] &&
    grep -q "unknown command: stauts; did you mean status?" "$tmp/err"' \
    "psctl stauts: exit 64, did you mean status"
run st
ok 'grep -q "did you mean status or stop?" "$tmp/err"' \
    "psctl st: did you mean status or stop"
run help chekpoint
ok '[ $? -eq 64 ] && grep -q "did you mean checkpoint?" "$tmp/err"' \
    "psctl help chekpoint: exit 64, did you mean checkpoint"

if command -v man >/dev/null 2>&1; then
	# Nowhere man looks: the configured mandir's copy or the source's.
	MANPATH=$tmp/nothing MANPAGER=cat PAGER=cat MANWIDTH=80 \
	    timeout 20 "$PSCTL" help -m serve >"$tmp/out" 2>"$tmp/err"
	ok '[ $? -eq 0 ] && grep -q "worker-timeout" "$tmp/out"' \
	    "psctl help -m serve shows psctl-serve(1)"
	MANPATH=$tmp/nothing MANPAGER=cat PAGER=cat MANWIDTH=80 \
	    timeout 20 "$PSCTL" help -m status >"$tmp/out" 2>"$tmp/err"
	ok '[ $? -eq 0 ] && grep -q "COMMANDS" "$tmp/out"' \
	    "psctl help -m status shows psctl(1)"
else
	skip 2 "man not found"
fi

# Port 1 on the loopback: nothing listens, the connection is refused.
PSCTL_URL=127.0.0.1:1 run status --timeout 5
ok '[ $? -eq 69 ] && grep -q "ws://127\.0\.0\.1:1:" "$tmp/err"' \
    "PSCTL_URL=127.0.0.1:1 means ws://127.0.0.1:1"
run push --connect 127.0.0.1:1 "$PS_TEST_DATA/f32.safetensors"
ok '[ $? -eq 69 ] && grep -q "ws://127\.0\.0\.1:1:" "$tmp/err"' \
    "so does --connect 127.0.0.1:1"
run status --connect http://127.0.0.1:1
ok '[ $? -eq 64 ] &&
    [ "$(grep -o "http://127.0.0.1:1" "$tmp/err" | wc -l)" -eq 1 ]' \
    "a URL that is not ws:// is named once, exit 64"

run push "$tmp/no-such-file.safetensors"
ok '[ $? -eq 66 ] &&
    grep -q "^psctl push: $tmp/no-such-file.safetensors: " "$tmp/err"' \
    "psctl push of a missing file names it, exit 66"

done_testing
