/*
 * The control subprotocol, psctl.control.v1: JSON text messages (jansson),
 * one object per WebSocket message.  psctl-protocol(7) is normative; this is
 * the contract the server, psctl's commands and the console share.
 *
 * Requests carry an integer "id" echoed by their reply:
 *	{"id": 1, "cmd": "status"}
 *	{"id": 2, "cmd": "subscribe", "interval": 1.0}	seconds, 0.1 .. 60
 *	{"id": 3, "cmd": "unsubscribe"}
 *	{"id": 4, "cmd": "checkpoint", "name": "before-lr-drop", "force": true}
 *	    name optional; force optional (false): replace a file of that name
 *	    (without it, an existing name is refused with "exists"); the
 *	    automatic names (ckpt- and digits) and "initial" are the server's
 *	{"id": 5, "cmd": "reset", "name": "ckpt-000042.safetensors"} name optional
 *	    ("initial": the model this server started with; "from" says so)
 *	{"id": 6, "cmd": "stop", "checkpoint": true}		checkpoint optional
 *	{"id": 7, "cmd": "kick", "worker": 3 or "name", "block": true}
 *	    block optional (false)
 *	{"id": 8, "cmd": "unblock", "worker": 3 or "name"}
 *	{"id": 9, "cmd": "checkpoints"}
 * Replies:
 *	{"id": 1, "ok": true, "result": STATUS}
 *	{"id": 2, "ok": true, "result": {"interval": 1.0}}
 *	{"id": 3, "ok": true, "result": {}}
 *	{"id": 4, "ok": true, "result": {"path": "/var/lib/psctl/x.safetensors",
 *	     "model_version": 812, "bytes": 4000128, "seconds": 0.021}}
 *	{"id": 5, "ok": true, "result": {"from": PATH or "initial", "model_version": 813}}
 *	{"id": 6, "ok": true, "result": {"stopping": true, "checkpoint": PATH or null}}
 *	{"id": 7, "ok": true, "result": {"id": 3 or null, "name": "w3" or null,
 *	     "kicked": true, "blocked": true}}
 *	{"id": 8, "ok": true, "result": {"unblocked": 1}}
 *	{"id": 9, "ok": true, "result": {"checkpoints": [{"name": "ckpt-000853",
 *	     "path": PATH or null, "version": 853, "time": 1764690000.5 or null,
 *	     "age_s": 120.5 or null, "bytes": 4000128 or null,
 *	     "model_l2": 1203.4 or null}, ...]}}
 * checkpoints: what reset can go back to, newest first (by file time,
 * then version): the checkpoint directory's files that read as
 * checkpoints (header and metadata only; at most PS_CTL_CKPTS_MAX), each
 * named as reset takes it (the file name without ".safetensors"), and
 * last "initial", the model as first created (its file, or without a
 * directory the copy in memory: path, time and bytes null).  "time" is
 * the file's modification time (Unix seconds), "age_s" the seconds since
 * then on the server's clock, "model_l2" the model's L2 norm from the
 * metadata (null for a file without it).
 *	{"id": 9, "ok": false, "error": {"code": "bad_request", "message": "..."}}
 *	   codes: bad_request, unknown_command, no_model, no_checkpoint_dir,
 *	   not_found, mismatch (a checkpoint for reset holds another model),
 *	   busy, io, forbidden, shutting_down, ambiguous (a worker name that
 *	   several live workers have: the message lists them), exists (a
 *	   checkpoint name in use, without force)
 * kick: "worker" is an id (a JSON integer) or a name (a string, matched
 * exactly against the live workers' names).  The worker's connection is
 * closed with 1008 and a reason that names the operator's action; with
 * "block", its id and its name are refused at HELLO (ERROR unauthorized)
 * until unblocked.  A worker that is gone can still be blocked (kicked
 * false); a name no live worker has is blocked as a name alone (id null).
 * unblock lifts every block with that id or that name: "unblocked" counts
 * them, and none is not_found.  STATUS "blocked" lists the blocks.
 * Events, after subscribe, every interval until unsubscribe or close:
 *	{"event": "snapshot", "seq": 17, "snapshot": STATUS}
 *
 * STATUS (keys always present; numbers are JSON numbers; rates are per
 * second, smoothed over about 5 s; times in seconds):
 *	{
 *	  "version": "0.1.0", "listen": "127.0.0.1:7070",
 *	  "uptime_s": 12.5, "state": "serving" | "empty" | "draining",
 *	  "mode": "async" | "sync" | "ssp", "rule": "adam",
 *	  "rule_params": {"lr": 0.001, "beta1": 0.9, ...},
 *	  "sync_workers": 4 or null, "staleness": 2 or null,
 *	  "model_version": 812, "params": 1000000, "bytes": 4000000,
 *	  "model_l2": 31.6, "last_update_l2": 0.02,
 *	  "tensors": [{"name": "dense/kernel", "shape": [784, 128],
 *	      "l2_norm": 12.1, "update_l2": 0.01, "version": 811,
 *	      "updates_total": 400, "updates_per_s": 20.5,
 *	      "growth_1m": 0.02 or null, "growth_reset": 0.5 or null}, ...],
 *	  "growth_window_s": 60.0 or null,
 *	  "workers": [{"id": 3, "name": "w3", "address": "127.0.0.1:50122",
 *	      "state": "active" | "waiting" | "silent" | "gone",
 *	      "pushes": 200, "pulls": 201, "pushes_per_s": 10.0,
 *	      "pulls_per_s": 10.0, "clock": 200, "lag": 3,
 *	      "last_seen_s": 0.2, "bytes_in": 800000, "bytes_out": 801000,
 *	      "update_l2": 0.8 or null, "update_l2_max": 1.2 or null,
 *	      "last_push_s": 0.1 or null, "pushes_per_s_1m": 9.5 or null}, ...],
 *	  "round": {"number": 48, "waiting_on": [3, 5], "waiting_s": 8.5}
 *	      or null,
 *	  "workers_connected": 4, "workers_expected": 4 or null,
 *	  "pushes_total": 800, "pulls_total": 804, "rejected_total": 2,
 *	  "rejected": {"shape": 1, "nonfinite": 1, ...},	  by ps_errcode_name()
 *	  "pushes_per_s": 40.0, "pulls_per_s": 40.2,
 *	  "bytes_in_per_s": 1.6e8, "bytes_out_per_s": 1.6e8,
 *	  "bytes_in_total": 3.2e9, "bytes_out_total": 3.2e9,
 *	  "resets_total": 0,
 *	  "checkpoint": {"dir": "/var/lib/psctl" or null, "in_progress": false,
 *	      "count": 3, "failed": 0, "last_path": PATH or null, "last_age_s": 4.2 or null,
 *	      "last_ok": true or null, "last_error": null or "text",
 *	      "last_seconds": 0.02 or null},
 *	  "blocked": [{"id": 3 or null, "name": "w3" or null}, ...]
 *	}
 * "lag" is the fastest live worker's clock minus this worker's; "clock" is
 * the worker's clock in mode.h's sense (async: pushes; sync: finished
 * rounds pushed in; ssp: what the staleness bound compares).  Workers
 * that left stay listed as "gone" for a while (at most 64 of them).
 *
 * What an operator looks at to find a cause:
 * - workers[].pushes_per_s and pulls_per_s are smoothed over about 5 s,
 *   but read 0 as soon as the worker has made no such request for three
 *   of its own recent intervals between them (smoothed), and at least
 *   0.5 s: a worker that stopped shows 0 within a refresh, not a decaying
 *   rate.  "pushes_per_s_1m" is its pushes per second over the
 *   last minute (since it connected, if later; null for its first few
 *   seconds): a worker is slowing down, against its own pace, when
 *   pushes_per_s falls well below pushes_per_s_1m (psctl-top(1)'s LAGGING
 *   in async mode).  "last_push_s": seconds since its last accepted push,
 *   null before the first.
 * - workers[].update_l2: the L2 norm of the values of the worker's last
 *   accepted push, as it sent them (before the rule's learning rate; in
 *   sync mode, its own push, not the round's mean); null before its first.
 *   "update_l2_max": the largest of those in the last minute (55 to 60 s,
 *   in 5 s steps), null when it pushed nothing in that time.  A worker
 *   pushing huge updates has the largest.
 * - tensors[].growth_1m: the relative change of the tensor's L2 norm over
 *   "growth_window_s" seconds, l2_norm / (its L2 norm then) - 1: 0.5 is a
 *   50 % rise, -0.1 a 10 % fall.  The window is about a minute (55 to 60
 *   s, sampled every 5 s), or since the model was created, loaded or reset
 *   when that is later; growth_window_s is null (and every growth_1m too)
 *   until the first sample.  "growth_reset": the same since the model was
 *   created, loaded or last reset.  Either is null when the norm it
 *   compares with was 0.  The exploding tensor has the largest.
 * - "round", in sync mode (null in the others): "number" is the current,
 *   unfinished round's (1 + rounds completed); "waiting_on" the ids of the
 *   live workers that have not pushed in it yet, listed once someone has
 *   (an empty round waits on no one: [] and "waiting_s" 0); "waiting_s"
 *   the seconds since its first push.
 * - "blocked": the operators' blocks (kick with block): an id, a name or
 *   both, refused at HELLO; [] when none.
 * ps_ctl_status_parse() reads the fields of this list as null (blocked
 * as none) when a server older than them leaves them out.
 */
