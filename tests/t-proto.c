/*
 * Tests for proto.c, the psctl.worker.v1 wire format.
 *
 * Expected bytes are written out by hand below (not produced by the
 * encoder), fixtures in tests/data/proto-py-*.bin come from the independent
 * Python implementation (tests/psproto.py, tests/data/mkproto.py), and a
 * seeded mutation fuzz checks that decoding never reads outside the buffer
 * (run it under the sanitizer build).
 *
 *	t-proto				run the tests (TAP)
 *	t-proto --write-fixtures DIR	write proto-c-*.bin for t-proto-py.py
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "tap.h"

#define ERRLEN	256

/* HELLO id 7, resume worker 9, text "w1". */
static const unsigned char hello_bytes[48] = {
	0x50, 0x53, 0x57, 0x31, 0x01, 0x00, 0x00, 0x00,	/* magic op flags status */
	0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* id 7 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* version 0 */
	0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* arg 9 */
	0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,	/* count 0, textlen 2 */
	'w',  '1',  0x00, 0x00, 0x00, 0x00, 0x00, 0x00	/* text, padding */
};

/* REPLY id 2, version 11: "w" F32 [3] = 1, 2, 3. */
static const unsigned char reply_bytes[80] = {
	0x50, 0x53, 0x57, 0x31, 0x10, 0x00, 0x00, 0x00,
	0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x0b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* count 1, textlen 0 */
	0x01, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00,	/* @40 namelen dtype ndim rsv */
	0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* @48 dims[0] = 3 */
	'w',  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* @56 name, padding */
	0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40,	/* @64 1.0f 2.0f */
	0x00, 0x00, 0x40, 0x40, 0x00, 0x00, 0x00, 0x00	/* @72 3.0f, padding */
};

/* PULL id 5: "a" and "bc", names only. */
static const unsigned char pull_bytes[72] = {
	0x50, 0x53, 0x57, 0x31, 0x03, 0x00, 0x00, 0x00,
	0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* count 2 */
	0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* @40 "a" NONE ndim 0 */
	'a',  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* @56 "bc" NONE ndim 0 */
	'b',  'c',  0x00, 0x00, 0x00, 0x00, 0x00, 0x00
};

/* PULL id 6 naming "a" with a shape [2]: refused (pull takes names only). */
static const unsigned char pull_shape_bytes[64] = {
	0x50, 0x53, 0x57, 0x31, 0x03, 0x00, 0x00, 0x00,
	0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
	0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	'a',  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00
};

/* ERROR id 5, status 6 (unknown_tensor), text "no tensor x" (11 bytes). */
static const unsigned char error_bytes[56] = {
	0x50, 0x53, 0x57, 0x31, 0x11, 0x00, 0x06, 0x00,
	0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x0b, 0x00, 0x00, 0x00,
	'n',  'o',  ' ',  't',  'e',  'n',  's',  'o',
	'r',  ' ',  'x',  0x00, 0x00, 0x00, 0x00, 0x00
};

/* A copy in its own exact-size allocation, so ASan sees any overread. */
struct tbuf {
	unsigned char	*p;
	size_t		 len;
};

static struct tbuf
tbuf_copy(const void *src, size_t len)
{
	struct tbuf	b;

	b.len = len;
	if ((b.p = malloc(len == 0 ? 1 : len)) == NULL)
		bail_out("out of memory");
	memcpy(b.p, src, len);
	return (b);
}

static void
tbuf_free(struct tbuf *b)
{
	free(b->p);
	b->p = NULL;
}

static int
decode(const struct tbuf *b, const struct ps_limits *lim, struct ps_msg *m,
    int *code, char *err)
{
	return (ps_proto_decode(b->p, b->len, lim, m, code, err, ERRLEN));
}

static void
put_u64(unsigned char *p, uint64_t v)
{
	int	i;

	for (i = 0; i < 8; i++)
		p[i] = (v >> (8 * i)) & 0xff;
}

static int
view_is(const struct ps_tview *v, const char *name)
{
	return (v->namelen == strlen(name) &&
	    memcmp(v->name, name, v->namelen) == 0);
}

static float
f32_at(const void *data, size_t i)
{
	float	f;

	memcpy(&f, (const unsigned char *)data + 4 * i, 4);
	return (f);
}

