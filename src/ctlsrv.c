/*
 * The server's control plane (ctlsrv.h): tokens checked at the handshake,
 * HTTP endpoints on the worker port, STATUS, rates, periodic checkpoints,
 * graceful stop and systemd notification.  Service thread only, except
 * ps_ctlsrv_new() and ps_ctlsrv_free(), which run before and after it.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libwebsockets.h>

#include "auth.h"
#include "ckptjob.h"
#include "ckptdir.h"
#include "control.h"
#include "ctlsrv.h"
#include "log.h"
#include "metrics.h"
#include "mode.h"
#include "notify.h"
#include "proto.h"
#include "server.h"
#include "store.h"
#include "ws-control.h"
#include "xmalloc.h"

/* One HTTP response being written. */
struct ctl_http {
	char		*body;		/* owned */
	size_t		 len;
	size_t		 off;
};

/* HTTP bodies go out in pieces of this size. */
#define CTL_HTTP_CHUNK	(64 * 1024)

static int	ctl_http_cb(struct lws *, enum lws_callback_reasons, void *,
		    void *, size_t);
static int	ctl_confirm_upgrade(struct ps_ctlsrv *, struct lws *);
static int	ctl_http_request(struct ps_ctlsrv *, struct lws *,
		    struct ctl_http *, const char *);
static int	ctl_http_start(struct lws *, struct ctl_http *, unsigned,
		    const char *, char *, int);
static int	ctl_http_writeable(struct lws *, struct ctl_http *);
static int	ctl_http_now(struct lws *, unsigned, const char *, int);
static const char *ctl_wanted_protocol(struct lws *, char *, size_t);
static void	ctl_created(void *);
static void	ctl_tick(void *, int64_t);
static void	ctl_wake(void *);
static void	ctl_stopping(void *);
static int	ctl_busy(void *);
static void	ctl_destroy(void *);
static void	ctl_rates(struct ps_ctlsrv *);
static int	ctl_loopback(const char *);
static void	ctl_notify(const char *);
static void	ctl_close_all(struct ps_ctlsrv *);

/* The control plane's part in the server's life (server.h). */
static const struct ps_server_hooks ctl_hooks = {
	.created = ctl_created,
	.tick = ctl_tick,
	.wake = ctl_wake,
	.stopping = ctl_stopping,
	.busy = ctl_busy,
	.destroy = ctl_destroy,
};

void
ps_ctl_opts_init(struct ps_ctl_opts *o)
{
	memset(o, 0, sizeof *o);
}

void
ps_ctl_opts_free(struct ps_ctl_opts *o)
{
	free(o->token_file);
	free(o->operator_token_file);
	free(o->ckpt_dir);
	memset(o, 0, sizeof *o);
}

