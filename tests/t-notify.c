/*
 * The systemd notify datagram, to a socket path and to an abstract name.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "notify.h"
#include "tap.h"

/* Binds a datagram socket to path ('@' for abstract); -1 on failure. */
static int
bind_dgram(const char *path)
{
	struct sockaddr_un	sun;
	socklen_t		len;
	int			fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strncpy(sun.sun_path, path, sizeof sun.sun_path - 1);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(path));
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	else
		len++;
	if ((fd = socket(AF_UNIX, SOCK_DGRAM, 0)) == -1)
		return -1;
	if (bind(fd, (struct sockaddr *)&sun, len) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads one datagram within a second into buf; its length or -1. */
static ssize_t
read_dgram(int fd, char *buf, size_t len)
{
	struct pollfd	pfd = { .fd = fd, .events = POLLIN };
	ssize_t		n;

	if (poll(&pfd, 1, 1000) != 1)
		return -1;
	n = recv(fd, buf, len - 1, 0);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

int
main(void)
{
	char	*dir, *path, *cause = NULL, buf[256], abs[64], pid[32];
	int	 fd, r;
	uint64_t usec;

	plan(16);
	dir = tap_tmpdir();

	unsetenv("NOTIFY_SOCKET");
	is_int(ps_notify("READY=1", &cause), 0,
	    "without NOTIFY_SOCKET nothing is sent");
	setenv("NOTIFY_SOCKET", "", 1);
	is_int(ps_notify("READY=1", &cause), 0,
	    "an empty NOTIFY_SOCKET sends nothing");

	if (asprintf(&path, "%s/notify", dir) == -1)
		bail_out("asprintf");
	if ((fd = bind_dgram(path)) == -1)
		bail_out("cannot bind %s", path);
	setenv("NOTIFY_SOCKET", path, 1);
	is_int(ps_notify("READY=1", &cause), 1, "READY=1 is sent to a path");
	ok(read_dgram(fd, buf, sizeof buf) == 7 && strcmp(buf, "READY=1") == 0,
	    "the socket reads READY=1");
	is_int(ps_notify("STOPPING=1\nSTATUS=draining", &cause), 1,
	    "two lines are sent as one datagram");
	ok(read_dgram(fd, buf, sizeof buf) > 0 &&
	    strcmp(buf, "STOPPING=1\nSTATUS=draining") == 0,
	    "the socket reads both lines in one datagram");
	close(fd);
	unlink(path);

	snprintf(abs, sizeof abs, "@psctl-t-notify-%ld", (long)getpid());
	if ((fd = bind_dgram(abs)) == -1)
		bail_out("cannot bind abstract %s", abs);
	setenv("NOTIFY_SOCKET", abs, 1);
	is_int(ps_notify("READY=1", &cause), 1,
	    "READY=1 is sent to an abstract socket");
	ok(read_dgram(fd, buf, sizeof buf) == 7 && strcmp(buf, "READY=1") == 0,
	    "the abstract socket reads READY=1");
	close(fd);

	setenv("NOTIFY_SOCKET", "relative/path", 1);
	cause = NULL;
	r = ps_notify("READY=1", &cause);
	ok(r == -1 && cause != NULL,
	    "a relative NOTIFY_SOCKET is an error: %s", cause);
	free(cause);

	/* The watchdog's period, for this process only. */
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	is_int(ps_notify_watchdog(&usec, &cause), 0,
	    "without WATCHDOG_USEC there is no watchdog");
	setenv("WATCHDOG_USEC", "30000000", 1);
	ok(ps_notify_watchdog(&usec, &cause) == 1 && usec == 30000000,
	    "WATCHDOG_USEC=30000000 is a 30 s watchdog");
	snprintf(pid, sizeof pid, "%ld", (long)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	ok(ps_notify_watchdog(&usec, &cause) == 1 && usec == 30000000,
	    "WATCHDOG_PID of this process keeps it");
	snprintf(pid, sizeof pid, "%ld", (long)getppid());
	setenv("WATCHDOG_PID", pid, 1);
	is_int(ps_notify_watchdog(&usec, &cause), 0,
	    "WATCHDOG_PID of another process: not ours");
	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "0", 1);
	cause = NULL;
	r = ps_notify_watchdog(&usec, &cause);
	ok(r == -1 && cause != NULL, "WATCHDOG_USEC=0 is an error: %s", cause);
	free(cause);
	setenv("WATCHDOG_USEC", "30s", 1);
	cause = NULL;
	r = ps_notify_watchdog(&usec, &cause);
	ok(r == -1 && cause != NULL, "WATCHDOG_USEC=30s is an error: %s",
	    cause);
	free(cause);
	setenv("WATCHDOG_USEC", "-5", 1);
	cause = NULL;
	r = ps_notify_watchdog(&usec, &cause);
	ok(r == -1 && cause != NULL, "WATCHDOG_USEC=-5 is an error: %s",
	    cause);
	free(cause);
	unsetenv("WATCHDOG_USEC");

	free(path);
	rmdir(dir);
	free(dir);
	return exit_status();
}
