/*
 * The requests of psctl.worker.v1 (wreq.h): decoded with proto.c and
 * answered against the server core.  Service thread only.
 */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "log.h"
#include "mode.h"
#include "proto.h"
#include "sendq.h"
#include "server.h"
#include "store.h"
#include "tensor.h"
#include "utf8.h"
#include "wreq.h"
#include "xmalloc.h"

/* Longest worker name kept, bytes. */
#define WREQ_NAME_MAX		128
/* Replies up to this size go out as one frame (see wreq_send). */
#define WREQ_COALESCE_MAX	((size_t)64 << 10)

/*
 * A push still in the sync round whose connection closed: its buffers,
 * moved from the connection, until the round ends, so that the round's
 * sum can be made again if another push leaves it.
 */
struct ps_wreq_kept {
	uint64_t		 round_seq;
	uint64_t		 wid;
	uint8_t			*held;		/* owned */
	struct ps_msg		 msg;		/* owned views into held */
	struct ps_tview		*cv;		/* owned */
	float			*scratch;	/* owned */
	const struct ps_tview	*v;		/* msg.t or cv */
	TAILQ_ENTRY(ps_wreq_kept) entry;
};

/* One push of the round, for wreq_round_redo(). */
struct wreq_part {
	uint64_t		 round_seq;
	struct ps_conn		*c;		/* NULL for a kept one */
	struct ps_wreq_kept	*k;
};

static void	wreq_hello(struct ps_conn *);
static void	wreq_init(struct ps_conn *);
static void	wreq_pull(struct ps_conn *);
static void	wreq_pull_answer(struct ps_conn *);
static void	wreq_push(struct ps_conn *);
static void	wreq_push_sync(struct ps_conn *);
static int	wreq_f32(struct ps_conn *, const struct ps_tview **);
static int	wreq_names(struct ps_conn *, uint8_t *);
static void	wreq_send(struct ps_conn *, uint8_t, uint16_t, uint64_t,
		    uint64_t, uint64_t, const char *, size_t, struct ps_buf *,
		    uint32_t);
static void	wreq_model(struct ps_conn *);
static void	wreq_error(struct ps_conn *, int, const char *, ...)
		    __attribute__((__format__(__printf__, 3, 4)));
static void	wreq_push_reject(struct ps_conn *, int, char *);
static void	wreq_park(struct ps_conn *, enum ps_park);
static void	wreq_unpark(struct ps_conn *);
static int	wreq_retry(struct ps_conn *);
static void	wreq_round_done(struct ps_conn *, uint64_t, const char *);
static void	wreq_wake(struct ps_wreq_vhd *);
static char	*wreq_name(const char *, size_t);
static void	wreq_keep(struct ps_conn *);
static void	wreq_kept_free(struct ps_wreq_vhd *);
static void	wreq_round_out(struct ps_conn *);
static void	wreq_round_redo(struct ps_wreq_vhd *);
static int	wreq_part_cmp(const void *, const void *);
static void	wreq_kick(void *, struct ps_worker *, const char *);

/* The requests a worker may send, and whether HELLO must come first. */
static const struct wreq_op {
	uint8_t	  op;
	void	(*fn)(struct ps_conn *);
	int	  after_hello;
} wreq_ops[] = {
	{ PS_OP_HELLO,	wreq_hello,	0 },
	{ PS_OP_INIT,	wreq_init,	1 },
	{ PS_OP_PULL,	wreq_pull,	1 },
	{ PS_OP_PUSH,	wreq_push,	1 },
};
#define WREQ_NOPS	(sizeof wreq_ops / sizeof wreq_ops[0])

void
ps_wreq_vhd_init(struct ps_wreq_vhd *vhd, struct ps_server *srv,
    const struct ps_wreq_ops *ops)
{
	memset(vhd, 0, sizeof *vhd);
	vhd->srv = srv;
	vhd->ops = ops;
	vhd->total = ps_server_counters(srv);
	vhd->max_message = ps_server_opts(srv)->max_message;
	vhd->max_tensors = ps_server_opts(srv)->max_tensors;
	TAILQ_INIT(&vhd->conns);
	TAILQ_INIT(&vhd->parked);
	TAILQ_INIT(&vhd->kept);
	ps_server_set_kick(srv, wreq_kick, vhd);
}

void
ps_wreq_vhd_free(struct ps_wreq_vhd *vhd)
{
	wreq_kept_free(vhd);
}

/*
 * An operator kicks w (ps_server_kick()): a request it has parked is
 * answered with ERROR unauthorized, it leaves, and its connection closes
 * with 1008 and reason.
 */
static void
wreq_kick(void *arg, struct ps_worker *w, const char *reason)
{
	struct ps_wreq_vhd	*vhd = arg;
	struct ps_conn		*c = w->conn;

	if (c == NULL || c->w != w)
		return;
	if (c->park != PS_PARK_NONE)
		wreq_error(c, PS_E_UNAUTHORIZED, "%s", reason);
	ps_server_worker_leave(vhd->srv, w, "kicked by an operator");
	c->w = NULL;
	vhd->ops->close(c, PS_WREQ_CLOSE_POLICY, reason);
	wreq_wake(vhd);
}

