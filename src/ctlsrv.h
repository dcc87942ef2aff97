/*
 * The server's control plane: the psctl.control.v1 protocol (ws-control.c),
 * HTTP on the same port (/metrics, /livez, /readyz, /healthz), tokens,
 * checkpoints written by a worker thread (ckptjob.c), reset, graceful stop
 * and systemd notification.  It hears from the server through hooks
 * (server.h) and, unless a comment says otherwise, runs on the lws
 * service thread.
 */
#ifndef PS_CTLSRV_H
#define PS_CTLSRV_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "ckptjob.h"
#include "control.h"
#include "metrics.h"
#include "sendq.h"
#include "store.h"

struct ps_server;
struct ps_ctlconn;

/* What `psctl serve` was asked about the control plane. */
struct ps_ctl_opts {
	char		*token_file;		/* owned; worker token */
	char		*operator_token_file;	/* owned */
	char		*ckpt_dir;		/* owned; NULL: no checkpoints */
	unsigned	 ckpt_every;		/* seconds; 0: only on request */
	unsigned	 keep;			/* automatic ones kept; 0: all */
	int		 ckpt_on_exit;		/* final checkpoint on SIGTERM */
};

struct ps_ctlsrv {
	struct ps_server	*srv;		/* borrowed */
	struct ps_ctl_opts	 o;

	/* Metrics the server itself does not keep. */
	struct ps_hist		 ckpt_seconds;
	struct ps_rate		 pushes, pulls, bytes_in, bytes_out;
	struct ps_rate		*tensor_rates;	/* owned, one per tensor */
	size_t			 ntensor_rates;
	int64_t			 last_periodic_us;
	uint64_t		 periodic_version; /* saved by the last periodic */

	/* Checkpoints. */
	struct ps_jobs		 jobs;		/* head runs; the rest wait */
	size_t			 njobs;
	struct ps_store		*snap;		/* owned reusable snapshot */
	int			 snap_busy;	/* a job is writing it */
	uint64_t		 ckpt_count;
	uint64_t		 ckpt_failed;
	int			 have_last;
	int			 last_ok;
	char			*last_path;	/* owned */
	char			*last_error;	/* owned */
	double			 last_seconds;
	int64_t			 last_done_us;
	char			*newest;	/* owned: newest written by us */
	int			 initial_queued; /* its job was queued */
	int			 initial_file;	/* initial.safetensors written */

	/* Control connections. */
	TAILQ_HEAD(, ps_ctlconn) conns;

	/* Stopping. */
	int			 stop_asked;	/* a request's final: 1, 0; -1 none */
	int			 stop_final;	/* a final checkpoint is due */
	struct ps_ctl_waiters	 stop_waiters;
};

/* One psctl.control.v1 connection: lws's per-session memory. */
struct ps_ctlconn {
	struct ps_ctlsrv	*ctl;		/* borrowed */
	struct lws		*wsi;		/* borrowed, valid until CLOSED */
	int			 live;
	char			 address[64];
	char			*rx;		/* owned: the message being read */
	size_t			 rxlen;
	int			 rx_toolong;
	struct ps_sendq		 q;		/* owned: messages to write */
	int			 subscribed;
	double			 interval;
	uint64_t		 seq;
	lws_sorted_usec_list_t	 sul;		/* subscription timer */
	int			 close_when_sent;
	TAILQ_ENTRY(ps_ctlconn)	 entry;
};

void		 ps_ctl_opts_init(struct ps_ctl_opts *);
void		 ps_ctl_opts_free(struct ps_ctl_opts *);

/*
 * Sets the control plane up on srv before ps_server_start(): reads the
 * token files, prepares the checkpoint directory (creates it, sweeps
 * temporary files), gives the tokens to the server, installs the HTTP and
 * control protocols.  Takes over o's strings.  Returns NULL with *cause.
 */
struct ps_ctlsrv *ps_ctlsrv_new(struct ps_server *, struct ps_ctl_opts *o,
		     char **cause);
/*
 * Frees what the control plane owns, without touching the server: after
 * ps_server_free() (control connections close in it).
 */
void		 ps_ctlsrv_free(struct ps_ctlsrv *);
/* After ps_server_start(): timers, warnings, READY=1. */
void		 ps_ctlsrv_started(struct ps_ctlsrv *);
/*
 * A stop request from a control connection: stops the server (with a
 * final checkpoint when final) and is answered when that is done.
 */
void		 ps_ctlsrv_stop_request(struct ps_ctlsrv *, struct ps_ctlconn *,
		     json_int_t id, int final);
/* Fills st from the server; arrays are allocated (ps_ctlsrv_status_free). */
void		 ps_ctlsrv_status(struct ps_ctlsrv *, struct ps_ctl_status *);
void		 ps_ctlsrv_status_free(struct ps_ctl_status *);

/* The final checkpoint ended (path NULL: it failed); ckptjob.c calls it. */
void		 ps_ctlsrv_final_done(struct ps_ctlsrv *, const char *path);

#endif
