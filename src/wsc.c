/*
 * A lean blocking WebSocket client (RFC 6455) for libpsctl: the transport
 * (TCP and TLS connect, reads, writes, time-outs) around the framing of
 * wsframe.c, which says what the bytes mean.
 *
 * Sending masks 8 bytes at a time with a fresh random key per frame while
 * copying the caller's iovecs into a reusable send buffer (the caller's
 * memory is only read), then writes large chunks.  Receiving reads frame
 * headers through a small read-ahead buffer and payloads straight into a
 * growing, reusable receive buffer with bulk reads.  Sockets are
 * non-blocking; every wait is a poll(2) bounded by the connection's timeout.
 *
 * Part of libpsctl: malloc and error reports, never exit, never log.  Runs
 * on the caller's thread; one thread per connection at a time.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tcp.h"
#include "utf8.h"
#include "wsc.h"
#include "wsframe.h"

#define WSC_FRAME_MAX		(1024 * 1024)	/* payload per frame we send */
#define WSC_SEND_BATCH		(WSC_FRAME_MAX + PS_WSFRAME_HDR_MAX)
#define WSC_RA_SIZE		(64 * 1024)	/* read-ahead: headers, small messages */
#define WSC_HTTP_MAX		16384		/* longest handshake answer */
#define WSC_SOCKBUF		(4 * 1024 * 1024)
#define WSC_LOWAT		(128 * 1024)	/* most a payload read waits for */
#define WSC_TIMEOUT_DEFAULT	10000
#define WSC_CLOSE_WAIT		2000		/* ms to wait for the peer's close */
#define WSC_MAX_DEFAULT		((size_t)1 << 30)

struct wsc_url {
	int		 tls;
	char		 host[256];	/* without brackets */
	char		 port[8];
	char		 hostport[272];	/* for the Host header */
	const char	*path;		/* borrowed from the URL; "" means "/" */
};

struct ps_wsc {
	int		 fd;
	SSL_CTX		*ctx;		/* owned; NULL for ws:// */
	SSL		*ssl;		/* owned */
	BIO_METHOD	*biom;		/* owned: send(2) with MSG_NOSIGNAL */
	int		 timeout_ms;
	int64_t		 deadline;	/* ms, CLOCK_MONOTONIC, of the current wait */

	enum ps_wsc_err	 err;
	char		 errbuf[256];
	int		 broken;	/* unusable: every call fails with err */
	int		 rx_sync;	/* at a message boundary (timeouts recoverable) */
	int		 close_sent;
	int		 close_code;
	int		 http_status;

	unsigned char	*sbuf;		/* owned: masked frames being sent */
	size_t		 scap;
	unsigned char	*rbuf;		/* owned: the last message received */
	size_t		 rcap;
	unsigned char	*ra;		/* owned: WSC_RA_SIZE read-ahead */
	size_t		 ra_off;
	size_t		 ra_len;	/* bytes waiting at ra + ra_off */
	int		 lowat;		/* SO_RCVLOWAT on the socket (1) */
};

static int64_t	 wsc_now(void);
static int	 wsc_fail(struct ps_wsc *, enum ps_wsc_err, const char *, ...)
		     __attribute__((__format__(__printf__, 3, 4)));
static int	 wsc_usable(struct ps_wsc *);
static int	 wsc_parse_url(const char *, struct wsc_url *, char *, size_t);
static int	 wsc_tcp_connect(struct ps_wsc *, const struct wsc_url *);
static int	 wsc_tls_connect(struct ps_wsc *, const struct wsc_url *,
		     const struct ps_wsc_opts *);
static int	 wsc_handshake(struct ps_wsc *, const struct wsc_url *,
		     const struct ps_wsc_opts *);
static int	 wsc_wait(struct ps_wsc *, short);
static int	 wsc_read_some(struct ps_wsc *, void *, size_t, size_t *);
static int	 wsc_write_all(struct ps_wsc *, const void *, size_t);
static int	 wsc_rx_need(struct ps_wsc *, size_t, int);
static int	 wsc_rx_payload(struct ps_wsc *, unsigned char *, size_t);
static void	 wsc_lowat(struct ps_wsc *, size_t);
static void	 wsc_rx_consume(struct ps_wsc *, size_t);
static int	 wsc_send_control(struct ps_wsc *, int, const void *, size_t);
static void	 wsc_send_close(struct ps_wsc *, int);
static void	 wsc_drain(struct ps_wsc *);