struct ps_ctlsrv *
ps_ctlsrv_new(struct ps_server *srv, struct ps_ctl_opts *o, char **cause)
{
	struct ps_ctlsrv	*ctl;
	struct lws_protocols	 p;
	struct ps_auth		 auth;
	char			*why = NULL, *real;
	int			 n;

	ctl = xcalloc(1, sizeof *ctl);
	ctl->srv = srv;
	ctl->o = *o;
	memset(o, 0, sizeof *o);
	TAILQ_INIT(&ctl->jobs);
	TAILQ_INIT(&ctl->conns);
	TAILQ_INIT(&ctl->stop_waiters);
	ctl->stop_asked = -1;
	ps_hist_init(&ctl->ckpt_seconds, ps_hist_ckpt_bounds,
	    ps_hist_ckpt_nbounds);
	ps_rate_init(&ctl->pushes, PS_RATE_TAU);
	ps_rate_init(&ctl->pulls, PS_RATE_TAU);
	ps_rate_init(&ctl->bytes_in, PS_RATE_TAU);
	ps_rate_init(&ctl->bytes_out, PS_RATE_TAU);

	if (ps_auth_load(&auth, ctl->o.token_file, ctl->o.operator_token_file,
	    &why) != 0)
		goto fail;
	ps_server_set_auth(srv, &auth);

	if (ctl->o.ckpt_dir != NULL) {
		if (ps_ckptdir_create(ctl->o.ckpt_dir, &why) != 0)
			goto fail;
		/* Paths in replies and logs are absolute: clients are elsewhere. */
		if ((real = realpath(ctl->o.ckpt_dir, NULL)) == NULL) {
			why = xasprintf("%s: %s", ctl->o.ckpt_dir,
			    strerror(errno));
			goto fail;
		}
		free(ctl->o.ckpt_dir);
		ctl->o.ckpt_dir = real;
		n = ps_ckptdir_sweep(ctl->o.ckpt_dir, &why);
		if (n < 0)
			goto fail;
		if (n > 0)
			ps_log_info("%s: removed %d temporary files of "
			    "interrupted checkpoints", ctl->o.ckpt_dir, n);
	} else {
		/* reset without a directory goes back to a copy in memory. */
		ps_server_keep_initial(srv);
	}

	memset(&p, 0, sizeof p);
	p.name = PS_CONTROL_PROTOCOL;
	p.callback = ps_ws_control_cb;
	p.per_session_data_size = sizeof (struct ps_ctlconn);
	p.rx_buffer_size = 8192;
	p.user = ctl;
	if (ps_server_add_protocol(srv, &p) != 0 ||
	    ps_server_hook(srv, &ctl_hooks, ctl) != 0) {
		why = xstrdup("no room for the control protocol");
		goto fail;
	}
	memset(&p, 0, sizeof p);
	p.name = "http";
	p.callback = ctl_http_cb;
	p.per_session_data_size = sizeof (struct ctl_http);
	p.user = ctl;
	ps_server_set_http(srv, &p);
	return ctl;

fail:
	*cause = why;
	ps_ctlsrv_free(ctl);
	return NULL;
}

void
ps_ctlsrv_free(struct ps_ctlsrv *ctl)
{
	struct ps_ctl_waiter	*w;

	if (ctl == NULL)
		return;
	ps_ckptjob_drain(ctl);
	while ((w = TAILQ_FIRST(&ctl->stop_waiters)) != NULL) {
		TAILQ_REMOVE(&ctl->stop_waiters, w, entry);
		free(w);
	}
	ps_store_free(ctl->snap);
	ps_ctl_opts_free(&ctl->o);
	free(ctl->tensor_rates);
	free(ctl->last_path);
	free(ctl->last_error);
	free(ctl->newest);
	free(ctl);
}

/* 1 for 127.0.0.0/8, ::1 and localhost. */
static int
ctl_loopback(const char *host)
{
	struct in_addr	a4;
	struct in6_addr	a6;

	if (host == NULL)
		return 0;
	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0;
}

static void
ctl_notify(const char *state)
{
	char	*cause = NULL;

	if (ps_notify(state, &cause) < 0) {
		ps_log_warn("systemd notify: %s", cause);
		free(cause);
	}
}

void
ps_ctlsrv_started(struct ps_ctlsrv *ctl)
{
	struct ps_server	*srv = ctl->srv;
	char			 status[192];

	if (!ps_auth_required(ps_server_auth(srv)) &&
	    !ctl_loopback(srv->o.host))
		ps_log_warn("listening on %s without a token: anyone who can "
		    "reach the port can change the model and stop the "
		    "server (--token-file, --operator-token-file)",
		    srv->listen);
	if (ctl->o.ckpt_dir != NULL)
		ps_log_info("checkpoints in %s%s", ctl->o.ckpt_dir,
		    ctl->o.ckpt_every > 0 ? ", periodic" : "");
	if (!ps_store_empty(srv->store))
		ctl_created(ctl);
	ctl->last_periodic_us = ps_server_now_us();
	snprintf(status, sizeof status, "READY=1\nSTATUS=serving on %s",
	    srv->listen);
	ctl_notify(status);
}

