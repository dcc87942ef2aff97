/*
 * Checkpoint jobs of the control plane: writes of the live model and the
 * loads a reset makes, one at a time on a worker thread, answered to the
 * control requests that wait for them.  Serving stalls only for the
 * snapshot (one copy of the model on the service thread).  Everything runs
 * on the service thread except the job's thread, which touches only its
 * job and wakes the loop (ps_server_wakeup()) when done.
 */
#ifndef PS_CKPTJOB_H
#define PS_CKPTJOB_H

#include <sys/queue.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "control.h"
#include "store.h"

struct ps_server;
struct ps_ctlconn;	/* a control connection: the control protocol's */

/* Queues a reply (text stolen) on a control connection. */
typedef void	 ps_ckptjob_send_fn(struct ps_ctlconn *, char *text);

/* A control request that waits for a job: answered when it ends. */
struct ps_ctl_waiter {
	struct ps_ctlconn		*c;	/* borrowed; NULL once closed */
	json_int_t			 id;
	enum ps_ctl_cmd			 cmd;
	TAILQ_ENTRY(ps_ctl_waiter)	 entry;
};
TAILQ_HEAD(ps_ctl_waiters, ps_ctl_waiter);

enum ps_job_kind {
	PS_JOB_SAVE = 1,	/* write store to path */
	PS_JOB_LOAD		/* read path into store (reset) */
};

enum ps_job_why {
	PS_JOB_REQUEST = 1,	/* psctl checkpoint / reset */
	PS_JOB_PERIODIC,	/* --checkpoint-every */
	PS_JOB_INITIAL,		/* the model as first created */
	PS_JOB_FINAL		/* before stopping */
};

/*
 * One checkpoint write or load.  The worker thread touches only store,
 * path, the result fields and done; everything else is the service
 * thread's.
 */
struct ps_job {
	enum ps_job_kind	 kind;
	enum ps_job_why		 why;
	/*
	 * A save writes store, all but the values (ps_store_clone_meta()),
	 * with values, tensor by tensor, in body (the pull body of that
	 * version); a load makes store.
	 */
	struct ps_store		*store;		/* owned */
	struct ps_buf		*body;		/* owned ref */
	const float		**values;	/* owned array, into body */
	/*
	 * No checkpoint directory: the initial model's unlinked file.  A
	 * save makes a new one in the directory path and leaves it in fd; a
	 * load reads fd (the jobs' own, borrowed).
	 */
	int			 scratch;
	int			 fd;		/* -1: none */
	int			 deferred;	/* save: snapshot when it starts */
	char			*name;		/* owned; save: NULL for automatic */
	char			*path;		/* owned; NULL until named */
	char			*from;		/* owned; reset: what to name */
	char			 mode[16];
	struct ps_rule		 rule;		/* load: the rule to serve with */
	uint64_t		 version;	/* save: the model version */
	int64_t			 queued_us;
	/* Results, written by the thread before done is set. */
	int			 ok;
	char			*cause;		/* owned */
	int			 notfound;	/* load: no such file */
	int			 invalid;	/* load: does not verify */
	uint64_t		 bytes;
	double			 seconds;
	atomic_int		 done;
	struct ps_server	*srv;		/* the thread wakes it when done */
	pthread_t		 thread;
	int			 started;
	int			 joinable;	/* thread is running or ran */
	struct ps_ctl_waiters	 waiters;
	TAILQ_ENTRY(ps_job)	 entry;
};
TAILQ_HEAD(ps_jobs, ps_job);

/* Pending jobs beyond the running one; requests past this are "busy". */
#define PS_CKPTJOB_MAX		4

struct ps_ckptjobs;

/*
 * The jobs of srv, writing into dir (borrowed; NULL: no checkpoint
 * directory, resets go back to the initial model, which
 * ps_ckptjob_keep_initial() keeps) and keeping
 * keep automatic checkpoints (0: all).  When a final checkpoint ends,
 * final(arg, path, cause) is called: path NULL and why in cause when it
 * failed.
 */
struct ps_ckptjobs *ps_ckptjob_new(struct ps_server *srv, const char *dir,
		     unsigned keep, void (*final)(void *, const char *path,
		     const char *cause), void *arg);
/* Waits for every job (joins its thread) and frees; NULL is a no-op. */
void		 ps_ckptjob_free(struct ps_ckptjobs *);
/* How replies reach waiting connections (the control protocol's send). */
void		 ps_ckptjob_set_send(struct ps_ckptjobs *, ps_ckptjob_send_fn *);

/*
 * Queues a checkpoint of the live model into the checkpoint directory as
 * name (a file name; NULL: the automatic name).  The reserved names
 * (ps_ckptdir_reserved()) are refused but for PS_JOB_INITIAL's own, and a
 * PS_JOB_REQUEST for a name that exists, or that a queued save will
 * write, is refused unless force.  Returns the job, or NULL with *code
 * and *cause.  The job is not finished before the loop next polls, so the
 * caller may add waiters to it (ps_ckptjob_wait()) right away.
 */
struct ps_job	*ps_ckptjob_save(struct ps_ckptjobs *, enum ps_job_why,
		     const char *name, int force, const char **code,
		     char **cause);
/*
 * Without a checkpoint directory: queues the job that keeps the initial
 * model (ps_server_take_initial()) for resets, in an unlinked temporary
 * file in $TMPDIR (else /var/tmp) that goes with the process, however it
 * ends.  When the file cannot be made or written, a warning says why and
 * the model stays in memory instead.  Once; a no-op with a directory.
 */
void		 ps_ckptjob_keep_initial(struct ps_ckptjobs *);
/*
 * Queues a reset: a load of the named checkpoint, the newest this server
 * wrote, or the initial model (name NULL, or PS_CKPTDIR_INITIAL; the
 * reply then says "initial", and only the file this server wrote is
 * read; without a directory, the one ps_ckptjob_keep_initial() kept).
 * Returns the job, or NULL with *code and *cause.
 */
struct ps_job	*ps_ckptjob_reset(struct ps_ckptjobs *, const char *name,
		     const char **code, char **cause);
/* c waits for j: it is answered (request id) when j ends. */
void		 ps_ckptjob_wait(struct ps_job *j, struct ps_ctlconn *c,
		     json_int_t id, enum ps_ctl_cmd);
/* Forgets c in every job's waiters (the connection closed). */
void		 ps_ckptjob_forget(struct ps_ckptjobs *, struct ps_ctlconn *);
/* Starts the head job if none runs; finishes those that are done. */
void		 ps_ckptjob_poll(struct ps_ckptjobs *);
/* Waits for every job and frees them (at exit). */
void		 ps_ckptjob_drain(struct ps_ckptjobs *);
/* 1 once this server wrote its initial file (PS_CKPTDIR_INITIAL). */
int		 ps_ckptjob_initial_written(const struct ps_ckptjobs *);
/* 1 while a job runs or waits. */
int		 ps_ckptjob_busy(const struct ps_ckptjobs *);
/* Fills st's checkpoint part (borrowed strings and histogram) as of now_us. */
void		 ps_ckptjob_status(const struct ps_ckptjobs *,
		     struct ps_ctl_status *st, int64_t now_us);

#endif