static int64_t
wsc_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Records why the connection failed; returns -1 for the caller's return. */
static int
wsc_fail(struct ps_wsc *c, enum ps_wsc_err err, const char *fmt, ...)
{
	va_list	ap;

	c->err = err;
	va_start(ap, fmt);
	vsnprintf(c->errbuf, sizeof c->errbuf, fmt, ap);
	va_end(ap);
	/* Only a timeout between messages leaves the stream in step. */
	if (err != PS_WSC_TIMEOUT || !c->rx_sync)
		c->broken = 1;
	return -1;
}

static int
wsc_usable(struct ps_wsc *c)
{
	if (c->broken)
		return -1;
	c->err = PS_WSC_OK;
	c->errbuf[0] = '\0';
	return 0;
}

/*
 * Splits ws://host[:port][/path] or wss://...; host may be a name, an IPv4
 * address or a bracketed IPv6 address.  Userinfo is refused.
 */
static int
wsc_parse_url(const char *url, struct wsc_url *u, char *err, size_t errlen)
{
	const char	*p, *end, *hend, *portp;
	size_t		 hlen, plen;
	unsigned long	 port;
	char		*ep, pbuf[8];

	memset(u, 0, sizeof *u);
	if (strncasecmp(url, "ws://", 5) == 0)
		p = url + 5;
	else if (strncasecmp(url, "wss://", 6) == 0) {
		p = url + 6;
		u->tls = 1;
	} else {
		snprintf(err, errlen, "%s: not a ws:// or wss:// URL", url);
		return -1;
	}
	end = p + strcspn(p, "/?#");
	if (memchr(p, '@', end - p) != NULL) {
		snprintf(err, errlen, "%s: user names in URLs are not supported",
		    url);
		return -1;
	}
	if (*p == '[') {
		hend = memchr(p, ']', end - p);
		if (hend == NULL) {
			snprintf(err, errlen, "%s: unclosed [ in the host", url);
			return -1;
		}
		hlen = hend - (p + 1);
		memcpy(u->host, p + 1, hlen < sizeof u->host ? hlen : 0);
		portp = hend + 1;
		if (portp != end && *portp != ':') {
			snprintf(err, errlen, "%s: junk after the IPv6 address",
			    url);
			return -1;
		}
	} else {
		hend = memchr(p, ':', end - p);
		if (hend == NULL)
			hend = end;
		hlen = hend - p;
		memcpy(u->host, p, hlen < sizeof u->host ? hlen : 0);
		portp = hend;
	}
	if (hlen == 0 || hlen >= sizeof u->host) {
		snprintf(err, errlen, "%s: %s host name", url,
		    hlen == 0 ? "no" : "too long a");
		return -1;
	}
	if (portp != end) {
		plen = end - (portp + 1);
		if (plen == 0 || plen >= sizeof pbuf) {
			snprintf(err, errlen, "%s: bad port", url);
			return -1;
		}
		memcpy(pbuf, portp + 1, plen);
		pbuf[plen] = '\0';
		errno = 0;
		port = strtoul(pbuf, &ep, 10);
		if (*pbuf < '0' || *pbuf > '9' || *ep != '\0' || port == 0 ||
		    port > 65535) {
			snprintf(err, errlen, "%s: bad port", url);
			return -1;
		}
	} else
		port = u->tls ? 443 : 80;
	snprintf(u->port, sizeof u->port, "%lu", port);
	if (strchr(u->host, ':') != NULL)
		snprintf(u->hostport, sizeof u->hostport, "[%s]:%s", u->host,
		    u->port);
	else
		snprintf(u->hostport, sizeof u->hostport, "%s:%s", u->host,
		    u->port);
	if (*end == '#') {
		snprintf(err, errlen, "%s: fragments are not allowed in "
		    "WebSocket URLs", url);
		return -1;
	}
	for (p = end; *p != '\0'; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '#') {
			snprintf(err, errlen, "%s: bad character in the path",
			    url);
			return -1;
		}
	}
	u->path = end;
	return 0;
}

