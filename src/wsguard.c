/*
 * Frame checks ahead of libwebsockets (wsguard.h).  Service thread only.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>
#include <openssl/ssl.h>

#include "kernel.h"
#include "wsguard.h"
#include "xmalloc.h"

/* What a connection's next bytes are. */
enum guard_mode {
	GUARD_OFF = 0,		/* not ours to scan */
	GUARD_HTTP,		/* request headers */
	GUARD_FRAMES,		/* WebSocket frames */
	GUARD_BROKEN		/* a broken frame was found: read nothing more */
};

#define GUARD_LINE	64

/* One accepted connection, indexed by its descriptor. */
struct guard {
	enum guard_mode	 mode;
	struct lws	*wsi;		/* borrowed: set while a WebSocket */
	const char	*why;		/* static: why it broke */
	int		 held;		/* TLS: SSL_read() held everything back */
	/* GUARD_HTTP: the current header line's start, and Upgrade seen. */
	char		 line[GUARD_LINE];
	size_t		 linelen;
	int		 upgrade;
	/* GUARD_FRAMES: the header being read, then the payload to skip. */
	uint8_t		 hdr[14];
	size_t		 hlen;
	uint64_t	 skip;
	/*
	 * The payload's masking key, when the scan took it over (unmask):
	 * the key, and where in it the payload's next byte is.
	 */
	int		 unmask;
	uint8_t		 key[4];
	unsigned	 phase;
};

static struct guard	*guards;	/* owned, nguards long */
static size_t		 nguards;

static struct guard	*guard_get(int);
static size_t		 guard_scan(struct guard *, uint8_t *, size_t);
static int		 guard_http(struct guard *, uint8_t);
static size_t		 guard_need(const uint8_t *, size_t);
static void		 guard_unmask(struct guard *, uint8_t *, size_t);
static int		 guard_break(struct guard *, const char *);

static struct guard *
guard_get(int fd)
{
	if (fd < 0 || (size_t)fd >= nguards || guards[fd].mode == GUARD_OFF)
		return NULL;
	return &guards[fd];
}

void
ps_wsguard_accept(struct lws *wsi)
{
	int	fd = lws_get_socket_fd(wsi);
	size_t	n;

	if (fd < 0)
		return;
	if ((size_t)fd >= nguards) {
		/*
		 * Doubling: growing by a fixed step copied the table once
		 * per step, and the copies left behind in the heap cost
		 * 4 KiB a connection at 10,000 of them.
		 */
		n = nguards == 0 ? 64 : nguards * 2;
		if (n <= (size_t)fd)
			n = (size_t)fd + 64;
		guards = xreallocarray(guards, n, sizeof *guards);
		memset(guards + nguards, 0, (n - nguards) * sizeof *guards);
		nguards = n;
	}
	memset(&guards[fd], 0, sizeof guards[fd]);
	guards[fd].mode = GUARD_HTTP;
}

void
ps_wsguard_established(struct lws *wsi)
{
	struct guard	*g = guard_get(lws_get_socket_fd(wsi));

	if (g == NULL)
		return;
	g->wsi = wsi;
	/* Broken in the bytes that came with the handshake. */
	if (g->mode == GUARD_BROKEN)
		lws_callback_on_writable(wsi);
}

void
ps_wsguard_closed(struct lws *wsi)
{
	struct guard	*g = guard_get(lws_get_socket_fd(wsi));

	if (g != NULL && g->wsi == wsi)
		g->mode = GUARD_OFF;
}

const char *
ps_wsguard_broken(struct lws *wsi)
{
	struct guard	*g = guard_get(lws_get_socket_fd(wsi));

	if (g == NULL || g->mode != GUARD_BROKEN || g->wsi != wsi)
		return NULL;
	return g->why;
}

void
ps_wsguard_free(void)
{
	free(guards);
	guards = NULL;
	nguards = 0;
}