void
ps_wreq_open(struct ps_wreq_vhd *vhd, struct ps_conn *c, struct lws *wsi,
    const char *address)
{
	memset(c, 0, sizeof *c);
	c->srv = vhd->srv;
	c->vhd = vhd;
	c->wsi = wsi;
	snprintf(c->address, sizeof c->address, "%s", address);
	ps_msg_init(&c->msg);
	ps_sendq_init(&c->q);
	TAILQ_INSERT_TAIL(&vhd->conns, c, entry);
	ps_log_debug("connection from %s", c->address);
}

void
ps_wreq_closed(struct ps_conn *c)
{
	struct ps_server	*srv = c->srv;
	struct ps_wreq_vhd	*vhd = c->vhd;
	enum ps_server_state	 state = ps_server_state(srv);

	/* Its push stays in the round (psctl-protocol(7)): keep its data. */
	if (c->in_round && state == PS_SERVER_SERVING)
		wreq_keep(c);
	c->in_round = 0;
	if (c->park != PS_PARK_NONE) {
		TAILQ_REMOVE(&vhd->parked, c, park_entry);
		c->park = PS_PARK_NONE;
	}
	TAILQ_REMOVE(&vhd->conns, c, entry);
	if (c->w != NULL && state != PS_SERVER_STOPPED)
		ps_server_worker_leave(srv, c->w, "disconnected");
	else if (c->w != NULL)
		c->w->conn = NULL;
	c->w = NULL;
	ps_sendq_clear(&c->q);
	ps_msg_free(&c->msg);
	free(c->held);
	free(c->cv);
	free(c->scratch);
	c->held = NULL;
	c->cv = NULL;
	c->scratch = NULL;
	if (state == PS_SERVER_STOPPED)
		return;
	ps_log_debug("connection from %s closed", c->address);
	if (state == PS_SERVER_DRAINING && TAILQ_EMPTY(&vhd->conns))
		return;
	wreq_wake(vhd);
}

void
ps_wreq_too_large(struct ps_conn *c)
{
	/* Refused unread: counted with the refused pushes, as too_large. */
	c->vhd->total->errors++;
	c->vhd->total->error_codes[PS_E_TOO_LARGE]++;
	c->vhd->total->push_rejects++;
	c->vhd->total->push_reject_codes[PS_E_TOO_LARGE]++;
	if (c->w != NULL) {
		c->w->c.errors++;
		c->w->c.error_codes[PS_E_TOO_LARGE]++;
		c->w->c.push_rejects++;
		c->w->c.push_reject_codes[PS_E_TOO_LARGE]++;
	}
}

void
ps_wreq_reset(struct ps_wreq_vhd *vhd, uint64_t version)
{
	struct ps_conn	*c, *next;

	for (c = TAILQ_FIRST(&vhd->parked); c != NULL; c = next) {
		next = TAILQ_NEXT(c, park_entry);
		if (c->park == PS_PARK_PUSH_ROUND)
			wreq_round_done(c, version,
			    "update dropped: the model was reset");
	}
	wreq_kept_free(vhd);
	wreq_wake(vhd);
}

void
ps_wreq_tick(struct ps_wreq_vhd *vhd, int64_t now)
{
	struct ps_server	*srv = vhd->srv;
	struct ps_worker	*w;
	struct ps_conn		*c;
	int64_t			 limit;

	limit = (int64_t)ps_server_opts(srv)->worker_timeout * 1000000;
	TAILQ_FOREACH(c, &vhd->conns, entry) {
		if (limit <= 0)
			break;
		if ((w = c->w) == NULL || c->park != PS_PARK_NONE ||
		    c->closing || now - w->last_seen_us <= limit)
			continue;
		ps_log_warn("worker %llu (%s) at %s silent for %.0f s: timed "
		    "out", (unsigned long long)w->id, w->name, w->address,
		    (double)(now - w->last_seen_us) / 1e6);
		ps_server_worker_leave(srv, w, "timed out");
		c->w = NULL;
		vhd->ops->close(c, PS_WREQ_CLOSE_POLICY,
		    "silent longer than --worker-timeout");
	}
	/* Timeouts, and what waited while the server was held, go on. */
	wreq_wake(vhd);
}

void
ps_wreq_stopping(struct ps_wreq_vhd *vhd)
{
	struct ps_conn	*c, *next;

	ps_log_info("stopping: closing %zu connections",
	    (size_t)ps_server_workers_connected(vhd->srv));
	for (c = TAILQ_FIRST(&vhd->parked); c != NULL; c = next) {
		next = TAILQ_NEXT(c, park_entry);
		wreq_error(c, PS_E_SHUTDOWN, "%s", "the server is stopping");
	}
	TAILQ_FOREACH(c, &vhd->conns, entry)
		vhd->ops->close(c, PS_WREQ_CLOSE_GOING_AWAY,
		    "the server is stopping");
}

