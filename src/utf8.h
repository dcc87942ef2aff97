/*
 * UTF-8 text: the one validator (names, wire text, WebSocket text
 * messages), cutting on a character boundary, and quoting untrusted text
 * for one line of output.  No I/O, no allocation, no state: any thread.
 * Part of the common library that libpsctl and the server both link.
 */
#ifndef PS_UTF8_H
#define PS_UTF8_H

#include <stddef.h>

/* Bytes of the text ps_utf8_quote() shows before it cuts with "...". */
#define PS_UTF8_QUOTE_MAX	72

/*
 * Returns 1 when the len bytes at s (0 allowed) are UTF-8 as RFC 3629
 * defines it: no overlong forms, no surrogates, nothing above U+10FFFF.
 * NUL (U+0000) is valid UTF-8: callers that hold C strings refuse it
 * themselves (ps_name_valid(), the wire's text).
 */
int		 ps_utf8_valid(const void *s, size_t len);
/*
 * The length of the longest prefix of s (len bytes) that has at most max
 * bytes and does not end inside a multi-byte character: len when len <=
 * max.  For text that is valid UTF-8; for other bytes, only at most max.
 */
size_t		 ps_utf8_cut(const char *s, size_t len, size_t max);
/*
 * Writes NUL-terminated s into buf (len >= 16 bytes) as a double-quoted
 * string fit for one line of output: control characters as \xNN, quotes
 * and backslashes escaped, cut with "..." (on a character boundary) past
 * PS_UTF8_QUOTE_MAX bytes or what buf holds.  Returns buf.
 */
const char	*ps_utf8_quote(const char *s, char *buf, size_t len);
/*
 * Writes NUL-terminated s into buf (len bytes, 0 allowed) with every
 * control character escaped, so that text from a peer cannot drive the
 * terminal or forge a line: C0 controls and DEL as \xNN, C1 controls
 * (U+0080 to U+009F) as \u00NN, a backslash as \\; the rest as it is.
 * Returns the length of the whole escaped text, as snprintf() does: the
 * output was cut when that is len or more.
 */
size_t		 ps_utf8_escape(const char *s, char *buf, size_t len);
/*
 * The same, backslashes left as they are: for messages that already
 * quote with ps_utf8_quote(), whose backslashes are its own.
 */
size_t		 ps_utf8_escape_controls(const char *s, char *buf, size_t len);

#endif