/*
 * A broken frame: lws gets nothing more and the WRITEABLE closes.  Before
 * the WebSocket is established the bytes may be the next request on an
 * HTTP connection whose upgrade was refused: then the scan stops instead
 * and lws has the bytes (it does not execute frames that come with the
 * handshake).  Returns whether it broke.
 */
static int
guard_break(struct guard *g, const char *why)
{
	if (g->wsi == NULL) {
		g->mode = GUARD_OFF;
		return 0;
	}
	g->mode = GUARD_BROKEN;
	g->why = why;
	lws_callback_on_writable(g->wsi);
	return 1;
}

/*
 * One byte of request headers; returns 1 at the blank line that ends an
 * upgrade request: the frames start with the next byte.
 */
static int
guard_http(struct guard *g, uint8_t c)
{
	size_t	i, n;

	if (c != '\n') {
		if (g->linelen < GUARD_LINE)
			g->line[g->linelen] = (char)(c >= 'A' && c <= 'Z' ?
			    c - 'A' + 'a' : c);
		g->linelen++;
		return 0;
	}
	n = g->linelen < GUARD_LINE ? g->linelen : GUARD_LINE;
	if (n > 0 && g->line[n - 1] == '\r')
		n--;
	g->linelen = 0;
	if (n == 0) {
		if (!g->upgrade)
			return 0;
		g->upgrade = 0;
		return 1;
	}
	if (n > 8 && memcmp(g->line, "upgrade:", 8) == 0)
		for (i = 8; i + 9 <= n; i++)
			if (memcmp(g->line + i, "websocket", 9) == 0)
				g->upgrade = 1;
	return 0;
}

/* The length of a frame header whose first n (>= 2) bytes are h. */
static size_t
guard_need(const uint8_t *h, size_t n)
{
	size_t	len = 2 + ((h[1] & 0x80) ? 4 : 0);

	(void)n;
	if ((h[1] & 0x7f) == 126)
		len += 2;
	else if ((h[1] & 0x7f) == 127)
		len += 8;
	return len;
}

/* XORs n payload bytes at p with g's key, from g->phase on. */
static void
guard_unmask(struct guard *g, uint8_t *p, size_t n)
{
	uint8_t		k[4];
	unsigned	j;

	for (j = 0; j < 4; j++)
		k[j] = g->key[(g->phase + j) & 3];
	ps_k_xor4(p, k, n);
	g->phase = (unsigned)((g->phase + n) & 3);
}

/*
 * Scans n bytes read from g's connection, unmasking payloads in place
 * where it holds the key; returns how many of them lws may have: all,
 * or those before a broken frame's header.
 */
static size_t
guard_scan(struct guard *g, uint8_t *buf, size_t n)
{
	size_t		i = 0, start = 0, k, hin = 0;
	uint64_t	len;
	unsigned	code;

	while (i < n) {
		switch (g->mode) {
		case GUARD_HTTP:
			if (guard_http(g, buf[i++]))
				g->mode = GUARD_FRAMES;
			break;
		case GUARD_FRAMES:
			if (g->skip > 0) {
				k = n - i;
				if ((uint64_t)k > g->skip)
					k = (size_t)g->skip;
				if (g->unmask)
					guard_unmask(g, buf + i, k);
				g->skip -= k;
				i += k;
				break;
			}
			if (g->hlen == 0) {
				start = i;	/* else it began before buf */
				hin = 0;
			}
			g->hdr[g->hlen++] = buf[i++];
			hin++;
			if (g->hlen == 2) {
				code = g->hdr[1] & 0x7f;
				if (!(g->hdr[1] & 0x80)) {
					if (guard_break(g, "a client frame must be "
					    "masked"))
						return start;
					return n;
				}
				if ((g->hdr[0] & 0x08) && code > 125) {
					if (guard_break(g, "a control frame of more "
					    "than 125 bytes"))
						return start;
					return n;
				}
			}
			if (g->hlen < 2 || g->hlen < guard_need(g->hdr, g->hlen))
				break;
			code = g->hdr[1] & 0x7f;
			if (code == 126)
				len = (uint64_t)g->hdr[2] << 8 | g->hdr[3];
			else if (code == 127) {
				if (g->hdr[2] & 0x80) {
					if (guard_break(g, "a frame length with its "
					    "top bit set"))
						return start;
					return n;
				}
				for (len = 0, k = 2; k < 10; k++)
					len = len << 8 | g->hdr[k];
			} else
				len = code;
			/*
			 * The payload is unmasked here, where a wide XOR is
			 * cheap, and lws is handed the key as zeros, for which
			 * it skips its own byte-at-a-time loop (a third of the
			 * server's CPU in a large push).  Only when the whole key
			 * is in this buffer: lws already has what came before.
			 */
			g->unmask = hin >= 4;
			if (g->unmask) {
				memcpy(g->key, buf + i - 4, 4);
				memset(buf + i - 4, 0, 4);
				g->phase = 0;
			}
			g->hlen = 0;
			g->skip = len;
			break;
		default:
			return n;
		}
	}
	return n;
}

