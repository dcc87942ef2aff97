/*
 * The console's screen model: everything psctl top shows, built from the
 * control stream's STATUS snapshots (control.h) and the replies to its
 * requests.  No curses and no sockets here, so the TAP tests drive it with
 * recorded snapshots; the console's text (ui/text.c), the views
 * (ui/view-*.c) and the batch renderer (ui/batch.c) only read it.
 *
 * Times are seconds on one monotonic clock chosen by the caller ("now").
 * Single-threaded: the console's main loop owns the model.
 */
#ifndef PS_TOP_MODEL_H
#define PS_TOP_MODEL_H

#include <stddef.h>

#include <jansson.h>

#include "control.h"

/* Samples kept for the sparklines (5 minutes at the fastest refresh). */
#define PS_TOP_HISTORY		4096
/* Requests awaiting a reply. */
#define PS_TOP_PENDING		16
/*
 * When a worker is marked LAGGING: in sync and ssp, a lag (clocks behind the
 * fastest) over a limit; in async, where clocks only count pushes since each
 * worker joined, a push rate under PS_TOP_RATE_ASYNC times the fastest live
 * worker's.
 */
#define PS_TOP_LAG_SYNC		1
#define PS_TOP_RATE_ASYNC	0.5
/* A worker the sync round has waited on this long is BLOCKING (seconds). */
#define PS_TOP_BLOCKING_S	1.0
/* A live worker not heard from for this long is SILENT (seconds). */
#define PS_TOP_SILENT_S		10.0
enum ps_top_conn {
	PS_TOP_CONNECTING = 0,	/* no connection attempt has finished yet */
	PS_TOP_CONNECTED,
	PS_TOP_DISCONNECTED,	/* lost or refused; retrying */
	PS_TOP_AUTH_REFUSED	/* the server refused the token; retrying */
};

enum ps_top_table {
	PS_TOP_TENSORS = 0,
	PS_TOP_WORKERS,
	PS_TOP_NTABLES
};

/* Tensor table columns, in display order; each is also a sort key. */
enum ps_top_tcol {
	PS_TOP_T_INDEX = 0,	/* the model's own order */
	PS_TOP_T_NAME,
	PS_TOP_T_SHAPE,		/* sorts by element count */
	PS_TOP_T_L2,
	PS_TOP_T_UPDATE,	/* last update's L2 norm */
	PS_TOP_T_GROWTH,	/* relative change of L2 over a minute */
	PS_TOP_T_RATE,		/* updates per second */
	PS_TOP_T_NCOLS
};

/* Worker table columns, in display order; each is also a sort key. */
enum ps_top_wcol {
	PS_TOP_W_ID = 0,
	PS_TOP_W_STATE,		/* the mark: active, waiting, LAGGING, ... */
	PS_TOP_W_NAME,
	PS_TOP_W_ADDRESS,
	PS_TOP_W_PUSHES,	/* pushes per second */
	PS_TOP_W_PULLS,		/* pulls per second */
	PS_TOP_W_UPD,		/* L2 of its last push */
	PS_TOP_W_UPDMAX,	/* largest of those in the last minute */
	PS_TOP_W_CLOCK,
	PS_TOP_W_LAG,
	PS_TOP_W_SEEN,		/* seconds since last heard from */
	PS_TOP_W_NCOLS
};

/*
 * A worker's mark, live trouble last: sorting STATE (descending, its
 * default) puts SILENT, then LAGGING, first, and GONE after every live
 * worker whatever the direction (ps_top_mark_rank()).
 */
enum ps_top_wmark {
	PS_TOP_MARK_ACTIVE = 0,
	PS_TOP_MARK_WAITING,	/* blocked in a barrier or SSP wait: normal */
	PS_TOP_MARK_LAGGING,	/* lag over the mode's limit */
	PS_TOP_MARK_BLOCKING,	/* the sync round waits on it over 1 s */
	PS_TOP_MARK_SILENT,	/* not heard from lately */
	PS_TOP_MARK_GONE	/* disconnected or timed out */
};

/* What the status line shows. */
enum ps_top_msg {
	PS_TOP_MSG_NONE = 0,
	PS_TOP_MSG_INFO,
	PS_TOP_MSG_OK,		/* an action succeeded */
	PS_TOP_MSG_ERROR,
	PS_TOP_MSG_PROMPT	/* a [y/N] question is open */
};

