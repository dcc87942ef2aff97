/*
 * libpsctl: the worker side of psctl.worker.v1 (psctl.h) over wsc.c and
 * proto.c.  Every call sends one request and blocks for the reply with the
 * same id.
 *
 * Pushes are sent without copying the caller's floats into a message: the
 * request's fixed parts (header, record heads, padding) go into a small
 * reusable buffer, iovecs point at the caller's arrays, and wsc masks while
 * copying into its send buffer, the one copy there is.  Replies are decoded
 * in place: the tensors handed out point into wsc's receive buffer.  Once
 * the buffers have grown, no call allocates.
 *
 * Part of libpsctl: malloc and error reports, never exit, never log.  Runs
 * on the caller's thread; one thread per connection at a time.
 */
#include "config.h"

#include <sys/uio.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "psctl.h"
#include "tensor.h"
#include "wsc.h"

#define CLIENT_URL_DEFAULT	"ws://127.0.0.1:7070"
#define CLIENT_TIMEOUT_DEFAULT	30000
#define CLIENT_MAX_DEFAULT	((size_t)2 << 30)
#define CLIENT_MAX_TENSORS	(1U << 20)

/* A list of tensors handed out to the caller, with its own name storage. */
struct client_list {
	struct psctl_tensor	*t;	/* owned */
	size_t			 n;
	size_t			 cap;
	char			*names;	/* owned: NUL-terminated names */
	size_t			 names_cap;
};

struct psctl {
	struct ps_wsc		*ws;		/* owned */
	enum psctl_errcode	 err;
	int			 server_code;
	char			 errbuf[512];

	uint64_t		 worker_id;
	char			 secret[PS_RESUME_LEN + 1]; /* "" if none */
	uint64_t		 version;	/* as of the last reply */
	uint64_t		 base;		/* version of the last init/pull */
	uint64_t		 next_id;
	struct ps_limits	 limits;

	struct ps_msg		 msg;		/* the last reply, views into ws */
	struct client_list	 model;		/* names, shapes; data after init/pull */
	struct client_list	 sub;		/* the last pull of named tensors */

	unsigned char		*heads;		/* owned: request bytes but data */
	size_t			 heads_cap;
	struct iovec		*iov;		/* owned */
	size_t			 iov_cap;
	struct ps_tview		*views;		/* owned */
	size_t			 views_cap;
	const char		**names;	/* owned array, borrowed names */
	size_t			 names_cap;
};

static int	 client_fail(struct psctl *, enum psctl_errcode, const char *,
		     ...) __attribute__((__format__(__printf__, 3, 4)));
static int	 client_wsc_fail(struct psctl *);
static enum psctl_errcode client_map(enum ps_wsc_err);
static void	 client_forget(struct psctl *);
static int	 client_grow(struct psctl *, void **, size_t *, size_t,
		     size_t);
static int	 client_views(struct psctl *, const struct psctl_tensor *,
		     size_t);
static int	 client_request(struct psctl *, int, const char *, size_t,
		     uint64_t, uint64_t, size_t);
static int	 client_list_set(struct psctl *, struct client_list *, int);
static int	 client_hello(struct psctl *, const struct psctl_opts *,
		     const char *);
static void	 client_list_free(struct client_list *);

static int
client_fail(struct psctl *c, enum psctl_errcode err, const char *fmt, ...)
{
	va_list	ap;

	c->err = err;
	c->server_code = 0;
	va_start(ap, fmt);
	vsnprintf(c->errbuf, sizeof c->errbuf, fmt, ap);
	va_end(ap);
	return -1;
}

static enum psctl_errcode
client_map(enum ps_wsc_err e)
{
	switch (e) {
	case PS_WSC_OK:
		return PSCTL_OK;
	case PS_WSC_UNAVAILABLE:
		return PSCTL_E_UNAVAILABLE;
	case PS_WSC_AUTH:
		return PSCTL_E_AUTH;
	case PS_WSC_TLS:
		return PSCTL_E_TLS;
	case PS_WSC_TIMEOUT:
		return PSCTL_E_TIMEOUT;
	case PS_WSC_CLOSED:
		return PSCTL_E_CLOSED;
	case PS_WSC_NOMEM:
		return PSCTL_E_NOMEM;
	case PS_WSC_ARG:
		return PSCTL_E_ARG;
	case PS_WSC_HANDSHAKE:
	case PS_WSC_PROTOCOL:
	case PS_WSC_TOO_LARGE:
		break;
	}
	return PSCTL_E_PROTOCOL;
}