static void
test_hand_decode(void)
{
	struct ps_msg	m;
	struct tbuf	b;
	char		err[ERRLEN];
	int		code = -1;

	ps_msg_init(&m);

	b = tbuf_copy(hello_bytes, sizeof hello_bytes);
	ok(decode(&b, NULL, &m, &code, err) == 0 && code == PS_E_OK,
	    "a hand-assembled hello decodes");
	ok(m.h.op == PS_OP_HELLO && m.h.id == 7 && m.h.arg == 9 &&
	    m.h.version == 0 && m.count == 0,
	    "the hello's op, id 7 and resume id 9 are read");
	ok(m.textlen == 2 && memcmp(m.text, "w1", 2) == 0 &&
	    m.text == (const char *)b.p + 40,
	    "the hello's text \"w1\" is borrowed from byte 40");
	tbuf_free(&b);

	b = tbuf_copy(reply_bytes, sizeof reply_bytes);
	ok(decode(&b, NULL, &m, &code, err) == 0, "a hand-assembled reply "
	    "with one F32 tensor decodes");
	ok(m.h.op == PS_OP_REPLY && m.h.id == 2 && m.h.version == 11 &&
	    m.count == 1, "the reply's id 2, version 11 and count 1 are read");
	ok(view_is(&m.t[0], "w") && m.t[0].dtype == PS_DTYPE_F32 &&
	    m.t[0].ndim == 1 && m.t[0].dims[0] == 3 && m.t[0].nbytes == 12,
	    "the record is \"w\", F32, shape [3], 12 bytes");
	ok(m.t[0].data == b.p + 64 && m.t[0].name == (const char *)b.p + 56,
	    "the name is at byte 56 and the data at byte 64");
	ok(f32_at(m.t[0].data, 0) == 1.0f && f32_at(m.t[0].data, 1) == 2.0f &&
	    f32_at(m.t[0].data, 2) == 3.0f, "the data reads 1, 2, 3");
	tbuf_free(&b);

	b = tbuf_copy(pull_bytes, sizeof pull_bytes);
	ok(decode(&b, NULL, &m, &code, err) == 0 && m.count == 2 &&
	    view_is(&m.t[0], "a") && view_is(&m.t[1], "bc"),
	    "a pull naming \"a\" and \"bc\" decodes in order");
	ok(m.t[0].dtype == PS_DTYPE_NONE && m.t[1].data == NULL &&
	    m.t[1].nbytes == 0 && m.t[1].ndim == 0,
	    "pull names carry no data and no shape");
	tbuf_free(&b);

	b = tbuf_copy(error_bytes, sizeof error_bytes);
	ok(decode(&b, NULL, &m, &code, err) == 0 && m.h.op == PS_OP_ERROR &&
	    m.h.status == PS_E_UNKNOWN_TENSOR && m.h.id == 5 &&
	    m.textlen == 11 && memcmp(m.text, "no tensor x", 11) == 0,
	    "an error with status 6 and its reason decodes");
	tbuf_free(&b);

	ps_msg_free(&m);
}

static void
test_hand_encode(void)
{
	unsigned char		 out[128], out2[128];
	struct ps_msg_hdr	 h;
	struct ps_tview		 v[2];
	float			 w[3] = { 1.0f, 2.0f, 3.0f };
	size_t			 n, off;

	memset(&h, 0, sizeof h);
	h.op = PS_OP_HELLO;
	h.id = 7;
	h.arg = 9;
	n = ps_proto_encode(out, sizeof out, &h, "w1", 2, NULL, 0);
	ok(n == sizeof hello_bytes && memcmp(out, hello_bytes, n) == 0,
	    "the encoder writes the hello byte for byte");
	ok(h.textlen == 2 && h.count == 0,
	    "encode sets textlen and count in the header it is given");

	memset(&h, 0, sizeof h);
	h.op = PS_OP_REPLY;
	h.id = 2;
	h.version = 11;
	memset(v, 0, sizeof v);
	v[0].name = "w";
	v[0].namelen = 1;
	v[0].dtype = PS_DTYPE_F32;
	v[0].ndim = 1;
	v[0].dims[0] = 3;
	v[0].data = w;
	v[0].nbytes = sizeof w;
	is_int(ps_proto_record_head_size(&v[0]), 24,
	    "the head of \"w\" [3] is 8 + 8 + 8 bytes");
	is_int(ps_proto_record_size(&v[0]), 40,
	    "the record of \"w\" [3] F32 is 40 bytes with padding");
	is_int(ps_proto_size(0, v, 1), 80, "the reply is 80 bytes");
	n = ps_proto_encode(out, sizeof out, &h, NULL, 0, v, 1);
	ok(n == sizeof reply_bytes && memcmp(out, reply_bytes, n) == 0,
	    "the encoder writes the reply byte for byte");
	is_int(ps_proto_encode(out, 79, &h, NULL, 0, v, 1), 0,
	    "encode refuses a buffer one byte short");

	/* The pieces, as a zero-copy sender would use them. */
	memset(out2, 0xaa, sizeof out2);
	ps_proto_put_hdr(out2, &h);
	off = PS_PROTO_HDRLEN + ps_proto_put_text(out2 + 40, NULL, 0);
	off += ps_proto_put_record_head(out2 + off, &v[0]);
	memcpy(out2 + off, w, sizeof w);
	memset(out2 + off + sizeof w, 0, 4);
	ok(off == 64 && memcmp(out2, reply_bytes, 80) == 0,
	    "header, record head, data and padding assemble the same bytes");

	memset(&h, 0, sizeof h);
	h.op = PS_OP_PULL;
	h.id = 5;
	memset(v, 0, sizeof v);
	v[0].name = "a";
	v[0].namelen = 1;
	v[1].name = "bc";
	v[1].namelen = 2;
	n = ps_proto_encode(out, sizeof out, &h, NULL, 0, v, 2);
	ok(n == sizeof pull_bytes && memcmp(out, pull_bytes, n) == 0,
	    "the encoder writes the pull byte for byte");

	memset(&h, 0, sizeof h);
	h.op = PS_OP_ERROR;
	h.status = PS_E_UNKNOWN_TENSOR;
	h.id = 5;
	n = ps_proto_encode(out, sizeof out, &h, "no tensor x", 11, NULL, 0);
	ok(n == sizeof error_bytes && memcmp(out, error_bytes, n) == 0,
	    "the encoder writes the error byte for byte");

	/* Views the encoder must refuse. */
	memset(v, 0, sizeof v);
	v[0].name = "w";
	v[0].namelen = 1;
	v[0].dtype = PS_DTYPE_F32;
	v[0].ndim = 1;
	v[0].dims[0] = 3;
	v[0].data = w;
	v[0].nbytes = 8;
	ok(ps_proto_size(0, v, 1) == SIZE_MAX,
	    "a view whose nbytes disagrees with its shape is not encodable");
	v[0].nbytes = 12;
	v[0].namelen = 0;
	ok(ps_proto_size(0, v, 1) == SIZE_MAX,
	    "a view with an empty name is not encodable");
	ok(ps_proto_size(PS_PROTO_TEXT_MAX + 1, NULL, 0) == SIZE_MAX,
	    "text over 4096 bytes is not encodable");
	v[0].namelen = 1;
	v[0].dtype = PS_DTYPE_F64;
	v[0].nbytes = 24;
	ok(ps_proto_size(0, v, 1) != SIZE_MAX,
	    "ps_proto_size sizes F64 (checkpoint code may reuse it)");
}

