/*
 * libpsctl: the C client library for psctl workers.
 *
 * A connection speaks psctl.worker.v1 (psctl-protocol(7)) to one server.
 * Every call blocks until the server's reply or the connection's timeout and
 * returns 0, or -1 with psctl_error() and psctl_errcode() saying why.  One
 * thread uses a connection at a time; use several connections for several
 * servers (shards) or threads.
 *
 * After PSCTL_E_SERVER (the server refused this request) and PSCTL_E_ARG
 * (refused before sending) the connection stays usable, and after
 * PSCTL_E_TIMEOUT too when no part of a reply had arrived (a late reply
 * is then skipped).  After any other error, close the connection and
 * connect again.
 *
 * Memory: push and init read the caller's floats where they are, copying
 * them once while masking them for the socket, and never modify them;
 * pulls hand out tensors that point into the connection's receive buffer.
 * Once its buffers have grown to the model's size, calls do not allocate.
 *
 *	struct psctl_opts o = { .url = "ws://127.0.0.1:7070", .name = "w0" };
 *	const struct psctl_tensor *model;
 *	struct psctl *c;
 *	uint64_t version;
 *	size_t n;
 *
 *	if ((c = psctl_connect(&o, err, sizeof err, NULL)) == NULL)
 *		errx(1, "%s", err);
 *	for (;;) {
 *		if (psctl_pull(c, NULL, 0, &model, &n, &version) == -1)
 *			errx(1, "pull: %s", psctl_error(c));
 *		... train from model[0..n), write an update into upd[0..k) ...
 *		if (psctl_push(c, upd, k, &version) == -1)
 *			errx(1, "push: %s", psctl_error(c));
 *	}
 *	psctl_close(c);
 */
#ifndef PSCTL_H
#define PSCTL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PSCTL_DIMS_MAX	8

/* Why a call failed. */
enum psctl_errcode {
	PSCTL_OK = 0,
	PSCTL_E_UNAVAILABLE,	/* cannot reach the server */
	PSCTL_E_AUTH,		/* token refused */
	PSCTL_E_TLS,
	PSCTL_E_TIMEOUT,
	PSCTL_E_CLOSED,		/* the connection is gone */
	PSCTL_E_PROTOCOL,	/* the server sent something invalid */
	PSCTL_E_SERVER,		/* the server refused: see psctl_server_code() */
	PSCTL_E_ARG,		/* bad argument from the caller */
	PSCTL_E_NOMEM
};

/*
 * What psctl_server_code() returns: the wire codes of psctl-protocol(7),
 * which never change value.
 */
enum psctl_server_code {
	PSCTL_SERVER_MALFORMED = 1,	/* the request did not parse */
	PSCTL_SERVER_UNKNOWN_OP = 2,
	PSCTL_SERVER_TOO_LARGE = 3,	/* over a server limit */
	PSCTL_SERVER_NO_MODEL = 4,	/* pull or push before any init */
	PSCTL_SERVER_MISMATCH = 5,	/* init differs from the model */
	PSCTL_SERVER_UNKNOWN_TENSOR = 6,
	PSCTL_SERVER_SHAPE = 7,		/* a shape differs from the model's */
	PSCTL_SERVER_NONFINITE = 8,	/* NaN or infinity in an update */
	PSCTL_SERVER_DTYPE = 9,
	PSCTL_SERVER_PROTOCOL = 10,	/* valid message at the wrong moment */
	PSCTL_SERVER_SHUTDOWN = 11,	/* the server is stopping */
	PSCTL_SERVER_INTERNAL = 12,
	PSCTL_SERVER_DUPLICATE = 13,	/* a tensor named twice */
	PSCTL_SERVER_BUSY = 14,		/* too many waiting requests */
	PSCTL_SERVER_UNAUTHORIZED = 15
};

struct psctl_opts {
	const char	*url;		/* ws://HOST:PORT or wss://; NULL = $PSCTL_URL or ws://127.0.0.1:7070 */
	const char	*token;		/* bearer token; NULL = none */
	const char	*ca_file;	/* wss: CA to verify the server with */
	const char	*name;		/* worker name shown to operators; may be NULL */
	uint64_t	 resume_id;	/* worker id to resume; 0 = new worker */
	const char	*resume_secret;	/* with resume_id: what
					   psctl_resume_secret() said */
	int		 timeout_ms;	/* longest wait for the server; 0 = 30 s */
	size_t		 max_message;	/* largest reply accepted; 0 = 2 GiB */
};