static int
client_wsc_fail(struct psctl *c)
{
	return client_fail(c, client_map(ps_wsc_errcode(c->ws)), "%s",
	    ps_wsc_error(c->ws));
}

/* Replies overwrite wsc's receive buffer: tensors handed out lose data. */
static void
client_forget(struct psctl *c)
{
	size_t	i;

	for (i = 0; i < c->model.n; i++)
		c->model.t[i].data = NULL;
	c->sub.n = 0;
	c->err = PSCTL_OK;
	c->server_code = 0;
	c->errbuf[0] = '\0';
}

/* Makes *p hold at least n elements of size sz. */
static int
client_grow(struct psctl *c, void **p, size_t *cap, size_t n, size_t sz)
{
	void	*np;
	size_t	 want;

	if (n <= *cap)
		return 0;
	want = *cap + *cap / 2;
	if (want < n)
		want = n;
	if (want > SIZE_MAX / sz || (np = realloc(*p, want * sz)) == NULL)
		return client_fail(c, PSCTL_E_NOMEM, "out of memory");
	*p = np;
	*cap = want;
	return 0;
}

/* Checks the caller's tensors and makes F32 views of them. */
static int
client_views(struct psctl *c, const struct psctl_tensor *t, size_t n)
{
	struct ps_tview	*v;
	size_t		 i, count, len;

	if (n > 0 && t == NULL)
		return client_fail(c, PSCTL_E_ARG, "no tensors");
	if (n > UINT32_MAX)
		return client_fail(c, PSCTL_E_ARG, "too many tensors");
	if (client_grow(c, (void **)&c->views, &c->views_cap, n,
	    sizeof *c->views) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (t[i].name == NULL)
			return client_fail(c, PSCTL_E_ARG, "tensor %zu has no "
			    "name", i);
		len = strlen(t[i].name);
		if (!ps_name_valid(t[i].name, len))
			return client_fail(c, PSCTL_E_ARG, "tensor %zu: name "
			    "is not 1..%d bytes of UTF-8", i, PS_NAME_MAX);
		if (t[i].ndim > PSCTL_DIMS_MAX)
			return client_fail(c, PSCTL_E_ARG, "tensor %s: %u "
			    "dimensions, at most %d", t[i].name, t[i].ndim,
			    PSCTL_DIMS_MAX);
		if (ps_shape_count(t[i].ndim, t[i].dims, sizeof(float),
		    &count) == -1 || count != t[i].n)
			return client_fail(c, PSCTL_E_ARG, "tensor %s: n is "
			    "%zu, its shape holds %zu", t[i].name, t[i].n,
			    count);
		if (t[i].n > 0 && t[i].data == NULL)
			return client_fail(c, PSCTL_E_ARG, "tensor %s has no "
			    "data", t[i].name);
		v = &c->views[i];
		memset(v, 0, sizeof *v);
		v->name = t[i].name;
		v->namelen = len;
		v->dtype = PS_DTYPE_F32;
		v->ndim = t[i].ndim;
		memcpy(v->dims, t[i].dims, t[i].ndim * sizeof v->dims[0]);
		v->data = t[i].data;
		v->nbytes = t[i].n * sizeof(float);
	}
	return 0;
}

/*
 * Sends op with text, version, arg and the n records in c->views, then
 * waits for its reply: 0 with the REPLY in c->msg, or -1.  Record data is
 * gathered from where the views point: one iovec each, between iovecs for
 * the heads and paddings, which are built in c->heads.
 */