void
ps_wreq_message(struct ps_conn *c, const uint8_t *buf, size_t len)
{
	struct ps_server	*srv = c->srv;
	struct ps_limits	 lim;
	char			 err[256];
	size_t			 i;
	int			 code, r;

	c->vhd->total->bytes_in += len;
	if (c->w != NULL) {
		c->w->c.bytes_in += len;
		c->w->last_seen_us = ps_server_now_us();
	}
	lim.max_message = c->vhd->max_message;
	lim.max_tensors = c->vhd->max_tensors;
	r = ps_proto_decode(buf, len, &lim, &c->msg, &code, err, sizeof err);
	if (r == -2) {
		wreq_error(c, PS_E_INTERNAL, "out of memory decoding the "
		    "message");
		return;
	}
	if (r != 0) {
		/*
		 * A push refused in validation (a dtype, too many records,
		 * bad UTF-8...) is counted as a refused push, as one the
		 * model refuses is.
		 */
		if (c->w != NULL && len >= PS_PROTO_HDRLEN &&
		    memcmp(buf, "PSW1", 4) == 0 && c->msg.h.op == PS_OP_PUSH) {
			wreq_push_reject(c, code, xstrdup(err));
			return;
		}
		wreq_error(c, code, "%s", err);
		return;
	}
	if (ps_server_state(srv) != PS_SERVER_SERVING || ps_server_held(srv)) {
		wreq_error(c, PS_E_SHUTDOWN, "the server is stopping");
		return;
	}
	for (i = 0; i < WREQ_NOPS; i++)
		if (wreq_ops[i].op == c->msg.h.op)
			break;
	if (i == WREQ_NOPS) {
		wreq_error(c, PS_E_PROTOCOL, "%s is not a request",
		    ps_op_name(c->msg.h.op));
		return;
	}
	if (wreq_ops[i].after_hello && c->w == NULL) {
		wreq_error(c, PS_E_PROTOCOL, "%s before HELLO: say HELLO first",
		    ps_op_name(c->msg.h.op));
		return;
	}
	wreq_ops[i].fn(c);
}

/* A worker name fit for logs: control characters replaced, length capped. */
static char *
wreq_name(const char *s, size_t len)
{
	char	*name;
	size_t	 i;

	len = ps_utf8_cut(s, len, WREQ_NAME_MAX);
	name = xmalloc(len + 1);
	for (i = 0; i < len; i++) {
		name[i] = s[i];
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			name[i] = '?';
	}
	name[len] = '\0';
	return name;
}

static void
wreq_hello(struct ps_conn *c)
{
	struct ps_server	*srv = c->srv;
	struct ps_store		*store = ps_server_store(srv);
	struct ps_mode		*mode = ps_server_mode(srv);
	enum ps_rule_kind	 rule = ps_server_opts(srv)->rule.kind;
	struct ps_worker	*w = NULL;
	struct ps_conn		*old;
	struct ps_tview		*v;
	struct ps_msg_hdr	 h;
	struct ps_buf		*b;
	char			*text, *name = NULL;
	size_t			 i, n, size;

	if (c->w != NULL) {
		wreq_error(c, PS_E_PROTOCOL, "HELLO was already sent on this "
		    "connection");
		return;
	}
	if (c->msg.h.arg == 0 && c->msg.count != 0) {
		wreq_error(c, PS_E_MALFORMED, "a new worker's HELLO (arg 0) "
		    "carries no records");
		return;
	}
	if (c->msg.h.arg != 0)
		w = ps_server_worker_find(srv, c->msg.h.arg);
	/*
	 * A resume proves it holds the worker's secret; a refused one
	 * changes nothing (the owner keeps its connection and sequence) and
	 * leaves this connection free to say HELLO again.
	 */
	if (w != NULL && (c->msg.count != 1 ||
	    !ps_auth_equal(c->msg.t[0].name, c->msg.t[0].namelen, w->resume,
	    PS_RESUME_LEN))) {
		wreq_error(c, PS_E_UNAUTHORIZED, "worker %llu: %s",
		    (unsigned long long)w->id, c->msg.count == 0 ? "a resume "
		    "must present the worker's resume secret" : "wrong resume "
		    "secret");
		return;
	}
	if (w == NULL || c->msg.textlen != 0)
		name = wreq_name(c->msg.text, c->msg.textlen);
	if (ps_server_blocked(srv, w != NULL ? w->id : 0, name != NULL ?
	    name : w->name)) {
		if (w != NULL)
			wreq_error(c, PS_E_UNAUTHORIZED, "worker %llu (%s): an "
			    "operator blocked it (psctl unblock lifts that)",
			    (unsigned long long)w->id, name != NULL ? name :
			    w->name);
		else
			wreq_error(c, PS_E_UNAUTHORIZED, "worker \"%s\": an "
			    "operator blocked it (psctl unblock lifts that)",
			    name);
		free(name);
		return;
	}
	if (w != NULL && (old = w->conn) != NULL) {
		/* The worker reconnected before we saw it go. */
		old->w = NULL;
		if (old->park != PS_PARK_NONE)
			wreq_error(old, PS_E_PROTOCOL, "%s", "worker resumed "
			    "on another connection");
		c->vhd->ops->close(old, PS_WREQ_CLOSE_POLICY,
		    "worker resumed on another connection");
	}
	c->w = w = ps_server_worker_hello(srv, w, name, c, c->address);

	/*
	 * The reply: the worker's id, the model's names and shapes, and last
	 * the worker's resume secret.
	 */
	n = ps_store_count(store);
	v = xcalloc(n + 1, sizeof *v);
	for (i = 0; i < n; i++)
		ps_server_view(store, i, 0, &v[i]);
	v[n].name = w->resume;
	v[n].namelen = PS_RESUME_LEN;
	v[n].dtype = PS_DTYPE_NONE;
	n++;
	if (ps_mode_kind(mode) == PS_MODE_SYNC)
		text = xasprintf("psctl %s: mode sync (%u workers), rule %s",
		    PSCTL_VERSION, ps_mode_workers(mode), ps_rule_name(rule));
	else if (ps_mode_kind(mode) == PS_MODE_SSP)
		text = xasprintf("psctl %s: mode ssp (staleness %u), rule %s",
		    PSCTL_VERSION, ps_mode_staleness(mode), ps_rule_name(rule));
	else
		text = xasprintf("psctl %s: mode async, rule %s",
		    PSCTL_VERSION, ps_rule_name(rule));
	memset(&h, 0, sizeof h);
	h.op = PS_OP_REPLY;
	h.id = c->msg.h.id;
	h.version = ps_store_version(store);
	h.arg = w->id;
	size = ps_proto_size(strlen(text), v, n);
	if (size == SIZE_MAX) {
		free(v);
		free(text);
		wreq_error(c, PS_E_INTERNAL, "cannot encode the model summary");
		return;
	}
	b = ps_buf_new(size);
	ps_proto_encode(b->data, size, &h, text, strlen(text), v, n);
	free(v);
	free(text);
	wreq_send(c, 0, 0, 0, 0, 0, NULL, 0, b, 0);
	ps_buf_unref(b);
}