static int
wsc_tcp_connect(struct ps_wsc *c, const struct wsc_url *u)
{
	struct addrinfo	 hints, *res, *ai;
	struct pollfd	 pfd;
	socklen_t	 sl;
	int		 fd, r, soerr, one = 1, bufsz = WSC_SOCKBUF;
	int64_t		 left;
	char		 why[128];

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((r = getaddrinfo(u->host, u->port, &hints, &res)) != 0)
		return wsc_fail(c, PS_WSC_UNAVAILABLE, "cannot resolve %s: %s",
		    u->host, gai_strerror(r));

	snprintf(why, sizeof why, "no address");
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1) {
			snprintf(why, sizeof why, "%s", strerror(errno));
			continue;
		}
		/* Before connect(2), so that the window scale can use them. */
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof bufsz);
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof bufsz);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			goto connected;
		if (errno != EINPROGRESS) {
			snprintf(why, sizeof why, "%s", strerror(errno));
			close(fd);
			continue;
		}
		for (;;) {
			left = c->deadline - wsc_now();
			if (left < 0)
				left = 0;
			pfd.fd = fd;
			pfd.events = POLLOUT;
			r = poll(&pfd, 1, (int)left);
			if (r == -1 && errno == EINTR)
				continue;
			break;
		}
		if (r == 0) {
			close(fd);
			freeaddrinfo(res);
			return wsc_fail(c, PS_WSC_UNAVAILABLE,
			    "connect to %s timed out", u->hostport);
		}
		soerr = 0;
		sl = sizeof soerr;
		if (r == -1)
			soerr = errno;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == -1)
			soerr = errno;
		if (soerr == 0)
			goto connected;
		snprintf(why, sizeof why, "%s", strerror(soerr));
		close(fd);
	}
	freeaddrinfo(res);
	return wsc_fail(c, PS_WSC_UNAVAILABLE, "connect to %s: %s",
	    u->hostport, why);

connected:
	freeaddrinfo(res);
	c->fd = fd;
	ps_tcp_local_client(fd);
	return 0;
}

/* A socket BIO that writes with MSG_NOSIGNAL: a library must not SIGPIPE. */
static int
wsc_bio_write(BIO *b, const char *buf, int n)
{
	ssize_t	r;

	BIO_clear_retry_flags(b);
	r = send(*(int *)BIO_get_data(b), buf, n, MSG_NOSIGNAL);
	if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		BIO_set_retry_write(b);
	return (int)r;
}

static int
wsc_bio_read(BIO *b, char *buf, int n)
{
	ssize_t	r;

	BIO_clear_retry_flags(b);
	r = recv(*(int *)BIO_get_data(b), buf, n, 0);
	if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		BIO_set_retry_read(b);
	return (int)r;
}

static long
wsc_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static void
wsc_tls_why(struct ps_wsc *c, char *buf, size_t len)
{
	unsigned long	e;
	long		v;

	if (c->ssl != NULL &&
	    (v = SSL_get_verify_result(c->ssl)) != X509_V_OK) {
		snprintf(buf, len, "certificate verify failed: %s",
		    X509_verify_cert_error_string(v));
		return;
	}
	if ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, len);
		return;
	}
	snprintf(buf, len, "%s", errno != 0 ? strerror(errno) :
	    "connection closed");
}

static int
wsc_tls_connect(struct ps_wsc *c, const struct wsc_url *u,
    const struct ps_wsc_opts *o)
{
	struct in6_addr	 a6;
	BIO		*bio;
	char		 why[256];
	int		 r, e, is_ip;

	ERR_clear_error();
	if ((c->ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return wsc_fail(c, PS_WSC_NOMEM, "cannot create a TLS context");
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(c->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (!o->insecure) {
		SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
		if (o->ca_file != NULL) {
			if (SSL_CTX_load_verify_locations(c->ctx, o->ca_file,
			    NULL) != 1) {
				wsc_tls_why(c, why, sizeof why);
				return wsc_fail(c, PS_WSC_TLS,
				    "cannot load CA file %s: %s", o->ca_file,
				    why);
			}
		} else if (SSL_CTX_set_default_verify_paths(c->ctx) != 1)
			return wsc_fail(c, PS_WSC_TLS,
			    "cannot load the system's CA certificates");
	} else
		SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);

	if ((c->ssl = SSL_new(c->ctx)) == NULL)
		return wsc_fail(c, PS_WSC_NOMEM, "cannot create a TLS session");
	is_ip = inet_pton(AF_INET, u->host, &a6) == 1 ||
	    inet_pton(AF_INET6, u->host, &a6) == 1;
	if (!is_ip)
		SSL_set_tlsext_host_name(c->ssl, u->host);
	if (!o->insecure) {
		if (is_ip)
			r = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl),
			    u->host);
		else
			r = SSL_set1_host(c->ssl, u->host);
		if (r != 1)
			return wsc_fail(c, PS_WSC_TLS, "cannot set the host "
			    "name to verify");
	}

	c->biom = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
	    "psctl socket");
	if (c->biom == NULL)
		return wsc_fail(c, PS_WSC_NOMEM, "cannot create a BIO method");
	BIO_meth_set_write(c->biom, wsc_bio_write);
	BIO_meth_set_read(c->biom, wsc_bio_read);
	BIO_meth_set_ctrl(c->biom, wsc_bio_ctrl);
	if ((bio = BIO_new(c->biom)) == NULL)
		return wsc_fail(c, PS_WSC_NOMEM, "cannot create a BIO");
	BIO_set_data(bio, &c->fd);
	BIO_set_init(bio, 1);
	SSL_set_bio(c->ssl, bio, bio);

	for (;;) {
		ERR_clear_error();
		errno = 0;
		if ((r = SSL_connect(c->ssl)) == 1)
			return 0;
		e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			if (wsc_wait(c, e == SSL_ERROR_WANT_READ ? POLLIN :
			    POLLOUT) == -1) {
				c->err = PS_WSC_UNAVAILABLE;
				return -1;
			}
			continue;
		}
		wsc_tls_why(c, why, sizeof why);
		return wsc_fail(c, PS_WSC_TLS, "TLS with %s: %s", u->hostport,
		    why);
	}
}

