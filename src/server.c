/*
 * psctl serve's core: the libwebsockets context and its loop, the one
 * state of the server and its graceful stop, the hooks protocols register,
 * and the operations on the model and the workers that every protocol
 * shares (init, apply, sync rounds, snapshot, reset, the shared pull
 * body, worker bookkeeping).  It knows no protocol: they sit above it.
 * Every function runs on the service thread except
 * ps_server_request_stop(), ps_server_request_reopen() (signal handlers),
 * ps_server_wakeup() (any thread) and those before ps_server_start().
 */
#include "config.h"

#include <sys/types.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <ev.h>
#include <libwebsockets.h>

#include "auth.h"
#include "checkpoint.h"
#include "demo.h"
#include "log.h"
#include "mode.h"
#include "notify.h"
#include "proto.h"
#include "sendq.h"
#include "server.h"
#include "store.h"
#include "xmalloc.h"

_Static_assert(LWS_PRE <= PS_BUF_PRE, "PS_BUF_PRE must hold lws's frame header");

/* Room in the protocol table. */
#define SERVER_PROTOCOLS_MAX	8
/* Hooks a server holds at most. */
#define SERVER_HOOKS_MAX	8

/* What signal handlers ask of the loop (srv->requests). */
#define SERVER_REQ_STOP		0x1
#define SERVER_REQ_REOPEN	0x2
/* A worker is "silent" after this long without a message (or half the timeout). */
#define SERVER_SILENT_US	(10 * LWS_US_PER_SEC)

/*
 * The vhost's "validity" policy: none.  lws 4.1's default pings every
 * WebSocket 300 s after it opened (or after its last PONG) and closes it
 * 10 s later unless a PONG came: traffic does not count, only a PONG.  A
 * worker that does not read for those 10 s (computing, or sending a large
 * push) lost its connection, whatever --worker-timeout said (0 too), and
 * so did every idle worker.  Whether a worker is alive is the server's
 * --worker-timeout, which counts progress in either direction.
 */
static const lws_retry_bo_t server_no_validity = {
	.secs_since_valid_ping = 0,
	.secs_since_valid_hangup = 0,	/* 0: lws sets no validity timer */
};

static int	server_http_cb(struct lws *, enum lws_callback_reasons, void *,
		    void *, size_t);
/* A registered hook and its argument. */
struct server_hook {
	const struct ps_server_hooks	*h;	/* borrowed */
	void				*arg;
};

/* One server: opaque outside this file. */
struct ps_server {
	struct ps_server_opts	 o;
	struct lws_context	*ctx;		/* owned */
	struct ev_loop		*loop;		/* owned: the context's, epoll */
	ev_prepare		 prepare;	/* server_prepare_cb */
	ev_idle			 forced;	/* server_forced_cb */
	struct lws_vhost	*vh;		/* the context's */
	int			 port;		/* the port actually bound */
	char			 listen[128];	/* "127.0.0.1:40123" */
	int64_t			 started_us;
	enum ps_server_state	 state;
	int			 held;		/* ps_server_hold() */
	/* Asked by signal handlers (SERVER_REQ_*), done by the loop. */
	atomic_uint		 requests;

	/* Protocols: [0] HTTP, then as added; NULL-terminated. */
	struct lws_protocols	 protocols[SERVER_PROTOCOLS_MAX + 1];
	size_t			 nprotocols;
	struct server_hook	 hooks[SERVER_HOOKS_MAX];
	size_t			 nhooks;

	struct ps_store		*store;		/* owned; empty until init/load */
	/*
	 * The model as first created, until ps_server_take_initial(): all
	 * but its values, and the pull body of its version for those (the
	 * one pulls share, so keeping it costs a copy only once the model
	 * has changed).
	 */
	int			 keep_initial;	/* ps_server_keep_initial() */
	int			 initial_taken;
	struct ps_store		*initial_meta;	/* owned */
	struct ps_buf		*initial_body;	/* owned ref, or NULL */
	struct ps_auth		 auth;		/* owned tokens */
	struct ps_accum		*accum;		/* owned; sync rounds */
	struct ps_mode		*mode;		/* owned */
	struct ps_buf		*body;		/* owned ref: the model's records */
	uint64_t		 body_version;
	int			 body_valid;
	size_t			 push_max;	/* 0: not known yet */

	struct ps_workers	 workers;	/* live first, then gone */
	size_t			 ngone;
	uint64_t		 next_worker_id;
	struct ps_server_block	 blocks[PS_SERVER_BLOCKS_MAX];
	size_t			 nblocks;
	ps_server_kick_fn	 kick;		/* the worker protocol's */
	void			*kick_arg;

