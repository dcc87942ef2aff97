/*
 * The psctl.control.v1 protocol (psctl-protocol(7)): its lws callback and
 * the two ways the control plane reaches a connection.  Service thread
 * only.
 */
#ifndef PS_WS_CONTROL_H
#define PS_WS_CONTROL_H

#include <stddef.h>

#include <libwebsockets.h>

struct ps_ctlconn;

/* The protocol callback (lws_callback_function). */
int		 ps_ws_control_cb(struct lws *, enum lws_callback_reasons,
		     void *user, void *in, size_t len);
/* Queues a text message (steals text, malloc'd) and asks for WRITEABLE. */
void		 ps_ctlconn_send(struct ps_ctlconn *, char *text);
/* Closes with code once everything queued is written. */
void		 ps_ctlconn_close(struct ps_ctlconn *, int code);

#endif