/* Waits until the socket is ready for events or the deadline passes. */
static int
wsc_wait(struct ps_wsc *c, short events)
{
	struct pollfd	pfd;
	int64_t		left;
	int		r;

	for (;;) {
		left = c->deadline - wsc_now();
		if (left < 0)
			left = 0;
		pfd.fd = c->fd;
		pfd.events = events;
		pfd.revents = 0;
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0)
			return 0;
		/* Bytes short of SO_RCVLOWAT are progress all the same. */
		if (r == 0 && (events & POLLIN) && c->lowat > 1 &&
		    ioctl(c->fd, FIONREAD, &r) == 0 && r > 0) {
			wsc_lowat(c, 0);
			return 0;
		}
		if (r == 0)
			return wsc_fail(c, PS_WSC_TIMEOUT, "timed out after "
			    "%d ms", c->timeout_ms);
		if (errno != EINTR)
			return wsc_fail(c, PS_WSC_CLOSED, "poll: %s",
			    strerror(errno));
	}
}

/*
 * Reads at least one byte into buf (at most len), waiting as needed.  Any
 * progress pushes the deadline to a full timeout from now.
 */
static int
wsc_read_some(struct ps_wsc *c, void *buf, size_t len, size_t *got)
{
	ssize_t	r;
	short	want;
	char	why[256];
	int	e;

	for (;;) {
		want = POLLIN;
		if (c->ssl != NULL) {
			ERR_clear_error();
			errno = 0;
			r = SSL_read(c->ssl, buf, len > INT_MAX ? INT_MAX :
			    (int)len);
			if (r <= 0) {
				e = SSL_get_error(c->ssl, (int)r);
				if (e == SSL_ERROR_WANT_WRITE)
					want = POLLOUT;
				else if (e != SSL_ERROR_WANT_READ) {
					if (e == SSL_ERROR_ZERO_RETURN ||
					    (e == SSL_ERROR_SYSCALL &&
					    errno == 0))
						goto eof;
					wsc_tls_why(c, why, sizeof why);
					return wsc_fail(c, e == SSL_ERROR_SSL ?
					    PS_WSC_TLS : PS_WSC_CLOSED,
					    "read: %s", why);
				}
				r = -1;
			}
		} else {
			r = recv(c->fd, buf, len, 0);
			if (r == 0)
				goto eof;
			if (r == -1 && errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR)
				return wsc_fail(c, PS_WSC_CLOSED, "read: %s",
				    strerror(errno));
		}
		if (r > 0) {
			*got = (size_t)r;
			c->deadline = wsc_now() + c->timeout_ms;
			return 0;
		}
		if (wsc_wait(c, want) == -1)
			return -1;
	}
eof:
	return wsc_fail(c, PS_WSC_CLOSED, "the server closed the connection");
}

static int
wsc_write_all(struct ps_wsc *c, const void *buf, size_t len)
{
	const unsigned char	*p = buf;
	ssize_t			 r;
	short			 want;
	char			 why[256];
	int			 e;

	while (len > 0) {
		want = POLLOUT;
		if (c->ssl != NULL) {
			ERR_clear_error();
			errno = 0;
			r = SSL_write(c->ssl, p, len > INT_MAX ? INT_MAX :
			    (int)len);
			if (r <= 0) {
				e = SSL_get_error(c->ssl, (int)r);
				if (e == SSL_ERROR_WANT_READ)
					want = POLLIN;
				else if (e != SSL_ERROR_WANT_WRITE) {
					wsc_tls_why(c, why, sizeof why);
					return wsc_fail(c, e == SSL_ERROR_SSL ?
					    PS_WSC_TLS : PS_WSC_CLOSED,
					    "write: %s", why);
				}
				r = -1;
			}
		} else {
			r = send(c->fd, p, len, MSG_NOSIGNAL);
			if (r == -1 && errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR)
				return wsc_fail(c, PS_WSC_CLOSED, "write: %s",
				    strerror(errno));
		}
		if (r > 0) {
			p += r;
			len -= (size_t)r;
			c->deadline = wsc_now() + c->timeout_ms;
			continue;
		}
		c->rx_sync = 0;		/* a half-sent message cannot be resumed */
		if (wsc_wait(c, want) == -1)
			return -1;
	}
	return 0;
}

