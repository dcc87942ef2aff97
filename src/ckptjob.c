/*
 * Checkpoint writes and reset loads, one at a time on a worker thread, so
 * that serving stalls only for the snapshot: one copy of the model taken on
 * the service thread (into a reusable snapshot store after the first, so a
 * memcpy without page faults).  The thread reports back through
 * ps_server_wakeup(); ps_ckptjob_poll(), from the control plane's wake
 * hook, then finishes the job on the service thread: counters, pruning,
 * replies, the reset itself.
 *
 * Everything here runs on the service thread except job_main().
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkpoint.h"
#include "ckptjob.h"
#include "ckptdir.h"
#include "control.h"
#include "ctlsrv.h"
#include "log.h"
#include "mode.h"
#include "server.h"
#include "store.h"
#include "ws-control.h"
#include "xmalloc.h"

static void	*job_main(void *);
static int	 job_snap_fits(const struct ps_store *, const struct ps_store *);
static void	 job_snap_copy(struct ps_store *, const struct ps_store *);
static void	 job_snapshot(struct ps_ctlsrv *, struct ps_job *);
static struct ps_job *job_new(struct ps_ctlsrv *, enum ps_job_kind,
		     enum ps_job_why);
static void	 job_free(struct ps_ctlsrv *, struct ps_job *);
static void	 job_start(struct ps_ctlsrv *, struct ps_job *);
static void	 job_kick(struct ps_ctlsrv *);
static void	 job_finish_save(struct ps_ctlsrv *, struct ps_job *);
static void	 job_finish_load(struct ps_ctlsrv *, struct ps_job *);
static void	 job_reply_error(struct ps_job *, const char *, const char *,
		     ...) __attribute__((__format__(__printf__, 3, 4)));
static int	 job_reset_memory(struct ps_ctlsrv *, char **);

static double
job_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The worker thread: the slow part of a job, touching only the job. */
static void *
job_main(void *arg)
{
	struct ps_job		*j = arg;
	struct ps_ckpt_extra	 extra;
	struct ps_ckpt_info	 info;
	struct ps_server	*srv;
	struct stat		 sb;
	double			 t0;

	t0 = job_now();
	if (j->kind == PS_JOB_SAVE) {
		memset(&extra, 0, sizeof extra);
		extra.mode = j->mode;
		j->ok = ps_ckpt_save(j->store, j->path, &extra, &j->cause) == 0;
		if (j->ok && stat(j->path, &sb) == 0)
			j->bytes = (uint64_t)sb.st_size;
	} else {
		memset(&info, 0, sizeof info);
		j->store = ps_ckpt_load(j->path, &j->rule, &info, &j->cause);
		j->ok = j->store != NULL;
		j->notfound = !j->ok && info.error == PS_CKPT_E_NOFILE;
		j->invalid = !j->ok && info.error == PS_CKPT_E_INVALID;
	}
	j->seconds = job_now() - t0;
	srv = j->srv;
	atomic_store(&j->done, 1);
	/* j may be freed from here on; the server outlives the thread. */
	ps_server_wakeup(srv);
	return NULL;
}

/* 1 when dst has src's tensors, names and state buffers. */
static int
job_snap_fits(const struct ps_store *dst, const struct ps_store *src)
{
	const struct ps_tensor	*a, *b;
	size_t			 i;

	if (ps_store_count(dst) != ps_store_count(src) ||
	    ps_store_rule(dst)->kind != ps_store_rule(src)->kind)
		return 0;
	for (i = 0; i < ps_store_count(src); i++) {
		a = ps_store_tensor(dst, i);
		b = ps_store_tensor(src, i);
		if (a->n != b->n || a->namelen != b->namelen ||
		    memcmp(a->name, b->name, a->namelen) != 0 ||
		    (a->m == NULL) != (b->m == NULL) ||
		    (a->v == NULL) != (b->v == NULL))
			return 0;
	}
	return 1;
}

