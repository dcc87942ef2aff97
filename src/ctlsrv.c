/*
 * The server's control plane (ctlsrv.h): tokens and the checkpoint
 * directory at start, STATUS, rates, the checkpoints it starts itself, the
 * control requests that wait, the graceful stop's control side and
 * systemd notification.  Service thread only, except ps_ctlsrv_new() and
 * ps_ctlsrv_free(), which run before and after it.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth.h"
#include "checkpoint.h"
#include "ckptjob.h"
#include "ckptdir.h"
#include "control.h"
#include "ctlsrv.h"
#include "log.h"
#include "metrics.h"
#include "mode.h"
#include "notify.h"
#include "server.h"
#include "store.h"
#include "xmalloc.h"

/* The control plane of one server. */
struct ps_ctlsrv {
	struct ps_server	*srv;		/* borrowed */
	struct ps_ctl_opts	 o;
	struct ps_ctl_link	 link;		/* the control protocol's */
	struct ps_ckptjobs	*jobs;		/* owned */

	/* Rates the server itself does not keep. */
	struct ps_rate		 pushes, pulls, bytes_in, bytes_out;
	struct ps_rate		*tensor_rates;	/* owned, one per tensor */
	size_t			 ntensor_rates;
	/* Growth: each tensor's L2 norm, sampled, and as created or reset. */
	struct ps_history	*tensor_l2s;	/* owned, ntensor_rates */
	double			*tensor_base;	/* owned, ntensor_rates */
	double			 l2_sampled;	/* when, seconds; 0: never */
	/* The model as first created, for checkpoints without a directory. */
	int			 initial_seen;
	uint64_t		 initial_version;
	double			 initial_l2;
	int64_t			 last_periodic_us;
	uint64_t		 periodic_version; /* saved by the last periodic */
	int			 initial_queued; /* its job was queued */

	/* Stopping. */
	int			 stop_asked;	/* a request's final: 1, 0; -1 none */
	int			 stop_final;	/* a final checkpoint is due */
	struct ps_ctl_waiters	 stop_waiters;
	/*
	 * A stop request's final checkpoint is written before the server
	 * stops, with the server held: if it fails the stop is refused and
	 * serving goes on.
	 */
	int			 saving;	/* that checkpoint is being written */
	int			 stop_after_save; /* a plain stop came meanwhile */
	struct ps_ctl_waiters	 save_waiters;	/* stops that asked for it */
	char			*final_path;	/* owned: the file written */
	int			 final_due;	/* draining: a final is due */
	int			 final_failed;	/* it was due and not written */
};

static void	ctl_created(void *);
static void	ctl_tick(void *, int64_t);
static void	ctl_wake(void *);
static void	ctl_stopping(void *);
static int	ctl_busy(void *);
static void	ctl_destroy(void *);
static void	ctl_rates(struct ps_ctlsrv *);
static void	ctl_sample_l2(struct ps_ctlsrv *, int);
static double	ctl_recent(double, int64_t, double, int64_t);
static double	ctl_growth(double, double);
static int	ctl_loopback(const char *);
static void	ctl_notify(const char *);
static void	ctl_final_done(void *, const char *, const char *);
static void	ctl_saved(struct ps_ctlsrv *, const char *, const char *);
static void	ctl_send(struct ps_ctlsrv *, struct ps_ctlconn *, char *);

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
	struct ps_auth		 auth;
	char			*why = NULL, *real;
	int			 n;

	ctl = xcalloc(1, sizeof *ctl);
	ctl->srv = srv;
	ctl->o = *o;
	memset(o, 0, sizeof *o);
	TAILQ_INIT(&ctl->stop_waiters);
	TAILQ_INIT(&ctl->save_waiters);
	ctl->stop_asked = -1;
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
	}
	/*
	 * reset goes back to the model as first created: the server keeps
	 * it until the initial checkpoint job takes it into its file,
	 * DIR/initial or an unlinked one (ps_ckptjob_keep_initial()).
	 */
	ps_server_keep_initial(srv);

	ctl->jobs = ps_ckptjob_new(srv, ctl->o.ckpt_dir, ctl->o.keep,
	    ctl_final_done, ctl);
	if (ps_server_hook(srv, &ctl_hooks, ctl) != 0) {
		why = xstrdup("no room for the control plane's hooks");
		goto fail;
	}
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
	ps_ckptjob_free(ctl->jobs);
	while ((w = TAILQ_FIRST(&ctl->stop_waiters)) != NULL) {
		TAILQ_REMOVE(&ctl->stop_waiters, w, entry);
		free(w);
	}
	while ((w = TAILQ_FIRST(&ctl->save_waiters)) != NULL) {
		TAILQ_REMOVE(&ctl->save_waiters, w, entry);
		free(w);
	}
	free(ctl->final_path);
	ps_ctl_opts_free(&ctl->o);
	free(ctl->tensor_rates);
	free(ctl->tensor_l2s);
	free(ctl->tensor_base);
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
	    !ctl_loopback(ps_server_opts(srv)->host))
		ps_log_warn("listening on %s without a token: anyone who can "
		    "reach the port can change the model and stop the "
		    "server (--token-file, --operator-token-file)",
		    ps_server_listen(srv));
	if (ctl->o.ckpt_dir != NULL)
		ps_log_info("checkpoints in %s%s", ctl->o.ckpt_dir,
		    ctl->o.ckpt_every > 0 ? ", periodic" : "");
	if (!ps_store_empty(ps_server_store(srv)))
		ctl_created(ctl);
	ctl->last_periodic_us = ps_server_now_us();
	snprintf(status, sizeof status, "READY=1\nSTATUS=serving on %s",
	    ps_server_listen(srv));
	ctl_notify(status);
}

