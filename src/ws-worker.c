/*
 * The psctl.worker.v1 protocol callback (psctl-protocol(7)): reassembles
 * messages under --max-message-bytes, decodes them with proto.c, answers
 * hello, init, pull and push, and writes replies one fragment per
 * WRITEABLE callback.  Requests on one connection are handled in order,
 * one at a time: while one is parked by the consistency mode, whole
 * messages that arrive wait in a short backlog (reading goes on, so a
 * worker that dies while it waits is seen at once; a full backlog turns
 * reading off).  Service thread only.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "auth.h"
#include "log.h"
#include "mode.h"
#include "proto.h"
#include "sendq.h"
#include "server.h"
#include "store.h"
#include "tensor.h"
#include "utf8.h"
#include "ws-worker.h"
#include "xmalloc.h"

/* Reasons reading is off (lws rx flow control reason bits b1..b5). */
#define CONN_FLOW_PARK		(1 << 1)	/* the parked backlog is full */
#define CONN_FLOW_SENDQ		(1 << 2)	/* too many replies queued */

/* Send queue high and low water marks. */
#define CONN_HIGH_MSGS		32
#define CONN_LOW_MSGS		8
#define CONN_HIGH_BYTES		((size_t)256 << 20)
#define CONN_LOW_BYTES		((size_t)64 << 20)

/* Messages read while parked: past either, reading stops until drained. */
#define CONN_BACKLOG_MSGS	4
#define CONN_BACKLOG_BYTES	((size_t)64 << 20)

/* Longest worker name kept, bytes. */
#define CONN_NAME_MAX		128
/* Replies up to this size go out as one frame (see conn_send). */
#define CONN_COALESCE_MAX	((size_t)64 << 10)

static void	conn_established(struct ps_conn *, struct lws *);
static int	conn_receive(struct ps_conn *, const void *, size_t);
static int	conn_writeable(struct ps_conn *);
static void	conn_closed(struct ps_conn *);
static void	conn_message(struct ps_conn *, const uint8_t *, size_t);
static void	conn_backlog_add(struct ps_conn *, size_t);
static void	conn_backlog_drain(struct ps_conn *);
static void	conn_backlog_free(struct ps_conn *);
static void	conn_hello(struct ps_conn *);
static void	conn_init(struct ps_conn *);
static void	conn_pull(struct ps_conn *);
static void	conn_pull_answer(struct ps_conn *);
static void	conn_push(struct ps_conn *);
static void	conn_push_sync(struct ps_conn *);
static int	conn_f32(struct ps_conn *, const struct ps_tview **);
static int	conn_names(struct ps_conn *, uint8_t *);
static void	conn_send(struct ps_conn *, uint8_t, uint16_t, uint64_t,
		    uint64_t, uint64_t, const char *, size_t, struct ps_buf *,
		    uint32_t);
static void	conn_model(struct ps_conn *);
static void	conn_error(struct ps_conn *, int, const char *, ...)
		    __attribute__((__format__(__printf__, 3, 4)));
static void	conn_push_reject(struct ps_conn *, int, char *);
static void	conn_park(struct ps_conn *, enum ps_park);
static void	conn_unpark(struct ps_conn *);
static void	conn_flow(struct ps_conn *, unsigned, int);
static void	conn_refuse(struct ps_conn *, int, const char *);
static void	conn_address(struct lws *, char *, size_t);
static char	*conn_name(const char *, size_t);
static struct ps_worker *conn_find_worker(struct ps_server *, uint64_t);

int
ps_ws_worker_cb(struct lws *wsi, enum lws_callback_reasons reason,
    void *user, void *in, size_t len)
{
	struct ps_conn		*c = user;
	struct ps_server	*srv;

	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		srv = ps_server_from_wsi(wsi);
		/* New workers are refused while stopping. */
		if (srv->stopping)
			return 1;
		return ps_auth_filter(ps_server_auth(srv), wsi, PS_AUTH_WORKER);
	case LWS_CALLBACK_ESTABLISHED:
		conn_established(c, wsi);
		break;
	case LWS_CALLBACK_RECEIVE:
		return conn_receive(c, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return conn_writeable(c);
	case LWS_CALLBACK_CLOSED:
		conn_closed(c);
		break;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		srv = ps_server_from_wsi(wsi);
		/* With a control plane, it stops (final checkpoint first). */
		if (srv != NULL && srv->ctl == NULL && srv->stop_requested &&
		    !srv->stopping)
			ps_server_stop(srv);
		break;
	default:
		break;
	}
	return 0;
}