/*
 * lws reads a plain connection with recv(): this definition, found before
 * the C library's, scans what it returns.
 */
ssize_t
recv(int fd, void *buf, size_t len, int flags)
{
	struct guard	*g;
	ssize_t		 n;

	n = recvfrom(fd, buf, len, flags, NULL, NULL);
	if (n <= 0 || (flags & MSG_PEEK) || (g = guard_get(fd)) == NULL)
		return n;
	if (g->mode == GUARD_BROKEN) {
		/* Nothing more for lws: the WRITEABLE closes it. */
		errno = EAGAIN;
		return -1;
	}
	n = (ssize_t)guard_scan(g, buf, (size_t)n);
	if (n == 0) {
		errno = EAGAIN;
		return -1;
	}
	return n;
}

/*
 * lws reads a TLS connection with SSL_read(): the plaintext, scanned.
 * When none of it is for lws, SSL_read() says -1 and SSL_get_error() and
 * SSL_want() below say "read again later", as for a record not complete
 * yet; the WRITEABLE callback then closes.
 */
int
SSL_read(SSL *ssl, void *buf, int num)
{
	static int	(*real)(SSL *, void *, int);
	struct guard	*g;
	size_t		 k;
	int		 n;

	if (real == NULL) {
		*(void **)&real = dlsym(RTLD_NEXT, "SSL_read");
		if (real == NULL)
			return -1;
	}
	n = real(ssl, buf, num);
	if (n <= 0 || (g = guard_get(SSL_get_fd(ssl))) == NULL)
		return n;
	k = g->mode == GUARD_BROKEN ? 0 : guard_scan(g, buf, (size_t)n);
	if (k > 0)
		return (int)k;
	g->held = 1;
	return -1;
}

int
SSL_get_error(const SSL *ssl, int ret)
{
	static int	(*real)(const SSL *, int);
	struct guard	*g;

	if (real == NULL) {
		*(void **)&real = dlsym(RTLD_NEXT, "SSL_get_error");
		if (real == NULL)
			return SSL_ERROR_SSL;
	}
	if (ret <= 0 && (g = guard_get(SSL_get_fd(ssl))) != NULL && g->held)
		return SSL_ERROR_WANT_READ;
	return real(ssl, ret);
}

int
SSL_want(const SSL *ssl)
{
	static int	(*real)(const SSL *);
	struct guard	*g;

	if (real == NULL) {
		*(void **)&real = dlsym(RTLD_NEXT, "SSL_want");
		if (real == NULL)
			return SSL_NOTHING;
	}
	if ((g = guard_get(SSL_get_fd(ssl))) != NULL && g->held) {
		g->held = 0;
		return SSL_READING;
	}
	return real(ssl);
}