/* Operator actions that change the server. */
enum ps_top_action {
	PS_TOP_ACT_NONE = 0,
	PS_TOP_ACT_CHECKPOINT,
	PS_TOP_ACT_RESET,
	PS_TOP_ACT_STOP,
	PS_TOP_ACT_KICK,	/* the selected worker */
	PS_TOP_ACT_BLOCK,	/* kick and block it */
	PS_TOP_ACT_UNBLOCK	/* lift an operator's block */
};

/*
 * A list the operator picks from before a question: R's checkpoints
 * (what reset can go back to) and u's blocks (what unblock can lift).
 */
enum ps_top_pick {
	PS_TOP_PICK_NONE = 0,
	PS_TOP_PICK_CKPT,
	PS_TOP_PICK_BLOCK
};

/* The sparkline series. */
enum ps_top_series {
	PS_TOP_SERIES_RATE = 0,	/* model updates applied per second */
	PS_TOP_SERIES_L2,	/* whole-model L2 norm */
	PS_TOP_NSERIES
};

struct ps_top_tensor {
	char		*name;		/* owned */
	char		 shape[64];	/* "784x128", "scalar" */
	double		 elements;
	double		 l2;
	double		 update_l2;
	double		 growth;	/* growth_1m: l2 / l2 a minute ago - 1 */
	double		 growth_reset;	/* the same since the last reset */
	int		 worst;		/* the largest growth, when over 0 */
	double		 rate;		/* updates per second (server's) */
	double		 version;
	double		 updates_total;
};

struct ps_top_worker {
	long long	 id;
	char		*name;		/* owned */
	char		*address;	/* owned */
	char		 state[16];	/* as the server sent it */
	enum ps_top_wmark mark;
	double		 pushes_per_s;
	double		 pulls_per_s;
	double		 pushes;
	double		 pulls;
	double		 clock;
	double		 lag;
	double		 last_seen;	/* seconds, at snapshot time */
	double		 bytes_in;
	double		 bytes_out;
	int		 oneshot;	/* a psctl init/push/pull connection */
	int		 blocking;	/* the sync round waits on it */
	double		 update_l2;	/* its last push's L2; NAN: none */
	double		 update_l2_max;	/* the largest in the last minute */
	double		 pushes_per_s_1m;	/* its own recent pace, or NAN */
};

/* A checkpoint of the R list, from the checkpoints reply. */
struct ps_top_ckpt {
	char		*name;		/* owned: as reset takes it */
	double		 version;
	double		 age_s;		/* at ckpts_time; NAN: none (in memory) */
	double		 bytes;		/* NAN: none (in memory) */
	double		 model_l2;	/* NAN: not in its metadata */
};

/* An operator's block, from STATUS "blocked". */
struct ps_top_block {
	long long	 id;		/* 0: a name alone */
	char		*name;		/* owned; NULL: an id alone */
};

struct ps_top_sample {
	double		 t;		/* now when applied */
	double		 v[PS_TOP_NSERIES];	/* NAN when unknown */
	int		 mark;		/* the server restarted or was reset */
};

struct ps_top_pending {
	long long	 id;		/* 0 when the slot is free */
	enum ps_ctl_cmd	 cmd;		/* what it asked */
};

/* A snapshot's scalar facts; strings owned, numbers NAN when null. */
struct ps_top_server {
	char		*version;
	char		*listen;
	char		*state;
	char		*mode;
	char		*rule;
	char		*rule_params;	/* "lr=0.001 beta1=0.9" */
	double		 uptime;
	double		 sync_workers;
	double		 staleness;
	double		 model_version;
	double		 params;
	double		 bytes;
	double		 model_l2;
	double		 last_update_l2;
	double		 workers_connected;
	double		 workers_expected;
	double		 pushes_total;
	double		 pulls_total;
	double		 rejected_total;
	char		*rejected;	/* "nonfinite 1, shape 1" */
	double		 pushes_per_s;
	double		 pulls_per_s;
	double		 bytes_in_per_s;
	double		 bytes_out_per_s;
	double		 bytes_in_total;
	double		 bytes_out_total;
	double		 resets_total;
	/* the sync round, when round_present */
	int		 round_present;
	double		 round_number;
	double		 round_waiting_s;
	long long	*round_waiting;	/* owned: worker ids */
	size_t		 round_nwaiting;
	struct ps_top_block *blocked;	/* owned: operators' blocks */
	size_t		 nblocked;
	/* checkpoint */
	int		 ckpt_has_dir;
	char		*ckpt_dir;
	int		 ckpt_in_progress;
	double		 ckpt_count;	/* written successfully */
	double		 ckpt_failed;
	char		*ckpt_last_path;
	double		 ckpt_last_age;
	int		 ckpt_last_ok;	/* 1, 0, or -1 when null */
	char		*ckpt_last_error;
	double		 ckpt_last_seconds;
};