static int
client_request(struct psctl *c, int op, const char *text, size_t textlen,
    uint64_t version, uint64_t arg, size_t n)
{
	static const unsigned char zero[8];
	struct ps_msg_hdr	 h;
	const struct ps_tview	*v;
	unsigned char		*p, *seg;
	void			*buf;
	size_t			 need, i, pad, niov = 0, len;
	uint64_t		 id;
	int			 is_text, code, r;
	char			 why[256];

	if (ps_proto_size(textlen, c->views, n) == SIZE_MAX)
		return client_fail(c, PSCTL_E_ARG, "the request is too large");
	need = PS_PROTO_HDRLEN + textlen + 8;
	for (i = 0; i < n; i++)
		need += ps_proto_record_head_size(&c->views[i]) + 8;
	if (client_grow(c, (void **)&c->heads, &c->heads_cap, need, 1) == -1 ||
	    client_grow(c, (void **)&c->iov, &c->iov_cap, 2 * n + 1,
	    sizeof *c->iov) == -1)
		return -1;

	id = ++c->next_id;
	memset(&h, 0, sizeof h);
	h.op = op;
	h.id = id;
	h.version = version;
	h.arg = arg;
	h.count = (uint32_t)n;
	h.textlen = (uint32_t)textlen;
	p = seg = c->heads;
	ps_proto_put_hdr(p, &h);
	p += PS_PROTO_HDRLEN;
	p += ps_proto_put_text(p, text, textlen);
	for (i = 0; i < n; i++) {
		v = &c->views[i];
		p += ps_proto_put_record_head(p, v);
		if (v->nbytes == 0)
			continue;
		c->iov[niov].iov_base = seg;
		c->iov[niov++].iov_len = p - seg;
		c->iov[niov].iov_base = (void *)v->data;
		c->iov[niov++].iov_len = v->nbytes;
		seg = p;
		pad = (8 - (v->nbytes & 7)) & 7;
		memcpy(p, zero, pad);
		p += pad;
	}
	if (p > seg) {
		c->iov[niov].iov_base = seg;
		c->iov[niov++].iov_len = p - seg;
	}
	if (ps_wsc_send(c->ws, 0, c->iov, (int)niov) == -1)
		return client_wsc_fail(c);

	for (;;) {
		if (ps_wsc_recv(c->ws, &buf, &len, &is_text,
		    c->limits.max_message, -1) == -1)
			return client_wsc_fail(c);
		if (is_text)
			return client_fail(c, PSCTL_E_PROTOCOL, "the server sent "
			    "a text message");
		r = ps_proto_decode(buf, len, &c->limits, &c->msg, &code, why,
		    sizeof why);
		if (r == -2)
			return client_fail(c, PSCTL_E_NOMEM, "%s", why);
		if (r == -1)
			return client_fail(c, PSCTL_E_PROTOCOL, "bad reply from "
			    "the server: %s", why);
		/* Replies to requests given up on after a time-out. */
		if (c->msg.h.id != 0 && c->msg.h.id < id)
			continue;
		break;
	}
	if (c->msg.h.op == PS_OP_ERROR && (c->msg.h.id == id ||
	    c->msg.h.id == 0)) {
		c->err = PSCTL_E_SERVER;
		c->server_code = c->msg.h.status;
		if (c->msg.textlen > 0)
			snprintf(c->errbuf, sizeof c->errbuf, "%.*s",
			    (int)c->msg.textlen, c->msg.text);
		else
			snprintf(c->errbuf, sizeof c->errbuf, "the server "
			    "refused the %s (%s)", ps_op_name(op),
			    ps_errcode_name(c->msg.h.status));
		return -1;
	}
	if (c->msg.h.op != PS_OP_REPLY || c->msg.h.id != id)
		return client_fail(c, PSCTL_E_PROTOCOL, "expected the reply "
		    "to request %llu, got %s %llu", (unsigned long long)id,
		    ps_op_name(c->msg.h.op), (unsigned long long)c->msg.h.id);
	c->version = c->msg.h.version;
	return 0;
}

/*
 * Fills l from the reply's records: names copied (NUL-terminated), data
 * pointing into the receive buffer when with_data (F32 required).
 */
