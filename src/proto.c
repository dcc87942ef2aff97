/*
 * The worker wire format, psctl.worker.v1: encoding into caller buffers and
 * validated decoding into borrowed views.  Part of libpsctl: no I/O, no
 * logging, malloc only for the view array of a decoded message.  Functions
 * share no state, so any thread may call them on its own buffers.
 *
 * Decoding trusts nothing: every length read from the message is checked
 * against the bytes that remain before it is used, and the checks that
 * bound work and memory (message size, record count) come first.
 */

#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "utf8.h"

#define PROTO_PAD8(n)	(((n) + 7) & ~(size_t)7)
/* The smallest record: its 8-byte head and a name padded to 8. */
#define PROTO_MINREC	16

static uint16_t	proto_get16(const unsigned char *);
static uint32_t	proto_get32(const unsigned char *);
static uint64_t	proto_get64(const unsigned char *);
static void	proto_put16(unsigned char *, uint16_t);
static void	proto_put32(unsigned char *, uint32_t);
static void	proto_put64(unsigned char *, uint64_t);
static int	proto_zero(const unsigned char *, size_t);
static int	proto_fail(int *, int, char *, size_t, const char *, ...)
		    __attribute__((__format__(__printf__, 5, 6)));
static int	proto_op_known(int);
static void	proto_hdr_read(const unsigned char *, struct ps_msg_hdr *);
static int	proto_hdr_check(const unsigned char *,
		    const struct ps_msg_hdr *, int *, char *, size_t);
static int	proto_record(const unsigned char *, size_t, size_t *,
		    size_t, struct ps_tview *, int *, char *, size_t);
static size_t	proto_rec_offset(const unsigned char *, const struct ps_tview *);
static int	proto_op_check(const unsigned char *, const struct ps_msg *,
		    int *, char *, size_t);

const char *
ps_op_name(int op)
{
	switch (op) {
	case PS_OP_HELLO:
		return ("hello");
	case PS_OP_INIT:
		return ("init");
	case PS_OP_PULL:
		return ("pull");
	case PS_OP_PUSH:
		return ("push");
	case PS_OP_REPLY:
		return ("reply");
	case PS_OP_ERROR:
		return ("error");
	}
	return ("unknown");
}

void
ps_msg_init(struct ps_msg *m)
{
	memset(m, 0, sizeof *m);
}

void
ps_msg_free(struct ps_msg *m)
{
	if (m == NULL)
		return;
	free(m->t);
	memset(m, 0, sizeof *m);
}

static uint16_t
proto_get16(const unsigned char *p)
{
	return ((uint16_t)(p[0] | (p[1] << 8)));
}

static uint32_t
proto_get32(const unsigned char *p)
{
	return ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24);
}

static uint64_t
proto_get64(const unsigned char *p)
{
	return ((uint64_t)proto_get32(p) | (uint64_t)proto_get32(p + 4) << 32);
}

static void
proto_put16(unsigned char *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static void
proto_put32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = v >> 24;
}

static void
proto_put64(unsigned char *p, uint64_t v)
{
	proto_put32(p, (uint32_t)v);
	proto_put32(p + 4, (uint32_t)(v >> 32));
}

static int
proto_zero(const unsigned char *p, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (p[i] != 0)
			return (0);
	}
	return (1);
}

