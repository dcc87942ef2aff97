/*
 * The psctl.worker.v1 protocol (psctl-protocol(7)) as an entry of the
 * server's protocol table.  Its state lives in lws's per-vhost memory and
 * it hears from the server core through hooks (server.h); nothing else
 * calls it.  Service thread only.
 */
#ifndef PS_WS_WORKER_H
#define PS_WS_WORKER_H

#include <stddef.h>

#include <libwebsockets.h>

/* For ps_server_add_protocol(): name, callback, buffer sizes. */
extern const struct lws_protocols ps_ws_worker_protocol;

/* The protocol callback (lws_callback_function). */
int		 ps_ws_worker_cb(struct lws *, enum lws_callback_reasons,
		     void *user, void *in, size_t len);

#endif