void
ps_ctlsrv_link(struct ps_ctlsrv *ctl, const struct ps_ctl_link *link)
{
	if (link != NULL)
		ctl->link = *link;
	else
		memset(&ctl->link, 0, sizeof ctl->link);
	ps_ckptjob_set_send(ctl->jobs, ctl->link.send);
}

/* Sends text (stolen) on c through the link, if c and the link are there. */
static void
ctl_send(struct ps_ctlsrv *ctl, struct ps_ctlconn *c, char *text)
{
	if (c != NULL && ctl->link.send != NULL)
		ctl->link.send(c, text);
	else
		free(text);
}

/* The model exists now: rates per tensor, the initial checkpoint. */
static void
ctl_created(void *arg)
{
	struct ps_ctlsrv	*ctl = arg;
	struct ps_server	*srv = ctl->srv;
	struct ps_store		*s = ps_server_store(srv);
	const char		*code;
	char			*cause = NULL;
	size_t			 i;

	if (ps_store_count(s) != ctl->ntensor_rates) {
		free(ctl->tensor_rates);
		ctl->ntensor_rates = ps_store_count(s);
		ctl->tensor_rates = xcalloc(ctl->ntensor_rates > 0 ?
		    ctl->ntensor_rates : 1, sizeof *ctl->tensor_rates);
		for (i = 0; i < ctl->ntensor_rates; i++)
			ps_rate_init(&ctl->tensor_rates[i], PS_RATE_TAU);
		free(ctl->tensor_l2s);
		free(ctl->tensor_base);
		ctl->tensor_l2s = xcalloc(ctl->ntensor_rates > 0 ?
		    ctl->ntensor_rates : 1, sizeof *ctl->tensor_l2s);
		ctl->tensor_base = xcalloc(ctl->ntensor_rates > 0 ?
		    ctl->ntensor_rates : 1, sizeof *ctl->tensor_base);
	}
	/* Created, loaded or reset: growth counts from this model. */
	ctl_sample_l2(ctl, 1);
	if (!ctl->initial_seen && !ps_store_empty(s)) {
		ctl->initial_seen = 1;
		ctl->initial_version = ps_store_version(s);
		ctl->initial_l2 = ps_store_model_l2(s);
	}
	/* The model as first created is a file: DIR/initial, or unlinked. */
	if (ctl->initial_queued || ps_server_state(srv) == PS_SERVER_STARTING)
		return;
	ctl->initial_queued = 1;
	if (ctl->o.ckpt_dir == NULL) {
		ps_ckptjob_keep_initial(ctl->jobs);
		return;
	}
	if (ps_ckptjob_save(ctl->jobs, PS_JOB_INITIAL, PS_CKPTDIR_INITIAL, 1,
	    &code, &cause) == NULL) {
		ps_log_warn("initial checkpoint: %s", cause);
		free(cause);
	}
}

/* After every wake-up of the loop: finishes the jobs that are done. */
static void
ctl_wake(void *arg)
{
	struct ps_ctlsrv	*ctl = arg;

	ps_ckptjob_poll(ctl->jobs);
}

/* While stopping: a job (the final checkpoint) to finish. */
static int
ctl_busy(void *arg)
{
	struct ps_ctlsrv	*ctl = arg;

	return ps_ckptjob_busy(ctl->jobs);
}

/* Before the lws context goes: the checkpoint threads that wake it end. */
static void
ctl_destroy(void *arg)
{
	struct ps_ctlsrv	*ctl = arg;

	ps_ckptjob_drain(ctl->jobs);
}

void
ps_ctlsrv_checkpoint(struct ps_ctlsrv *ctl, struct ps_ctlconn *c,
    const char *address, json_int_t id, const char *name, int force)
{
	struct ps_job	*j;
	const char	*code;
	char		*cause = NULL;

	j = ps_ckptjob_save(ctl->jobs, PS_JOB_REQUEST, name, force, &code,
	    &cause);
	if (j == NULL) {
		ctl_send(ctl, c, ps_ctl_reply_error(1, id, code, "%s", cause));
		free(cause);
		return;
	}
	ps_log_info("checkpoint requested from %s: %s", address,
	    j->path != NULL ? j->path : "after the one being written");
	ps_ckptjob_wait(j, c, id, PS_CTL_CHECKPOINT);
}

