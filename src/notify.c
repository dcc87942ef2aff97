/*
 * sd_notify without libsystemd (notify.h).
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "notify.h"
#include "xmalloc.h"

int
ps_notify(const char *state, char **cause)
{
	struct sockaddr_un	 sun;
	const char		*path;
	socklen_t		 salen;
	size_t			 len;
	ssize_t			 n;
	int			 fd, saved;

	path = getenv("NOTIFY_SOCKET");
	if (path == NULL || *path == '\0')
		return 0;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof sun.sun_path) {
		*cause = xasprintf("NOTIFY_SOCKET=%s: not a socket path or "
		    "abstract name", path);
		return -1;
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, len);
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';	/* abstract: no NUL terminator */
	else
		salen++;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		*cause = xasprintf("notify socket: %s", strerror(errno));
		return -1;
	}
	n = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, salen);
	saved = errno;
	close(fd);
	if (n == -1) {
		*cause = xasprintf("notify %s: %s", path, strerror(saved));
		return -1;
	}
	return 1;
}

/* A positive decimal number in name, or -1 with *cause. */
static int
notify_env_number(const char *name, const char *v, uintmax_t *n,
    char **cause)
{
	char	*end;

	errno = 0;
	*n = strtoumax(v, &end, 10);
	if (*v < '0' || *v > '9' || errno != 0 || *end != '\0' || *n == 0) {
		*cause = xasprintf("%s=%s: not a positive whole number", name,
		    v);
		return -1;
	}
	return 0;
}

int
ps_notify_watchdog(uint64_t *usec, char **cause)
{
	const char	*v;
	uintmax_t	 n, pid;

	*usec = 0;
	v = getenv("WATCHDOG_USEC");
	if (v == NULL || *v == '\0')
		return 0;
	if (notify_env_number("WATCHDOG_USEC", v, &n, cause) != 0)
		return -1;
	v = getenv("WATCHDOG_PID");
	if (v != NULL && *v != '\0') {
		if (notify_env_number("WATCHDOG_PID", v, &pid, cause) != 0)
			return -1;
		if (pid != (uintmax_t)getpid())
			return 0;	/* meant for another process */
	}
	*usec = n > UINT64_MAX ? UINT64_MAX : (uint64_t)n;
	return 1;
}
