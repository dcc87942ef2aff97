/*
 * Protocol [0] of psctl serve: plain HTTP (/metrics, /livez, /readyz,
 * /healthz) and the first look at every WebSocket upgrade.  Its user
 * pointer is the control plane (struct ps_ctlsrv), whose STATUS /metrics
 * shows.  Service thread only.
 */
#ifndef PS_HTTP_H
#define PS_HTTP_H

#include <stddef.h>

#include <libwebsockets.h>

/*
 * For ps_server_set_http(): a copy of it with .user set to the control
 * plane.
 */
extern const struct lws_protocols ps_http_protocol;

/* The protocol callback (lws_callback_function). */
int		 ps_http_cb(struct lws *, enum lws_callback_reasons,
		     void *user, void *in, size_t len);

#endif
