/*
 * psctl serve: the libwebsockets context, its loop, timers and graceful
 * stop, and the operations on the model that every protocol shares (apply,
 * snapshot, reset, the shared pull body, waking parked requests).  Every
 * function runs on the service thread except ps_server_request_stop()
 * (signal handlers) and those before ps_server_start().
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libwebsockets.h>

#include "auth.h"
#include "checkpoint.h"
#include "ckptjob.h"
#include "ctlsrv.h"
#include "demo.h"
#include "log.h"
#include "mode.h"
#include "proto.h"
#include "sendq.h"
#include "server.h"
#include "store.h"
#include "ws-worker.h"
#include "xmalloc.h"

_Static_assert(LWS_PRE <= PS_BUF_PRE, "PS_BUF_PRE must hold lws's frame header");

/* Graceful stop: how long connections get to drain. */
#define SERVER_STOP_US		(3 * LWS_US_PER_SEC)
/* A worker is "silent" after this long without a message (or half the timeout). */
#define SERVER_SILENT_US	(10 * LWS_US_PER_SEC)

static int	server_http_cb(struct lws *, enum lws_callback_reasons, void *,
		    void *, size_t);
static void	server_round(struct ps_server *);
static void	server_tick_cb(lws_sorted_usec_list_t *);
static void	server_deadline_cb(lws_sorted_usec_list_t *);
static int	server_resolve(const char *, char **, int *, char **);
static void	server_views(const struct ps_store *, struct ps_tview *);

int64_t
ps_server_now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
ps_server_opts_init(struct ps_server_opts *o)
{
	memset(o, 0, sizeof *o);
	o->host = xstrdup("127.0.0.1");
	o->port = 7070;
	o->mode = PS_MODE_ASYNC;
	ps_rule_defaults(&o->rule, PS_RULE_ADD);
	o->worker_timeout = PS_SERVER_DEFAULT_TIMEOUT;
	o->max_message = PS_SERVER_DEFAULT_MAX_MESSAGE;
	o->max_tensors = PS_SERVER_DEFAULT_MAX_TENSORS;
	o->demo_workers = 3;
}

void
ps_server_opts_free(struct ps_server_opts *o)
{
	free(o->host);
	free(o->load);
	free(o->tls_cert);
	free(o->tls_key);
	memset(o, 0, sizeof *o);
}

int
ps_server_parse_listen(const char *s, struct ps_server_opts *o, char **cause)
{
	const char		*colon, *portstr;
	char			*host = NULL, *end;
	unsigned long		 port;

	if (*s == '[') {
		if ((colon = strchr(s, ']')) == NULL || colon[1] != ':') {
			*cause = xasprintf("%s: expected [ADDRESS]:PORT", s);
			return -1;
		}
		host = xstrndup(s + 1, (size_t)(colon - s - 1));
		portstr = colon + 2;
	} else if ((colon = strrchr(s, ':')) != NULL) {
		if (colon != s)
			host = xstrndup(s, (size_t)(colon - s));
		portstr = colon + 1;
	} else
		portstr = s;
	errno = 0;
	port = strtoul(portstr, &end, 10);
	if (*portstr < '0' || *portstr > '9' || *end != '\0' || errno != 0 ||
	    port > 65535) {
		*cause = xasprintf("%s: the port must be a number from 0 to "
		    "65535", s);
		free(host);
		return -1;
	}
	if (host != NULL && *host == '\0') {
		free(host);
		host = NULL;
	}
	free(o->host);
	o->host = host;
	o->port = (int)port;
	return 0;
}

/*
 * Turns a host name into a numeric address for lws, which only takes
 * addresses and interface names.  *family is AF_INET or AF_INET6.
 */
static int
server_resolve(const char *host, char **numeric, int *family, char **cause)
{
	struct addrinfo	 hints, *res;
	char		 buf[INET6_ADDRSTRLEN];
	int		 error;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_ADDRCONFIG;
	if ((error = getaddrinfo(host, NULL, &hints, &res)) != 0) {
		*cause = xasprintf("cannot resolve %s: %s", host,
		    gai_strerror(error));
		return -1;
	}
	*family = res->ai_family;
	if (res->ai_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->
		    sin6_addr, buf, sizeof buf);
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->
		    sin_addr, buf, sizeof buf);
	freeaddrinfo(res);
	*numeric = xstrdup(buf);
	return 0;
}