struct ps_top_model {
	/* Set by the caller before use. */
	char		*url;		/* owned; shown in the header */
	int		 readonly;	/* refuse checkpoint, reset, stop */
	double		 interval;	/* subscribe interval, seconds */

	/* Connection, as the main loop reports it. */
	enum ps_top_conn conn;
	char		*conn_error;	/* owned; why the last attempt failed */
	double		 retry_at;	/* when the next attempt is due */
	int		 attempts;	/* failed attempts since last success */

	/* The last applied snapshot. */
	int		 have;		/* a snapshot has been applied */
	double		 rx_time;	/* now when it was applied */
	long long	 seq;		/* its event seq, or -1 */
	unsigned long	 applied;	/* snapshots applied in total */
	struct ps_top_server srv;
	struct ps_top_tensor *tensors;	/* owned, ntensors */
	size_t		 ntensors;
	struct ps_top_worker *workers;	/* owned, nworkers */
	size_t		 nworkers;
	double		 lag_limit;	/* the limit the marks used; NAN in async */

	/* Rates the model derives itself, between consecutive snapshots. */
	double		 update_rate;	/* model versions per second, or NAN */
	double		 prev_uptime;
	double		 prev_version;
	double		 prev_time;

	/* Sparkline history, a ring. */
	struct ps_top_sample hist[PS_TOP_HISTORY];
	size_t		 hist_head;	/* next slot to write */
	size_t		 hist_len;

	/* Thresholds, set by the caller (options) before use. */
	double		 silent_s;	/* SILENT after this long unheard */
	double		 lag_over;	/* sync/ssp LAGGING lag; NAN: the mode's */
	double		 slow_ratio;	/* async LAGGING rate ratio */

	/* The name filter ("" for none), and the one being typed. */
	char		 filter[64];
	int		 editing;	/* '/' is open on the status line */
	char		 filter_old[64];	/* restored by Esc */
	double		 prev_resets;	/* resets_total at the last snapshot */

	/* Presentation state the keys change; it lasts the session. */
	enum ps_top_table focus;
	int		 sort_col[PS_TOP_NTABLES];
	int		 sort_desc[PS_TOP_NTABLES];
	int		 show_gone;	/* list GONE workers (else folded) */
	/*
	 * The rows shown, in display order: model indices of the tensors
	 * and workers that pass the folding, ntshown and nwshown of them.
	 */
	size_t		*torder;	/* owned */
	size_t		 ntshown;
	size_t		*worder;	/* owned */
	size_t		 nwshown;
	size_t		 ngone_folded;	/* GONE workers folded away */
	/*
	 * The selected row of each table (display row, < its rows shown
	 * unless there are none), and what it holds: a tensor's model
	 * index, a worker's id, so that the selection stays on it when the
	 * order changes.
	 */
	size_t		 sel[PS_TOP_NTABLES];
	long long	 sel_key[PS_TOP_NTABLES];	/* -1: none yet */
	size_t		 scroll[PS_TOP_NTABLES];
	int		 paused;
	json_t		*held;		/* owned: newest snapshot while paused */
	int		 help;		/* the help view is up */

	/* Status line and the open question, if any. */
	enum ps_top_msg	 msg_kind;
	char		 msg[256];
	double		 msg_time;
	enum ps_top_action prompt;
	long long	 prompt_worker;	/* kick, block, unblock: its id (0: none) */
	char		 prompt_name[PS_CTL_WORKER_MAX + 1];	/* and its name */
	char		 prompt_ckpt[PS_CTL_NAME_MAX + 1];	/* reset: to this */

