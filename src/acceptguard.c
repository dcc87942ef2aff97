/*
 * A back-off for accept() out of descriptors (acceptguard.h).  Service
 * thread only.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "acceptguard.h"
#include "log.h"

/* Listen sockets paused at once (lws 4.1 has one a vhost). */
#define GUARD_NLISTEN	4

static struct lws_context	*guard_ctx;	/* borrowed */
static lws_sorted_usec_list_t	 guard_sul;	/* the back-off's end */
static int			 guard_timer;	/* guard_sul is scheduled */
static int			 guard_fds[GUARD_NLISTEN]; /* paused listen fds */
static size_t			 guard_nfds;
static int64_t			 guard_backoff_us; /* 0: none yet in a row */
static uint64_t			 guard_refused;
static uint64_t			 guard_refused_logged;
static int64_t			 guard_log_us;	/* last line; 0: none */

static int	guard_accept(int, struct sockaddr *, socklen_t *, int);
static void	guard_refuse(int, int);
static int	guard_flow(int, int);
static void	guard_resume_cb(lws_sorted_usec_list_t *);
static int64_t	guard_now_us(void);

void
ps_acceptguard_start(struct lws_context *ctx)
{
	guard_ctx = ctx;
}

void
ps_acceptguard_stop(void)
{
	if (guard_timer)
		lws_sul_cancel(&guard_sul);
	guard_timer = 0;
	guard_nfds = 0;
	guard_ctx = NULL;
}

uint64_t
ps_acceptguard_refused(void)
{
	return guard_refused;
}

int
ps_acceptguard_paused(void)
{
	return guard_timer;
}

static int64_t
guard_now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * Reading on the listen socket fd on (on 1) or off, through its wsi.
 * Returns -1 when lws does not know fd.
 */
static int
guard_flow(int fd, int on)
{
	struct lws	*wsi;

	if (guard_ctx == NULL || (wsi = wsi_from_fd(guard_ctx, fd)) == NULL)
		return -1;
	lws_rx_flow_control(wsi, LWS_RXFLOW_REASON_USER_BOOL |
	    LWS_RXFLOW_REASON_FLAG_PROCESS_NOW | (on ?
	    LWS_RXFLOW_REASON_APPLIES_ENABLE :
	    LWS_RXFLOW_REASON_APPLIES_DISABLE));
	return 0;
}

/* The back-off is over: every paused listen socket reads again. */
static void
guard_resume_cb(lws_sorted_usec_list_t *sul)
{
	size_t	i;

	(void)sul;
	guard_timer = 0;
	for (i = 0; i < guard_nfds; i++)
		guard_flow(guard_fds[i], 1);
	guard_nfds = 0;
}

/*
 * accept() on fd failed with err for want of a descriptor: count it, log
 * it (at most once an interval), and pause fd until the back-off ends.
 */
static void
guard_refuse(int fd, int err)
{
	int64_t	now = guard_now_us();
	size_t	i;

	guard_refused++;
	for (i = 0; i < guard_nfds && guard_fds[i] != fd; i++)
		continue;
	if (i == guard_nfds && guard_nfds < GUARD_NLISTEN)
		guard_fds[guard_nfds++] = fd;
	if (!guard_timer) {
		/* A new pause: twice the last one if no accept came between. */
		if (guard_backoff_us == 0)
			guard_backoff_us = PS_ACCEPTGUARD_MIN_US;
		else if ((guard_backoff_us *= 2) > PS_ACCEPTGUARD_MAX_US)
			guard_backoff_us = PS_ACCEPTGUARD_MAX_US;
		lws_sul_schedule(guard_ctx, 0, &guard_sul, guard_resume_cb,
		    guard_backoff_us);
		guard_timer = 1;
	}
	if (guard_log_us == 0 ||
	    now - guard_log_us >= (int64_t)PS_ACCEPTGUARD_LOG_S * 1000000) {
		ps_log_warn("cannot accept a connection: %s; accepting paused "
		    "for %lld ms or until a descriptor closes (%llu refused "
		    "since the last such line, %llu in all)", strerror(err),
		    (long long)(guard_backoff_us / 1000),
		    (unsigned long long)(guard_refused - guard_refused_logged),
		    (unsigned long long)guard_refused);
		guard_log_us = now;
		guard_refused_logged = guard_refused;
	}
}

static int
guard_accept(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	long	s;
	int	err;

	s = syscall(SYS_accept4, fd, addr, len, flags);
	if (s >= 0) {
		/* A descriptor was free: the next pause starts short. */
		guard_backoff_us = 0;
		return (int)s;
	}
	err = errno;
	if ((err == EMFILE || err == ENFILE || err == ENOBUFS ||
	    err == ENOMEM) && guard_flow(fd, 0) == 0) {
		guard_refuse(fd, err);
		errno = EAGAIN;	/* lws waits for POLLIN, which is off */
		return -1;
	}
	errno = err;
	return -1;
}

/*
 * lws accepts with accept(): this definition, found before the C
 * library's, is the one its calls bind to.  accept4() too, should a
 * newer lws use it.
 */
int
accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return guard_accept(fd, addr, len, 0);
}

int
accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	return guard_accept(fd, addr, len, flags);
}