void
ps_ctlsrv_reset(struct ps_ctlsrv *ctl, struct ps_ctlconn *c,
    const char *address, json_int_t id, const char *name)
{
	struct ps_job	*j;
	const char	*code;
	char		*cause = NULL;

	ps_log_info("reset requested from %s%s%s", address,
	    name != NULL ? " to " : "", name != NULL ? name : "");
	j = ps_ckptjob_reset(ctl->jobs, name, &code, &cause);
	if (j != NULL)
		ps_ckptjob_wait(j, c, id, PS_CTL_RESET);
	else {
		ctl_send(ctl, c, ps_ctl_reply_error(1, id, code, "%s", cause));
		free(cause);
	}
}

void
ps_ctlsrv_stop(struct ps_ctlsrv *ctl, struct ps_ctlconn *c,
    const char *address, json_int_t id, int final)
{
	struct ps_ctl_waiter	*w;
	const char		*code;
	char			*cause = NULL;

	ps_log_info("stop requested from %s%s", address,
	    final ? " with a final checkpoint" : "");
	if (final && ctl->o.ckpt_dir == NULL) {
		ctl_send(ctl, c, ps_ctl_reply_error(1, id,
		    PS_CTL_E_NO_CKPT_DIR, "a final checkpoint needs "
		    "--checkpoint-dir"));
		return;
	}
	w = xcalloc(1, sizeof *w);
	w->c = c;
	w->id = id;
	w->cmd = PS_CTL_STOP;
	if (ps_server_state(ctl->srv) != PS_SERVER_SERVING) {
		/* Already stopping: answered with the others. */
		TAILQ_INSERT_TAIL(&ctl->stop_waiters, w, entry);
		if (!ctl->stop_final)
			ctl_final_done(ctl, NULL, NULL);
		return;
	}
	if (ctl->saving) {
		/* A final checkpoint is being written: its outcome decides. */
		if (final)
			TAILQ_INSERT_TAIL(&ctl->save_waiters, w, entry);
		else {
			TAILQ_INSERT_TAIL(&ctl->stop_waiters, w, entry);
			ctl->stop_after_save = 1;
		}
		return;
	}
	if (final && !ps_store_empty(ps_server_store(ctl->srv))) {
		/*
		 * Written first, the server held from the snapshot on (no
		 * request is acknowledged that the file lacks): the stop
		 * happens only once the file is there.
		 */
		ps_server_hold(ctl->srv, 1);
		if (ps_ckptjob_save(ctl->jobs, PS_JOB_FINAL, NULL, 0, &code,
		    &cause) == NULL) {
			ps_server_hold(ctl->srv, 0);
			ps_log_error("final checkpoint: %s: not stopping",
			    cause);
			ctl_send(ctl, c, ps_ctl_reply_error(1, id, code,
			    "the final checkpoint cannot be written: %s; the "
			    "server goes on serving", cause));
			free(cause);
			free(w);
			return;
		}
		ctl->saving = 1;
		TAILQ_INSERT_TAIL(&ctl->save_waiters, w, entry);
		return;
	}
	TAILQ_INSERT_TAIL(&ctl->stop_waiters, w, entry);
	ctl->stop_asked = final ? 1 : 0;
	ps_server_stop(ctl->srv);
}

/*
 * A stop request's final checkpoint ended: the server stops (every stop
 * request answered with the file), or, when it failed, serves again and
 * the requests that asked for it are answered with the error.
 */
static void
ctl_saved(struct ps_ctlsrv *ctl, const char *path, const char *cause)
{
	struct ps_ctl_waiter	*w;

	ctl->saving = 0;
	if (path != NULL) {
		free(ctl->final_path);
		ctl->final_path = xstrdup(path);
		TAILQ_CONCAT(&ctl->stop_waiters, &ctl->save_waiters, entry);
		ctl->stop_asked = 0;
		ps_server_stop(ctl->srv);
		return;
	}
	ps_server_hold(ctl->srv, 0);
	ps_log_error("final checkpoint failed: %s: not stopping, serving "
	    "again", cause != NULL ? cause : "?");
	while ((w = TAILQ_FIRST(&ctl->save_waiters)) != NULL) {
		TAILQ_REMOVE(&ctl->save_waiters, w, entry);
		ctl_send(ctl, w->c, ps_ctl_reply_error(1, w->id, PS_CTL_E_IO,
		    "the final checkpoint failed: %s; the server goes on "
		    "serving", cause != NULL ? cause : "?"));
		free(w);
	}
	if (ctl->stop_after_save) {
		ctl->stop_after_save = 0;
		ctl->stop_asked = 0;
		ps_server_stop(ctl->srv);
	}
}

int
ps_ctlsrv_final_failed(const struct ps_ctlsrv *ctl)
{
	return ctl->final_failed;
}