	/*
	 * The list open for picking (R, u), its selected row and the first
	 * row shown; pick_wait while the checkpoints reply is awaited.
	 */
	enum ps_top_pick pick;
	int		 pick_wait;
	size_t		 pick_sel;
	size_t		 pick_scroll;
	struct ps_top_ckpt *ckpts;	/* owned: the last checkpoints reply */
	size_t		 nckpts;
	double		 ckpts_time;	/* now when it came */

	/* The code of the last error reply ("" after an ok one). */
	char		 err_code[32];
	char		 err_cmd[16];	/* the command it answered */

	/* Requests sent and not yet answered. */
	long long	 next_id;
	struct ps_top_pending pending[PS_TOP_PENDING];
};

/* Returns a new model (ps_top_model_free() it); url is copied. */
struct ps_top_model *ps_top_model_new(const char *url, double interval);
/* NULL is a no-op. */
void		 ps_top_model_free(struct ps_top_model *);

/*
 * Applies one STATUS object (borrowed).  Numbers that are null or missing
 * become NAN, strings "-"; a snapshot that is not an object, or whose
 * "tensors" or "workers" is not an array, returns -1 with *cause (caller
 * frees) and leaves the model as it was.  Updates the derived rates, the
 * history, the marks and the sort orders.
 */
int		 ps_top_model_apply(struct ps_top_model *, json_t *snapshot,
		     double now, char **cause);
/*
 * Handles one text message from the server: a snapshot event (applied, or
 * held while paused), or a reply to a pending request (shown on the status
 * line; a STATUS result is applied), read with control.h's readers.
 * Returns 1 when the screen changed, 0 when nothing did, -1 with *cause
 * for a message that is not a reply or an event (ps_ctl_reply_parse()) or
 * a snapshot that is not a STATUS (ps_ctl_status_parse()).
 */
int		 ps_top_model_message(struct ps_top_model *, const char *text,
		     size_t len, double now, char **cause);

/*
 * Makes the request for cmd (control.h: subscribe at the model's
 * interval, stop with a final checkpoint when the server has a checkpoint
 * directory) and records it as pending.  Returns its text, one message
 * (caller frees).
 */
char		*ps_top_model_request(struct ps_top_model *, enum ps_ctl_cmd);

/*
 * Starts an action from a key.  Checkpoint returns the request to send;
 * stop, kick and block open a [y/N] prompt and return NULL.  Reset asks
 * the server for its checkpoints (returns that request) and opens their
 * list when the reply comes; unblock opens the list of blocks (the
 * selected worker's block selected, when it has one).  Refused actions
 * (--readonly, not connected, a prompt or list already open, no block
 * to lift) return NULL with an error on the status line.  The request is
 * text (caller frees).
 */
char		*ps_top_model_action(struct ps_top_model *, enum ps_top_action,
		     double now);
/*
 * Answers the open prompt: yes returns the request to send (text, caller
 * frees), anything else cancels it and returns NULL.  NULL also when no
 * prompt is open.
 */
char		*ps_top_model_answer(struct ps_top_model *, int yes, double now);

/*
 * The open list: move its selection by delta rows (clamped, a large
 * delta reaches an end); choose the selected row, which closes the list
 * and asks the question by name ("Reset to ckpt-000853 (version 853, 2m
 * ago, L2 1,203)? [y/N]"); or cancel.  No-ops without an open list.
 */
void		 ps_top_model_pick_move(struct ps_top_model *, long long delta);
void		 ps_top_model_pick_choose(struct ps_top_model *, double now);
void		 ps_top_model_pick_cancel(struct ps_top_model *, double now);
/* Rows the open list has (0 while its reply is awaited). */
size_t		 ps_top_model_pick_rows(const struct ps_top_model *);

/* Connection changes, from the main loop. */
void		 ps_top_model_connected(struct ps_top_model *, double now);
/* why is copied; retry_at is when the next attempt is due. */
void		 ps_top_model_disconnected(struct ps_top_model *,
		     enum ps_top_conn, const char *why, double retry_at,
		     double now);

/* Sets the status line (printf-style). */
void		 ps_top_model_status(struct ps_top_model *, enum ps_top_msg,
		     double now, const char *fmt, ...)
		     __attribute__((__format__(__printf__, 4, 5)));

/* Sorting: pick a column (clamped), step it left or right, or invert. */
void		 ps_top_model_sort_by(struct ps_top_model *, enum ps_top_table,
		     int col);