struct ps_server *
ps_server_new(struct ps_server_opts *o, int *load_failed, char **cause)
{
	struct ps_server	*srv;
	struct ps_ckpt_info	 info;
	char			*why = NULL;

	*load_failed = 0;
	srv = xcalloc(1, sizeof *srv);
	srv->o = *o;
	memset(o, 0, sizeof *o);
	TAILQ_INIT(&srv->workers);
	TAILQ_INIT(&srv->conns);
	TAILQ_INIT(&srv->parked);
	srv->started_us = ps_server_now_us();
	ps_hist_init(&srv->apply_seconds, ps_hist_apply_bounds,
	    ps_hist_apply_nbounds);
	srv->mode = ps_mode_new(srv->o.mode, srv->o.workers,
	    srv->o.staleness);

	if (srv->o.load != NULL) {
		memset(&info, 0, sizeof info);
		srv->store = ps_ckpt_load(srv->o.load,
		    srv->o.rule_given ? &srv->o.rule : NULL, &info, &why);
		if (srv->store == NULL) {
			*cause = xasprintf("%s", why != NULL ? why :
			    "cannot load the checkpoint");
			free(why);
			*load_failed = 1;
			ps_server_free(srv);
			return NULL;
		}
		ps_log_info("loaded %s: %zu tensors, %zu parameters, model "
		    "version %llu, rule %s%s", srv->o.load,
		    ps_store_count(srv->store), ps_store_params(srv->store),
		    (unsigned long long)ps_store_version(srv->store),
		    ps_rule_name(ps_store_rule(srv->store)->kind),
		    srv->o.rule_given ? " (from --rule)" : "");
	} else
		srv->store = ps_store_new(&srv->o.rule);
	srv->o.rule = *ps_store_rule(srv->store);

	if (srv->o.demo && ps_store_empty(srv->store)) {
		if (ps_demo_model(srv->store, cause) != 0) {
			ps_server_free(srv);
			return NULL;
		}
		ps_log_info("demo model: %zu tensors, %zu parameters",
		    ps_store_count(srv->store), ps_store_params(srv->store));
	}
	if (!ps_store_empty(srv->store))
		ps_server_model_created(srv);

	srv->protocols[0] = (struct lws_protocols){
		.name = "http",
		.callback = server_http_cb,
	};
	srv->protocols[1] = (struct lws_protocols){
		.name = PS_WORKER_PROTOCOL,
		.callback = ps_ws_worker_cb,
		.per_session_data_size = sizeof (struct ps_conn),
		.rx_buffer_size = PS_SERVER_IO_CHUNK,
		.tx_packet_size = PS_SERVER_IO_CHUNK,
	};
	srv->nprotocols = 2;
	return srv;
}

void
ps_server_model_created(struct ps_server *srv)
{
	ps_store_alloc_state(srv->store);
	if (ps_mode_kind(srv->mode) == PS_MODE_SYNC && srv->accum == NULL)
		srv->accum = ps_accum_new(srv->store);
	if (srv->keep_initial && srv->initial == NULL)
		srv->initial = ps_store_clone(srv->store);
	ps_server_model_changed(srv);
	if (srv->ctl != NULL)
		ps_ctlsrv_model_created(srv->ctl);
}

void
ps_server_free(struct ps_server *srv)
{
	struct ps_worker	*w;

	if (srv == NULL)
		return;
	srv->destroying = 1;
	/* Checkpoint threads wake the context: they end before it goes. */
	if (srv->ctl != NULL)
		ps_ckptjob_drain(srv->ctl);
	if (srv->ctx != NULL) {
		lws_sul_cancel(&srv->tick);
		lws_sul_cancel(&srv->stop_deadline);
		lws_context_destroy(srv->ctx);
	}
	ps_ctlsrv_free(srv->ctl);
	srv->ctl = NULL;
	ps_demo_stop(srv->demo);
	while ((w = TAILQ_FIRST(&srv->workers)) != NULL) {
		TAILQ_REMOVE(&srv->workers, w, entry);
		free(w->name);
		free(w);
	}
	ps_buf_unref(srv->body);
	ps_accum_free(srv->accum);
	ps_store_free(srv->initial);
	ps_store_free(srv->store);
	ps_mode_free(srv->mode);
	ps_auth_clear(&srv->auth);
	ps_server_opts_free(&srv->o);
	free(srv);
}