/* One refusal: decode b, expect -1 with code and, if given, a substring. */
static void
refused(const struct tbuf *b, const struct ps_limits *lim, int want,
    const char *needle, const char *what)
{
	struct ps_msg	m;
	char		err[ERRLEN];
	int		code = -1, rc;

	ps_msg_init(&m);
	rc = decode(b, lim, &m, &code, err);
	if (!ok(rc == -1 && code == want && m.count == 0 && err[0] != '\0' &&
	    (needle == NULL || strstr(err, needle) != NULL), "%s", what))
		diag("rc %d, code %d (want %d), count %zu, reason \"%s\"", rc,
		    code, want, m.count, err);
	ps_msg_free(&m);
}

static void
test_refusals(void)
{
	struct ps_limits	lim;
	struct ps_msg		m;
	struct tbuf		b;
	unsigned char		big[96];
	char			err[ERRLEN];
	int			code;

	b = tbuf_copy(hello_bytes, 39);
	refused(&b, NULL, PS_E_MALFORMED, "shorter",
	    "39 bytes are refused as shorter than the header");
	tbuf_free(&b);

#define MUTATE(src, at, val, want, needle, what) do {			\
	b = tbuf_copy(src, sizeof src);					\
	b.p[at] = (val);						\
	refused(&b, NULL, want, needle, what);				\
	tbuf_free(&b);							\
} while (0)

	MUTATE(hello_bytes, 0, 'Q', PS_E_MALFORMED, "magic",
	    "a bad magic is refused");
	MUTATE(hello_bytes, 5, 0x01, PS_E_MALFORMED, "flags",
	    "a reserved flag bit is refused");
	MUTATE(hello_bytes, 4, 5, PS_E_UNKNOWN_OP, "op 5",
	    "op 5 is refused as unknown_op");
	MUTATE(hello_bytes, 40, 0xff, PS_E_MALFORMED, "text at byte 40",
	    "text that is not UTF-8 is refused");
	MUTATE(hello_bytes, 41, 0x00, PS_E_MALFORMED, "text at byte 40",
	    "text with a NUL is refused");
	MUTATE(hello_bytes, 44, 'x', PS_E_MALFORMED, "padding",
	    "non-zero text padding is refused");
	MUTATE(hello_bytes, 36, 9, PS_E_MALFORMED, "past the end",
	    "text whose padding runs past the end is refused");
	MUTATE(hello_bytes, 6, 3, PS_E_MALFORMED, "status 3",
	    "a status on a hello is refused");
	MUTATE(reply_bytes, 32, 5, PS_E_MALFORMED, "cannot fit",
	    "a record count the bytes cannot hold is refused before "
	    "allocating");
	MUTATE(reply_bytes, 40, 0, PS_E_MALFORMED, "record 0 at byte 40",
	    "an empty name is refused, naming record 0 and byte 40");
	MUTATE(reply_bytes, 42, 9, PS_E_DTYPE, "record 0 at byte 42",
	    "dtype 9 is refused as dtype");
	MUTATE(reply_bytes, 42, PS_DTYPE_F64, PS_E_DTYPE, "dtype 4",
	    "F64 is refused on the wire");
	MUTATE(reply_bytes, 43, 9, PS_E_MALFORMED, "9 dimensions",
	    "9 dimensions are refused");
	MUTATE(reply_bytes, 44, 1, PS_E_MALFORMED, "reserved",
	    "a non-zero reserved field is refused");
	MUTATE(reply_bytes, 43, 2, PS_E_MALFORMED, "record 0",
	    "a second dimension that swallows the name is refused");
	MUTATE(reply_bytes, 56, 0xc0, PS_E_MALFORMED, "record 0 at byte 56",
	    "a name that is not UTF-8 is refused, naming byte 56");
	MUTATE(reply_bytes, 57, 'x', PS_E_MALFORMED, "byte 57",
	    "non-zero name padding is refused");
	MUTATE(reply_bytes, 48, 5, PS_E_MALFORMED, "runs past the end",
	    "data longer than the message is refused");
	MUTATE(reply_bytes, 76, 1, PS_E_MALFORMED, "byte 76",
	    "non-zero data padding is refused");
	MUTATE(reply_bytes, 4, PS_OP_PULL, PS_E_DTYPE, "record 0 at byte 42",
	    "a pull carrying data is refused as dtype");
	MUTATE(pull_bytes, 4, PS_OP_HELLO, PS_E_MALFORMED, "hello with 2",
	    "a hello with records is refused");
	MUTATE(pull_bytes, 4, PS_OP_PUSH, PS_E_DTYPE, "byte 42: push",
	    "a push of names without data is refused as dtype");
	MUTATE(error_bytes, 6, 0, PS_E_MALFORMED, "status 0",
	    "an error with status 0 is refused");
	MUTATE(pull_shape_bytes, 0, 'P', PS_E_MALFORMED, "record 0 at byte 43",
	    "a pull name with a shape is refused");
