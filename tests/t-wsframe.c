/*
 * RFC 6455 framing without a socket (src/wsframe.c): frame headers read
 * from bytes as they arrive, the rules a client holds the server to,
 * headers written, masking, and the opening handshake's request and
 * answer.  Expected bytes are worked out from RFC 6455's own examples.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "utf8.h"
#include "wsframe.h"

/* Reads the header at b (n bytes) with a fresh reader capped at max. */
static enum ps_wsframe_res
read1(const void *b, size_t n, size_t max, struct ps_wsframe *f, size_t *need)
{
	struct ps_wsframe_rx	rx;

	ps_wsframe_rx_init(&rx, max);
	return ps_wsframe_read(&rx, b, n, f, need);
}

/* Checks that the frame b (n bytes) is refused with close code and why. */
static void
refused(const char *what, const void *b, size_t n, int code, const char *why)
{
	struct ps_wsframe	f;
	size_t			need;
	int			r;

	r = read1(b, n, 1 << 20, &f, &need);
	ok(r == PS_WSFRAME_ERROR && f.close_code == code &&
	    strstr(f.why, why) != NULL, "%s is refused with %d (%s)", what,
	    code, r == PS_WSFRAME_ERROR ? f.why : "not refused");
}

static void
test_read(void)
{
	/* RFC 6455 5.7: an unmasked "Hello", then in two fragments. */
	static const unsigned char hello[] = {
		0x81, 0x05, 'H', 'e', 'l', 'l', 'o'
	};
	static const unsigned char frag[] = {
		0x01, 0x03, 'H', 'e', 'l', 0x80, 0x02, 'l', 'o'
	};
	static const unsigned char ping[] = { 0x89, 0x05 };
	static const unsigned char b256[] = { 0x82, 0x7e, 0x01, 0x00 };
	static const unsigned char b64k[] = {
		0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0
	};
	struct ps_wsframe_rx	rx;
	struct ps_wsframe	f;
	size_t			need, i, off;
	int			r, steps;

	r = read1(hello, 0, 100, &f, &need);
	ok(r == PS_WSFRAME_NEED && need == 2, "no bytes: a header needs 2");
	r = read1(hello, 1, 100, &f, &need);
	ok(r == PS_WSFRAME_NEED && need == 2, "one byte: still 2");
	r = read1(hello, sizeof hello, 100, &f, &need);
	ok(r == PS_WSFRAME_DONE && f.op == PS_WSFRAME_TEXT && f.fin &&
	    f.hlen == 2 && f.len == 5 && f.msgop == PS_WSFRAME_TEXT &&
	    f.msgoff == 0 && f.last,
	    "RFC 6455's unmasked \"Hello\" is one whole text message of 5");

	r = read1(b256, 2, 1000, &f, &need);
	ok(r == PS_WSFRAME_NEED && need == 4,
	    "a 16-bit length asks for 4 header bytes");
	r = read1(b256, 4, 1000, &f, &need);
	ok(r == PS_WSFRAME_DONE && f.hlen == 4 && f.len == 256 &&
	    f.op == PS_WSFRAME_BINARY, "RFC 6455's 256-byte binary frame");
	r = read1(b64k, 3, 1 << 20, &f, &need);
	ok(r == PS_WSFRAME_NEED && need == 10,
	    "a 64-bit length asks for 10 header bytes");
	r = read1(b64k, 10, 1 << 20, &f, &need);
	ok(r == PS_WSFRAME_DONE && f.hlen == 10 && f.len == 65536,
	    "RFC 6455's 64 KiB binary frame");
	r = read1(b64k, 10, 65535, &f, &need);
	ok(r == PS_WSFRAME_ERROR && f.close_code == PS_WSFRAME_CLOSE_TOO_BIG,
	    "the same frame over a 65535-byte cap is too big (%s)", f.why);

	/* Fragments, with a ping between them, fed a byte at a time. */
	ps_wsframe_rx_init(&rx, 100);
	r = ps_wsframe_read(&rx, frag, sizeof frag, &f, &need);
	ok(r == PS_WSFRAME_DONE && !f.fin && !f.last && f.len == 3 &&
	    f.msgop == PS_WSFRAME_TEXT && rx.msgop == PS_WSFRAME_TEXT,
	    "a first fragment starts a text message");
	r = ps_wsframe_read(&rx, ping, sizeof ping, &f, &need);
	ok(r == PS_WSFRAME_DONE && f.op == PS_WSFRAME_PING && f.len == 5 &&
	    rx.msgop == PS_WSFRAME_TEXT && rx.msglen == 3,
	    "a ping between fragments leaves the message as it was");
	off = f.hlen + 3;
	steps = 0;
	for (i = 0; i <= sizeof frag - off; i++) {
		r = ps_wsframe_read(&rx, frag + off, i, &f, &need);
		if (r != PS_WSFRAME_NEED)
			break;
		steps++;
	}
	ok(r == PS_WSFRAME_DONE && steps == 2 && f.op == PS_WSFRAME_CONT &&
	    f.msgop == PS_WSFRAME_TEXT && f.msgoff == 3 && f.len == 2 &&
	    f.last, "the last fragment, fed a byte at a time, ends the "
	    "message at offset 3");
	ok(rx.msgop == -1 && rx.msglen == 0,
	    "and the reader is between messages again");

	ps_wsframe_rx_init(&rx, 4);
	ps_wsframe_read(&rx, frag, sizeof frag, &f, &need);
	r = ps_wsframe_read(&rx, frag + 5, 4, &f, &need);
	ok(r == PS_WSFRAME_ERROR && f.close_code == PS_WSFRAME_CLOSE_TOO_BIG,
	    "fragments that add up past the cap are too big (%s)", f.why);
}

