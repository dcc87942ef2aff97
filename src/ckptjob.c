/*
 * Checkpoint writes and reset loads, one at a time on a worker thread, so
 * that serving stalls only for the snapshot, taken on the service thread:
 * the pull body of the model's version (ps_server_model_body(): made
 * once per version and shared with every pull, so often made already)
 * and a copy of the rest (ps_store_clone_meta(): names, versions and the
 * optimizer state, not the values).  One immutable copy of each version
 * thus serves pulls and checkpoints; the body stays alive until the file
 * is written, and a version's body is made fresh only when the model
 * changed and someone pulls while one is written.  The thread reports
 * back through ps_server_wakeup(); ps_ckptjob_poll(), from the control
 * plane's wake hook, then finishes the job on the service thread:
 * counters, pruning, replies, the reset itself.
 *
 * Without a checkpoint directory, the initial model goes into an unlinked
 * temporary file, written once by the same thread from what the server
 * kept of it (ps_server_take_initial(): no copy of the values, which are
 * the pull body of its version), and a reset to it is a load of that file
 * like any other.  Chosen over the copy in memory resets used to start
 * from: that was a third model's size for the whole life of the server.
 *
 * Everything here runs on the service thread except job_main().
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "ckptjob.h"
#include "ckptdir.h"
#include "control.h"
#include "log.h"
#include "metrics.h"
#include "mode.h"
#include "sendq.h"
#include "server.h"
#include "store.h"
#include "xmalloc.h"

/* The jobs of one server, and what they leave for STATUS. */
struct ps_ckptjobs {
	struct ps_server	*srv;		/* borrowed */
	const char		*dir;		/* borrowed; NULL: no directory */
	unsigned		 keep;		/* --keep; 0: all */
	ps_ckptjob_send_fn	*send;		/* the control protocol's */
	void			(*final)(void *, const char *,
				    const char *);
	void			*arg;

	struct ps_jobs		 jobs;		/* head runs; the rest wait */
	size_t			 njobs;

	struct ps_hist		 seconds;	/* time to write each */
	uint64_t		 count;		/* written */
	uint64_t		 failed;
	int			 have_last;
	int			 last_ok;
	char			*last_path;	/* owned */
	char			*last_error;	/* owned */
	double			 last_seconds;
	int64_t			 last_done_us;
	char			*newest;	/* owned: newest written by us */
	int			 newest_initial; /* newest is the initial one */
	enum {
		INITIAL_NONE = 0,	/* no model yet, or not queued */
		INITIAL_QUEUED,
		INITIAL_WRITTEN,
		INITIAL_FAILED
	}			 initial;	/* this server's initial file */
	char			*initial_error;	/* owned: why it failed */
	/* No directory: where the initial model is (ps_ckptjob_keep_initial). */
	char			*tmpdir;	/* owned: $TMPDIR or /var/tmp */
	int			 initial_fd;	/* the unlinked file, or -1 */
	struct ps_store		*mem_meta;	/* owned: else in memory, */
	struct ps_buf		*mem_body;	/* owned ref: with its values */
};

static void	*job_main(void *);
static int	 job_snapshot(struct ps_ckptjobs *, struct ps_job *);
static struct ps_job *job_new(struct ps_ckptjobs *, enum ps_job_kind,
		     enum ps_job_why);
static void	 job_free(struct ps_ckptjobs *, struct ps_job *);
static void	 job_start(struct ps_ckptjobs *, struct ps_job *);
static void	 job_kick(struct ps_ckptjobs *);
static void	 job_finish_save(struct ps_ckptjobs *, struct ps_job *);
static void	 job_finish_load(struct ps_ckptjobs *, struct ps_job *);
static void	 job_reply_error(struct ps_ckptjobs *, struct ps_job *,
		     const char *, const char *, ...)
		     __attribute__((__format__(__printf__, 4, 5)));