void
ps_server_set_auth(struct ps_server *srv, struct ps_auth *a)
{
	ps_auth_clear(&srv->auth);
	srv->auth = *a;
	memset(a, 0, sizeof *a);
}

const struct ps_auth *
ps_server_auth(const struct ps_server *srv)
{
	return &srv->auth;
}

void
ps_server_keep_initial(struct ps_server *srv)
{
	srv->keep_initial = 1;
	if (!ps_store_empty(srv->store) && srv->initial == NULL)
		srv->initial = ps_store_clone(srv->store);
}

int
ps_server_add_protocol(struct ps_server *srv, const struct lws_protocols *p)
{
	if (srv->nprotocols >= PS_SERVER_PROTOCOLS_MAX || srv->ctx != NULL)
		return -1;
	srv->protocols[srv->nprotocols++] = *p;
	return 0;
}

void
ps_server_set_http(struct ps_server *srv, lws_callback_function *cb,
    size_t pss)
{
	srv->protocols[0].callback = cb;
	srv->protocols[0].per_session_data_size = pss;
}

struct ps_server *
ps_server_from_wsi(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

/*
 * The HTTP slot until the control plane fills it: refuses WebSocket
 * connections that name no subprotocol (lws would give them this one),
 * and lets lws answer plain HTTP.
 */
static int
server_http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	if (reason == LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION)
		return 1;
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

int
ps_server_start(struct ps_server *srv, int *bind_errno, char **cause)
{
	struct lws_context_creation_info	 info;
	char					*host = NULL;
	int					 family = AF_INET, level;

	*bind_errno = 0;
	if (srv->o.host != NULL &&
	    server_resolve(srv->o.host, &host, &family, cause) != 0) {
		*bind_errno = EADDRNOTAVAIL;
		return -1;
	}

	level = LLL_ERR | LLL_WARN;
	if (ps_log_level >= PS_LOG_DEBUG)
		level |= LLL_NOTICE;
	lws_set_log_level(level, ps_log_lws_emit);

	memset(&info, 0, sizeof info);
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	if (family == AF_INET)
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	info.pt_serv_buf_size = PS_SERVER_IO_CHUNK;
	if (srv->o.tls_cert != NULL)
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.user = srv;
	info.gid = -1;
	info.uid = -1;
	if ((srv->ctx = lws_create_context(&info)) == NULL) {
		*cause = xstrdup("cannot create the libwebsockets context");
		free(host);
		return -1;
	}

	memset(&info, 0, sizeof info);
	info.options = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
	if (family == AF_INET)
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	info.port = srv->o.port;
	info.iface = host;
	info.protocols = srv->protocols;
	info.vhost_name = "psctl";
	/* wss:// and https:// only, when given a certificate. */
	if (srv->o.tls_cert != NULL) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = srv->o.tls_cert;
		info.ssl_private_key_filepath = srv->o.tls_key;
	}
	errno = 0;
	srv->vh = lws_create_vhost(srv->ctx, &info);
	if (srv->vh == NULL) {
		*bind_errno = errno != 0 ? errno : EADDRNOTAVAIL;
		*cause = xasprintf("cannot listen on %s%s%s:%d: %s",
		    family == AF_INET6 ? "[" : "", host != NULL ? host : "*",
		    family == AF_INET6 ? "]" : "", srv->o.port,
		    strerror(*bind_errno));
		free(host);
		return -1;
	}
	srv->port = lws_get_vhost_listen_port(srv->vh);
	snprintf(srv->listen, sizeof srv->listen, "%s%s%s:%d",
	    family == AF_INET6 ? "[" : "", host != NULL ? host : "*",
	    family == AF_INET6 ? "]" : "", srv->port);
	free(host);

	lws_sul_schedule(srv->ctx, 0, &srv->tick, server_tick_cb,
	    LWS_US_PER_SEC);
	/* Always printed, even with -q: tests and scripts wait for it. */
	ps_log_write(PS_LOG_INFO, "listening on %s (%s, rule %s, %s)",
	    srv->listen, PS_WORKER_PROTOCOL,
	    ps_rule_name(srv->o.rule.kind), ps_mode_kind_name(srv->o.mode));
	if (srv->o.demo && (srv->demo = ps_demo_start(srv->o.host,
	    srv->port, srv->o.rule.kind, srv->o.demo_workers, cause)) == NULL)
		return -1;
	return 0;
}

