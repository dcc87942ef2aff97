/*
 * psctl serve's core: one libwebsockets context serving one model.  The
 * server (opaque) holds the options, the lws context and its loop, the
 * store, the consistency mode, the workers and the counters, and knows no
 * protocol.  Protocols sit above it: they are added to its table before
 * ps_server_start(), keep their own state in lws's per-vhost memory, find
 * the server with ps_server_from_wsi(), act on the model through the API
 * below and hear from the server through the hooks they register.
 *
 * The layers, each including only those below it:
 *   transport	http.c, ws-worker.c, ws-control.c (lws callbacks)
 *   protocols	wreq.c (worker requests), ctlsrv.c, ckptjob.c
 *   core	server.c (this), demo.c (--demo's libpsctl workers)
 *   model	store.c, mode.c, checkpoint.c, proto.c, sendq.c, metrics.c
 *
 * Everything here runs on the one lws service thread unless a comment
 * says otherwise.
 */
#ifndef PS_SERVER_H
#define PS_SERVER_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "mode.h"
#include "proto.h"
#include "store.h"
#include "tensor.h"

struct lws;
struct lws_protocols;
struct ps_auth;
struct ps_buf;

#define PS_SERVER_DEFAULT_LISTEN	"127.0.0.1:7070"
#define PS_SERVER_DEFAULT_TIMEOUT	60		/* --worker-timeout, s */
#define PS_SERVER_DEFAULT_MAX_MESSAGE	(1024UL * 1024 * 1024)
#define PS_SERVER_DEFAULT_MAX_TENSORS	65536
#define PS_SERVER_DEFAULT_MAX_INFLIGHT	((size_t)64 << 20)
/* --max-socket-bytes not given: half of tcp_mem's threshold (tcp.h). */
#define PS_SERVER_SOCKET_AUTO		((size_t)-1)
/* Read and write sizes (LIMITS.md: 64 KiB .. 1 MiB all perform alike). */
#define PS_SERVER_IO_CHUNK		(256 * 1024)
/* Allocations from this size up are mapped on their own (mallopt). */
#define PS_SERVER_MMAP_THRESHOLD	(1024 * 1024)
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
	size_t		 max_inflight;	/* the receive budget, bytes */
	size_t		 max_socket;	/* large receive buffers in the kernel,
					   summed; PS_SERVER_SOCKET_AUTO */
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
	char			 resume[PS_RESUME_LEN + 1]; /* "__resume/" and
						   32 hex digits: proves a
						   resume (never logged) */
	struct ps_conn		*conn;		/* borrowed; NULL when gone */
	struct ps_rate		 push_rate;	/* ctlsrv.c's tick */
	struct ps_rate		 pull_rate;
	int			 rates_init;
	struct ps_history	 push_hist;	/* ctlsrv.c's tick: c.pushes */
	/* Kept by ps_server_worker_pushed() and _pulled(). */
	double			 update_l2;	/* of its last accepted push */
	struct ps_winmax	 update_l2_max;	/* the same, over a minute */
	int64_t			 last_push_us;	/* 0: none accepted yet */
	int64_t			 last_pull_us;	/* 0: none answered yet */
	double			 push_gap_s;	/* smoothed time between them */
	double			 pull_gap_s;
	TAILQ_ENTRY(ps_worker)	 entry;
};
TAILQ_HEAD(ps_workers, ps_worker);

/* Where the server is in its life; it only moves forward. */
enum ps_server_state {
	PS_SERVER_STARTING = 0,	/* made, not yet listening */
	PS_SERVER_SERVING,	/* listening and answering */
	PS_SERVER_DRAINING,	/* stopping: new connections and requests are
				   refused while the protocols finish (replies,
				   closes, a final checkpoint) */
	PS_SERVER_STOPPED	/* the loop is over; ps_server_free() */
};

/*
 * What the transport has in use now, for STATUS and /metrics: each
 * protocol's usage hook fills its part (psctl-serve(1), METRICS).
 */
struct ps_server_usage {
	uint64_t	 accept_refused; /* accepts refused: no descriptor */
	int		 accept_paused;	/* 1 while accepting is paused */
	uint64_t	 rx_budget;	/* --max-inflight-bytes */
	uint64_t	 rx_inflight;	/* charged to it now */
	uint64_t	 rx_paused;	/* connections waiting for it */
	uint64_t	 sock_budget;	/* --max-socket-bytes */
	uint64_t	 sock_bytes;	/* large receive buffers, summed */
	uint64_t	 sock_large;	/* connections that have one */
};

