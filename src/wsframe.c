/*
 * RFC 6455 framing for libpsctl's client (see wsframe.h): bytes in, bytes
 * out, no socket.  wsc.c moves the bytes; this file says what they mean.
 *
 * Part of libpsctl: never exits, never logs; runs on the caller's thread.
 */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "wsframe.h"

#define WSFRAME_GUID	"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static enum ps_wsframe_res wsframe_refuse(struct ps_wsframe *, int,
		     const char *, ...)
		     __attribute__((__format__(__printf__, 3, 4)));
static enum ps_wsframe_res wsframe_answer_fail(char *, size_t, const char *,
		     ...)
		     __attribute__((__format__(__printf__, 3, 4)));

void
ps_wsframe_rx_init(struct ps_wsframe_rx *rx, size_t max)
{
	rx->msgop = -1;
	rx->msglen = 0;
	rx->max = max;
}

/* Fills f's error fields; returns PS_WSFRAME_ERROR for the caller. */
static enum ps_wsframe_res
wsframe_refuse(struct ps_wsframe *f, int close_code, const char *fmt, ...)
{
	va_list	ap;

	f->close_code = close_code;
	va_start(ap, fmt);
	vsnprintf(f->why, sizeof f->why, fmt, ap);
	va_end(ap);
	return PS_WSFRAME_ERROR;
}

enum ps_wsframe_res
ps_wsframe_read(struct ps_wsframe_rx *rx, const void *buf, size_t len,
    struct ps_wsframe *f, size_t *need)
{
	const unsigned char	*h = buf;
	uint64_t		 plen;
	size_t			 hlen;
	int			 i;

	memset(f, 0, sizeof *f);
	*need = 2;
	if (len < 2)
		return PS_WSFRAME_NEED;
	hlen = 2;
	plen = h[1] & 0x7f;
	if (plen == 126)
		hlen += 2;
	else if (plen == 127)
		hlen += 8;
	*need = hlen;
	if (len < hlen)
		return PS_WSFRAME_NEED;

	f->fin = (h[0] & 0x80) != 0;
	f->op = h[0] & 0x0f;
	f->hlen = hlen;
	if (plen == 126)
		plen = (uint64_t)h[2] << 8 | h[3];
	else if (plen == 127) {
		plen = 0;
		for (i = 0; i < 8; i++)
			plen = plen << 8 | h[2 + i];
	}
	f->len = plen;
	if (h[0] & 0x70)
		return wsframe_refuse(f, PS_WSFRAME_CLOSE_PROTOCOL, "frame with "
		    "reserved bits 0x%02x set", h[0] & 0x70);
	if (h[1] & 0x80)
		return wsframe_refuse(f, PS_WSFRAME_CLOSE_PROTOCOL,
		    "masked frame from the server");
	if (plen >> 63)
		return wsframe_refuse(f, PS_WSFRAME_CLOSE_PROTOCOL,
		    "frame length has its top bit set");

	if (f->op & 0x8) {
		if (f->op != PS_WSFRAME_CLOSE && f->op != PS_WSFRAME_PING &&
		    f->op != PS_WSFRAME_PONG)
			return wsframe_refuse(f, PS_WSFRAME_CLOSE_PROTOCOL,
			    "unknown control opcode 0x%x", f->op);
		if (!f->fin || plen > PS_WSFRAME_CONTROL_MAX)
			return wsframe_refuse(f, PS_WSFRAME_CLOSE_PROTOCOL,
			    "control frame %s", !f->fin ? "fragmented" :
			    "over 125 bytes");
		return PS_WSFRAME_DONE;
	}

	if (f->op == PS_WSFRAME_CONT) {
		if (rx->msgop == -1)
			return wsframe_refuse(f, PS_WSFRAME_CLOSE_PROTOCOL,
			    "continuation frame without a message");
	} else if (f->op == PS_WSFRAME_TEXT || f->op == PS_WSFRAME_BINARY) {
		if (rx->msgop != -1)
			return wsframe_refuse(f, PS_WSFRAME_CLOSE_PROTOCOL,
			    "new message inside a fragmented one");
	} else
		return wsframe_refuse(f, PS_WSFRAME_CLOSE_PROTOCOL,
		    "unknown opcode 0x%x", f->op);
	if (plen > rx->max - rx->msglen)
		return wsframe_refuse(f, PS_WSFRAME_CLOSE_TOO_BIG,
		    "message over %zu bytes", rx->max);