#undef MUTATE

	b = tbuf_copy(pull_bytes, sizeof pull_bytes);
	b.p[4] = PS_OP_ERROR;
	b.p[6] = 1;
	refused(&b, NULL, PS_E_MALFORMED, "error with 2",
	    "an error with records is refused");
	tbuf_free(&b);

	b = tbuf_copy(reply_bytes, sizeof reply_bytes);
	b.p[40] = 0;
	b.p[41] = 1;
	refused(&b, NULL, PS_E_MALFORMED, "256",
	    "a 256-byte name length is refused");
	put_u64(b.p + 40, 0x0000000001010001ull);	/* restore */
	put_u64(b.p + 48, UINT64_MAX);
	refused(&b, NULL, PS_E_MALFORMED, "runs past the end",
	    "a dimension of 2^64-1 (overflowing bytes) is refused");
	tbuf_free(&b);

	b = tbuf_copy(hello_bytes, sizeof hello_bytes);
	b.p[36] = 0x01;
	b.p[37] = 0x10;		/* textlen 4097 */
	refused(&b, NULL, PS_E_TOO_LARGE, "4097",
	    "text of 4097 bytes is refused as too_large");
	tbuf_free(&b);

	memcpy(big, reply_bytes, sizeof reply_bytes);
	memset(big + 80, 0, 16);
	b = tbuf_copy(big, 88);
	refused(&b, NULL, PS_E_MALFORMED, "8 trailing bytes at byte 80",
	    "8 trailing bytes are refused");
	tbuf_free(&b);

	b = tbuf_copy(reply_bytes, 72);
	refused(&b, NULL, PS_E_MALFORMED, "record 0",
	    "a reply cut inside its data is refused");
	tbuf_free(&b);

	memset(&lim, 0, sizeof lim);
	lim.max_message = 79;
	b = tbuf_copy(reply_bytes, sizeof reply_bytes);
	refused(&b, &lim, PS_E_TOO_LARGE, "80 bytes",
	    "an 80-byte message over a 79-byte limit is too_large");
	tbuf_free(&b);
	lim.max_message = 80;
	lim.max_tensors = 1;
	b = tbuf_copy(pull_bytes, sizeof pull_bytes);
	refused(&b, &lim, PS_E_TOO_LARGE, "over the limit of 1",
	    "two records over a limit of one are too_large");
	tbuf_free(&b);

	/* The header survives a refusal, for the error reply's id. */
	ps_msg_init(&m);
	b = tbuf_copy(reply_bytes, sizeof reply_bytes);
	b.p[44] = 1;
	ok(decode(&b, NULL, &m, &code, err) == -1 && m.h.id == 2 &&
	    m.h.op == PS_OP_REPLY, "a refused message still reports its id");
	tbuf_free(&b);
	ps_msg_free(&m);
}

static void
test_roundtrip(void)
{
	static const float	 vals[6] = { 0.5f, -1.25f, 3.0f, 65504.0f,
				     5.9604645e-8f, -0.0f };
	unsigned char		 f16[12], bf16[12], *buf;
	float			 back[6], one = 7.0f;
	struct ps_msg_hdr	 h;
	struct ps_tview		 v[3];
	struct ps_msg		 m;
	struct ps_tview		*first;
	size_t			 n, size;
	char			 err[ERRLEN];
	int			 code, same = 1, i;

	ps_f32_to_f16(vals, f16, 6);
	ps_f32_to_bf16(vals, bf16, 6);
	memset(v, 0, sizeof v);
	v[0].name = "layer/f16";
	v[0].namelen = 9;
	v[0].dtype = PS_DTYPE_F16;
	v[0].ndim = 2;
	v[0].dims[0] = 2;
	v[0].dims[1] = 3;
	v[0].data = f16;
	v[0].nbytes = 12;
	v[1] = v[0];
	v[1].name = "layer/bf16";
	v[1].namelen = 10;
	v[1].dtype = PS_DTYPE_BF16;
	v[1].data = bf16;
	v[2].name = "scalar";
	v[2].namelen = 6;
	v[2].dtype = PS_DTYPE_F32;
	v[2].data = &one;
	v[2].nbytes = 4;

	memset(&h, 0, sizeof h);
	h.op = PS_OP_PUSH;
	h.id = UINT64_MAX;
	h.version = 1ull << 40;
	h.arg = 12345;
	size = ps_proto_size(0, v, 3);
	if ((buf = malloc(size)) == NULL)
		bail_out("out of memory");
	n = ps_proto_encode(buf, size, &h, NULL, 0, v, 3);
	ps_msg_init(&m);
	ok(n == size && ps_proto_decode(buf, n, NULL, &m, &code, err,
	    sizeof err) == 0 && m.count == 3,
	    "a push with F16, BF16 and a scalar round-trips");
	ok(m.h.id == UINT64_MAX && m.h.version == 1ull << 40 &&
	    m.h.arg == 12345, "64-bit header fields survive the round trip");
	for (i = 0; i < 3; i++) {
		if (((const unsigned char *)m.t[i].data - buf) % 8 != 0)
			same = 0;
	}
	ok(same, "every data block starts 8-byte aligned");
	ps_f16_to_f32(m.t[0].data, back, 6);
	same = m.t[0].ndim == 2 && m.t[0].dims[1] == 3;
	for (i = 0; i < 6; i++)
		same = same && back[i] == vals[i];
	ok(same, "F16 values that f16 holds exactly come back exactly");
	ps_bf16_to_f32(m.t[1].data, back, 6);
	ok(back[0] == 0.5f && back[1] == -1.25f && back[2] == 3.0f &&
	    back[3] == 65536.0f, "BF16 values come back rounded to 8 bits");
	ok(m.t[2].ndim == 0 && m.t[2].nbytes == 4 &&
	    f32_at(m.t[2].data, 0) == 7.0f, "a scalar has ndim 0 and 4 bytes");

	/* t[] is reused: no new allocation for a smaller message. */
	first = m.t;
	ok(ps_proto_decode(reply_bytes, sizeof reply_bytes, NULL, &m, &code,
	    err, sizeof err) == 0 && m.t == first && m.cap == 3,
	    "a second, smaller decode reuses the view array");
	ps_msg_free(&m);
	ok(m.t == NULL && m.cap == 0, "ps_msg_free releases and zeroes");
	free(buf);
}