/* Copies what a checkpoint holds from src into dst (job_snap_fits). */
static void
job_snap_copy(struct ps_store *dst, const struct ps_store *src)
{
	const struct ps_tensor	*b;
	struct ps_tensor	*a;
	size_t			 i, bytes;

	for (i = 0; i < ps_store_count(src); i++) {
		a = ps_store_tensor_mut(dst, i);
		b = ps_store_tensor(src, i);
		bytes = b->n * sizeof (float);
		memcpy(a->data, b->data, bytes);
		if (b->m != NULL)
			memcpy(a->m, b->m, bytes);
		if (b->v != NULL)
			memcpy(a->v, b->v, bytes);
		a->version = b->version;
		a->steps = b->steps;
		a->update_l2 = b->update_l2;
		a->l2 = b->l2;
		a->l2_stale = b->l2_stale;
	}
	ps_store_set_version(dst, ps_store_version(src));
}

static struct ps_job *
job_new(struct ps_ctlsrv *ctl, enum ps_job_kind kind, enum ps_job_why why)
{
	struct ps_job	*j;

	j = xcalloc(1, sizeof *j);
	j->kind = kind;
	j->why = why;
	j->queued_us = ps_server_now_us();
	atomic_init(&j->done, 0);
	TAILQ_INIT(&j->waiters);
	snprintf(j->mode, sizeof j->mode, "%s",
	    ps_mode_kind_name(ctl->srv->o.mode));
	return j;
}

static void
job_free(struct ps_ctlsrv *ctl, struct ps_job *j)
{
	struct ps_ctl_waiter	*w;

	while ((w = TAILQ_FIRST(&j->waiters)) != NULL) {
		TAILQ_REMOVE(&j->waiters, w, entry);
		free(w);
	}
	if (j->snap_reused)
		ctl->snap_busy = 0;
	else if (j->store != NULL) {
		/* Keep the first fresh snapshot to copy into next time. */
		if (j->kind == PS_JOB_SAVE && ctl->snap == NULL &&
		    ps_server_state(ctl->srv) == PS_SERVER_SERVING)
			ctl->snap = j->store;
		else
			ps_store_free(j->store);
	}
	free(j->path);
	free(j->name);
	free(j->from);
	free(j->cause);
	free(j);
}

struct ps_job *
ps_ckptjob_save(struct ps_ctlsrv *ctl, enum ps_job_why why, const char *name,
    const char **code, char **cause)
{
	struct ps_server	*srv = ctl->srv;
	struct ps_job		*j;

	*code = NULL;
	if (ctl->o.ckpt_dir == NULL) {
		*code = PS_CTL_E_NO_CKPT_DIR;
		*cause = xstrdup("the server has no --checkpoint-dir");
		return NULL;
	}
	if (ps_store_empty(srv->store)) {
		*code = PS_CTL_E_NO_MODEL;
		*cause = xstrdup("there is no model yet");
		return NULL;
	}
	if (name != NULL && why != PS_JOB_INITIAL &&
	    strcmp(name, PS_CKPTDIR_INITIAL) == 0) {
		*code = PS_CTL_E_BAD_REQUEST;
		*cause = xstrdup("\"initial\" names the model as first "
		    "created; choose another name");
		return NULL;
	}
	if ((why == PS_JOB_REQUEST || why == PS_JOB_PERIODIC) &&
	    ctl->njobs > PS_CTL_JOBS_MAX) {
		*code = PS_CTL_E_BUSY;
		*cause = xasprintf("%zu checkpoint jobs are already waiting",
		    ctl->njobs);
		return NULL;
	}
	if (ps_server_state(srv) >= PS_SERVER_DRAINING && why != PS_JOB_FINAL) {
		*code = PS_CTL_E_SHUTTING_DOWN;
		*cause = xstrdup("the server is stopping");
		return NULL;
	}

	j = job_new(ctl, PS_JOB_SAVE, why);
	if (name != NULL)
		j->name = xstrdup(name);
	/*
	 * While the kept snapshot is being written, a requested or periodic
	 * checkpoint waits for it and copies the model when its turn comes:
	 * a fresh clone would stall serving for page faults as well as the
	 * copy.  The initial and final ones capture the model now.
	 */
	if ((why == PS_JOB_REQUEST || why == PS_JOB_PERIODIC) &&
	    ctl->snap != NULL && ctl->snap_busy &&
	    job_snap_fits(ctl->snap, srv->store))
		j->deferred = 1;
	else
		job_snapshot(ctl, j);
	TAILQ_INSERT_TAIL(&ctl->jobs, j, entry);
	ctl->njobs++;
	job_kick(ctl);
	return j;
}