	f->msgop = f->op == PS_WSFRAME_CONT ? rx->msgop : f->op;
	f->msgoff = rx->msglen;
	f->last = f->fin;
	if (f->fin)
		ps_wsframe_rx_init(rx, rx->max);
	else {
		rx->msgop = f->msgop;
		rx->msglen += (size_t)plen;
	}
	return PS_WSFRAME_DONE;
}

int
ps_wsframe_close_code(const void *payload, size_t len, int *code)
{
	const unsigned char	*p = payload;

	*code = PS_WSFRAME_CLOSE_NO_CODE;
	if (len == 1)
		return -1;
	if (len >= 2)
		*code = p[0] << 8 | p[1];
	return 0;
}

size_t
ps_wsframe_put_header(unsigned char *b, int fin, int op, uint64_t len,
    const unsigned char key[4])
{
	size_t	h = 2;
	int	i;

	b[0] = (unsigned char)((fin ? 0x80 : 0) | op);
	if (len < 126)
		b[1] = 0x80 | (unsigned char)len;
	else if (len <= 0xffff) {
		b[1] = 0x80 | 126;
		b[2] = (unsigned char)(len >> 8);
		b[3] = (unsigned char)len;
		h = 4;
	} else {
		b[1] = 0x80 | 127;
		for (i = 0; i < 8; i++)
			b[2 + i] = (unsigned char)(len >> (56 - 8 * i));
		h = 10;
	}
	memcpy(b + h, key, 4);
	return h + 4;
}

/*
 * The key repeated to 64 bits (rotated for the phase off) is XORed word by
 * word, four words a step; loads and stores go through memcpy, so neither
 * pointer needs alignment and the compiler emits plain wide moves.
 */
void
ps_wsframe_mask(unsigned char *dst, const unsigned char *src, size_t n,
    const unsigned char key[4], size_t off)
{
	unsigned char	kb[8];
	uint64_t	k, v[4];
	size_t		i, j;

	for (j = 0; j < 8; j++)
		kb[j] = key[(off + j) & 3];
	memcpy(&k, kb, sizeof k);
	for (i = 0; i + 32 <= n; i += 32) {
		memcpy(v, src + i, 32);
		v[0] ^= k;
		v[1] ^= k;
		v[2] ^= k;
		v[3] ^= k;
		memcpy(dst + i, v, 32);
	}
	for (; i + 8 <= n; i += 8) {
		memcpy(v, src + i, 8);
		v[0] ^= k;
		memcpy(dst + i, v, 8);
	}
	for (; i < n; i++)
		dst[i] = src[i] ^ kb[i & 7];
}

void
ps_wsframe_key(const unsigned char nonce[16], char key[PS_WSFRAME_KEY_LEN])
{
	EVP_EncodeBlock((unsigned char *)key, nonce, 16);
}

void
ps_wsframe_accept(const char *key, char accept[PS_WSFRAME_ACCEPT_LEN])
{
	unsigned char	md[SHA_DIGEST_LENGTH];
	char		cat[128];

	snprintf(cat, sizeof cat, "%s%s", key, WSFRAME_GUID);
	SHA1((unsigned char *)cat, strlen(cat), md);
	EVP_EncodeBlock((unsigned char *)accept, md, sizeof md);
}

char *
ps_wsframe_request(const char *path, const char *hostport, const char *key,
    const char *protocol, const char *token)
{
	char	*req;
	size_t	 len;

	len = 512 + strlen(path) + strlen(hostport) + strlen(key) +
	    (protocol != NULL ? strlen(protocol) : 0) +
	    (token != NULL ? strlen(token) : 0);
	if ((req = malloc(len)) == NULL)
		return NULL;
	snprintf(req, len,
	    "GET %s%s HTTP/1.1\r\n"
	    "Host: %s\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: %s\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "%s%s%s"
	    "%s%s%s"
	    "\r\n",
	    *path != '/' ? "/" : "", path, hostport, key,
	    protocol != NULL ? "Sec-WebSocket-Protocol: " : "",
	    protocol != NULL ? protocol : "",
	    protocol != NULL ? "\r\n" : "",
	    token != NULL ? "Authorization: Bearer " : "",
	    token != NULL ? token : "",
	    token != NULL ? "\r\n" : "");
	return req;
}