/*
 * Makes n bytes (n <= PS_WSFRAME_HDR_MAX) wait contiguously at ra + ra_off.
 * Reads ahead as far as the buffer allows, unless frame_only: inside a
 * fragmented message the next frame's payload is better read straight to
 * its place than through the read-ahead buffer, so only a header's worth
 * is read.
 */
static int
wsc_rx_need(struct ps_wsc *c, size_t n, int frame_only)
{
	size_t	got, want;

	while (c->ra_len < n) {
		if (c->ra_off + PS_WSFRAME_HDR_MAX > WSC_RA_SIZE) {
			memmove(c->ra, c->ra + c->ra_off, c->ra_len);
			c->ra_off = 0;
		}
		want = WSC_RA_SIZE - c->ra_off - c->ra_len;
		if (frame_only && want > PS_WSFRAME_HDR_MAX - c->ra_len)
			want = PS_WSFRAME_HDR_MAX - c->ra_len;
		if (wsc_read_some(c, c->ra + c->ra_off + c->ra_len, want,
		    &got) == -1)
			return -1;
		c->ra_len += got;
	}
	return 0;
}

static void
wsc_rx_consume(struct ps_wsc *c, size_t n)
{
	c->ra_off += n;
	c->ra_len -= n;
	if (c->ra_len == 0)
		c->ra_off = 0;
}

/* Reads n payload bytes to dst: first what is read ahead, then in bulk. */
static int
wsc_rx_payload(struct ps_wsc *c, unsigned char *dst, size_t n)
{
	size_t	k, got;

	k = n < c->ra_len ? n : c->ra_len;
	memcpy(dst, c->ra + c->ra_off, k);
	wsc_rx_consume(c, k);
	while (k < n) {
		wsc_lowat(c, n - k);
		if (wsc_read_some(c, dst + k, n - k, &got) == -1)
			return -1;
		k += got;
	}
	wsc_lowat(c, 0);
	return 0;
}

/*
 * While a large payload arrives, poll() waits until WSC_LOWAT bytes of it
 * are in the socket (SO_RCVLOWAT), or what is left of it if less: else
 * every segment the kernel queues wakes this thread, which on loopback
 * the server pays for, in the softirq that queues it (a 4 MB pull cost
 * the server 1.35 ms of CPU without, 1.0 ms with).  Only bytes the server
 * must still send are waited for; wsc_wait() counts bytes waiting at a
 * timeout as progress.  Not under TLS, where socket bytes are not payload
 * bytes.  want 0 turns it off.
 */
static void
wsc_lowat(struct ps_wsc *c, size_t want)
{
	int	v;

	if (c->ssl != NULL)
		return;
	if (want < WSC_LOWAT / 2)
		v = 1;
	else
		v = want > WSC_LOWAT ? WSC_LOWAT : (int)want;
	if (v != c->lowat &&
	    setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof v) == 0)
		c->lowat = v;
}

static int
wsc_key(struct ps_wsc *c, unsigned char *key)
{
	if (RAND_bytes(key, 4) != 1)
		return wsc_fail(c, PS_WSC_NOMEM, "no random bytes for a mask");
	return 0;
}

