#!/bin/sh
# contrib/: the systemd unit made at build time and the bash completion,
# which asks psctl itself for commands and flags.
: "${PSCTL:?}" "${PS_SRCDIR:?}"
builddir=$(dirname "$(dirname "$PSCTL")")
unit=$builddir/contrib/systemd/psctl.service
comp=$PS_SRCDIR/contrib/completion/psctl
tmp=$(mktemp -d "${TMPDIR:-/tmp}/t-contrib.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

n=0
fails=0
ok() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		fails=$((fails + 1))
	fi
}

echo "1..11"

grep -q '@bindir@' "$unit"
[ $? = 1 ] && [ -s "$unit" ]
ok $? "the unit is made with the install path of psctl"
grep -q '^Type=notify$' "$unit"
ok $? "the unit is Type=notify"
grep -q '^StateDirectory=psctl$' "$unit" &&
    grep -q -- '--checkpoint-dir /var/lib/psctl' "$unit"
ok $? "checkpoints go to the state directory"
grep -q '^NoNewPrivileges=yes$' "$unit" &&
    grep -q '^ProtectSystem=strict$' "$unit"
ok $? "the unit is hardened"

if command -v systemd-analyze >/dev/null 2>&1; then
	sed "s|^ExecStart=.*/psctl serve|ExecStart=$PSCTL serve|" "$unit" \
	    > "$tmp/psctl.service"
	out=$(systemd-analyze verify --man=no "$tmp/psctl.service" 2>&1)
	[ -z "$out" ]
	ok $? "systemd-analyze verify finds nothing to say${out:+: $out}"
else
	echo "ok 5 # SKIP systemd-analyze is not installed"
	n=5
fi

bash -n "$comp"
ok $? "the completion is valid bash"

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
[ "$got" = "status stop " ]
ok $? "\"psctl st\" completes to status and stop (got: $got)"
got=$(complete_words "$PSCTL" status --)
case $got in *--connect*--json*--token-file*) r=0 ;; *) r=1 ;; esac
ok $r "\"psctl status --\" offers --connect, --json, --token-file (got: $got)"
got=$(complete_words "$PSCTL" stop --c)
case $got in *--checkpoint*--connect*) r=0 ;; *) r=1 ;; esac
ok $r "\"psctl stop --c\" offers --checkpoint and --connect (got: $got)"
got=$(complete_words "$PSCTL" status --token-file "")
[ "$got" = "FILES " ]
ok $? "a token file completes as a file name"
got=$(complete_words "$PSCTL" help che)
[ "$got" = "checkpoint " ]
ok $? "\"psctl help che\" completes to checkpoint"

exit $((fails > 0))
