/*
 * Checkpoint jobs of the control plane: writes of the live model and the
 * loads a reset makes, one at a time on a worker thread, answered to the
 * control requests that wait for them.  Everything runs on the service
 * thread except the job's thread, which touches only its job.
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
struct ps_ctlconn;
struct ps_ctlsrv;

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
	struct ps_store		*store;		/* owned (see snap_reused) */
	int			 snap_reused;	/* store is ctl->snap */
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
#define PS_CTL_JOBS_MAX		4

/*
 * Queues a checkpoint of the live model into the checkpoint directory as
 * name (NULL: the automatic name).  Returns the job, or NULL with *code
 * and *cause.  The job is not finished before the loop next polls, so the
 * caller may add waiters to it (ps_ckptjob_wait()) right away.
 */
struct ps_job	*ps_ckptjob_save(struct ps_ctlsrv *, enum ps_job_why,
		     const char *name, const char **code, char **cause);
/*
 * Queues a reset: a load of the named checkpoint, the newest this server
 * wrote, or the initial model (name NULL).  A reset from memory (no
 * checkpoint directory) happens at once and returns NULL with *code NULL.
 */
struct ps_job	*ps_ckptjob_reset(struct ps_ctlsrv *, const char *name,
		     const char **code, char **cause, uint64_t *version,
		     const char **from);
void		 ps_ckptjob_wait(struct ps_job *, struct ps_ctlconn *,
		     json_int_t id, enum ps_ctl_cmd);
/* Forgets c in every job's waiters (the connection closed). */
void		 ps_ckptjob_forget(struct ps_ctlsrv *, struct ps_ctlconn *);
/* Starts the head job if none runs; finishes those that are done. */
void		 ps_ckptjob_poll(struct ps_ctlsrv *);
/* Waits for every job and frees them (at exit). */
void		 ps_ckptjob_drain(struct ps_ctlsrv *);

#endif