#ifndef PS_CONTROL_H
#define PS_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "metrics.h"
#include "rule.h"
#include "tensor.h"

/*
 * Everything below is pure: JSON in, JSON out, no sockets, no clock.  The
 * server fills the plain structs on its service thread and hands them to
 * the builders; psctl's commands and console parse replies with
 * ps_ctl_reply_parse() and STATUS with ps_ctl_status_parse().
 */

/* The subprotocol's name, asked for in the handshake. */
#define PS_CONTROL_PROTOCOL	"psctl.control.v1"

/* Error codes of replies (static strings). */
#define PS_CTL_E_BAD_REQUEST	"bad_request"
#define PS_CTL_E_UNKNOWN_CMD	"unknown_command"
#define PS_CTL_E_NO_MODEL	"no_model"
#define PS_CTL_E_NO_CKPT_DIR	"no_checkpoint_dir"
#define PS_CTL_E_NOT_FOUND	"not_found"
#define PS_CTL_E_MISMATCH	"mismatch"
#define PS_CTL_E_BUSY		"busy"
#define PS_CTL_E_IO		"io"
#define PS_CTL_E_FORBIDDEN	"forbidden"
#define PS_CTL_E_SHUTTING_DOWN	"shutting_down"
#define PS_CTL_E_AMBIGUOUS	"ambiguous"
#define PS_CTL_E_EXISTS		"exists"

