/*
 * The psctl.worker.v1 protocol callback (psctl-protocol(7)): reassembles
 * messages under --max-message-bytes, decodes them with proto.c, answers
 * hello, init, pull and push, and writes replies one fragment per
 * WRITEABLE callback.  Requests on one connection are handled in order,
 * one at a time: while one is parked by the consistency mode, whole
 * messages that arrive wait in a short backlog (reading goes on, so a
 * worker that dies while it waits is seen at once; a full backlog turns
 * reading off).  The protocol's state is its per-vhost memory, made in
 * LWS_CALLBACK_PROTOCOL_INIT; it hears from the server core through the
 * hooks it registers there (reset, tick, stopping, busy).  Service thread
 * only.
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
/* Graceful stop: how long connections get to drain. */
#define CONN_STOP_US		(3 * LWS_US_PER_SEC)

/* Why a connection's request is parked (waiting on the mode). */
enum ps_park {
	PS_PARK_NONE = 0,
	PS_PARK_PUSH_NEXT,	/* sync: waits for the next round to join it */
	PS_PARK_PUSH_ROUND,	/* sync: in the round, waits for it to end */
	PS_PARK_PULL		/* sync or ssp: waits to be answered */
};

/* A whole message read while the connection's request was parked. */
struct ps_conn_msg {
	uint8_t			*buf;		/* owned */
	size_t			 len;
	size_t			 cap;
	STAILQ_ENTRY(ps_conn_msg) entry;
};

/*
 * One psctl.worker.v1 connection: lws's per-session memory.  Requests are
 * handled one at a time, in order: while one is parked, reading goes on
 * (so a worker that dies while it waits is noticed) but whole messages
 * wait in the backlog, and past a few of them reading stops.
 */
struct ps_conn {
	struct ps_server	*srv;		/* borrowed */
	struct ws_worker_vhd	*vhd;		/* borrowed: the protocol's */
	struct lws		*wsi;		/* borrowed, valid until CLOSED */
	struct ps_worker	*w;		/* borrowed; NULL before hello */
	char			 address[64];
	int			 live;		/* between ESTABLISHED and CLOSED */

	uint8_t			*rx;		/* owned: the message being read */
	size_t			 rxlen;
	size_t			 rxcap;
	uint8_t			*held;		/* owned: the request in hand */
	size_t			 heldcap;
	struct ps_msg		 msg;		/* owned views into held */
	/* Messages read while a request was parked, oldest first. */
	STAILQ_HEAD(, ps_conn_msg) backlog;
	size_t			 nbacklog;
	size_t			 backlog_bytes;
	struct ps_tview		*cv;		/* owned: F32 views of a push */
	size_t			 cvcap;
	float			*scratch;	/* owned: F16/BF16 converted */
	size_t			 scratchcap;	/* floats */

	struct ps_sendq		 q;		/* owned replies to write */
	unsigned		 flow;		/* reasons rx is off (CONN_FLOW_*) */

	enum ps_park		 park;
	int64_t			 park_us;
	TAILQ_ENTRY(ps_conn)	 park_entry;

	int			 closing;	/* close once q is empty */
	int			 close_code;
	char			 close_reason[96];
	TAILQ_ENTRY(ps_conn)	 entry;
};
TAILQ_HEAD(ps_conns, ps_conn);


/* The protocol's state on the vhost: lws's per-vhost memory. */
struct ws_worker_vhd {
	struct ps_server	*srv;		/* borrowed */
	struct ps_counters	*total;		/* borrowed: the server's */
	size_t			 max_message;	/* --max-message-bytes */
	size_t			 max_tensors;	/* --max-tensors */
	struct ps_conns		 conns;		/* every open connection */
	struct ps_conns		 parked;	/* in arrival order */
	struct lws_context	*ctx;		/* borrowed */
	lws_sorted_usec_list_t	 deadline;	/* stopping: the drain's end */
	int			 late;		/* the deadline passed */
};

static int	ww_init(struct lws *, const void *);
static void	ww_destroy(struct lws *);
static void	ww_reset(void *, uint64_t);
static void	ww_tick(void *, int64_t);
static void	ww_stopping(void *);
static int	ww_busy(void *);
static void	ww_deadline_cb(lws_sorted_usec_list_t *);
static void	ww_wake(struct ws_worker_vhd *);
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
static int	conn_retry(struct ps_conn *);
static void	conn_round_done(struct ps_conn *, uint64_t, const char *);
static void	conn_close(struct ps_conn *, int, const char *);
static void	conn_flow(struct ps_conn *, unsigned, int);
static void	conn_refuse(struct ps_conn *, int, const char *);
static void	conn_address(struct lws *, char *, size_t);
static char	*conn_name(const char *, size_t);

