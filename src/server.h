/*
 * psctl serve: one libwebsockets context serving one model.  struct
 * ps_server holds the options, the lws context, the store, the consistency
 * mode, the workers and every counter; everything here runs on the one lws
 * service thread unless a comment says otherwise.  The worker protocol
 * (psctl.worker.v1) lives in ws-worker.c; other protocols (control, HTTP)
 * are added to the protocol table before ps_server_start() and reach the
 * server with ps_server_from_wsi().
 */
#ifndef PS_SERVER_H
#define PS_SERVER_H

#include <sys/queue.h>

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "auth.h"
#include "metrics.h"
#include "mode.h"
#include "proto.h"
#include "sendq.h"
#include "store.h"
#include "tensor.h"

#define PS_SERVER_DEFAULT_LISTEN	"127.0.0.1:7070"
#define PS_SERVER_DEFAULT_TIMEOUT	60		/* --worker-timeout, s */
#define PS_SERVER_DEFAULT_MAX_MESSAGE	(1024UL * 1024 * 1024)
#define PS_SERVER_DEFAULT_MAX_TENSORS	65536
/* Read and write sizes (LIMITS.md: 64 KiB .. 1 MiB all perform alike). */
#define PS_SERVER_IO_CHUNK		(256 * 1024)
/* Room in the protocol table for protocols other helpers add. */
#define PS_SERVER_PROTOCOLS_MAX		8
/* Workers that left, kept for status and resume. */
#define PS_SERVER_GONE_MAX		64
/* Error codes counted (enum ps_errcode values are below this). */
#define PS_SERVER_NCODES		32

/* What `psctl serve` was asked to do. */
struct ps_server_opts {
	char		*host;		/* owned; NULL: every interface */
	int		 port;		/* 0: pick a free one */
	char		*load;		/* owned; checkpoint to serve, or NULL */
	enum ps_mode_kind mode;
	unsigned	 workers;	/* sync: N */
	unsigned	 staleness;	/* ssp: S */
	int		 rule_given;	/* --rule was given: it overrides the file's */
	struct ps_rule	 rule;
	unsigned	 worker_timeout; /* seconds; 0 = never */
	size_t		 max_message;	/* bytes of one incoming message */
	size_t		 max_tensors;	/* records in one message */
	int		 demo;		/* --demo */
	unsigned	 demo_workers;	/* demo threads (3) */
	char		*tls_cert;	/* owned; PEM certificate chain, or NULL */
	char		*tls_key;	/* owned; its private key */
};

/*
 * Counters, plain and cumulative; rates are someone else's job.  One set
 * per worker, one for the whole server.
 */
struct ps_counters {
	uint64_t	 hellos;
	uint64_t	 inits;
	uint64_t	 pulls;		/* answered */
	uint64_t	 pushes;	/* accepted (applied or in a round) */
	uint64_t	 bytes_in;	/* whole messages received */
	uint64_t	 bytes_out;	/* message bytes written */
	uint64_t	 errors;	/* requests answered with ERROR */
	uint64_t	 error_codes[PS_SERVER_NCODES];	/* by ps_errcode */
	uint64_t	 push_rejects;	/* pushes refused */
	uint64_t	 push_reject_codes[PS_SERVER_NCODES];
};

enum ps_worker_state {
	PS_WORKER_ACTIVE = 0,
	PS_WORKER_WAITING,	/* a request is parked by the mode */
	PS_WORKER_GONE		/* disconnected or timed out */
};

struct ps_conn;

/* One worker: an identity that outlives its connection (resume). */
struct ps_worker {
	uint64_t		 id;
	char			*name;		/* owned, printable, may be "" */
	char			 address[64];	/* "127.0.0.1:50122" */
	enum ps_worker_state	 state;
	struct ps_counters	 c;
	int64_t			 connected_us;	/* ps_server_now_us() */
	int64_t			 last_seen_us;	/* last message in or reply out */
	int64_t			 left_us;	/* when it went, if gone */
	uint64_t		 last_seq;	/* highest push sequence accepted */
	struct ps_conn		*conn;		/* borrowed; NULL when gone */
	struct ps_rate		 push_rate;	/* ctlsrv.c's tick */
	struct ps_rate		 pull_rate;
	int			 rates_init;
	TAILQ_ENTRY(ps_worker)	 entry;
};
TAILQ_HEAD(ps_workers, ps_worker);

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

struct ps_demo;
struct ps_ctlsrv;

struct ps_server {
	struct ps_server_opts	 o;
	struct lws_context	*ctx;
	struct lws_vhost	*vh;
	int			 port;		/* the port actually bound */
	char			 listen[128];	/* "127.0.0.1:40123" */
	int64_t			 started_us;

	/* Protocols: [0] HTTP, [1] worker, then whatever is added; NULL-terminated. */
	struct lws_protocols	 protocols[PS_SERVER_PROTOCOLS_MAX + 1];
	size_t			 nprotocols;

	struct ps_store		*store;		/* owned; empty until init/load */
	struct ps_store		*initial;	/* owned copy when keep_initial */
	int			 keep_initial;	/* ps_server_keep_initial() */
	struct ps_auth		 auth;		/* owned tokens */
	struct ps_accum		*accum;		/* owned; sync rounds */
	struct ps_mode		*mode;		/* owned */
	struct ps_buf		*body;		/* owned ref: the model's records */
	uint64_t		 body_version;
	int			 body_valid;

	struct ps_workers	 workers;	/* live first, then gone */
	size_t			 ngone;
	uint64_t		 next_worker_id;
	struct ps_conns		 conns;
	struct ps_conns		 parked;	/* in arrival order */