void
ps_ctlsrv_kick(struct ps_ctlsrv *ctl, struct ps_ctlconn *c,
    const char *address, const struct ps_ctl_req *req)
{
	struct ps_server	*srv = ctl->srv;
	struct ps_worker	*w, *found = NULL;
	const char		*name = NULL, *who;
	char			*list = NULL, *p;
	size_t			 n = 0, k;
	int			 kicked = 0;
	uint64_t		 id = req->worker_id;

	who = id != 0 ? NULL : req->worker_name;
	if (req->cmd == PS_CTL_UNBLOCK) {
		k = ps_server_unblock(srv, id, who);
		if (k == 0) {
			ctl_send(ctl, c, id != 0 ? ps_ctl_reply_error(1,
			    req->id, PS_CTL_E_NOT_FOUND, "worker %llu is not "
			    "blocked", (unsigned long long)id) :
			    ps_ctl_reply_error(1, req->id, PS_CTL_E_NOT_FOUND,
			    "no block on the name \"%s\"", who));
			return;
		}
		if (id != 0)
			ps_log_info("worker %llu unblocked from %s",
			    (unsigned long long)id, address);
		else
			ps_log_info("worker name \"%s\" unblocked from %s",
			    who, address);
		ctl_send(ctl, c, ps_ctl_reply_ok(req->id,
		    ps_ctl_unblock_result(k)));
		return;
	}

	/* The worker: by id, live or gone; by name, the one live worker. */
	if (id != 0)
		found = ps_server_worker_find(srv, id);
	else {
		TAILQ_FOREACH(w, ps_server_workers(srv), entry) {
			if (w->conn == NULL || strcmp(w->name, who) != 0)
				continue;
			found = w;
			n++;
			p = xasprintf("%s%s%llu (%s)", list != NULL ? list : "",
			    list != NULL ? ", " : "", (unsigned long long)w->id,
			    w->address);
			free(list);
			list = p;
		}
		if (n > 1) {
			ctl_send(ctl, c, ps_ctl_reply_error(1, req->id,
			    PS_CTL_E_AMBIGUOUS, "%zu live workers are named "
			    "\"%s\": %s; give the id", n, who, list));
			free(list);
			return;
		}
		free(list);
	}
	if (found == NULL || (found->conn == NULL && !req->block)) {
		if (id != 0 && found == NULL && !req->block)
			ctl_send(ctl, c, ps_ctl_reply_error(1, req->id,
			    PS_CTL_E_NOT_FOUND, "no worker %llu",
			    (unsigned long long)id));
		else if (id != 0 && !req->block)
			ctl_send(ctl, c, ps_ctl_reply_error(1, req->id,
			    PS_CTL_E_NOT_FOUND, "worker %llu (%s) is gone "
			    "already (kick --block blocks it)",
			    (unsigned long long)id, found->name));
		else if (!req->block)
			ctl_send(ctl, c, ps_ctl_reply_error(1, req->id,
			    PS_CTL_E_NOT_FOUND, "no live worker is named "
			    "\"%s\"", who));
		if (!req->block)
			return;
	}
	if (found != NULL) {
		id = found->id;
		name = found->name;
	} else
		name = who;
	if (req->block && ps_server_block(srv, id, name) != 0) {
		ctl_send(ctl, c, ps_ctl_reply_error(1, req->id,
		    PS_CTL_E_BUSY, "%d workers are blocked already: unblock "
		    "some first", PS_SERVER_BLOCKS_MAX));
		return;
	}
	if (id != 0)
		ps_log_info("worker %llu (%s) %s from %s",
		    (unsigned long long)id, name != NULL ? name : "",
		    req->block ? (found != NULL &&
		    found->conn != NULL ? "kicked and blocked" : "blocked") :
		    "kicked", address);
	else
		ps_log_info("worker name \"%s\" blocked from %s", name,
		    address);
	/* Answered before the close: the worker may be freed by it. */
	if (found != NULL && found->conn != NULL)
		kicked = 1;
	ctl_send(ctl, c, ps_ctl_reply_ok(req->id, ps_ctl_kick_result(id,
	    name, kicked, req->block)));
	if (kicked)
		ps_server_kick(srv, found, req->block ? "kicked and blocked "
		    "by an operator" : "kicked by an operator");
}

/* A file of the checkpoint directory, for checkpoints. */
struct ctl_ckfile {
	char			*name;		/* without the suffix */
	char			*path;
	struct timespec		 mtime;
	struct ps_ctl_ckpt	 c;
};

/* Newest first: by modification time, then by name, descending. */
static int
ctl_ckfile_cmp(const void *a, const void *b)
{
	const struct ctl_ckfile	*x = a, *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? 1 : -1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? 1 : -1;
	return strcmp(y->name, x->name);
}