/* --- fixtures ------------------------------------------------------- */

static int
read_file(const char *path, struct tbuf *b)
{
	FILE	*f;
	long	 len;

	if ((f = fopen(path, "rb")) == NULL)
		return (-1);
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return (-1);
	}
	b->len = (size_t)len;
	if ((b->p = malloc(b->len + 1)) == NULL ||
	    fread(b->p, 1, b->len, f) != b->len) {
		fclose(f);
		free(b->p);
		return (-1);
	}
	fclose(f);
	return (0);
}

/* Decodes tests/data/proto-py-NAME.bin or fails the test and returns -1. */
static int
fixture(const char *name, struct tbuf *b, struct ps_msg *m)
{
	char	path[64], err[ERRLEN];
	int	code;

	snprintf(path, sizeof path, "proto-py-%s.bin", name);
	if (read_file(tap_data(path), b) != 0) {
		ok(0, "fixture %s can be read", path);
		diag("%s: %s", tap_data(path), strerror(errno));
		return (-1);
	}
	if (ps_proto_decode(b->p, b->len, NULL, m, &code, err,
	    sizeof err) != 0) {
		ok(0, "fixture %s decodes", path);
		diag("%s", err);
		free(b->p);
		return (-1);
	}
	return (0);
}

/* C encoding equals the Python fixture byte for byte. */
static void
same_bytes(const struct tbuf *b, struct ps_msg *m, const char *name)
{
	unsigned char		*out;
	struct ps_msg_hdr	 h = m->h;
	size_t			 size, n;

	size = ps_proto_size(m->textlen, m->t, m->count);
	if ((out = malloc(size)) == NULL)
		bail_out("out of memory");
	n = ps_proto_encode(out, size, &h, m->text, m->textlen, m->t,
	    m->count);
	ok(n == b->len && memcmp(out, b->p, n) == 0,
	    "the C encoder reproduces proto-py-%s.bin byte for byte", name);
	free(out);
}

