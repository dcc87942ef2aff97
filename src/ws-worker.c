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
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#if defined(__linux__)
#include <linux/sockios.h>
#endif
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "auth.h"
#include "log.h"
#include "proto.h"
#include "sendq.h"
#include "server.h"
#include "tcp.h"
#include "wreq.h"
#include "ws-worker.h"
#include "wsguard.h"
#include "xmalloc.h"

/* Reasons reading is off (lws rx flow control reason bits b1..b5). */
#define CONN_FLOW_PARK		(1 << 1)	/* the parked backlog is full */
#define CONN_FLOW_SENDQ		(1 << 2)	/* too many replies queued */
#define CONN_FLOW_BUDGET	(1 << 3)	/* waits for --max-inflight-bytes */

/* Send queue high and low water marks. */
#define CONN_HIGH_MSGS		32
#define CONN_LOW_MSGS		8
#define CONN_HIGH_BYTES		((size_t)256 << 20)
#define CONN_LOW_BYTES		((size_t)64 << 20)

/* Messages read while parked: past either, reading stops until drained. */
#define CONN_BACKLOG_MSGS	4
#define CONN_BACKLOG_BYTES	((size_t)64 << 20)

/* Most bytes of a frame reading waits for (conn_lowat). */
#define CONN_LOWAT		((size_t)128 << 10)

/*
 * SO_RCVBUF of a worker connection (the kernel doubles it): what the
 * kernel may queue for one worker.  Left to autotuning, a connection the
 * receive budget pauses fills up to tcp_rmem's maximum (32 MiB on Debian
 * 12): 64 workers pushing queued 880 MB in the kernel, which then ran
 * short of TCP memory (tcp_mem) and dropped the segments of the one
 * connection being read, whose retransmissions backed off until the
 * workers timed out after 30 s.  4 MiB a connection keeps one worker's
 * rate on loopback.
 *
 * Even so, every pushing worker that waits for the budget has its 4 MiB
 * queued: 400 workers pushing a 40 MB model held 1.6 GB, past this
 * host's tcp_mem threshold (1.5 GB), and the same collapse followed:
 * 22-29 MiB/s, 722 segments dropped, 386-396 of the 400 timed out.  So
 * a connection starts with CONN_RCVBUF_MIN and gets CONN_RCVBUF when a
 * large message of it is admitted, while the large buffers of all
 * connections, summed as the kernel counts them, stay within
 * --max-socket-bytes (by default half of tcp_mem's threshold:
 * ps_tcp_mem_share()).  It keeps it until it closes: TCP never takes
 * back a window it has offered, and a receive buffer made smaller than
 * what the peer may already send makes the kernel drop segments.  The
 * same 400 then ran at 887-979 MiB/s, none timed out and nothing
 * dropped; with 256 KiB each (--max-socket-bytes 0) at 801 MiB/s, while
 * one worker alone through 256 KiB loses a third of its rate (1,274
 * against 1,982 MiB/s).
 */
#define CONN_RCVBUF		(2 << 20)
#define CONN_RCVBUF_MIN		(128 << 10)

/* The most one WRITEABLE callback writes (whole fragments). */
#define CONN_WRITE_MAX		((size_t)16 * PS_SERVER_IO_CHUNK)

/* Graceful stop: how long connections get to drain. */
#define CONN_STOP_US		(3 * LWS_US_PER_SEC)

/*
 * Receive buffers and the receive budget (--max-inflight-bytes).
 *
 * Every receive buffer is charged to the budget (vhd->inflight) from its
 * first byte until its request is answered (held, or kept in the backlog
 * while one is parked), and no buffer grows past its charge unless the
 * charge can grow within the budget first.  So what the budget bounds is
 * what the server holds, whatever the peers declare and however they
 * fragment their messages.
 *
 * A message is admitted when it starts, charged what it is expected to
 * need: a PUSH the whole model in F32 (ps_server_push_max()), anything
 * else its first frame's declared length.  One that does not fit waits,
 * its connection paused with rx flow control, until enough is let go
 * (first come, first admitted); a message expected to need at most
 * CONN_GROW_MIN is never paused at its start.  A message that outgrows
 * its charge and finds no room in the budget is paused where it is
 * (stalled), and goes on first, before new messages start, once room
 * frees.  The oldest large message being read is never stalled, and one
 * message is always admitted when no large one is being read: a message
 * larger than the budget goes through, one at a time, and the messages
 * being read always finish.  What lws hands over after a pause is what it
 * read in one go (at most PS_SERVER_IO_CHUNK per connection, kept exactly
 * and charged); the rest waits in the socket.  A message that stops
 * arriving for --worker-timeout closes its connection, so that a peer
 * cannot hold the budget by announcing a large frame and sending nothing
 * more; a connection the budget holds back is never silent.
 *
 * A PUSH's buffer is made to its expected size at once (no copying as it
 * fills); any other buffer starts at CONN_GROW_MIN (or the frame's size
 * when smaller) and doubles as bytes arrive, never past the end of the
 * frame being read: a header announcing a gigabyte costs what actually
 * arrives.  Once its request is answered, a buffer of at most
 * CONN_KEEP_BYTES stays with its connection for the next message; a
 * larger one goes to the protocol's pool (at most CONN_POOL_MAX buffers,
 * within what the budget leaves free), where the next large message takes
 * it instead of faulting in fresh pages; what does not fit there is freed.
 */
