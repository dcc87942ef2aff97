/*
 * The psctl.control.v1 protocol (control.h, psctl-protocol(7)): one JSON
 * request per text message, answered in order; status now, subscribe as a
 * timer per connection, and checkpoint, reset and stop through the control
 * plane (ctlsrv.c), which answers them when they are done.  Replies are
 * queued (sendq.c, as the worker protocol's are) and written one message
 * per WRITEABLE callback.  The protocol's state (its connections) is its
 * per-vhost memory, made in PROTOCOL_INIT.  Service thread only.
 */
#include "config.h"

#include <sys/queue.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "auth.h"
#include "control.h"
#include "ctlsrv.h"
#include "log.h"
#include "sendq.h"
#include "server.h"
#include "ws-control.h"
#include "wsguard.h"
#include "xmalloc.h"

/*
 * Output caps, for every message queued (replies and snapshots): past
 * CTLCONN_OUT_MAX a subscriber skips snapshots and the connection is not
 * read (no new request adds to what the peer does not read) until its
 * queue is down to CTLCONN_OUT_LOW; past CTLCONN_OUT_HARD (what lws had
 * read before reading stopped can still add replies) it is closed with
 * 1008 and a reason.
 */
#define CTLCONN_OUT_MAX		((size_t)8 << 20)
#define CTLCONN_OUT_LOW		((size_t)2 << 20)
#define CTLCONN_OUT_HARD	((size_t)32 << 20)
/* The close reason when the server stops (no NUL on the wire). */
#define CTL_STOPPING		"the server is stopping"

/* One psctl.control.v1 connection: lws's per-session memory. */
struct ps_ctlconn {
	struct wc_vhd		*vhd;		/* borrowed: the protocol's */
	struct lws		*wsi;		/* borrowed, valid until CLOSED */
	int			 live;
	char			 address[64];
	char			*rx;		/* owned: the message being read */
	size_t			 rxlen;
	int			 rx_toolong;
	struct ps_sendq		 q;		/* owned: messages to write */
	int			 subscribed;
	double			 interval;
	uint64_t		 seq;
	lws_sorted_usec_list_t	 sul;		/* subscription timer */
	int			 close_when_sent;
	const char		*close_reason;	/* static */
	int			 rx_off;	/* not read: output over the cap */
	TAILQ_ENTRY(ps_ctlconn)	 entry;
};

/* The protocol's state on the vhost: lws's per-vhost memory. */
struct wc_vhd {
	struct ps_server	*srv;		/* borrowed */
	struct ps_ctlsrv	*ctl;		/* borrowed: the protocol's user */
	TAILQ_HEAD(, ps_ctlconn) conns;
};

static int	wc_init(struct lws *);
static void	wc_destroy(struct lws *);
static int	wc_busy(void *);
static void	wc_close_all(void *);
static void	ctlconn_established(struct ps_ctlconn *, struct lws *);
static int	ctlconn_receive(struct ps_ctlconn *, const void *, size_t);
static int	ctlconn_writeable(struct ps_ctlconn *);
static void	ctlconn_closed(struct ps_ctlconn *);
static void	ctlconn_request(struct ps_ctlconn *, const char *, size_t);
static void	ctlconn_snapshot_cb(lws_sorted_usec_list_t *);
static void	ctlconn_snapshot(struct ps_ctlconn *);
static void	ctlconn_send(struct ps_ctlconn *, char *);
static void	ctlconn_close(struct ps_ctlconn *, int);

static const struct ps_server_hooks wc_hooks = {
	.busy = wc_busy,
};

const struct lws_protocols ps_ws_control_protocol = {
	.name = PS_CONTROL_PROTOCOL,
	.callback = ps_ws_control_cb,
	.per_session_data_size = sizeof (struct ps_ctlconn),
	.rx_buffer_size = 8192,
};