static void
test_fixtures(void)
{
	static const float	kernel[6] = { -1.0f, -0.5f, 0.0f, 0.5f, 1.0f,
				    1.5f };
	/* 1, -2, 0.5, 65504, 2^-24, 0 as f16; 1, -3 as bf16 */
	static const unsigned char	g16[12] = { 0x00, 0x3c, 0x00, 0xc0,
					    0x00, 0x38, 0xff, 0x7b, 0x01, 0x00,
					    0x00, 0x00 };
	static const unsigned char	gb16[4] = { 0x80, 0x3f, 0x40, 0xc0 };
	static const char	*errtext =
	    "shape of dense/bias is [3], the model has [2]";
	struct ps_msg		 m;
	struct tbuf		 b;
	int			 good, i;

	ps_msg_init(&m);
	if (fixture("hello", &b, &m) == 0) {
		ok(m.h.op == PS_OP_HELLO && m.h.id == 1 && m.textlen == 8 &&
		    memcmp(m.text, "worker-a", 8) == 0 && m.count == 0,
		    "Python's hello decodes: id 1, text \"worker-a\"");
		same_bytes(&b, &m, "hello");
		free(b.p);
	}
	if (fixture("hello-reply", &b, &m) == 0) {
		ok(m.h.op == PS_OP_REPLY && m.h.id == 1 && m.h.version == 5 &&
		    m.h.arg == 3 && m.textlen == 11 &&
		    memcmp(m.text, "psctl 0.1.0", 11) == 0 && m.count == 2 &&
		    view_is(&m.t[0], "dense/kernel") &&
		    m.t[0].dtype == PS_DTYPE_NONE && m.t[0].ndim == 2 &&
		    m.t[0].dims[0] == 3 && m.t[0].dims[1] == 2 &&
		    view_is(&m.t[1], "dense/bias") && m.t[1].ndim == 1 &&
		    m.t[1].dims[0] == 2, "Python's hello reply decodes: "
		    "worker 3, version 5, two names with shapes");
		same_bytes(&b, &m, "hello-reply");
		free(b.p);
	}
	if (fixture("pull", &b, &m) == 0) {
		ok(m.h.op == PS_OP_PULL && m.h.id == 2 && m.count == 1 &&
		    view_is(&m.t[0], "dense/bias") && m.t[0].ndim == 0,
		    "Python's pull decodes: one name");
		same_bytes(&b, &m, "pull");
		free(b.p);
	}
	if (fixture("pull-reply", &b, &m) == 0) {
		good = m.h.op == PS_OP_REPLY && m.h.id == 2 &&
		    m.h.version == 5 && m.count == 2 &&
		    view_is(&m.t[0], "dense/kernel") &&
		    m.t[0].dtype == PS_DTYPE_F32 && m.t[0].nbytes == 24 &&
		    view_is(&m.t[1], "dense/bias") && m.t[1].nbytes == 8;
		for (i = 0; good && i < 6; i++)
			good = f32_at(m.t[0].data, i) == kernel[i];
		ok(good && f32_at(m.t[1].data, 0) == 1.5f &&
		    f32_at(m.t[1].data, 1) == -2.25f,
		    "Python's pull reply decodes with the model's values");
		same_bytes(&b, &m, "pull-reply");
		free(b.p);
	}
	if (fixture("push", &b, &m) == 0) {
		ok(m.h.op == PS_OP_PUSH && m.h.id == 3 && m.h.version == 5 &&
		    m.h.arg == 1 && m.count == 2 &&
		    m.t[0].dtype == PS_DTYPE_F16 && m.t[0].nbytes == 12 &&
		    memcmp(m.t[0].data, g16, 12) == 0 &&
		    m.t[1].dtype == PS_DTYPE_BF16 && m.t[1].nbytes == 4 &&
		    memcmp(m.t[1].data, gb16, 4) == 0,
		    "Python's push decodes with the expected f16/bf16 bits");
		same_bytes(&b, &m, "push");
		free(b.p);
	}
	if (fixture("error", &b, &m) == 0) {
		ok(m.h.op == PS_OP_ERROR && m.h.status == PS_E_SHAPE &&
		    m.h.id == 3 && m.textlen == strlen(errtext) &&
		    memcmp(m.text, errtext, m.textlen) == 0,
		    "Python's error decodes: status shape and its reason");
		same_bytes(&b, &m, "error");
		free(b.p);
	}
	if (fixture("init", &b, &m) == 0) {
		ok(m.h.op == PS_OP_INIT && m.count == 2 &&
		    view_is(&m.t[0], "gr\xc3\xb6\xc3\x9f" "e/\xce\xb2") &&
		    m.t[0].ndim == 0 && f32_at(m.t[0].data, 0) == 42.0f &&
		    view_is(&m.t[1], "empty") && m.t[1].ndim == 2 &&
		    m.t[1].dims[0] == 0 && m.t[1].dims[1] == 3 &&
		    m.t[1].nbytes == 0, "Python's init decodes: a UTF-8 "
		    "scalar and a [0, 3] tensor");
		same_bytes(&b, &m, "init");
		free(b.p);
	}
	ps_msg_free(&m);
}

/*
 * The messages t-proto-py.py checks with psproto.py: "layer1/w" [2, 3, 4]
 * holds (i - 12) / 4, and the push carries f16 and bf16 made by tensor.c.
 */
#define C_FIXTURES	5

static float	c_w[24];
static float	c_b[4] = { 1e-3f, -1e30f, 3.4e38f, -0.0f };
static float	c_s = 7.0f;
static float	c_g[24];
static unsigned char c_g16[48], c_b16[8];