int
ps_server_run(struct ps_server *srv)
{
	/* Done, and no checkpoint or stop reply still under way. */
	while (!srv->done || (srv->ctl != NULL && ps_ctlsrv_busy(srv->ctl))) {
		if (srv->stop_requested && !srv->stopping) {
			if (srv->ctl != NULL)
				ps_ctlsrv_poll(srv->ctl);
			else
				ps_server_stop(srv);
		}
		if (srv->reopen_requested) {
			srv->reopen_requested = 0;
			if (ps_log_reopen() != 0)
				ps_log_warn("cannot reopen the log file");
			else
				ps_log_info("log file reopened");
		}
		if (srv->done && (srv->ctl == NULL || !ps_ctlsrv_busy(srv->ctl)))
			break;
		if (lws_service(srv->ctx, 0) < 0)
			break;
	}
	ps_log_info("stopped after %.1f s: %llu pushes, %llu pulls, model "
	    "version %llu", (double)(ps_server_now_us() - srv->started_us) /
	    1e6, (unsigned long long)srv->total.pushes,
	    (unsigned long long)srv->total.pulls,
	    (unsigned long long)ps_store_version(srv->store));
	return 0;
}

void
ps_server_request_stop(struct ps_server *srv)
{
	srv->stop_requested = 1;
	if (srv->ctx != NULL)
		lws_cancel_service(srv->ctx);
}

void
ps_server_request_reopen(struct ps_server *srv)
{
	srv->reopen_requested = 1;
	if (srv->ctx != NULL)
		lws_cancel_service(srv->ctx);
}

void
ps_server_stop(struct ps_server *srv)
{
	struct ps_conn	*c, *next;

	if (srv->stopping)
		return;
	srv->stopping = 1;
	ps_log_info("stopping: closing %zu connections",
	    (size_t)ps_server_workers_connected(srv));
	ps_demo_halt(srv->demo);
	for (c = TAILQ_FIRST(&srv->parked); c != NULL; c = next) {
		next = TAILQ_NEXT(c, park_entry);
		ps_ws_park_error(c, PS_E_SHUTDOWN, "the server is stopping");
	}
	TAILQ_FOREACH(c, &srv->conns, entry)
		ps_ws_close(c, LWS_CLOSE_STATUS_GOINGAWAY,
		    "the server is stopping");
	if (TAILQ_EMPTY(&srv->conns)) {
		srv->done = 1;
		return;
	}
	lws_sul_schedule(srv->ctx, 0, &srv->stop_deadline, server_deadline_cb,
	    SERVER_STOP_US);
}

static void
server_deadline_cb(lws_sorted_usec_list_t *sul)
{
	struct ps_server	*srv;

	srv = lws_container_of(sul, struct ps_server, stop_deadline);
	ps_log_warn("stopping: %zu connections did not close in time",
	    (size_t)ps_server_workers_connected(srv));
	srv->done = 1;
}

/* Every second: workers silent past --worker-timeout leave. */
static void
server_tick_cb(lws_sorted_usec_list_t *sul)
{
	struct ps_server	*srv;
	struct ps_worker	*w, *next;
	struct ps_conn		*c;
	int64_t			 now, limit;
	int			 left = 0;

	srv = lws_container_of(sul, struct ps_server, tick);
	now = ps_server_now_us();
	limit = (int64_t)srv->o.worker_timeout * LWS_US_PER_SEC;
	for (w = TAILQ_FIRST(&srv->workers); limit > 0 && w != NULL;
	    w = next) {
		next = TAILQ_NEXT(w, entry);
		if ((c = w->conn) == NULL || c->park != PS_PARK_NONE ||
		    c->closing || now - w->last_seen_us <= limit)
			continue;
		ps_log_warn("worker %llu (%s) at %s silent for %.0f s: timed "
		    "out", (unsigned long long)w->id, w->name, w->address,
		    (double)(now - w->last_seen_us) / 1e6);
		ps_server_worker_leave(srv, w, "timed out");
		ps_ws_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION,
		    "silent longer than --worker-timeout");
		left = 1;
	}
	if (left)
		ps_server_wake(srv);
	lws_sul_schedule(srv->ctx, 0, &srv->tick, server_tick_cb,
	    LWS_US_PER_SEC);
}