void		 ps_top_model_sort_step(struct ps_top_model *, int delta);
void		 ps_top_model_sort_invert(struct ps_top_model *);
/*
 * Recomputes both display orders and the rows shown, keeping the
 * selection on the same tensor and worker (apply does this itself).
 */
void		 ps_top_model_sort(struct ps_top_model *);
/* Rows a table shows (after folding). */
size_t		 ps_top_model_rows(const struct ps_top_model *,
		     enum ps_top_table);
/* The model index of the row-th row shown. */
size_t		 ps_top_model_index(const struct ps_top_model *,
		     enum ps_top_table, size_t row);
/*
 * Moves the focused table's selection by delta rows, clamped to the rows
 * shown (a large delta reaches an end).
 */
void		 ps_top_model_select(struct ps_top_model *, long long delta);
/* The selected worker, or NULL when the worker table shows none. */
const struct ps_top_worker *ps_top_model_selected_worker(
		     const struct ps_top_model *);
/*
 * Sets the name filter (copied, cut to fit): both tables then show only
 * the rows whose name contains it; "" shows all.
 */
void		 ps_top_model_filter(struct ps_top_model *, const char *);
/*
 * Marks the columns of a sparkline ([now - window, now] in ncols) that
 * hold a server restart or a model reset: marks[i] 1 or 0.
 */
void		 ps_top_model_spark_marks(const struct ps_top_model *,
		     double now, double window, int ncols, int *marks);
/* Shows or folds the GONE workers. */
void		 ps_top_model_show_gone(struct ps_top_model *, int);
/* Where STATE sorts a mark: GONE lowest, then live trouble highest. */
int		 ps_top_mark_rank(enum ps_top_wmark);

/* Pauses or resumes; resuming applies the snapshot held meanwhile. */
void		 ps_top_model_pause(struct ps_top_model *, int paused,
		     double now);
/* Steps the refresh interval through 0.1 .. 60 s; returns the new value. */
double		 ps_top_model_interval_step(struct ps_top_model *, int delta);

/*
 * 1 when the shown snapshot is out of date: the connection is down, or no
 * snapshot has arrived for a while (2.5 intervals, at least 3 s).
 */
int		 ps_top_model_stale(const struct ps_top_model *, double now);
/* Age of the shown snapshot in seconds (NAN without one). */
double		 ps_top_model_age(const struct ps_top_model *, double now);
/* A worker's "last seen", aged by the time since the snapshot. */
double		 ps_top_model_seen(const struct ps_top_model *,
		     const struct ps_top_worker *, double now);
/* Seconds since the last checkpoint, aged likewise (NAN if none). */
double		 ps_top_model_ckpt_age(const struct ps_top_model *, double now);

/*
 * Buckets a series over [now - window, now] into ncols columns: out[i] is
 * the mean of the samples in column i, or NAN when it has none.  *lo and
 * *hi get the range of the samples themselves (NAN when there are none).
 * Returns how many columns have a value.
 */
int		 ps_top_model_spark(const struct ps_top_model *,
		     enum ps_top_series, double now, double window, int ncols,
		     double *out, double *lo, double *hi);
/*
 * Maps values to levels 0 .. nlevels-1 between lo and hi (all at the top
 * level when lo == hi and the value is not zero), -1 for NAN.
 */
void		 ps_top_spark_levels(const double *vals, int n, double lo,
		     double hi, int nlevels, int *levels);

/* Names, for headings and the man page's words. */
const char	*ps_top_mark_name(enum ps_top_wmark);
const char	*ps_top_tcol_name(enum ps_top_tcol);
const char	*ps_top_wcol_name(enum ps_top_wcol);
const char	*ps_top_action_name(enum ps_top_action);
/* "3.8 MiB" (binary units), "-" for NAN. */
void		 ps_top_human_bytes(double, char *, size_t);
/* "1,000,000": rounded, thousands grouped; "-" for NAN. */
void		 ps_top_count(double, char *, size_t);
/* An L2 norm: "1,203" from 1000 up, else 4 digits ("81.90"); "-". */
void		 ps_top_l2_text(double, char *, size_t);
/*
 * "12s ago", "2m ago", "3h ago", "2d ago"; "as first created" for NAN
 * (the initial model without a checkpoint directory: no file to age).
 */
void		 ps_top_ago_text(double, char *, size_t);

#endif
