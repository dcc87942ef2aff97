/*
 * The psctl.worker.v1 protocol's lws side (psctl-protocol(7)): reassembles
 * messages under --max-message-bytes and hands each whole one to the
 * request handlers (wreq.c), keeps what arrives while a request is parked
 * in a short backlog (reading goes on, so a worker that dies while it
 * waits is seen at once; a full backlog turns reading off), writes the
 * replies one fragment per WRITEABLE callback, and closes.  The protocol's
 * state is its per-vhost memory, made in LWS_CALLBACK_PROTOCOL_INIT; it
 * hears from the server core through the hooks it registers there.
 * Service thread only.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "auth.h"
#include "log.h"
#include "proto.h"
#include "sendq.h"
#include "server.h"
#include "wreq.h"
#include "ws-worker.h"
#include "wsguard.h"
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

/* Graceful stop: how long connections get to drain. */
#define CONN_STOP_US		(3 * LWS_US_PER_SEC)

/*
 * Receive buffers.  A message's buffer starts at CONN_GROW_MIN (or the
 * message's size when that is smaller) and doubles as bytes arrive, never
 * past the end of the frame being read: a header announcing a gigabyte
 * costs what actually arrives.  Once the message is handled, a buffer of
 * at most CONN_KEEP_BYTES stays with its connection for the next message;
 * a larger one goes back to the protocol's pool (at most CONN_POOL_MAX
 * buffers), where the next large message takes it instead of faulting in
 * fresh pages, and what does not fit in the pool is freed.
 */
#define CONN_GROW_MIN		((size_t)64 << 10)
#define CONN_KEEP_BYTES		((size_t)4 << 10)
#define CONN_POOL_MAX		4
#define CONN_POOL_BYTES		((size_t)64 << 20)

/* A whole message read while the connection's request was parked. */
struct conn_msg {
	uint8_t			*buf;		/* owned */
	size_t			 len;
	size_t			 cap;
	STAILQ_ENTRY(conn_msg)	 entry;
};

/* One connection: lws's per-session memory. */
struct conn {
	struct ps_conn		 c;		/* the handlers' part: first */
	int			 live;		/* between ESTABLISHED and CLOSED */
	uint8_t			*rx;		/* owned: the message being read */
	size_t			 rxlen;
	size_t			 rxcap;
	/* Messages read while a request was parked, oldest first. */
	STAILQ_HEAD(, conn_msg)	 backlog;
	size_t			 nbacklog;
	size_t			 backlog_bytes;
	unsigned		 flow;		/* reasons rx is off (CONN_FLOW_*) */
	int			 close_code;
	char			 close_reason[96];
};

/* A large receive buffer no connection holds now. */
struct ww_rxbuf {
	uint8_t			*p;		/* owned */
	size_t			 cap;
};

/* The protocol's state on the vhost: lws's per-vhost memory. */
struct ww_vhd {
	struct ps_wreq_vhd	 p;		/* the handlers' part */
	struct ww_rxbuf		 pool[CONN_POOL_MAX];
	size_t			 npool;
	size_t			 pool_bytes;
	struct lws_context	*ctx;		/* borrowed */
	lws_sorted_usec_list_t	 deadline;	/* stopping: the drain's end */
	int			 late;		/* the deadline passed */
};

static int	ww_init(struct lws *);
static void	ww_destroy(struct lws *);
static void	ww_reset(void *, uint64_t);
static void	ww_tick(void *, int64_t);
static void	ww_stopping(void *);
static int	ww_busy(void *);
static void	ww_deadline_cb(lws_sorted_usec_list_t *);
static void	conn_established(struct conn *, struct lws *);
static int	conn_receive(struct conn *, const void *, size_t);
static int	conn_writeable(struct conn *);
static void	conn_closed(struct conn *);
static int	conn_grow(struct conn *, size_t, size_t);
static void	conn_handle(struct conn *, uint8_t *, size_t, size_t);
static void	conn_done(struct conn *);
static void	conn_release(struct conn *, uint8_t *, size_t);
static void	conn_too_large(struct conn *, int);
static void	ww_pool_free(struct ww_vhd *);
static void	conn_backlog_add(struct conn *, size_t);
static void	conn_backlog_drain(struct conn *);
static void	conn_backlog_free(struct conn *);
static void	conn_queued(struct ps_conn *);
static void	conn_close(struct ps_conn *, int, const char *);
static void	conn_flow(struct conn *, unsigned, int);
static void	conn_refuse(struct conn *, int, const char *);
static void	conn_address(struct lws *, char *, size_t);

