/*
 * The requests of psctl.worker.v1 (psctl-protocol(7)): HELLO, INIT, PULL
 * and PUSH answered against the server core, the consistency mode's
 * parking of requests, and the replies.  No lws here: the transport
 * (ws-worker.c) reads whole messages and hands them to ps_wreq_message(),
 * writes what the handlers queue on the connection's send queue, and
 * closes connections when asked, through struct ps_wreq_ops.
 *
 * Requests on one connection are handled one at a time, in order: while
 * one is parked (a sync round, an ssp pull), the transport keeps the
 * messages that arrive and hands them over once it is answered.
 *
 * Service thread only.
 */
#ifndef PS_WREQ_H
#define PS_WREQ_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "sendq.h"
#include "tensor.h"

/* WebSocket close codes the handlers ask for (RFC 6455). */
#define PS_WREQ_CLOSE_GOING_AWAY	1001
#define PS_WREQ_CLOSE_POLICY		1008

struct lws;
struct ps_counters;
struct ps_server;
struct ps_worker;
struct ps_wreq_vhd;

/* Why a connection's request is parked (waiting on the mode). */
enum ps_park {
	PS_PARK_NONE = 0,
	PS_PARK_PUSH_NEXT,	/* sync: waits for the next round to join it */
	PS_PARK_PUSH_ROUND,	/* sync: in the round, waits for it to end */
	PS_PARK_PULL		/* sync or ssp: waits to be answered */
};

/*
 * One connection as the handlers see it: the first member of the
 * transport's per-session memory.
 */
struct ps_conn {
	struct ps_server	*srv;		/* borrowed */
	struct ps_wreq_vhd	*vhd;		/* borrowed: the protocol's */
	struct lws		*wsi;		/* borrowed, valid until CLOSED */
	struct ps_worker	*w;		/* borrowed; NULL before hello */
	char			 address[64];	/* "127.0.0.1:50122" */

	uint8_t			*held;		/* owned: the request in hand */
	size_t			 heldcap;
	struct ps_msg		 msg;		/* owned views into held */
	struct ps_tview		*cv;		/* owned: F32 views of a push */
	size_t			 cvcap;
	float			*scratch;	/* owned: F16/BF16 converted */
	size_t			 scratchcap;	/* floats */

	struct ps_sendq		 q;		/* owned: replies to write */
	int			 closing;	/* close once q is written */

	enum ps_park		 park;
	int64_t			 park_us;
	/* sync: this request's push is in the round's sum (wreq.c). */
	int			 in_round;
	uint64_t		 round_seq;	/* its order in the round */
	uint64_t		 round_wid;	/* the worker that pushed it */
	uint64_t		 prev_seq;	/* that worker's last_seq before */
	TAILQ_ENTRY(ps_conn)	 park_entry;
	TAILQ_ENTRY(ps_conn)	 entry;
};
TAILQ_HEAD(ps_conns, ps_conn);
/* A push still in the sync round whose connection has closed (wreq.c). */
struct ps_wreq_kept;
TAILQ_HEAD(ps_wreq_kepts, ps_wreq_kept);

/* What the handlers need of the transport, which provides it. */
struct ps_wreq_ops {
	/*
	 * A message was queued on c->q: ask for WRITEABLE, and stop reading
	 * while too much is queued.
	 */
	void	(*queued)(struct ps_conn *);
	/* Closes c with code and reason once its replies are written. */
	void	(*close)(struct ps_conn *, int code, const char *reason);
};

/* The handlers' part of the protocol's per-vhost state. */
struct ps_wreq_vhd {
	struct ps_server		*srv;		/* borrowed */
	const struct ps_wreq_ops	*ops;		/* borrowed */
	struct ps_counters		*total;		/* borrowed: the server's */
	size_t				 max_message;	/* --max-message-bytes */
	size_t				 max_tensors;	/* --max-tensors */
	struct ps_conns			 conns;		/* every open one */
	struct ps_conns			 parked;	/* in arrival order */
	uint64_t			 round_next;	/* sync: push order */
	struct ps_wreq_kepts		 kept;		/* owned */
};

/* Sets vhd up for srv's options, with the transport's ops (borrowed). */
void		 ps_wreq_vhd_init(struct ps_wreq_vhd *, struct ps_server *,
		     const struct ps_wreq_ops *);

/* ESTABLISHED: c (zeroed here) is a new connection from address. */
void		 ps_wreq_open(struct ps_wreq_vhd *, struct ps_conn *c,
		     struct lws *wsi, const char *address);
/*
 * CLOSED: the worker leaves (unless the server is being freed), what c
 * owns is freed, and what waited on it may go on.
 */
void		 ps_wreq_closed(struct ps_conn *);
/*
 * Handles one whole message, whose buffer the transport has moved into
 * c->held (c owns it from then on): decodes it and answers or parks it.
 */
void		 ps_wreq_message(struct ps_conn *, const uint8_t *buf,
		     size_t len);
/*
 * Counts a message refused for its size before it was read whole: an
 * error, and a refused push of code too_large (status "rejected",
 * /metrics rejected_total).
 */
void		 ps_wreq_too_large(struct ps_conn *);

/*
 * The server's hooks, relayed by the transport: the model was reset (the
 * dropped round's pushes are answered with version); a second passed
 * (workers silent past --worker-timeout leave); the server stops (parked
 * requests get ERROR SHUTDOWN and every connection is closed with 1001).
 */
void		 ps_wreq_reset(struct ps_wreq_vhd *, uint64_t version);
void		 ps_wreq_tick(struct ps_wreq_vhd *, int64_t now_us);
void		 ps_wreq_stopping(struct ps_wreq_vhd *);
/* PROTOCOL_DESTROY: frees what vhd owns. */
void		 ps_wreq_vhd_free(struct ps_wreq_vhd *);

#endif