/* "127.0.0.1:50122" or "[::1]:50122" for the peer of wsi. */
static void
conn_address(struct lws *wsi, char *buf, size_t len)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof ss;
	struct sockaddr_in6	*s6;
	struct sockaddr_in	*s4;
	char			 a[INET6_ADDRSTRLEN];

	snprintf(buf, len, "unknown");
	if (getpeername(lws_get_socket_fd(wsi), (struct sockaddr *)&ss,
	    &sl) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		s4 = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof a);
		snprintf(buf, len, "%s:%u", a, ntohs(s4->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		s6 = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof a);
		if (strncmp(a, "::ffff:", 7) == 0 && strchr(a + 7, '.') != NULL)
			snprintf(buf, len, "%s:%u", a + 7, ntohs(s6->sin6_port));
		else
			snprintf(buf, len, "[%s]:%u", a, ntohs(s6->sin6_port));
	}
}

static void
conn_established(struct ps_conn *c, struct lws *wsi)
{
	struct ps_server	*srv = ps_server_from_wsi(wsi);

	memset(c, 0, sizeof *c);
	c->srv = srv;
	c->wsi = wsi;
	c->live = 1;
	conn_address(wsi, c->address, sizeof c->address);
	ps_msg_init(&c->msg);
	ps_sendq_init(&c->q);
	STAILQ_INIT(&c->backlog);
	TAILQ_INSERT_TAIL(&srv->conns, c, entry);
	ps_log_debug("connection from %s", c->address);
}

static void
conn_closed(struct ps_conn *c)
{
	struct ps_server	*srv = c->srv;

	if (!c->live)
		return;
	c->live = 0;
	if (c->park != PS_PARK_NONE) {
		TAILQ_REMOVE(&srv->parked, c, park_entry);
		c->park = PS_PARK_NONE;
	}
	TAILQ_REMOVE(&srv->conns, c, entry);
	if (c->w != NULL && !srv->destroying)
		ps_server_worker_leave(srv, c->w, "disconnected");
	else if (c->w != NULL)
		c->w->conn = NULL;
	c->w = NULL;
	ps_sendq_clear(&c->q);
	ps_msg_free(&c->msg);
	conn_backlog_free(c);
	free(c->rx);
	free(c->held);
	free(c->cv);
	free(c->scratch);
	c->rx = NULL;
	c->held = NULL;
	c->cv = NULL;
	c->scratch = NULL;
	if (srv->destroying)
		return;
	ps_log_debug("connection from %s closed", c->address);
	if (srv->stopping && TAILQ_EMPTY(&srv->conns)) {
		srv->done = 1;
		return;
	}
	ps_server_wake(srv);
}

/* Closes at once with code: for a peer that broke the framing rules. */
static void
conn_refuse(struct ps_conn *c, int code, const char *reason)
{
	ps_log_info("worker %llu (%s) at %s: closing with %d: %s",
	    c->w != NULL ? (unsigned long long)c->w->id : 0ULL,
	    c->w != NULL ? c->w->name : "-", c->address, code, reason);
	lws_close_reason(c->wsi, (enum lws_close_status)code,
	    (unsigned char *)reason, strlen(reason));
}

void
ps_ws_close(struct ps_conn *c, int code, const char *reason)
{
	if (c->closing)
		return;
	c->closing = 1;
	c->close_code = code;
	snprintf(c->close_reason, sizeof c->close_reason, "%s", reason);
	lws_callback_on_writable(c->wsi);
	/* A peer that stops reading cannot hold the connection open. */
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, 5);
}

static void
conn_flow(struct ps_conn *c, unsigned bit, int enable)
{
	if (!enable && !(c->flow & bit)) {
		c->flow |= bit;
		lws_rx_flow_control(c->wsi,
		    (int)(LWS_RXFLOW_REASON_APPLIES_DISABLE | bit));
	} else if (enable && (c->flow & bit)) {
		c->flow &= ~bit;
		lws_rx_flow_control(c->wsi,
		    (int)(LWS_RXFLOW_REASON_APPLIES_ENABLE | bit));
	}
}