static void	 job_send(struct ps_ckptjobs *, struct ps_ctlconn *, char *);
static int	 job_reset_memory(struct ps_ckptjobs *, char **);
static int	 job_tmpfile(const char *, char **);
static int	 job_write_scratch(struct ps_job *);
static void	 job_finish_initial(struct ps_ckptjobs *, struct ps_job *);
static void	 job_join(struct ps_job *);

struct ps_ckptjobs *
ps_ckptjob_new(struct ps_server *srv, const char *dir, unsigned keep,
    void (*final)(void *, const char *, const char *), void *arg)
{
	struct ps_ckptjobs	*cj;
	const char		*tmpdir;

	cj = xcalloc(1, sizeof *cj);
	cj->srv = srv;
	cj->dir = dir;
	cj->keep = keep;
	cj->final = final;
	cj->arg = arg;
	TAILQ_INIT(&cj->jobs);
	ps_hist_init(&cj->seconds, ps_hist_ckpt_bounds, ps_hist_ckpt_nbounds);
	cj->initial_fd = -1;
	if (dir == NULL) {
		/*
		 * /var/tmp, not /tmp: it is meant for large files and is on
		 * a disk, where /tmp is often a tmpfs, that is memory again.
		 */
		tmpdir = getenv("TMPDIR");
		cj->tmpdir = xstrdup(tmpdir != NULL && *tmpdir != '\0' ?
		    tmpdir : "/var/tmp");
	}
	return cj;
}

void
ps_ckptjob_free(struct ps_ckptjobs *cj)
{
	if (cj == NULL)
		return;
	ps_ckptjob_drain(cj);
	free(cj->last_path);
	free(cj->last_error);
	free(cj->newest);
	free(cj->initial_error);
	/* The file goes with its last descriptor: it has no name. */
	if (cj->initial_fd != -1)
		close(cj->initial_fd);
	ps_store_free(cj->mem_meta);
	ps_buf_unref(cj->mem_body);
	free(cj->tmpdir);
	free(cj);
}

void
ps_ckptjob_set_send(struct ps_ckptjobs *cj, ps_ckptjob_send_fn *send)
{
	cj->send = send;
}

int
ps_ckptjob_initial_written(const struct ps_ckptjobs *cj)
{
	return cj->initial == INITIAL_WRITTEN;
}

int
ps_ckptjob_busy(const struct ps_ckptjobs *cj)
{
	return cj->njobs > 0;
}

void
ps_ckptjob_status(const struct ps_ckptjobs *cj, struct ps_ctl_status *st,
    int64_t now)
{
	const struct ps_job	*j = TAILQ_FIRST(&cj->jobs);

	st->checkpoint.dir = cj->dir;
	st->checkpoint.in_progress = j != NULL && j->kind == PS_JOB_SAVE &&
	    !j->scratch;
	st->checkpoint.count = cj->count;
	st->checkpoint.failed = cj->failed;
	st->checkpoint.last_path = cj->last_path;
	st->checkpoint.have_last = cj->have_last;
	st->checkpoint.last_ok = cj->last_ok;
	st->checkpoint.last_error = cj->last_error;
	st->checkpoint.last_seconds = cj->last_seconds;
	st->checkpoint.last_age_s = (double)(now - cj->last_done_us) / 1e6;
	st->checkpoint_seconds = &cj->seconds;
}

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
	if (j->kind == PS_JOB_SAVE && j->scratch)
		j->ok = job_write_scratch(j) == 0;
	else if (j->kind == PS_JOB_SAVE) {
		memset(&extra, 0, sizeof extra);
		extra.mode = j->mode;
		j->ok = ps_ckpt_save_values(j->store, j->values, j->path,
		    &extra, &j->cause) == 0;
		if (j->ok && stat(j->path, &sb) == 0)
			j->bytes = (uint64_t)sb.st_size;
	} else {
		memset(&info, 0, sizeof info);
		if (j->fd != -1)
			j->store = ps_ckpt_load_fd(j->fd, &j->rule, &info,
			    &j->cause);
		else
			j->store = ps_ckpt_load(j->path, &j->rule, &info,
			    &j->cause);
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

/*
 * A new file in dir that has no name, so that it goes when the process
 * does, however it ends: O_TMPFILE, or where the file system has none,
 * mkostemp(3) and unlink(2) at once.  The descriptor, or -1 with *cause.
 */
static int
job_tmpfile(const char *dir, char **cause)
{
	char	*path;
	int	 fd, saved;

#ifdef O_TMPFILE
	if ((fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) != -1)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
		*cause = xasprintf("%s: %s", dir, strerror(errno));
		return -1;
	}
#endif
	path = xasprintf("%s/.psctl-initial.XXXXXX", dir);
	if ((fd = mkostemp(path, O_CLOEXEC)) == -1) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	if (unlink(path) != 0) {
		saved = errno;
		close(fd);
		*cause = xasprintf("unlink %s: %s", path, strerror(saved));
		free(path);
		return -1;
	}
	free(path);
	return fd;
}