/* Replies with the whole model: a header, then the shared body. */
static void
wreq_model(struct ps_conn *c)
{
	struct ps_server	*srv = c->srv;
	struct ps_buf		*body;
	uint64_t		 version;

	body = ps_server_model_body(srv, &version);
	wreq_send(c, PS_OP_REPLY, 0, c->msg.h.id, version, 0, NULL, 0, body,
	    (uint32_t)ps_store_count(ps_server_store(srv)));
}

static void
wreq_init(struct ps_conn *c)
{
	struct ps_server	*srv = c->srv;
	struct ps_store		*store = ps_server_store(srv);
	char			*cause = NULL;
	int			 code = PS_E_INTERNAL;

	if (c->msg.count == 0) {
		wreq_error(c, PS_E_MALFORMED, "INIT carries no tensors");
		return;
	}
	if (ps_store_empty(store)) {
		if (ps_server_init(srv, c->msg.t, c->msg.count, &code,
		    &cause) != 0) {
			wreq_error(c, code, "%s", cause);
			free(cause);
			return;
		}
		ps_log_info("model created by worker %llu (%s): %zu tensors, "
		    "%zu parameters", (unsigned long long)c->w->id, c->w->name,
		    ps_store_count(store), ps_store_params(store));
	} else if (ps_store_matches(store, c->msg.t, c->msg.count, &code,
	    &cause) != 0) {
		wreq_error(c, code, "%s", cause);
		free(cause);
		return;
	}
	c->w->c.inits++;
	c->vhd->total->inits++;
	/*
	 * The request's tensors are in the store now and nothing reads them
	 * again: let their buffer (the whole model) go before the reply's
	 * body is encoded, so that the request and the body are never held
	 * at once: creating a model peaks one model size lower.
	 */
	c->msg.count = 0;
	free(c->held);
	c->held = NULL;
	c->heldcap = 0;
	wreq_model(c);
}

/*
 * Checks the names of a PULL against the model and marks them in mark[]
 * (one byte per model tensor, zeroed by the caller).  Answers with an
 * error and returns -1 when one is unknown or named twice.
 */
static int
wreq_names(struct ps_conn *c, uint8_t *mark)
{
	const struct ps_store	*store = ps_server_store(c->srv);
	const struct ps_tview	*t;
	size_t			 i, idx;

	for (i = 0; i < c->msg.count; i++) {
		t = &c->msg.t[i];
		if (ps_store_find(store, t->name, t->namelen, &idx) == NULL) {
			wreq_error(c, PS_E_UNKNOWN_TENSOR, "record %zu: no "
			    "tensor named \"%.*s\"", i, (int)t->namelen,
			    t->name);
			return -1;
		}
		if (mark != NULL && mark[idx]) {
			wreq_error(c, PS_E_DUPLICATE, "record %zu: \"%.*s\" is "
			    "named twice", i, (int)t->namelen, t->name);
			return -1;
		}
		if (mark != NULL)
			mark[idx] = 1;
	}
	return 0;
}

