/*
 * The psctl.control.v1 protocol callback (control.h, psctl-protocol(7)):
 * one JSON request per text message, answered in order; status now,
 * subscribe as a timer per connection, checkpoint and reset through jobs
 * (ckptjob.c) answered when they end, stop through
 * ps_ctlsrv_stop_request().
 * Replies are queued (sendq.c, as the worker protocol's are) and written
 * one message per WRITEABLE callback.
 * Service thread only.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "auth.h"
#include "ckptjob.h"
#include "control.h"
#include "ctlsrv.h"
#include "log.h"
#include "sendq.h"
#include "server.h"
#include "ws-control.h"
#include "xmalloc.h"

/* A subscriber that reads slower than this much queued output skips snapshots. */
#define CTLCONN_OUT_MAX		((size_t)8 << 20)

static void	ctlconn_established(struct ps_ctlconn *, struct lws *);
static int	ctlconn_receive(struct ps_ctlconn *, const void *, size_t);
static int	ctlconn_writeable(struct ps_ctlconn *);
static void	ctlconn_closed(struct ps_ctlconn *);
static void	ctlconn_request(struct ps_ctlconn *, const char *, size_t);
static void	ctlconn_snapshot_cb(lws_sorted_usec_list_t *);
static void	ctlconn_snapshot(struct ps_ctlconn *);

int
ps_ws_control_cb(struct lws *wsi, enum lws_callback_reasons reason,
    void *user, void *in, size_t len)
{
	struct ps_ctlconn	*c = user;
	struct ps_server	*srv;

	switch (reason) {
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
		break;
	case LWS_CALLBACK_RECEIVE:
		return ctlconn_receive(c, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return ctlconn_writeable(c);
	case LWS_CALLBACK_CLOSED:
		ctlconn_closed(c);
		break;
	default:
		break;
	}
	return 0;
}

static void
ctlconn_established(struct ps_ctlconn *c, struct lws *wsi)
{
	char			 ip[64];

	memset(c, 0, sizeof *c);
	c->ctl = lws_get_protocol(wsi)->user;
	c->wsi = wsi;
	c->live = 1;
	ps_sendq_init(&c->q);
	lws_get_peer_simple(wsi, ip, sizeof ip);
	snprintf(c->address, sizeof c->address, "%s", ip);
	TAILQ_INSERT_TAIL(&c->ctl->conns, c, entry);
	ps_log_debug("control connection from %s", c->address);
}

static void
ctlconn_closed(struct ps_ctlconn *c)
{
	if (!c->live)
		return;
	c->live = 0;
	lws_sul_cancel(&c->sul);
	ps_ckptjob_forget(c->ctl, c);
	TAILQ_REMOVE(&c->ctl->conns, c, entry);
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
	if (lws_frame_is_binary(c->wsi)) {
		/* psctl-protocol(7): the other kind of message ends it. */
		lws_close_reason(c->wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
		    (unsigned char *)"text messages only", 18);
		return -1;
	}
	if (!c->rx_toolong) {
		if (c->rxlen + len > PS_CTL_REQUEST_MAX) {
			c->rx_toolong = 1;
			ps_ctlconn_send(c, ps_ctl_reply_error(0, 0,
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
	struct ps_ctlsrv	*ctl = c->ctl;
	struct ps_ctl_status	 st;
	struct ps_ctl_req	 req;
	struct ps_job		*j;
	const char		*code, *from = NULL;
	char			*cause = NULL;
	uint64_t		 version = 0;

	if (ps_ctl_parse(buf, len, &req, &code, &cause) != 0) {
		ps_log_debug("control request from %s refused: %s",
		    c->address, cause);
		ps_ctlconn_send(c, ps_ctl_reply_error(req.has_id, req.id, code,
		    "%s", cause));
		free(cause);
		return;
	}
	switch (req.cmd) {
	case PS_CTL_STATUS:
		ps_ctlsrv_status(ctl, &st);
		ps_ctlconn_send(c, ps_ctl_reply_ok(req.id,
		    ps_ctl_status_json(&st)));
		ps_ctlsrv_status_free(&st);
		break;
	case PS_CTL_SUBSCRIBE:
		c->subscribed = 1;
		c->interval = req.interval;
		ps_ctlconn_send(c, ps_ctl_reply_ok(req.id,
		    ps_ctl_subscribe_result(req.interval)));
		/* The first snapshot at once, then every interval. */
		ctlconn_snapshot(c);
		break;
	case PS_CTL_UNSUBSCRIBE:
		c->subscribed = 0;
		lws_sul_cancel(&c->sul);
		ps_ctlconn_send(c, ps_ctl_reply_ok(req.id, NULL));
		break;
	case PS_CTL_CHECKPOINT:
		j = ps_ckptjob_save(ctl, PS_JOB_REQUEST,
		    req.has_name ? req.name : NULL, &code, &cause);
		if (j == NULL) {
			ps_ctlconn_send(c, ps_ctl_reply_error(1, req.id, code,
			    "%s", cause));
			free(cause);
			break;
		}
		ps_log_info("checkpoint requested from %s: %s", c->address,
		    j->path != NULL ? j->path : "after the one being written");
		ps_ckptjob_wait(j, c, req.id, req.cmd);
		break;
	case PS_CTL_RESET:
		ps_log_info("reset requested from %s%s%s", c->address,
		    req.has_name ? " to " : "", req.has_name ? req.name : "");
		j = ps_ckptjob_reset(ctl, req.has_name ? req.name : NULL,
		    &code, &cause, &version, &from);
		if (j != NULL)
			ps_ckptjob_wait(j, c, req.id, req.cmd);
		else if (code != NULL) {
			ps_ctlconn_send(c, ps_ctl_reply_error(1, req.id, code,
			    "%s", cause));
			free(cause);
		} else
			ps_ctlconn_send(c, ps_ctl_reply_ok(req.id,
			    ps_ctl_reset_result(from, version)));
		break;
	case PS_CTL_STOP:
		ps_log_info("stop requested from %s%s", c->address,
		    req.checkpoint ? " with a final checkpoint" : "");
		if (req.checkpoint && ctl->o.ckpt_dir == NULL) {
			ps_ctlconn_send(c, ps_ctl_reply_error(1, req.id,
			    PS_CTL_E_NO_CKPT_DIR, "a final checkpoint needs "
			    "--checkpoint-dir"));
			break;
		}
		ps_ctlsrv_stop_request(ctl, c, req.id, req.checkpoint);
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
		ps_ctlsrv_status(c->ctl, &st);
		ps_ctlconn_send(c, ps_ctl_event_snapshot(++c->seq, &st));
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

void
ps_ctlconn_send(struct ps_ctlconn *c, char *text)
{
	struct ps_buf	*b;
	size_t		 len = strlen(text);

	if (!c->live) {
		free(text);
		return;
	}
	b = ps_buf_new(len);
	memcpy(b->data, text, len);
	free(text);
	ps_sendq_add(&c->q, b, 0, len, PS_SENDQ_FIRST | PS_SENDQ_LAST);
	ps_buf_unref(b);
	lws_callback_on_writable(c->wsi);
}

void
ps_ctlconn_close(struct ps_ctlconn *c, int code)
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
	if (!ps_sendq_empty(&c->q)) {
		lws_callback_on_writable(c->wsi);
		return 0;
	}
	if (c->close_when_sent) {
		lws_close_reason(c->wsi, (enum lws_close_status)
		    c->close_when_sent, (unsigned char *)"the server is "
		    "stopping", 23);
		return -1;
	}
	return 0;
}