/* On the job's thread: the initial model into a new file; 0 or -1. */
static int
job_write_scratch(struct ps_job *j)
{
	struct ps_ckpt_extra	extra;
	struct stat		sb;
	int			fd;

	if ((fd = job_tmpfile(j->path, &j->cause)) == -1)
		return -1;
	memset(&extra, 0, sizeof extra);
	extra.mode = j->mode;
	if (ps_ckpt_save_fd(j->store, j->values, fd, &extra, &j->cause) != 0) {
		close(fd);
		return -1;
	}
	if (fstat(fd, &sb) == 0)
		j->bytes = (uint64_t)sb.st_size;
	j->fd = fd;
	return 0;
}

static struct ps_job *
job_new(struct ps_ckptjobs *cj, enum ps_job_kind kind, enum ps_job_why why)
{
	struct ps_job	*j;

	j = xcalloc(1, sizeof *j);
	j->kind = kind;
	j->why = why;
	j->queued_us = ps_server_now_us();
	j->fd = -1;
	atomic_init(&j->done, 0);
	TAILQ_INIT(&j->waiters);
	snprintf(j->mode, sizeof j->mode, "%s",
	    ps_mode_kind_name(ps_server_opts(cj->srv)->mode));
	return j;
}

static void
job_free(struct ps_ckptjobs *cj, struct ps_job *j)
{
	struct ps_ctl_waiter	*w;

	while ((w = TAILQ_FIRST(&j->waiters)) != NULL) {
		TAILQ_REMOVE(&j->waiters, w, entry);
		free(w);
	}
	/* A save's file that was not kept; a load's is the jobs'. */
	if (j->kind == PS_JOB_SAVE && j->fd != -1)
		close(j->fd);
	free(j->values);
	ps_buf_unref(j->body);
	ps_store_free(j->store);
	free(j->path);
	free(j->name);
	free(j->from);
	free(j->cause);
	free(j);
}

/*
 * 1 when the checkpoint name (a file name) exists in the directory or a
 * queued save will write it.
 */
static int
job_name_taken(struct ps_ckptjobs *cj, const char *name)
{
	struct ps_job	*j;
	struct stat	 sb;
	char		*path;
	int		 taken;

	TAILQ_FOREACH(j, &cj->jobs, entry) {
		if (j->kind == PS_JOB_SAVE && j->name != NULL &&
		    strcmp(j->name, name) == 0)
			return 1;
	}
	path = xasprintf("%s/%s", cj->dir, name);
	taken = lstat(path, &sb) == 0;
	free(path);
	return taken;
}