#define CONN_GROW_MIN		((size_t)64 << 10)
#define CONN_KEEP_BYTES		((size_t)4 << 10)
#define CONN_POOL_MAX		4
/* What a stalled message is charged more when it goes on. */
#define CONN_STALL_STEP		((size_t)4 * PS_SERVER_IO_CHUNK)

/* A whole message read while the connection's request was parked. */
struct conn_msg {
	uint8_t			*buf;		/* owned */
	size_t			 len;
	size_t			 cap;
	size_t			 charge;	/* of the budget */
	STAILQ_ENTRY(conn_msg)	 entry;
};

/* One connection: lws's per-session memory. */
struct conn {
	struct ps_conn		 c;		/* the handlers' part: first */
	int			 live;		/* between ESTABLISHED and CLOSED */
	int			 rcvbuf_large;	/* has CONN_RCVBUF (vhd->socklarge) */
	uint8_t			*rx;		/* owned: the message being read */
	size_t			 rxlen;
	size_t			 rxcap;
	/* Messages read while a request was parked, oldest first. */
	STAILQ_HEAD(, conn_msg)	 backlog;
	size_t			 nbacklog;
	size_t			 backlog_bytes;
	unsigned		 flow;		/* reasons rx is off (CONN_FLOW_*) */
	/* The budget: see "Receive buffers" above. */
	int			 admitted;	/* rx is a message admitted */
	int			 large;		/* and on the vhd's rxq */
	int64_t			 progress_us;	/* last byte read or written */
	int			 outq;		/* unsent bytes at the last tick */
	int			 wrote;		/* written to since the last tick */
	int			 lowat;		/* SO_RCVLOWAT on the socket (1) */
	int			 inq;		/* unread bytes at the last tick */
	size_t			 reserved;	/* rx's charge (>= rxcap) */
	size_t			 held_charge;	/* c.held's charge */
	int			 waiting;	/* on the vhd's waiting list */
	int			 stalled;	/* on the vhd's stalled list */
	size_t			 want;		/* what it waits to be charged */
	int			 expected;	/* want is a PUSH's expected size */
	TAILQ_ENTRY(conn)	 wait_entry;	/* waiting or stalled */
	TAILQ_ENTRY(conn)	 rx_entry;	/* rxq */
	int			 kicked;	/* on the vhd's kick list */
	TAILQ_ENTRY(conn)	 kick_entry;
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
	size_t			 budget;	/* --max-inflight-bytes */
	size_t			 inflight;	/* charged to it now */
	size_t			 sockmax;	/* --max-socket-bytes */
	size_t			 socklarge;	/* connections with CONN_RCVBUF */
	size_t			 rcvbuf_large;	/* CONN_RCVBUF in the kernel */
	TAILQ_HEAD(, conn)	 rxq;		/* large messages being read,
						   oldest first */
	TAILQ_HEAD(, conn)	 waiting;	/* paused at a start, first come
						   first */
	TAILQ_HEAD(, conn)	 stalled;	/* paused inside a message */
	TAILQ_HEAD(, conn)	 kick;		/* asked to write this pass */
	size_t			 nkick;
	struct lws_context	*ctx;		/* borrowed */
	lws_sorted_usec_list_t	 deadline;	/* stopping: the drain's end */
	int			 late;		/* the deadline passed */
};

static int	ww_init(struct lws *);
static void	ww_destroy(struct lws *);
static void	ww_reset(void *, uint64_t);
static void	ww_tick(void *, int64_t);
static void	ww_wake(void *);
static void	ww_stopping(void *);
static int	ww_busy(void *);
static void	ww_deadline_cb(lws_sorted_usec_list_t *);
static void	ww_usage(void *, struct ps_server_usage *);
static void	conn_outq(struct conn *, int64_t);
static void	conn_inq(struct conn *, int64_t);
static void	conn_lowat(struct conn *, size_t);
static void	conn_established(struct conn *, struct lws *);
static int	conn_receive(struct conn *, const void *, size_t);
static int	conn_writeable(struct conn *);
static void	conn_closed(struct conn *);
static int	conn_grow(struct conn *, size_t, size_t);
static size_t	conn_expect(struct conn *, const uint8_t *, size_t, size_t,
		    int *);
static int	ww_room(struct ww_vhd *, struct conn *, size_t);
static int	ww_fits(struct ww_vhd *, struct conn *, size_t);
static void	ww_admit(struct ww_vhd *);
static void	ww_pool_trim(struct ww_vhd *, size_t);
static void	conn_charge(struct conn *, size_t);
static void	conn_large(struct conn *);
static void	conn_admit(struct conn *, size_t, int);
static void	conn_wait(struct conn *, size_t, int);
static void	conn_stall(struct conn *);
static void	conn_complete(struct conn *, size_t);
static void	conn_handle(struct conn *, uint8_t *, size_t, size_t, size_t);
static void	conn_done(struct conn *);
static void	conn_release(struct conn *, uint8_t *, size_t);
static void	conn_too_large(struct conn *, int);
static void	ww_pool_free(struct ww_vhd *);
static void	conn_backlog_add(struct conn *, size_t, size_t);
static void	conn_backlog_drain(struct conn *);
static void	conn_backlog_free(struct conn *);
static void	conn_queued(struct ps_conn *);
static void	conn_close(struct ps_conn *, int, const char *);
static void	conn_flow(struct conn *, unsigned, int);
static void	conn_rcvbuf(struct conn *);
static void	conn_refuse(struct conn *, int, const char *);
static void	conn_address(struct lws *, char *, size_t);