	struct ps_counters	 total;
	uint64_t		 updates;	/* updates applied to the store */
	uint64_t		 rounds;	/* sync rounds applied */
	uint64_t		 resets;

	lws_sorted_usec_list_t	 tick;		/* 1 s: worker timeouts */
	lws_sorted_usec_list_t	 stop_deadline;

	struct ps_demo		*demo;
	struct ps_ctlsrv	*ctl;		/* owned: control plane, or NULL */
	struct ps_hist		 apply_seconds;	/* time to apply each update */

	volatile sig_atomic_t	 stop_requested; /* set by signal handlers */
	volatile sig_atomic_t	 reopen_requested; /* SIGHUP: reopen the log */
	int			 stopping;	/* draining connections */
	int			 done;		/* the loop should end */
	int			 destroying;
};

/* Monotonic microseconds. */
int64_t		 ps_server_now_us(void);

/* Parses "HOST:PORT", "[V6]:PORT", ":PORT" or "PORT" into o. 0 or -1 + *cause. */
int		 ps_server_parse_listen(const char *, struct ps_server_opts *,
		     char **cause);
/* Fills o with the defaults. */
void		 ps_server_opts_init(struct ps_server_opts *);
void		 ps_server_opts_free(struct ps_server_opts *);

/*
 * A new server from o (copied; its owned strings are taken over and o is
 * zeroed).  Loads --load, or with --demo and no model creates the demo
 * model.  Returns NULL with *cause; *load_failed is set when the fault was
 * the checkpoint.
 */
struct ps_server *ps_server_new(struct ps_server_opts *o, int *load_failed,
		     char **cause);
void		 ps_server_free(struct ps_server *);	/* NULL is a no-op */

/*
 * The tokens every protocol checks (auth.h): takes them over (a is left
 * empty).  Before ps_server_start(); without a call, none is required.
 */
void		 ps_server_set_auth(struct ps_server *, struct ps_auth *a);
/* Borrowed: valid until ps_server_free(). */
const struct ps_auth *ps_server_auth(const struct ps_server *);
/*
 * Keeps a copy of the model as first created (as loaded, or as the first
 * INIT made it), what a reset without a checkpoint goes back to.
 */
void		 ps_server_keep_initial(struct ps_server *);

/*
 * Adds a protocol to the table (before ps_server_start()).  Its callback
 * finds the server with ps_server_from_wsi().  Returns 0, or -1 when full.
 */
int		 ps_server_add_protocol(struct ps_server *,
		     const struct lws_protocols *);
/* Replaces the HTTP slot's callback and session size (before start). */
void		 ps_server_set_http(struct ps_server *, lws_callback_function *,
		     size_t per_session_data_size);
struct ps_server *ps_server_from_wsi(struct lws *);

/*
 * Creates the context and binds.  Returns 0 (srv->port and srv->listen
 * set), or -1 with *cause; *bind_errno is the bind failure's errno (0 when
 * the failure was something else).
 */
int		 ps_server_start(struct ps_server *, int *bind_errno,
		     char **cause);
/* Serves until stopped; returns 0. */
int		 ps_server_run(struct ps_server *);

/*
 * Asks the server to stop.  Async-signal-safe: sets a flag and wakes the
 * loop, which then calls ps_server_stop().
 */
void		 ps_server_request_stop(struct ps_server *);
/* Asks the loop to reopen the log file (SIGHUP).  Async-signal-safe. */
void		 ps_server_request_reopen(struct ps_server *);
/*
 * Stops gracefully: parked requests get ERROR SHUTDOWN, every worker is
 * closed with 1001 once its replies are written (or after 3 s), then the
 * loop ends.  Idempotent.
 */
void		 ps_server_stop(struct ps_server *);

/*
 * Applies an update now under the rule, and keeps the books: counters,
 * the shared pull body.  Returns the new version, or 0 with *code and
 * *cause (caller frees), the model untouched.
 */
uint64_t	 ps_server_apply(struct ps_server *, const struct ps_tview *,
		     size_t n, int *code, char **cause);
/* A deep copy of the model for a checkpoint, or NULL when there is none. */
struct ps_store	*ps_server_snapshot(const struct ps_server *);
/*
 * Replaces the model with s (taken over), keeping versions rising: the
 * version becomes the current one plus one.  Refuses (-1, *cause, s
 * freed) a model with other names or shapes unless there is none yet.
 * Pushes waiting in an unfinished sync round are dropped and answered
 * with the new version and the text "update dropped: the model was
 * reset".
 */
int		 ps_server_reset(struct ps_server *, struct ps_store *s,
		     char **cause);
/* "active", "waiting", "silent" or "gone" as of now_us. */
const char	*ps_server_worker_state(const struct ps_server *,
		     const struct ps_worker *, int64_t now_us);
unsigned	 ps_server_workers_connected(const struct ps_server *);

/* The model's records for a whole pull, encoded once per version (borrowed). */
struct ps_buf	*ps_server_model_body(struct ps_server *);
/* Forget the cached body (the model changed). */
void		 ps_server_model_changed(struct ps_server *);
/*
 * The model exists now (init, load, demo, reset from empty): sets up what
 * depends on it (optimizer state, the sync accumulator, the initial copy).
 */
void		 ps_server_model_created(struct ps_server *);
/*
 * Re-examines parked requests after anything the mode depends on changed
 * (a push, a worker leaving): completes a sync round that is complete,
 * answers what may now be answered.
 */
void		 ps_server_wake(struct ps_server *);
/* A worker leaves: out of the barrier, marked gone, logged. */
void		 ps_server_worker_leave(struct ps_server *, struct ps_worker *,
		     const char *why);

#endif