struct ps_job *
ps_ckptjob_save(struct ps_ckptjobs *cj, enum ps_job_why why, const char *name,
    int force, const char **code, char **cause)
{
	struct ps_server	*srv = cj->srv;
	struct ps_job		*j;
	uint64_t		 v;

	*code = NULL;
	if (cj->dir == NULL) {
		*code = PS_CTL_E_NO_CKPT_DIR;
		*cause = xstrdup("the server has no --checkpoint-dir");
		return NULL;
	}
	if (ps_store_empty(ps_server_store(srv))) {
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
	/* The server's own names: --keep deletes them, so no operator's. */
	if (name != NULL && ps_ckptdir_is_auto(name, &v)) {
		*code = PS_CTL_E_BAD_REQUEST;
		*cause = xasprintf("\"%.*s\" has the form of the automatic "
		    "checkpoints (ckpt- and digits), which are the server's "
		    "to name and to delete (--keep); choose another name",
		    (int)(strlen(name) - strlen(PS_CTL_CKPT_SUFFIX)), name);
		return NULL;
	}
	if (name != NULL && why == PS_JOB_REQUEST && !force &&
	    job_name_taken(cj, name)) {
		*code = PS_CTL_E_EXISTS;
		*cause = xasprintf("checkpoint \"%.*s\" exists already in "
		    "%s: choose another name, or force to replace it",
		    (int)(strlen(name) - strlen(PS_CTL_CKPT_SUFFIX)), name,
		    cj->dir);
		return NULL;
	}
	if ((why == PS_JOB_REQUEST || why == PS_JOB_PERIODIC) &&
	    cj->njobs > PS_CKPTJOB_MAX) {
		*code = PS_CTL_E_BUSY;
		*cause = xasprintf("%zu checkpoint jobs are already waiting",
		    cj->njobs);
		return NULL;
	}
	if (ps_server_state(srv) >= PS_SERVER_DRAINING && why != PS_JOB_FINAL) {
		*code = PS_CTL_E_SHUTTING_DOWN;
		*cause = xstrdup("the server is stopping");
		return NULL;
	}

	j = job_new(cj, PS_JOB_SAVE, why);
	if (name != NULL)
		j->name = xstrdup(name);
	if (why == PS_JOB_INITIAL)
		cj->initial = INITIAL_QUEUED;
	/*
	 * Behind another job, a requested or periodic checkpoint takes its
	 * snapshot when its turn comes, so that queued jobs do not each
	 * keep a version of the model alive.  The final one captures the
	 * model now; the initial one is what the server kept of the model
	 * as first created (ps_server_take_initial()), taken when it starts.
	 */
	if (why == PS_JOB_INITIAL || ((why == PS_JOB_REQUEST ||
	    why == PS_JOB_PERIODIC) && cj->njobs > 0))
		j->deferred = 1;
	else
		(void)job_snapshot(cj, j);
	TAILQ_INSERT_TAIL(&cj->jobs, j, entry);
	cj->njobs++;
	job_kick(cj);
	return j;
}

/*
 * The one stall: the snapshot of the live model on the service thread
 * (see the top of this file), or for the initial model what the server
 * kept of it.  Names j's file.  0, or -1 with j->cause (the initial model
 * was not kept).
 */
static int
job_snapshot(struct ps_ckptjobs *cj, struct ps_job *j)
{
	struct ps_server	*srv = cj->srv;
	struct ps_store		*live = ps_server_store(srv);
	char			 autoname[64];
	const char		*name = j->name;
	int64_t			 t0;

	t0 = ps_server_now_us();
	j->deferred = 0;
	if (j->why == PS_JOB_INITIAL) {
		if (ps_server_take_initial(srv, &j->store, &j->body,
		    &j->cause) != 0)
			return -1;
		j->version = ps_store_version(j->store);
	} else {
		j->body = ps_buf_ref(ps_server_model_body(srv, &j->version));
		j->store = ps_store_clone_meta(live);
	}
	j->values = xcalloc(ps_store_count(j->store) > 0 ?
	    ps_store_count(j->store) : 1, sizeof *j->values);
	ps_server_body_values(j->store, j->body, j->values);
	if (j->scratch)
		return 0;
	if (name == NULL) {
		ps_ckptdir_auto_name(j->version, autoname, sizeof autoname);
		name = autoname;
	}
	free(j->path);
	j->path = xasprintf("%s/%s", cj->dir, name);
	ps_log_debug("checkpoint %s: snapshot of version %llu took %.3f ms "
	    "(%s)", j->path, (unsigned long long)j->version,
	    (double)(ps_server_now_us() - t0) / 1e3,
	    j->why == PS_JOB_INITIAL ? "the initial model" : "pull body");
	return 0;
}

/*
 * Resets to the initial model kept in memory (its file could not be
 * written); 0 or -1 with *cause.
 */
static int
job_reset_memory(struct ps_ckptjobs *cj, char **cause)
{
	struct ps_store	*s;
	const float	**values;

	if (cj->mem_meta == NULL) {
		*cause = cj->dir != NULL ? xstrdup("no checkpoint written "
		    "and no initial model kept") : xasprintf("the initial "
		    "model was not kept: %s", cj->initial_error != NULL ?
		    cj->initial_error : "?");
		return -1;
	}
	values = xcalloc(ps_store_count(cj->mem_meta) > 0 ?
	    ps_store_count(cj->mem_meta) : 1, sizeof *values);
	ps_server_body_values(cj->mem_meta, cj->mem_body, values);
	s = ps_store_clone_with(cj->mem_meta, values);
	free(values);
	return ps_server_reset(cj->srv, s, cause);
}

void
ps_ckptjob_keep_initial(struct ps_ckptjobs *cj)
{
	struct ps_job	*j;

	if (cj->dir != NULL || cj->initial != INITIAL_NONE)
		return;
	j = job_new(cj, PS_JOB_SAVE, PS_JOB_INITIAL);
	j->scratch = 1;
	j->deferred = 1;
	j->path = xstrdup(cj->tmpdir);
	cj->initial = INITIAL_QUEUED;
	TAILQ_INSERT_TAIL(&cj->jobs, j, entry);
	cj->njobs++;
	/* Started by ps_ckptjob_poll(), never here: see job_kick(). */
}

struct ps_job *
ps_ckptjob_reset(struct ps_ckptjobs *cj, const char *name, const char **code,
    char **cause)
{
	struct ps_server	*srv = cj->srv;
	struct ps_job		*j;

	*code = NULL;
	if (ps_store_empty(ps_server_store(srv))) {
		*code = PS_CTL_E_NO_MODEL;
		*cause = xstrdup("there is no model yet");
		return NULL;
	}
	if (ps_server_state(srv) >= PS_SERVER_DRAINING) {
		*code = PS_CTL_E_SHUTTING_DOWN;
		*cause = xstrdup("the server is stopping");
		return NULL;
	}
	if (name != NULL && cj->dir == NULL &&
	    strcmp(name, PS_CKPTDIR_INITIAL) != 0) {
		*code = PS_CTL_E_NO_CKPT_DIR;
		*cause = xstrdup("the server has no --checkpoint-dir");
		return NULL;
	}
	if (cj->njobs > PS_CKPTJOB_MAX) {
		*code = PS_CTL_E_BUSY;
		*cause = xasprintf("%zu checkpoint jobs are already waiting",
		    cj->njobs);
		return NULL;
	}
	j = job_new(cj, PS_JOB_LOAD, PS_JOB_REQUEST);
	j->rule = *ps_store_rule(ps_server_store(srv));
	/*
	 * Without a directory, the initial model is all there is.  A name
	 * is resolved now; "the newest" when the job starts.
	 */
	if (cj->dir == NULL) {
		j->scratch = 1;
		j->from = xstrdup("initial");
	} else if (name != NULL) {
		j->path = xasprintf("%s/%s", cj->dir, name);
		if (strcmp(name, PS_CKPTDIR_INITIAL) == 0)
			j->from = xstrdup("initial");
	}
	TAILQ_INSERT_TAIL(&cj->jobs, j, entry);
	cj->njobs++;
	job_kick(cj);
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
ps_ckptjob_forget(struct ps_ckptjobs *cj, struct ps_ctlconn *c)
{
	struct ps_job		*j;
	struct ps_ctl_waiter	*w;

	TAILQ_FOREACH(j, &cj->jobs, entry) {
		TAILQ_FOREACH(w, &j->waiters, entry) {
			if (w->c == c)
				w->c = NULL;
		}
	}
}

/* Sends text (stolen) to a waiting control connection, if it is still open. */
static void
job_send(struct ps_ckptjobs *cj, struct ps_ctlconn *c, char *text)
{
	if (c != NULL && cj->send != NULL)
		cj->send(c, text);
	else
		free(text);
}

static void
job_reply_error(struct ps_ckptjobs *cj, struct ps_job *j, const char *code,
    const char *fmt, ...)
{
	struct ps_ctl_waiter	*w;
	va_list			 ap;
	char			*msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	TAILQ_FOREACH(w, &j->waiters, entry) {
		if (w->c != NULL)
			job_send(cj, w->c, ps_ctl_reply_error(1, w->id, code,
			    "%s", msg));
	}
	free(msg);
}

/*
 * Starts the head job if it has not started, without finishing anything:
 * the caller still holds the job it queued (to add waiters to).  Every
 * job that ends wakes the loop, whose ps_ckptjob_poll() finishes it.
 * The initial model's file is left to ps_ckptjob_poll(), between two
 * services of the loop: its values are the pull body, which, made while
 * an INIT's request still holds the model, would be a third copy.
 */
static void
job_kick(struct ps_ckptjobs *cj)
{
	struct ps_job	*j = TAILQ_FIRST(&cj->jobs);

	if (j != NULL && !j->started && j->why != PS_JOB_INITIAL &&
	    ps_server_state(cj->srv) != PS_SERVER_STARTING)
		job_start(cj, j);
}

/* Ends j at once (ok or not) without a thread; the loop finishes it. */
static void
job_end_now(struct ps_job *j, struct ps_server *srv)
{
	j->started = 1;
	atomic_store(&j->done, 1);
	ps_server_wakeup(srv);
}

/* Starts j's thread, or ends at once what needs none. */
static void
job_start(struct ps_ckptjobs *cj, struct ps_job *j)
{
	struct ps_server	*srv = cj->srv;
	int			 error;

	if (j->kind == PS_JOB_SAVE && j->deferred &&
	    job_snapshot(cj, j) != 0) {
		j->ok = 0;
		job_end_now(j, srv);
		return;
	}
	if (j->kind == PS_JOB_LOAD && j->scratch) {
		/* Its save was queued first, so it has ended by now. */
		if (cj->initial_fd != -1)
			j->fd = cj->initial_fd;
		else {
			j->ok = job_reset_memory(cj, &j->cause) == 0;
			j->notfound = !j->ok;
			job_end_now(j, srv);
			return;
		}
	} else if (j->kind == PS_JOB_LOAD && j->path == NULL) {
		if (cj->newest != NULL) {
			j->path = xstrdup(cj->newest);
			if (cj->newest_initial)
				j->from = xstrdup("initial");
		} else {
			/* Nothing written: the initial copy, if kept. */
			j->ok = job_reset_memory(cj, &j->cause) == 0;
			j->from = xstrdup("initial");
			j->notfound = !j->ok;
			job_end_now(j, srv);
			return;
		}
	}
	/*
	 * The initial file is this server's: one a server before it left in
	 * the directory is never the model this one started with.  Its save
	 * was queued first, so it has ended by now.
	 */
	if (j->kind == PS_JOB_LOAD && !j->scratch && j->from != NULL &&
	    cj->initial != INITIAL_WRITTEN) {
		j->ok = 0;
		j->notfound = 1;
		j->cause = cj->initial == INITIAL_FAILED ? xasprintf("the "
		    "initial model was not saved: %s", cj->initial_error) :
		    xstrdup("the initial model was not saved");
		job_end_now(j, srv);
		return;
	}
	j->srv = srv;
	j->started = 1;
	/* The thread reads the body: no frame header may touch it now. */
	if (j->body != NULL)
		j->body->pinned++;
	error = pthread_create(&j->thread, NULL, job_main, j);
	if (error != 0) {
		if (j->body != NULL)
			j->body->pinned--;
		j->ok = 0;
		j->cause = xasprintf("cannot start a thread: %s",
		    strerror(error));
		atomic_store(&j->done, 1);
		ps_server_wakeup(srv);
	} else
		j->joinable = 1;
}

static void
job_finish_save(struct ps_ckptjobs *cj, struct ps_job *j)
{
	struct ps_ctl_waiter	*w;
	char			*cause = NULL;
	int			 n;

	if (j->scratch) {
		job_finish_initial(cj, j);
		return;
	}
	cj->have_last = 1;
	cj->last_ok = j->ok;
	cj->last_seconds = j->seconds;
	cj->last_done_us = ps_server_now_us();
	free(cj->last_error);
	cj->last_error = NULL;
	if (j->why == PS_JOB_INITIAL) {
		cj->initial = j->ok ? INITIAL_WRITTEN : INITIAL_FAILED;
		free(cj->initial_error);
		cj->initial_error = j->ok ? NULL :
		    xstrdup(j->cause != NULL ? j->cause : "?");
	}
	if (!j->ok) {
		cj->failed++;
		cj->last_error = xstrdup(j->cause != NULL ? j->cause : "?");
		ps_log_error("checkpoint %s failed: %s", j->path,
		    cj->last_error);
		job_reply_error(cj, j, PS_CTL_E_IO, "checkpoint failed: %s",
		    cj->last_error);
		return;
	}
	cj->count++;
	ps_hist_observe(&cj->seconds, j->seconds);
	free(cj->last_path);
	cj->last_path = xstrdup(j->path);
	free(cj->newest);
	cj->newest = xstrdup(j->path);
	cj->newest_initial = j->why == PS_JOB_INITIAL;
	ps_log_info("checkpoint %s: model version %llu, %llu bytes in "
	    "%.3f s", j->path, (unsigned long long)j->version,
	    (unsigned long long)j->bytes, j->seconds);
	if (cj->keep > 0) {
		n = ps_ckptdir_prune(cj->dir, cj->keep, &cause);
		if (n < 0) {
			ps_log_warn("--keep %u: %s", cj->keep, cause);
			free(cause);
		} else if (n > 0)
			ps_log_info("--keep %u: removed %d older checkpoints",
			    cj->keep, n);
	}
	TAILQ_FOREACH(w, &j->waiters, entry) {
		if (w->c == NULL)
			continue;
		job_send(cj, w->c, ps_ctl_reply_ok(w->id,
		    ps_ctl_checkpoint_result(j->path, j->version, j->bytes,
		    j->seconds)));
	}
}

/*
 * The initial model's scratch file is written, or not: then the model
 * stays in memory, as what the server kept of it, and a warning says why.
 * Not a checkpoint: STATUS's counts leave it out.
 */
static void
job_finish_initial(struct ps_ckptjobs *cj, struct ps_job *j)
{
	if (j->ok) {
		cj->initial = INITIAL_WRITTEN;
		cj->initial_fd = j->fd;
		j->fd = -1;
		ps_log_info("initial model (version %llu) kept for reset in "
		    "an unlinked file in %s: %llu bytes in %.3f s",
		    (unsigned long long)j->version, j->path,
		    (unsigned long long)j->bytes, j->seconds);
		return;
	}
	cj->initial = INITIAL_FAILED;
	free(cj->initial_error);
	cj->initial_error = xstrdup(j->cause != NULL ? j->cause : "?");
	if (j->store != NULL && j->body != NULL) {
		cj->mem_meta = j->store;
		cj->mem_body = j->body;
		j->store = NULL;
		j->body = NULL;
		ps_log_warn("initial model: no temporary file for it "
		    "(%s): it stays in memory for reset, one model's size "
		    "more (TMPDIR)", cj->initial_error);
	} else
		ps_log_warn("initial model: not kept (%s): reset to it "
		    "will fail", cj->initial_error);
}

static void
job_finish_load(struct ps_ckptjobs *cj, struct ps_job *j)
{
	struct ps_server	*srv = cj->srv;
	struct ps_ctl_waiter	*w;
	const char		*from;
	char			*cause = NULL;

	from = j->from != NULL ? j->from : j->path;
	if (j->ok && j->store != NULL) {
		if (ps_server_reset(srv, j->store, &cause) != 0) {
			j->store = NULL;	/* freed by ps_server_reset */
			ps_log_warn("reset from %s refused: %s", from, cause);
			job_reply_error(cj, j, PS_CTL_E_MISMATCH, "%s: %s", from,
			    cause);
			free(cause);
			return;
		}
		j->store = NULL;	/* the server's now */
	}
	if (!j->ok) {
		ps_log_warn("reset from %s failed: %s", from,
		    j->cause != NULL ? j->cause : "?");
		job_reply_error(cj, j, j->notfound ? PS_CTL_E_NOT_FOUND :
		    j->invalid ? PS_CTL_E_BAD_REQUEST : PS_CTL_E_IO, "%s",
		    j->cause != NULL ? j->cause : "reset failed");
		return;
	}
	ps_log_info("reset to %s: model version %llu", from,
	    (unsigned long long)ps_store_version(ps_server_store(srv)));
	TAILQ_FOREACH(w, &j->waiters, entry) {
		if (w->c == NULL)
			continue;
		job_send(cj, w->c, ps_ctl_reply_ok(w->id,
		    ps_ctl_reset_result(from, ps_store_version(ps_server_store(srv)))));
	}
}

/* Waits for j's thread, if it ran; its body is the loop's alone again. */
static void
job_join(struct ps_job *j)
{
	if (!j->joinable)
		return;
	pthread_join(j->thread, NULL);
	j->joinable = 0;
	if (j->body != NULL)
		j->body->pinned--;
}

void
ps_ckptjob_poll(struct ps_ckptjobs *cj)
{
	struct ps_job	*j;
	enum ps_job_why	 why;

	while ((j = TAILQ_FIRST(&cj->jobs)) != NULL) {
		if (!j->started) {
			if (ps_server_state(cj->srv) == PS_SERVER_STARTING)
				return;
			job_start(cj, j);
		}
		if (!atomic_load(&j->done))
			return;
		job_join(j);
		TAILQ_REMOVE(&cj->jobs, j, entry);
		cj->njobs--;
		why = j->why;
		if (j->kind == PS_JOB_SAVE)
			job_finish_save(cj, j);
		else
			job_finish_load(cj, j);
		if (why == PS_JOB_FINAL)
			cj->final(cj->arg, j->ok ? j->path : NULL,
			    j->ok ? NULL : j->cause != NULL ? j->cause : "?");
		job_free(cj, j);
	}
}

void
ps_ckptjob_drain(struct ps_ckptjobs *cj)
{
	struct ps_job	*j;

	while ((j = TAILQ_FIRST(&cj->jobs)) != NULL) {
		job_join(j);
		TAILQ_REMOVE(&cj->jobs, j, entry);
		cj->njobs--;
		if (j->kind == PS_JOB_LOAD && j->store != NULL) {
			ps_store_free(j->store);
			j->store = NULL;
		}
		job_free(cj, j);
	}
}