static const struct ps_server_hooks ww_hooks = {
	.reset = ww_reset,
	.tick = ww_tick,
	.wake = ww_wake,
	.stopping = ww_stopping,
	.busy = ww_busy,
	.usage = ww_usage,
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

/*
 * Before the loop waits: the connections that queued a reply in this pass
 * get their WRITEABLE now, as if the socket had said so, instead of after
 * a round through epoll.  Asking for POLLOUT and dropping it again within
 * one pass costs libev no system call; the round costs two epoll_ctl()
 * and an epoll_wait() per reply, which small pushes and pulls feel.
 * A socket that is full takes nothing, and lws waits for POLLOUT
 * as before.  Each connection on the list when this starts is served
 * once: what it queues meanwhile waits for the next pass.
 */
static void
ww_wake(void *arg)
{
	struct ww_vhd		*vhd = arg;
	struct lws_pollfd	 pfd;
	struct conn		*c;
	size_t			 n = vhd->nkick;

	while (n-- > 0 && (c = TAILQ_FIRST(&vhd->kick)) != NULL) {
		TAILQ_REMOVE(&vhd->kick, c, kick_entry);
		vhd->nkick--;
		c->kicked = 0;
		pfd.fd = lws_get_socket_fd(c->c.wsi);
		pfd.events = LWS_POLLOUT;
		pfd.revents = LWS_POLLOUT;
		if (pfd.fd >= 0)
			lws_service_fd(vhd->ctx, &pfd);
	}
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
	vhd->budget = ps_server_opts(srv)->max_inflight;
	vhd->sockmax = ps_server_opts(srv)->max_socket;
	if (vhd->sockmax == PS_SERVER_SOCKET_AUTO)
		vhd->sockmax = ps_tcp_mem_share();
	vhd->rcvbuf_large = ps_tcp_rcvbuf_size(CONN_RCVBUF);
	ps_log_debug("worker connections' large receive buffers: %zu bytes "
	    "each, at most %zu bytes in all (--max-socket-bytes)",
	    vhd->rcvbuf_large, vhd->sockmax);
	TAILQ_INIT(&vhd->rxq);
	TAILQ_INIT(&vhd->waiting);
	TAILQ_INIT(&vhd->stalled);
	TAILQ_INIT(&vhd->kick);
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

/* The receive budget's part of ps_server_usage(): reads only. */
static void
ww_usage(void *arg, struct ps_server_usage *u)
{
	struct ww_vhd	*vhd = arg;
	struct conn	*c;

	u->rx_budget = vhd->budget;
	u->rx_inflight = vhd->inflight;
	u->sock_budget = vhd->sockmax;
	u->sock_bytes = vhd->socklarge * vhd->rcvbuf_large;
	u->sock_large = vhd->socklarge;
	TAILQ_FOREACH(c, &vhd->waiting, wait_entry)
		u->rx_paused++;
	TAILQ_FOREACH(c, &vhd->stalled, wait_entry)
		u->rx_paused++;
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
 * Once a second: workers silent too long leave, a message that stopped
 * arriving for --worker-timeout closes its connection, and a connection
 * whose frame header announced more than --max-message-bytes is answered
 * 1009 even when no byte of the payload follows (RECEIVE, which checks the
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
	int64_t		 limit;

	limit = (int64_t)ps_server_opts(vhd->p.srv)->worker_timeout * 1000000;
	TAILQ_FOREACH(pc, &vhd->p.conns, entry) {
		c = (struct conn *)pc;
		if (pc->closing || !c->live)
			continue;
		if (c->waiting || c->stalled) {
			/* Held back by the budget: the server's doing. */
			c->progress_us = now;
			if (pc->w != NULL)
				pc->w->last_seen_us = now;
		}
		conn_outq(c, now);
		conn_inq(c, now);
		if (lws_remaining_packet_payload(pc->wsi) > max - c->rxlen)
			conn_too_large(c, 0);
		else if (c->admitted && limit > 0 &&
		    now - c->progress_us > limit) {
			ps_log_info("%s: closing with %d: a message stopped "
			    "arriving", pc->address, PS_WREQ_CLOSE_POLICY);
			conn_close(pc, PS_WREQ_CLOSE_POLICY, "a message stopped "
			    "arriving for longer than --worker-timeout");
		}
	}
	ps_wreq_tick(&vhd->p, now);
}

/*
 * The peer reading what the kernel still holds for it is progress too:
 * the last fragment of a large reply is written long before a slow reader
 * has it.  Linux tells how much is unsent (SIOCOUTQ); less than at the
 * last tick means the peer read.  A connection with nothing unsent at the
 * last tick and nothing written since is not asked: 10,000 idle workers
 * cost 10,000 system calls a second otherwise.
 */
static void
conn_outq(struct conn *c, int64_t now)
{
#if defined(SIOCOUTQ)
	int	n;

	if (c->outq == 0 && !c->wrote)
		return;
	c->wrote = 0;
	if (ioctl(lws_get_socket_fd(c->c.wsi), SIOCOUTQ, &n) != 0)
		return;
	if (n < c->outq) {
		c->progress_us = now;
		if (c->c.w != NULL)
			c->c.w->last_seen_us = now;
	}
	c->outq = n;
#else
	(void)c;
	(void)now;
#endif
}

/*
 * While reading waits for SO_RCVLOWAT bytes (conn_lowat), what arrives is
 * not read, so is not seen as progress by conn_receive(): more bytes
 * waiting than at the last tick is (SIOCINQ).
 */
static void
conn_inq(struct conn *c, int64_t now)
{
#if defined(SIOCINQ)
	int	n;

	if (c->lowat <= 1 ||
	    ioctl(lws_get_socket_fd(c->c.wsi), SIOCINQ, &n) != 0)
		return;
	if (n > c->inq) {
		c->progress_us = now;
		if (c->c.w != NULL)
			c->c.w->last_seen_us = now;
	}
	c->inq = n;
#else
	(void)c;
	(void)now;
#endif
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
	int		 fd, rcvbuf;

	vhd = lws_protocol_vh_priv_get(lws_get_vhost(wsi),
	    lws_get_protocol(wsi));
	memset(c, 0, sizeof *c);
	conn_address(wsi, address, sizeof address);
	ps_wreq_open(&vhd->p, &c->c, wsi, address);
	c->live = 1;
	c->lowat = 1;		/* the kernel's default */
	STAILQ_INIT(&c->backlog);
	fd = lws_get_socket_fd(wsi);
	rcvbuf = CONN_RCVBUF_MIN;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) != 0)
		ps_log_debug("%s: SO_RCVBUF: %s", address, strerror(errno));
	if (ps_tcp_local_server(fd))
		ps_log_debug("%s: same host, TCP congestion control %s",
		    address, PS_TCP_LOCAL_CC);
}

static void
conn_closed(struct conn *c)
{
	struct ww_vhd	*vhd;
	uint8_t		*p;

	if (!c->live)
		return;
	c->live = 0;
	vhd = (struct ww_vhd *)c->c.vhd;
	vhd->socklarge -= c->rcvbuf_large;
	c->rcvbuf_large = 0;
	if (c->waiting) {
		TAILQ_REMOVE(&vhd->waiting, c, wait_entry);
		c->waiting = 0;
	}
	if (c->stalled) {
		TAILQ_REMOVE(&vhd->stalled, c, wait_entry);
		c->stalled = 0;
	}
	if (c->large)
		TAILQ_REMOVE(&vhd->rxq, c, rx_entry);
	c->admitted = c->large = 0;
	if (c->kicked) {
		TAILQ_REMOVE(&vhd->kick, c, kick_entry);
		vhd->nkick--;
		c->kicked = 0;
	}
	/* ps_wreq_closed() frees held. */
	vhd->inflight -= c->reserved + c->held_charge;
	c->reserved = c->held_charge = 0;
	conn_backlog_free(c);
	p = c->rx;
	c->rx = NULL;
	conn_release(c, p, c->rxcap);
	c->rxcap = 0;
	c->rxlen = 0;
	ps_wreq_closed(&c->c);
	ww_admit(vhd);
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
	/*
	 * What the peer sent is read and dropped while the close goes out:
	 * unread bytes at close(2) reset the connection, and the peer would
	 * lose the close frame with its reason.
	 */
	conn_lowat(c, 0);
	lws_callback_on_writable(pc->wsi);
	/* A peer that stops reading cannot hold the connection open. */
	lws_set_timeout(pc->wsi, PENDING_TIMEOUT_USER_OK, 5);
}

/*
 * The handlers queued a message: write it, and read less past high water.
 * The write is tried before the loop next waits (ww_wake()).
 */
static void
conn_queued(struct ps_conn *pc)
{
	struct conn	*c = (struct conn *)pc;
	struct ww_vhd	*vhd = (struct ww_vhd *)pc->vhd;

	if (pc->q.msgs >= CONN_HIGH_MSGS || pc->q.bytes >= CONN_HIGH_BYTES)
		conn_flow(c, CONN_FLOW_SENDQ, 0);
	lws_callback_on_writable(pc->wsi);
	if (c->live && !c->kicked) {
		c->kicked = 1;
		TAILQ_INSERT_TAIL(&vhd->kick, c, kick_entry);
		vhd->nkick++;
	}
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

/*
 * While a large frame arrives, reading waits until CONN_LOWAT bytes of it
 * are in the socket (SO_RCVLOWAT), or what is left of the frame if less:
 * else every segment the kernel queues wakes the event loop, which on
 * loopback costs the sender a wakeup per 64 KiB and the server a trip
 * through poll() for each.  Only what the peer must still send is waited
 * for, so nothing hangs; a peer that stops mid-frame is seen by the
 * tick (conn_inq).  Not under TLS, where socket bytes are not payload
 * bytes and OpenSSL may hold some already.  want 0 turns it off.
 */
static void
conn_lowat(struct conn *c, size_t want)
{
	int	v;

	if (want < CONN_LOWAT / 2 || c->stalled || c->waiting ||
	    lws_is_ssl(c->c.wsi))
		v = 1;
	else
		v = want > CONN_LOWAT ? (int)CONN_LOWAT : (int)want;
	if (v == c->lowat)
		return;
	if (setsockopt(lws_get_socket_fd(c->c.wsi), SOL_SOCKET, SO_RCVLOWAT,
	    &v, sizeof v) == 0)
		c->lowat = v;
	c->inq = 0;
}

static int
conn_receive(struct conn *c, const void *in, size_t len)
{
	struct ps_conn	*pc = &c->c;
	struct ww_vhd	*vhd = (struct ww_vhd *)pc->vhd;
	size_t		 max = pc->vhd->max_message, remaining, n, want;
	int		 expected, whole, over;
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
	/* Bytes arriving are activity: a worker sending is never silent. */
	c->progress_us = ps_server_now_us();
	if (pc->w != NULL)
		pc->w->last_seen_us = c->progress_us;
	whole = lws_is_final_fragment(pc->wsi) && remaining == 0;
	if (!c->admitted && !c->waiting) {
		/*
		 * A message starts: admitted, or paused until it fits.  One
		 * that came whole is here already; small ones (HELLO, PULL)
		 * never wait.
		 */
		want = conn_expect(c, in, len, len + remaining, &expected);
		if (whole && c->rxlen == 0)
			conn_admit(c, len, 0);
		else if (want <= CONN_GROW_MIN || ww_fits(vhd, c, want))
			conn_admit(c, want, expected);
		else
			conn_wait(c, want, expected);
	}
	/*
	 * While paused, lws may still hand over what it had read: that much
	 * is kept, exactly; the rest waits in the socket.
	 */
	over = conn_grow(c, c->rxlen + len, c->admitted && !c->stalled ?
	    c->rxlen + len + remaining : c->rxlen + len);
	if (over < 0) {
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
	if (!whole) {
		if (over && !c->stalled && !c->waiting)
			conn_stall(c);
		conn_lowat(c, remaining);
		return 0;
	}
	conn_lowat(c, 0);
	if (c->waiting) {
		/* It came whole while paused: its bytes are here already. */
		TAILQ_REMOVE(&vhd->waiting, c, wait_entry);
		c->waiting = 0;
		conn_flow(c, CONN_FLOW_BUDGET, 1);
		conn_admit(c, c->rxcap, 0);
	}
	n = c->rxlen;
	c->rxlen = 0;
	conn_complete(c, n);
	return 0;
}

/*
 * What a message starting with in (len bytes; frame bytes in its first
 * frame) is expected to need: a PUSH the whole model's (*expected set),
 * anything else its first frame; never more than --max-message-bytes.
 */
static size_t
conn_expect(struct conn *c, const uint8_t *in, size_t len, size_t frame,
    int *expected)
{
	size_t	want = frame, push;

	*expected = 0;
	if (c->rxlen == 0 && len > 4 && in[0] == 'P' && in[1] == 'S' &&
	    in[2] == 'W' && in[3] == '1' && in[4] == PS_OP_PUSH &&
	    (push = ps_server_push_max(c->c.srv)) >= frame) {
		want = push;
		*expected = 1;
	}
	if (want > c->c.vhd->max_message)
		want = c->c.vhd->max_message;
	return want;
}

/*
 * The message in rx (n bytes) is whole: it is handled now, or kept in the
 * backlog while a request is parked; its charge goes with its buffer.
 */
static void
conn_complete(struct conn *c, size_t n)
{
	struct ps_conn	*pc = &c->c;
	struct ww_vhd	*vhd = (struct ww_vhd *)pc->vhd;
	size_t		 cap, charge;
	uint8_t		*p;

	if (c->large)
		TAILQ_REMOVE(&vhd->rxq, c, rx_entry);
	if (c->stalled) {
		TAILQ_REMOVE(&vhd->stalled, c, wait_entry);
		c->stalled = 0;
		conn_flow(c, CONN_FLOW_BUDGET, 1);
	}
	c->admitted = c->large = 0;
	charge = c->reserved;
	c->reserved = 0;
	if (charge > c->rxcap) {
		/* The buffer is smaller than the message was expected to be. */
		vhd->inflight -= charge - c->rxcap;
		charge = c->rxcap;
	}
	if (pc->park != PS_PARK_NONE || !STAILQ_EMPTY(&c->backlog))
		conn_backlog_add(c, n, charge);
	else {
		p = c->rx;
		cap = c->rxcap;
		c->rx = NULL;
		c->rxcap = 0;
		conn_handle(c, p, cap, n, charge);
	}
	ww_admit(vhd);
}

/* Whether c's charge may become total within the budget. */
static int
ww_room(struct ww_vhd *vhd, struct conn *c, size_t total)
{
	size_t	others = vhd->inflight - c->reserved;

	return total <= c->reserved ||
	    (others <= vhd->budget && total <= vhd->budget - others);
}

/*
 * Whether a message expected to need want bytes may start now: none
 * waits before it, and it fits in the budget or no large message is
 * being read.
 */
static int
ww_fits(struct ww_vhd *vhd, struct conn *c, size_t want)
{
	if (!TAILQ_EMPTY(&vhd->waiting) || !TAILQ_EMPTY(&vhd->stalled))
		return 0;
	return TAILQ_EMPTY(&vhd->rxq) || ww_room(vhd, c, want);
}

/* Makes c's charge total bytes (up or down). */
static void
conn_charge(struct conn *c, size_t total)
{
	struct ww_vhd	*vhd = (struct ww_vhd *)c->c.vhd;

	vhd->inflight -= c->reserved;
	vhd->inflight += total;
	c->reserved = total;
}

/* c's message is a large one being read: on rxq, after the older ones. */
static void
conn_large(struct conn *c)
{
	struct ww_vhd	*vhd = (struct ww_vhd *)c->c.vhd;

	if (c->large)
		return;
	c->large = 1;
	TAILQ_INSERT_TAIL(&vhd->rxq, c, rx_entry);
}

/*
 * Admits c's message, charged want bytes (or the buffer it has if
 * larger).  A large message takes the smallest pooled buffer that holds
 * it; a PUSH whose size is expected gets a buffer of that size at once
 * when the pool has none, so that it is never copied as it fills.
 */
static void
conn_admit(struct conn *c, size_t want, int expected)
{
	struct ww_vhd	*vhd = (struct ww_vhd *)c->c.vhd;
	struct ww_rxbuf	*b;
	size_t		 i, best;
	uint8_t		*p;

	if (want > CONN_GROW_MIN && c->rxcap < want && vhd->npool > 0) {
		/* The smallest pooled buffer that holds it, else the largest. */
		best = 0;
		for (i = 1; i < vhd->npool; i++) {
			b = &vhd->pool[i];
			if (vhd->pool[best].cap >= want) {
				if (b->cap >= want && b->cap < vhd->pool[best].cap)
					best = i;
			} else if (b->cap > vhd->pool[best].cap)
				best = i;
		}
		b = &vhd->pool[best];
		if (b->cap > c->rxcap && (!expected || b->cap >= want)) {
			if (c->rxlen > 0)
				memcpy(b->p, c->rx, c->rxlen);
			free(c->rx);
			c->rx = b->p;
			conn_charge(c, c->reserved + b->cap - c->rxcap);
			c->rxcap = b->cap;
			vhd->pool_bytes -= b->cap;
			*b = vhd->pool[--vhd->npool];
		}
	}
	if (expected && c->rxcap < want && (p = realloc(c->rx, want)) != NULL) {
		c->rx = p;
		c->rxcap = want;
	}
	c->admitted = 1;
	conn_charge(c, want > c->rxcap ? want : c->rxcap);
	if (want > CONN_GROW_MIN) {
		conn_large(c);
		conn_rcvbuf(c);
	}
	ww_pool_trim(vhd, 0);
}

/*
 * c's large message is admitted: c gets CONN_RCVBUF once, if the large
 * receive buffers stay within --max-socket-bytes (see CONN_RCVBUF).
 */
static void
conn_rcvbuf(struct conn *c)
{
	struct ww_vhd	*vhd = (struct ww_vhd *)c->c.vhd;
	int		 fd, v = CONN_RCVBUF;

	if (c->rcvbuf_large ||
	    vhd->socklarge >= vhd->sockmax / vhd->rcvbuf_large)
		return;
	fd = lws_get_socket_fd(c->c.wsi);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v) != 0) {
		ps_log_debug("%s: SO_RCVBUF: %s", c->c.address,
		    strerror(errno));
		return;
	}
	/*
	 * The window the kernel offers grows only up to a clamp it set from
	 * the buffer the connection had; without a new one, it would stay
	 * at a quarter of a megabyte.
	 */
	v = (int)vhd->rcvbuf_large;
	if (setsockopt(fd, IPPROTO_TCP, TCP_WINDOW_CLAMP, &v, sizeof v) != 0)
		ps_log_debug("%s: TCP_WINDOW_CLAMP: %s", c->c.address,
		    strerror(errno));
	c->rcvbuf_large = 1;
	vhd->socklarge++;
}

/* Pauses c until its message (want bytes for a start) fits. */
static void
conn_wait(struct conn *c, size_t want, int expected)
{
	struct ww_vhd	*vhd = (struct ww_vhd *)c->c.vhd;

	c->waiting = 1;
	c->want = want;
	c->expected = expected;
	TAILQ_INSERT_TAIL(&vhd->waiting, c, wait_entry);
	conn_flow(c, CONN_FLOW_BUDGET, 0);
	ps_log_debug("%s: a message of %zu bytes waits for the receive "
	    "budget (%zu of %zu bytes in use)", c->c.address, want,
	    vhd->inflight, vhd->budget);
}

/* Pauses c inside its message until the budget has room for more. */
static void
conn_stall(struct conn *c)
{
	struct ww_vhd	*vhd = (struct ww_vhd *)c->c.vhd;

	c->stalled = 1;
	TAILQ_INSERT_TAIL(&vhd->stalled, c, wait_entry);
	conn_flow(c, CONN_FLOW_BUDGET, 0);
	ps_log_debug("%s: a message outgrew its charge at %zu bytes and "
	    "waits for the receive budget (%zu of %zu bytes in use)",
	    c->c.address, c->rxcap, vhd->inflight, vhd->budget);
}

/*
 * Goes on with paused messages while the budget has room, called whenever
 * part of it is let go: first the oldest large message, which is never
 * held back, then the stalled ones (each charged CONN_STALL_STEP more at
 * once), then new ones, first come first, while they fit or no large
 * message is being read.
 */
static void
ww_admit(struct ww_vhd *vhd)
{
	struct conn	*c;
	size_t		 more;

	if ((c = TAILQ_FIRST(&vhd->rxq)) != NULL && c->stalled) {
		TAILQ_REMOVE(&vhd->stalled, c, wait_entry);
		c->stalled = 0;
		conn_flow(c, CONN_FLOW_BUDGET, 1);
	}
	while ((c = TAILQ_FIRST(&vhd->stalled)) != NULL) {
		more = c->rxcap + CONN_STALL_STEP;
		if (!ww_room(vhd, c, more))
			return;
		TAILQ_REMOVE(&vhd->stalled, c, wait_entry);
		c->stalled = 0;
		if (more > c->reserved)
			conn_charge(c, more);
		conn_flow(c, CONN_FLOW_BUDGET, 1);
	}
	while ((c = TAILQ_FIRST(&vhd->waiting)) != NULL) {
		if (!TAILQ_EMPTY(&vhd->rxq) && !ww_room(vhd, c, c->want))
			break;
		TAILQ_REMOVE(&vhd->waiting, c, wait_entry);
		c->waiting = 0;
		conn_admit(c, c->want > c->rxcap ? c->want : c->rxcap,
		    c->expected);
		conn_flow(c, CONN_FLOW_BUDGET, 1);
	}
}

/* Frees pooled buffers, smallest first, until the pool fits beside the
 * charges and room more bytes. */
static void
ww_pool_trim(struct ww_vhd *vhd, size_t room)
{
	size_t	i, small;

	while (vhd->npool > 0 &&
	    vhd->inflight + vhd->pool_bytes + room > vhd->budget) {
		small = 0;
		for (i = 1; i < vhd->npool; i++)
			if (vhd->pool[i].cap < vhd->pool[small].cap)
				small = i;
		free(vhd->pool[small].p);
		vhd->pool_bytes -= vhd->pool[small].cap;
		vhd->pool[small] = vhd->pool[--vhd->npool];
	}
}

/*
 * Makes room for need bytes in rx, growing with what arrives: doubling,
 * from CONN_GROW_MIN, never past end (where the frame being read ends),
 * and past the charge only when the budget has room (or c's message is
 * the oldest large one).  Growth is charged.  Returns 0; 1 when the
 * budget had no room, so that rx holds exactly need bytes beyond the
 * charge or none to spare and c must stall before more arrives; -1, with
 * rx as it was, when memory is short.
 */
static int
conn_grow(struct conn *c, size_t need, size_t end)
{
	struct ww_vhd	*vhd = (struct ww_vhd *)c->c.vhd;
	size_t		 cap;
	uint8_t		*p;
	int		 over = 0;

	if (need <= c->rxcap)
		return 0;
	cap = c->rxcap * 2;
	if (cap < CONN_GROW_MIN)
		cap = CONN_GROW_MIN;
	if (cap > end)
		cap = end;
	if (cap < need)
		cap = need;
	if (c->admitted && cap > CONN_GROW_MIN)
		conn_large(c);
	if (c->admitted && cap > c->reserved &&
	    TAILQ_FIRST(&vhd->rxq) != c && !ww_room(vhd, c, cap)) {
		/* What arrived is kept; nothing more until there is room. */
		cap = need > c->reserved ? need : c->reserved;
		over = 1;
	}
	if ((p = realloc(c->rx, cap)) == NULL)
		return -1;
	c->rx = p;
	c->rxcap = cap;
	if (cap > c->reserved)
		conn_charge(c, cap);
	return over;
}

/*
 * Hands one whole message (buf, whose allocation of cap bytes and charge
 * move into the connection's held) to the handlers, after letting the
 * previous one's buffer go.
 */
static void
conn_handle(struct conn *c, uint8_t *buf, size_t cap, size_t n,
    size_t charge)
{
	struct ps_conn	*pc = &c->c;

	conn_done(c);
	pc->held = buf;
	pc->heldcap = cap;
	c->held_charge = charge;
	ps_wreq_message(pc, pc->held, n);
	conn_done(c);
}

/*
 * The request in hand is answered (not parked): its buffer and its charge
 * go, so that no connection keeps a large buffer between messages.  (The
 * handlers may have freed held already: INIT does.)
 */
static void
conn_done(struct conn *c)
{
	struct ps_conn	*pc = &c->c;
	struct ww_vhd	*vhd = (struct ww_vhd *)pc->vhd;

	if (pc->park != PS_PARK_NONE)
		return;
	if (pc->held == NULL && c->held_charge == 0)
		return;
	vhd->inflight -= c->held_charge;
	c->held_charge = 0;
	conn_release(c, pc->held, pc->heldcap);
	pc->held = NULL;
	pc->heldcap = 0;
	ww_admit(vhd);
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
	/* Smaller pooled buffers make room for a larger one. */
	while (vhd->npool == CONN_POOL_MAX || (vhd->npool > 0 &&
	    vhd->inflight + vhd->pool_bytes + cap > vhd->budget)) {
		small = 0;
		for (i = 1; i < vhd->npool; i++)
			if (vhd->pool[i].cap < vhd->pool[small].cap)
				small = i;
		if (vhd->pool[small].cap >= cap)
			break;
		b = &vhd->pool[small];
		free(b->p);
		vhd->pool_bytes -= b->cap;
		*b = vhd->pool[--vhd->npool];
	}
	if (vhd->npool == CONN_POOL_MAX || vhd->inflight > vhd->budget ||
	    vhd->pool_bytes + cap > vhd->budget - vhd->inflight) {
		free(p);
		return;
	}
	vhd->pool[vhd->npool].p = p;
	vhd->pool[vhd->npool].cap = cap;
	vhd->npool++;
	vhd->pool_bytes += cap;
}

/*
 * Keeps a message read while parked (rx's buffer and the charge move into
 * the item).
 */
static void
conn_backlog_add(struct conn *c, size_t n, size_t charge)
{
	struct conn_msg	*m;

	m = xmalloc(sizeof *m);
	m->buf = c->rx;
	m->len = n;
	m->cap = c->rxcap;
	m->charge = charge;
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
		conn_handle(c, m->buf, m->cap, m->len, m->charge);
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
		((struct ww_vhd *)c->c.vhd)->inflight -= m->charge;
		conn_release(c, m->buf, m->cap);
		free(m);
	}
	c->nbacklog = 0;
	c->backlog_bytes = 0;
}

