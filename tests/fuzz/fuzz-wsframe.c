/*
 * libFuzzer harness for libpsctl's WebSocket frame reader (src/wsframe.c),
 * fed as ps_wsc_recv() feeds it: the server's handshake answer, then the
 * frames behind it.
 *
 * Input: one byte of settings (bits 0-3: the message size limit, from 1
 * byte to unlimited; bit 4: ask for a subprotocol), then the server's
 * bytes.  When they start with "HTTP/", ps_wsframe_answer() reads the
 * handshake answer first.  Frames are then read one after the other until
 * the bytes end, a frame is refused, or its payload is not all there.
 *
 * Properties, against a model of RFC 6455 written here apart from
 * wsframe.c: "need more" asks for more than there is and at most a
 * header; a refusal is 1002, or 1009 for a message over the limit; a
 * control frame leaves the reader as it was; a data frame continues the
 * message the model says is open, at the offset the model has reached,
 * within the limit; a header written by ps_wsframe_put_header() (its mask
 * taken off) reads back as the same frame; masking equals masking byte by
 * byte and undoes itself; the UTF-8 check of a text message
 * (ps_utf8_valid()) agrees with RFC 3629's grammar, written here range by
 * range.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "utf8.h"
#include "wsframe.h"

static const unsigned char	nonce[16] = "psctl fuzz nonce";
static const unsigned char	mkey[4] = { 0x37, 0xfa, 0x21, 0x3d };
static char			accept_key[PS_WSFRAME_ACCEPT_LEN];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char	key[PS_WSFRAME_KEY_LEN];

	(void)argc;
	(void)argv;
	ps_wsframe_key(nonce, key);
	ps_wsframe_accept(key, accept_key);
	return 0;
}

/* Reads the handshake answer; returns the bytes it took (0: none). */
static size_t
answer(const uint8_t *p, size_t len, const char *protocol)
{
	char			*buf, why[256];
	size_t			 hdrlen;
	int			 status;
	enum ps_wsframe_res	 r;

	buf = malloc(len + 1);
	fuzz_check(buf != NULL, "memory for the answer");
	memcpy(buf, p, len);
	buf[len] = '\0';
	why[0] = '\0';
	r = ps_wsframe_answer(buf, len, accept_key, protocol, &status,
	    &hdrlen, why, sizeof why);
	free(buf);
	switch (r) {
	case PS_WSFRAME_NEED:
		fuzz_check(memmem(p, len, "\r\n\r\n", 4) == NULL &&
		    memchr(p, '\0', len) == NULL, "an answer is incomplete "
		    "only without its empty line and without NUL");
		return 0;
	case PS_WSFRAME_ERROR:
		fuzz_check(why[0] != '\0', "a refused answer says why");
		return 0;
	case PS_WSFRAME_DONE:
		break;
	}
	fuzz_check(status == 101, "an accepted answer has status 101");
	fuzz_check(hdrlen >= 4 && hdrlen <= len &&
	    memcmp(p + hdrlen - 4, "\r\n\r\n", 4) == 0,
	    "an accepted answer ends at its empty line");
	fuzz_check(memchr(p, '\0', hdrlen) == NULL,
	    "an accepted answer holds no NUL");
	return hdrlen;
}

/* Masking, word-wide, equals masking byte by byte, and undoes itself. */
static void
check_mask(const unsigned char *p, size_t n, size_t off)
{
	unsigned char	*a, *b;
	size_t		 i;

	a = malloc(n + 1);
	b = malloc(n + 1);
	fuzz_check(a != NULL && b != NULL, "memory for masking");
	ps_wsframe_mask(a, p, n, mkey, off);
	for (i = 0; i < n; i++)
		fuzz_check(a[i] == (p[i] ^ mkey[(off + i) % 4]),
		    "a masked byte is the byte XOR its key byte");
	memcpy(b, a, n);
	ps_wsframe_mask(b, b, n, mkey, off);
	fuzz_check(n == 0 || memcmp(b, p, n) == 0,
	    "masking in place twice gives the bytes back");
	free(a);
	free(b);
}

/* RFC 3629's UTF8-octets grammar, range by range: the reference. */
static int
rfc3629_valid(const unsigned char *s, size_t n)
{
	size_t		i = 0, k, j;
	unsigned char	lo, hi;

	while (i < n) {
		lo = 0x80;
		hi = 0xbf;
		if (s[i] <= 0x7f)
			k = 0;
		else if (s[i] >= 0xc2 && s[i] <= 0xdf)
			k = 1;
		else if (s[i] >= 0xe0 && s[i] <= 0xef) {
			k = 2;
			if (s[i] == 0xe0)
				lo = 0xa0;
			else if (s[i] == 0xed)
				hi = 0x9f;
		} else if (s[i] >= 0xf0 && s[i] <= 0xf4) {
			k = 3;
			if (s[i] == 0xf0)
				lo = 0x90;
			else if (s[i] == 0xf4)
				hi = 0x8f;
		} else
			return 0;
		if (n - i <= k)
			return 0;
		for (j = 1; j <= k; j++) {
			if (s[i + j] < lo || s[i + j] > hi)
				return 0;
			lo = 0x80;
			hi = 0xbf;
		}
		i += k + 1;
	}
	return 1;
}

/*
 * The UTF-8 check libpsctl makes of a text message (ps_utf8_valid(), as
 * wsc.c calls it) agrees with the grammar.
 */
static void
check_text(const unsigned char *m, size_t n)
{
	fuzz_check(!ps_utf8_valid(m, n) == !rfc3629_valid(m, n),
	    "a text message is UTF-8 exactly when RFC 3629 says so");
}