static const struct ps_server_hooks ww_hooks = {
	.reset = ww_reset,
	.tick = ww_tick,
	.stopping = ww_stopping,
	.busy = ww_busy,
};

const struct lws_protocols ps_ws_worker_protocol = {
	.name = PS_WORKER_PROTOCOL,
	.callback = ps_ws_worker_cb,
	.per_session_data_size = sizeof (struct ps_conn),
	.rx_buffer_size = PS_SERVER_IO_CHUNK,
	.tx_packet_size = PS_SERVER_IO_CHUNK,
};

int
ps_ws_worker_cb(struct lws *wsi, enum lws_callback_reasons reason,
    void *user, void *in, size_t len)
{
	struct ps_conn		*c = user;
	struct ps_server	*srv;

	switch (reason) {
	case LWS_CALLBACK_PROTOCOL_INIT:
		return ww_init(wsi, in);
	case LWS_CALLBACK_PROTOCOL_DESTROY:
		ww_destroy(wsi);
		break;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		srv = ps_server_from_wsi(wsi);
		/* New workers are refused while stopping. */
		if (ps_server_state(srv) != PS_SERVER_SERVING)
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
	default:
		break;
	}
	return 0;
}

/* PROTOCOL_INIT: the per-vhost state, and the hooks into the server. */
static int
ww_init(struct lws *wsi, const void *pvo)
{
	struct ws_worker_vhd	*vhd;
	struct ps_server	*srv = ps_server_from_wsi(wsi);

	(void)pvo;
	vhd = lws_protocol_vh_priv_zalloc(lws_get_vhost(wsi),
	    lws_get_protocol(wsi), sizeof *vhd);
	if (vhd == NULL)
		return 1;
	vhd->srv = srv;
	vhd->ctx = lws_get_context(wsi);
	vhd->total = ps_server_counters(srv);
	vhd->max_message = ps_server_opts(srv)->max_message;
	vhd->max_tensors = ps_server_opts(srv)->max_tensors;
	TAILQ_INIT(&vhd->conns);
	TAILQ_INIT(&vhd->parked);
	if (ps_server_hook(srv, &ww_hooks, vhd) != 0) {
		ps_log_error("%s: no room for the worker protocol's hooks",
		    __func__);
		return 1;
	}
	return 0;
}

/* PROTOCOL_DESTROY: lws frees the state after this. */
static void
ww_destroy(struct lws *wsi)
{
	struct ws_worker_vhd	*vhd;

	vhd = lws_protocol_vh_priv_get(lws_get_vhost(wsi),
	    lws_get_protocol(wsi));
	if (vhd == NULL)
		return;
	lws_sul_cancel(&vhd->deadline);
	ps_server_unhook(vhd->srv, vhd);
}

/*
 * The model was reset: the pushes of the dropped sync round are answered
 * with the new version, and what waited may go on.
 */
static void
ww_reset(void *arg, uint64_t version)
{
	struct ws_worker_vhd	*vhd = arg;
	struct ps_conn		*c, *next;

	for (c = TAILQ_FIRST(&vhd->parked); c != NULL; c = next) {
		next = TAILQ_NEXT(c, park_entry);
		if (c->park == PS_PARK_PUSH_ROUND)
			conn_round_done(c, version,
			    "update dropped: the model was reset");
	}
	ww_wake(vhd);
}

/* Every second: workers silent past --worker-timeout leave. */
static void
ww_tick(void *arg, int64_t now)
{
	struct ws_worker_vhd	*vhd = arg;
	struct ps_server	*srv = vhd->srv;
	struct ps_worker	*w;
	struct ps_conn		*c;
	int64_t			 limit;
	int			 left = 0;

	limit = (int64_t)ps_server_opts(srv)->worker_timeout * LWS_US_PER_SEC;
	if (limit <= 0)
		return;
	TAILQ_FOREACH(c, &vhd->conns, entry) {
		if ((w = c->w) == NULL || c->park != PS_PARK_NONE ||
		    c->closing || now - w->last_seen_us <= limit)
			continue;
		ps_log_warn("worker %llu (%s) at %s silent for %.0f s: timed "
		    "out", (unsigned long long)w->id, w->name, w->address,
		    (double)(now - w->last_seen_us) / 1e6);
		ps_server_worker_leave(srv, w, "timed out");
		c->w = NULL;
		conn_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION,
		    "silent longer than --worker-timeout");
		left = 1;
	}
	if (left)
		ww_wake(vhd);
}