	struct ps_counters	 total;
	uint64_t		 updates;	/* updates applied to the store */
	double			 push_l2;	/* of the push last accepted */
	uint64_t		 rounds;	/* sync rounds applied */
	int64_t			 round_first_us; /* the round's first push; 0 */
	uint64_t		 resets;

	lws_sorted_usec_list_t	 tick;		/* 1 s: the hooks' tick */
	lws_sorted_usec_list_t	 watchdog;	/* systemd's WATCHDOG=1 */
	int64_t			 watchdog_us;	/* its period; 0: none */
	int			 watchdog_failed; /* said so once */

	struct ps_demo		*demo;		/* owned: --demo's threads */
	struct ps_hist		 apply_seconds;	/* time to apply each update */
};

static void	server_tick_cb(lws_sorted_usec_list_t *);
static void	server_watchdog_cb(lws_sorted_usec_list_t *);
static void	server_watchdog_start(struct ps_server *);
static int	server_resolve(const char *, char **, int *, char **);
static void	server_views(const struct ps_store *, struct ps_tview *);
static void	server_created(struct ps_server *);
static void	server_initial_meta(struct ps_server *);
static void	server_initial_body(struct ps_server *);
static void	server_changed(struct ps_server *);
static void	server_prepare_cb(struct ev_loop *, ev_prepare *, int);
static void	server_forced_cb(struct ev_loop *, ev_idle *, int);
static void	server_requests(struct ps_server *);
static int	server_busy(struct ps_server *);
static void	server_secret(char *);
static void	server_gap(int64_t *, double *);

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
	o->max_inflight = PS_SERVER_DEFAULT_MAX_INFLIGHT;
	o->max_socket = PS_SERVER_SOCKET_AUTO;
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
	/*
	 * Large buffers (messages, reply bodies, snapshots) are mapped on
	 * their own and unmapped when freed, so memory let go goes back to
	 * the system: glibc's default moves that threshold up to 32 MiB as
	 * such buffers are freed, after which they stay in the heap.
	 */
#if defined(M_MMAP_THRESHOLD)
	mallopt(M_MMAP_THRESHOLD, PS_SERVER_MMAP_THRESHOLD);
#endif
	srv = xcalloc(1, sizeof *srv);
	srv->o = *o;
	memset(o, 0, sizeof *o);
	TAILQ_INIT(&srv->workers);
	atomic_init(&srv->requests, 0);
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
		server_created(srv);

	srv->protocols[0] = (struct lws_protocols){
		.name = "http",
		.callback = server_http_cb,
	};
	srv->nprotocols = 1;
	return srv;
}

/*
 * The model exists now (init, load, demo, reset): sets up what depends on
 * it (optimizer state, the sync accumulator, the initial copy), then the
 * created hooks.
 */
static void
server_created(struct ps_server *srv)
{
	size_t	i;

	ps_store_alloc_state(srv->store);
	if (ps_mode_kind(srv->mode) == PS_MODE_SYNC && srv->accum == NULL)
		srv->accum = ps_accum_new(srv->store);
	if (srv->keep_initial)
		server_initial_meta(srv);
	srv->push_max = 0;
	server_changed(srv);
	for (i = 0; i < srv->nhooks; i++) {
		if (srv->hooks[i].h->created != NULL)
			srv->hooks[i].h->created(srv->hooks[i].arg);
	}
}

void
ps_server_free(struct ps_server *srv)
{
	struct ps_worker	*w;

	size_t			 i;

	if (srv == NULL)
		return;
	srv->state = PS_SERVER_STOPPED;
	/* Threads that wake the context (checkpoints) end before it goes. */
	for (i = 0; i < srv->nhooks; i++) {
		if (srv->hooks[i].h->destroy != NULL)
			srv->hooks[i].h->destroy(srv->hooks[i].arg);
	}
	if (srv->ctx != NULL) {
		lws_sul_cancel(&srv->tick);
		lws_sul_cancel(&srv->watchdog);
		lws_context_destroy(srv->ctx);
	}
	if (srv->loop != NULL) {
		ev_prepare_stop(srv->loop, &srv->prepare);
		ev_idle_stop(srv->loop, &srv->forced);
		ev_loop_destroy(srv->loop);
	}
	ps_demo_stop(srv->demo);
	while ((w = TAILQ_FIRST(&srv->workers)) != NULL) {
		TAILQ_REMOVE(&srv->workers, w, entry);
		free(w->name);
		free(w);
	}
	while (srv->nblocks > 0)
		free(srv->blocks[--srv->nblocks].name);
	ps_buf_unref(srv->body);
	ps_accum_free(srv->accum);
	ps_store_free(srv->initial_meta);
	ps_buf_unref(srv->initial_body);
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
	server_initial_meta(srv);
}