/* Newest first: by time, then by version, descending. */
static int
ctl_ckpt_cmp(const void *a, const void *b)
{
	const struct ps_ctl_ckpt	*x = a, *y = b;

	if (x->time != y->time)
		return x->time < y->time ? 1 : -1;
	if (x->version != y->version)
		return x->version < y->version ? 1 : -1;
	return strcmp(y->name, x->name);
}

void
ps_ctlsrv_checkpoints(struct ps_ctlsrv *ctl, struct ps_ctlconn *c,
    json_int_t id)
{
	const char		*dir = ctl->o.ckpt_dir;
	const size_t		 slen = strlen(PS_CTL_CKPT_SUFFIX);
	struct ctl_ckfile	*f = NULL, tmp;
	struct ps_ctl_ckpt	*out;
	struct ps_ckpt_info	 info;
	struct timespec		 now;
	struct dirent		*de;
	struct stat		 sb;
	DIR			*d;
	uint64_t		 size;
	size_t			 n = 0, cap = 0, i, k, len;
	char			*cause;

	clock_gettime(CLOCK_REALTIME, &now);
	if (dir == NULL) {
		/* The initial model the server keeps is all there is. */
		out = xcalloc(1, sizeof *out);
		if (ctl->initial_seen) {
			out[0].name = "initial";
			out[0].version = ctl->initial_version;
			out[0].time = out[0].age_s = NAN;
			out[0].bytes = -1;
			out[0].model_l2 = ctl->initial_l2;
			n = 1;
		}
		ctl_send(ctl, c, ps_ctl_reply_ok(id,
		    ps_ctl_checkpoints_result(out, n)));
		free(out);
		return;
	}
	if ((d = opendir(dir)) == NULL) {
		ctl_send(ctl, c, ps_ctl_reply_error(1, id, PS_CTL_E_IO,
		    "%s: %s", dir, strerror(errno)));
		return;
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len <= slen ||
		    strcmp(de->d_name + len - slen, PS_CTL_CKPT_SUFFIX) != 0)
			continue;
		/* An initial file not this server's is no reset target. */
		if (strcmp(de->d_name, PS_CKPTDIR_INITIAL) == 0 &&
		    !ps_ckptjob_initial_written(ctl->jobs))
			continue;
		memset(&tmp, 0, sizeof tmp);
		tmp.path = xasprintf("%s/%s", dir, de->d_name);
		if (stat(tmp.path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
			free(tmp.path);
			continue;
		}
		tmp.name = xstrndup(de->d_name, len - slen);
		tmp.mtime = sb.st_mtim;
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			f = xreallocarray(f, cap, sizeof *f);
		}
		f[n++] = tmp;
	}
	closedir(d);
	if (n > 0)
		qsort(f, n, sizeof *f, ctl_ckfile_cmp);

	/* Only headers and metadata are read; a file that fails is left out. */
	out = xcalloc(n > 0 ? n : 1, sizeof *out);
	for (i = k = 0; i < n && k < PS_CTL_CKPTS_MAX; i++) {
		if (ps_ckpt_peek(f[i].path, &info, &size, &cause) != 0) {
			ps_log_debug("checkpoints: %s left out: %s",
			    f[i].path, cause);
			free(cause);
			continue;
		}
		out[k].name = f[i].name;
		out[k].path = f[i].path;
		out[k].version = info.model_version;
		out[k].time = (double)f[i].mtime.tv_sec +
		    (double)f[i].mtime.tv_nsec / 1e9;
		out[k].age_s = (double)(now.tv_sec - f[i].mtime.tv_sec) +
		    (double)(now.tv_nsec - f[i].mtime.tv_nsec) / 1e9;
		out[k].bytes = size > INT64_MAX ? INT64_MAX : (int64_t)size;
		out[k].model_l2 = info.has_model_l2 ? info.model_l2 : NAN;
		k++;
	}
	/* Files written within a clock tick: the higher version is newer. */
	if (k > 1)
		qsort(out, k, sizeof *out, ctl_ckpt_cmp);
	/* "initial" goes last, where it is in time. */
	for (i = 0; i + 1 < k; i++) {
		if (strcmp(out[i].name, "initial") == 0) {
			struct ps_ctl_ckpt	ini = out[i];

			memmove(&out[i], &out[i + 1], (k - i - 1) *
			    sizeof *out);
			out[k - 1] = ini;
			break;
		}
	}
	ctl_send(ctl, c, ps_ctl_reply_ok(id, ps_ctl_checkpoints_result(out,
	    k)));
	free(out);
	for (i = 0; i < n; i++) {
		free(f[i].name);
		free(f[i].path);
	}
	free(f);
}

