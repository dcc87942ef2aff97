#!/bin/sh
# Every man page is lint-clean under mandoc -Tlint -W warning.
. "${PS_SRCDIR:?}/tests/tap.sh"
if [ -z "$MANDOC" ] || [ ! -x "$MANDOC" ]; then
	skip_all "mandoc not found"
fi
pages=$(ls "$PS_SRCDIR"/man/*.[1-8])
plan "$(echo "$pages" | wc -l)"
for p in $pages; do
	"$MANDOC" -Tlint -W warning "$p" >"$tmp/lint" 2>&1
	ok '[ ! -s "$tmp/lint" ]' "$(basename "$p") is lint-clean" ||
	    diag_file "$tmp/lint"
done
done_testing
