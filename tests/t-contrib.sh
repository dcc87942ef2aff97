#!/bin/sh
# contrib/: the systemd unit made at build time and the bash completion,
# which asks psctl itself for commands and flags.
: "${PSCTL:?}" "${PS_SRCDIR:?}"
builddir=$(dirname "$(dirname "$PSCTL")")
unit=$builddir/contrib/systemd/psctl.service
comp=$PS_SRCDIR/contrib/completion/psctl
. "$PS_SRCDIR/tests/tap.sh"

plan 11

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
		_filedir() { COMPREPLY=(FILES); }
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
is "$got" "checkpoint " \
    "\"psctl help che\" completes to checkpoint"

done_testing
