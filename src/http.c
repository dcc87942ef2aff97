/*
 * Protocol [0] of psctl serve: plain HTTP on the worker port (/metrics,
 * /livez, /readyz, /healthz) and the first look at every WebSocket
 * upgrade, where a refusal can still be a proper HTTP answer: 400 unless
 * it names exactly one subprotocol of ours, 401 without a valid token,
 * 403 for a worker token on the control protocol, 503 while stopping.  Its state (the server and the control plane) is its
 * per-vhost memory, made in PROTOCOL_INIT.  Service thread only.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "acceptguard.h"
#include "auth.h"
#include "control.h"
#include "ctlsrv.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "proto.h"
#include "server.h"
#include "store.h"
#include "wsguard.h"
#include "xmalloc.h"

/* HTTP bodies go out in pieces of this size. */
#define HTTP_CHUNK	(64 * 1024)

/* One HTTP response being written: lws's per-session memory. */
struct http_resp {
	char		*body;		/* owned */
	size_t		 len;
	size_t		 off;
};

/* The protocol's state on the vhost. */
struct http_vhd {
	struct ps_server	*srv;		/* borrowed */
	struct ps_ctlsrv	*ctl;		/* borrowed: the protocol's user */
};

static struct http_vhd *http_vhd(struct lws *);
static void	http_usage(void *, struct ps_server_usage *);
static int	http_confirm_upgrade(struct http_vhd *, struct lws *,
		    const char *);
static void	http_refused(const char *, const char *, const char *);
static int	http_request(struct http_vhd *, struct lws *,
		    struct http_resp *, const char *);
static int	http_start(struct lws *, struct http_resp *, unsigned,
		    const char *, char *, int);
static int	http_writeable(struct lws *, struct http_resp *);
static int	http_now(struct lws *, unsigned, const char *, int);
static int	http_headers(struct lws *, unsigned, const char *, size_t, int);
static const char *http_wanted_protocol(struct lws *, char *, size_t);

static const struct ps_server_hooks http_hooks = {
	.usage = http_usage,
};

const struct lws_protocols ps_http_protocol = {
	.name = "http",
	.callback = ps_http_cb,
	.per_session_data_size = sizeof (struct http_resp),
};