/*
 * What a protocol asks to hear from the server core.  Each is optional and
 * runs on the service thread with the arg given to ps_server_hook(); hooks
 * run in the order they were registered.
 */
struct ps_server_hooks {
	/* The model exists now: an INIT made it, or it was there at start. */
	void	(*created)(void *arg);
	/* ps_server_reset() replaced the model; version is the new one. */
	void	(*reset)(void *arg, uint64_t version);
	/* Every second from ps_server_start() on. */
	void	(*tick)(void *arg, int64_t now_us);
	/*
	 * The loop is about to wait: after every pass that served events,
	 * so also after ps_server_wakeup() from another thread.  The one
	 * place that hears lws_cancel_service(): no protocol handles
	 * LWS_CALLBACK_EVENT_WAIT_CANCELLED.
	 */
	void	(*wake)(void *arg);
	/* ps_server_stop(): the server is draining now. */
	void	(*stopping)(void *arg);
	/* While draining: 1 keeps the loop going (work not done yet). */
	int	(*busy)(void *arg);
	/* ps_server_free(), before the lws context goes: end what wakes it. */
	void	(*destroy)(void *arg);
	/* ps_server_usage(): fill in what the protocol knows of u. */
	void	(*usage)(void *arg, struct ps_server_usage *u);
};

struct ps_server;

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
/*
 * Frees the server: the destroy hooks, then the lws context (whose
 * connections close without their protocols touching the model), then
 * the model.  NULL is a no-op.
 */
void		 ps_server_free(struct ps_server *);

/*
 * The tokens every protocol checks (auth.h): takes them over (a is left
 * empty).  Before ps_server_start(); without a call, none is required.
 */
void		 ps_server_set_auth(struct ps_server *, struct ps_auth *a);
/* Borrowed: valid until ps_server_free(). */
const struct ps_auth *ps_server_auth(const struct ps_server *);
/*
 * Keeps the model as first created (as loaded, or as the first INIT made
 * it) until ps_server_take_initial(): what a reset without a checkpoint
 * directory goes back to.  It costs no copy of the values while the
 * model is at that version and every pull shares its body.
 */
void		 ps_server_keep_initial(struct ps_server *);
/*
 * Hands the kept initial model over, once: *meta (caller frees), all of
 * it but its values (ps_store_clone_meta()), and *body (caller
 * ps_buf_unref()s, on the service thread), the pull body of its version,
 * whose values ps_server_body_values() finds.  The server keeps nothing
 * of it after.  0, or -1 with *cause when none was kept.
 */
int		 ps_server_take_initial(struct ps_server *,
		     struct ps_store **meta, struct ps_buf **body,
		     char **cause);
/*
 * values[i] = where tensor i's values are in body, a pull body of a model
 * shaped as s (ps_server_model_body(), ps_server_take_initial()).  Any
 * thread: it reads s and body only.
 */
void		 ps_server_body_values(const struct ps_store *s,
		     const struct ps_buf *body, const float **values);

/*
 * Adds a protocol to the table (before ps_server_start()); the table is
 * copied.  Its callback finds the server with ps_server_from_wsi() and
 * keeps its own state in its per-vhost memory, made in
 * LWS_CALLBACK_PROTOCOL_INIT.  Returns 0, or -1 when full or started.
 */
int		 ps_server_add_protocol(struct ps_server *,
		     const struct lws_protocols *);
/*
 * Replaces the HTTP slot ([0], which lws gives plain HTTP and every
 * upgrade first) before start.  Until then it answers nothing and
 * refuses WebSocket connections that name no subprotocol of ours.
 */
void		 ps_server_set_http(struct ps_server *,
		     const struct lws_protocols *);
struct ps_server *ps_server_from_wsi(struct lws *);
/*
 * Registers hooks (h borrowed, valid until ps_server_unhook() or
 * ps_server_free()) with their arg.  Returns 0, or -1 when full.
 */
int		 ps_server_hook(struct ps_server *, const struct ps_server_hooks *h,
		     void *arg);
/* Forgets every hook registered with arg. */
void		 ps_server_unhook(struct ps_server *, void *arg);
/* What the transport has in use now: u zeroed, then the usage hooks. */
void		 ps_server_usage(struct ps_server *, struct ps_server_usage *u);

/*
 * Creates the context and binds, then runs PROTOCOL_INIT of every
 * protocol.  Returns 0 (serving; ps_server_listen() says where), or -1
 * with *cause; *bind_errno is the bind failure's errno (0 when the
 * failure was something else).
 */