static size_t
c_fixture(int which, unsigned char *buf, size_t cap, const char **name)
{
	struct ps_msg_hdr	h;
	struct ps_tview		v[3];
	const char		*text = NULL;
	size_t			 n = 0;
	int			 i;

	for (i = 0; i < 24; i++) {
		c_w[i] = (float)(i - 12) / 4.0f;
		c_g[i] = (float)i * 0.1f - 1.2f;
	}
	ps_f32_to_f16(c_g, c_g16, 24);
	ps_f32_to_bf16(c_b, c_b16, 4);

	memset(&h, 0, sizeof h);
	memset(v, 0, sizeof v);
	v[0].name = "layer1/w";
	v[0].namelen = 8;
	v[0].ndim = 3;
	v[0].dims[0] = 2;
	v[0].dims[1] = 3;
	v[0].dims[2] = 4;
	v[1].name = "layer1/b";
	v[1].namelen = 8;
	v[1].ndim = 1;
	v[1].dims[0] = 4;
	v[2].name = "s";
	v[2].namelen = 1;
	switch (which) {
	case 0:
		*name = "hello";
		h.op = PS_OP_HELLO;
		h.id = 11;
		h.arg = 42;
		text = "w\xc3\xb6rker";
		break;
	case 1:
		*name = "hello-reply";
		h.op = PS_OP_REPLY;
		h.id = 11;
		h.version = 99;
		h.arg = 42;
		text = "psctl test";
		n = 3;
		break;
	case 2:
		*name = "pull-reply";
		h.op = PS_OP_REPLY;
		h.id = 12;
		h.version = 99;
		v[0].dtype = v[1].dtype = v[2].dtype = PS_DTYPE_F32;
		v[0].data = c_w;
		v[0].nbytes = sizeof c_w;
		v[1].data = c_b;
		v[1].nbytes = sizeof c_b;
		v[2].data = &c_s;
		v[2].nbytes = sizeof c_s;
		n = 3;
		break;
	case 3:
		*name = "push";
		h.op = PS_OP_PUSH;
		h.id = 13;
		h.version = 99;
		h.arg = 7;
		v[0].dtype = PS_DTYPE_F16;
		v[0].data = c_g16;
		v[0].nbytes = sizeof c_g16;
		v[1].dtype = PS_DTYPE_BF16;
		v[1].data = c_b16;
		v[1].nbytes = sizeof c_b16;
		n = 2;
		break;
	default:
		*name = "error";
		h.op = PS_OP_ERROR;
		h.status = PS_E_BUSY;
		h.id = 13;
		text = "too many waiting requests";
		break;
	}
	return (ps_proto_encode(buf, cap, &h, text, text == NULL ? 0 :
	    strlen(text), v, n));
}

static int
write_fixtures(const char *dir)
{
	unsigned char	 buf[512];
	const char	*name;
	char		 path[4096];
	FILE		*f;
	size_t		 n;
	int		 i;

	for (i = 0; i < C_FIXTURES; i++) {
		n = c_fixture(i, buf, sizeof buf, &name);
		snprintf(path, sizeof path, "%s/proto-c-%s.bin", dir, name);
		if (n == 0 || (f = fopen(path, "wb")) == NULL ||
		    fwrite(buf, 1, n, f) != n || fclose(f) != 0) {
			fprintf(stderr, "t-proto: %s: %s\n", path,
			    strerror(errno));
			return (1);
		}
	}
	return (0);
}

static void
test_c_fixtures(void)
{
	unsigned char	 buf[512];
	struct tbuf	 b;
	const char	*name;
	char		 path[64];
	size_t		 n;
	int		 i, same = 1;

	for (i = 0; i < C_FIXTURES; i++) {
		n = c_fixture(i, buf, sizeof buf, &name);
		snprintf(path, sizeof path, "proto-c-%s.bin", name);
		if (read_file(tap_data(path), &b) != 0) {
			diag("%s: %s", path, strerror(errno));
			same = 0;
			continue;
		}
		if (n == 0 || b.len != n || memcmp(b.p, buf, n) != 0) {
			diag("%s differs from what the encoder writes", path);
			same = 0;
		}
		free(b.p);
	}
	ok(same, "the encoder still writes the proto-c-*.bin fixtures that "
	    "t-proto-py.py checks");
}

/* --- fuzz ----------------------------------------------------------- */

static uint64_t	fuzz_state = 0x9e3779b97f4a7c15ull;

static uint64_t
fuzz_rand(void)
{
	uint64_t	x = fuzz_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return (fuzz_state = x);
}

/* Every view of an accepted message lies inside the buffer and agrees. */
static int
views_inside(const unsigned char *p, size_t len, const struct ps_msg *m)
{
	const struct ps_tview	*v;
	const unsigned char	*end = p + len, *name, *data;
	size_t			 i, n, elsize;

	if (m->textlen > PS_PROTO_TEXT_MAX ||
	    (const unsigned char *)m->text != p + PS_PROTO_HDRLEN ||
	    m->textlen > len - PS_PROTO_HDRLEN)
		return (0);
	for (i = 0; i < m->count; i++) {
		v = &m->t[i];
		name = (const unsigned char *)v->name;
		if (name < p || name > end || v->namelen > (size_t)(end - name)
		    || v->namelen == 0 || v->ndim > PS_DIMS_MAX)
			return (0);
		if (v->dtype == PS_DTYPE_NONE) {
			if (v->data != NULL || v->nbytes != 0)
				return (0);
			continue;
		}
		data = v->data;
		elsize = ps_dtype_size(v->dtype);
		if (data < p || data > end || v->nbytes > (size_t)(end - data)
		    || (size_t)(data - p) % 8 != 0 || elsize == 0 ||
		    ps_shape_count(v->ndim, v->dims, elsize, &n) != 0 ||
		    n * elsize != v->nbytes)
			return (0);
	}
	return (1);
}