static int
conn_writeable(struct conn *c)
{
	static uint8_t	 bounce[LWS_PRE + PS_SERVER_IO_CHUNK];
	struct ps_conn	*pc = &c->c;
	uint8_t		*p, save[LWS_PRE];
	size_t		 n, sent = 0;
	int		 flags, wp, m;

	if (!pc->closing && (!STAILQ_EMPTY(&c->backlog) ||
	    (c->flow & CONN_FLOW_PARK)))
		conn_backlog_drain(c);
	if (ps_sendq_empty(&pc->q) && pc->closing) {
		lws_close_reason(pc->wsi, (enum lws_close_status)c->close_code,
		    (unsigned char *)c->close_reason, strlen(c->close_reason));
		return -1;
	}
	/*
	 * Fragments go out while the kernel takes them whole, up to
	 * CONN_WRITE_MAX a callback: a reply of many fragments costs a trip
	 * through the event loop per CONN_WRITE_MAX, not per fragment.  Once
	 * lws had to keep part of a write (the socket is full), the rest
	 * waits for the next WRITEABLE.
	 */
	while (sent < CONN_WRITE_MAX &&
	    ps_sendq_next(&pc->q, PS_SERVER_IO_CHUNK, &p, &n, &flags)) {
		wp = (flags & PS_SENDQ_FIRST) ? LWS_WRITE_BINARY :
		    LWS_WRITE_CONTINUATION;
		if (!(flags & PS_SENDQ_LAST))
			wp |= LWS_WRITE_NO_FIN;
		/*
		 * lws writes the frame header into the LWS_PRE bytes before
		 * p, which in a shared body belong to the previous fragment:
		 * keep them.  While a checkpoint's thread reads the body
		 * (pinned), not even for a moment: the fragment is copied
		 * (lws copies what the socket does not take at once, so
		 * one buffer serves every connection).
		 */
		if (flags & PS_SENDQ_PINNED) {
			memcpy(bounce + LWS_PRE, p, n);
			m = lws_write(pc->wsi, bounce + LWS_PRE, n,
			    (enum lws_write_protocol)wp);
		} else {
			memcpy(save, p - LWS_PRE, LWS_PRE);
			m = lws_write(pc->wsi, p, n,
			    (enum lws_write_protocol)wp);
			memcpy(p - LWS_PRE, save, LWS_PRE);
		}
		if (m < 0 || (size_t)m < n) {
			ps_log_debug("write to %s failed", pc->address);
			return -1;
		}
		ps_sendq_consume(&pc->q, n);
		sent += n;
		if (lws_partial_buffered(pc->wsi))
			break;
	}
	if (sent > 0) {
		c->wrote = 1;
		c->progress_us = ps_server_now_us();
		pc->vhd->total->bytes_out += sent;
		if (pc->w != NULL) {
			pc->w->c.bytes_out += sent;
			/* So are bytes written: a worker reading is never
			 * silent. */
			pc->w->last_seen_us = c->progress_us;
		}
	}
	if ((c->flow & CONN_FLOW_SENDQ) && pc->q.msgs <= CONN_LOW_MSGS &&
	    pc->q.bytes <= CONN_LOW_BYTES)
		conn_flow(c, CONN_FLOW_SENDQ, 1);
	if (!ps_sendq_empty(&pc->q) || pc->closing)
		lws_callback_on_writable(pc->wsi);
	return 0;
}