/* A header put by ps_wsframe_put_header(), unmasked, reads back the same. */
static void
check_put(const struct ps_wsframe_rx *before, const struct ps_wsframe *f)
{
	struct ps_wsframe_rx	rx = *before;
	struct ps_wsframe	g;
	unsigned char		b[PS_WSFRAME_HDR_MAX];
	size_t			h, need;

	h = ps_wsframe_put_header(b, f->fin, f->op, f->len, mkey);
	fuzz_check(h >= 6 && h <= PS_WSFRAME_HDR_MAX && (b[1] & 0x80) &&
	    memcmp(b + h - 4, mkey, 4) == 0,
	    "a client header is masked and carries its key");
	b[1] &= 0x7f;
	fuzz_check(ps_wsframe_read(&rx, b, h - 4, &g, &need) ==
	    PS_WSFRAME_DONE, "a header written reads back");
	fuzz_check(g.op == f->op && g.fin == f->fin && g.len == f->len &&
	    g.hlen == h - 4 && g.msgop == f->msgop &&
	    g.msgoff == f->msgoff && g.last == f->last,
	    "a header written reads back as the same frame");
}

static void
frames(const uint8_t *p, size_t len, size_t max)
{
	struct ps_wsframe_rx	 rx, before;
	struct ps_wsframe	 f;
	enum ps_wsframe_res	 r;
	unsigned char		*msg;
	size_t			 need, left, plen;
	int			 mop = -1, code;
	size_t			 mlen = 0;

	msg = malloc(len + 1);
	fuzz_check(msg != NULL, "memory for the message");
	ps_wsframe_rx_init(&rx, max);
	for (left = len; ; ) {
		before = rx;
		r = ps_wsframe_read(&rx, p, left, &f, &need);
		if (r == PS_WSFRAME_NEED) {
			fuzz_check(need > left && need >= 2 &&
			    need <= PS_WSFRAME_HDR_MAX,
			    "more is needed only when it has not come");
			break;
		}
		if (r == PS_WSFRAME_ERROR) {
			fuzz_check(f.why[0] != '\0', "a refusal says why");
			fuzz_check(f.close_code == PS_WSFRAME_CLOSE_PROTOCOL ||
			    (f.close_code == PS_WSFRAME_CLOSE_TOO_BIG &&
			    (f.op == PS_WSFRAME_CONT || f.op ==
			    PS_WSFRAME_TEXT || f.op == PS_WSFRAME_BINARY) &&
			    f.len > max - mlen),
			    "a refusal is 1002, or 1009 over the limit");
			break;
		}
		fuzz_check(r == PS_WSFRAME_DONE, "a reader answers one of three");
		fuzz_check((f.hlen == 2 || f.hlen == 4 || f.hlen == 10) &&
		    f.hlen <= left, "a header is 2, 4 or 10 bytes, all there");
		fuzz_check(f.len >> 63 == 0, "a length is under 2^63");
		if (f.op & 0x8) {
			fuzz_check(f.fin && f.len <= PS_WSFRAME_CONTROL_MAX,
			    "a control frame is final and short");
			fuzz_check(rx.msgop == before.msgop &&
			    rx.msglen == before.msglen,
			    "a control frame leaves the reader as it was");
		} else {
			fuzz_check(f.op == PS_WSFRAME_CONT ? mop != -1 :
			    mop == -1, "a continuation continues, a new "
			    "message is new");
			fuzz_check(f.msgop == (f.op == PS_WSFRAME_CONT ? mop :
			    f.op), "a frame belongs to its message");
			fuzz_check(f.msgoff == mlen && f.last == f.fin,
			    "a frame goes where the message has reached");
			fuzz_check(f.len <= max - mlen,
			    "a message stays within the limit");
		}
		check_put(&before, &f);
		if (left - f.hlen < f.len)
			break;		/* the payload has not come */
		plen = (size_t)f.len;
		p += f.hlen;
		left -= f.hlen;
		check_mask(p, plen, f.msgoff);
		if (f.op == PS_WSFRAME_CLOSE) {
			fuzz_check(ps_wsframe_close_code(p, plen, &code) ==
			    (plen == 1 ? -1 : 0), "a close frame of one byte "
			    "is refused");
			fuzz_check(plen >= 2 ? code == (p[0] << 8 | p[1]) :
			    code == PS_WSFRAME_CLOSE_NO_CODE,
			    "a close code is its first two bytes");
		} else if (!(f.op & 0x8)) {
			memcpy(msg + mlen, p, plen);
			mlen += plen;
			mop = f.msgop;
			if (f.fin) {
				if (mop == PS_WSFRAME_TEXT)
					check_text(msg, mlen);
				mop = -1;
				mlen = 0;
			}
		}
		p += plen;
		left -= plen;
	}
	free(msg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static const size_t	limits[16] = {
		1, 2, 5, 125, 126, 127, 128, 200, 1000, 65535, 65536, 65537,
		1 << 20, (size_t)1 << 32, SIZE_MAX / 2, SIZE_MAX - 4096
	};
	const char		*protocol;
	size_t			 skip = 0;

	if (len < 1)
		return 0;
	protocol = data[0] & 0x10 ? "psctl.worker.v1" : NULL;
	if (len - 1 >= 5 && memcmp(data + 1, "HTTP/", 5) == 0)
		skip = answer(data + 1, len - 1, protocol);
	frames(data + 1 + skip, len - 1 - skip, limits[data[0] & 0x0f]);
	return 0;
}
