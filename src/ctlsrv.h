/*
 * The server's control plane: what the control protocol (ws-control.c) and
 * HTTP (http.c) ask of the server, and what it does on its own: tokens and
 * the checkpoint directory at start, STATUS, rates, periodic, initial and
 * final checkpoints (ckptjob.c), reset, the graceful stop's control side
 * and systemd notification.  No lws here: it hears from the server through
 * hooks (server.h), and reaches control connections through the link the
 * control protocol gives it.  Unless a comment says otherwise, it runs on
 * the lws service thread.
 */
#ifndef PS_CTLSRV_H
#define PS_CTLSRV_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include "control.h"

struct ps_server;
struct ps_ctlconn;	/* a control connection: the control protocol's */
struct ps_ctlsrv;

/* What `psctl serve` was asked about the control plane. */
struct ps_ctl_opts {
	char		*token_file;		/* owned; worker token */
	char		*operator_token_file;	/* owned */
	char		*ckpt_dir;		/* owned; NULL: no checkpoints */
	unsigned	 ckpt_every;		/* seconds; 0: only on request */
	unsigned	 keep;			/* automatic ones kept; 0: all */
	int		 ckpt_on_exit;		/* final checkpoint on SIGTERM */
};

/*
 * How the control plane reaches the control connections, given by the
 * control protocol when it starts: send() queues a text message (stolen)
 * on c; close_all(arg) closes every control connection (1001) once what
 * it has queued is written.
 */
struct ps_ctl_link {
	void		(*send)(struct ps_ctlconn *c, char *text);
	void		(*close_all)(void *arg);
	void		*arg;
};

void		 ps_ctl_opts_init(struct ps_ctl_opts *);
void		 ps_ctl_opts_free(struct ps_ctl_opts *);

/*
 * Sets the control plane up on srv before ps_server_start(): reads the
 * token files and gives the tokens to the server, prepares the checkpoint
 * directory (creates it, sweeps temporary files) or asks the server to
 * keep the initial model, and registers its hooks.  Takes over o's
 * strings.  Returns NULL with *cause (caller frees).
 */
struct ps_ctlsrv *ps_ctlsrv_new(struct ps_server *, struct ps_ctl_opts *o,
		     char **cause);
/*
 * Frees what the control plane owns, without touching the server: after
 * ps_server_free() (control connections close in it).  NULL is a no-op.
 */
void		 ps_ctlsrv_free(struct ps_ctlsrv *);
/* After ps_server_start(): warnings, the initial checkpoint, READY=1. */
void		 ps_ctlsrv_started(struct ps_ctlsrv *);
/*
 * After the run: 1 when a final checkpoint was due (--checkpoint-on-exit,
 * or a stop that asked for one) and was not written.
 */
int		 ps_ctlsrv_final_failed(const struct ps_ctlsrv *);
/* The control protocol gives its link (copied), or takes it back (NULL). */
void		 ps_ctlsrv_link(struct ps_ctlsrv *, const struct ps_ctl_link *);

/*
 * Fills st from the server (strings and histograms borrowed until the
 * next call into the server); arrays are allocated: ps_ctlsrv_status_free().
 */
void		 ps_ctlsrv_status(struct ps_ctlsrv *, struct ps_ctl_status *st);
void		 ps_ctlsrv_status_free(struct ps_ctl_status *);

/*
 * The control requests that may wait, from connection c at address: each
 * is answered on c (request id), at once or when its job or the stop is
 * done.  name may be NULL (the automatic name; the newest checkpoint);
 * force replaces a checkpoint of that name.
 */
void		 ps_ctlsrv_checkpoint(struct ps_ctlsrv *, struct ps_ctlconn *c,
		     const char *address, json_int_t id, const char *name,
		     int force);
void		 ps_ctlsrv_reset(struct ps_ctlsrv *, struct ps_ctlconn *c,
		     const char *address, json_int_t id, const char *name);
/* Stops the server, with a final checkpoint when final. */
void		 ps_ctlsrv_stop(struct ps_ctlsrv *, struct ps_ctlconn *c,
		     const char *address, json_int_t id, int final);
/*
 * kick and unblock (req->cmd), answered at once: kick closes a live
 * worker's connection (ps_server_kick()) and with block blocks its id
 * and name; a name several live workers have is refused (ambiguous) with
 * their list.  unblock lifts the blocks of an id or a name.
 */
void		 ps_ctlsrv_kick(struct ps_ctlsrv *, struct ps_ctlconn *c,
		     const char *address, const struct ps_ctl_req *req);
/*
 * checkpoints: what reset can go back to, newest first, "initial" last
 * (control.h), from the files' headers and metadata.
 */
void		 ps_ctlsrv_checkpoints(struct ps_ctlsrv *, struct ps_ctlconn *c,
		     json_int_t id);
/* c closed: its waiting requests are not answered. */
void		 ps_ctlsrv_forget(struct ps_ctlsrv *, struct ps_ctlconn *c);

#endif