/* Subscribe intervals, seconds. */
#define PS_CTL_INTERVAL_MIN	0.1
#define PS_CTL_INTERVAL_MAX	60.0
#define PS_CTL_INTERVAL_DEF	1.0
/* Longest checkpoint name a request may carry, bytes. */
#define PS_CTL_NAME_MAX		200
/* Requests longer than this are refused unread. */
#define PS_CTL_REQUEST_MAX	4096
/* Longest worker name a kick or unblock may carry, bytes (as HELLO keeps). */
#define PS_CTL_WORKER_MAX	128
/* Most checkpoints a checkpoints reply lists (the newest). */
#define PS_CTL_CKPTS_MAX	1000
/* Checkpoint files end with this; names without it get it appended. */
#define PS_CTL_CKPT_SUFFIX	".safetensors"

enum ps_ctl_cmd {
	PS_CTL_STATUS = 1,
	PS_CTL_SUBSCRIBE,
	PS_CTL_UNSUBSCRIBE,
	PS_CTL_CHECKPOINT,
	PS_CTL_RESET,
	PS_CTL_STOP,
	PS_CTL_KICK,
	PS_CTL_UNBLOCK,
	PS_CTL_CHECKPOINTS
};

/* A validated request. */
struct ps_ctl_req {
	int		 has_id;	/* 0 when the request had no usable id */
	json_int_t	 id;
	enum ps_ctl_cmd	 cmd;
	double		 interval;	/* subscribe: seconds */
	int		 has_name;	/* checkpoint, reset */
	char		 name[PS_CTL_NAME_MAX + sizeof PS_CTL_CKPT_SUFFIX];
	int		 checkpoint;	/* stop: 1 for a final checkpoint */
	int		 force;		/* checkpoint: replace the name */
	/* kick, unblock: the worker, by id (worker_id) or by name */
	uint64_t	 worker_id;	/* 0: by name */
	char		 worker_name[PS_CTL_WORKER_MAX + 1];
	int		 block;		/* kick: block it too */
};

