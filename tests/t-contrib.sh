#!/bin/sh
# contrib/: the systemd unit made at build time and the bash completion,
# which asks psctl itself for commands, options and what they take: after
# every option whose usage gives it a value, the completion offers no
# option, for every command psctl --help lists.
: "${PSCTL:?}" "${PS_SRCDIR:?}"
builddir=$(dirname "$(dirname "$PSCTL")")
unit=$builddir/contrib/systemd/psctl.service
comp=$PS_SRCDIR/contrib/completion/psctl
. "$PS_SRCDIR/tests/tap.sh"

cmds=$("$PSCTL" --help | awk '/^commands:/ { on = 1; next }
    on && /^  [a-z]/ { print $1 } on && /^$/ { exit }')
[ -n "$cmds" ] || bail "psctl --help lists no commands"
plan $((16 + $(echo "$cmds" | wc -l)))

ok '! grep -q "@bindir@" "$unit" && [ -s "$unit" ]' \
    "the unit is made with the install path of psctl"
ok 'grep -q "^Type=notify$" "$unit"' "the unit is Type=notify"
ok 'grep -q "^StateDirectory=psctl$" "$unit" &&
    grep -q -- "--checkpoint-dir /var/lib/psctl" "$unit"' \
    "checkpoints go to the state directory"
ok 'grep -q "^NoNewPrivileges=yes$" "$unit" &&
    grep -q "^ProtectSystem=strict$" "$unit"' \
    "the unit is hardened"

if command -v systemd-analyze >/dev/null 2>&1; then
	sed "s|^ExecStart=.*/psctl serve|ExecStart=$PSCTL serve|" "$unit" \
	    > "$tmp/psctl.service"
	out=$(systemd-analyze verify --man=no "$tmp/psctl.service" 2>&1)
	ok '[ -z "$out" ]' \
	    "systemd-analyze verify finds nothing to say${out:+: $out}"
else
	skip 1 "systemd-analyze is not installed"
fi

ok 'bash -n "$comp"' "the completion is valid bash"

# Complete as bash-completion would, with its helpers stubbed.
complete_words() {
	bash -c '
		_init_completion() {
			words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD
			cur=${COMP_WORDS[COMP_CWORD]}
			prev=${COMP_WORDS[COMP_CWORD-1]}
		}
		_filedir() { COMPREPLY=(FILES$1); }
		compopt() { :; }
		. "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_psctl "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
		printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "
	' sh "$comp" "$@"
}

got=$(complete_words "$PSCTL" st)
is "$got" "status stop " \
    "\"psctl st\" completes to status and stop"
got=$(complete_words "$PSCTL" status --)
ok 'case $got in *--connect*--json*--token-file*) ;; *) false ;; esac' \
    "\"psctl status --\" offers --connect, --json, --token-file (got: $got)"
got=$(complete_words "$PSCTL" stop --c)
ok 'case $got in *--checkpoint*--connect*) ;; *) false ;; esac' \
    "\"psctl stop --c\" offers --checkpoint and --connect (got: $got)"
got=$(complete_words "$PSCTL" status --token-file "")
is "$got" "FILES " \
    "a token file completes as a file name"
got=$(complete_words "$PSCTL" help che)
is "$got" "checkpoint checkpoints " \
    "\"psctl help che\" offers checkpoint and checkpoints"
got=$(complete_words "$PSCTL" serve --mode "")
is "$got" "async hogwild ssp sync " "\"psctl serve --mode\" offers the modes"
got=$(complete_words "$PSCTL" serve --checkpoint-dir "")
is "$got" "FILES-d " "a checkpoint directory completes as a directory"
got=$(complete_words "$PSCTL" pull -o "")
is "$got" "FILES " "pull -o completes a file name"
got=$(complete_words "$PSCTL" push "")
is "$got" "FILES " "push's argument is a file name"
got=$(complete_words "$PSCTL" pull "")
is "$got" " " "pull takes no argument, so nothing is offered"

# Every option that takes a value ("-o file", "--timeout secs"): a word
# after it is its value, even one that begins with "-", never an option.
for c in $cmds; do
	bad=
	for o in $("$PSCTL" help "$c" | sed -n 's/^usage: //p' |
	    grep -oE -- '-{1,2}[a-zA-Z][a-zA-Z0-9-]* [a-z][a-z:]*' |
	    cut -d " " -f 1); do
		got=$(complete_words "$PSCTL" "$c" "$o" -)
		case " $got" in *" -"*) bad="$bad $o" ;; esac
	done
	is "$bad" "" "psctl $c: no option is offered as an option's value"
done

done_testing