int		 ps_server_start(struct ps_server *, int *bind_errno,
		     char **cause);
/*
 * Serves until stopped: the loop around lws_service() that also does what
 * signal handlers asked and runs the wake hooks.  It ends once draining
 * and no busy hook says 1.  Returns 0.
 */
int		 ps_server_run(struct ps_server *);
enum ps_server_state ps_server_state(const struct ps_server *);
/*
 * While held, the worker protocol answers requests with error shutdown
 * and applies no sync round: the model stays as a final checkpoint's
 * snapshot took it, until the server stops or, the checkpoint failed,
 * is released (held 0) and serves again.
 */
void		 ps_server_hold(struct ps_server *, int held);
int		 ps_server_held(const struct ps_server *);
/* Borrowed, valid until ps_server_free(); the options do not change. */
const struct ps_server_opts *ps_server_opts(const struct ps_server *);
/*
 * Borrowed: the model, valid until the next ps_server_reset().  Read it;
 * change it only through ps_server_init(), _apply(), _round_*() and
 * _reset(), which keep the books (the pull body, counters, hooks).
 */
struct ps_store	*ps_server_store(struct ps_server *);
/* Borrowed, valid until ps_server_free(): the consistency bookkeeping. */
struct ps_mode	*ps_server_mode(struct ps_server *);
/*
 * Borrowed, valid until ps_server_free(): the whole server's counters,
 * which the worker protocol adds to.
 */
struct ps_counters *ps_server_counters(struct ps_server *);
/* "127.0.0.1:40123": where it listens, once started.  Borrowed. */
const char	*ps_server_listen(const struct ps_server *);
/* When ps_server_new() made it, ps_server_now_us(). */
int64_t		 ps_server_started_us(const struct ps_server *);
/* Resets done. */
uint64_t	 ps_server_resets(const struct ps_server *);
/* Borrowed: the time each update took to apply. */
const struct ps_hist *ps_server_apply_hist(const struct ps_server *);
/*
 * Borrowed: every worker, live ones first (newest hello first), then the
 * last PS_SERVER_GONE_MAX gone ones.  Read; the control plane keeps its
 * rates in them.
 */
struct ps_workers *ps_server_workers(struct ps_server *);

/*
 * Asks the server to stop.  Async-signal-safe: notes the request and
 * wakes the loop, which then calls ps_server_stop().
 */
void		 ps_server_request_stop(struct ps_server *);
/* Asks the loop to reopen the log file (SIGHUP).  Async-signal-safe. */
void		 ps_server_request_reopen(struct ps_server *);
/* Any thread: wakes the loop, which then runs the wake hooks. */
void		 ps_server_wakeup(struct ps_server *);
/*
 * Begins a graceful stop, the one way any stop goes: the server is
 * draining, the demo threads are told to end, and the stopping hooks run
 * (the control plane's final checkpoint, the worker protocol's closes).
 * The loop ends when no busy hook holds it.  Idempotent.
 */
void		 ps_server_stop(struct ps_server *);

/*
 * Creates the model from an INIT's tensors (the store must be empty):
 * ps_store_init(), then the created hooks.  0, or -1 with *code and
 * *cause (caller frees).
 */
int		 ps_server_init(struct ps_server *, const struct ps_tview *,
		     size_t n, int *code, char **cause);
/*
 * Applies an update now under the rule, and keeps the books: counters,
 * the shared pull body.  Returns the new version, or 0 with *code and
 * *cause (caller frees), the model untouched.
 */
uint64_t	 ps_server_apply(struct ps_server *, const struct ps_tview *,
		     size_t n, int *code, char **cause);
/*
 * sync: adds a push to the current round (validated as ps_store_check()
 * does).  0, or -1 with *code and *cause (caller frees), nothing added.
 */
int		 ps_server_round_add(struct ps_server *,
		     const struct ps_tview *, size_t n, int *code,
		     char **cause);
/*
 * sync: empties the round's sum, so that the caller can add the pushes
 * that stay in it again, in their order (a push answered with an error
 * leaves the round: the sum is made again without it, exactly).
 */
void		 ps_server_round_clear(struct ps_server *);
/*
 * sync: when the current round's first push was added (ps_server_now_us()),
 * or 0 while the round is empty.
 */
int64_t		 ps_server_round_started_us(const struct ps_server *);
/* 1 when the sync round is complete (every live worker pushed). */
int		 ps_server_round_ready(const struct ps_server *);
/*
 * Ends the sync round: applies the mean of its pushes once.  Returns the
 * model version the round's pushes are answered with.
 */