static int
conn_receive(struct ps_conn *c, const void *in, size_t len)
{
	struct ps_server	*srv = c->srv;
	size_t			 max = srv->o.max_message, remaining, cap, n;
	uint8_t			*p;
	char			 reason[96];

	if (c->closing)
		return 0;
	if (!lws_frame_is_binary(c->wsi)) {
		conn_refuse(c, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
		    "text frames are not part of " PS_WORKER_PROTOCOL);
		return -1;
	}
	remaining = lws_remaining_packet_payload(c->wsi);
	if (len > max - c->rxlen || remaining > max - c->rxlen - len) {
		snprintf(reason, sizeof reason, "message over the limit of "
		    "%zu bytes", max);
		srv->total.errors++;
		srv->total.error_codes[PS_E_TOO_LARGE]++;
		if (c->w != NULL) {
			c->w->c.errors++;
			c->w->c.error_codes[PS_E_TOO_LARGE]++;
		}
		conn_refuse(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, reason);
		return -1;
	}
	if (c->rxlen + len > c->rxcap) {
		/* Size for the whole frame when lws tells us its length. */
		cap = c->rxlen + len + remaining;
		if (cap < c->rxcap * 2)
			cap = c->rxcap * 2;
		if (cap > max)
			cap = max;
		c->rx = xrealloc(c->rx, cap);
		c->rxcap = cap;
	}
	if (len != 0) {
		memcpy(c->rx + c->rxlen, in, len);
		c->rxlen += len;
	}
	if (!lws_is_final_fragment(c->wsi) || remaining != 0)
		return 0;
	n = c->rxlen;
	c->rxlen = 0;
	if (c->park != PS_PARK_NONE || !STAILQ_EMPTY(&c->backlog)) {
		conn_backlog_add(c, n);
		return 0;
	}
	/* The request in hand lives in held; rx takes held's old buffer. */
	p = c->held;
	cap = c->heldcap;
	c->held = c->rx;
	c->heldcap = c->rxcap;
	c->rx = p;
	c->rxcap = cap;
	conn_message(c, c->held, n);
	return 0;
}

/* Keeps a message read while parked (rx's buffer moves into the item). */
static void
conn_backlog_add(struct ps_conn *c, size_t n)
{
	struct ps_conn_msg	*m;

	m = xmalloc(sizeof *m);
	m->buf = c->rx;
	m->len = n;
	m->cap = c->rxcap;
	c->rx = NULL;
	c->rxcap = 0;
	STAILQ_INSERT_TAIL(&c->backlog, m, entry);
	c->nbacklog++;
	c->backlog_bytes += n;
	if (c->nbacklog >= CONN_BACKLOG_MSGS ||
	    c->backlog_bytes >= CONN_BACKLOG_BYTES)
		conn_flow(c, CONN_FLOW_PARK, 0);
}

/*
 * Handles backlogged messages in order until one parks or none is left.
 * Runs in the connection's own WRITEABLE callback.
 */
static void
conn_backlog_drain(struct ps_conn *c)
{
	struct ps_conn_msg	*m;

	while (c->park == PS_PARK_NONE && c->live &&
	    (m = STAILQ_FIRST(&c->backlog)) != NULL) {
		STAILQ_REMOVE_HEAD(&c->backlog, entry);
		c->nbacklog--;
		c->backlog_bytes -= m->len;
		free(c->held);
		c->held = m->buf;
		c->heldcap = m->cap;
		conn_message(c, c->held, m->len);
		free(m);
	}
	if (c->nbacklog < CONN_BACKLOG_MSGS &&
	    c->backlog_bytes < CONN_BACKLOG_BYTES)
		conn_flow(c, CONN_FLOW_PARK, 1);
}

static void
conn_backlog_free(struct ps_conn *c)
{
	struct ps_conn_msg	*m;

	while ((m = STAILQ_FIRST(&c->backlog)) != NULL) {
		STAILQ_REMOVE_HEAD(&c->backlog, entry);
		free(m->buf);
		free(m);
	}
	c->nbacklog = 0;
	c->backlog_bytes = 0;
}