static void
test_refused(void)
{
	static const unsigned char rsv[] = { 0xc1, 0x00 };
	static const unsigned char masked[] = { 0x81, 0x85, 1, 2, 3, 4 };
	static const unsigned char top[] = {
		0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 1
	};
	static const unsigned char opcode[] = { 0x83, 0x00 };
	static const unsigned char ctlop[] = { 0x8b, 0x00 };
	static const unsigned char fragping[] = { 0x09, 0x00 };
	static const unsigned char bigping[] = { 0x89, 0x7e, 0x00, 0x7e };
	static const unsigned char cont[] = { 0x80, 0x00 };
	static const unsigned char first[] = { 0x01, 0x01 };
	struct ps_wsframe_rx	rx;
	struct ps_wsframe	f;
	size_t			need;
	int			r, code;

	refused("a frame with a reserved bit", rsv, sizeof rsv,
	    PS_WSFRAME_CLOSE_PROTOCOL, "reserved bits 0x40");
	refused("a masked frame from the server", masked, sizeof masked,
	    PS_WSFRAME_CLOSE_PROTOCOL, "masked");
	refused("a 64-bit length with its top bit", top, sizeof top,
	    PS_WSFRAME_CLOSE_PROTOCOL, "top bit");
	refused("opcode 3", opcode, sizeof opcode, PS_WSFRAME_CLOSE_PROTOCOL,
	    "unknown opcode 0x3");
	refused("control opcode 0xb", ctlop, sizeof ctlop,
	    PS_WSFRAME_CLOSE_PROTOCOL, "unknown control opcode 0xb");
	refused("a fragmented ping", fragping, sizeof fragping,
	    PS_WSFRAME_CLOSE_PROTOCOL, "fragmented");
	refused("a ping of 126 bytes", bigping, sizeof bigping,
	    PS_WSFRAME_CLOSE_PROTOCOL, "over 125");
	refused("a continuation outside a message", cont, sizeof cont,
	    PS_WSFRAME_CLOSE_PROTOCOL, "without a message");
	ps_wsframe_rx_init(&rx, 100);
	ps_wsframe_read(&rx, first, sizeof first, &f, &need);
	r = ps_wsframe_read(&rx, first, sizeof first, &f, &need);
	ok(r == PS_WSFRAME_ERROR && strstr(f.why, "inside") != NULL,
	    "a new message inside a fragmented one is refused (%s)", f.why);

	ok(ps_wsframe_close_code("\x03\xe8" "bye", 5, &code) == 0 &&
	    code == 1000, "a close payload carries its code (1000)");
	ok(ps_wsframe_close_code("", 0, &code) == 0 &&
	    code == PS_WSFRAME_CLOSE_NO_CODE, "an empty close has no code");
	ok(ps_wsframe_close_code("\x03", 1, &code) == -1,
	    "a close payload of one byte is refused");

	ok(ps_utf8_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	    14), "UTF-8 of 1 to 4 bytes a character is text");
	ok(ps_utf8_valid("a\0b", 3), "U+0000 is text too");
	ok(!ps_utf8_valid("\xc0\xaf", 2) &&
	    !ps_utf8_valid("\xed\xa0\x80", 3) &&
	    !ps_utf8_valid("\xf4\x90\x80\x80", 4) &&
	    !ps_utf8_valid("\xe2\x82", 2),
	    "overlong, surrogate, past U+10FFFF and cut UTF-8 is not");
}