static void
wreq_pull(struct ps_conn *c)
{
	struct ps_server	*srv = c->srv;
	struct ps_store		*store = ps_server_store(srv);
	uint8_t			*mark;
	int			 r;

	if (ps_store_empty(store)) {
		wreq_error(c, PS_E_NO_MODEL, "there is no model yet: INIT "
		    "first");
		return;
	}
	if (c->msg.count != 0) {
		mark = xcalloc(ps_store_count(store), 1);
		r = wreq_names(c, mark);
		free(mark);
		if (r != 0)
			return;
	}
	if (!ps_mode_pull_ready(ps_server_mode(srv), c->w->id)) {
		wreq_park(c, PS_PARK_PULL);
		return;
	}
	wreq_pull_answer(c);
}

/* Answers a validated pull: the shared body, or the named tensors. */
static void
wreq_pull_answer(struct ps_conn *c)
{
	struct ps_server	*srv = c->srv;
	struct ps_store		*store = ps_server_store(srv);
	struct ps_tview		 v;
	struct ps_buf		*b;
	uint8_t			*mark, *p;
	size_t			 i, n, total = 0;
	uint32_t		 count = 0;

	c->w->c.pulls++;
	ps_server_worker_pulled(c->srv, c->w);
	c->vhd->total->pulls++;
	if (c->msg.count == 0) {
		wreq_model(c);
		return;
	}
	n = ps_store_count(store);
	mark = xcalloc(n, 1);
	if (wreq_names(c, mark) != 0) {
		free(mark);
		return;
	}
	for (i = 0; i < n; i++) {
		if (!mark[i])
			continue;
		ps_server_view(store, i, 1, &v);
		total += ps_proto_record_size(&v);
	}
	b = ps_buf_new(total);
	p = b->data;
	for (i = 0; i < n; i++) {
		if (!mark[i])
			continue;
		ps_server_view(store, i, 1, &v);
		p += ps_proto_put_record(p, &v);
		count++;
	}
	free(mark);
	wreq_send(c, PS_OP_REPLY, 0, c->msg.h.id, ps_store_version(store), 0,
	    NULL, 0, b, count);
	ps_buf_unref(b);
}

/*
 * The push as F32 views: the decoded views themselves, or copies whose
 * F16/BF16 data was converted into the connection's scratch buffer.
 */
static int
wreq_f32(struct ps_conn *c, const struct ps_tview **out)
{
	const struct ps_tview	*t;
	size_t			 i, need = 0, off = 0, k;

	for (i = 0; i < c->msg.count; i++) {
		t = &c->msg.t[i];
		if (t->dtype == PS_DTYPE_F16 || t->dtype == PS_DTYPE_BF16)
			need += t->nbytes / 2;
	}
	if (need == 0) {
		*out = c->msg.t;
		return 0;
	}
	if (c->cvcap < c->msg.count) {
		c->cv = xreallocarray(c->cv, c->msg.count, sizeof *c->cv);
		c->cvcap = c->msg.count;
	}
	if (c->scratchcap < need) {
		free(c->scratch);
		c->scratch = xreallocarray(NULL, need, sizeof *c->scratch);
		c->scratchcap = need;
	}
	for (i = 0; i < c->msg.count; i++) {
		t = &c->msg.t[i];
		c->cv[i] = *t;
		if (t->dtype != PS_DTYPE_F16 && t->dtype != PS_DTYPE_BF16)
			continue;
		k = t->nbytes / 2;
		if (t->dtype == PS_DTYPE_F16)
			ps_f16_to_f32(t->data, c->scratch + off, k);
		else
			ps_bf16_to_f32(t->data, c->scratch + off, k);
		c->cv[i].dtype = PS_DTYPE_F32;
		c->cv[i].data = c->scratch + off;
		c->cv[i].nbytes = k * sizeof (float);
		off += k;
	}
	*out = c->cv;
	return 0;
}

static void
wreq_push_reject(struct ps_conn *c, int code, char *cause)
{
	static int64_t		 last_log;
	static uint64_t		 quiet;
	int64_t			 now = ps_server_now_us();

	if ((size_t)code < PS_SERVER_NCODES) {
		c->vhd->total->push_reject_codes[code]++;
		c->w->c.push_reject_codes[code]++;
	}
	c->vhd->total->push_rejects++;
	c->w->c.push_rejects++;
	/* At most one line a second: a broken worker must not flood the log. */
	if (now - last_log >= 1000000) {
		ps_log_info("worker %llu (%s): push refused (%s): %s%s",
		    (unsigned long long)c->w->id, c->w->name,
		    ps_errcode_name(code), cause != NULL ? cause : "",
		    quiet != 0 ? " (and earlier ones not logged)" : "");
		last_log = now;
		quiet = 0;
	} else
		quiet++;
	wreq_error(c, code, "%s", cause != NULL ? cause : "refused");
	free(cause);
}

