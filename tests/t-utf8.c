/*
 * The one UTF-8 validator, cutting on a character boundary and quoting
 * (utf8.h): RFC 3629's edge cases, and the quote that a refusal prints.
 */
#include "config.h"

#include <string.h>

#include "tap.h"
#include "utf8.h"

#define V(s)	ps_utf8_valid((s), sizeof (s) - 1)

static void
test_valid(void)
{
	ok(ps_utf8_valid("", 0), "empty text is valid");
	ok(V("dense/kernel"), "ASCII is valid");
	ok(V("a\0b"), "NUL is U+0000, valid UTF-8 (callers refuse it)");
	ok(V("gr\xc3\xb6\xc3\x9f" "e"), "two-byte characters are valid");
	ok(V("\xe2\x82\xac"), "a three-byte character is valid");
	ok(V("\xf0\x9f\x98\x80"), "a four-byte character is valid");
	ok(V("\xf4\x8f\xbf\xbf"), "U+10FFFF is valid");
	ok(!V("\xf4\x90\x80\x80"), "above U+10FFFF is refused");
	ok(!V("\xc0\xaf"), "an overlong two-byte '/' is refused");
	ok(!V("\xe0\x80\xaf"), "an overlong three-byte '/' is refused");
	ok(!V("\xf0\x80\x80\xaf"), "an overlong four-byte '/' is refused");
	ok(!V("\xed\xa0\x80"), "a UTF-16 surrogate is refused");
	ok(V("\xed\x9f\xbf"), "U+D7FF, just below the surrogates, is valid");
	ok(!V("a\xc3"), "a truncated sequence is refused");
	ok(!V("\xe2\x82"), "a sequence cut before its last byte is refused");
	ok(!V("\x80"), "a lone continuation byte is refused");
	ok(!V("\xf8\x88\x80\x80\x80"), "a five-byte form is refused");
	ok(!V("\xff"), "0xff is refused");
	ok(!V("\xc3("), "a lead byte followed by ASCII is refused");
	ok(ps_utf8_valid("\xc3\xa4xyz", 2),
	    "only len bytes are read: a whole character");
	ok(!ps_utf8_valid("\xc3\xa4xyz", 1),
	    "only len bytes are read: half a character");
}

static void
test_cut(void)
{
	const char	*s = "ab\xe2\x82\xac" "cd";	/* a b EUR c d */

	is_int(ps_utf8_cut(s, 7, 10), 7, "text under max is not cut");
	is_int(ps_utf8_cut(s, 7, 7), 7, "text of exactly max is not cut");
	is_int(ps_utf8_cut(s, 7, 5), 5, "a cut after a whole character");
	is_int(ps_utf8_cut(s, 7, 4), 2, "a cut inside EUR backs up to it");
	is_int(ps_utf8_cut(s, 7, 3), 2, "a cut after EUR's lead byte too");
	is_int(ps_utf8_cut(s, 7, 2), 2, "a cut just before EUR");
	is_int(ps_utf8_cut(s, 7, 0), 0, "max 0 is empty");
}

static void
test_quote(void)
{
	char	buf[96], longs[200];
	size_t	n;

	is_str(ps_utf8_quote("lr", buf, sizeof buf), "\"lr\"",
	    "a plain word is quoted");
	is_str(ps_utf8_quote("a\"b\\c", buf, sizeof buf), "\"a\\\"b\\\\c\"",
	    "quotes and backslashes are escaped");
	is_str(ps_utf8_quote("a\tb\x1b[2J\x7f", buf, sizeof buf),
	    "\"a\\x09b\\x1b[2J\\x7f\"",
	    "control characters (a terminal escape) are shown as \\xNN");
	is_str(ps_utf8_quote("b\xc3\xa4r", buf, sizeof buf), "\"b\xc3\xa4r\"",
	    "UTF-8 passes through");
	memset(longs, 'x', sizeof longs);
	longs[sizeof longs - 1] = '\0';
	ps_utf8_quote(longs, buf, sizeof buf);
	n = strlen(buf);
	ok(n == 1 + PS_UTF8_QUOTE_MAX + 3 + 1 &&
	    strcmp(buf + n - 4, "...\"") == 0,
	    "long text is cut at %d bytes with \"...\" (%zu bytes)",
	    PS_UTF8_QUOTE_MAX, n);
	memset(longs, 'x', sizeof longs);
	memcpy(longs + PS_UTF8_QUOTE_MAX - 1, "\xe2\x82\xac", 3);
	longs[sizeof longs - 1] = '\0';
	ps_utf8_quote(longs, buf, sizeof buf);
	n = strlen(buf);
	ok(ps_utf8_valid(buf, n) && strcmp(buf + n - 4, "...\"") == 0,
	    "a cut never splits a character");
	ps_utf8_quote(longs, buf, 24);
	ok(strlen(buf) < 24 && strcmp(buf + strlen(buf) - 4, "...\"") == 0,
	    "a small buffer cuts sooner, still closed (%s)", buf);
}

static void
test_escape(void)
{
	char	buf[64];
	size_t	n;

	n = ps_utf8_escape("dense/kernel", buf, sizeof buf);
	ok(n == 12 && strcmp(buf, "dense/kernel") == 0,
	    "ps_utf8_escape leaves plain text alone");
	n = ps_utf8_escape("a\x1b]0;x\x07\n\x7f", buf, sizeof buf);
	is_str(buf, "a\\x1b]0;x\\x07\\x0a\\x7f",
	    "C0 controls and DEL become \\xNN");
	ok(n == strlen(buf), "it returns the escaped length (%zu)", n);
	ps_utf8_escape("\xc2\x9b" "2J b\xc3\xa4r \xc2\xa0", buf, sizeof buf);
	is_str(buf, "\\u009b2J b\xc3\xa4r \xc2\xa0",
	    "C1 controls become \\u00NN; other characters stay");
	ps_utf8_escape("a\\b", buf, sizeof buf);
	is_str(buf, "a\\\\b", "a backslash is doubled");
	n = ps_utf8_escape("\x1b\x1b\x1b", buf, 6);
	ok(n == 12 && strcmp(buf, "\\x1b\\") == 0,
	    "a short buffer is cut and terminated; the length is the whole");
	ok(ps_utf8_escape("\x01", NULL, 0) == 4, "a NULL buffer of 0 bytes "
	    "only measures");
	ps_utf8_escape_controls("\"a\\\"b\"\x1b", buf, sizeof buf);
	is_str(buf, "\"a\\\"b\"\\x1b", "ps_utf8_escape_controls leaves "
	    "backslashes alone");
}

int
main(void)
{
	test_valid();
	test_cut();
	test_quote();
	test_escape();
	done_testing();
	return exit_status();
}