/*
 * The model exists: keeps all of it but its values, the first time.  Its
 * values are the pull body of its version (server_initial_body()), not
 * a copy made now: while an INIT creates the model, its request still
 * holds the values, and a copy would make three models at once.
 */
static void
server_initial_meta(struct ps_server *srv)
{
	if (srv->initial_taken || srv->initial_meta != NULL ||
	    ps_store_empty(srv->store))
		return;
	srv->initial_meta = ps_store_clone_meta(srv->store);
}

/*
 * Keeps the pull body of the initial version, if the model is still at
 * it: before anything changes the model, and once the body is made.
 */
static void
server_initial_body(struct ps_server *srv)
{
	uint64_t	version;

	if (srv->initial_meta == NULL || srv->initial_body != NULL ||
	    ps_store_version(srv->store) !=
	    ps_store_version(srv->initial_meta))
		return;
	/* Made, or found made; ps_server_model_body() keeps it. */
	ps_server_model_body(srv, &version);
}

int
ps_server_take_initial(struct ps_server *srv, struct ps_store **meta,
    struct ps_buf **body, char **cause)
{
	server_initial_body(srv);
	if (srv->initial_meta == NULL || srv->initial_body == NULL) {
		*cause = xstrdup(srv->initial_taken ? "the initial model was "
		    "taken already" : "the initial model was not kept");
		return -1;
	}
	*meta = srv->initial_meta;
	*body = srv->initial_body;
	srv->initial_meta = NULL;
	srv->initial_body = NULL;
	srv->initial_taken = 1;
	return 0;
}

void
ps_server_body_values(const struct ps_store *s, const struct ps_buf *body,
    const float **values)
{
	struct ps_tview	 v;
	const uint8_t	*p = body->data;
	size_t		 i, size;

	for (i = 0; i < ps_store_count(s); i++) {
		ps_server_view(s, i, 1, &v);
		size = ps_proto_record_size(&v);
		values[i] = (const float *)(const void *)(p +
		    ps_proto_record_head_size(&v));
		p += size;
	}
	if ((size_t)(p - body->data) != body->len)
		fatalx("%s: the body is not of this model", __func__);
}

int
ps_server_add_protocol(struct ps_server *srv, const struct lws_protocols *p)
{
	if (srv->nprotocols >= SERVER_PROTOCOLS_MAX || srv->ctx != NULL)
		return -1;
	srv->protocols[srv->nprotocols++] = *p;
	return 0;
}

void
ps_server_set_http(struct ps_server *srv, const struct lws_protocols *p)
{
	if (srv->ctx == NULL)
		srv->protocols[0] = *p;
}