static const struct ps_server_hooks ww_hooks = {
	.reset = ww_reset,
	.tick = ww_tick,
	.stopping = ww_stopping,
	.busy = ww_busy,
};

static const struct ps_wreq_ops ww_ops = {
	.queued = conn_queued,
	.close = conn_close,
};

const struct lws_protocols ps_ws_worker_protocol = {
	.name = PS_WORKER_PROTOCOL,
	.callback = ps_ws_worker_cb,
	.per_session_data_size = sizeof (struct conn),
	.rx_buffer_size = PS_SERVER_IO_CHUNK,
	.tx_packet_size = PS_SERVER_IO_CHUNK,
};

int
ps_ws_worker_cb(struct lws *wsi, enum lws_callback_reasons reason,
    void *user, void *in, size_t len)
{
	struct conn		*c = user;
	struct ps_server	*srv;
	const char		*why;

	switch (reason) {
	case LWS_CALLBACK_PROTOCOL_INIT:
		return ww_init(wsi);
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
		ps_wsguard_established(wsi);
		break;
	case LWS_CALLBACK_RECEIVE:
		return conn_receive(c, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if ((why = ps_wsguard_broken(wsi)) != NULL) {
			/* Broken framing (wsguard.h): close 1002. */
			conn_refuse(c, LWS_CLOSE_STATUS_PROTOCOL_ERR, why);
			return -1;
		}
		return conn_writeable(c);
	case LWS_CALLBACK_CLOSED:
		ps_wsguard_closed(wsi);
		conn_closed(c);
		break;
	default:
		break;
	}
	return 0;
}

/* PROTOCOL_INIT: the per-vhost state, and the hooks into the server. */
static int
ww_init(struct lws *wsi)
{
	struct ww_vhd		*vhd;
	struct ps_server	*srv = ps_server_from_wsi(wsi);

	vhd = lws_protocol_vh_priv_zalloc(lws_get_vhost(wsi),
	    lws_get_protocol(wsi), sizeof *vhd);
	if (vhd == NULL)
		return 1;
	ps_wreq_vhd_init(&vhd->p, srv, &ww_ops);
	vhd->ctx = lws_get_context(wsi);
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
	struct ww_vhd	*vhd;

	vhd = lws_protocol_vh_priv_get(lws_get_vhost(wsi),
	    lws_get_protocol(wsi));
	if (vhd == NULL)
		return;
	lws_sul_cancel(&vhd->deadline);
	ps_server_unhook(vhd->p.srv, vhd);
	ps_wreq_vhd_free(&vhd->p);
	ww_pool_free(vhd);
}

static void
ww_pool_free(struct ww_vhd *vhd)
{
	while (vhd->npool > 0)
		free(vhd->pool[--vhd->npool].p);
	vhd->pool_bytes = 0;
}

static void
ww_reset(void *arg, uint64_t version)
{
	struct ww_vhd	*vhd = arg;

	ps_wreq_reset(&vhd->p, version);
}

/*
 * Once a second: workers silent too long leave, and a connection whose
 * frame header announced more than --max-message-bytes is answered 1009
 * even when no byte of the payload follows (RECEIVE, which checks the
 * same, is only called for payload).  lws has parsed the length by then:
 * lws_remaining_packet_payload() is the frame's declared length less what
 * was read of it, and while the length's own bytes are still arriving it
 * only grows, so a value over the limit is final.
 */
static void
ww_tick(void *arg, int64_t now)
{
	struct ww_vhd	*vhd = arg;
	struct ps_conn	*pc;
	struct conn	*c;
	size_t		 max = vhd->p.max_message;

	TAILQ_FOREACH(pc, &vhd->p.conns, entry) {
		c = (struct conn *)pc;
		if (pc->closing || !c->live)
			continue;
		if (lws_remaining_packet_payload(pc->wsi) > max - c->rxlen)
			conn_too_large(c, 0);
	}
	ps_wreq_tick(&vhd->p, now);
}

/* The server stops: the connections close, and get 3 s for it. */
static void
ww_stopping(void *arg)
{
	struct ww_vhd	*vhd = arg;

	ps_wreq_stopping(&vhd->p);
	if (!TAILQ_EMPTY(&vhd->p.conns))
		lws_sul_schedule(vhd->ctx, 0, &vhd->deadline, ww_deadline_cb,
		    CONN_STOP_US);
}

/* While stopping: connections still open, and their 3 s not over. */
static int
ww_busy(void *arg)
{
	struct ww_vhd	*vhd = arg;

	return !TAILQ_EMPTY(&vhd->p.conns) && !vhd->late;
}

static void
ww_deadline_cb(lws_sorted_usec_list_t *sul)
{
	struct ww_vhd	*vhd;

	vhd = lws_container_of(sul, struct ww_vhd, deadline);
	ps_log_warn("stopping: %zu connections did not close in time",
	    (size_t)ps_server_workers_connected(vhd->p.srv));
	vhd->late = 1;
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
conn_established(struct conn *c, struct lws *wsi)
{
	struct ww_vhd	*vhd;
	char		 address[64];

	vhd = lws_protocol_vh_priv_get(lws_get_vhost(wsi),
	    lws_get_protocol(wsi));
	memset(c, 0, sizeof *c);
	conn_address(wsi, address, sizeof address);
	ps_wreq_open(&vhd->p, &c->c, wsi, address);
	c->live = 1;
	STAILQ_INIT(&c->backlog);
}

static void
conn_closed(struct conn *c)
{
	uint8_t	*p;

	if (!c->live)
		return;
	c->live = 0;
	conn_backlog_free(c);
	p = c->rx;
	c->rx = NULL;
	conn_release(c, p, c->rxcap);
	c->rxcap = 0;
	c->rxlen = 0;
	ps_wreq_closed(&c->c);
}

/* Closes at once with code: for a peer that broke the framing rules. */
static void
conn_refuse(struct conn *c, int code, const char *reason)
{
	struct ps_worker	*w = c->c.w;

	ps_log_info("worker %llu (%s) at %s: closing with %d: %s",
	    w != NULL ? (unsigned long long)w->id : 0ULL,
	    w != NULL ? w->name : "-", c->c.address, code, reason);
	lws_close_reason(c->c.wsi, (enum lws_close_status)code,
	    (unsigned char *)reason, strlen(reason));
}

/* The handlers' close: once the replies are written. */
static void
conn_close(struct ps_conn *pc, int code, const char *reason)
{
	struct conn	*c = (struct conn *)pc;

	if (pc->closing)
		return;
	pc->closing = 1;
	c->close_code = code;
	snprintf(c->close_reason, sizeof c->close_reason, "%s", reason);
	lws_callback_on_writable(pc->wsi);
	/* A peer that stops reading cannot hold the connection open. */
	lws_set_timeout(pc->wsi, PENDING_TIMEOUT_USER_OK, 5);
}

/* The handlers queued a message: write it, and read less past high water. */
static void
conn_queued(struct ps_conn *pc)
{
	struct conn	*c = (struct conn *)pc;

	if (pc->q.msgs >= CONN_HIGH_MSGS || pc->q.bytes >= CONN_HIGH_BYTES)
		conn_flow(c, CONN_FLOW_SENDQ, 0);
	lws_callback_on_writable(pc->wsi);
}

static void
conn_flow(struct conn *c, unsigned bit, int enable)
{
	if (!enable && !(c->flow & bit)) {
		c->flow |= bit;
		lws_rx_flow_control(c->c.wsi,
		    (int)(LWS_RXFLOW_REASON_APPLIES_DISABLE | bit));
	} else if (enable && (c->flow & bit)) {
		c->flow &= ~bit;
		lws_rx_flow_control(c->c.wsi,
		    (int)(LWS_RXFLOW_REASON_APPLIES_ENABLE | bit));
	}
}

/*
 * A message over --max-message-bytes: counted as too_large, and the
 * connection closed with 1009, at once (now) from RECEIVE, else once what
 * is queued is written.
 */
static void
conn_too_large(struct conn *c, int now)
{
	char	reason[96];

	snprintf(reason, sizeof reason, "message over the limit of %zu bytes",
	    c->c.vhd->max_message);
	ps_wreq_too_large(&c->c);
	if (now)
		conn_refuse(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, reason);
	else {
		ps_log_info("%s: closing with %d: %s", c->c.address,
		    LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, reason);
		conn_close(&c->c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, reason);
	}
}

static int
conn_receive(struct conn *c, const void *in, size_t len)
{
	struct ps_conn	*pc = &c->c;
	size_t		 max = pc->vhd->max_message, remaining, n, cap;
	uint8_t		*p;
	char		 reason[96];

	if (pc->closing)
		return 0;
	if (!lws_frame_is_binary(pc->wsi)) {
		conn_refuse(c, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
		    "text frames are not part of " PS_WORKER_PROTOCOL);
		return -1;
	}
	remaining = lws_remaining_packet_payload(pc->wsi);
	if (len > max - c->rxlen || remaining > max - c->rxlen - len) {
		conn_too_large(c, 1);
		return -1;
	}
	if (conn_grow(c, c->rxlen + len, c->rxlen + len + remaining) != 0) {
		/* This message is refused; the server and the model go on. */
		snprintf(reason, sizeof reason, "out of memory for a message "
		    "of %zu bytes", c->rxlen + len + remaining);
		ps_log_warn("%s: %s", pc->address, reason);
		conn_refuse(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, reason);
		return -1;
	}
	if (len != 0) {
		memcpy(c->rx + c->rxlen, in, len);
		c->rxlen += len;
	}
	if (!lws_is_final_fragment(pc->wsi) || remaining != 0)
		return 0;
	n = c->rxlen;
	c->rxlen = 0;
	if (pc->park != PS_PARK_NONE || !STAILQ_EMPTY(&c->backlog)) {
		conn_backlog_add(c, n);
		return 0;
	}
	p = c->rx;
	cap = c->rxcap;
	c->rx = NULL;
	c->rxcap = 0;
	conn_handle(c, p, cap, n);
	return 0;
}

/*
 * Makes room for need bytes in rx, growing with what arrives: doubling,
 * from CONN_GROW_MIN, never past end (where the frame being read ends).
 * A large buffer comes from the pool when it has one.  Returns -1, with
 * rx as it was, when memory is short.
 */
static int
conn_grow(struct conn *c, size_t need, size_t end)
{
	struct ww_vhd	*vhd = (struct ww_vhd *)c->c.vhd;
	struct ww_rxbuf	*b;
	size_t		 cap, i, best;
	uint8_t		*p;

	if (c->rxlen == 0 && end > CONN_GROW_MIN && c->rxcap < end &&
	    vhd->npool > 0) {
		/* The smallest pooled buffer that holds the frame, else the largest. */
		best = 0;
		for (i = 1; i < vhd->npool; i++) {
			b = &vhd->pool[i];
			if (vhd->pool[best].cap >= end) {
				if (b->cap >= end && b->cap < vhd->pool[best].cap)
					best = i;
			} else if (b->cap > vhd->pool[best].cap)
				best = i;
		}
		free(c->rx);	/* at most a small one, kept */
		c->rx = vhd->pool[best].p;
		c->rxcap = vhd->pool[best].cap;
		vhd->pool_bytes -= c->rxcap;
		vhd->pool[best] = vhd->pool[--vhd->npool];
	}
	if (need <= c->rxcap)
		return 0;
	cap = c->rxcap * 2;
	if (cap < CONN_GROW_MIN)
		cap = CONN_GROW_MIN;
	if (cap > end)
		cap = end;
	if (cap < need)
		cap = need;
	if ((p = realloc(c->rx, cap)) == NULL)
		return -1;
	c->rx = p;
	c->rxcap = cap;
	return 0;
}

/*
 * Hands one whole message (buf, whose allocation of cap bytes moves into
 * the connection's held) to the handlers, after letting the previous one's
 * buffer go.
 */
static void
conn_handle(struct conn *c, uint8_t *buf, size_t cap, size_t n)
{
	struct ps_conn	*pc = &c->c;

	conn_done(c);
	pc->held = buf;
	pc->heldcap = cap;
	ps_wreq_message(pc, pc->held, n);
	conn_done(c);
}

/*
 * The request in hand is answered (not parked): its buffer goes, so that
 * no connection keeps a large one between messages.
 */
static void
conn_done(struct conn *c)
{
	struct ps_conn	*pc = &c->c;

	if (pc->park != PS_PARK_NONE || pc->held == NULL)
		return;
	conn_release(c, pc->held, pc->heldcap);
	pc->held = NULL;
	pc->heldcap = 0;
}

/*
 * Lets a buffer of cap bytes go (p is not c->rx): a small one stays for
 * the connection's next message when it has none; a large one goes to the
 * pool, which frees its smallest when full.
 */
static void
conn_release(struct conn *c, uint8_t *p, size_t cap)
{
	struct ww_vhd	*vhd = (struct ww_vhd *)c->c.vhd;
	struct ww_rxbuf	*b;
	size_t		 i, small;

	if (p == NULL)
		return;
	if (cap <= CONN_KEEP_BYTES) {
		if (c->rx == NULL && c->live) {
			c->rx = p;
			c->rxcap = cap;
		} else
			free(p);
		return;
	}
	if (vhd->npool == CONN_POOL_MAX ||
	    vhd->pool_bytes + cap > CONN_POOL_BYTES) {
		small = 0;
		for (i = 1; i < vhd->npool; i++)
			if (vhd->pool[i].cap < vhd->pool[small].cap)
				small = i;
		if (vhd->npool == 0 || vhd->pool[small].cap >= cap) {
			free(p);
			return;
		}
		b = &vhd->pool[small];
		free(b->p);
		vhd->pool_bytes -= b->cap;
		*b = vhd->pool[--vhd->npool];
		if (vhd->pool_bytes + cap > CONN_POOL_BYTES) {
			free(p);
			return;
		}
	}
	vhd->pool[vhd->npool].p = p;
	vhd->pool[vhd->npool].cap = cap;
	vhd->npool++;
	vhd->pool_bytes += cap;
}

/* Keeps a message read while parked (rx's buffer moves into the item). */
static void
conn_backlog_add(struct conn *c, size_t n)
{
	struct conn_msg	*m;

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
 * Runs in the connection's own WRITEABLE callback, which every reply asks
 * for, so what arrived while a request was parked goes on once it is
 * answered.
 */
static void
conn_backlog_drain(struct conn *c)
{
	struct ps_conn	*pc = &c->c;
	struct conn_msg	*m;

	while (pc->park == PS_PARK_NONE && c->live &&
	    (m = STAILQ_FIRST(&c->backlog)) != NULL) {
		STAILQ_REMOVE_HEAD(&c->backlog, entry);
		c->nbacklog--;
		c->backlog_bytes -= m->len;
		conn_handle(c, m->buf, m->cap, m->len);
		free(m);
	}
	conn_done(c);
	if (c->nbacklog < CONN_BACKLOG_MSGS &&
	    c->backlog_bytes < CONN_BACKLOG_BYTES)
		conn_flow(c, CONN_FLOW_PARK, 1);
}

static void
conn_backlog_free(struct conn *c)
{
	struct conn_msg	*m;

	while ((m = STAILQ_FIRST(&c->backlog)) != NULL) {
		STAILQ_REMOVE_HEAD(&c->backlog, entry);
		conn_release(c, m->buf, m->cap);
		free(m);
	}
	c->nbacklog = 0;
	c->backlog_bytes = 0;
}

static int
conn_writeable(struct conn *c)
{
	struct ps_conn	*pc = &c->c;
	uint8_t		*p, save[LWS_PRE];
	size_t		 n;
	int		 flags, wp, m;

	if (!pc->closing && (!STAILQ_EMPTY(&c->backlog) ||
	    (c->flow & CONN_FLOW_PARK)))
		conn_backlog_drain(c);
	if (!ps_sendq_next(&pc->q, PS_SERVER_IO_CHUNK, &p, &n, &flags)) {
		if (pc->closing) {
			lws_close_reason(pc->wsi,
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
	m = lws_write(pc->wsi, p, n, (enum lws_write_protocol)wp);
	memcpy(p - LWS_PRE, save, LWS_PRE);
	if (m < 0 || (size_t)m < n) {
		ps_log_debug("write to %s failed", pc->address);
		return -1;
	}
	ps_sendq_consume(&pc->q, n);
	pc->vhd->total->bytes_out += n;
	if (pc->w != NULL) {
		pc->w->c.bytes_out += n;
		if (flags & PS_SENDQ_LAST)
			pc->w->last_seen_us = ps_server_now_us();
	}
	if ((c->flow & CONN_FLOW_SENDQ) && pc->q.msgs <= CONN_LOW_MSGS &&
	    pc->q.bytes <= CONN_LOW_BYTES)
		conn_flow(c, CONN_FLOW_SENDQ, 1);
	if (!ps_sendq_empty(&pc->q) || pc->closing)
		lws_callback_on_writable(pc->wsi);
	return 0;
}