void
ps_server_worker_leave(struct ps_server *srv, struct ps_worker *w,
    const char *why)
{
	struct ps_worker	*g;
	int			 barrier;

	if (w->state == PS_WORKER_GONE)
		return;
	barrier = ps_mode_leave(srv->mode, w->id);
	w->state = PS_WORKER_GONE;
	w->left_us = ps_server_now_us();
	if (w->conn != NULL)
		w->conn->w = NULL;
	w->conn = NULL;
	TAILQ_REMOVE(&srv->workers, w, entry);
	TAILQ_INSERT_TAIL(&srv->workers, w, entry);
	ps_log_info("worker %llu (%s) at %s %s after %llu pushes and %llu "
	    "pulls", (unsigned long long)w->id, w->name, w->address, why,
	    (unsigned long long)w->c.pushes, (unsigned long long)w->c.pulls);
	if (barrier && ps_mode_kind(srv->mode) == PS_MODE_SYNC)
		ps_log_info("worker %llu left the sync barrier: %zu live, "
		    "%zu pushes in the current round", (unsigned long long)w->id,
		    ps_mode_live_count(srv->mode),
		    ps_mode_round_pushes(srv->mode));
	else if (barrier && ps_mode_kind(srv->mode) == PS_MODE_SSP)
		ps_log_info("worker %llu left: the slowest live clock is now "
		    "%llu", (unsigned long long)w->id,
		    (unsigned long long)ps_mode_min_clock(srv->mode));

	/* Keep at most PS_SERVER_GONE_MAX gone workers, forgetting the oldest. */
	if (++srv->ngone > PS_SERVER_GONE_MAX) {
		TAILQ_FOREACH(g, &srv->workers, entry) {
			if (g->state == PS_WORKER_GONE)
				break;
		}
		if (g != NULL) {
			TAILQ_REMOVE(&srv->workers, g, entry);
			free(g->name);
			free(g);
			srv->ngone--;
		}
	}
}

const char *
ps_server_worker_state(const struct ps_server *srv, const struct ps_worker *w,
    int64_t now)
{
	int64_t	silent = SERVER_SILENT_US;

	if (w->state == PS_WORKER_GONE || w->conn == NULL)
		return "gone";
	if (w->conn->park != PS_PARK_NONE)
		return "waiting";
	if (srv->o.worker_timeout > 0 &&
	    (int64_t)srv->o.worker_timeout * LWS_US_PER_SEC / 2 < silent)
		silent = (int64_t)srv->o.worker_timeout * LWS_US_PER_SEC / 2;
	if (now - w->last_seen_us > silent)
		return "silent";
	return "active";
}

unsigned
ps_server_workers_connected(const struct ps_server *srv)
{
	const struct ps_worker	*w;
	unsigned		 n = 0;

	TAILQ_FOREACH(w, &srv->workers, entry) {
		if (w->conn != NULL)
			n++;
	}
	return n;
}

/* Views of every tensor of s, data included. */
static void
server_views(const struct ps_store *s, struct ps_tview *v)
{
	const struct ps_tensor	*t;
	size_t			 i;

	for (i = 0; i < ps_store_count(s); i++) {
		t = ps_store_tensor(s, i);
		memset(&v[i], 0, sizeof v[i]);
		v[i].name = t->name;
		v[i].namelen = t->namelen;
		v[i].dtype = PS_DTYPE_F32;
		v[i].ndim = t->ndim;
		memcpy(v[i].dims, t->dims, sizeof v[i].dims);
		v[i].data = t->data;
		v[i].nbytes = t->n * sizeof (float);
	}
}

void
ps_server_model_changed(struct ps_server *srv)
{
	srv->body_valid = 0;
}

struct ps_buf *
ps_server_model_body(struct ps_server *srv)
{
	struct ps_tview	*v;
	struct ps_buf	*b;
	size_t		 i, n, total = 0;
	uint8_t		*p;

	if (srv->body_valid)
		return srv->body;
	n = ps_store_count(srv->store);
	v = xcalloc(n > 0 ? n : 1, sizeof *v);
	server_views(srv->store, v);
	for (i = 0; i < n; i++)
		total += ps_proto_record_size(&v[i]);
	/*
	 * When no reply still uses the old body, write over it: a fresh
	 * allocation of a large model per version costs page faults.
	 */
	if (srv->body != NULL && srv->body->refs == 1 &&
	    srv->body->len == total)
		b = srv->body;
	else {
		b = ps_buf_new(total);
		ps_buf_unref(srv->body);
	}
	p = b->data;
	for (i = 0; i < n; i++)
		p += ps_proto_put_record(p, &v[i]);
	free(v);
	srv->body = b;
	srv->body_version = ps_store_version(srv->store);
	srv->body_valid = 1;
	return b;
}

