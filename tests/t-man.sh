#!/bin/sh
# Every man page is lint-clean under mandoc -Tlint -W warning.
pages=$(ls "$PS_SRCDIR"/man/*.[1-8])
n=$(echo "$pages" | wc -l)
if [ -z "$MANDOC" ] || [ ! -x "$MANDOC" ]; then
	echo "1..0 # SKIP mandoc not found"
	exit 0
fi
echo "1..$n"
i=0
for p in $pages; do
	i=$((i + 1))
	out=$("$MANDOC" -Tlint -W warning "$p" 2>&1)
	if [ -z "$out" ]; then
		echo "ok $i - $(basename "$p") is lint-clean"
	else
		echo "not ok $i - $(basename "$p") is lint-clean"
		echo "$out" | sed 's/^/# /'
	fi
done