/*
 * The one stall: a copy of the live model on the service thread, into the
 * kept snapshot when it is free, else a clone.  Names j's file.
 */
static void
job_snapshot(struct ps_ctlsrv *ctl, struct ps_job *j)
{
	struct ps_server	*srv = ctl->srv;
	char			 autoname[64];
	const char		*name = j->name;
	int64_t			 t0;

	j->version = ps_store_version(srv->store);
	if (name == NULL) {
		ps_ckptdir_auto_name(j->version, autoname, sizeof autoname);
		name = autoname;
	}
	free(j->path);
	j->path = xasprintf("%s/%s", ctl->o.ckpt_dir, name);
	t0 = ps_server_now_us();
	if (ctl->snap != NULL && !ctl->snap_busy &&
	    job_snap_fits(ctl->snap, srv->store)) {
		job_snap_copy(ctl->snap, srv->store);
		j->store = ctl->snap;
		j->snap_reused = 1;
		ctl->snap_busy = 1;
	} else
		j->store = ps_server_snapshot(srv);
	j->deferred = 0;
	ps_log_debug("checkpoint %s: snapshot of version %llu took %.3f ms "
	    "(%s)", j->path, (unsigned long long)j->version,
	    (double)(ps_server_now_us() - t0) / 1e3,
	    j->snap_reused ? "copy" : "clone");
}

/* Resets to the copy kept in memory; 0 or -1 with *cause. */
static int
job_reset_memory(struct ps_ctlsrv *ctl, char **cause)
{
	struct ps_server	*srv = ctl->srv;

	if (srv->initial == NULL) {
		*cause = xstrdup("no checkpoint written and no initial model "
		    "kept");
		return -1;
	}
	return ps_server_reset(srv, ps_store_clone(srv->initial), cause);
}

struct ps_job *
ps_ckptjob_reset(struct ps_ctlsrv *ctl, const char *name, const char **code,
    char **cause, uint64_t *version, const char **from)
{
	struct ps_server	*srv = ctl->srv;
	struct ps_job		*j;

	*code = NULL;
	if (ps_store_empty(srv->store)) {
		*code = PS_CTL_E_NO_MODEL;
		*cause = xstrdup("there is no model yet");
		return NULL;
	}
	if (ps_server_state(srv) >= PS_SERVER_DRAINING) {
		*code = PS_CTL_E_SHUTTING_DOWN;
		*cause = xstrdup("the server is stopping");
		return NULL;
	}
	if (name != NULL && ctl->o.ckpt_dir == NULL &&
	    strcmp(name, PS_CKPTDIR_INITIAL) != 0) {
		*code = PS_CTL_E_NO_CKPT_DIR;
		*cause = xstrdup("the server has no --checkpoint-dir");
		return NULL;
	}
	/* Without a directory the initial model is the copy in memory. */
	if (ctl->o.ckpt_dir == NULL) {
		if (job_reset_memory(ctl, cause) != 0) {
			*code = PS_CTL_E_NOT_FOUND;
			return NULL;
		}
		*version = ps_store_version(srv->store);
		*from = "initial";
		ps_log_info("reset to the initial model: version %llu",
		    (unsigned long long)*version);
		return NULL;
	}
	if (ctl->njobs > PS_CTL_JOBS_MAX) {
		*code = PS_CTL_E_BUSY;
		*cause = xasprintf("%zu checkpoint jobs are already waiting",
		    ctl->njobs);
		return NULL;
	}
	j = job_new(ctl, PS_JOB_LOAD, PS_JOB_REQUEST);
	j->rule = *ps_store_rule(srv->store);
	/* A name is resolved now; "the newest" when the job starts. */
	if (name != NULL)
		j->path = xasprintf("%s/%s", ctl->o.ckpt_dir, name);
	TAILQ_INSERT_TAIL(&ctl->jobs, j, entry);
	ctl->njobs++;
	job_kick(ctl);
	return j;
}