/* A tensor as the library hands it out or takes it in. */
struct psctl_tensor {
	const char	*name;		/* NUL-terminated */
	unsigned	 ndim;
	uint64_t	 dims[PSCTL_DIMS_MAX];
	size_t		 n;		/* elements (product of dims) */
	float		*data;		/* n floats */
};

struct psctl;

/*
 * Connects, completes the WebSocket handshake and the hello.  opts may be
 * NULL for all defaults.  Returns a connection (free with psctl_close()),
 * or NULL with a reason in err (errlen bytes) and, if code is not NULL, the
 * error code: PSCTL_E_UNAVAILABLE when nothing answers at the URL,
 * PSCTL_E_AUTH when the token is refused, or the resume: resuming a worker
 * the server knows takes its resume_secret (then connect again with
 * resume_id 0 for a new worker), PSCTL_E_TLS, PSCTL_E_PROTOCOL when
 * something other than a psctl server answers.  A resume_id the server
 * does not know gives a new worker: compare psctl_worker_id().
 */
struct psctl	*psctl_connect(const struct psctl_opts *, char *err,
		     size_t errlen, enum psctl_errcode *code);
void		 psctl_close(struct psctl *);	/* NULL is a no-op */

/* The id the server gave this worker (pass it as resume_id to resume). */
uint64_t	 psctl_worker_id(const struct psctl *);
/*
 * The worker's resume secret ("__resume/" and 32 hex digits): pass it as
 * resume_secret with resume_id to resume this worker on a new connection,
 * and keep it as private as the token.  NULL from a server that sends
 * none.  Borrowed: valid until psctl_close().
 */
const char	*psctl_resume_secret(const struct psctl *);
/*
 * The model's tensors as of hello or the last init or whole-model pull:
 * names and shapes, and data only right after an init or whole pull (NULL
 * after hello and after any later call).  Borrowed: valid until the next
 * call.  *n = 0 when the server has no model yet.
 */
const struct psctl_tensor *psctl_model(const struct psctl *, size_t *n);
/* The model version the last reply reported (hello, init, pull, push). */
uint64_t	 psctl_version(const struct psctl *);

/*
 * Creates the model from t[0..n) (first writer wins); if the server has a
 * model with the same names and shapes, gets that instead (a different
 * model is PSCTL_E_SERVER, code mismatch).  On success the current model
 * is in psctl_model() with data, and *version (may be NULL) is set.
 */
int		 psctl_init(struct psctl *, const struct psctl_tensor *t,
		     size_t n, uint64_t *version);
/*
 * Pulls the whole model (names NULL or nnames 0) or the named tensors, in
 * the model's order.  *out points to library-owned tensors valid until the
 * next call on this connection; their data must not be written.  out, nout
 * and version may be NULL.
 */
int		 psctl_pull(struct psctl *, const char *const *names,
		     size_t nnames, const struct psctl_tensor **out,
		     size_t *nout, uint64_t *version);
/*
 * Pulls the tensors named by t[0..n) and copies them into t[i].data,
 * matched by name; every shape must equal the server's (else PSCTL_E_ARG
 * and nothing is copied).
 */
int		 psctl_pull_into(struct psctl *, struct psctl_tensor *t,
		     size_t n, uint64_t *version);
/*
 * Pushes an update of some or all tensors, applied by the server's update
 * rule as one step; the request names the version of the last init/pull
 * as the one the update was computed from.  *version (may be NULL) gets
 * the model version after it was applied (or, in sync mode, after its
 * round).  A refusal (unknown tensor, wrong shape, non-finite values...)
 * is PSCTL_E_SERVER and changes nothing on the server.
 */
int		 psctl_push(struct psctl *, const struct psctl_tensor *t,
		     size_t n, uint64_t *version);

/* Why the last call failed; PSCTL_OK after a success. */
enum psctl_errcode psctl_errcode(const struct psctl *);
/* The reason, or for PSCTL_E_SERVER the server's text; "" after a success. */
const char	*psctl_error(const struct psctl *);
/*
 * The server's reason (enum psctl_server_code) when errcode is
 * PSCTL_E_SERVER, else 0.
 */
int		 psctl_server_code(const struct psctl *);

#ifdef __cplusplus
}
#endif

#endif