struct ps_server *
ps_server_from_wsi(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

int
ps_server_hook(struct ps_server *srv, const struct ps_server_hooks *h,
    void *arg)
{
	if (srv->nhooks >= SERVER_HOOKS_MAX)
		return -1;
	srv->hooks[srv->nhooks].h = h;
	srv->hooks[srv->nhooks].arg = arg;
	srv->nhooks++;
	return 0;
}

void
ps_server_unhook(struct ps_server *srv, void *arg)
{
	size_t	i, j = 0;

	for (i = 0; i < srv->nhooks; i++) {
		if (srv->hooks[i].arg != arg)
			srv->hooks[j++] = srv->hooks[i];
	}
	srv->nhooks = j;
}

void
ps_server_usage(struct ps_server *srv, struct ps_server_usage *u)
{
	size_t	i;

	memset(u, 0, sizeof *u);
	for (i = 0; i < srv->nhooks; i++) {
		if (srv->hooks[i].h->usage != NULL)
			srv->hooks[i].h->usage(srv->hooks[i].arg, u);
	}
}

enum ps_server_state
ps_server_state(const struct ps_server *srv)
{
	return srv->state;
}

void
ps_server_hold(struct ps_server *srv, int held)
{
	srv->held = held;
}

int
ps_server_held(const struct ps_server *srv)
{
	return srv->held;
}

const struct ps_server_opts *
ps_server_opts(const struct ps_server *srv)
{
	return &srv->o;
}

struct ps_store *
ps_server_store(struct ps_server *srv)
{
	return srv->store;
}

struct ps_mode *
ps_server_mode(struct ps_server *srv)
{
	return srv->mode;
}

struct ps_counters *
ps_server_counters(struct ps_server *srv)
{
	return &srv->total;
}

const char *
ps_server_listen(const struct ps_server *srv)
{
	return srv->listen;
}

int64_t
ps_server_started_us(const struct ps_server *srv)
{
	return srv->started_us;
}

uint64_t
ps_server_resets(const struct ps_server *srv)
{
	return srv->resets;
}

const struct ps_hist *
ps_server_apply_hist(const struct ps_server *srv)
{
	return &srv->apply_seconds;
}

struct ps_workers *
ps_server_workers(struct ps_server *srv)
{
	return &srv->workers;
}

/*
 * The HTTP slot until ps_server_set_http() fills it: refuses WebSocket
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
	const char				*token;
	char					*host = NULL;
	lws_state_manager_t			*mgr;
	void					*loops[1];
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

	/*
	 * lws serves on a libev loop: epoll, where lws's own loop is poll(2),
	 * which walks every descriptor on every pass (with 10,000 idle
	 * workers, 8 ms of CPU for each /livez).  Signals stay ours.
	 */
	if ((srv->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK)) ==
	    NULL) {
		*cause = xstrdup("cannot create the event loop");
		free(host);
		return -1;
	}
	ev_prepare_init(&srv->prepare, server_prepare_cb);
	srv->prepare.data = srv;
	ev_prepare_start(srv->loop, &srv->prepare);
	ev_idle_init(&srv->forced, server_forced_cb);
	srv->forced.data = srv;
	loops[0] = srv->loop;

	memset(&info, 0, sizeof info);
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
	    LWS_SERVER_OPTION_LIBEV;
	info.foreign_loops = loops;
	if (family == AF_INET)
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	info.pt_serv_buf_size = PS_SERVER_IO_CHUNK;
	if (srv->o.tls_cert != NULL)
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.user = srv;
	info.gid = -1;
	info.uid = -1;
	if ((srv->ctx = lws_create_context(&info)) == NULL) {
		*cause = xstrdup("cannot create the libwebsockets context "
		    "(is its libev plugin, libwebsockets-evlib-ev, installed?)");
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
	info.retry_and_idle_policy = &server_no_validity;
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

	srv->state = PS_SERVER_SERVING;
	/*
	 * The protocols' PROTOCOL_INIT now, before any connection: lws runs
	 * it from a timer of the loop, which libev may fire after the first
	 * handshake it accepts (lws then closes that one, its protocol not
	 * ready).  lws's own poll loop ran its timers first.
	 */
	mgr = lws_system_get_state_manager(srv->ctx);
	lws_state_transition_steps(mgr, LWS_SYSTATE_OPERATIONAL);
	if (mgr->state != LWS_SYSTATE_OPERATIONAL) {
		*cause = xstrdup("the protocols did not start");
		return -1;
	}
	lws_sul_schedule(srv->ctx, 0, &srv->tick, server_tick_cb,
	    LWS_US_PER_SEC);
	server_watchdog_start(srv);
	/* Always printed, even with -q: tests and scripts wait for it. */
	ps_log_write(PS_LOG_INFO, "listening on %s (%s, rule %s, %s)",
	    srv->listen, PS_WORKER_PROTOCOL,
	    ps_rule_name(srv->o.rule.kind), ps_mode_kind_name(srv->o.mode));
	/*
	 * The demo workers are workers: the worker token, else the operator
	 * token (which admits workers too), else none.
	 */
	token = srv->auth.worker != NULL ? srv->auth.worker :
	    srv->auth.operator;
	if (srv->o.demo && (srv->demo = ps_demo_start(srv->o.host,
	    srv->port, token, srv->o.rule.kind, srv->o.demo_workers,
	    cause)) == NULL)
		return -1;
	return 0;
}

int
ps_server_run(struct ps_server *srv)
{
	ev_run(srv->loop, 0);
	srv->state = PS_SERVER_STOPPED;
	ps_log_info("stopped after %.1f s: %llu pushes, %llu pulls, model "
	    "version %llu", (double)(ps_server_now_us() - srv->started_us) /
	    1e6, (unsigned long long)srv->total.pushes,
	    (unsigned long long)srv->total.pulls,
	    (unsigned long long)ps_store_version(srv->store));
	return 0;
}