static int
client_list_set(struct psctl *c, struct client_list *l, int with_data)
{
	const struct ps_tview	*v;
	struct psctl_tensor	*t;
	size_t			 i, names = 0, count;
	char			*np;

	for (i = 0; i < c->msg.count; i++) {
		v = &c->msg.t[i];
		if (with_data && v->dtype != PS_DTYPE_F32)
			return client_fail(c, PSCTL_E_PROTOCOL, "the reply's "
			    "tensor %.*s is %s, not F32", (int)v->namelen,
			    v->name, v->dtype == PS_DTYPE_NONE ? "empty" :
			    ps_dtype_name(v->dtype));
		if (ps_shape_count(v->ndim, v->dims, sizeof(float),
		    &count) == -1)
			return client_fail(c, PSCTL_E_PROTOCOL, "the reply's "
			    "tensor %.*s has too large a shape",
			    (int)v->namelen, v->name);
		names += v->namelen + 1;
	}
	if (client_grow(c, (void **)&l->t, &l->cap, c->msg.count,
	    sizeof *l->t) == -1 ||
	    client_grow(c, (void **)&l->names, &l->names_cap, names, 1) == -1)
		return -1;
	np = l->names;
	for (i = 0; i < c->msg.count; i++) {
		v = &c->msg.t[i];
		t = &l->t[i];
		memcpy(np, v->name, v->namelen);
		np[v->namelen] = '\0';
		t->name = np;
		np += v->namelen + 1;
		t->ndim = v->ndim;
		memset(t->dims, 0, sizeof t->dims);
		memcpy(t->dims, v->dims, v->ndim * sizeof t->dims[0]);
		ps_shape_count(v->ndim, v->dims, sizeof(float), &t->n);
		t->data = with_data ? (float *)(uintptr_t)v->data : NULL;
	}
	l->n = c->msg.count;
	return 0;
}

static void
client_list_free(struct client_list *l)
{
	free(l->t);
	free(l->names);
}

/*
 * Says HELLO, presenting o's resume secret when it resumes a worker, and
 * keeps the reply: the worker id, the model's names and shapes, and the
 * resume secret (the records named "__..." are not model tensors).
 */
static int
client_hello(struct psctl *c, const struct psctl_opts *o, const char *name)
{
	const struct ps_tview	*v;
	size_t			 n = 0, len, i, j;

	if (o->resume_id != 0 && o->resume_secret != NULL) {
		len = strlen(o->resume_secret);
		if (len != PS_RESUME_LEN || strncmp(o->resume_secret,
		    PS_RESUME_PREFIX, sizeof PS_RESUME_PREFIX - 1) != 0)
			return client_fail(c, PSCTL_E_ARG, "resume_secret is "
			    "not what psctl_resume_secret() gives");
		if (client_grow(c, (void **)&c->views, &c->views_cap, 1,
		    sizeof *c->views) == -1)
			return -1;
		memset(&c->views[0], 0, sizeof c->views[0]);
		c->views[0].name = o->resume_secret;
		c->views[0].namelen = len;
		c->views[0].dtype = PS_DTYPE_NONE;
		n = 1;
	}
	if (client_request(c, PS_OP_HELLO, name, strlen(name), 0,
	    o->resume_id, n) == -1) {
		if (c->err == PSCTL_E_SERVER &&
		    c->server_code == PSCTL_SERVER_UNAUTHORIZED)
			c->err = PSCTL_E_AUTH;
		return -1;
	}
	/* Take the "__" records out of the reply: they are not tensors. */
	for (i = j = 0; i < c->msg.count; i++) {
		v = &c->msg.t[i];
		if (v->namelen < 2 || memcmp(v->name, "__", 2) != 0) {
			c->msg.t[j++] = *v;
			continue;
		}
		if (v->namelen == PS_RESUME_LEN && memcmp(v->name,
		    PS_RESUME_PREFIX, sizeof PS_RESUME_PREFIX - 1) == 0) {
			memcpy(c->secret, v->name, PS_RESUME_LEN);
			c->secret[PS_RESUME_LEN] = '\0';
		}
	}
	c->msg.count = j;
	if (client_list_set(c, &c->model, 0) == -1)
		return -1;
	c->worker_id = c->msg.h.arg;
	c->base = c->version;
	return 0;
}