int
ps_ws_control_cb(struct lws *wsi, enum lws_callback_reasons reason,
    void *user, void *in, size_t len)
{
	struct ps_ctlconn	*c = user;
	struct ps_server	*srv;
	const char		*why;

	switch (reason) {
	case LWS_CALLBACK_PROTOCOL_INIT:
		return wc_init(wsi);
	case LWS_CALLBACK_PROTOCOL_DESTROY:
		wc_destroy(wsi);
		break;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		/*
		 * The token was checked with a proper 401/403 at
		 * HTTP_CONFIRM_UPGRADE; this is the second line, in case a
		 * path of lws's skips it.
		 */
		srv = ps_server_from_wsi(wsi);
		if (ps_server_state(srv) != PS_SERVER_SERVING)
			return 1;
		return ps_auth_filter(ps_server_auth(srv), wsi,
		    PS_AUTH_OPERATOR);
	case LWS_CALLBACK_ESTABLISHED:
		ctlconn_established(c, wsi);
		ps_wsguard_established(wsi);
		break;
	case LWS_CALLBACK_RECEIVE:
		return ctlconn_receive(c, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if ((why = ps_wsguard_broken(wsi)) != NULL) {
			/* Broken framing (wsguard.h): close 1002. */
			ps_log_info("control connection from %s: closing with "
			    "1002: %s", c->address, why);
			lws_close_reason(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR,
			    (unsigned char *)why, strlen(why));
			return -1;
		}
		return ctlconn_writeable(c);
	case LWS_CALLBACK_CLOSED:
		ps_wsguard_closed(wsi);
		ctlconn_closed(c);
		break;
	default:
		break;
	}
	return 0;
}

/*
 * PROTOCOL_INIT: the per-vhost state, the server hook that keeps a stop
 * going until its replies are written, and the control plane's link.
 */
static int
wc_init(struct lws *wsi)
{
	struct wc_vhd		*vhd;
	struct ps_ctl_link	 link;

	vhd = lws_protocol_vh_priv_zalloc(lws_get_vhost(wsi),
	    lws_get_protocol(wsi), sizeof *vhd);
	if (vhd == NULL)
		return 1;
	vhd->srv = ps_server_from_wsi(wsi);
	vhd->ctl = lws_get_protocol(wsi)->user;
	TAILQ_INIT(&vhd->conns);
	if (ps_server_hook(vhd->srv, &wc_hooks, vhd) != 0) {
		ps_log_error("%s: no room for the control protocol's hooks",
		    __func__);
		return 1;
	}
	link.send = ctlconn_send;
	link.close_all = wc_close_all;
	link.arg = vhd;
	ps_ctlsrv_link(vhd->ctl, &link);
	return 0;
}

/* PROTOCOL_DESTROY: lws frees the state after this. */
static void
wc_destroy(struct lws *wsi)
{
	struct wc_vhd	*vhd;

	vhd = lws_protocol_vh_priv_get(lws_get_vhost(wsi),
	    lws_get_protocol(wsi));
	if (vhd == NULL)
		return;
	ps_ctlsrv_link(vhd->ctl, NULL);
	ps_server_unhook(vhd->srv, vhd);
}

/* While stopping: a stop's reply still to write. */
static int
wc_busy(void *arg)
{
	struct wc_vhd		*vhd = arg;
	struct ps_ctlconn	*c;

	TAILQ_FOREACH(c, &vhd->conns, entry) {
		if (c->close_when_sent && !ps_sendq_empty(&c->q))
			return 1;
	}
	return 0;
}

/* Every control connection closes (1001) once its replies are out. */
static void
wc_close_all(void *arg)
{
	struct wc_vhd		*vhd = arg;
	struct ps_ctlconn	*c;

	TAILQ_FOREACH(c, &vhd->conns, entry) {
		c->subscribed = 0;
		lws_sul_cancel(&c->sul);
		ctlconn_close(c, LWS_CLOSE_STATUS_GOINGAWAY);
	}
}

static void
ctlconn_established(struct ps_ctlconn *c, struct lws *wsi)
{
	char	ip[64];

	memset(c, 0, sizeof *c);
	c->vhd = lws_protocol_vh_priv_get(lws_get_vhost(wsi),
	    lws_get_protocol(wsi));
	c->wsi = wsi;
	c->live = 1;
	ps_sendq_init(&c->q);
	lws_get_peer_simple(wsi, ip, sizeof ip);
	snprintf(c->address, sizeof c->address, "%s", ip);
	TAILQ_INSERT_TAIL(&c->vhd->conns, c, entry);
	ps_log_debug("control connection from %s", c->address);
}

static void
ctlconn_closed(struct ps_ctlconn *c)
{
	if (!c->live)
		return;
	c->live = 0;
	lws_sul_cancel(&c->sul);
	ps_ctlsrv_forget(c->vhd->ctl, c);
	TAILQ_REMOVE(&c->vhd->conns, c, entry);
	ps_sendq_clear(&c->q);
	free(c->rx);
	c->rx = NULL;
	ps_log_debug("control connection from %s closed", c->address);
}

static int
ctlconn_receive(struct ps_ctlconn *c, const void *in, size_t len)
{
	if (!c->live)
		return -1;
	if (c->close_when_sent)
		return 0;
	if (lws_frame_is_binary(c->wsi)) {
		/* psctl-protocol(7): the other kind of message ends it. */
		lws_close_reason(c->wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
		    (unsigned char *)"text messages only", 18);
		return -1;
	}
	if (!c->rx_toolong) {
		if (c->rxlen + len > PS_CTL_REQUEST_MAX) {
			c->rx_toolong = 1;
			ctlconn_send(c, ps_ctl_reply_error(0, 0,
			    PS_CTL_E_BAD_REQUEST, "the request is over the "
			    "limit of %d bytes", PS_CTL_REQUEST_MAX));
		} else {
			c->rx = xrealloc(c->rx, c->rxlen + len + 1);
			memcpy(c->rx + c->rxlen, in, len);
			c->rxlen += len;
		}
	}
	if (!lws_is_final_fragment(c->wsi) ||
	    lws_remaining_packet_payload(c->wsi) > 0)
		return 0;
	if (!c->rx_toolong)
		ctlconn_request(c, c->rx != NULL ? c->rx : "", c->rxlen);
	free(c->rx);
	c->rx = NULL;
	c->rxlen = 0;
	c->rx_toolong = 0;
	return 0;
}

static void
ctlconn_request(struct ps_ctlconn *c, const char *buf, size_t len)
{
	struct ps_ctlsrv	*ctl = c->vhd->ctl;
	struct ps_ctl_status	 st;
	struct ps_ctl_req	 req;
	const char		*code;
	char			*cause = NULL;

	if (ps_ctl_parse(buf, len, &req, &code, &cause) != 0) {
		ps_log_debug("control request from %s refused: %s",
		    c->address, cause);
		ctlconn_send(c, ps_ctl_reply_error(req.has_id, req.id, code,
		    "%s", cause));
		free(cause);
		return;
	}
	switch (req.cmd) {
	case PS_CTL_STATUS:
		ps_ctlsrv_status(ctl, &st);
		ctlconn_send(c, ps_ctl_reply_ok(req.id,
		    ps_ctl_status_json(&st)));
		ps_ctlsrv_status_free(&st);
		break;
	case PS_CTL_SUBSCRIBE:
		c->subscribed = 1;
		c->interval = req.interval;
		ctlconn_send(c, ps_ctl_reply_ok(req.id,
		    ps_ctl_subscribe_result(req.interval)));
		/* The first snapshot at once, then every interval. */
		ctlconn_snapshot(c);
		break;
	case PS_CTL_UNSUBSCRIBE:
		c->subscribed = 0;
		lws_sul_cancel(&c->sul);
		ctlconn_send(c, ps_ctl_reply_ok(req.id, NULL));
		break;
	case PS_CTL_CHECKPOINT:
		ps_ctlsrv_checkpoint(ctl, c, c->address, req.id,
		    req.has_name ? req.name : NULL, req.force);
		break;
	case PS_CTL_RESET:
		ps_ctlsrv_reset(ctl, c, c->address, req.id,
		    req.has_name ? req.name : NULL);
		break;
	case PS_CTL_STOP:
		ps_ctlsrv_stop(ctl, c, c->address, req.id, req.checkpoint);
		break;
	case PS_CTL_KICK:
	case PS_CTL_UNBLOCK:
		ps_ctlsrv_kick(ctl, c, c->address, &req);
		break;
	case PS_CTL_CHECKPOINTS:
		ps_ctlsrv_checkpoints(ctl, c, req.id);
		break;
	}
}

static void
ctlconn_snapshot(struct ps_ctlconn *c)
{
	struct ps_ctl_status	st;

	if (!c->live || !c->subscribed)
		return;
	if (c->q.bytes < CTLCONN_OUT_MAX) {
		ps_ctlsrv_status(c->vhd->ctl, &st);
		ctlconn_send(c, ps_ctl_event_snapshot(++c->seq, &st));
		ps_ctlsrv_status_free(&st);
	} else
		ps_log_debug("control connection from %s reads slowly: "
		    "snapshot skipped", c->address);
	lws_sul_schedule(lws_get_context(c->wsi), 0, &c->sul,
	    ctlconn_snapshot_cb, (lws_usec_t)llround(c->interval * 1e6));
}

static void
ctlconn_snapshot_cb(lws_sorted_usec_list_t *sul)
{
	struct ps_ctlconn	*c;

	c = lws_container_of(sul, struct ps_ctlconn, sul);
	ctlconn_snapshot(c);
}

/* Queues a text message (steals text, malloc'd) and asks for WRITEABLE. */
static void
ctlconn_send(struct ps_ctlconn *c, char *text)
{
	struct ps_buf	*b;
	size_t		 len = strlen(text);

	if (!c->live) {
		free(text);
		return;
	}
	if (c->close_when_sent == LWS_CLOSE_STATUS_POLICY_VIOLATION) {
		free(text);	/* closing over the hard cap: nothing more */
		return;
	}
	b = ps_buf_new(len);
	memcpy(b->data, text, len);
	free(text);
	ps_sendq_add(&c->q, b, 0, len, PS_SENDQ_FIRST | PS_SENDQ_LAST);
	ps_buf_unref(b);
	if (c->q.bytes > CTLCONN_OUT_HARD) {
		ps_log_warn("control connection from %s: over %zu bytes of "
		    "replies unread: closing", c->address, CTLCONN_OUT_HARD);
		ps_sendq_clear(&c->q);
		c->subscribed = 0;
		lws_sul_cancel(&c->sul);
		c->close_reason = "replies not read: over the output limit";
		c->close_when_sent = LWS_CLOSE_STATUS_POLICY_VIOLATION;
	} else if (c->q.bytes >= CTLCONN_OUT_MAX && !c->rx_off) {
		ps_log_debug("control connection from %s reads slowly: not "
		    "reading its requests", c->address);
		c->rx_off = 1;
		lws_rx_flow_control(c->wsi, 0);
	}
	lws_callback_on_writable(c->wsi);
}

/* Closes with code once everything queued is written. */
static void
ctlconn_close(struct ps_ctlconn *c, int code)
{
	if (!c->live)
		return;
	c->close_when_sent = code;
	lws_callback_on_writable(c->wsi);
}

/* Writes one whole message: control messages are never fragmented. */
static int
ctlconn_writeable(struct ps_ctlconn *c)
{
	uint8_t		*p;
	size_t		 len;
	int		 flags, n;

	if (!c->live)
		return -1;
	if (ps_sendq_next(&c->q, SIZE_MAX, &p, &len, &flags)) {
		n = lws_write(c->wsi, p, len, LWS_WRITE_TEXT);
		if (n < 0 || (size_t)n < len)
			return -1;
		ps_sendq_consume(&c->q, len);
	}
	if (c->rx_off && c->q.bytes <= CTLCONN_OUT_LOW) {
		c->rx_off = 0;
		lws_rx_flow_control(c->wsi, 1);
	}
	if (!ps_sendq_empty(&c->q)) {
		lws_callback_on_writable(c->wsi);
		return 0;
	}
	if (c->close_when_sent) {
		if (c->close_reason == NULL)
			c->close_reason = CTL_STOPPING;
		lws_close_reason(c->wsi, (enum lws_close_status)
		    c->close_when_sent, (unsigned char *)c->close_reason,
		    strlen(c->close_reason));
		return -1;
	}
	return 0;
}
