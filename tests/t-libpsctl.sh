#!/bin/sh
# libpsctl.so, as installed: it exports psctl_* and nothing else (its
# ps_* internals stay inside), and it needs no symbol from psctl's other
# libraries.  Skipped when the build has no shared library.
. "$PS_SRCDIR/tests/tap.sh"

so=$(dirname "$PSCTL")/.libs/libpsctl.so
[ -f "$so" ] || skip_all "no shared libpsctl (--disable-shared?)"
command -v nm >/dev/null 2>&1 || skip_all "no nm"
plan 3

# Defined dynamic symbols, but the linker's own (_init, _fini, _edata...).
nm -D --defined-only "$so" | awk '$3 !~ /^_/ { print $3 }' >"$tmp/defined"
ok '[ -s "$tmp/defined" ] && ! grep -v "^psctl_" "$tmp/defined"' \
    "libpsctl.so exports $(wc -l <"$tmp/defined") symbols, all psctl_*"

# Every symbol it needs comes from the C library, OpenSSL or libm.
nm -D --undefined-only "$so" | awk '{ print $2 }' >"$tmp/undefined"
ok '! grep -E "^(ps_|psctl_|fatal|x[a-z]*alloc|xstr|xv?asprintf)" \
    "$tmp/undefined"' "libpsctl.so needs none of psctl's own symbols"

# The internals are there, but local.
if nm "$so" 2>/dev/null | grep -q ' [tT] ps_proto_decode$'; then
	ok '! nm "$so" | grep -q " T ps_proto_decode$"' \
	    "ps_proto_decode is inside libpsctl.so, local"
else
	skip 1 "libpsctl.so is stripped"
fi
done_testing