static void
test_write(void)
{
	static const unsigned char key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	/* RFC 6455 5.7: "Hello" masked with 37 fa 21 3d. */
	static const unsigned char want[] = {
		0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51,
		0x58
	};
	unsigned char	 b[PS_WSFRAME_HDR_MAX + 5], *src, *dst, *back;
	size_t		 h, n, off, i, bad = 0;

	h = ps_wsframe_put_header(b, 1, PS_WSFRAME_TEXT, 5, key);
	ps_wsframe_mask(b + h, (const unsigned char *)"Hello", 5, key, 0);
	ok(h + 5 == sizeof want && memcmp(b, want, sizeof want) == 0,
	    "RFC 6455's masked \"Hello\" comes out byte for byte");
	h = ps_wsframe_put_header(b, 0, PS_WSFRAME_BINARY, 256, key);
	ok(h == 8 && b[0] == 0x02 && b[1] == 0xfe && b[2] == 1 && b[3] == 0,
	    "256 bytes take a 16-bit length, masked, not final");
	h = ps_wsframe_put_header(b, 1, PS_WSFRAME_CONT, 65536, key);
	ok(h == 14 && b[1] == 0xff && b[7] == 1 && b[8] == 0 && b[9] == 0 &&
	    memcmp(b + 10, key, 4) == 0, "65536 bytes take a 64-bit length");

	/* Every length and phase against the byte-at-a-time definition. */
	src = malloc(200);
	dst = malloc(200);
	back = malloc(200);
	if (src == NULL || dst == NULL || back == NULL)
		bail_out("out of memory");
	for (i = 0; i < 200; i++)
		src[i] = (unsigned char)(i * 7 + 3);
	for (n = 0; n < 100; n++) {
		for (off = 0; off < 8; off++) {
			ps_wsframe_mask(dst + 1, src + 3, n, key, off);
			for (i = 0; i < n; i++) {
				if (dst[1 + i] != (src[3 + i] ^
				    key[(off + i) % 4]))
					bad++;
			}
			memcpy(back, dst + 1, n);
			ps_wsframe_mask(back, back, n, key, off);
			if (memcmp(back, src + 3, n) != 0)
				bad++;
		}
	}
	ok(bad == 0, "masking matches the definition for lengths 0..99, "
	    "phases 0..7, unaligned, and in place undoes itself");
	free(src);
	free(dst);
	free(back);
}