static void
test_fuzz(void)
{
	static const char	*py[] = { "hello", "hello-reply", "pull",
				    "pull-reply", "push", "error", "init" };
	struct tbuf		 base[32], b;
	struct ps_limits	 lim = { 1 << 16, 64 };
	struct ps_msg		 m;
	unsigned char		*re;
	size_t			 nbase = 0, i, k, len, pos, relen;
	char			 err[ERRLEN], path[64];
	const char		*name;
	int			 iter, code, rc, ops, cap;
	int			 accepted = 0, refused_n = 0, outside = 0;
	int			 noncanon = 0, badcode = 0, badcount = 0;
	int			 noreason = 0;
	static const uint64_t	 nasty[] = { 0, 1, 7, 8, 9, 255, 256, 4096,
				     4097, 0x7fffffff, 0xffffffff,
				     1ull << 32, 1ull << 62, UINT64_MAX };

	base[nbase++] = tbuf_copy(hello_bytes, sizeof hello_bytes);
	base[nbase++] = tbuf_copy(reply_bytes, sizeof reply_bytes);
	base[nbase++] = tbuf_copy(pull_bytes, sizeof pull_bytes);
	base[nbase++] = tbuf_copy(error_bytes, sizeof error_bytes);
	for (i = 0; i < sizeof py / sizeof py[0]; i++) {
		snprintf(path, sizeof path, "proto-py-%s.bin", py[i]);
		if (read_file(tap_data(path), &base[nbase]) == 0)
			nbase++;
	}
	for (i = 0; i < C_FIXTURES; i++) {
		unsigned char	tmp[512];

		len = c_fixture((int)i, tmp, sizeof tmp, &name);
		base[nbase++] = tbuf_copy(tmp, len);
	}

	ps_msg_init(&m);
	for (iter = 0; iter < 40000; iter++) {
		const struct tbuf *src = &base[fuzz_rand() % nbase];

		/* Room to grow by up to 64 bytes; decode sees b.len. */
		cap = (int)src->len + 64;
		len = src->len;
		b.p = malloc((size_t)cap);
		if (b.p == NULL)
			bail_out("out of memory");
		memcpy(b.p, src->p, len);
		ops = 1 + (int)(fuzz_rand() % 4);
		while (ops-- > 0) {
			switch (fuzz_rand() % 6) {
			case 0:		/* truncate */
				len = fuzz_rand() % (len + 1);
				break;
			case 1:		/* flip a bit */
				if (len > 0)
					b.p[fuzz_rand() % len] ^=
					    1 << (fuzz_rand() % 8);
				break;
			case 2:		/* random byte */
				if (len > 0)
					b.p[fuzz_rand() % len] =
					    (unsigned char)fuzz_rand();
				break;
			case 3:		/* a nasty u64 at an aligned offset */
				if (len >= 8) {
					pos = (fuzz_rand() % (len / 8)) * 8;
					put_u64(b.p + pos,
					    nasty[fuzz_rand() % (sizeof nasty /
					    sizeof nasty[0])]);
				}
				break;
			case 4:		/* a nasty u16/u8 anywhere */
				if (len >= 2) {
					pos = fuzz_rand() % (len - 1);
					k = nasty[fuzz_rand() % 8];
					b.p[pos] = k & 0xff;
					if (fuzz_rand() & 1)
						b.p[pos + 1] = (k >> 8) & 0xff;
				}
				break;
			default:	/* extend */
				k = fuzz_rand() % 17;
				if (len + k <= (size_t)cap) {
					for (i = 0; i < k; i++)
						b.p[len + i] = fuzz_rand() & 1 ?
						    0 : (unsigned char)
						    fuzz_rand();
					len += k;
				}
				break;
			}
		}
		/* An exact-size copy, so any overread is an ASan error. */
		re = malloc(len == 0 ? 1 : len);
		if (re == NULL)
			bail_out("out of memory");
		memcpy(re, b.p, len);
		free(b.p);
		b.p = re;
		b.len = len;

		err[0] = '\0';
		rc = ps_proto_decode(b.p, b.len, &lim, &m, &code, err,
		    sizeof err);
		if (rc == 0) {
			accepted++;
			if (!views_inside(b.p, b.len, &m))
				outside++;
			relen = ps_proto_size(m.textlen, m.t, m.count);
			re = relen == SIZE_MAX ? NULL : malloc(relen);
			if (re == NULL || ps_proto_encode(re, relen, &m.h,
			    m.text, m.textlen, m.t, m.count) != b.len ||
			    memcmp(re, b.p, b.len) != 0)
				noncanon++;
			free(re);
		} else {
			refused_n++;
			if (rc != -1 || (code != PS_E_MALFORMED &&
			    code != PS_E_UNKNOWN_OP && code != PS_E_TOO_LARGE &&
			    code != PS_E_DTYPE))
				badcode++;
			if (m.count != 0)
				badcount++;
			if (err[0] == '\0' || strstr(err, "byte") == NULL)
				noreason++;
		}
		free(b.p);
	}
	ps_msg_free(&m);
	for (i = 0; i < nbase; i++)
		tbuf_free(&base[i]);

	diag("fuzz: %d mutants accepted, %d refused", accepted, refused_n);
	ok(accepted > 100 && refused_n > 10000,
	    "the fuzz exercises both acceptance and refusal");
	is_int(outside, 0, "no accepted mutant has a view outside its buffer");
	is_int(noncanon, 0, "every accepted mutant re-encodes to its own bytes");
	is_int(badcode, 0, "every refusal returns -1 with a decode error code");
	is_int(badcount, 0, "every refusal leaves count at 0");
	is_int(noreason, 0, "every refusal gives a reason naming a byte");
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--write-fixtures") == 0)
		return (write_fixtures(argv[2]));
	if (argc != 1) {
		fprintf(stderr, "usage: t-proto [--write-fixtures dir]\n");
		return (2);
	}

	plan(88);
	test_hand_decode();
	test_hand_encode();
	test_refusals();
	test_roundtrip();
	test_fixtures();
	test_c_fixtures();
	test_fuzz();
	return (exit_status());
}