void
ps_ckptjob_wait(struct ps_job *j, struct ps_ctlconn *c, json_int_t id,
    enum ps_ctl_cmd cmd)
{
	struct ps_ctl_waiter	*w;

	w = xcalloc(1, sizeof *w);
	w->c = c;
	w->id = id;
	w->cmd = cmd;
	TAILQ_INSERT_TAIL(&j->waiters, w, entry);
}

void
ps_ckptjob_forget(struct ps_ctlsrv *ctl, struct ps_ctlconn *c)
{
	struct ps_job		*j;
	struct ps_ctl_waiter	*w;

	TAILQ_FOREACH(j, &ctl->jobs, entry) {
		TAILQ_FOREACH(w, &j->waiters, entry) {
			if (w->c == c)
				w->c = NULL;
		}
	}
	TAILQ_FOREACH(w, &ctl->stop_waiters, entry) {
		if (w->c == c)
			w->c = NULL;
	}
}

static void
job_reply_error(struct ps_job *j, const char *code, const char *fmt, ...)
{
	struct ps_ctl_waiter	*w;
	va_list			 ap;
	char			*msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	TAILQ_FOREACH(w, &j->waiters, entry) {
		if (w->c != NULL)
			ps_ctlconn_send(w->c, ps_ctl_reply_error(1, w->id, code,
			    "%s", msg));
	}
	free(msg);
}

/*
 * Starts the head job if it has not started, without finishing anything:
 * the caller still holds the job it queued (to add waiters to).  Every
 * job that ends wakes the loop, whose ps_ckptjob_poll() finishes it.
 */
static void
job_kick(struct ps_ctlsrv *ctl)
{
	struct ps_job	*j = TAILQ_FIRST(&ctl->jobs);

	if (j != NULL && !j->started &&
	    ps_server_state(ctl->srv) != PS_SERVER_STARTING)
		job_start(ctl, j);
}

/* Starts j's thread, or ends at once what needs none. */
static void
job_start(struct ps_ctlsrv *ctl, struct ps_job *j)
{
	struct ps_server	*srv = ctl->srv;
	int			 error;

	if (j->kind == PS_JOB_SAVE && j->deferred)
		job_snapshot(ctl, j);
	if (j->kind == PS_JOB_LOAD && j->path == NULL) {
		if (ctl->newest != NULL)
			j->path = xstrdup(ctl->newest);
		else {
			/* Nothing written: the initial copy, if kept. */
			j->ok = job_reset_memory(ctl, &j->cause) == 0;
			j->from = xstrdup("initial");
			j->notfound = !j->ok;
			j->started = 1;
			atomic_store(&j->done, 1);
			ps_server_wakeup(srv);
			return;
		}
	}
	j->srv = srv;
	j->started = 1;
	error = pthread_create(&j->thread, NULL, job_main, j);
	if (error != 0) {
		j->ok = 0;
		j->cause = xasprintf("cannot start a thread: %s",
		    strerror(error));
		atomic_store(&j->done, 1);
		ps_server_wakeup(srv);
	} else
		j->joinable = 1;
}