int
ps_wsc_send(struct ps_wsc *c, int text, const struct iovec *iov, int iovcnt)
{
	unsigned char	 key[4], *nb;
	size_t		 total = 0, left, flen, done, k, pos, voff, need;
	int		 vi, first;

	if (wsc_usable(c) == -1)
		return -1;
	if (iovcnt < 0 || (iovcnt > 0 && iov == NULL))
		return wsc_fail(c, PS_WSC_ARG, "bad iovec");
	for (vi = 0; vi < iovcnt; vi++) {
		if (iov[vi].iov_len > SIZE_MAX - total)
			return wsc_fail(c, PS_WSC_ARG, "message too long");
		total += iov[vi].iov_len;
	}
	if (c->close_sent)
		return wsc_fail(c, PS_WSC_CLOSED, "the connection is closing");

	need = total + PS_WSFRAME_HDR_MAX;
	if (need > WSC_SEND_BATCH || total > WSC_SEND_BATCH)
		need = WSC_SEND_BATCH;
	if (c->scap < need) {
		if ((nb = realloc(c->sbuf, need)) == NULL)
			return wsc_fail(c, PS_WSC_NOMEM, "out of memory");
		c->sbuf = nb;
		c->scap = need;
	}

	c->deadline = wsc_now() + c->timeout_ms;
	left = total;
	first = 1;
	pos = 0;
	vi = 0;
	voff = 0;
	do {
		flen = left < WSC_FRAME_MAX ? left : WSC_FRAME_MAX;
		if (pos + PS_WSFRAME_HDR_MAX + flen > c->scap) {
			if (wsc_write_all(c, c->sbuf, pos) == -1)
				return -1;
			pos = 0;
		}
		if (wsc_key(c, key) == -1)
			return -1;
		pos += ps_wsframe_put_header(c->sbuf + pos, flen == left,
		    first ? (text ? PS_WSFRAME_TEXT : PS_WSFRAME_BINARY) : PS_WSFRAME_CONT,
		    flen, key);
		for (done = 0; done < flen; done += k) {
			while (voff == iov[vi].iov_len) {
				vi++;
				voff = 0;
			}
			k = iov[vi].iov_len - voff;
			if (k > flen - done)
				k = flen - done;
			ps_wsframe_mask(c->sbuf + pos,
			    (const unsigned char *)iov[vi].iov_base + voff, k,
			    key, done);
			pos += k;
			voff += k;
		}
		left -= flen;
		first = 0;
	} while (left > 0);
	return wsc_write_all(c, c->sbuf, pos);
}

static int
wsc_send_control(struct ps_wsc *c, int op, const void *payload, size_t len)
{
	unsigned char	b[PS_WSFRAME_HDR_MAX + 125], key[4];
	size_t		h;

	if (len > 125 || wsc_key(c, key) == -1)
		return -1;
	h = ps_wsframe_put_header(b, 1, op, len, key);
	ps_wsframe_mask(b + h, payload, len, key, 0);
	return wsc_write_all(c, b, h + len);
}

/* Sends a close frame with code once; failures only mark it sent. */
static void
wsc_send_close(struct ps_wsc *c, int code)
{
	unsigned char	p[2];
	enum ps_wsc_err	err;
	char		errbuf[sizeof c->errbuf];
	int		broken;

	if (c->close_sent || c->fd == -1)
		return;
	c->close_sent = 1;
	/* Keep the error that made us close. */
	err = c->err;
	broken = c->broken;
	memcpy(errbuf, c->errbuf, sizeof errbuf);
	c->deadline = wsc_now() + (c->timeout_ms < WSC_CLOSE_WAIT ?
	    c->timeout_ms : WSC_CLOSE_WAIT);
	p[0] = (unsigned char)(code >> 8);
	p[1] = (unsigned char)code;
	wsc_send_control(c, PS_WSFRAME_CLOSE, p, 2);
	c->err = err;
	c->broken = broken;
	memcpy(c->errbuf, errbuf, sizeof errbuf);
}