struct psctl *
psctl_connect(const struct psctl_opts *opts, char *err, size_t errlen,
    enum psctl_errcode *code)
{
	static const struct psctl_opts	 none;
	const struct psctl_opts		*o = opts != NULL ? opts : &none;
	struct ps_wsc_opts		 wo;
	struct psctl			*c;
	enum ps_wsc_err			 werr;
	const char			*name = o->name != NULL ? o->name : "";
	char				 why[256];

	if (code != NULL)
		*code = PSCTL_OK;
	if ((c = calloc(1, sizeof *c)) == NULL) {
		snprintf(err, errlen, "out of memory");
		if (code != NULL)
			*code = PSCTL_E_NOMEM;
		return NULL;
	}
	ps_msg_init(&c->msg);
	c->limits.max_message = o->max_message != 0 ? o->max_message :
	    CLIENT_MAX_DEFAULT;
	c->limits.max_tensors = CLIENT_MAX_TENSORS;

	memset(&wo, 0, sizeof wo);
	wo.url = o->url;
	if (wo.url == NULL && ((wo.url = getenv("PSCTL_URL")) == NULL ||
	    *wo.url == '\0'))
		wo.url = CLIENT_URL_DEFAULT;
	wo.protocol = PS_WORKER_PROTOCOL;
	wo.token = o->token;
	wo.ca_file = o->ca_file;
	wo.timeout_ms = o->timeout_ms > 0 ? o->timeout_ms :
	    CLIENT_TIMEOUT_DEFAULT;

	if (strlen(name) > PS_PROTO_TEXT_MAX ||
	    (*name != '\0' && !ps_name_valid(name, strlen(name)))) {
		client_fail(c, PSCTL_E_ARG, "the worker name is not UTF-8 of "
		    "at most %d bytes", PS_PROTO_TEXT_MAX);
		goto fail;
	}
	if ((c->ws = ps_wsc_connect(&wo, &werr, why, sizeof why)) == NULL) {
		client_fail(c, client_map(werr), "%s", why);
		goto fail;
	}
	if (client_hello(c, o, name) == -1)
		goto fail;
	return c;

fail:
	snprintf(err, errlen, "%s", c->errbuf);
	if (code != NULL)
		*code = c->err;
	psctl_close(c);
	return NULL;
}

void
psctl_close(struct psctl *c)
{
	if (c == NULL)
		return;
	ps_wsc_close(c->ws);
	ps_msg_free(&c->msg);
	client_list_free(&c->model);
	client_list_free(&c->sub);
	free(c->heads);
	free(c->iov);
	free(c->views);
	free(c->names);
	free(c);
}

uint64_t
psctl_worker_id(const struct psctl *c)
{
	return c->worker_id;
}

const char *
psctl_resume_secret(const struct psctl *c)
{
	return c->secret[0] != '\0' ? c->secret : NULL;
}

const struct psctl_tensor *
psctl_model(const struct psctl *c, size_t *n)
{
	*n = c->model.n;
	return c->model.t;
}

uint64_t
psctl_version(const struct psctl *c)
{
	return c->version;
}

int
psctl_init(struct psctl *c, const struct psctl_tensor *t, size_t n,
    uint64_t *version)
{
	client_forget(c);
	if (n == 0)
		return client_fail(c, PSCTL_E_ARG, "a model needs at least "
		    "one tensor");
	if (client_views(c, t, n) == -1 ||
	    client_request(c, PS_OP_INIT, NULL, 0, 0, 0, n) == -1 ||
	    client_list_set(c, &c->model, 1) == -1)
		return -1;
	c->base = c->version;
	if (version != NULL)
		*version = c->version;
	return 0;
}

