/*
 * The psctl.control.v1 protocol (psctl-protocol(7)) as an entry of the
 * server's protocol table.  Its user pointer is the control plane (struct
 * ps_ctlsrv), to which it gives its link in PROTOCOL_INIT; nothing else
 * calls it.  Service thread only.
 */
#ifndef PS_WS_CONTROL_H
#define PS_WS_CONTROL_H

#include <stddef.h>

#include <libwebsockets.h>

/*
 * For ps_server_add_protocol(): a copy of it with .user set to the control
 * plane.
 */
extern const struct lws_protocols ps_ws_control_protocol;

/* The protocol callback (lws_callback_function). */
int		 ps_ws_control_cb(struct lws *, enum lws_callback_reasons,
		     void *user, void *in, size_t len);

#endif