int
ps_wsc_recv(struct ps_wsc *c, void **buf, size_t *len, int *is_text,
    size_t max, int timeout_ms)
{
	struct ps_wsframe_rx	 rx;
	struct ps_wsframe	 f;
	unsigned char		 ctl[PS_WSFRAME_CONTROL_MAX], *nb;
	size_t			 need, msglen = 0, cap;
	int			 code;

	if (wsc_usable(c) == -1)
		return -1;
	if (c->close_sent)
		return wsc_fail(c, PS_WSC_CLOSED, "the connection is closing");
	if (max == 0)
		max = WSC_MAX_DEFAULT;
	if (max > SIZE_MAX - 4096)
		max = SIZE_MAX - 4096;
	c->deadline = wsc_now() + (timeout_ms < 0 ? c->timeout_ms : timeout_ms);
	c->rx_sync = 1;
	ps_wsframe_rx_init(&rx, max);

	for (;;) {
		need = 2;
		while (ps_wsframe_read(&rx, c->ra + c->ra_off, c->ra_len, &f,
		    &need) == PS_WSFRAME_NEED) {
			if (wsc_rx_need(c, need, rx.msgop != -1) == -1)
				return -1;
		}
		c->rx_sync = 0;
		if (f.close_code != 0) {
			wsc_fail(c, f.close_code == PS_WSFRAME_CLOSE_TOO_BIG ?
			    PS_WSC_TOO_LARGE : PS_WSC_PROTOCOL, "%s", f.why);
			wsc_send_close(c, f.close_code);
			return -1;
		}
		wsc_rx_consume(c, f.hlen);

		if (f.op & 0x8) {
			if (wsc_rx_payload(c, ctl, (size_t)f.len) == -1)
				return -1;
			if (f.op == PS_WSFRAME_PING) {
				if (wsc_send_control(c, PS_WSFRAME_PONG, ctl,
				    (size_t)f.len) == -1)
					return -1;
			} else if (f.op == PS_WSFRAME_CLOSE) {
				if (ps_wsframe_close_code(ctl, (size_t)f.len,
				    &code) == -1) {
					wsc_fail(c, PS_WSC_PROTOCOL, "close "
					    "frame of one byte");
					wsc_send_close(c,
					    PS_WSFRAME_CLOSE_PROTOCOL);
					return -1;
				}
				c->close_code = f.len >= 2 ? code : 0;
				wsc_fail(c, PS_WSC_CLOSED, "the server closed "
				    "the connection (%d%s%.*s)", code,
				    f.len > 2 ? ": " : "",
				    f.len > 2 ? (int)f.len - 2 : 0, ctl + 2);
				wsc_send_close(c, f.len >= 2 ? code :
				    PS_WSFRAME_CLOSE_NORMAL);
				return -1;
			}
			if (rx.msgop == -1)
				c->rx_sync = 1;
			continue;
		}

		/* The caller's timeout was for the start of a message. */
		c->deadline = wsc_now() + c->timeout_ms;
		/* One spare byte: text messages are NUL-terminated. */
		if (f.msgoff + f.len + 1 > c->rcap) {
			cap = c->rcap + c->rcap / 2;
			if (cap < f.msgoff + f.len + 1)
				cap = f.msgoff + f.len + 1;
			cap = (cap + 4095) & ~(size_t)4095;
			if ((nb = realloc(c->rbuf, cap)) == NULL)
				return wsc_fail(c, PS_WSC_NOMEM, "out of memory "
				    "for a message of %zu bytes",
				    (size_t)(f.msgoff + f.len));
			c->rbuf = nb;
			c->rcap = cap;
		}
		if (wsc_rx_payload(c, c->rbuf + f.msgoff, (size_t)f.len) == -1)
			return -1;
		msglen = f.msgoff + (size_t)f.len;
		if (f.last)
			break;
	}
	c->rx_sync = 1;
	if (f.msgop == PS_WSFRAME_TEXT && !ps_utf8_valid(c->rbuf, msglen)) {
		wsc_fail(c, PS_WSC_PROTOCOL, "text message is not UTF-8");
		wsc_send_close(c, PS_WSFRAME_CLOSE_BAD_DATA);
		return -1;
	}
	c->rbuf[msglen] = '\0';
	*buf = c->rbuf;
	*len = msglen;
	if (is_text != NULL)
		*is_text = f.msgop == PS_WSFRAME_TEXT;
	return 0;
}

/*
 * The opening handshake: GET with a random key, then the answer, read
 * until it is whole and checked by ps_wsframe_answer().
 */
static int
wsc_handshake(struct ps_wsc *c, const struct wsc_url *u,
    const struct ps_wsc_opts *o)
{
	unsigned char		 nonce[16];
	char			 key[PS_WSFRAME_KEY_LEN], why[256];
	char			 want[PS_WSFRAME_ACCEPT_LEN], *req;
	size_t			 have = 0, got, hdrlen;
	enum ps_wsframe_res	 r;
	int			 n;

	if (RAND_bytes(nonce, sizeof nonce) != 1)
		return wsc_fail(c, PS_WSC_NOMEM, "no random bytes for the key");
	ps_wsframe_key(nonce, key);
	ps_wsframe_accept(key, want);
	if ((req = ps_wsframe_request(u->path, u->hostport, key, o->protocol,
	    o->token)) == NULL)
		return wsc_fail(c, PS_WSC_NOMEM, "out of memory");
	n = wsc_write_all(c, req, strlen(req));
	free(req);
	if (n == -1)
		goto fail;

	for (;;) {
		if (have >= WSC_HTTP_MAX)
			return wsc_fail(c, PS_WSC_HANDSHAKE, "handshake answer "
			    "over %d bytes", WSC_HTTP_MAX);
		if (wsc_read_some(c, c->ra + have, WSC_HTTP_MAX - have,
		    &got) == -1)
			goto fail;
		have += got;
		c->ra[have] = '\0';
		r = ps_wsframe_answer((char *)c->ra, have, want, o->protocol,
		    &c->http_status, &hdrlen, why, sizeof why);
		if (r == PS_WSFRAME_DONE)
			break;
		if (r == PS_WSFRAME_ERROR)
			return wsc_fail(c, c->http_status == 401 ||
			    c->http_status == 403 ? PS_WSC_AUTH :
			    PS_WSC_HANDSHAKE, "%s", why);
	}
	/* Frames the server sent right behind its answer wait there. */
	c->ra_off = hdrlen;
	c->ra_len = have - hdrlen;
	return 0;

fail:
	/* A server that stops answering mid-handshake is not reachable. */
	if (c->err == PS_WSC_TIMEOUT || c->err == PS_WSC_CLOSED) {
		c->err = PS_WSC_UNAVAILABLE;
		if (strlen(c->errbuf) + 16 < sizeof c->errbuf) {
			memmove(c->errbuf + 11, c->errbuf,
			    strlen(c->errbuf) + 1);
			memcpy(c->errbuf, "handshake: ", 11);
		}
	}
	return -1;
}