uint64_t	 ps_server_round_end(struct ps_server *);
/*
 * Replaces the model with s (taken over), keeping versions rising: the
 * version becomes the current one plus one.  Refuses (-1, *cause, s
 * freed) a model with other names or shapes unless there is none yet.
 * An unfinished sync round is dropped; the reset hooks then answer the
 * pushes waiting in it.
 */
int		 ps_server_reset(struct ps_server *, struct ps_store *s,
		     char **cause);

/*
 * The wire view of tensor i of s: its name and shape, and with data its
 * values (dtype F32, borrowed from s), else dtype NONE and no data.
 */
void		 ps_server_view(const struct ps_store *s, size_t i, int data,
		     struct ps_tview *v);
/*
 * The model's records for a whole pull, encoded once per version.
 * Borrowed (ps_buf_ref() to keep it); *version is the model version.
 */
struct ps_buf	*ps_server_model_body(struct ps_server *, uint64_t *version);
/*
 * The bytes of the largest PUSH of the whole model in F32 with the
 * longest text: what the worker protocol charges a PUSH to its receive
 * budget when it starts.  0 while there is no model.
 */
size_t		 ps_server_push_max(struct ps_server *);

/* The worker with that id, live or gone, or NULL. */
struct ps_worker *ps_server_worker_find(struct ps_server *, uint64_t id);
/*
 * A HELLO on conn from address: resumes w (name stolen; NULL keeps its
 * name) or, w NULL, makes a new worker named name (stolen) with a new
 * resume secret from getrandom(2).  The caller first checks the secret
 * of a resume and ends w's former connection if it has one.  The worker
 * joins the mode; it is logged.  Returns it.
 */
struct ps_worker *ps_server_worker_hello(struct ps_server *,
		     struct ps_worker *w, char *name, struct ps_conn *conn,
		     const char *address);
/*
 * A worker leaves: out of the barrier, marked gone (w->conn NULL),
 * logged.  The caller forgets w: it may be freed by a later leave.
 */
void		 ps_server_worker_leave(struct ps_server *, struct ps_worker *,
		     const char *why);
/*
 * w's push was the one the last ps_server_apply() or
 * ps_server_round_add() accepted: its L2 norm, measured as it was
 * checked, becomes w's update_l2 and counts in its minute's largest,
 * last_push_us is now and push_gap_s follows.
 */
void		 ps_server_worker_pushed(struct ps_server *, struct ps_worker *w);
/* A pull of w's was answered: last_pull_us and pull_gap_s. */
void		 ps_server_worker_pulled(struct ps_server *, struct ps_worker *w);
/*
 * Operators' blocks (psctl kick --block): a worker identity and a worker
 * name refused at HELLO until unblocked.  id 0 is no id; a NULL or empty
 * name is no name (an unnamed worker is blocked by its id alone).
 */
#define PS_SERVER_BLOCKS_MAX		256
struct ps_server_block {
	uint64_t	 id;
	char		*name;		/* NULL: none */
};
/* Adds a block (unless the same is held): 0, or -1 when full. */
int		 ps_server_block(struct ps_server *, uint64_t id,
		     const char *name);
/*
 * Lifts every block whose id is id (when not 0) or whose name is name
 * (when not NULL).  Returns how many.
 */
size_t		 ps_server_unblock(struct ps_server *, uint64_t id,
		     const char *name);
/* 1 when a HELLO resuming id (0: a new worker) and named name is refused. */
int		 ps_server_blocked(const struct ps_server *, uint64_t id,
		     const char *name);
/* The blocks held (*n of them), borrowed until the next (un)block. */
const struct ps_server_block *ps_server_blocks(const struct ps_server *,
		     size_t *n);
/*
 * How the worker protocol closes a worker's connection for the control
 * plane: kick(arg, w, reason) makes w leave and closes its connection
 * with 1008 and reason.  ps_server_kick() calls it for a live worker:
 * 0, or -1 when w has no connection or no protocol gave a kick.
 */
typedef void	 (*ps_server_kick_fn)(void *arg, struct ps_worker *w,
		     const char *reason);
void		 ps_server_set_kick(struct ps_server *, ps_server_kick_fn,
		     void *arg);
int		 ps_server_kick(struct ps_server *, struct ps_worker *w,
		     const char *reason);
/* "active", "waiting", "silent" or "gone" as of now_us. */
const char	*ps_server_worker_state(const struct ps_server *,
		     const struct ps_worker *, int64_t now_us);
unsigned	 ps_server_workers_connected(const struct ps_server *);

#endif
