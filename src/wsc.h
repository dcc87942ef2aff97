/*
 * A lean blocking WebSocket client (RFC 6455), part of libpsctl.  The
 * libwebsockets client masks and parses one byte at a time and caps a worker
 * near 0.3-0.5 GB/s, so workers frame their own messages: word-wide masking
 * with a random key while copying into a reusable send buffer, bulk reads of
 * payloads straight into the destination, no allocation per message once the
 * buffers have grown.  ws:// over TCP and wss:// through OpenSSL.  This is
 * the transport; what the bytes mean (handshake, frame headers, masking)
 * is wsframe.h's, which works without a socket.
 *
 * Not thread-safe: one thread uses a connection at a time.
 *
 * Time-outs bound each wait without progress, not a whole transfer: a large
 * message may take longer as long as bytes keep moving.  After any error
 * other than a PS_WSC_TIMEOUT between messages, the connection is unusable
 * and every later call fails with the same error; close it.
 */
#ifndef PS_WSC_H
#define PS_WSC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Why a call failed, so commands can choose exit codes. */
enum ps_wsc_err {
	PS_WSC_OK = 0,
	PS_WSC_UNAVAILABLE,	/* resolve/connect refused or timed out */
	PS_WSC_AUTH,		/* handshake answered 401 or 403 */
	PS_WSC_HANDSHAKE,	/* other HTTP answer, bad Accept, no subprotocol */
	PS_WSC_TLS,		/* certificate or TLS failure */
	PS_WSC_TIMEOUT,		/* an established call timed out */
	PS_WSC_CLOSED,		/* peer closed (close code in ps_wsc_close_code) */
	PS_WSC_PROTOCOL,	/* peer broke RFC 6455 */
	PS_WSC_TOO_LARGE,	/* incoming message over the caller's limit */
	PS_WSC_NOMEM,
	PS_WSC_ARG		/* bad URL or argument */
};

struct ps_wsc_opts {
	const char	*url;		/* ws://host:port[/path] or wss://... */
	const char	*protocol;	/* Sec-WebSocket-Protocol to ask for */
	const char	*token;		/* sent as Authorization: Bearer; may be NULL */
	const char	*ca_file;	/* wss: CA bundle to verify with; NULL = system */
	int		 insecure;	/* wss: skip verification (tests only) */
	int		 timeout_ms;	/* connect, handshake, each wait; 0 = 10 s */
};

struct ps_wsc;

/*
 * Connects and completes the handshake; NULL with *err and text in errbuf.
 * Refused, unreachable or silent servers give PS_WSC_UNAVAILABLE; 401/403
 * PS_WSC_AUTH; other answers PS_WSC_HANDSHAKE with the status line.
 */
struct ps_wsc	*ps_wsc_connect(const struct ps_wsc_opts *, enum ps_wsc_err *err,
		     char *errbuf, size_t errlen);
/*
 * Sends a close frame (1000) when the connection is healthy and waits
 * briefly for the server to hang up, then frees.  NULL is a no-op.
 */
void		 ps_wsc_close(struct ps_wsc *);

/*
 * Sends one message (binary or text) gathered from iov, masked, fragmented
 * into frames of at most 1 MiB.  The iovecs' memory is only read.  Returns
 * 0 or -1 (see ps_wsc_error()).
 */
int		 ps_wsc_send(struct ps_wsc *, int text, const struct iovec *,
		     int iovcnt);
/*
 * Receives the next whole data message (fragments joined; pings answered;
 * pongs skipped).  *buf points to the connection's receive buffer, 8-byte
 * aligned, followed by a NUL byte, valid until the next receive on this
 * connection.  max caps the message size (0 = 1 GiB); a larger message is
 * refused (PS_WSC_TOO_LARGE) before anything is allocated for it.
 * timeout_ms bounds the wait for a message to begin: < 0 the connection's
 * timeout, 0 polls; once it has begun the connection's timeout applies.
 * A close from the server gives PS_WSC_CLOSED and ps_wsc_close_code().
 * Text messages are checked to be UTF-8.  is_text may be NULL.  Returns 0
 * with *len and *is_text, or -1.
 */
int		 ps_wsc_recv(struct ps_wsc *, void **buf, size_t *len,
		     int *is_text, size_t max, int timeout_ms);
/* The socket, for poll(2) by callers that multiplex (psctl top). */
int		 ps_wsc_fd(const struct ps_wsc *);
/* 1 when buffered bytes (TLS or read-ahead) wait without the fd polling readable. */
int		 ps_wsc_pending(const struct ps_wsc *);
enum ps_wsc_err	 ps_wsc_errcode(const struct ps_wsc *);
const char	*ps_wsc_error(const struct ps_wsc *);
/* The close code the peer sent (0 if none). */
int		 ps_wsc_close_code(const struct ps_wsc *);
/* Status code the handshake got (101 on success). */
int		 ps_wsc_http_status(const struct ps_wsc *);

#endif