/* The name on the wire of a command, or NULL. */
const char	*ps_ctl_cmd_name(enum ps_ctl_cmd);

/*
 * Parses and validates one request (len bytes, not NUL-terminated).
 * Returns 0, or -1 with *code (a static error code string, above) and
 * *cause (allocated, caller frees) saying what is wrong, in words fit for
 * an operator: "\"interval\" must be a number from 0.1 to 60".  On -1,
 * req->has_id says whether the error reply can carry the request's id.
 * Unknown members are refused, so that a typo is not silently ignored.
 * Names are checked with ps_ctl_name_valid() and given the suffix.
 */
int		 ps_ctl_parse(const char *buf, size_t len, struct ps_ctl_req *,
		     const char **code, char **cause);

/*
 * Checks an operator-chosen checkpoint name and writes the file name
 * (name, plus PS_CTL_CKPT_SUFFIX unless it already ends so) to out
 * (outlen >= sizeof ((struct ps_ctl_req *)0)->name).  Refused: empty,
 * longer than PS_CTL_NAME_MAX without the suffix, a '/' or '\\', a
 * leading '.', "..", a trailing '.' before an added suffix, control
 * characters, invalid UTF-8.  So a name cannot
 * leave the checkpoint directory, and the file name it becomes is itself
 * a valid name for the same file.  Returns 0, or -1 with *cause.
 */
int		 ps_ctl_name_valid(const char *name, char *out, size_t outlen,
		     char **cause);

/* One tensor line of STATUS; strings borrowed for the builder's call. */
struct ps_ctl_tensor {
	const char	*name;
	unsigned	 ndim;
	uint64_t	 dims[PS_DIMS_MAX];
	double		 l2_norm;
	double		 update_l2;
	uint64_t	 version;
	uint64_t	 updates_total;
	double		 updates_per_s;
	double		 growth_1m;	/* NAN: null */
	double		 growth_reset;	/* NAN: null */
};

struct ps_ctl_worker {
	uint64_t	 id;
	const char	*name;		/* "" when the worker gave none */
	const char	*address;	/* "127.0.0.1:50122" */
	const char	*state;		/* active, waiting, silent, gone */
	uint64_t	 pushes;
	uint64_t	 pulls;
	double		 pushes_per_s;
	double		 pulls_per_s;
	uint64_t	 clock;
	int64_t		 lag;
	double		 last_seen_s;
	uint64_t	 bytes_in;
	uint64_t	 bytes_out;
	double		 update_l2;	/* NAN: null (no push yet) */
	double		 update_l2_max;	/* NAN: null (none in the minute) */
	double		 last_push_s;	/* NAN: null (no push yet) */
	double		 pushes_per_s_1m; /* NAN: null */
};