/*
 * The server stops: parked requests get ERROR SHUTDOWN, every connection
 * is closed with 1001 once its replies are written, and gets 3 s for it.
 */
static void
ww_stopping(void *arg)
{
	struct ws_worker_vhd	*vhd = arg;
	struct ps_conn		*c, *next;

	ps_log_info("stopping: closing %zu connections",
	    (size_t)ps_server_workers_connected(vhd->srv));
	for (c = TAILQ_FIRST(&vhd->parked); c != NULL; c = next) {
		next = TAILQ_NEXT(c, park_entry);
		conn_error(c, PS_E_SHUTDOWN, "%s", "the server is stopping");
	}
	TAILQ_FOREACH(c, &vhd->conns, entry)
		conn_close(c, LWS_CLOSE_STATUS_GOINGAWAY,
		    "the server is stopping");
	if (!TAILQ_EMPTY(&vhd->conns))
		lws_sul_schedule(vhd->ctx, 0, &vhd->deadline, ww_deadline_cb,
		    CONN_STOP_US);
}

/* While stopping: connections still open, and their 3 s not over. */
static int
ww_busy(void *arg)
{
	struct ws_worker_vhd	*vhd = arg;

	return !TAILQ_EMPTY(&vhd->conns) && !vhd->late;
}

static void
ww_deadline_cb(lws_sorted_usec_list_t *sul)
{
	struct ws_worker_vhd	*vhd;

	vhd = lws_container_of(sul, struct ws_worker_vhd, deadline);
	ps_log_warn("stopping: %zu connections did not close in time",
	    (size_t)ps_server_workers_connected(vhd->srv));
	vhd->late = 1;
}

/*
 * Re-examines parked requests after anything the mode depends on changed
 * (a push, a worker leaving, a reset): completes a sync round that is
 * complete, answers what may now be answered.
 */
static void
ww_wake(struct ws_worker_vhd *vhd)
{
	struct ps_server	*srv = vhd->srv;
	struct ps_conn		*c, *next;
	uint64_t		 version;

	if (ps_server_state(srv) == PS_SERVER_STOPPED)
		return;
again:
	if (ps_server_round_ready(srv)) {
		version = ps_server_round_end(srv);
		for (c = TAILQ_FIRST(&vhd->parked); c != NULL; c = next) {
			next = TAILQ_NEXT(c, park_entry);
			if (c->park == PS_PARK_PUSH_ROUND)
				conn_round_done(c, version, NULL);
		}
		goto again;
	}
	TAILQ_FOREACH(c, &vhd->parked, park_entry) {
		if (c->park != PS_PARK_PUSH_ROUND && conn_retry(c))
			goto again;
	}
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
	c->vhd = lws_protocol_vh_priv_get(lws_get_vhost(wsi),
	    lws_get_protocol(wsi));
	c->wsi = wsi;
	c->live = 1;
	conn_address(wsi, c->address, sizeof c->address);
	ps_msg_init(&c->msg);
	ps_sendq_init(&c->q);
	STAILQ_INIT(&c->backlog);
	TAILQ_INSERT_TAIL(&c->vhd->conns, c, entry);
	ps_log_debug("connection from %s", c->address);
}

/*
 * CLOSED: the worker leaves (unless the server is being freed: then the
 * model and its workers go anyway), and what waited on it may go on.
 */