void
ps_ctlsrv_forget(struct ps_ctlsrv *ctl, struct ps_ctlconn *c)
{
	struct ps_ctl_waiter	*w;

	ps_ckptjob_forget(ctl->jobs, c);
	TAILQ_FOREACH(w, &ctl->stop_waiters, entry) {
		if (w->c == c)
			w->c = NULL;
	}
	TAILQ_FOREACH(w, &ctl->save_waiters, entry) {
		if (w->c == c)
			w->c = NULL;
	}
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
	ps_log_info("stopping%s", final || ctl->final_path != NULL ?
	    " after a final checkpoint" : "");
	if (final && ctl->o.ckpt_dir != NULL &&
	    !ps_store_empty(ps_server_store(srv))) {
		/* Taken now: pushes after this are refused, not lost. */
		ctl->final_due = 1;
		if (ps_ckptjob_save(ctl->jobs, PS_JOB_FINAL, NULL, 0, &code,
		    &cause) != NULL)
			ctl->stop_final = 1;
		else {
			ps_log_error("final checkpoint: %s", cause);
			ctl->final_failed = 1;
			free(cause);
		}
	}
	if (!ctl->stop_final)
		ctl_final_done(ctl, NULL, NULL);
}

/*
 * The final checkpoint ended (path NULL: it failed, or there was none):
 * the stop requests are answered, and every control connection closes
 * once its replies are written.
 */
static void
ctl_final_done(void *arg, const char *path, const char *cause)
{
	struct ps_ctlsrv	*ctl = arg;
	struct ps_ctl_waiter	*w;

	if (ctl->saving) {
		ctl_saved(ctl, path, cause);
		return;
	}
	ctl->stop_final = 0;
	if (ctl->final_due && path == NULL && !ctl->final_failed) {
		ps_log_error("final checkpoint failed: %s: the model is not "
		    "saved", cause != NULL ? cause : "?");
		ctl->final_failed = 1;
	}
	if (path == NULL)
		path = ctl->final_path;
	while ((w = TAILQ_FIRST(&ctl->stop_waiters)) != NULL) {
		TAILQ_REMOVE(&ctl->stop_waiters, w, entry);
		ctl_send(ctl, w->c, ps_ctl_reply_ok(w->id,
		    ps_ctl_stop_result(path)));
		free(w);
	}
	if (ctl->link.close_all != NULL)
		ctl->link.close_all(ctl->link.arg);
}

/*
 * Samples every tensor's L2 norm for growth_1m when one is due (every
 * PS_WINDOW_STEP), or, with fresh, starts over: the model is new, and
 * these norms are what growth_reset compares with.
 */
static void
ctl_sample_l2(struct ps_ctlsrv *ctl, int fresh)
{
	struct ps_store	*s = ps_server_store(ctl->srv);
	double		 now = (double)ps_server_now_us() / 1e6, l2;
	size_t		 i, n = ps_store_count(s);

	if (n == 0 || n != ctl->ntensor_rates)
		return;
	if (!fresh && ctl->l2_sampled > 0 &&
	    now - ctl->l2_sampled < PS_WINDOW_STEP)
		return;
	for (i = 0; i < n; i++) {
		l2 = ps_store_l2(s, i);
		if (fresh) {
			ps_history_clear(&ctl->tensor_l2s[i]);
			ctl->tensor_base[i] = l2;
		}
		ps_history_add(&ctl->tensor_l2s[i], l2, now);
	}
	ctl->l2_sampled = now;
}

/*
 * A request rate as STATUS shows it: the smoothed rate, or 0 once the
 * worker has been quiet (no such request since last_us) for three of its
 * own smoothed intervals between them (gap_s), and at least 0.5 s.
 */
static double
ctl_recent(double rate, int64_t last_us, double gap_s, int64_t now)
{
	double	quiet = 3.0 * gap_s;

	if (last_us == 0)
		return 0;
	if (quiet < 0.5)
		quiet = 0.5;
	return (double)(now - last_us) / 1e6 > quiet ? 0 : rate;
}

/* now / then - 1, NAN (null) when then is 0 or not a number. */
static double
ctl_growth(double now, double then)
{
	if (!(then > 0) || isnan(now))
		return NAN;
	return now / then - 1.0;
}

static void
ctl_rates(struct ps_ctlsrv *ctl)
{
	struct ps_server	*srv = ctl->srv;
	struct ps_store		*s = ps_server_store(srv);
	struct ps_counters	*total = ps_server_counters(srv);
	struct ps_worker	*w;
	double			 now = (double)ps_server_now_us() / 1e6;
	size_t			 i;

	ps_rate_update(&ctl->pushes, total->pushes, now);
	ps_rate_update(&ctl->pulls, total->pulls, now);
	ps_rate_update(&ctl->bytes_in, total->bytes_in, now);
	ps_rate_update(&ctl->bytes_out, total->bytes_out, now);
	for (i = 0; i < ctl->ntensor_rates && i < ps_store_count(s); i++)
		ps_rate_update(&ctl->tensor_rates[i],
		    ps_store_tensor(s, i)->steps, now);
	TAILQ_FOREACH(w, ps_server_workers(srv), entry) {
		if (!w->rates_init) {
			ps_rate_init(&w->push_rate, PS_RATE_TAU);
			ps_rate_init(&w->pull_rate, PS_RATE_TAU);
			w->rates_init = 1;
		}
		ps_rate_update(&w->push_rate, w->c.pushes, now);
		ps_rate_update(&w->pull_rate, w->c.pulls, now);
		ps_history_add(&w->push_hist, (double)w->c.pushes, now);
	}
	ctl_sample_l2(ctl, 0);
}