/* An operator's block ("blocked"). */
struct ps_ctl_block {
	uint64_t	 id;		/* 0: null */
	const char	*name;		/* NULL: null */
};

/* The current sync round ("round"); present 0 for null. */
struct ps_ctl_round {
	int		 present;
	uint64_t	 number;
	const uint64_t	*waiting_on;	/* worker ids */
	size_t		 nwaiting;
	double		 waiting_s;
};

/* A labelled count: rejected pushes by ps_errcode_name(). */
struct ps_ctl_count {
	const char	*name;
	uint64_t	 n;
};

struct ps_ctl_ckpt_status {
	const char	*dir;		/* NULL: no --checkpoint-dir */
	int		 in_progress;
	uint64_t	 count;		/* written successfully */
	uint64_t	 failed;
	const char	*last_path;	/* NULL when none yet */
	int		 have_last;	/* the last_* fields below are set */
	double		 last_age_s;
	int		 last_ok;
	const char	*last_error;	/* NULL when last_ok */
	double		 last_seconds;
};

/*
 * STATUS "receive" and "accept": what the transport has in use
 * (ps_server_usage()).  present 0: not there (an older server).
 */
struct ps_ctl_usage {
	int		 present;
	uint64_t	 rx_budget;	/* receive.budget_bytes */
	uint64_t	 rx_inflight;	/* receive.inflight_bytes */
	uint64_t	 rx_paused;	/* receive.paused_connections */
	uint64_t	 sock_budget;	/* receive.socket_budget_bytes */
	uint64_t	 sock_bytes;	/* receive.socket_bytes */
	uint64_t	 sock_large;	/* receive.socket_large_connections */
	uint64_t	 accept_refused; /* accept.refused_total */
	int		 accept_paused;	/* accept.paused */
};

/*
 * A rule parameter as a client reads it from STATUS "rule_params": the
 * server's names and values, whatever the rule.
 */
struct ps_ctl_param {
	const char	*name;
	double		 value;		/* NAN for null */
	int		 boolean;	/* a JSON boolean: value is 0 or 1 */
};

/*
 * STATUS as plain data, both ways: the server fills it for
 * ps_ctl_status_json(), and clients get it from ps_ctl_status_parse().
 * Filled by the server, every pointer is borrowed for the duration of the
 * call it is passed to.  Optional numbers use the sentinel their comment
 * names and travel as JSON null; a double that is not finite travels as
 * null and reads back as NAN.
 */
struct ps_ctl_status {
	const char	*version;
	const char	*listen;
	double		 uptime_s;
	const char	*state;		/* serving, empty, draining */
	const char	*mode;		/* async, sync, ssp */
	const char	*rule;		/* ps_rule_name(rule_params.kind) */
	struct ps_rule	 rule_params;	/* the parameters the rule uses */
	unsigned	 sync_workers;	/* 0: null */
	int64_t		 staleness;	/* < 0: null */
	uint64_t	 model_version;
	uint64_t	 params;
	uint64_t	 bytes;
	double		 model_l2;
	double		 last_update_l2;
	const struct ps_ctl_tensor *tensors;
	size_t		 ntensors;
	double		 growth_window_s; /* NAN: null */
	const struct ps_ctl_worker *workers;
	size_t		 nworkers;
	struct ps_ctl_round round;
	const struct ps_ctl_block *blocked;	/* NULL when none */
	size_t		 nblocked;
	unsigned	 workers_connected;
	unsigned	 workers_expected;	/* 0: null */
	uint64_t	 pushes_total;
	uint64_t	 pulls_total;
	uint64_t	 rejected_total;
	const struct ps_ctl_count *rejected;
	size_t		 nrejected;
	double		 pushes_per_s;
	double		 pulls_per_s;
	double		 bytes_in_per_s;
	double		 bytes_out_per_s;
	uint64_t	 bytes_in_total;
	uint64_t	 bytes_out_total;
	uint64_t	 resets_total;
	struct ps_ctl_ckpt_status checkpoint;
	struct ps_ctl_usage usage;
	/* For /metrics only (not in STATUS); NULL renders nothing. */
	const struct ps_hist *apply_seconds;
	const struct ps_hist *checkpoint_seconds;
	/*
	 * Set by ps_ctl_status_parse() only: "rule_params" as sent, in the
	 * server's order, so that a client shows the parameters of a rule it
	 * does not know; and whether rule_params holds the rule read back
	 * (rule.h knows its name and parameters), else it is zeroed.
	 */
	const struct ps_ctl_param *rule_items;
	size_t		 nrule_items;
	int		 rule_known;
	json_t		*root;		/* parsed: owned; the strings borrow from it */
};

