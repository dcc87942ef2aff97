/*
 * UTF-8 text (utf8.h).  Any thread.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

int
ps_utf8_valid(const void *str, size_t len)
{
	const unsigned char	*s = str;
	size_t			 i = 0, need, k;
	uint32_t		 cp, min;

	while (i < len) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			need = 1;
			cp = s[i] & 0x1f;
			min = 0x80;
		} else if ((s[i] & 0xf0) == 0xe0) {
			need = 2;
			cp = s[i] & 0x0f;
			min = 0x800;
		} else if ((s[i] & 0xf8) == 0xf0) {
			need = 3;
			cp = s[i] & 0x07;
			min = 0x10000;
		} else
			return 0;	/* a continuation byte, or 0xf8..0xff */
		if (len - i - 1 < need)
			return 0;
		for (k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}

size_t
ps_utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	len = max;
	/* Back over the continuation bytes of the character cut at max. */
	while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
		len--;
	return len;
}

const char *
ps_utf8_quote(const char *s, char *buf, size_t len)
{
	size_t		o = 0, i;
	unsigned char	c;

	buf[o++] = '"';
	for (i = 0; s[i] != '\0'; i++) {
		if (o + 8 >= len || i >= PS_UTF8_QUOTE_MAX) {
			/* Do not cut inside a UTF-8 sequence. */
			while (o > 1 && ((unsigned char)buf[o - 1] & 0xc0)
			    == 0x80)
				o--;
			if (o > 1 && ((unsigned char)buf[o - 1] & 0xc0)
			    == 0xc0)
				o--;
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
		else if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else
			buf[o++] = (char)c;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

/* ps_utf8_escape(), doubling backslashes or not. */
static size_t
utf8_escape(const char *s, char *buf, size_t len, int backslash)
{
	const unsigned char	*p = (const unsigned char *)s;
	char			 e[8];
	size_t			 o = 0, k, j;

	for (; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			snprintf(e, sizeof e, "\\x%02x", *p);
			k = 4;
		} else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			snprintf(e, sizeof e, "\\u%04x", p[1]);
			k = 6;
			p++;
		} else if (*p == '\\' && backslash) {
			memcpy(e, "\\\\", 2);
			k = 2;
		} else {
			e[0] = (char)*p;
			k = 1;
		}
		for (j = 0; j < k; j++, o++)
			if (o + 1 < len)
				buf[o] = e[j];
	}
	if (len > 0)
		buf[o < len ? o : len - 1] = '\0';
	return o;
}

size_t
ps_utf8_escape(const char *s, char *buf, size_t len)
{
	return utf8_escape(s, buf, len, 1);
}

size_t
ps_utf8_escape_controls(const char *s, char *buf, size_t len)
{
	return utf8_escape(s, buf, len, 0);
}