/* The model exists now: rates per tensor, the initial checkpoint. */
static void
ctl_created(void *arg)
{
	struct ps_ctlsrv	*ctl = arg;
	struct ps_server	*srv = ctl->srv;
	const char		*code;
	char			*cause = NULL;
	size_t			 i;

	if (ps_store_count(srv->store) != ctl->ntensor_rates) {
		free(ctl->tensor_rates);
		ctl->ntensor_rates = ps_store_count(srv->store);
		ctl->tensor_rates = xcalloc(ctl->ntensor_rates > 0 ?
		    ctl->ntensor_rates : 1, sizeof *ctl->tensor_rates);
		for (i = 0; i < ctl->ntensor_rates; i++)
			ps_rate_init(&ctl->tensor_rates[i], PS_RATE_TAU);
	}
	/* With a directory, the model as first created is a file. */
	if (ctl->o.ckpt_dir == NULL || ctl->initial_queued ||
	    ps_server_state(srv) == PS_SERVER_STARTING)
		return;
	ctl->initial_queued = 1;
	if (ps_ckptjob_save(ctl, PS_JOB_INITIAL, PS_CKPTDIR_INITIAL, &code,
	    &cause) == NULL) {
		ps_log_warn("initial checkpoint: %s", cause);
		free(cause);
	}
}

/*
 * Which of our protocols an upgrade will get: the first of the client's
 * list that we speak, as lws picks it.  NULL for none.
 */
static const char *
ctl_wanted_protocol(struct lws *wsi, char *buf, size_t len)
{
	char	*tok, *save = NULL;
	int	 n;

	n = lws_hdr_copy(wsi, buf, (int)len, WSI_TOKEN_PROTOCOL);
	if (n <= 0)
		return NULL;
	for (tok = strtok_r(buf, ", \t", &save); tok != NULL;
	    tok = strtok_r(NULL, ", \t", &save)) {
		if (strcmp(tok, PS_WORKER_PROTOCOL) == 0)
			return PS_WORKER_PROTOCOL;
		if (strcmp(tok, PS_CONTROL_PROTOCOL) == 0)
			return PS_CONTROL_PROTOCOL;
	}
	return NULL;
}

/*
 * Answers a request at once with a short text body.  Returns what lws
 * wants from the callback: 1 (the response is written).
 */
static int
ctl_http_now(struct lws *wsi, unsigned status, const char *text,
    int challenge)
{
	unsigned char	 buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p, *end;
	size_t		 len = strlen(text);

	p = start;
	end = buf + sizeof buf - 1;
	if (lws_add_http_common_headers(wsi, status,
	    "text/plain; charset=utf-8", len, &p, end) != 0)
		return -1;
	if (challenge && lws_add_http_header_by_name(wsi,
	    (const unsigned char *)"www-authenticate:",
	    (const unsigned char *)"Bearer realm=\"psctl\"", 20, &p, end) != 0)
		return -1;
	if (lws_finalize_write_http_header(wsi, start, &p, end) != 0)
		return -1;
	if (len > 0 && lws_write(wsi, (unsigned char *)text, len,
	    LWS_WRITE_HTTP_FINAL) != (int)len)
		return -1;
	return 1;
}

/*
 * HTTP_CONFIRM_UPGRADE: the token check of every WebSocket upgrade, where
 * a refusal can still be a proper HTTP answer (401 without a valid token,
 * 403 for a worker token on the control protocol, 503 while stopping).
 */
static int
ctl_confirm_upgrade(struct ps_ctlsrv *ctl, struct lws *wsi)
{
	struct ps_server	*srv = ctl->srv;
	enum ps_auth_role	 role;
	const char		*want;
	char			 buf[256], ip[64];

	want = ctl_wanted_protocol(wsi, buf, sizeof buf);
	if (want == NULL)
		return 0;	/* lws refuses it: no protocol of ours */
	lws_get_peer_simple(wsi, ip, sizeof ip);
	if (ps_server_state(srv) >= PS_SERVER_DRAINING)
		return ctl_http_now(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE,
		    "the server is stopping\n", 0);
	role = ps_auth_role(ps_server_auth(srv), wsi);
	if (role == PS_AUTH_NONE) {
		ps_log_warn("%s: %s refused: no valid token", ip, want);
		return ctl_http_now(wsi, HTTP_STATUS_UNAUTHORIZED,
		    "a valid token is needed (Authorization: Bearer)\n", 1);
	}
	if (strcmp(want, PS_CONTROL_PROTOCOL) == 0 &&
	    role != PS_AUTH_OPERATOR) {
		ps_log_warn("%s: %s refused: a worker token", ip, want);
		return ctl_http_now(wsi, HTTP_STATUS_FORBIDDEN,
		    "the control protocol needs the operator token\n", 0);
	}
	return 0;
}