/*
 * STATUS as a new json_t (caller json_decref()s).  A parsed STATUS whose
 * rule is not known (rule_known 0) has its rule_params written as read.
 */
json_t		*ps_ctl_status_json(const struct ps_ctl_status *);
/*
 * The client's side of STATUS: reads o (borrowed) into st, checked against
 * the schema above.  Every key must be there with its type; null is
 * accepted where the schema allows it and reads as the field's sentinel
 * (NULL for a string, NAN for a double); keys it does not know are
 * ignored, so that a newer server's additions pass.  The strings borrow
 * from o, of which st keeps a reference; the arrays are new.  Returns 0
 * (caller ps_ctl_status_clear()s st), or -1 with *cause (caller frees)
 * naming the member at fault, st cleared.  "tensors" and "workers" are
 * checked first.
 */
int		 ps_ctl_status_parse(json_t *o, struct ps_ctl_status *st,
		     char **cause);
/* Frees what ps_ctl_status_parse() allocated and zeroes st. */
void		 ps_ctl_status_clear(struct ps_ctl_status *);
/*
 * The name psctl's one-shot commands (init, push, pull) give their
 * connection is PS_CTL_ONESHOT_PREFIX and the command's name;
 * ps_ctl_worker_oneshot() is 1 for such a name.  Operators are not shown
 * those workers once they have gone (psctl top, psctl status).
 */
#define PS_CTL_ONESHOT_PREFIX	"psctl "
int		 ps_ctl_worker_oneshot(const char *name);
/*
 * Replies and events as compact JSON text, one WebSocket message each
 * (caller frees).  result is stolen.  An error reply for a request without
 * a usable id (has_id 0) carries "id": null.
 */
char		*ps_ctl_reply_ok(json_int_t id, json_t *result);
char		*ps_ctl_reply_error(int has_id, json_int_t id, const char *code,
		     const char *fmt, ...)
		     __attribute__((__format__(__printf__, 4, 5)));
char		*ps_ctl_event_snapshot(uint64_t seq, const struct ps_ctl_status *);
/* Results of subscribe, checkpoint, reset and stop (new references). */
json_t		*ps_ctl_subscribe_result(double interval);
json_t		*ps_ctl_checkpoint_result(const char *path,
		     uint64_t model_version, uint64_t bytes, double seconds);
json_t		*ps_ctl_reset_result(const char *from, uint64_t model_version);
json_t		*ps_ctl_stop_result(const char *checkpoint);
/* kick's (id 0 and name NULL are null) and unblock's results. */
json_t		*ps_ctl_kick_result(uint64_t id, const char *name, int kicked,
		     int blocked);
json_t		*ps_ctl_unblock_result(size_t unblocked);

/*
 * The /metrics page for a status (Prometheus text 0.0.4), appended to p.
 * Names and units: psctl-serve(1).
 */
void		 ps_ctl_metrics(struct ps_prom *, const struct ps_ctl_status *);