static void
wreq_push(struct ps_conn *c)
{
	struct ps_server	*srv = c->srv;
	struct ps_store		*store = ps_server_store(srv);
	struct ps_mode		*mode = ps_server_mode(srv);
	const struct ps_tview	*v;
	uint64_t		 version, seq = c->msg.h.arg;
	char			*cause = NULL;
	int			 code = PS_E_INTERNAL;

	/* Refusals are counted, so operators see a worker pushing in vain. */
	if (ps_store_empty(store)) {
		wreq_push_reject(c, PS_E_NO_MODEL,
		    xstrdup("there is no model yet: INIT first"));
		return;
	}
	if (c->msg.count == 0) {
		wreq_push_reject(c, PS_E_MALFORMED,
		    xstrdup("PUSH carries no tensors"));
		return;
	}
	if (seq != 0 && seq <= c->w->last_seq) {
		/* A retry of a push already accepted: never applied twice. */
		if (ps_mode_in_round(mode, c->w->id)) {
			wreq_park(c, PS_PARK_PUSH_ROUND);
			return;
		}
		wreq_send(c, PS_OP_REPLY, 0, c->msg.h.id,
		    ps_store_version(store), 0,
		    "duplicate push: already applied",
		    strlen("duplicate push: already applied"), NULL, 0);
		return;
	}
	if (ps_mode_kind(mode) == PS_MODE_SYNC) {
		wreq_push_sync(c);
		return;
	}
	wreq_f32(c, &v);
	version = ps_server_apply(srv, v, c->msg.count, &code, &cause);
	if (version == 0) {
		wreq_push_reject(c, code, cause);
		return;
	}
	ps_mode_push(mode, c->w->id);
	ps_server_worker_pushed(srv, c->w);
	if (seq != 0)
		c->w->last_seq = seq;
	c->w->c.pushes++;
	c->vhd->total->pushes++;
	wreq_send(c, PS_OP_REPLY, 0, c->msg.h.id, version, 0, NULL, 0, NULL,
	    0);
	if (ps_mode_kind(mode) == PS_MODE_SSP)
		wreq_wake(c->vhd);
}

/*
 * sync: the push joins the current round (its reply waits for the round)
 * or, when this worker already pushed in it, waits for the next one.
 * Invalid pushes are refused at once either way.
 */
static void
wreq_push_sync(struct ps_conn *c)
{
	struct ps_server	*srv = c->srv;
	struct ps_mode		*mode = ps_server_mode(srv);
	const struct ps_tview	*v;
	char			*cause = NULL;
	int			 code = PS_E_INTERNAL;

	wreq_f32(c, &v);
	if (ps_mode_push_waits(mode, c->w->id)) {
		if (ps_store_check(ps_server_store(srv), v, c->msg.count,
		    &code, &cause) != 0) {
			wreq_push_reject(c, code, cause);
			return;
		}
		wreq_park(c, PS_PARK_PUSH_NEXT);
		return;
	}
	if (ps_server_round_add(srv, v, c->msg.count, &code, &cause) != 0) {
		wreq_push_reject(c, code, cause);
		return;
	}
	ps_mode_push(mode, c->w->id);
	c->in_round = 1;
	c->round_seq = ++c->vhd->round_next;
	c->round_wid = c->w->id;
	c->prev_seq = c->w->last_seq;
	ps_server_worker_pushed(srv, c->w);
	if (c->msg.h.arg != 0)
		c->w->last_seq = c->msg.h.arg;
	c->w->c.pushes++;
	c->vhd->total->pushes++;
	wreq_park(c, PS_PARK_PUSH_ROUND);
	wreq_wake(c->vhd);
}

/*
 * c closes with its push in the round: the round keeps the push, and its
 * buffers move here so that wreq_round_redo() can add it again.
 */
static void
wreq_keep(struct ps_conn *c)
{
	struct ps_wreq_kept	*k;
	const struct ps_tview	*v;

	wreq_f32(c, &v);
	k = xcalloc(1, sizeof *k);
	k->round_seq = c->round_seq;
	k->wid = c->round_wid;
	k->held = c->held;
	k->msg = c->msg;
	k->cv = c->cv;
	k->scratch = c->scratch;
	k->v = v == c->cv ? k->cv : k->msg.t;
	c->held = NULL;
	c->heldcap = 0;
	ps_msg_init(&c->msg);
	c->cv = NULL;
	c->cvcap = 0;
	c->scratch = NULL;
	c->scratchcap = 0;
	TAILQ_INSERT_TAIL(&c->vhd->kept, k, entry);
}

/* The round ended or was dropped: the kept pushes go. */
static void
wreq_kept_free(struct ps_wreq_vhd *vhd)
{
	struct ps_wreq_kept	*k;

	while ((k = TAILQ_FIRST(&vhd->kept)) != NULL) {
		TAILQ_REMOVE(&vhd->kept, k, entry);
		free(k->held);
		ps_msg_free(&k->msg);
		free(k->cv);
		free(k->scratch);
		free(k);
	}
}