/*
 * Before each wait of the loop: what signal handlers asked, the hooks'
 * wake-ups, and the end of a drain; then, if a connection has bytes lws
 * already holds (read before its rx flow control paused it, or inside
 * TLS) and may read them now, the wait must not block: the idle watcher
 * serves them.  lws's plugin starts its own idle watcher only after a
 * descriptor's event, not when a timer or a wake-up resumes a
 * connection; its poll loop checked before every wait, as this does.
 */
static void
server_prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct ps_server	*srv = w->data;
	size_t			 i;

	(void)revents;
	server_requests(srv);
	for (i = 0; i < srv->nhooks; i++) {
		if (srv->hooks[i].h->wake != NULL)
			srv->hooks[i].h->wake(srv->hooks[i].arg);
	}
	if (srv->state == PS_SERVER_DRAINING && !server_busy(srv))
		ev_break(loop, EVBREAK_ALL);
	else if (lws_service_adjust_timeout(srv->ctx, 1, 0) == 0)
		ev_idle_start(loop, &srv->forced);
}

/* The bytes lws holds for connections that may read them (see above). */
static void
server_forced_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct ps_server	*srv = w->data;

	(void)revents;
	_lws_plat_service_forced_tsi(srv->ctx, 0);
	if (lws_service_adjust_timeout(srv->ctx, 1, 0) != 0)
		ev_idle_stop(loop, w);
}

/* Does what signal handlers asked (srv->requests). */
static void
server_requests(struct ps_server *srv)
{
	unsigned	r;

	if (atomic_load(&srv->requests) == 0)
		return;
	r = atomic_exchange(&srv->requests, 0);
	if (r & SERVER_REQ_REOPEN) {
		if (ps_log_reopen() != 0)
			ps_log_warn("cannot reopen the log file");
		else
			ps_log_info("log file reopened");
	}
	if (r & SERVER_REQ_STOP)
		ps_server_stop(srv);
}

/* 1 while a busy hook holds the draining loop. */
static int
server_busy(struct ps_server *srv)
{
	size_t	i;

	for (i = 0; i < srv->nhooks; i++) {
		if (srv->hooks[i].h->busy != NULL &&
		    srv->hooks[i].h->busy(srv->hooks[i].arg))
			return 1;
	}
	return 0;
}

void
ps_server_request_stop(struct ps_server *srv)
{
	atomic_fetch_or(&srv->requests, SERVER_REQ_STOP);
	if (srv->ctx != NULL)
		lws_cancel_service(srv->ctx);
}

void
ps_server_request_reopen(struct ps_server *srv)
{
	atomic_fetch_or(&srv->requests, SERVER_REQ_REOPEN);
	if (srv->ctx != NULL)
		lws_cancel_service(srv->ctx);
}

void
ps_server_wakeup(struct ps_server *srv)
{
	if (srv->ctx != NULL)
		lws_cancel_service(srv->ctx);
}

void
ps_server_stop(struct ps_server *srv)
{
	size_t	i;

	if (srv->state != PS_SERVER_SERVING)
		return;
	srv->state = PS_SERVER_DRAINING;
	ps_demo_halt(srv->demo);
	for (i = 0; i < srv->nhooks; i++) {
		if (srv->hooks[i].h->stopping != NULL)
			srv->hooks[i].h->stopping(srv->hooks[i].arg);
	}
}

/* Every second: the tick hooks (worker timeouts, rates, periodic saves). */
static void
server_tick_cb(lws_sorted_usec_list_t *sul)
{
	struct ps_server	*srv;
	int64_t			 now;
	size_t			 i;

	srv = lws_container_of(sul, struct ps_server, tick);
	now = ps_server_now_us();
	for (i = 0; i < srv->nhooks; i++) {
		if (srv->hooks[i].h->tick != NULL)
			srv->hooks[i].h->tick(srv->hooks[i].arg, now);
	}
	lws_sul_schedule(srv->ctx, 0, &srv->tick, server_tick_cb,
	    LWS_US_PER_SEC);
}

/*
 * systemd's watchdog (WatchdogSec=): "WATCHDOG=1" at half the period
 * systemd gave, from a timer of the loop, so that the pings stop when the
 * loop does (a callback that never returns, a deadlock) and systemd
 * restarts the service.
 */