static void
conn_closed(struct ps_conn *c)
{
	struct ps_server	*srv = c->srv;
	struct ws_worker_vhd	*vhd = c->vhd;
	enum ps_server_state	 state = ps_server_state(srv);

	if (!c->live)
		return;
	c->live = 0;
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
	conn_backlog_free(c);
	free(c->rx);
	free(c->held);
	free(c->cv);
	free(c->scratch);
	c->rx = NULL;
	c->held = NULL;
	c->cv = NULL;
	c->scratch = NULL;
	if (state == PS_SERVER_STOPPED)
		return;
	ps_log_debug("connection from %s closed", c->address);
	if (state == PS_SERVER_DRAINING && TAILQ_EMPTY(&vhd->conns))
		return;
	ww_wake(vhd);
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

/* Closes the connection with code and reason once its replies are written. */
static void
conn_close(struct ps_conn *c, int code, const char *reason)
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
	size_t			 max = c->vhd->max_message, remaining, cap, n;
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
		c->vhd->total->errors++;
		c->vhd->total->error_codes[PS_E_TOO_LARGE]++;
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

static void
conn_message(struct ps_conn *c, const uint8_t *buf, size_t len)
{
	struct ps_server	*srv = c->srv;
	struct ps_limits	 lim;
	char			 err[256];
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
		conn_error(c, PS_E_INTERNAL, "out of memory decoding the "
		    "message");
		return;
	}
	if (r != 0) {
		conn_error(c, code, "%s", err);
		return;
	}
	if (ps_server_state(srv) != PS_SERVER_SERVING) {
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
		conn_error(c, PS_E_PROTOCOL, "HELLO was already sent on this "
		    "connection");
		return;
	}
	if (c->msg.h.arg != 0)
		w = ps_server_worker_find(srv, c->msg.h.arg);
	if (w != NULL && (old = w->conn) != NULL) {
		/* The worker reconnected before we saw it go. */
		old->w = NULL;
		if (old->park != PS_PARK_NONE)
			conn_error(old, PS_E_PROTOCOL, "%s", "worker resumed "
			    "on another connection");
		conn_close(old, LWS_CLOSE_STATUS_POLICY_VIOLATION,
		    "worker resumed on another connection");
	}
	if (w == NULL || c->msg.textlen != 0)
		name = conn_name(c->msg.text, c->msg.textlen);
	c->w = w = ps_server_worker_hello(srv, w, name, c, c->address);

	/* The reply: the worker's id and the model's names and shapes. */
	n = ps_store_count(store);
	v = xcalloc(n > 0 ? n : 1, sizeof *v);
	for (i = 0; i < n; i++)
		ps_server_view(store, i, 0, &v[i]);
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
	uint64_t		 version;

	body = ps_server_model_body(srv, &version);
	conn_send(c, PS_OP_REPLY, 0, c->msg.h.id, version, 0, NULL, 0, body,
	    (uint32_t)ps_store_count(ps_server_store(srv)));
}