/*
 * c's push, in the round, was answered with an error: it never changes
 * the model.  It leaves the round (its worker may push in it again, and
 * its sequence number goes back), and the round's sum is made again from
 * the pushes that stay, in their order, so that it is exactly the sum
 * they would have made alone.
 */
static void
wreq_round_out(struct ps_conn *c)
{
	struct ps_server	*srv = c->srv;
	struct ps_worker	*w;

	c->in_round = 0;
	ps_mode_unpush(ps_server_mode(srv), c->round_wid);
	w = ps_server_worker_find(srv, c->round_wid);
	if (w != NULL && c->msg.h.arg != 0 && w->last_seq == c->msg.h.arg)
		w->last_seq = c->prev_seq;
	/* Stopping: no round is applied any more (wreq_wake). */
	if (ps_server_state(srv) == PS_SERVER_SERVING)
		wreq_round_redo(c->vhd);
}

static int
wreq_part_cmp(const void *a, const void *b)
{
	const struct wreq_part	*x = a, *y = b;

	return x->round_seq < y->round_seq ? -1 :
	    x->round_seq > y->round_seq;
}

static void
wreq_round_redo(struct ps_wreq_vhd *vhd)
{
	struct ps_server	*srv = vhd->srv;
	struct ps_wreq_kept	*k, *knext;
	struct ps_conn		*c;
	struct wreq_part	*part;
	struct ps_worker	*w;
	const struct ps_tview	*v;
	size_t			 n = 0, i, count;
	char			*cause;
	int			 code;

	TAILQ_FOREACH(c, &vhd->conns, entry)
		n += c->in_round;
	TAILQ_FOREACH(k, &vhd->kept, entry)
		n++;
	part = xcalloc(n > 0 ? n : 1, sizeof *part);
	n = 0;
	TAILQ_FOREACH(c, &vhd->conns, entry) {
		if (!c->in_round)
			continue;
		part[n].round_seq = c->round_seq;
		part[n++].c = c;
	}
	TAILQ_FOREACH(k, &vhd->kept, entry) {
		part[n].round_seq = k->round_seq;
		part[n++].k = k;
	}
	qsort(part, n, sizeof *part, wreq_part_cmp);
	ps_server_round_clear(srv);
	for (i = 0; i < n; i++) {
		if ((c = part[i].c) != NULL) {
			wreq_f32(c, &v);
			count = c->msg.count;
		} else {
			v = part[i].k->v;
			count = part[i].k->msg.count;
		}
		cause = NULL;
		if (ps_server_round_add(srv, v, count, &code, &cause) == 0)
			continue;
		/*
		 * Fewer pushes overflowed where more did not (they had
		 * cancelled out): this one leaves the round too.
		 */
		ps_log_warn("sync round: a push leaves the round: %s", cause);
		if (c != NULL) {
			c->in_round = 0;
			ps_mode_unpush(ps_server_mode(srv), c->round_wid);
			if ((w = ps_server_worker_find(srv, c->round_wid)) !=
			    NULL && c->msg.h.arg != 0 &&
			    w->last_seq == c->msg.h.arg)
				w->last_seq = c->prev_seq;
			wreq_error(c, code, "%s", cause);
		} else {
			for (k = TAILQ_FIRST(&vhd->kept); k != NULL; k = knext) {
				knext = TAILQ_NEXT(k, entry);
				if (k != part[i].k)
					continue;
				ps_mode_unpush(ps_server_mode(srv), k->wid);
				TAILQ_REMOVE(&vhd->kept, k, entry);
				free(k->held);
				ps_msg_free(&k->msg);
				free(k->cv);
				free(k->scratch);
				free(k);
			}
		}
		free(cause);
	}
	free(part);
}

/*
 * Re-examines parked requests after anything the mode depends on changed
 * (a push, a worker leaving, a reset): completes a sync round that is
 * complete, answers what may now be answered.
 */
static void
wreq_wake(struct ps_wreq_vhd *vhd)
{
	struct ps_server	*srv = vhd->srv;
	struct ps_conn		*c, *next;
	uint64_t		 version;

	/*
	 * Once stopping, no round is applied: its pushes got ERROR shutdown.
	 * While held for a final checkpoint, none is applied either.
	 */
	if (ps_server_state(srv) != PS_SERVER_SERVING || ps_server_held(srv))
		return;
again:
	if (ps_server_round_ready(srv)) {
		version = ps_server_round_end(srv);
		wreq_kept_free(vhd);
		for (c = TAILQ_FIRST(&vhd->parked); c != NULL; c = next) {
			next = TAILQ_NEXT(c, park_entry);
			if (c->park == PS_PARK_PUSH_ROUND)
				wreq_round_done(c, version, NULL);
		}
		goto again;
	}
	TAILQ_FOREACH(c, &vhd->parked, park_entry) {
		if (c->park != PS_PARK_PUSH_ROUND && wreq_retry(c))
			goto again;
	}
}