static void
job_finish_save(struct ps_ctlsrv *ctl, struct ps_job *j)
{
	struct ps_ctl_waiter	*w;
	char			*cause = NULL;
	int			 n;

	ctl->have_last = 1;
	ctl->last_ok = j->ok;
	ctl->last_seconds = j->seconds;
	ctl->last_done_us = ps_server_now_us();
	free(ctl->last_error);
	ctl->last_error = NULL;
	if (!j->ok) {
		ctl->ckpt_failed++;
		ctl->last_error = xstrdup(j->cause != NULL ? j->cause : "?");
		ps_log_error("checkpoint %s failed: %s", j->path,
		    ctl->last_error);
		job_reply_error(j, PS_CTL_E_IO, "checkpoint failed: %s",
		    ctl->last_error);
		return;
	}
	ctl->ckpt_count++;
	ps_hist_observe(&ctl->ckpt_seconds, j->seconds);
	free(ctl->last_path);
	ctl->last_path = xstrdup(j->path);
	free(ctl->newest);
	ctl->newest = xstrdup(j->path);
	if (j->why == PS_JOB_INITIAL)
		ctl->initial_file = 1;
	ps_log_info("checkpoint %s: model version %llu, %llu bytes in "
	    "%.3f s", j->path, (unsigned long long)j->version,
	    (unsigned long long)j->bytes, j->seconds);
	if (ctl->o.keep > 0) {
		n = ps_ckptdir_prune(ctl->o.ckpt_dir, ctl->o.keep, &cause);
		if (n < 0) {
			ps_log_warn("--keep %u: %s", ctl->o.keep, cause);
			free(cause);
		} else if (n > 0)
			ps_log_info("--keep %u: removed %d older checkpoints",
			    ctl->o.keep, n);
	}
	TAILQ_FOREACH(w, &j->waiters, entry) {
		if (w->c == NULL)
			continue;
		ps_ctlconn_send(w->c, ps_ctl_reply_ok(w->id,
		    ps_ctl_checkpoint_result(j->path, j->version, j->bytes,
		    j->seconds)));
	}
}

static void
job_finish_load(struct ps_ctlsrv *ctl, struct ps_job *j)
{
	struct ps_server	*srv = ctl->srv;
	struct ps_ctl_waiter	*w;
	const char		*from;
	char			*cause = NULL;

	from = j->from != NULL ? j->from : j->path;
	if (j->ok && j->store != NULL) {
		if (ps_server_reset(srv, j->store, &cause) != 0) {
			j->store = NULL;	/* freed by ps_server_reset */
			ps_log_warn("reset from %s refused: %s", from, cause);
			job_reply_error(j, PS_CTL_E_MISMATCH, "%s: %s", from,
			    cause);
			free(cause);
			return;
		}
		j->store = NULL;	/* the server's now */
	}
	if (!j->ok) {
		ps_log_warn("reset from %s failed: %s", from,
		    j->cause != NULL ? j->cause : "?");
		job_reply_error(j, j->notfound ? PS_CTL_E_NOT_FOUND :
		    j->invalid ? PS_CTL_E_BAD_REQUEST : PS_CTL_E_IO, "%s",
		    j->cause != NULL ? j->cause : "reset failed");
		return;
	}
	ps_log_info("reset to %s: model version %llu", from,
	    (unsigned long long)ps_store_version(srv->store));
	TAILQ_FOREACH(w, &j->waiters, entry) {
		if (w->c == NULL)
			continue;
		ps_ctlconn_send(w->c, ps_ctl_reply_ok(w->id,
		    ps_ctl_reset_result(from, ps_store_version(srv->store))));
	}
}

void
ps_ckptjob_poll(struct ps_ctlsrv *ctl)
{
	struct ps_job	*j;
	enum ps_job_why	 why;

	while ((j = TAILQ_FIRST(&ctl->jobs)) != NULL) {
		if (!j->started) {
			if (ps_server_state(ctl->srv) == PS_SERVER_STARTING)
				return;
			job_start(ctl, j);
		}
		if (!atomic_load(&j->done))
			return;
		if (j->joinable)
			pthread_join(j->thread, NULL);
		TAILQ_REMOVE(&ctl->jobs, j, entry);
		ctl->njobs--;
		why = j->why;
		if (j->kind == PS_JOB_SAVE)
			job_finish_save(ctl, j);
		else
			job_finish_load(ctl, j);
		if (why == PS_JOB_FINAL)
			ps_ctlsrv_final_done(ctl, j->ok ? j->path : NULL);
		job_free(ctl, j);
	}
}

void
ps_ckptjob_drain(struct ps_ctlsrv *ctl)
{
	struct ps_job	*j;

	while ((j = TAILQ_FIRST(&ctl->jobs)) != NULL) {
		if (j->joinable)
			pthread_join(j->thread, NULL);
		TAILQ_REMOVE(&ctl->jobs, j, entry);
		ctl->njobs--;
		if (j->kind == PS_JOB_LOAD && j->store != NULL) {
			ps_store_free(j->store);
			j->store = NULL;
		}
		job_free(ctl, j);
	}
}