static struct ps_worker *
conn_find_worker(struct ps_server *srv, uint64_t id)
{
	struct ps_worker	*w;

	TAILQ_FOREACH(w, &srv->workers, entry) {
		if (w->id == id)
			return w;
	}
	return NULL;
}

static void
conn_message(struct ps_conn *c, const uint8_t *buf, size_t len)
{
	struct ps_server	*srv = c->srv;
	struct ps_limits	 lim;
	char			 err[256];
	int			 code, r;

	srv->total.bytes_in += len;
	if (c->w != NULL) {
		c->w->c.bytes_in += len;
		c->w->last_seen_us = ps_server_now_us();
	}
	lim.max_message = srv->o.max_message;
	lim.max_tensors = srv->o.max_tensors;
	r = ps_proto_decode(buf, len, &lim, &c->msg, &code, err, sizeof err);
	if (r == -2) {
		conn_error(c, PS_E_INTERNAL, "out of memory decoding the "
		    "message");
		return;
	}
	if (r != 0) {
		conn_error(c, code, "%s", err);
		return;
	}
	if (srv->stopping) {
		conn_error(c, PS_E_SHUTDOWN, "the server is stopping");
		return;
	}
	switch (c->msg.h.op) {
	case PS_OP_HELLO:
		conn_hello(c);
		return;
	case PS_OP_INIT:
	case PS_OP_PULL:
	case PS_OP_PUSH:
		break;
	default:
		conn_error(c, PS_E_PROTOCOL, "%s is not a request",
		    ps_op_name(c->msg.h.op));
		return;
	}
	if (c->w == NULL) {
		conn_error(c, PS_E_PROTOCOL, "%s before HELLO: say HELLO first",
		    ps_op_name(c->msg.h.op));
		return;
	}
	switch (c->msg.h.op) {
	case PS_OP_INIT:
		conn_init(c);
		break;
	case PS_OP_PULL:
		conn_pull(c);
		break;
	case PS_OP_PUSH:
		conn_push(c);
		break;
	}
}