/* Tries a parked request again; returns 1 if it progressed. */
static int
wreq_retry(struct ps_conn *c)
{
	struct ps_mode	*mode = ps_server_mode(c->srv);

	if (c->w == NULL) {
		wreq_error(c, PS_E_PROTOCOL, "%s", "the worker is gone");
		return 1;
	}
	switch (c->park) {
	case PS_PARK_PUSH_NEXT:
		if (ps_mode_push_waits(mode, c->w->id))
			return 0;
		wreq_push_sync(c);
		return 1;
	case PS_PARK_PULL:
		if (!ps_mode_pull_ready(mode, c->w->id))
			return 0;
		wreq_pull_answer(c);
		return 1;
	default:
		return 0;
	}
}

/* Answers a push parked in a round that ended with version (text may be NULL). */
static void
wreq_round_done(struct ps_conn *c, uint64_t version, const char *text)
{
	c->in_round = 0;
	wreq_send(c, PS_OP_REPLY, 0, c->msg.h.id, version, 0, text,
	    text != NULL ? strlen(text) : 0, NULL, 0);
}

static void
wreq_park(struct ps_conn *c, enum ps_park why)
{
	if (c->park == PS_PARK_NONE) {
		TAILQ_INSERT_TAIL(&c->vhd->parked, c, park_entry);
		c->park_us = ps_server_now_us();
		if (c->w != NULL)
			c->w->state = PS_WORKER_WAITING;
	}
	c->park = why;
}

static void
wreq_unpark(struct ps_conn *c)
{
	if (c->park == PS_PARK_NONE)
		return;
	TAILQ_REMOVE(&c->vhd->parked, c, park_entry);
	c->park = PS_PARK_NONE;
	if (c->w != NULL)
		c->w->state = PS_WORKER_ACTIVE;
}

static void
wreq_error(struct ps_conn *c, int code, const char *fmt, ...)
{
	struct ps_counters	*total = c->vhd->total;
	va_list			 ap;
	char			*text;
	size_t			 len;

	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	len = ps_utf8_cut(text, strlen(text), PS_PROTO_TEXT_MAX);
	total->errors++;
	if ((size_t)code < PS_SERVER_NCODES)
		total->error_codes[code]++;
	if (c->w != NULL) {
		c->w->c.errors++;
		if ((size_t)code < PS_SERVER_NCODES)
			c->w->c.error_codes[code]++;
	}
	ps_log_debug("%s from %s (id %llu) refused: %s: %.*s",
	    ps_op_name(c->msg.h.op) != NULL ? ps_op_name(c->msg.h.op) : "?",
	    c->address, (unsigned long long)c->msg.h.id,
	    ps_errcode_name(code), (int)len, text);
	/* A push answered with an error never changes the model. */
	if (c->in_round)
		wreq_round_out(c);
	wreq_send(c, PS_OP_ERROR, (uint16_t)code, c->msg.h.id,
	    ps_store_version(ps_server_store(c->srv)), 0, text, len, NULL, 0);
	free(text);
}

/*
 * Queues a message and ends the connection's current request.  With op 0,
 * body is a whole encoded message; otherwise a header (and text) is built
 * and body, if any, holds count records that follow it.
 */
static void
wreq_send(struct ps_conn *c, uint8_t op, uint16_t status, uint64_t id,
    uint64_t version, uint64_t arg, const char *text, size_t textlen,
    struct ps_buf *body, uint32_t count)
{
	struct ps_msg_hdr	 h;
	struct ps_buf		*hb;
	size_t			 tl;
	int			 small;

	if (op == 0)
		ps_sendq_add(&c->q, body, 0, body->len,
		    PS_SENDQ_FIRST | PS_SENDQ_LAST);
	else {
		memset(&h, 0, sizeof h);
		h.op = op;
		h.status = status;
		h.id = id;
		h.version = version;
		h.arg = arg;
		h.count = count;
		h.textlen = (uint32_t)textlen;
		tl = (textlen + 7) & ~(size_t)7;
		/*
		 * A small reply goes out as one frame, header and body in
		 * one buffer: one write and one wake-up of the worker
		 * instead of two.  Copying 64 KiB costs less than the poll
		 * cycle and the second segment it saves.
		 */
		small = body != NULL && body->len <= WREQ_COALESCE_MAX;
		hb = ps_buf_new(PS_PROTO_HDRLEN + tl +
		    (small ? body->len : 0));
		ps_proto_put_hdr(hb->data, &h);
		ps_proto_put_text(hb->data + PS_PROTO_HDRLEN, text, textlen);
		if (small)
			memcpy(hb->data + PS_PROTO_HDRLEN + tl, body->data,
			    body->len);
		ps_sendq_add(&c->q, hb, 0, hb->len, PS_SENDQ_FIRST |
		    (body == NULL || small ? PS_SENDQ_LAST : 0));
		ps_buf_unref(hb);
		if (body != NULL && !small)
			ps_sendq_add(&c->q, body, 0, body->len, PS_SENDQ_LAST);
	}
	wreq_unpark(c);
	c->vhd->ops->queued(c);
}