static void
server_watchdog_start(struct ps_server *srv)
{
	uint64_t	 usec;
	char		*cause = NULL;
	int		 r;

	r = ps_notify_watchdog(&usec, &cause);
	if (r < 0) {
		ps_log_warn("systemd watchdog: %s; not pinging", cause);
		free(cause);
	}
	if (r <= 0)
		return;
	srv->watchdog_us = (int64_t)(usec / 2 > 0 ? usec / 2 : 1);
	ps_log_debug("systemd watchdog: WATCHDOG=1 every %.3f s",
	    (double)srv->watchdog_us / 1e6);
	lws_sul_schedule(srv->ctx, 0, &srv->watchdog, server_watchdog_cb, 1);
}

/* On the loop: one ping, and the next one half a period on. */
static void
server_watchdog_cb(lws_sorted_usec_list_t *sul)
{
	struct ps_server	*srv;
	char			*cause = NULL;

	srv = lws_container_of(sul, struct ps_server, watchdog);
	if (ps_notify("WATCHDOG=1", &cause) < 0) {
		/* Once: the next ones would fail the same way. */
		if (!srv->watchdog_failed)
			ps_log_warn("systemd watchdog: %s", cause);
		srv->watchdog_failed = 1;
		free(cause);
	}
	lws_sul_schedule(srv->ctx, 0, &srv->watchdog, server_watchdog_cb,
	    srv->watchdog_us);
}

struct ps_worker *
ps_server_worker_find(struct ps_server *srv, uint64_t id)
{
	struct ps_worker	*w;

	TAILQ_FOREACH(w, &srv->workers, entry) {
		if (w->id == id)
			return w;
	}
	return NULL;
}

/*
 * A new resume secret into out (PS_RESUME_LEN + 1 bytes): the prefix and
 * 128 bits from getrandom(2) in lowercase hex.  Without randomness no
 * secret can be trusted: fatal.
 */
static void
server_secret(char *out)
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 r[16];
	size_t			 got = 0, i, plen = sizeof PS_RESUME_PREFIX - 1;
	ssize_t			 n;

	while (got < sizeof r) {
		n = getrandom(r + got, sizeof r - got, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			fatal("getrandom");
		got += (size_t)n;
	}
	memcpy(out, PS_RESUME_PREFIX, plen);
	for (i = 0; i < sizeof r; i++) {
		out[plen + 2 * i] = hex[r[i] >> 4];
		out[plen + 2 * i + 1] = hex[r[i] & 15];
	}
	out[PS_RESUME_LEN] = '\0';
}