int
ps_http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct http_vhd		*vhd;
	struct http_resp	*h = user;

	switch (reason) {
	case LWS_CALLBACK_PROTOCOL_INIT:
		vhd = lws_protocol_vh_priv_zalloc(lws_get_vhost(wsi),
		    lws_get_protocol(wsi), sizeof *vhd);
		if (vhd == NULL)
			return 1;
		vhd->srv = ps_server_from_wsi(wsi);
		vhd->ctl = lws_get_protocol(wsi)->user;
		if (ps_server_hook(vhd->srv, &http_hooks, vhd) != 0) {
			ps_log_error("%s: no room for the HTTP protocol's hooks",
			    __func__);
			return 1;
		}
		/* Out of descriptors, accepting pauses (acceptguard.h). */
		ps_acceptguard_start(lws_get_context(wsi));
		break;
	case LWS_CALLBACK_PROTOCOL_DESTROY:
		ps_acceptguard_stop();
		if ((vhd = http_vhd(wsi)) != NULL)
			ps_server_unhook(vhd->srv, vhd);
		ps_wsguard_free();
		break;
	case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
		/* Every connection's frames are checked (wsguard.h). */
		ps_wsguard_accept(wsi);
		break;
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		if ((vhd = http_vhd(wsi)) == NULL)
			return -1;
		return http_confirm_upgrade(vhd, wsi, in);
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		/* A WebSocket without a subprotocol of ours. */
		return 1;
	case LWS_CALLBACK_HTTP:
		if ((vhd = http_vhd(wsi)) == NULL || h == NULL)
			return -1;
		return http_request(vhd, wsi, h,
		    in != NULL ? (const char *)in : "/");
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (h == NULL)
			return -1;
		return http_writeable(wsi, h);
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_CLOSED_HTTP:
		if (h != NULL) {
			free(h->body);
			h->body = NULL;
		}
		break;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static struct http_vhd *
http_vhd(struct lws *wsi)
{
	return lws_protocol_vh_priv_get(lws_get_vhost(wsi),
	    lws_get_protocol(wsi));
}

/* The accept back-off's part of ps_server_usage(). */
static void
http_usage(void *arg, struct ps_server_usage *u)
{
	(void)arg;
	u->accept_refused = ps_acceptguard_refused();
	u->accept_paused = ps_acceptguard_paused();
}

/*
 * HTTP_CONFIRM_UPGRADE: the checks of every WebSocket upgrade, where a
 * refusal can still be a proper HTTP answer (psctl-protocol(7)): 400
 * unless the request names exactly one subprotocol and it is ours, 503
 * while stopping, 401 without a valid token, 403 for a worker token on
 * the control protocol.
 */
static int
http_confirm_upgrade(struct http_vhd *vhd, struct lws *wsi, const char *up)
{
	struct ps_server	*srv = vhd->srv;
	enum ps_auth_role	 role;
	const char		*want;
	char			 buf[256], ip[64];

	if (up == NULL || strcmp(up, "websocket") != 0)
		return 0;	/* not a WebSocket: lws's business */
	lws_get_peer_simple(wsi, ip, sizeof ip);
	want = http_wanted_protocol(wsi, buf, sizeof buf);
	if (want == NULL) {
		http_refused(ip, "a handshake", "not exactly one subprotocol");
		return http_now(wsi, HTTP_STATUS_BAD_REQUEST, "name exactly "
		    "one subprotocol: " PS_WORKER_PROTOCOL " or "
		    PS_CONTROL_PROTOCOL "\n", 0);
	}
	if (ps_server_state(srv) >= PS_SERVER_DRAINING)
		return http_now(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE,
		    "the server is stopping\n", 0);
	role = ps_auth_role(ps_server_auth(srv), wsi);
	if (role == PS_AUTH_NONE) {
		http_refused(ip, want, "no valid token");
		return http_now(wsi, HTTP_STATUS_UNAUTHORIZED,
		    "a valid token is needed (Authorization: Bearer)\n", 1);
	}
	if (strcmp(want, PS_CONTROL_PROTOCOL) == 0 &&
	    role != PS_AUTH_OPERATOR) {
		http_refused(ip, want, "a worker token");
		return http_now(wsi, HTTP_STATUS_FORBIDDEN,
		    "the control protocol needs the operator token\n", 0);
	}
	return 0;
}

/*
 * Logs a refused handshake, at most one line a second (as refused pushes
 * are): a peer knocking in a loop must not flood the log.
 */
static void
http_refused(const char *ip, const char *what, const char *why)
{
	static int64_t		 last_log;
	static uint64_t		 quiet;
	int64_t			 now = ps_server_now_us();

	if (last_log != 0 && now - last_log < 1000000) {
		quiet++;
		return;
	}
	if (quiet != 0)
		ps_log_warn("%s: %s refused: %s (and %llu earlier refusals "
		    "not logged)", ip, what, why, (unsigned long long)quiet);
	else
		ps_log_warn("%s: %s refused: %s", ip, what, why);
	last_log = now;
	quiet = 0;
}

/*
 * The one protocol of ours the upgrade names, or NULL when it names none
 * of them, both, or one of them among others (psctl-protocol(7): exactly
 * one).  lws would pick the first of the list that it speaks.
 */
static const char *
http_wanted_protocol(struct lws *wsi, char *buf, size_t len)
{
	const char	*want = NULL;
	char		*tok, *save = NULL;
	int		 n, count = 0;

	n = lws_hdr_copy(wsi, buf, (int)len, WSI_TOKEN_PROTOCOL);
	if (n <= 0)
		return NULL;
	for (tok = strtok_r(buf, ", \t", &save); tok != NULL;
	    tok = strtok_r(NULL, ", \t", &save)) {
		count++;
		if (strcmp(tok, PS_WORKER_PROTOCOL) == 0)
			want = PS_WORKER_PROTOCOL;
		else if (strcmp(tok, PS_CONTROL_PROTOCOL) == 0)
			want = PS_CONTROL_PROTOCOL;
	}
	return count == 1 ? want : NULL;
}

/*
 * Writes the headers of a response of len bytes, with a Bearer challenge
 * when asked.  0, or -1 when lws cannot.
 */
static int
http_headers(struct lws *wsi, unsigned status, const char *ctype, size_t len,
    int challenge)
{
	unsigned char	 buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p, *end;

	p = start;
	end = buf + sizeof buf - 1;
	if (lws_add_http_common_headers(wsi, status, ctype, len, &p, end) != 0)
		return -1;
	if (challenge && lws_add_http_header_by_name(wsi,
	    (const unsigned char *)"www-authenticate:",
	    (const unsigned char *)"Bearer realm=\"psctl\"", 20, &p, end) != 0)
		return -1;
	if (lws_finalize_write_http_header(wsi, start, &p, end) != 0)
		return -1;
	return 0;
}

/*
 * Answers a request at once with a short text body.  Returns what lws
 * wants from the callback: 1 (the response is written).
 */
static int
http_now(struct lws *wsi, unsigned status, const char *text,
    int challenge)
{
	unsigned char	 buf[LWS_PRE + 256];
	size_t		 len = strlen(text);

	if (len > sizeof buf - LWS_PRE)
		len = sizeof buf - LWS_PRE;
	if (http_headers(wsi, status, "text/plain; charset=utf-8", len,
	    challenge) != 0)
		return -1;
	/* lws may write in front of the body too: give it LWS_PRE. */
	memcpy(buf + LWS_PRE, text, len);
	if (len > 0 && lws_write(wsi, buf + LWS_PRE, len,
	    LWS_WRITE_HTTP_FINAL) != (int)len)
		return -1;
	return 1;
}

/* Sends the headers of a response whose body goes out when writable. */
static int
http_start(struct lws *wsi, struct http_resp *h, unsigned status,
    const char *ctype, char *body, int challenge)
{
	h->body = body;
	h->len = strlen(body);
	h->off = 0;
	if (http_headers(wsi, status, ctype, h->len, challenge) != 0)
		return -1;
	lws_callback_on_writable(wsi);
	return 0;
}

static int
http_writeable(struct lws *wsi, struct http_resp *h)
{
	unsigned char	*chunk;
	size_t		 n;
	int		 final;

	if (h->body == NULL)
		return 0;
	n = h->len - h->off;
	if (n > HTTP_CHUNK)
		n = HTTP_CHUNK;
	final = h->off + n == h->len;
	chunk = xmalloc(LWS_PRE + (n > 0 ? n : 1));
	memcpy(chunk + LWS_PRE, h->body + h->off, n);
	if (lws_write(wsi, chunk + LWS_PRE, n, final ? LWS_WRITE_HTTP_FINAL :
	    LWS_WRITE_HTTP) != (int)n) {
		free(chunk);
		return -1;
	}
	free(chunk);
	h->off += n;
	if (!final) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	free(h->body);
	h->body = NULL;
	if (lws_http_transaction_completed(wsi))
		return -1;
	return 0;
}

static int
http_request(struct http_vhd *vhd, struct lws *wsi, struct http_resp *h,
    const char *uri)
{
	struct ps_server	*srv = vhd->srv;
	struct ps_ctl_status	 st;
	struct ps_prom		 p;
	enum ps_auth_role	 role;
	const char		*why;

	if (strcmp(uri, "/livez") == 0)
		return http_start(wsi, h, HTTP_STATUS_OK,
		    "text/plain; charset=utf-8", xstrdup("ok\n"), 0);
	if (strcmp(uri, "/readyz") == 0 || strcmp(uri, "/healthz") == 0) {
		why = NULL;
		if (ps_server_state(srv) >= PS_SERVER_DRAINING)
			why = "draining\n";
		else if (ps_store_empty(ps_server_store(srv)))
			why = "no model yet\n";
		if (why != NULL)
			return http_start(wsi, h,
			    HTTP_STATUS_SERVICE_UNAVAILABLE,
			    "text/plain; charset=utf-8", xstrdup(why), 0);
		return http_start(wsi, h, HTTP_STATUS_OK,
		    "text/plain; charset=utf-8", xstrdup("ready\n"), 0);
	}
	if (strcmp(uri, "/metrics") == 0) {
		role = ps_auth_role(ps_server_auth(srv), wsi);
		if (role == PS_AUTH_NONE)
			return http_start(wsi, h, HTTP_STATUS_UNAUTHORIZED,
			    "text/plain; charset=utf-8", xstrdup("a valid "
			    "token is needed (Authorization: Bearer)\n"), 1);
		if (role != PS_AUTH_OPERATOR)
			return http_start(wsi, h, HTTP_STATUS_FORBIDDEN,
			    "text/plain; charset=utf-8", xstrdup("/metrics "
			    "needs the operator token\n"), 0);
		ps_ctlsrv_status(vhd->ctl, &st);
		ps_prom_init(&p);
		ps_ctl_metrics(&p, &st);
		ps_ctlsrv_status_free(&st);
		return http_start(wsi, h, HTTP_STATUS_OK,
		    PS_PROM_CONTENT_TYPE, p.buf, 0);
	}
	return http_start(wsi, h, HTTP_STATUS_NOT_FOUND,
	    "text/plain; charset=utf-8", xstrdup("not found: psctl serves "
	    "/metrics, /livez, /readyz and /healthz\n"), 0);
}
