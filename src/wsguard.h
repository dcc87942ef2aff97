/*
 * The frame checks RFC 6455 asks of a server that libwebsockets 4.1 (the
 * version Debian 12 ships) leaves out, made before lws parses the bytes:
 *
 *   - a client frame that is not masked (RFC 6455 5.1): lws accepts it;
 *   - a control frame announcing more than 125 bytes (5.5), or a 64-bit
 *     length with its top bit set (5.2): lws drops the TCP connection
 *     without a close frame.
 *
 * Each is answered with close code 1002 (protocol error) on both
 * subprotocols.  lws gives its callbacks no view of a frame's header, so
 * the check reads the bytes where lws reads them: this module defines
 * recv() and SSL_read() (with SSL_get_error() and SSL_want(), so that
 * bytes held back read as "not yet"), which the dynamic linker binds
 * lws's calls to, and scans the stream of every connection the HTTP protocol registered
 * at accept: the request's headers, then, after an upgrade, each frame's
 * header.  At a broken frame it hands lws only the bytes before it and
 * asks for the connection's WRITEABLE callback, where the protocol calls
 * ps_wsguard_broken() and closes with 1002.  Other descriptors pass
 * through untouched.  Newer lws checks these itself; the scan then finds
 * nothing to do.
 *
 * The scan also unmasks: lws 4.1 unmasks a payload a byte at a time, a
 * third of the server's CPU in a large push.  When a frame's whole
 * masking key is in the bytes one read returns, the scan keeps the key,
 * hands lws zeros in its place (lws then leaves the payload as it is)
 * and XORs the payload itself with vector instructions as it passes; a key
 * split over two reads is left to lws.
 *
 * Service thread only (LWS_MAX_SMP is 1), as every lws callback.
 */
#ifndef PS_WSGUARD_H
#define PS_WSGUARD_H

struct lws;

/* LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED: scan wsi's connection. */
void		 ps_wsguard_accept(struct lws *wsi);
/* LWS_CALLBACK_ESTABLISHED of a WebSocket protocol. */
void		 ps_wsguard_established(struct lws *wsi);
/* LWS_CALLBACK_CLOSED of a WebSocket protocol: forget wsi. */
void		 ps_wsguard_closed(struct lws *wsi);
/*
 * In WRITEABLE: the reason (a static string) when the peer broke the
 * framing and the connection must close with 1002, else NULL.
 */
const char	*ps_wsguard_broken(struct lws *wsi);
/*
 * LWS_CALLBACK_PROTOCOL_DESTROY of the HTTP protocol: the context is
 * going; frees the table of connections (a later accept starts anew).
 */
void		 ps_wsguard_free(void);

#endif
