/*
 * RFC 6455 framing for libpsctl's WebSocket client (wsc.h), apart from the
 * socket: the opening handshake's request and the server's answer, frame
 * headers read and written, masking, and the rules a client holds the
 * server's frames to.  Everything here works on bytes in the caller's
 * buffers, so tests and fuzzers feed it without a connection: a reader is
 * given what has arrived so far and says "need more", "a frame header" or
 * "error".
 *
 * No I/O, no clock and no allocation but ps_wsframe_request()'s; part of
 * libpsctl: never exits, never logs.  No state outside the structs the
 * caller passes, so it is safe on any thread.
 */
#ifndef PS_WSFRAME_H
#define PS_WSFRAME_H

#include <stddef.h>
#include <stdint.h>

/* The longest frame header: 2 bytes, a 64-bit length, a mask key. */
#define PS_WSFRAME_HDR_MAX	14
/* The largest control frame payload (RFC 6455 5.5). */
#define PS_WSFRAME_CONTROL_MAX	125
/* A Sec-WebSocket-Key (24 characters) or -Accept (28), with its NUL. */
#define PS_WSFRAME_KEY_LEN	25
#define PS_WSFRAME_ACCEPT_LEN	29

enum ps_wsframe_op {
	PS_WSFRAME_CONT = 0x0,
	PS_WSFRAME_TEXT = 0x1,
	PS_WSFRAME_BINARY = 0x2,
	PS_WSFRAME_CLOSE = 0x8,
	PS_WSFRAME_PING = 0x9,
	PS_WSFRAME_PONG = 0xa
};

/* Close codes the client sends (RFC 6455 7.4.1). */
#define PS_WSFRAME_CLOSE_NORMAL		1000
#define PS_WSFRAME_CLOSE_PROTOCOL	1002
#define PS_WSFRAME_CLOSE_NO_CODE	1005	/* never sent: none given */
#define PS_WSFRAME_CLOSE_BAD_DATA	1007
#define PS_WSFRAME_CLOSE_TOO_BIG	1009

/* What a reader says about the bytes it was given. */
enum ps_wsframe_res {
	PS_WSFRAME_ERROR = -1,	/* refused: the reason is in the result */
	PS_WSFRAME_NEED = 0,	/* incomplete: *need bytes are needed in all */
	PS_WSFRAME_DONE = 1	/* a whole header or answer */
};

/*
 * A reader's place in the server's stream, carried from frame to frame of
 * one message: between messages, or inside a fragmented one.
 */
struct ps_wsframe_rx {
	int		 msgop;		/* TEXT or BINARY inside a message, else -1 */
	size_t		 msglen;	/* payload of the message so far */
	size_t		 max;		/* the largest message accepted */
};

/* One frame header as ps_wsframe_read() found it. */
struct ps_wsframe {
	int		 op;		/* enum ps_wsframe_op */
	int		 fin;
	size_t		 hlen;		/* bytes of the header, to consume */
	uint64_t	 len;		/* bytes of payload after the header */
	/* Data frames (CONT, TEXT, BINARY) only: */
	int		 msgop;		/* the message's opcode, TEXT or BINARY */
	size_t		 msgoff;	/* where this payload goes in the message */
	int		 last;		/* the message ends with this frame */
	/* PS_WSFRAME_ERROR only: */
	int		 close_code;	/* ..._PROTOCOL or ..._TOO_BIG, for the peer */
	char		 why[96];	/* what was wrong, in words */
};

/* Starts a reader between messages, accepting messages up to max bytes. */
void		 ps_wsframe_rx_init(struct ps_wsframe_rx *, size_t max);
/*
 * Reads the frame header at the start of buf, where len bytes have
 * arrived (more may follow).  Returns
 *	PS_WSFRAME_NEED	with *need, the bytes the header needs in all (at
 *			most PS_WSFRAME_HDR_MAX): call again with that many;
 *	PS_WSFRAME_DONE	with *f: f->hlen header bytes, then f->len bytes
 *			of payload, which the caller consumes before the
 *			next call;
 *	PS_WSFRAME_ERROR with f->close_code and f->why: the frame breaks
 *			RFC 6455 for a client (reserved bits, a mask, a
 *			64-bit length with its top bit, an unknown opcode,
 *			a fragmented or long control frame, a continuation
 *			outside a message or a new message inside one), or
 *			the message outgrows rx->max (..._TOO_BIG).
 * On DONE for a data frame, rx moves on as if its payload had been read;
 * control frames (CLOSE, PING, PONG) may come between fragments and leave
 * rx as it was.  buf is only read.
 */