/* Sends the headers of a response whose body goes out when writable. */
static int
ctl_http_start(struct lws *wsi, struct ctl_http *h, unsigned status,
    const char *ctype, char *body, int challenge)
{
	unsigned char	 buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p, *end;

	h->body = body;
	h->len = strlen(body);
	h->off = 0;
	p = start;
	end = buf + sizeof buf - 1;
	if (lws_add_http_common_headers(wsi, status, ctype, h->len, &p,
	    end) != 0)
		return -1;
	if (challenge && lws_add_http_header_by_name(wsi,
	    (const unsigned char *)"www-authenticate:",
	    (const unsigned char *)"Bearer realm=\"psctl\"", 20, &p, end) != 0)
		return -1;
	if (lws_finalize_write_http_header(wsi, start, &p, end) != 0)
		return -1;
	lws_callback_on_writable(wsi);
	return 0;
}

static int
ctl_http_writeable(struct lws *wsi, struct ctl_http *h)
{
	unsigned char	*chunk;
	size_t		 n;
	int		 final;

	if (h->body == NULL)
		return 0;
	n = h->len - h->off;
	if (n > CTL_HTTP_CHUNK)
		n = CTL_HTTP_CHUNK;
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
ctl_http_request(struct ps_ctlsrv *ctl, struct lws *wsi, struct ctl_http *h,
    const char *uri)
{
	struct ps_server	*srv = ctl->srv;
	struct ps_ctl_status	 st;
	struct ps_prom		 p;
	enum ps_auth_role	 role;
	const char		*why;

	if (strcmp(uri, "/livez") == 0)
		return ctl_http_start(wsi, h, HTTP_STATUS_OK,
		    "text/plain; charset=utf-8", xstrdup("ok\n"), 0);
	if (strcmp(uri, "/readyz") == 0 || strcmp(uri, "/healthz") == 0) {
		why = NULL;
		if (ps_server_state(srv) >= PS_SERVER_DRAINING)
			why = "draining\n";
		else if (ps_store_empty(srv->store))
			why = "no model yet\n";
		if (why != NULL)
			return ctl_http_start(wsi, h,
			    HTTP_STATUS_SERVICE_UNAVAILABLE,
			    "text/plain; charset=utf-8", xstrdup(why), 0);
		return ctl_http_start(wsi, h, HTTP_STATUS_OK,
		    "text/plain; charset=utf-8", xstrdup("ready\n"), 0);
	}
	if (strcmp(uri, "/metrics") == 0) {
		role = ps_auth_role(ps_server_auth(srv), wsi);
		if (role == PS_AUTH_NONE)
			return ctl_http_start(wsi, h, HTTP_STATUS_UNAUTHORIZED,
			    "text/plain; charset=utf-8", xstrdup("a valid "
			    "token is needed (Authorization: Bearer)\n"), 1);
		if (role != PS_AUTH_OPERATOR)
			return ctl_http_start(wsi, h, HTTP_STATUS_FORBIDDEN,
			    "text/plain; charset=utf-8", xstrdup("/metrics "
			    "needs the operator token\n"), 0);
		ps_ctlsrv_status(ctl, &st);
		ps_prom_init(&p);
		ps_ctl_metrics(&p, &st);
		ps_ctlsrv_status_free(&st);
		return ctl_http_start(wsi, h, HTTP_STATUS_OK,
		    PS_PROM_CONTENT_TYPE, p.buf, 0);
	}
	return ctl_http_start(wsi, h, HTTP_STATUS_NOT_FOUND,
	    "text/plain; charset=utf-8", xstrdup("not found: psctl serves "
	    "/metrics, /livez, /readyz and /healthz\n"), 0);
}

/* Protocol [0]: plain HTTP, and the first look at every upgrade. */
static int
ctl_http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	const struct lws_protocols	*p = lws_get_protocol(wsi);
	struct ps_ctlsrv		*ctl = p != NULL ? p->user : NULL;
	struct ctl_http			*h = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		if (ctl == NULL)
			return -1;
		return ctl_confirm_upgrade(ctl, wsi);
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		/* A WebSocket without a subprotocol of ours. */
		return 1;
	case LWS_CALLBACK_HTTP:
		if (ctl == NULL || h == NULL)
			return -1;
		return ctl_http_request(ctl, wsi, h,
		    in != NULL ? (const char *)in : "/");
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (h == NULL)
			return -1;
		return ctl_http_writeable(wsi, h);
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

/* After every wake-up of the loop: finishes the jobs that are done. */
static void
ctl_wake(void *arg)
{
	ps_ckptjob_poll(arg);
}

/* While stopping: a job to finish, a stop's reply to write. */
static int
ctl_busy(void *arg)
{
	const struct ps_ctlsrv	*ctl = arg;
	const struct ps_ctlconn	*c;

	if (ctl->njobs > 0)
		return 1;
	TAILQ_FOREACH(c, &ctl->conns, entry) {
		if (c->close_when_sent && !ps_sendq_empty(&c->q))
			return 1;
	}
	return 0;
}

/* Before the lws context goes: the checkpoint threads that wake it end. */
static void
ctl_destroy(void *arg)
{
	ps_ckptjob_drain(arg);
}

/* Every control connection closes (1001) once its replies are out. */
static void
ctl_close_all(struct ps_ctlsrv *ctl)
{
	struct ps_ctlconn	*c;

	TAILQ_FOREACH(c, &ctl->conns, entry) {
		c->subscribed = 0;
		lws_sul_cancel(&c->sul);
		ps_ctlconn_close(c, LWS_CLOSE_STATUS_GOINGAWAY);
	}
}

void
ps_ctlsrv_stop_request(struct ps_ctlsrv *ctl, struct ps_ctlconn *c,
    json_int_t id, int final)
{
	struct ps_ctl_waiter	*w;

	w = xcalloc(1, sizeof *w);
	w->c = c;
	w->id = id;
	w->cmd = PS_CTL_STOP;
	TAILQ_INSERT_TAIL(&ctl->stop_waiters, w, entry);
	if (ps_server_state(ctl->srv) != PS_SERVER_SERVING) {
		/* Already stopping: answered with the others. */
		if (!ctl->stop_final)
			ps_ctlsrv_final_done(ctl, NULL);
		return;
	}
	ctl->stop_asked = final ? 1 : 0;
	ps_server_stop(ctl->srv);
}

/*
 * The server stops (a control request, or a signal): STOPPING=1, and a
 * final checkpoint when the request asked for one or, from a signal,
 * --checkpoint-on-exit.  Without one, the stop requests are answered now.
 */
static void
ctl_stopping(void *arg)
{
	struct ps_ctlsrv	*ctl = arg;
	struct ps_server	*srv = ctl->srv;
	const char		*code;
	char			*cause = NULL;
	int			 final;

	final = ctl->stop_asked >= 0 ? ctl->stop_asked : ctl->o.ckpt_on_exit;
	ctl_notify("STOPPING=1\nSTATUS=stopping");
	ps_log_info("stopping%s", final ? " after a final checkpoint" : "");
	if (final && ctl->o.ckpt_dir != NULL && !ps_store_empty(srv->store)) {
		/* Taken now: pushes after this are refused, not lost. */
		if (ps_ckptjob_save(ctl, PS_JOB_FINAL, NULL, &code,
		    &cause) != NULL)
			ctl->stop_final = 1;
		else {
			ps_log_error("final checkpoint: %s", cause);
			free(cause);
		}
	}
	if (!ctl->stop_final)
		ps_ctlsrv_final_done(ctl, NULL);
}

void
ps_ctlsrv_final_done(struct ps_ctlsrv *ctl, const char *path)
{
	struct ps_ctl_waiter	*w;

	ctl->stop_final = 0;
	while ((w = TAILQ_FIRST(&ctl->stop_waiters)) != NULL) {
		TAILQ_REMOVE(&ctl->stop_waiters, w, entry);
		if (w->c != NULL)
			ps_ctlconn_send(w->c, ps_ctl_reply_ok(w->id,
			    ps_ctl_stop_result(path)));
		free(w);
	}
	ctl_close_all(ctl);
}

static void
ctl_rates(struct ps_ctlsrv *ctl)
{
	struct ps_server	*srv = ctl->srv;
	struct ps_worker	*w;
	double			 now = (double)ps_server_now_us() / 1e6;
	size_t			 i;

	ps_rate_update(&ctl->pushes, srv->total.pushes, now);
	ps_rate_update(&ctl->pulls, srv->total.pulls, now);
	ps_rate_update(&ctl->bytes_in, srv->total.bytes_in, now);
	ps_rate_update(&ctl->bytes_out, srv->total.bytes_out, now);
	for (i = 0; i < ctl->ntensor_rates &&
	    i < ps_store_count(srv->store); i++)
		ps_rate_update(&ctl->tensor_rates[i],
		    ps_store_tensor(srv->store, i)->steps, now);
	TAILQ_FOREACH(w, &srv->workers, entry) {
		if (!w->rates_init) {
			ps_rate_init(&w->push_rate, PS_RATE_TAU);
			ps_rate_init(&w->pull_rate, PS_RATE_TAU);
			w->rates_init = 1;
		}
		ps_rate_update(&w->push_rate, w->c.pushes, now);
		ps_rate_update(&w->pull_rate, w->c.pulls, now);
	}
}

/* Every second: rates, and the periodic checkpoint when it is due. */
static void
ctl_tick(void *arg, int64_t now)
{
	struct ps_ctlsrv	*ctl = arg;
	struct ps_server	*srv = ctl->srv;
	const char		*code;
	char			*cause = NULL;

	ctl_rates(ctl);
	if (ctl->o.ckpt_every > 0 && ctl->o.ckpt_dir != NULL &&
	    ps_server_state(srv) == PS_SERVER_SERVING &&
	    !ps_store_empty(srv->store) &&
	    now - ctl->last_periodic_us >=
	    (int64_t)ctl->o.ckpt_every * LWS_US_PER_SEC) {
		ctl->last_periodic_us = now;
		if (ps_store_version(srv->store) == ctl->periodic_version)
			ps_log_debug("periodic checkpoint skipped: model "
			    "version %llu is saved",
			    (unsigned long long)ctl->periodic_version);
		else if (ps_ckptjob_save(ctl, PS_JOB_PERIODIC, NULL, &code,
		    &cause) == NULL) {
			ps_log_warn("periodic checkpoint: %s", cause);
			free(cause);
		} else
			ctl->periodic_version = ps_store_version(srv->store);
	}
}

void
ps_ctlsrv_status(struct ps_ctlsrv *ctl, struct ps_ctl_status *st)
{
	struct ps_server	*srv = ctl->srv;
	struct ps_store		*s = srv->store;
	const struct ps_tensor	*t;
	struct ps_ctl_tensor	*ts;
	struct ps_ctl_worker	*ws;
	struct ps_ctl_count	*rej;
	struct ps_worker	*w;
	const struct ps_job	*j;
	int64_t			 now = ps_server_now_us();
	uint64_t		 maxclock = 0;
	size_t			 i, n;

	memset(st, 0, sizeof *st);
	st->version = PSCTL_VERSION;
	st->listen = srv->listen;
	st->uptime_s = (double)(now - srv->started_us) / 1e6;
	if (ps_server_state(srv) >= PS_SERVER_DRAINING)
		st->state = "draining";
	else if (ps_store_empty(s))
		st->state = "empty";
	else
		st->state = "serving";
	st->mode = ps_mode_kind_name(srv->o.mode);
	st->rule_params = *ps_store_rule(s);
	st->rule = ps_rule_name(st->rule_params.kind);
	st->sync_workers = srv->o.mode == PS_MODE_SYNC ? srv->o.workers : 0;
	st->workers_expected = st->sync_workers;
	st->staleness = srv->o.mode == PS_MODE_SSP ?
	    (int64_t)srv->o.staleness : -1;
	st->model_version = ps_store_version(s);
	st->params = ps_store_params(s);
	st->bytes = st->params * sizeof (float);

	n = ps_store_count(s);
	ts = xcalloc(n > 0 ? n : 1, sizeof *ts);
	for (i = 0; i < n; i++) {
		t = ps_store_tensor(s, i);
		ts[i].name = t->name;
		ts[i].ndim = t->ndim;
		memcpy(ts[i].dims, t->dims, sizeof ts[i].dims);
		ts[i].l2_norm = ps_store_l2(s, i);
		ts[i].update_l2 = t->update_l2;
		ts[i].version = t->version;
		ts[i].updates_total = t->steps;
		if (i < ctl->ntensor_rates)
			ts[i].updates_per_s = ps_rate_get(&ctl->tensor_rates[i]);
	}
	st->tensors = ts;
	st->ntensors = n;
	st->model_l2 = n > 0 ? ps_store_model_l2(s) : 0;
	st->last_update_l2 = ps_store_last_update_l2(s);

	n = 0;
	TAILQ_FOREACH(w, &srv->workers, entry) {
		n++;
		if (w->conn != NULL && w->c.pushes > maxclock)
			maxclock = w->c.pushes;
	}
	ws = xcalloc(n > 0 ? n : 1, sizeof *ws);
	i = 0;
	TAILQ_FOREACH(w, &srv->workers, entry) {
		ws[i].id = w->id;
		ws[i].name = w->name != NULL ? w->name : "";
		ws[i].address = w->address;
		ws[i].state = ps_server_worker_state(srv, w, now);
		ws[i].pushes = w->c.pushes;
		ws[i].pulls = w->c.pulls;
		if (w->rates_init) {
			ws[i].pushes_per_s = ps_rate_get(&w->push_rate);
			ws[i].pulls_per_s = ps_rate_get(&w->pull_rate);
		}
		ws[i].clock = w->c.pushes;
		ws[i].lag = w->conn != NULL ?
		    (int64_t)(maxclock - w->c.pushes) : 0;
		ws[i].last_seen_s = (double)(now - w->last_seen_us) / 1e6;
		ws[i].bytes_in = w->c.bytes_in;
		ws[i].bytes_out = w->c.bytes_out;
		i++;
	}
	st->workers = ws;
	st->nworkers = n;
	st->workers_connected = ps_server_workers_connected(srv);

	st->pushes_total = srv->total.pushes;
	st->pulls_total = srv->total.pulls;
	/* Refused pushes, by the worker protocol's error names. */
	st->rejected_total = srv->total.push_rejects;
	rej = xcalloc(PS_SERVER_NCODES, sizeof *rej);
	n = 0;
	for (i = 1; i < PS_SERVER_NCODES; i++) {
		if (srv->total.push_reject_codes[i] == 0)
			continue;
		rej[n].name = ps_errcode_name((int)i);
		rej[n].n = srv->total.push_reject_codes[i];
		n++;
	}
	st->rejected = rej;
	st->nrejected = n;
	st->pushes_per_s = ps_rate_get(&ctl->pushes);
	st->pulls_per_s = ps_rate_get(&ctl->pulls);
	st->bytes_in_per_s = ps_rate_get(&ctl->bytes_in);
	st->bytes_out_per_s = ps_rate_get(&ctl->bytes_out);
	st->bytes_in_total = srv->total.bytes_in;
	st->bytes_out_total = srv->total.bytes_out;
	st->resets_total = srv->resets;

	st->checkpoint.dir = ctl->o.ckpt_dir;
	j = TAILQ_FIRST(&ctl->jobs);
	st->checkpoint.in_progress = j != NULL && j->kind == PS_JOB_SAVE;
	st->checkpoint.count = ctl->ckpt_count;
	st->checkpoint.failed = ctl->ckpt_failed;
	st->checkpoint.last_path = ctl->last_path;
	st->checkpoint.have_last = ctl->have_last;
	st->checkpoint.last_ok = ctl->last_ok;
	st->checkpoint.last_error = ctl->last_error;
	st->checkpoint.last_seconds = ctl->last_seconds;
	st->checkpoint.last_age_s = (double)(now - ctl->last_done_us) / 1e6;
	st->apply_seconds = &srv->apply_seconds;
	st->checkpoint_seconds = &ctl->ckpt_seconds;
}

void
ps_ctlsrv_status_free(struct ps_ctl_status *st)
{
	free((void *)st->tensors);
	free((void *)st->workers);
	free((void *)st->rejected);
	memset(st, 0, sizeof *st);
}