static enum ps_wsframe_res
wsframe_answer_fail(char *why, size_t whylen, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return PS_WSFRAME_ERROR;
}

enum ps_wsframe_res
ps_wsframe_answer(char *buf, size_t len, const char *accept,
    const char *protocol, int *status, size_t *hdrlen, char *why,
    size_t whylen)
{
	char		*e, *line, *next, *colon, *v, first[128];
	const char	*s;
	int		 n, upgrade = 0, connection = 0, acc = 0, proto = 0;

	*status = 0;
	*hdrlen = 0;
	/* The answer ends at an empty line; what follows is frames. */
	if ((e = strstr(buf, "\r\n\r\n")) == NULL) {
		if (memchr(buf, '\0', len) != NULL)
			return wsframe_answer_fail(why, whylen, "NUL byte in "
			    "the handshake answer");
		return PS_WSFRAME_NEED;
	}
	*hdrlen = (size_t)(e - buf) + 4;
	e[2] = '\0';

	line = buf;
	next = strstr(line, "\r\n");
	*next = '\0';
	snprintf(first, sizeof first, "%s", line);
	if (strlen(line) < 12 || strncmp(line, "HTTP/1.", 7) != 0 ||
	    line[8] != ' ' || sscanf(line + 9, "%3d", status) != 1) {
		*status = 0;
		return wsframe_answer_fail(why, whylen, "not an HTTP answer: "
		    "%s", first);
	}
	if (*status == 401 || *status == 403)
		return wsframe_answer_fail(why, whylen, PS_WSFRAME_TOKEN_REFUSED
		    " (%s)", first);
	if (*status != 101)
		return wsframe_answer_fail(why, whylen, "the server answered "
		    "%s", first);

	for (line = next + 2; *line != '\0'; line = next + 2) {
		next = strstr(line, "\r\n");
		*next = '\0';
		if ((colon = strchr(line, ':')) == NULL)
			return wsframe_answer_fail(why, whylen, "bad header "
			    "line in the handshake answer");
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		for (e = v + strlen(v); e > v && (e[-1] == ' ' ||
		    e[-1] == '\t'); e--)
			e[-1] = '\0';
		if (strcasecmp(line, "Upgrade") == 0)
			upgrade = strcasecmp(v, "websocket") == 0;
		else if (strcasecmp(line, "Connection") == 0) {
			for (s = v; *s != '\0'; s += strspn(s, " \t,")) {
				n = (int)strcspn(s, " \t,");
				if (n == 7 && strncasecmp(s, "upgrade", 7) == 0)
					connection = 1;
				s += n;
			}
		} else if (strcasecmp(line, "Sec-WebSocket-Accept") == 0)
			acc = strcmp(v, accept) == 0 ? 1 : -1;
		else if (strcasecmp(line, "Sec-WebSocket-Protocol") == 0)
			proto = protocol != NULL &&
			    strcmp(v, protocol) == 0 ? 1 : -1;
		else if (strcasecmp(line, "Sec-WebSocket-Extensions") == 0)
			return wsframe_answer_fail(why, whylen, "the server "
			    "chose an extension that was not offered: %s", v);
	}
	if (!upgrade || !connection)
		return wsframe_answer_fail(why, whylen, "the answer lacks "
		    "\"Upgrade: websocket\" or \"Connection: Upgrade\"");
	if (acc != 1)
		return wsframe_answer_fail(why, whylen, "%s "
		    "Sec-WebSocket-Accept in the answer", acc == 0 ? "no" :
		    "wrong");
	if (protocol != NULL && proto != 1)
		return wsframe_answer_fail(why, whylen, "the server did not "
		    "accept subprotocol %s", protocol);
	if (protocol == NULL && proto != 0)
		return wsframe_answer_fail(why, whylen, "the server chose a "
		    "subprotocol that was not offered");
	return PS_WSFRAME_DONE;
}