/* Sets *code and the reason; returns -1 so callers can return it. */
static int
proto_fail(int *code, int c, char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	if (code != NULL)
		*code = c;
	if (err != NULL && errlen != 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return (-1);
}

static int
proto_op_known(int op)
{
	switch (op) {
	case PS_OP_HELLO:
	case PS_OP_INIT:
	case PS_OP_PULL:
	case PS_OP_PUSH:
	case PS_OP_REPLY:
	case PS_OP_ERROR:
		return (1);
	}
	return (0);
}

/* Reads the header fields without judging them; p has 40 bytes. */
static void
proto_hdr_read(const unsigned char *p, struct ps_msg_hdr *h)
{
	h->op = p[4];
	h->flags = p[5];
	h->status = proto_get16(p + 6);
	h->id = proto_get64(p + 8);
	h->version = proto_get64(p + 16);
	h->arg = proto_get64(p + 24);
	h->count = proto_get32(p + 32);
	h->textlen = proto_get32(p + 36);
}

/* Magic, flags and op, in that order. */
static int
proto_hdr_check(const unsigned char *p, const struct ps_msg_hdr *h,
    int *code, char *err, size_t errlen)
{
	uint32_t	magic = proto_get32(p);

	if (magic != PS_PROTO_MAGIC)
		return (proto_fail(code, PS_E_MALFORMED, err, errlen,
		    "header at byte 0: bad magic 0x%08x (want 0x%08x)",
		    (unsigned)magic, PS_PROTO_MAGIC));
	if (h->flags != 0)
		return (proto_fail(code, PS_E_MALFORMED, err, errlen,
		    "header at byte 5: flags 0x%02x, reserved bits must be 0",
		    h->flags));
	if (!proto_op_known(h->op))
		return (proto_fail(code, PS_E_UNKNOWN_OP, err, errlen,
		    "header at byte 4: unknown op %u", h->op));
	return (0);
}

int
ps_proto_decode_hdr(const void *buf, size_t len, struct ps_msg_hdr *h,
    char *err, size_t errlen)
{
	if (len < PS_PROTO_HDRLEN)
		return (proto_fail(NULL, 0, err, errlen,
		    "header: message is %zu bytes, shorter than the %d-byte "
		    "header", len, PS_PROTO_HDRLEN));
	proto_hdr_read(buf, h);
	return (proto_hdr_check(buf, h, NULL, err, errlen));
}

/*
 * Decodes the record at *off into v.  The caller has checked that *off is
 * 8-aligned and inside the message.  Advances *off past the record.
 */
static int
proto_record(const unsigned char *p, size_t len, size_t *off, size_t idx,
    struct ps_tview *v, int *code, char *err, size_t errlen)
{
	size_t		 at = *off, pos, namepad, elsize, n, datapad;
	unsigned	 namelen, dtype, ndim, i;
	uint32_t	 reserved;
	char		 shape[PS_DIMS_MAX * 22 + 4];

	if (len - at < PS_PROTO_RECHDR)
		return (proto_fail(code, PS_E_MALFORMED, err, errlen,
		    "record %zu at byte %zu: truncated record header "
		    "(%zu bytes left)", idx, at, len - at));
	namelen = proto_get16(p + at);
	dtype = p[at + 2];
	ndim = p[at + 3];
	reserved = proto_get32(p + at + 4);
	if (namelen < 1 || namelen > PS_NAME_MAX)
		return (proto_fail(code, PS_E_MALFORMED, err, errlen,
		    "record %zu at byte %zu: name length %u not in 1..%d",
		    idx, at, namelen, PS_NAME_MAX));
	switch (dtype) {
	case PS_DTYPE_NONE:
	case PS_DTYPE_F32:
	case PS_DTYPE_F16:
	case PS_DTYPE_BF16:
		break;
	default:
		/* F64 (4) is for checkpoints only and never on the wire. */
		return (proto_fail(code, PS_E_DTYPE, err, errlen,
		    "record %zu at byte %zu: dtype %u is not a wire dtype",
		    idx, at + 2, dtype));
	}
	if (ndim > PS_DIMS_MAX)
		return (proto_fail(code, PS_E_MALFORMED, err, errlen,
		    "record %zu at byte %zu: %u dimensions, at most %d",
		    idx, at + 3, ndim, PS_DIMS_MAX));
	if (reserved != 0)
		return (proto_fail(code, PS_E_MALFORMED, err, errlen,
		    "record %zu at byte %zu: reserved field is 0x%08x, not 0",
		    idx, at + 4, (unsigned)reserved));
	pos = at + PS_PROTO_RECHDR;

	if ((len - pos) / 8 < ndim)
		return (proto_fail(code, PS_E_MALFORMED, err, errlen,
		    "record %zu at byte %zu: %u dimensions run past the end",
		    idx, pos, ndim));
	for (i = 0; i < ndim; i++)
		v->dims[i] = proto_get64(p + pos + 8 * i);
	for (; i < PS_DIMS_MAX; i++)
		v->dims[i] = 0;
	pos += 8 * (size_t)ndim;

	namepad = PROTO_PAD8((size_t)namelen);
	if (len - pos < namepad)
		return (proto_fail(code, PS_E_MALFORMED, err, errlen,
		    "record %zu at byte %zu: name of %u bytes runs past the end",
		    idx, pos, namelen));
	if (!ps_name_valid((const char *)p + pos, namelen))
		return (proto_fail(code, PS_E_MALFORMED, err, errlen,
		    "record %zu at byte %zu: name is not valid UTF-8 "
		    "(or contains NUL)", idx, pos));
	if (!proto_zero(p + pos + namelen, namepad - namelen))
		return (proto_fail(code, PS_E_MALFORMED, err, errlen,
		    "record %zu at byte %zu: name padding is not zero",
		    idx, pos + namelen));
	v->name = (const char *)p + pos;
	v->namelen = namelen;
	v->dtype = dtype;
	v->ndim = ndim;
	pos += namepad;

	if (dtype == PS_DTYPE_NONE) {
		v->data = NULL;
		v->nbytes = 0;
		*off = pos;
		return (0);
	}
	elsize = ps_dtype_size(dtype);
	if (ps_shape_count(ndim, v->dims, elsize, &n) != 0 ||
	    n * elsize > len - pos) {
		ps_shape_format(ndim, v->dims, shape, sizeof shape);
		return (proto_fail(code, PS_E_MALFORMED, err, errlen,
		    "record %zu at byte %zu: data for %s %s runs past the "
		    "end (%zu bytes left)", idx, pos, ps_dtype_name(dtype),
		    shape, len - pos));
	}
	datapad = PROTO_PAD8(n * elsize);
	if (datapad > len - pos)
		return (proto_fail(code, PS_E_MALFORMED, err, errlen,
		    "record %zu at byte %zu: data padding runs past the end",
		    idx, pos + n * elsize));
	if (!proto_zero(p + pos + n * elsize, datapad - n * elsize))
		return (proto_fail(code, PS_E_MALFORMED, err, errlen,
		    "record %zu at byte %zu: data padding is not zero",
		    idx, pos + n * elsize));
	v->data = p + pos;
	v->nbytes = n * elsize;
	*off = pos + datapad;
	return (0);
}

/* Where a decoded record starts: its name less the head before it. */
static size_t
proto_rec_offset(const unsigned char *p, const struct ps_tview *v)
{
	return ((size_t)((const unsigned char *)v->name - p) -
	    PS_PROTO_RECHDR - 8 * (size_t)v->ndim);
}

/* Rules that depend on the op: status, record count, record dtypes. */
static int
proto_op_check(const unsigned char *p, const struct ps_msg *m, int *code,
    char *err, size_t errlen)
{
	size_t	i;

	if (m->h.op == PS_OP_ERROR) {
		if (m->h.status == 0)
			return (proto_fail(code, PS_E_MALFORMED, err, errlen,
			    "header at byte 6: error with status 0"));
		if (m->count != 0)
			return (proto_fail(code, PS_E_MALFORMED, err, errlen,
			    "header at byte 32: error with %zu records",
			    m->count));
		return (0);
	}
	if (m->h.status != 0)
		return (proto_fail(code, PS_E_MALFORMED, err, errlen,
		    "header at byte 6: status %u on a %s message",
		    m->h.status, ps_op_name(m->h.op)));
	switch (m->h.op) {
	case PS_OP_HELLO:
		if (m->count > 1)
			return (proto_fail(code, PS_E_MALFORMED, err, errlen,
			    "header at byte 32: hello with %zu records, at "
			    "most 1", m->count));
		/* FALLTHROUGH */
	case PS_OP_PULL:
		for (i = 0; i < m->count; i++) {
			if (m->t[i].dtype != PS_DTYPE_NONE)
				return (proto_fail(code, PS_E_DTYPE, err,
				    errlen, "record %zu at byte %zu: %s names "
				    "a tensor with dtype %s, not NONE", i,
				    proto_rec_offset(p, &m->t[i]) + 2,
				    ps_op_name(m->h.op),
				    ps_dtype_name(m->t[i].dtype)));
			if (m->t[i].ndim != 0)
				return (proto_fail(code, PS_E_MALFORMED, err,
				    errlen, "record %zu at byte %zu: %s names "
				    "a tensor with %u dimensions, not 0", i,
				    proto_rec_offset(p, &m->t[i]) + 3,
				    ps_op_name(m->h.op),
				    m->t[i].ndim));
		}
		break;
	case PS_OP_INIT:
	case PS_OP_PUSH:
		for (i = 0; i < m->count; i++) {
			if (m->t[i].dtype == PS_DTYPE_NONE)
				return (proto_fail(code, PS_E_DTYPE, err,
				    errlen, "record %zu at byte %zu: %s carries "
				    "a tensor without data (dtype NONE)", i,
				    proto_rec_offset(p, &m->t[i]) + 2,
				    ps_op_name(m->h.op)));
		}
		break;
	}
	return (0);
}

int
ps_proto_decode(const void *buf, size_t len, const struct ps_limits *lim,
    struct ps_msg *m, int *code, char *err, size_t errlen)
{
	const unsigned char	*p = buf;
	struct ps_tview		*t;
	size_t			 off, textpad, count, i;

	m->count = 0;
	m->text = NULL;
	m->textlen = 0;
	if (code != NULL)
		*code = PS_E_OK;
	if (err != NULL && errlen != 0)
		err[0] = '\0';

	/* The raw header, if there is one, so a refusal can echo its id. */
	memset(&m->h, 0, sizeof m->h);
	if (len >= PS_PROTO_HDRLEN)
		proto_hdr_read(p, &m->h);

	/* Limits first: they bound all later work. */
	if (lim != NULL && lim->max_message != 0 && len > lim->max_message)
		return (proto_fail(code, PS_E_TOO_LARGE, err, errlen,
		    "message of %zu bytes is over the limit of %zu", len,
		    lim->max_message));
	if (len < PS_PROTO_HDRLEN)
		return (proto_fail(code, PS_E_MALFORMED, err, errlen,
		    "header: message is %zu bytes, shorter than the %d-byte "
		    "header", len, PS_PROTO_HDRLEN));
	if (proto_hdr_check(p, &m->h, code, err, errlen) != 0)
		return (-1);
	count = m->h.count;
	if (lim != NULL && lim->max_tensors != 0 && count > lim->max_tensors)
		return (proto_fail(code, PS_E_TOO_LARGE, err, errlen,
		    "header at byte 32: %zu records, over the limit of %zu",
		    count, lim->max_tensors));
	if (m->h.textlen > PS_PROTO_TEXT_MAX)
		return (proto_fail(code, PS_E_TOO_LARGE, err, errlen,
		    "header at byte 36: text of %u bytes, over the limit of "
		    "%d", (unsigned)m->h.textlen, PS_PROTO_TEXT_MAX));

	/* The text. */
	off = PS_PROTO_HDRLEN;
	textpad = PROTO_PAD8((size_t)m->h.textlen);
	if (len - off < textpad)
		return (proto_fail(code, PS_E_MALFORMED, err, errlen,
		    "text at byte %zu: %u bytes (padded %zu) run past the end "
		    "of a %zu-byte message", off, (unsigned)m->h.textlen,
		    textpad, len));
	if (memchr(p + off, '\0', m->h.textlen) != NULL ||
	    !ps_utf8_valid(p + off, m->h.textlen))
		return (proto_fail(code, PS_E_MALFORMED, err, errlen,
		    "text at byte %zu: not valid UTF-8 (or contains NUL)",
		    off));
	if (!proto_zero(p + off + m->h.textlen, textpad - m->h.textlen))
		return (proto_fail(code, PS_E_MALFORMED, err, errlen,
		    "text at byte %zu: padding is not zero",
		    off + (size_t)m->h.textlen));
	off += textpad;

	/* Every record takes 16 bytes at least: bound count by the bytes. */
	if (count > (len - off) / PROTO_MINREC)
		return (proto_fail(code, PS_E_MALFORMED, err, errlen,
		    "header at byte 32: %zu records cannot fit in the %zu "
		    "bytes after the text", count, len - off));
	if (count > m->cap) {
		t = realloc(m->t, count * sizeof *t);
		if (t == NULL) {
			proto_fail(code, PS_E_INTERNAL, err, errlen,
			    "out of memory for %zu records", count);
			return (-2);
		}
		m->t = t;
		m->cap = count;
	}

	for (i = 0; i < count; i++) {
		if (proto_record(p, len, &off, i, &m->t[i], code, err,
		    errlen) != 0)
			return (-1);
	}
	if (off != len)
		return (proto_fail(code, PS_E_MALFORMED, err, errlen,
		    "%zu trailing bytes at byte %zu after %zu records",
		    len - off, off, count));

	m->count = count;
	if (proto_op_check(p, m, code, err, errlen) != 0) {
		m->count = 0;
		return (-1);
	}
	m->text = (const char *)p + PS_PROTO_HDRLEN;
	m->textlen = m->h.textlen;
	if (code != NULL)
		*code = PS_E_OK;
	return (0);
}

size_t
ps_proto_record_head_size(const struct ps_tview *v)
{
	return (PS_PROTO_RECHDR + 8 * (size_t)v->ndim +
	    PROTO_PAD8(v->namelen));
}

size_t
ps_proto_record_size(const struct ps_tview *v)
{
	size_t	n = v->dtype == PS_DTYPE_NONE ? 0 : v->nbytes;

	return (ps_proto_record_head_size(v) + PROTO_PAD8(n));
}

size_t
ps_proto_size(size_t textlen, const struct ps_tview *v, size_t n)
{
	size_t	total, elsize, count, rec, i;

	if (textlen > PS_PROTO_TEXT_MAX || n > UINT32_MAX)
		return (SIZE_MAX);
	total = PS_PROTO_HDRLEN + PROTO_PAD8(textlen);
	for (i = 0; i < n; i++) {
		if (v[i].namelen < 1 || v[i].namelen > PS_NAME_MAX ||
		    v[i].ndim > PS_DIMS_MAX)
			return (SIZE_MAX);
		if (v[i].dtype != PS_DTYPE_NONE) {
			elsize = ps_dtype_size(v[i].dtype);
			if (elsize == 0 || ps_shape_count(v[i].ndim,
			    v[i].dims, elsize, &count) != 0 ||
			    count * elsize != v[i].nbytes ||
			    v[i].nbytes > SIZE_MAX - 8)
				return (SIZE_MAX);
		}
		rec = ps_proto_record_size(&v[i]);
		if (rec > SIZE_MAX - total)
			return (SIZE_MAX);
		total += rec;
	}
	return (total);
}

void
ps_proto_put_hdr(void *buf, const struct ps_msg_hdr *h)
{
	unsigned char	*p = buf;

	proto_put32(p, PS_PROTO_MAGIC);
	p[4] = h->op;
	p[5] = h->flags;
	proto_put16(p + 6, h->status);
	proto_put64(p + 8, h->id);
	proto_put64(p + 16, h->version);
	proto_put64(p + 24, h->arg);
	proto_put32(p + 32, h->count);
	proto_put32(p + 36, h->textlen);
}

size_t
ps_proto_put_text(void *buf, const char *text, size_t len)
{
	unsigned char	*p = buf;
	size_t		 pad = PROTO_PAD8(len);

	if (len != 0)
		memcpy(p, text, len);
	memset(p + len, 0, pad - len);
	return (pad);
}

size_t
ps_proto_put_record_head(void *buf, const struct ps_tview *v)
{
	unsigned char	*p = buf;
	size_t		 pos, pad;
	unsigned	 i;

	proto_put16(p, (uint16_t)v->namelen);
	p[2] = (unsigned char)v->dtype;
	p[3] = (unsigned char)v->ndim;
	proto_put32(p + 4, 0);
	pos = PS_PROTO_RECHDR;
	for (i = 0; i < v->ndim; i++, pos += 8)
		proto_put64(p + pos, v->dims[i]);
	pad = PROTO_PAD8(v->namelen);
	memcpy(p + pos, v->name, v->namelen);
	memset(p + pos + v->namelen, 0, pad - v->namelen);
	return (pos + pad);
}

size_t
ps_proto_put_record(void *buf, const struct ps_tview *v)
{
	unsigned char	*p = buf;
	size_t		 pos, n, pad;

	pos = ps_proto_put_record_head(p, v);
	n = v->dtype == PS_DTYPE_NONE ? 0 : v->nbytes;
	pad = PROTO_PAD8(n);
	if (n != 0)
		memcpy(p + pos, v->data, n);
	memset(p + pos + n, 0, pad - n);
	return (pos + pad);
}

size_t
ps_proto_encode(void *buf, size_t cap, struct ps_msg_hdr *h,
    const char *text, size_t textlen, const struct ps_tview *v, size_t n)
{
	unsigned char	*p = buf;
	size_t		 size, off, i;

	size = ps_proto_size(textlen, v, n);
	if (size == SIZE_MAX || size > cap)
		return (0);
	h->count = (uint32_t)n;
	h->textlen = (uint32_t)textlen;
	ps_proto_put_hdr(p, h);
	off = PS_PROTO_HDRLEN;
	off += ps_proto_put_text(p + off, text, textlen);
	for (i = 0; i < n; i++)
		off += ps_proto_put_record(p + off, &v[i]);
	return (off);
}