int
psctl_pull(struct psctl *c, const char *const *names, size_t nnames,
    const struct psctl_tensor **out, size_t *nout, uint64_t *version)
{
	struct ps_tview	*v;
	size_t		 i;

	client_forget(c);
	if (names == NULL)
		nnames = 0;
	if (client_grow(c, (void **)&c->views, &c->views_cap, nnames,
	    sizeof *c->views) == -1)
		return -1;
	for (i = 0; i < nnames; i++) {
		if (names[i] == NULL ||
		    !ps_name_valid(names[i], strlen(names[i])))
			return client_fail(c, PSCTL_E_ARG, "name %zu is not "
			    "1..%d bytes of UTF-8", i, PS_NAME_MAX);
		v = &c->views[i];
		memset(v, 0, sizeof *v);
		v->name = names[i];
		v->namelen = strlen(names[i]);
		v->dtype = PS_DTYPE_NONE;
	}
	if (client_request(c, PS_OP_PULL, NULL, 0, 0, 0, nnames) == -1 ||
	    client_list_set(c, nnames == 0 ? &c->model : &c->sub, 1) == -1)
		return -1;
	c->base = c->version;
	if (out != NULL)
		*out = nnames == 0 ? c->model.t : c->sub.t;
	if (nout != NULL)
		*nout = nnames == 0 ? c->model.n : c->sub.n;
	if (version != NULL)
		*version = c->version;
	return 0;
}

int
psctl_pull_into(struct psctl *c, struct psctl_tensor *t, size_t n,
    uint64_t *version)
{
	const struct psctl_tensor	*got;
	const char			**names;
	size_t				 i, j, k, ngot;
	char				 a[PS_DIMS_MAX * 22 + 4], b[sizeof a];

	client_forget(c);
	if (n == 0 || t == NULL)
		return client_fail(c, PSCTL_E_ARG, "no tensors to pull into");
	if (client_grow(c, (void **)&c->names, &c->names_cap, n,
	    sizeof *c->names) == -1)
		return -1;
	names = c->names;
	for (i = 0; i < n; i++)
		names[i] = t[i].name;
	if (psctl_pull(c, names, n, &got, &ngot, NULL) == -1)
		return -1;

	/* Match every tensor before copying any. */
	for (i = 0; i < n; i++) {
		for (k = 0; k < ngot; k++) {
			j = (i + k) % ngot;
			if (strcmp(got[j].name, t[i].name) == 0)
				break;
		}
		if (k == ngot)
			return client_fail(c, PSCTL_E_PROTOCOL, "the reply "
			    "lacks tensor %s", t[i].name);
		if (got[j].ndim != t[i].ndim || memcmp(got[j].dims, t[i].dims,
		    t[i].ndim * sizeof t[i].dims[0]) != 0) {
			ps_shape_format(t[i].ndim, t[i].dims, a, sizeof a);
			ps_shape_format(got[j].ndim, got[j].dims, b, sizeof b);
			return client_fail(c, PSCTL_E_ARG, "tensor %s: shape %s "
			    "here, %s on the server", t[i].name, a, b);
		}
		if (t[i].n != got[j].n || (t[i].n > 0 && t[i].data == NULL))
			return client_fail(c, PSCTL_E_ARG, "tensor %s: n or "
			    "data does not fit its shape", t[i].name);
	}
	for (i = 0; i < n; i++) {
		for (k = 0; k < ngot; k++) {
			j = (i + k) % ngot;
			if (strcmp(got[j].name, t[i].name) == 0)
				break;
		}
		if (t[i].n > 0)
			memcpy(t[i].data, got[j].data, t[i].n * sizeof(float));
	}
	if (version != NULL)
		*version = c->version;
	return 0;
}

int
psctl_push(struct psctl *c, const struct psctl_tensor *t, size_t n,
    uint64_t *version)
{
	client_forget(c);
	if (client_views(c, t, n) == -1 ||
	    client_request(c, PS_OP_PUSH, NULL, 0, c->base, 0, n) == -1)
		return -1;
	if (version != NULL)
		*version = c->version;
	return 0;
}

enum psctl_errcode
psctl_errcode(const struct psctl *c)
{
	return c->err;
}

const char *
psctl_error(const struct psctl *c)
{
	return c->errbuf;
}

int
psctl_server_code(const struct psctl *c)
{
	return c->err == PSCTL_E_SERVER ? c->server_code : 0;
}
