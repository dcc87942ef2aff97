/*
 * The psctl.worker.v1 protocol (psctl-protocol(7)): its lws callback and
 * what the server core still asks of its connections.  Service thread
 * only.
 */
#ifndef PS_WS_WORKER_H
#define PS_WS_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

struct ps_conn;

/* The protocol callback (lws_callback_function). */
int		 ps_ws_worker_cb(struct lws *, enum lws_callback_reasons,
		     void *user, void *in, size_t len);
/* Tries a parked request again; returns 1 if it progressed. */
int		 ps_ws_retry(struct ps_conn *);
/* Answers a push parked in a round that ended with version (text may be NULL). */
void		 ps_ws_round_done(struct ps_conn *, uint64_t version,
		     const char *text);
/* Answers a parked request with ERROR code and unparks it. */
void		 ps_ws_park_error(struct ps_conn *, int code, const char *text);
/* Closes the connection with code and reason once its replies are written. */
void		 ps_ws_close(struct ps_conn *, int code, const char *reason);

#endif