static void
test_handshake(void)
{
	static const unsigned char nonce[16] = {
		't', 'h', 'e', ' ', 's', 'a', 'm', 'p', 'l', 'e', ' ', 'n',
		'o', 'n', 'c', 'e'
	};
	char		 key[PS_WSFRAME_KEY_LEN], acc[PS_WSFRAME_ACCEPT_LEN];
	char		 buf[1024], why[256], *req;
	const char	*ans;
	size_t		 hdrlen, n;
	int		 status, r;

	ps_wsframe_key(nonce, key);
	is_str(key, "dGhlIHNhbXBsZSBub25jZQ==",
	    "RFC 6455's sample nonce gives its key");
	ps_wsframe_accept(key, acc);
	is_str(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
	    "and the key gives RFC 6455's accept");

	req = ps_wsframe_request("?x=1", "h:80", key, "p.v1", "tok");
	ok(req != NULL && strncmp(req, "GET /?x=1 HTTP/1.1\r\nHost: h:80\r\n",
	    32) == 0 && strstr(req, "\r\nSec-WebSocket-Protocol: p.v1\r\n") !=
	    NULL && strstr(req, "\r\nAuthorization: Bearer tok\r\n") != NULL &&
	    strstr(req, "\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
	    != NULL && strcmp(req + strlen(req) - 4, "\r\n\r\n") == 0,
	    "the request asks for the path, protocol and token given");
	free(req);
	req = ps_wsframe_request("/", "h:80", key, NULL, NULL);
	ok(req != NULL && strncmp(req, "GET / HTTP", 10) == 0 &&
	    strstr(req, "Protocol") == NULL && strstr(req, "Bearer") == NULL,
	    "without a protocol or token it asks for neither");
	free(req);

	ans = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: "
	    "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: p.v1\r\n"
	    "\r\n\x81\x02hi";
	n = strlen(ans);
	memcpy(buf, ans, n - 5);
	buf[n - 5] = '\0';
	r = ps_wsframe_answer(buf, n - 5, acc, "p.v1", &status, &hdrlen, why,
	    sizeof why);
	ok(r == PS_WSFRAME_NEED && memcmp(buf, ans, n - 5) == 0,
	    "an answer without its empty line needs more, untouched");
	memcpy(buf, ans, n + 1);
	r = ps_wsframe_answer(buf, n, acc, "p.v1", &status, &hdrlen, why,
	    sizeof why);
	ok(r == PS_WSFRAME_DONE && status == 101 && hdrlen == n - 4 &&
	    memcmp(buf + hdrlen, "\x81\x02hi", 4) == 0,
	    "a 101 with the right accept and protocol is done, and the frame "
	    "behind it is left in place");
	memcpy(buf, ans, n + 1);
	r = ps_wsframe_answer(buf, n, acc, "q.v1", &status, &hdrlen, why,
	    sizeof why);
	ok(r == PS_WSFRAME_ERROR && strstr(why, "q.v1") != NULL,
	    "another protocol than the one asked for is refused (%s)", why);
	memcpy(buf, ans, n + 1);
	buf[strlen("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: s")] = 'X';
	r = ps_wsframe_answer(buf, n, acc, "p.v1", &status, &hdrlen, why,
	    sizeof why);
	ok(r == PS_WSFRAME_ERROR && strstr(why, "wrong Sec-WebSocket-Accept")
	    != NULL, "a wrong accept is refused (%s)", why);

	snprintf(buf, sizeof buf, "HTTP/1.1 401 Unauthorized\r\n\r\n");
	r = ps_wsframe_answer(buf, strlen(buf), acc, NULL, &status, &hdrlen,
	    why, sizeof why);
	ok(r == PS_WSFRAME_ERROR && status == 401 && strstr(why, "token"),
	    "a 401 is refused with its status (%s)", why);
	snprintf(buf, sizeof buf, "SSH-2.0-OpenSSH\r\n\r\n");
	r = ps_wsframe_answer(buf, strlen(buf), acc, NULL, &status, &hdrlen,
	    why, sizeof why);
	ok(r == PS_WSFRAME_ERROR && status == 0 && strstr(why, "not an HTTP"),
	    "something that is not HTTP is refused (%s)", why);
	memcpy(buf, "HTTP/1.1 101 OK\r\n\0", 18);
	r = ps_wsframe_answer(buf, 18, acc, NULL, &status, &hdrlen, why,
	    sizeof why);
	ok(r == PS_WSFRAME_ERROR && strstr(why, "NUL") != NULL,
	    "a NUL byte in the answer is refused");
}

int
main(void)
{
	plan(43);
	test_read();
	test_refused();
	test_write();
	test_handshake();
	return exit_status();
}