/* Every second: rates, and the periodic checkpoint when it is due. */
static void
ctl_tick(void *arg, int64_t now)
{
	struct ps_ctlsrv	*ctl = arg;
	struct ps_server	*srv = ctl->srv;
	struct ps_store		*s = ps_server_store(srv);
	const char		*code;
	char			*cause = NULL;

	ctl_rates(ctl);
	if (ctl->o.ckpt_every > 0 && ctl->o.ckpt_dir != NULL &&
	    ps_server_state(srv) == PS_SERVER_SERVING && !ps_store_empty(s) &&
	    now - ctl->last_periodic_us >= (int64_t)ctl->o.ckpt_every * 1000000) {
		ctl->last_periodic_us = now;
		if (ps_store_version(s) == ctl->periodic_version)
			ps_log_debug("periodic checkpoint skipped: model "
			    "version %llu is saved",
			    (unsigned long long)ctl->periodic_version);
		else if (ps_ckptjob_save(ctl->jobs, PS_JOB_PERIODIC, NULL, 0,
		    &code, &cause) == NULL) {
			ps_log_warn("periodic checkpoint: %s", cause);
			free(cause);
		} else
			ctl->periodic_version = ps_store_version(s);
	}
}

void
ps_ctlsrv_status(struct ps_ctlsrv *ctl, struct ps_ctl_status *st)
{
	struct ps_server	*srv = ctl->srv;
	struct ps_store		*s = ps_server_store(srv);
	const struct ps_server_opts *o = ps_server_opts(srv);
	struct ps_counters	*total = ps_server_counters(srv);
	const struct ps_tensor	*t;
	struct ps_ctl_tensor	*ts;
	struct ps_ctl_worker	*ws;
	struct ps_ctl_count	*rej;
	struct ps_mode		*mode = ps_server_mode(srv);
	struct ps_worker	*w;
	struct ps_ctl_round	*rd = &st->round;
	struct ps_server_usage	 use;
	const struct ps_server_block *blocks;
	struct ps_ctl_block	*bl;
	size_t			 nb;
	int64_t			 now = ps_server_now_us(), started;
	uint64_t		 maxclock = 0, *ids;
	double			 tnow = (double)now / 1e6, t0, v0;
	size_t			 i, n;

	memset(st, 0, sizeof *st);
	st->version = PSCTL_VERSION;
	st->listen = ps_server_listen(srv);
	st->uptime_s = (double)(now - ps_server_started_us(srv)) / 1e6;
	if (ps_server_state(srv) >= PS_SERVER_DRAINING)
		st->state = "draining";
	else if (ps_store_empty(s))
		st->state = "empty";
	else
		st->state = "serving";
	st->mode = ps_mode_kind_name(o->mode);
	st->rule_params = *ps_store_rule(s);
	st->rule = ps_rule_name(st->rule_params.kind);
	st->sync_workers = o->mode == PS_MODE_SYNC ? o->workers : 0;
	st->workers_expected = st->sync_workers;
	st->staleness = o->mode == PS_MODE_SSP ?
	    (int64_t)o->staleness : -1;
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
		ts[i].growth_1m = ts[i].growth_reset = NAN;
		if (i < ctl->ntensor_rates)
			ts[i].updates_per_s = ps_rate_get(&ctl->tensor_rates[i]);
		if (i >= ctl->ntensor_rates || n != ctl->ntensor_rates)
			continue;
		ts[i].growth_reset = ctl_growth(ts[i].l2_norm,
		    ctl->tensor_base[i]);
		if (ps_history_minute(&ctl->tensor_l2s[i], tnow, &t0, &v0) == 0) {
			ts[i].growth_1m = ctl_growth(ts[i].l2_norm, v0);
			st->growth_window_s = tnow - t0;
		}
	}
	st->tensors = ts;
	st->ntensors = n;
	if (n == 0 || n != ctl->ntensor_rates ||
	    ps_history_minute(&ctl->tensor_l2s[0], tnow, &t0, &v0) != 0)
		st->growth_window_s = NAN;
	st->model_l2 = n > 0 ? ps_store_model_l2(s) : 0;
	st->last_update_l2 = ps_store_last_update_l2(s);

	/*
	 * A worker's clock is the mode's: what the ssp bound and the sync
	 * rounds count (a late ssp joiner starts at the slowest live clock),
	 * not its push count.
	 */
	maxclock = ps_mode_max_clock(mode);
	n = 0;
	TAILQ_FOREACH(w, ps_server_workers(srv), entry)
		n++;
	ws = xcalloc(n > 0 ? n : 1, sizeof *ws);
	i = 0;
	TAILQ_FOREACH(w, ps_server_workers(srv), entry) {
		ws[i].id = w->id;
		ws[i].name = w->name != NULL ? w->name : "";
		ws[i].address = w->address;
		ws[i].state = ps_server_worker_state(srv, w, now);
		ws[i].pushes = w->c.pushes;
		ws[i].pulls = w->c.pulls;
		if (w->rates_init) {
			ws[i].pushes_per_s = ctl_recent(ps_rate_get(&w->push_rate),
			    w->last_push_us, w->push_gap_s, now);
			ws[i].pulls_per_s = ctl_recent(ps_rate_get(&w->pull_rate),
			    w->last_pull_us, w->pull_gap_s, now);
		}
		ws[i].pushes_per_s_1m = NAN;
		if (ps_history_minute(&w->push_hist, tnow, &t0, &v0) == 0 &&
		    tnow - t0 >= 1.0)
			ws[i].pushes_per_s_1m = ((double)w->c.pushes - v0) /
			    (tnow - t0);
		ws[i].update_l2 = w->last_push_us != 0 ? w->update_l2 : NAN;
		ws[i].update_l2_max = ps_winmax_get(&w->update_l2_max, tnow);
		ws[i].last_push_s = w->last_push_us != 0 ?
		    (double)(now - w->last_push_us) / 1e6 : NAN;
		ws[i].clock = ps_mode_clock(mode, w->id);
		ws[i].lag = w->conn != NULL ?
		    (int64_t)maxclock - (int64_t)ws[i].clock : 0;
		ws[i].last_seen_s = (double)(now - w->last_seen_us) / 1e6;
		ws[i].bytes_in = w->c.bytes_in;
		ws[i].bytes_out = w->c.bytes_out;
		i++;
	}
	st->workers = ws;
	st->nworkers = n;
	st->workers_connected = ps_server_workers_connected(srv);

	/* sync: the round, and whom it waits for once someone pushed. */
	if (o->mode == PS_MODE_SYNC) {
		rd->present = 1;
		rd->number = ps_mode_rounds(mode) + 1;
		started = ps_server_round_started_us(srv);
		ids = xcalloc(n > 0 ? n : 1, sizeof *ids);
		rd->waiting_on = ids;
		if (started != 0) {
			rd->waiting_s = (double)(now - started) / 1e6;
			TAILQ_FOREACH(w, ps_server_workers(srv), entry) {
				if (w->conn != NULL &&
				    ps_mode_live(mode, w->id) &&
				    !ps_mode_in_round(mode, w->id))
					ids[rd->nwaiting++] = w->id;
			}
		}
	}

	/* The operators' blocks: the server's own, borrowed. */
	blocks = ps_server_blocks(srv, &nb);
	if (nb > 0) {
		st->blocked = bl = xcalloc(nb, sizeof *bl);
		for (i = 0; i < nb; i++) {
			bl[i].id = blocks[i].id;
			bl[i].name = blocks[i].name;
		}
		st->nblocked = nb;
	}

	st->pushes_total = total->pushes;
	st->pulls_total = total->pulls;
	/* Refused pushes, by the worker protocol's error names. */
	st->rejected_total = total->push_rejects;
	rej = xcalloc(PS_SERVER_NCODES, sizeof *rej);
	n = 0;
	for (i = 1; i < PS_SERVER_NCODES; i++) {
		if (total->push_reject_codes[i] == 0)
			continue;
		rej[n].name = ps_errcode_name((int)i);
		rej[n].n = total->push_reject_codes[i];
		n++;
	}
	st->rejected = rej;
	st->nrejected = n;
	st->pushes_per_s = ps_rate_get(&ctl->pushes);
	st->pulls_per_s = ps_rate_get(&ctl->pulls);
	st->bytes_in_per_s = ps_rate_get(&ctl->bytes_in);
	st->bytes_out_per_s = ps_rate_get(&ctl->bytes_out);
	st->bytes_in_total = total->bytes_in;
	st->bytes_out_total = total->bytes_out;
	st->resets_total = ps_server_resets(srv);
	ps_server_usage(srv, &use);
	st->usage.present = 1;
	st->usage.rx_budget = use.rx_budget;
	st->usage.rx_inflight = use.rx_inflight;
	st->usage.rx_paused = use.rx_paused;
	st->usage.sock_budget = use.sock_budget;
	st->usage.sock_bytes = use.sock_bytes;
	st->usage.sock_large = use.sock_large;
	st->usage.accept_refused = use.accept_refused;
	st->usage.accept_paused = use.accept_paused;

	st->apply_seconds = ps_server_apply_hist(srv);
	ps_ckptjob_status(ctl->jobs, st, now);
}

void
ps_ctlsrv_status_free(struct ps_ctl_status *st)
{
	free((void *)st->tensors);
	free((void *)st->workers);
	free((void *)st->rejected);
	free((void *)st->round.waiting_on);
	free((void *)st->blocked);
	memset(st, 0, sizeof *st);
}
