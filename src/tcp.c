/*
 * TCP settings for same-host connections (tcp.h).  Any thread.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tcp.h"

int
ps_tcp_same_host_addr(const struct sockaddr *peer, const struct sockaddr *self)
{
	const struct sockaddr_in	*p4, *s4;
	const struct sockaddr_in6	*p6, *s6;

	if (peer->sa_family != self->sa_family)
		return 0;
	switch (peer->sa_family) {
	case AF_INET:
		p4 = (const struct sockaddr_in *)peer;
		s4 = (const struct sockaddr_in *)self;
		return (ntohl(p4->sin_addr.s_addr) >> 24) == 127 ||
		    p4->sin_addr.s_addr == s4->sin_addr.s_addr;
	case AF_INET6:
		p6 = (const struct sockaddr_in6 *)peer;
		s6 = (const struct sockaddr_in6 *)self;
		return IN6_IS_ADDR_LOOPBACK(&p6->sin6_addr) ||
		    (IN6_IS_ADDR_V4MAPPED(&p6->sin6_addr) &&
		    p6->sin6_addr.s6_addr[12] == 127) ||
		    memcmp(&p6->sin6_addr, &s6->sin6_addr,
		    sizeof p6->sin6_addr) == 0;
	default:
		return 0;
	}
}

int
ps_tcp_same_host(int fd)
{
	struct sockaddr_storage	 peer, self;
	socklen_t		 plen = sizeof peer, slen = sizeof self;

	if (getpeername(fd, (struct sockaddr *)&peer, &plen) == -1 ||
	    getsockname(fd, (struct sockaddr *)&self, &slen) == -1)
		return 0;
	return ps_tcp_same_host_addr((struct sockaddr *)&peer,
	    (struct sockaddr *)&self);
}

int
ps_tcp_local_server(int fd)
{
#ifdef TCP_CONGESTION
	static const char	cc[] = PS_TCP_LOCAL_CC;

	if (!ps_tcp_same_host(fd))
		return 0;
	return setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc,
	    sizeof cc - 1) == 0;
#else
	(void)fd;
	return 0;
#endif
}

int
ps_tcp_local_client(int fd)
{
	int	sz = PS_TCP_LOCAL_SNDBUF;

	if (!ps_tcp_same_host(fd))
		return 0;
	return setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz) == 0;
}

/* The numbers of a /proc/sys file: how many of n were read. */
static int
tcp_sysctl(const char *path, unsigned long long *v, int n)
{
	FILE	*f;
	int	 i;

	if ((f = fopen(path, "r")) == NULL)
		return 0;
	for (i = 0; i < n; i++) {
		if (fscanf(f, "%llu", &v[i]) != 1)
			break;
	}
	fclose(f);
	return i;
}

size_t
ps_tcp_rcvbuf_size(size_t asked)
{
	unsigned long long	max;

	if (tcp_sysctl("/proc/sys/net/core/rmem_max", &max, 1) == 1 &&
	    max > 0 && max < asked)
		asked = (size_t)max;
	return 2 * asked;
}

size_t
ps_tcp_mem_share(void)
{
	unsigned long long	pages[3];
	long			pagesize = sysconf(_SC_PAGESIZE);

	if (tcp_sysctl("/proc/sys/net/ipv4/tcp_mem", pages, 3) != 3 ||
	    pagesize <= 0 || pages[1] > (unsigned long long)SIZE_MAX /
	    (unsigned long long)pagesize)
		return PS_TCP_MEM_FALLBACK;
	return (size_t)(pages[1] * (unsigned long long)pagesize / 2);
}