enum ps_wsframe_res ps_wsframe_read(struct ps_wsframe_rx *, const void *buf,
		     size_t len, struct ps_wsframe *f, size_t *need);
/*
 * Reads a close frame's payload (len <= PS_WSFRAME_CONTROL_MAX): *code is
 * its status code, or PS_WSFRAME_CLOSE_NO_CODE when it has none, and the
 * reason is the len - 2 bytes after it.  Returns 0, or -1 for a payload of
 * one byte, which RFC 6455 forbids.
 */
int		 ps_wsframe_close_code(const void *payload, size_t len,
		     int *code);

/*
 * Writes the header of a client frame (masked with key) to b, which has
 * room for PS_WSFRAME_HDR_MAX bytes; returns its length.
 */
size_t		 ps_wsframe_put_header(unsigned char *b, int fin, int op,
		     uint64_t len, const unsigned char key[4]);
/*
 * dst[i] = src[i] ^ key[(off + i) % 4] for i < n: masks (or unmasks) the
 * payload bytes from offset off on, eight bytes at a time.  Neither
 * pointer needs alignment; dst may be src, but the two must not overlap
 * otherwise.
 */
void		 ps_wsframe_mask(unsigned char *dst, const unsigned char *src,
		     size_t n, const unsigned char key[4], size_t off);

/* The Sec-WebSocket-Key for 16 random bytes (base64, NUL-terminated). */
void		 ps_wsframe_key(const unsigned char nonce[16],
		     char key[PS_WSFRAME_KEY_LEN]);
/*
 * The Sec-WebSocket-Accept a server answers key with (RFC 6455 4.2.2):
 * base64 of the SHA-1 of key and the protocol's GUID, NUL-terminated.
 */
void		 ps_wsframe_accept(const char *key,
		     char accept[PS_WSFRAME_ACCEPT_LEN]);
/*
 * The opening handshake's request (RFC 6455 4.1) as a new string (caller
 * frees), or NULL when out of memory.  path is the URL's path and query
 * ("" means "/"), hostport the Host header; protocol (the subprotocol to
 * ask for) and token (sent as "Authorization: Bearer") may be NULL.  The
 * caller has checked that none holds a control character.
 */
char		*ps_wsframe_request(const char *path, const char *hostport,
		     const char *key, const char *protocol, const char *token);
/*
 * Reads the server's answer to the opening handshake: len bytes at buf,
 * followed by a NUL the caller has written at buf[len].  Returns
 *	PS_WSFRAME_NEED	while the empty line that ends the answer has not
 *			come (buf is left as it was);
 *	PS_WSFRAME_DONE	when the answer accepts the connection with
 *			accept, and protocol if not NULL: *hdrlen is the
 *			answer's length, frames may follow it in buf;
 *	PS_WSFRAME_ERROR with why: a NUL byte, an answer that is not HTTP,
 *			a status other than 101 (*status says which: 401
 *			and 403 mean the token was refused), a wrong or
 *			missing header, an extension or a subprotocol not
 *			asked for.
 * *status is the answer's HTTP status once its first line is read, else
 * 0.  Once the answer is complete, its header lines are cut up in place.
 * A refused token's why begins with PS_WSFRAME_TOKEN_REFUSED.
 */
#define PS_WSFRAME_TOKEN_REFUSED	"the server refused the token"
enum ps_wsframe_res ps_wsframe_answer(char *buf, size_t len,
		     const char *accept, const char *protocol, int *status,
		     size_t *hdrlen, char *why, size_t whylen);

#endif