struct ps_worker *
ps_server_worker_hello(struct ps_server *srv, struct ps_worker *w,
    char *name, struct ps_conn *conn, const char *address)
{
	int64_t	now = ps_server_now_us();

	if (w != NULL) {
		if (w->state == PS_WORKER_GONE) {
			TAILQ_REMOVE(&srv->workers, w, entry);
			TAILQ_INSERT_HEAD(&srv->workers, w, entry);
			srv->ngone--;
		}
		if (name != NULL) {
			free(w->name);
			w->name = name;
		}
		ps_log_info("worker %llu (%s) resumed from %s",
		    (unsigned long long)w->id, w->name, address);
	} else {
		w = xcalloc(1, sizeof *w);
		w->id = ++srv->next_worker_id;
		server_secret(w->resume);
		w->name = name;
		w->connected_us = now;
		TAILQ_INSERT_HEAD(&srv->workers, w, entry);
		ps_log_info("worker %llu (%s) connected from %s",
		    (unsigned long long)w->id, w->name, address);
	}
	snprintf(w->address, sizeof w->address, "%s", address);
	w->state = PS_WORKER_ACTIVE;
	w->conn = conn;
	w->last_seen_us = now;
	w->c.hellos++;
	srv->total.hellos++;
	ps_mode_join(srv->mode, w->id);
	return w;
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

void
ps_server_worker_pushed(struct ps_server *srv, struct ps_worker *w)
{
	w->update_l2 = srv->push_l2;
	server_gap(&w->last_push_us, &w->push_gap_s);
	ps_winmax_add(&w->update_l2_max, w->update_l2,
	    (double)w->last_push_us / 1e6);
}

void
ps_server_worker_pulled(struct ps_server *srv, struct ps_worker *w)
{
	(void)srv;
	server_gap(&w->last_pull_us, &w->pull_gap_s);
}

/* A request now: its time, and the smoothed time between such requests. */
static void
server_gap(int64_t *last_us, double *gap_s)
{
	int64_t	now = ps_server_now_us();
	double	gap;

	if (*last_us != 0) {
		gap = (double)(now - *last_us) / 1e6;
		*gap_s = *gap_s == 0 ? gap : *gap_s + 0.2 * (gap - *gap_s);
	}
	*last_us = now;
}

int
ps_server_block(struct ps_server *srv, uint64_t id, const char *name)
{
	struct ps_server_block	*b;
	size_t			 i;

	if (name != NULL && *name == '\0')
		name = NULL;
	if (id == 0 && name == NULL)
		return 0;
	for (i = 0; i < srv->nblocks; i++) {
		b = &srv->blocks[i];
		if (b->id == id && (b->name == NULL ? name == NULL :
		    name != NULL && strcmp(b->name, name) == 0))
			return 0;
	}
	if (srv->nblocks >= PS_SERVER_BLOCKS_MAX)
		return -1;
	b = &srv->blocks[srv->nblocks++];
	b->id = id;
	b->name = name != NULL ? xstrdup(name) : NULL;
	return 0;
}

size_t
ps_server_unblock(struct ps_server *srv, uint64_t id, const char *name)
{
	struct ps_server_block	*b;
	size_t			 i, j = 0, n = 0;

	for (i = 0; i < srv->nblocks; i++) {
		b = &srv->blocks[i];
		if ((id != 0 && b->id == id) || (name != NULL &&
		    b->name != NULL && strcmp(b->name, name) == 0)) {
			free(b->name);
			n++;
			continue;
		}
		srv->blocks[j++] = *b;
	}
	srv->nblocks = j;
	return n;
}

int
ps_server_blocked(const struct ps_server *srv, uint64_t id, const char *name)
{
	const struct ps_server_block	*b;
	size_t				 i;

	for (i = 0; i < srv->nblocks; i++) {
		b = &srv->blocks[i];
		if ((id != 0 && b->id == id) || (name != NULL &&
		    *name != '\0' && b->name != NULL &&
		    strcmp(b->name, name) == 0))
			return 1;
	}
	return 0;
}

const struct ps_server_block *
ps_server_blocks(const struct ps_server *srv, size_t *n)
{
	*n = srv->nblocks;
	return srv->blocks;
}

void
ps_server_set_kick(struct ps_server *srv, ps_server_kick_fn kick, void *arg)
{
	srv->kick = kick;
	srv->kick_arg = arg;
}

int
ps_server_kick(struct ps_server *srv, struct ps_worker *w, const char *reason)
{
	if (w->conn == NULL || srv->kick == NULL)
		return -1;
	srv->kick(srv->kick_arg, w, reason);
	return 0;
}

const char *
ps_server_worker_state(const struct ps_server *srv, const struct ps_worker *w,
    int64_t now)
{
	int64_t	silent = SERVER_SILENT_US;

	if (w->state == PS_WORKER_GONE || w->conn == NULL)
		return "gone";
	if (w->state == PS_WORKER_WAITING)
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

void
ps_server_view(const struct ps_store *s, size_t i, int data,
    struct ps_tview *v)
{
	const struct ps_tensor	*t = ps_store_tensor(s, i);

	memset(v, 0, sizeof *v);
	v->name = t->name;
	v->namelen = t->namelen;
	v->ndim = t->ndim;
	memcpy(v->dims, t->dims, sizeof v->dims);
	if (data) {
		v->dtype = PS_DTYPE_F32;
		v->data = t->data;
		v->nbytes = t->n * sizeof (float);
	} else
		v->dtype = PS_DTYPE_NONE;
}

/* Views of every tensor of s, data included. */
static void
server_views(const struct ps_store *s, struct ps_tview *v)
{
	size_t	i;

	for (i = 0; i < ps_store_count(s); i++)
		ps_server_view(s, i, 1, &v[i]);
}

/* Forgets the cached body: the model changed. */
static void
server_changed(struct ps_server *srv)
{
	srv->body_valid = 0;
}

struct ps_buf *
ps_server_model_body(struct ps_server *srv, uint64_t *version)
{
	struct ps_tview	*v;
	struct ps_buf	*b;
	size_t		 i, n, total = 0;
	uint8_t		*p;

	if (srv->body_valid) {
		*version = srv->body_version;
		return srv->body;
	}
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
	*version = srv->body_version;
	if (srv->initial_meta != NULL && srv->initial_body == NULL &&
	    srv->body_version == ps_store_version(srv->initial_meta))
		srv->initial_body = ps_buf_ref(b);
	return b;
}

size_t
ps_server_push_max(struct ps_server *srv)
{
	struct ps_tview	v;
	size_t		i, n, total;

	if (srv->push_max != 0 || ps_store_empty(srv->store))
		return srv->push_max;
	n = ps_store_count(srv->store);
	total = PS_PROTO_HDRLEN + PS_PROTO_TEXT_MAX;
	for (i = 0; i < n; i++) {
		ps_server_view(srv->store, i, 1, &v);
		total += ps_proto_record_size(&v);
	}
	srv->push_max = total;
	return total;
}

int
ps_server_init(struct ps_server *srv, const struct ps_tview *v, size_t n,
    int *code, char **cause)
{
	if (ps_store_init(srv->store, v, n, code, cause) != 0)
		return -1;
	server_created(srv);
	return 0;
}

uint64_t
ps_server_apply(struct ps_server *srv, const struct ps_tview *v, size_t n,
    int *code, char **cause)
{
	uint64_t	version;
	int64_t		t0 = ps_server_now_us();

	server_initial_body(srv);
	if (ps_store_apply(srv->store, v, n, code, cause) != 0)
		return 0;
	srv->push_l2 = ps_store_push_l2(srv->store);
	version = ps_store_version(srv->store);
	ps_hist_observe(&srv->apply_seconds,
	    (double)(ps_server_now_us() - t0) / 1e6);
	srv->updates++;
	server_changed(srv);
	return version;
}

int
ps_server_round_add(struct ps_server *srv, const struct ps_tview *v,
    size_t n, int *code, char **cause)
{
	if (srv->accum == NULL)
		srv->accum = ps_accum_new(srv->store);
	if (ps_accum_add(srv->accum, srv->store, v, n, code, cause) != 0)
		return -1;
	srv->push_l2 = ps_accum_push_l2(srv->accum);
	/* The mode counts the round's pushes after this (a redo: before). */
	if (ps_mode_round_pushes(srv->mode) == 0)
		srv->round_first_us = ps_server_now_us();
	return 0;
}

int64_t
ps_server_round_started_us(const struct ps_server *srv)
{
	/* A round emptied by refusals (round_clear) has not started. */
	if (ps_mode_round_pushes(srv->mode) == 0)
		return 0;
	return srv->round_first_us;
}

void
ps_server_round_clear(struct ps_server *srv)
{
	if (srv->accum != NULL)
		ps_accum_reset(srv->accum);
}

int
ps_server_round_ready(const struct ps_server *srv)
{
	return ps_mode_kind(srv->mode) == PS_MODE_SYNC && srv->accum != NULL &&
	    ps_mode_round_complete(srv->mode);
}

uint64_t
ps_server_round_end(struct ps_server *srv)
{
	uint64_t	 version, before = ps_store_version(srv->store);
	size_t		 n;
	int64_t		 t0 = ps_server_now_us();
	char		*cause;

	server_initial_body(srv);
	if (ps_store_apply_mean(srv->store, srv->accum, &cause) != 0) {
		ps_log_warn("%s: %s", __func__, cause);
		free(cause);
	}
	version = ps_store_version(srv->store);
	n = ps_mode_round_end(srv->mode);
	srv->round_first_us = 0;
	if (version != before) {
		ps_hist_observe(&srv->apply_seconds,
		    (double)(ps_server_now_us() - t0) / 1e6);
		srv->updates++;
		srv->rounds++;
		server_changed(srv);
	}
	ps_log_debug("round %llu: mean of %zu pushes applied, version %llu",
	    (unsigned long long)ps_mode_rounds(srv->mode), n,
	    (unsigned long long)version);
	return version;
}

int
ps_server_reset(struct ps_server *srv, struct ps_store *s, char **cause)
{
	struct ps_tview	*v;
	size_t		 i, n;
	int		 code;

	server_initial_body(srv);
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
	srv->push_max = 0;

	/* An unfinished round's pushes were made against the old model. */
	ps_accum_free(srv->accum);
	srv->accum = NULL;
	if (ps_mode_kind(srv->mode) == PS_MODE_SYNC)
		ps_mode_round_end(srv->mode);
	srv->round_first_us = 0;
	if (!ps_store_empty(s))
		server_created(srv);
	server_changed(srv);
	ps_log_info("model reset: %zu tensors, version %llu",
	    ps_store_count(s), (unsigned long long)ps_store_version(s));
	for (i = 0; i < srv->nhooks; i++) {
		if (srv->hooks[i].h->reset != NULL)
			srv->hooks[i].h->reset(srv->hooks[i].arg,
			    ps_store_version(s));
	}
	return 0;
}