static void
conn_init(struct ps_conn *c)
{
	struct ps_server	*srv = c->srv;
	struct ps_store		*store = ps_server_store(srv);
	char			*cause = NULL;
	int			 code = PS_E_INTERNAL;

	if (c->msg.count == 0) {
		conn_error(c, PS_E_MALFORMED, "INIT carries no tensors");
		return;
	}
	if (ps_store_empty(store)) {
		if (ps_server_init(srv, c->msg.t, c->msg.count, &code,
		    &cause) != 0) {
			conn_error(c, code, "%s", cause);
			free(cause);
			return;
		}
		ps_log_info("model created by worker %llu (%s): %zu tensors, "
		    "%zu parameters", (unsigned long long)c->w->id, c->w->name,
		    ps_store_count(store), ps_store_params(store));
	} else if (ps_store_matches(store, c->msg.t, c->msg.count, &code,
	    &cause) != 0) {
		conn_error(c, code, "%s", cause);
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
	const struct ps_store	*store = ps_server_store(c->srv);
	const struct ps_tview	*t;
	size_t			 i, idx;

	for (i = 0; i < c->msg.count; i++) {
		t = &c->msg.t[i];
		if (ps_store_find(store, t->name, t->namelen, &idx) == NULL) {
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
	struct ps_store		*store = ps_server_store(srv);
	uint8_t			*mark;
	int			 r;

	if (ps_store_empty(store)) {
		conn_error(c, PS_E_NO_MODEL, "there is no model yet: INIT "
		    "first");
		return;
	}
	if (c->msg.count != 0) {
		mark = xcalloc(ps_store_count(store), 1);
		r = conn_names(c, mark);
		free(mark);
		if (r != 0)
			return;
	}
	if (!ps_mode_pull_ready(ps_server_mode(srv), c->w->id)) {
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
	struct ps_store		*store = ps_server_store(srv);
	struct ps_tview		 v;
	struct ps_buf		*b;
	uint8_t			*mark, *p;
	size_t			 i, n, total = 0;
	uint32_t		 count = 0;

	c->w->c.pulls++;
	c->vhd->total->pulls++;
	if (c->msg.count == 0) {
		conn_model(c);
		return;
	}
	n = ps_store_count(store);
	mark = xcalloc(n, 1);
	if (conn_names(c, mark) != 0) {
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
	conn_send(c, PS_OP_REPLY, 0, c->msg.h.id, ps_store_version(store), 0,
	    NULL, 0, b, count);
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
	conn_error(c, code, "%s", cause != NULL ? cause : "refused");
	free(cause);
}

static void
conn_push(struct ps_conn *c)
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
		if (ps_mode_in_round(mode, c->w->id)) {
			conn_park(c, PS_PARK_PUSH_ROUND);
			return;
		}
		conn_send(c, PS_OP_REPLY, 0, c->msg.h.id,
		    ps_store_version(store), 0,
		    "duplicate push: already applied",
		    strlen("duplicate push: already applied"), NULL, 0);
		return;
	}
	if (ps_mode_kind(mode) == PS_MODE_SYNC) {
		conn_push_sync(c);
		return;
	}
	conn_f32(c, &v);
	version = ps_server_apply(srv, v, c->msg.count, &code, &cause);
	if (version == 0) {
		conn_push_reject(c, code, cause);
		return;
	}
	ps_mode_push(mode, c->w->id);
	if (seq != 0)
		c->w->last_seq = seq;
	c->w->c.pushes++;
	c->vhd->total->pushes++;
	conn_send(c, PS_OP_REPLY, 0, c->msg.h.id, version, 0, NULL, 0, NULL,
	    0);
	if (ps_mode_kind(mode) == PS_MODE_SSP)
		ww_wake(c->vhd);
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
	struct ps_mode		*mode = ps_server_mode(srv);
	const struct ps_tview	*v;
	char			*cause = NULL;
	int			 code = PS_E_INTERNAL;

	conn_f32(c, &v);
	if (ps_mode_push_waits(mode, c->w->id)) {
		if (ps_store_check(ps_server_store(srv), v, c->msg.count,
		    &code, &cause) != 0) {
			conn_push_reject(c, code, cause);
			return;
		}
		conn_park(c, PS_PARK_PUSH_NEXT);
		return;
	}
	if (ps_server_round_add(srv, v, c->msg.count, &code, &cause) != 0) {
		conn_push_reject(c, code, cause);
		return;
	}
	ps_mode_push(mode, c->w->id);
	if (c->msg.h.arg != 0)
		c->w->last_seq = c->msg.h.arg;
	c->w->c.pushes++;
	c->vhd->total->pushes++;
	conn_park(c, PS_PARK_PUSH_ROUND);
	ww_wake(c->vhd);
}

/* Tries a parked request again; returns 1 if it progressed. */
static int
conn_retry(struct ps_conn *c)
{
	struct ps_mode	*mode = ps_server_mode(c->srv);

	if (c->w == NULL) {
		conn_error(c, PS_E_PROTOCOL, "%s", "the worker is gone");
		return 1;
	}
	switch (c->park) {
	case PS_PARK_PUSH_NEXT:
		if (ps_mode_push_waits(mode, c->w->id))
			return 0;
		conn_push_sync(c);
		return 1;
	case PS_PARK_PULL:
		if (!ps_mode_pull_ready(mode, c->w->id))
			return 0;
		conn_pull_answer(c);
		return 1;
	default:
		return 0;
	}
}

/* Answers a push parked in a round that ended with version (text may be NULL). */
static void
conn_round_done(struct ps_conn *c, uint64_t version, const char *text)
{
	conn_send(c, PS_OP_REPLY, 0, c->msg.h.id, version, 0, text,
	    text != NULL ? strlen(text) : 0, NULL, 0);
}

static void
conn_park(struct ps_conn *c, enum ps_park why)
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
conn_unpark(struct ps_conn *c)
{
	if (c->park == PS_PARK_NONE)
		return;
	TAILQ_REMOVE(&c->vhd->parked, c, park_entry);
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
	conn_send(c, PS_OP_ERROR, (uint16_t)code, c->msg.h.id,
	    ps_store_version(ps_server_store(c->srv)), 0, text, len, NULL, 0);
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
	c->vhd->total->bytes_out += n;
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