/*
 * The client's side.  Encodes a request as text (caller frees); name may be
 * NULL, interval is used by subscribe; flag is stop's "checkpoint" and
 * checkpoint's "force" (sent only when true).
 */
char		*ps_ctl_request(json_int_t id, enum ps_ctl_cmd, const char *name,
		     double interval, int flag);

/*
 * A kick or unblock request (caller frees): worker is sent as an id when
 * it is all digits (no leading 0), else as a name.
 */
char		*ps_ctl_request_worker(json_int_t id, enum ps_ctl_cmd,
		     const char *worker, int block);

/* One checkpoint of a checkpoints reply; strings borrowed. */
struct ps_ctl_ckpt {
	const char	*name;		/* as reset takes it; "initial" */
	const char	*path;		/* NULL: null (in memory) */
	uint64_t	 version;
	double		 time;		/* NAN: null */
	double		 age_s;		/* NAN: null */
	int64_t		 bytes;		/* < 0: null */
	double		 model_l2;	/* NAN: null */
};

/* The result of checkpoints (a new reference). */
json_t		*ps_ctl_checkpoints_result(const struct ps_ctl_ckpt *, size_t n);
/*
 * Reads it (result borrowed; the strings borrow from it): *out is a new
 * array of *n (caller frees), or -1 with *cause naming what is wrong.
 */
int		 ps_ctl_checkpoints_parse(json_t *result,
		     struct ps_ctl_ckpt **out, size_t *n, char **cause);

/* A reply or an event as read by a client. */
struct ps_ctl_reply {
	json_t		*root;		/* owned: ps_ctl_reply_clear() */
	int		 is_event;	/* "event" member present */
	const char	*event;		/* borrowed from root */
	json_int_t	 seq;		/* a snapshot event's */
	json_t		*snapshot;	/* borrowed: a snapshot event's STATUS */
	int		 has_id;
	json_int_t	 id;
	int		 ok;
	json_t		*result;	/* borrowed from root; NULL on error */
	const char	*code;		/* borrowed; error code when !ok */
	const char	*message;	/* borrowed; error text when !ok */
};

/*
 * Parses a server message.  Returns 0, or -1 with *cause when it is not
 * JSON or not shaped like a reply or an event (a "snapshot" event needs
 * its seq and an object for its snapshot; other events are passed on
 * unread, for the caller to skip).
 */
int		 ps_ctl_reply_parse(const char *buf, size_t len,
		     struct ps_ctl_reply *, char **cause);
void		 ps_ctl_reply_clear(struct ps_ctl_reply *);

/*
 * The result of an ok reply to subscribe, checkpoint, reset or stop as a
 * client reads it; the strings borrow from the reply.  Fields the
 * command's result does not have are left zero.
 */
struct ps_ctl_result {
	double		 interval;	/* subscribe: seconds */
	const char	*path;		/* checkpoint: the file written */
	uint64_t	 model_version;	/* checkpoint, reset: after it */
	uint64_t	 bytes;		/* checkpoint */
	double		 seconds;	/* checkpoint: time to write it */
	const char	*from;		/* reset: a checkpoint's path, "initial" */
	const char	*checkpoint;	/* stop: the final checkpoint, or NULL */
	uint64_t	 worker_id;	/* kick: 0 for null */
	const char	*worker_name;	/* kick: NULL for null */
	int		 kicked;	/* kick */
	int		 blocked;	/* kick */
	uint64_t	 unblocked;	/* unblock */
};

/*
 * Reads result (borrowed: r->result) of an ok reply to cmd into res,
 * checked as ps_ctl_status_parse() checks STATUS: the members the result
 * above lists, with their types.  A status reply's result is a STATUS:
 * read it with ps_ctl_status_parse().  Returns 0, or -1 with *cause
 * (caller frees) naming what is wrong.
 */
int		 ps_ctl_result_parse(enum ps_ctl_cmd cmd, json_t *result,
		     struct ps_ctl_result *res, char **cause);

#endif