uint64_t
ps_server_apply(struct ps_server *srv, const struct ps_tview *v, size_t n,
    int *code, char **cause)
{
	uint64_t	version;
	int64_t		t0 = ps_server_now_us();

	if ((version = ps_store_apply(srv->store, v, n, code, cause)) == 0)
		return 0;
	ps_hist_observe(&srv->apply_seconds,
	    (double)(ps_server_now_us() - t0) / 1e6);
	srv->updates++;
	ps_server_model_changed(srv);
	return version;
}

/* A sync round is complete: apply the mean once, answer its pushes. */
static void
server_round(struct ps_server *srv)
{
	struct ps_conn	*c, *next;
	uint64_t	 version;
	size_t		 n;
	int64_t		 t0 = ps_server_now_us();

	version = ps_store_apply_mean(srv->store, srv->accum);
	n = ps_mode_round_end(srv->mode);
	if (version != 0) {
		ps_hist_observe(&srv->apply_seconds,
		    (double)(ps_server_now_us() - t0) / 1e6);
		srv->updates++;
		srv->rounds++;
		ps_server_model_changed(srv);
	} else
		version = ps_store_version(srv->store);
	ps_log_debug("round %llu: mean of %zu pushes applied, version %llu",
	    (unsigned long long)ps_mode_rounds(srv->mode), n,
	    (unsigned long long)version);
	for (c = TAILQ_FIRST(&srv->parked); c != NULL; c = next) {
		next = TAILQ_NEXT(c, park_entry);
		if (c->park == PS_PARK_PUSH_ROUND)
			ps_ws_round_done(c, version, NULL);
	}
}

void
ps_server_wake(struct ps_server *srv)
{
	struct ps_conn	*c;

	if (srv->destroying)
		return;
again:
	if (ps_mode_kind(srv->mode) == PS_MODE_SYNC && srv->accum != NULL &&
	    ps_mode_round_complete(srv->mode)) {
		server_round(srv);
		goto again;
	}
	TAILQ_FOREACH(c, &srv->parked, park_entry) {
		if (c->park != PS_PARK_PUSH_ROUND && ps_ws_retry(c))
			goto again;
	}
}

struct ps_store *
ps_server_snapshot(const struct ps_server *srv)
{
	if (ps_store_empty(srv->store))
		return NULL;
	return ps_store_clone(srv->store);
}

int
ps_server_reset(struct ps_server *srv, struct ps_store *s, char **cause)
{
	struct ps_tview	*v;
	struct ps_conn	*c, *next;
	size_t		 n;
	int		 code;

	if (!ps_store_empty(srv->store)) {
		n = ps_store_count(s);
		v = xcalloc(n > 0 ? n : 1, sizeof *v);
		server_views(s, v);
		if (ps_store_matches(srv->store, v, n, &code, cause) != 0) {
			free(v);
			ps_store_free(s);
			return -1;
		}
		free(v);
	}
	ps_store_set_version(s, ps_store_version(srv->store) + 1);
	ps_store_free(srv->store);
	srv->store = s;
	srv->resets++;

	/* An unfinished round's pushes were made against the old model. */
	ps_accum_free(srv->accum);
	srv->accum = NULL;
	if (ps_mode_kind(srv->mode) == PS_MODE_SYNC)
		ps_mode_round_end(srv->mode);
	for (c = TAILQ_FIRST(&srv->parked); c != NULL; c = next) {
		next = TAILQ_NEXT(c, park_entry);
		if (c->park == PS_PARK_PUSH_ROUND)
			ps_ws_round_done(c, ps_store_version(s),
			    "update dropped: the model was reset");
	}
	if (!ps_store_empty(s))
		ps_server_model_created(srv);
	ps_server_model_changed(srv);
	ps_log_info("model reset: %zu tensors, version %llu",
	    ps_store_count(s), (unsigned long long)ps_store_version(s));
	ps_server_wake(srv);
	return 0;
}