static int
wsc_header_safe(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			return 0;
	}
	return 1;
}

struct ps_wsc *
ps_wsc_connect(const struct ps_wsc_opts *o, enum ps_wsc_err *err,
    char *errbuf, size_t errlen)
{
	struct ps_wsc	*c;
	struct wsc_url	 u;
	char		 why[256];

	if (o == NULL || o->url == NULL) {
		snprintf(errbuf, errlen, "no URL");
		*err = PS_WSC_ARG;
		return NULL;
	}
	if (wsc_parse_url(o->url, &u, why, sizeof why) == -1) {
		snprintf(errbuf, errlen, "%s", why);
		*err = PS_WSC_ARG;
		return NULL;
	}
	if ((o->token != NULL && !wsc_header_safe(o->token)) ||
	    (o->protocol != NULL && !wsc_header_safe(o->protocol))) {
		snprintf(errbuf, errlen, "control characters in the token or "
		    "the protocol");
		*err = PS_WSC_ARG;
		return NULL;
	}
	if ((c = calloc(1, sizeof *c)) == NULL ||
	    (c->ra = malloc(WSC_RA_SIZE + 1)) == NULL) {
		free(c);
		snprintf(errbuf, errlen, "out of memory");
		*err = PS_WSC_NOMEM;
		return NULL;
	}
	c->fd = -1;
	c->lowat = 1;		/* the kernel's default */
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : WSC_TIMEOUT_DEFAULT;
	c->deadline = wsc_now() + c->timeout_ms;

	if (wsc_tcp_connect(c, &u) == -1 ||
	    (u.tls && wsc_tls_connect(c, &u, o) == -1) ||
	    wsc_handshake(c, &u, o) == -1) {
		*err = c->err;
		snprintf(errbuf, errlen, "%s", c->errbuf);
		c->close_sent = 1;	/* no WebSocket yet: just hang up */
		ps_wsc_close(c);
		return NULL;
	}
	c->rx_sync = 1;
	*err = PS_WSC_OK;
	if (errlen > 0)
		*errbuf = '\0';
	return c;
}

/* Reads and discards until the peer hangs up or the deadline passes. */
static void
wsc_drain(struct ps_wsc *c)
{
	unsigned char	buf[4096];
	size_t		got;

	c->broken = 0;
	c->rx_sync = 1;
	while (wsc_read_some(c, buf, sizeof buf, &got) == 0)
		;
}

void
ps_wsc_close(struct ps_wsc *c)
{
	if (c == NULL)
		return;
	if (c->fd != -1 && !c->close_sent && !c->broken) {
		/* Our close, then wait for the server to hang up (RFC 6455 7.1.1). */
		wsc_send_close(c, 1000);
		c->deadline = wsc_now() + (c->timeout_ms < WSC_CLOSE_WAIT ?
		    c->timeout_ms : WSC_CLOSE_WAIT);
		wsc_drain(c);
	}
	if (c->ssl != NULL) {
		if (c->fd != -1 && SSL_is_init_finished(c->ssl) &&
		    c->err != PS_WSC_TLS)
			SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	SSL_CTX_free(c->ctx);
	BIO_meth_free(c->biom);
	if (c->fd != -1)
		close(c->fd);
	free(c->sbuf);
	free(c->rbuf);
	free(c->ra);
	free(c);
}

int
ps_wsc_fd(const struct ps_wsc *c)
{
	return c->fd;
}

int
ps_wsc_pending(const struct ps_wsc *c)
{
	return c->ra_len > 0 || (c->ssl != NULL && SSL_pending(c->ssl) > 0);
}

enum ps_wsc_err
ps_wsc_errcode(const struct ps_wsc *c)
{
	return c->err;
}

const char *
ps_wsc_error(const struct ps_wsc *c)
{
	return c->errbuf;
}

int
ps_wsc_close_code(const struct ps_wsc *c)
{
	return c->close_code;
}

int
ps_wsc_http_status(const struct ps_wsc *c)
{
	return c->http_status;
}