/* A worker name fit for logs: control characters replaced, length capped. */
static char *
conn_name(const char *s, size_t len)
{
	char	*name;
	size_t	 i;

	len = ps_utf8_cut(s, len, CONN_NAME_MAX);
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
conn_hello(struct ps_conn *c)
{
	struct ps_server	*srv = c->srv;
	struct ps_worker	*w = NULL;
	struct ps_conn		*old;
	struct ps_tview		*v;
	struct ps_msg_hdr	 h;
	struct ps_buf		*b;
	const struct ps_tensor	*t;
	char			*text;
	size_t			 i, n, size;
	int64_t			 now = ps_server_now_us();

	if (c->w != NULL) {
		conn_error(c, PS_E_PROTOCOL, "HELLO was already sent on this "
		    "connection");
		return;
	}
	if (c->msg.h.arg != 0)
		w = conn_find_worker(srv, c->msg.h.arg);
	if (w != NULL) {
		if ((old = w->conn) != NULL) {
			/* The worker reconnected before we saw it go. */
			old->w = NULL;
			if (old->park != PS_PARK_NONE)
				ps_ws_park_error(old, PS_E_PROTOCOL, "worker "
				    "resumed on another connection");
			ps_ws_close(old, LWS_CLOSE_STATUS_POLICY_VIOLATION,
			    "worker resumed on another connection");
		} else {
			TAILQ_REMOVE(&srv->workers, w, entry);
			TAILQ_INSERT_HEAD(&srv->workers, w, entry);
			srv->ngone--;
		}
		if (c->msg.textlen != 0) {
			free(w->name);
			w->name = conn_name(c->msg.text, c->msg.textlen);
		}
		ps_log_info("worker %llu (%s) resumed from %s",
		    (unsigned long long)w->id, w->name, c->address);
	} else {
		w = xcalloc(1, sizeof *w);
		w->id = ++srv->next_worker_id;
		w->name = conn_name(c->msg.text, c->msg.textlen);
		w->connected_us = now;
		TAILQ_INSERT_HEAD(&srv->workers, w, entry);
		ps_log_info("worker %llu (%s) connected from %s",
		    (unsigned long long)w->id, w->name, c->address);
	}
	snprintf(w->address, sizeof w->address, "%s", c->address);
	w->state = PS_WORKER_ACTIVE;
	w->conn = c;
	w->last_seen_us = now;
	w->c.hellos++;
	srv->total.hellos++;
	c->w = w;
	ps_mode_join(srv->mode, w->id);

	/* The reply: the worker's id and the model's names and shapes. */
	n = ps_store_count(srv->store);
	v = xcalloc(n > 0 ? n : 1, sizeof *v);
	for (i = 0; i < n; i++) {
		t = ps_store_tensor(srv->store, i);
		v[i].name = t->name;
		v[i].namelen = t->namelen;
		v[i].dtype = PS_DTYPE_NONE;
		v[i].ndim = t->ndim;
		memcpy(v[i].dims, t->dims, sizeof v[i].dims);
	}
	if (ps_mode_kind(srv->mode) == PS_MODE_SYNC)
		text = xasprintf("psctl %s: mode sync (%u workers), rule %s",
		    PSCTL_VERSION, ps_mode_workers(srv->mode),
		    ps_rule_name(srv->o.rule.kind));
	else if (ps_mode_kind(srv->mode) == PS_MODE_SSP)
		text = xasprintf("psctl %s: mode ssp (staleness %u), rule %s",
		    PSCTL_VERSION, ps_mode_staleness(srv->mode),
		    ps_rule_name(srv->o.rule.kind));
	else
		text = xasprintf("psctl %s: mode async, rule %s",
		    PSCTL_VERSION, ps_rule_name(srv->o.rule.kind));
	memset(&h, 0, sizeof h);
	h.op = PS_OP_REPLY;
	h.id = c->msg.h.id;
	h.version = ps_store_version(srv->store);
	h.arg = w->id;
	size = ps_proto_size(strlen(text), v, n);
	if (size == SIZE_MAX) {
		free(v);
		free(text);
		conn_error(c, PS_E_INTERNAL, "cannot encode the model summary");
		return;
	}
	b = ps_buf_new(size);
	ps_proto_encode(b->data, size, &h, text, strlen(text), v, n);
	free(v);
	free(text);
	conn_send(c, 0, 0, 0, 0, 0, NULL, 0, b, 0);
	ps_buf_unref(b);
}

/* Replies with the whole model: a header, then the shared body. */
static void
conn_model(struct ps_conn *c)
{
	struct ps_server	*srv = c->srv;
	struct ps_buf		*body;

	body = ps_server_model_body(srv);
	conn_send(c, PS_OP_REPLY, 0, c->msg.h.id, srv->body_version, 0, NULL,
	    0, body, (uint32_t)ps_store_count(srv->store));
}

static void
conn_init(struct ps_conn *c)
{
	struct ps_server	*srv = c->srv;
	char			*cause = NULL;
	int			 code = PS_E_INTERNAL;

	if (c->msg.count == 0) {
		conn_error(c, PS_E_MALFORMED, "INIT carries no tensors");
		return;
	}
	if (ps_store_empty(srv->store)) {
		if (ps_store_init(srv->store, c->msg.t, c->msg.count, &code,
		    &cause) != 0) {
			conn_error(c, code, "%s", cause);
			free(cause);
			return;
		}
		ps_server_model_created(srv);
		ps_log_info("model created by worker %llu (%s): %zu tensors, "
		    "%zu parameters", (unsigned long long)c->w->id, c->w->name,
		    ps_store_count(srv->store), ps_store_params(srv->store));
	} else if (ps_store_matches(srv->store, c->msg.t, c->msg.count,
	    &code, &cause) != 0) {
		conn_error(c, code, "%s", cause);
		free(cause);
		return;
	}
	c->w->c.inits++;
	srv->total.inits++;
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
	conn_model(c);
}

/*
 * Checks the names of a PULL against the model and marks them in mark[]
 * (one byte per model tensor, zeroed by the caller).  Answers with an
 * error and returns -1 when one is unknown or named twice.
 */
static int
conn_names(struct ps_conn *c, uint8_t *mark)
{
	const struct ps_tview	*t;
	size_t			 i, idx;

	for (i = 0; i < c->msg.count; i++) {
		t = &c->msg.t[i];
		if (ps_store_find(c->srv->store, t->name, t->namelen,
		    &idx) == NULL) {
			conn_error(c, PS_E_UNKNOWN_TENSOR, "record %zu: no "
			    "tensor named \"%.*s\"", i, (int)t->namelen,
			    t->name);
			return -1;
		}
		if (mark != NULL && mark[idx]) {
			conn_error(c, PS_E_DUPLICATE, "record %zu: \"%.*s\" is "
			    "named twice", i, (int)t->namelen, t->name);
			return -1;
		}
		if (mark != NULL)
			mark[idx] = 1;
	}
	return 0;
}

static void
conn_pull(struct ps_conn *c)
{
	struct ps_server	*srv = c->srv;
	uint8_t			*mark;
	int			 r;

	if (ps_store_empty(srv->store)) {
		conn_error(c, PS_E_NO_MODEL, "there is no model yet: INIT "
		    "first");
		return;
	}
	if (c->msg.count != 0) {
		mark = xcalloc(ps_store_count(srv->store), 1);
		r = conn_names(c, mark);
		free(mark);
		if (r != 0)
			return;
	}
	if (!ps_mode_pull_ready(srv->mode, c->w->id)) {
		conn_park(c, PS_PARK_PULL);
		return;
	}
	conn_pull_answer(c);
}

/* Answers a validated pull: the shared body, or the named tensors. */
static void
conn_pull_answer(struct ps_conn *c)
{
	struct ps_server	*srv = c->srv;
	const struct ps_tensor	*t;
	struct ps_tview		 v;
	struct ps_buf		*b;
	uint8_t			*mark, *p;
	size_t			 i, n, total = 0;
	uint32_t		 count = 0;

	c->w->c.pulls++;
	srv->total.pulls++;
	if (c->msg.count == 0) {
		conn_model(c);
		return;
	}
	n = ps_store_count(srv->store);
	mark = xcalloc(n, 1);
	if (conn_names(c, mark) != 0) {
		free(mark);
		return;
	}
	memset(&v, 0, sizeof v);
	v.dtype = PS_DTYPE_F32;
	for (i = 0; i < n; i++) {
		if (!mark[i])
			continue;
		t = ps_store_tensor(srv->store, i);
		v.namelen = t->namelen;
		v.ndim = t->ndim;
		v.nbytes = t->n * sizeof (float);
		total += ps_proto_record_size(&v);
	}
	b = ps_buf_new(total);
	p = b->data;
	for (i = 0; i < n; i++) {
		if (!mark[i])
			continue;
		t = ps_store_tensor(srv->store, i);
		v.name = t->name;
		v.namelen = t->namelen;
		v.ndim = t->ndim;
		memcpy(v.dims, t->dims, sizeof v.dims);
		v.data = t->data;
		v.nbytes = t->n * sizeof (float);
		p += ps_proto_put_record(p, &v);
		count++;
	}
	free(mark);
	conn_send(c, PS_OP_REPLY, 0, c->msg.h.id, ps_store_version(srv->store),
	    0, NULL, 0, b, count);
	ps_buf_unref(b);
}

/*
 * The push as F32 views: the decoded views themselves, or copies whose
 * F16/BF16 data was converted into the connection's scratch buffer.
 */
static int
conn_f32(struct ps_conn *c, const struct ps_tview **out)
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
conn_push_reject(struct ps_conn *c, int code, char *cause)
{
	static int64_t		 last_log;
	static uint64_t		 quiet;
	struct ps_server	*srv = c->srv;
	int64_t			 now = ps_server_now_us();

	if ((size_t)code < PS_SERVER_NCODES) {
		srv->total.push_reject_codes[code]++;
		c->w->c.push_reject_codes[code]++;
	}
	srv->total.push_rejects++;
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
	conn_error(c, code, "%s", cause != NULL ? cause : "refused");
	free(cause);
}

static void
conn_push(struct ps_conn *c)
{
	struct ps_server	*srv = c->srv;
	const struct ps_tview	*v;
	uint64_t		 version, seq = c->msg.h.arg;
	char			*cause = NULL;
	int			 code = PS_E_INTERNAL;

	/* Refusals are counted, so operators see a worker pushing in vain. */
	if (ps_store_empty(srv->store)) {
		conn_push_reject(c, PS_E_NO_MODEL,
		    xstrdup("there is no model yet: INIT first"));
		return;
	}
	if (c->msg.count == 0) {
		conn_push_reject(c, PS_E_MALFORMED,
		    xstrdup("PUSH carries no tensors"));
		return;
	}
	if (seq != 0 && seq <= c->w->last_seq) {
		/* A retry of a push already accepted: never applied twice. */
		if (ps_mode_in_round(srv->mode, c->w->id)) {
			conn_park(c, PS_PARK_PUSH_ROUND);
			return;
		}
		conn_send(c, PS_OP_REPLY, 0, c->msg.h.id,
		    ps_store_version(srv->store), 0,
		    "duplicate push: already applied",
		    strlen("duplicate push: already applied"), NULL, 0);
		return;
	}
	if (ps_mode_kind(srv->mode) == PS_MODE_SYNC) {
		conn_push_sync(c);
		return;
	}
	conn_f32(c, &v);
	version = ps_server_apply(srv, v, c->msg.count, &code, &cause);
	if (version == 0) {
		conn_push_reject(c, code, cause);
		return;
	}
	ps_mode_push(srv->mode, c->w->id);
	if (seq != 0)
		c->w->last_seq = seq;
	c->w->c.pushes++;
	srv->total.pushes++;
	conn_send(c, PS_OP_REPLY, 0, c->msg.h.id, version, 0, NULL, 0, NULL,
	    0);
	if (ps_mode_kind(srv->mode) == PS_MODE_SSP)
		ps_server_wake(srv);
}

/*
 * sync: the push joins the current round (its reply waits for the round)
 * or, when this worker already pushed in it, waits for the next one.
 * Invalid pushes are refused at once either way.
 */
static void
conn_push_sync(struct ps_conn *c)
{
	struct ps_server	*srv = c->srv;
	const struct ps_tview	*v;
	char			*cause = NULL;
	int			 code = PS_E_INTERNAL;

	conn_f32(c, &v);
	if (ps_mode_push_waits(srv->mode, c->w->id)) {
		if (ps_store_check(srv->store, v, c->msg.count, &code,
		    &cause) != 0) {
			conn_push_reject(c, code, cause);
			return;
		}
		conn_park(c, PS_PARK_PUSH_NEXT);
		return;
	}
	if (srv->accum == NULL)
		srv->accum = ps_accum_new(srv->store);
	if (ps_accum_add(srv->accum, srv->store, v, c->msg.count, &code,
	    &cause) != 0) {
		conn_push_reject(c, code, cause);
		return;
	}
	ps_mode_push(srv->mode, c->w->id);
	if (c->msg.h.arg != 0)
		c->w->last_seq = c->msg.h.arg;
	c->w->c.pushes++;
	srv->total.pushes++;
	conn_park(c, PS_PARK_PUSH_ROUND);
	ps_server_wake(srv);
}

int
ps_ws_retry(struct ps_conn *c)
{
	struct ps_server	*srv = c->srv;

	if (c->w == NULL) {
		ps_ws_park_error(c, PS_E_PROTOCOL, "the worker is gone");
		return 1;
	}
	switch (c->park) {
	case PS_PARK_PUSH_NEXT:
		if (ps_mode_push_waits(srv->mode, c->w->id))
			return 0;
		conn_push_sync(c);
		return 1;
	case PS_PARK_PULL:
		if (!ps_mode_pull_ready(srv->mode, c->w->id))
			return 0;
		conn_pull_answer(c);
		return 1;
	default:
		return 0;
	}
}

void
ps_ws_round_done(struct ps_conn *c, uint64_t version, const char *text)
{
	conn_send(c, PS_OP_REPLY, 0, c->msg.h.id, version, 0, text,
	    text != NULL ? strlen(text) : 0, NULL, 0);
}

void
ps_ws_park_error(struct ps_conn *c, int code, const char *text)
{
	conn_error(c, code, "%s", text);
}

static void
conn_park(struct ps_conn *c, enum ps_park why)
{
	if (c->park == PS_PARK_NONE) {
		TAILQ_INSERT_TAIL(&c->srv->parked, c, park_entry);
		c->park_us = ps_server_now_us();
		if (c->w != NULL)
			c->w->state = PS_WORKER_WAITING;
	}
	c->park = why;
}

static void
conn_unpark(struct ps_conn *c)
{
	if (c->park == PS_PARK_NONE)
		return;
	TAILQ_REMOVE(&c->srv->parked, c, park_entry);
	c->park = PS_PARK_NONE;
	if (c->w != NULL)
		c->w->state = PS_WORKER_ACTIVE;
	/* What arrived meanwhile is handled from this connection's WRITEABLE. */
	if (!STAILQ_EMPTY(&c->backlog))
		lws_callback_on_writable(c->wsi);
}

static void
conn_error(struct ps_conn *c, int code, const char *fmt, ...)
{
	struct ps_server	*srv = c->srv;
	va_list			 ap;
	char			*text;
	size_t			 len;

	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	len = ps_utf8_cut(text, strlen(text), PS_PROTO_TEXT_MAX);
	srv->total.errors++;
	if ((size_t)code < PS_SERVER_NCODES)
		srv->total.error_codes[code]++;
	if (c->w != NULL) {
		c->w->c.errors++;
		if ((size_t)code < PS_SERVER_NCODES)
			c->w->c.error_codes[code]++;
	}
	ps_log_debug("%s from %s (id %llu) refused: %s: %.*s",
	    ps_op_name(c->msg.h.op) != NULL ? ps_op_name(c->msg.h.op) : "?",
	    c->address, (unsigned long long)c->msg.h.id,
	    ps_errcode_name(code), (int)len, text);
	conn_send(c, PS_OP_ERROR, (uint16_t)code, c->msg.h.id,
	    ps_store_version(srv->store), 0, text, len, NULL, 0);
	free(text);
}

/*
 * Queues a message and ends the connection's current request.  With op 0,
 * body is a whole encoded message; otherwise a header (and text) is built
 * and body, if any, holds count records that follow it.
 */
static void
conn_send(struct ps_conn *c, uint8_t op, uint16_t status, uint64_t id,
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
		small = body != NULL && body->len <= CONN_COALESCE_MAX;
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
	conn_unpark(c);
	if (c->q.msgs >= CONN_HIGH_MSGS || c->q.bytes >= CONN_HIGH_BYTES)
		conn_flow(c, CONN_FLOW_SENDQ, 0);
	lws_callback_on_writable(c->wsi);
}

static int
conn_writeable(struct ps_conn *c)
{
	struct ps_server	*srv = c->srv;
	uint8_t			*p, save[LWS_PRE];
	size_t			 n;
	int			 flags, wp, m;

	if (!c->closing && (!STAILQ_EMPTY(&c->backlog) ||
	    (c->flow & CONN_FLOW_PARK)))
		conn_backlog_drain(c);
	if (!ps_sendq_next(&c->q, PS_SERVER_IO_CHUNK, &p, &n, &flags)) {
		if (c->closing) {
			lws_close_reason(c->wsi,
			    (enum lws_close_status)c->close_code,
			    (unsigned char *)c->close_reason,
			    strlen(c->close_reason));
			return -1;
		}
		return 0;
	}
	wp = (flags & PS_SENDQ_FIRST) ? LWS_WRITE_BINARY :
	    LWS_WRITE_CONTINUATION;
	if (!(flags & PS_SENDQ_LAST))
		wp |= LWS_WRITE_NO_FIN;
	/*
	 * lws writes the frame header into the LWS_PRE bytes before p, which
	 * in a shared body belong to the previous fragment: keep them.
	 */
	memcpy(save, p - LWS_PRE, LWS_PRE);
	m = lws_write(c->wsi, p, n, (enum lws_write_protocol)wp);
	memcpy(p - LWS_PRE, save, LWS_PRE);
	if (m < 0 || (size_t)m < n) {
		ps_log_debug("write to %s failed", c->address);
		return -1;
	}
	ps_sendq_consume(&c->q, n);
	srv->total.bytes_out += n;
	if (c->w != NULL) {
		c->w->c.bytes_out += n;
		if (flags & PS_SENDQ_LAST)
			c->w->last_seen_us = ps_server_now_us();
	}
	if ((c->flow & CONN_FLOW_SENDQ) && c->q.msgs <= CONN_LOW_MSGS &&
	    c->q.bytes <= CONN_LOW_BYTES)
		conn_flow(c, CONN_FLOW_SENDQ, 1);
	if (!ps_sendq_empty(&c->q) || c->closing)
		lws_callback_on_writable(c->wsi);
	return 0;
}
