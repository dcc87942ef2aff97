/*
 * Same-host TCP connections (tcp.h): which peers count as this host, and
 * that such a connection really takes the settings, over 127.0.0.1, ::1
 * and the host's own interface address: reno (TCP_CONGESTION) on the
 * server's end, the small send buffer on the client's.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ifaddrs.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "tcp.h"

static struct sockaddr_storage
v4(const char *a)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*s = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof ss);
	s->sin_family = AF_INET;
	if (inet_pton(AF_INET, a, &s->sin_addr) != 1)
		bail_out("bad test address %s", a);
	return ss;
}

static struct sockaddr_storage
v6(const char *a)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in6	*s = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof ss);
	s->sin6_family = AF_INET6;
	if (inet_pton(AF_INET6, a, &s->sin6_addr) != 1)
		bail_out("bad test address %s", a);
	return ss;
}

static int
same(struct sockaddr_storage peer, struct sockaddr_storage self)
{
	return ps_tcp_same_host_addr((struct sockaddr *)&peer,
	    (struct sockaddr *)&self);
}

static void
test_addresses(void)
{
	struct sockaddr_storage	un;

	ok(same(v4("127.0.0.1"), v4("127.0.0.1")), "127.0.0.1 is this host");
	ok(same(v4("127.3.2.1"), v4("10.0.0.1")),
	    "any peer in 127/8 is this host");
	ok(same(v4("10.0.0.5"), v4("10.0.0.5")),
	    "a peer with the socket's own address is this host");
	ok(!same(v4("10.0.0.2"), v4("10.0.0.1")),
	    "a peer with another address is another host");
	ok(!same(v4("128.0.0.1"), v4("10.0.0.1")),
	    "128.0.0.1 is not loopback");
	ok(same(v6("::1"), v6("::1")), "::1 is this host");
	ok(same(v6("::ffff:127.0.0.1"), v6("::ffff:127.0.0.1")),
	    "127.0.0.1 mapped into IPv6 is this host");
	ok(!same(v6("::ffff:10.0.0.2"), v6("::ffff:10.0.0.1")),
	    "another IPv4 host mapped into IPv6 is another host");
	ok(same(v6("2001:db8::7"), v6("2001:db8::7")),
	    "an IPv6 peer with the socket's own address is this host");
	ok(!same(v6("2001:db8::8"), v6("2001:db8::7")),
	    "an IPv6 peer with another address is another host");
	ok(!same(v6("::1"), v4("127.0.0.1")),
	    "addresses of two families are not compared");
	memset(&un, 0, sizeof un);
	un.ss_family = AF_UNIX;
	ok(!same(un, un), "a Unix socket is not TCP's business");
}

/* The congestion control of fd, in cc (len bytes), or "?" when unread. */
static const char *
congestion(int fd, char *cc, socklen_t len)
{
	socklen_t	n = len - 1;

	memset(cc, 0, len);
	if (getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, &n) != 0)
		snprintf(cc, len, "?");
	return cc;
}

/*
 * What SO_SNDBUF reads after PS_TCP_LOCAL_SNDBUF is set: the kernel caps
 * it at net.core.wmem_max and doubles it.
 */
static int
local_sndbuf(void)
{
	FILE	*f;
	long	 max = -1;

	if ((f = fopen("/proc/sys/net/core/wmem_max", "r")) != NULL) {
		if (fscanf(f, "%ld", &max) != 1)
			max = -1;
		fclose(f);
	}
	if (max < 0 || max > PS_TCP_LOCAL_SNDBUF)
		max = PS_TCP_LOCAL_SNDBUF;
	return 2 * (int)max;
}

/* SO_SNDBUF of fd, or -1. */
static int
sndbuf(int fd)
{
	socklen_t	n;
	int		v;

	n = sizeof v;
	return getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, &n) == 0 ? v : -1;
}

/*
 * Connects to a listener on addr (port 0: any) and checks both ends: each
 * is a same-host connection; the accepted end takes the server's setting
 * (reno), the connecting end the client's (the send buffer), and neither
 * takes the other's.  Skips its 6 checks when no listener can be had on
 * addr.
 */
static void
test_pair(const char *what, struct sockaddr_storage addr, socklen_t alen)
{
	char	cc[32], was[32];
	int	l, c = -1, a = -1;

	if ((l = socket(addr.ss_family, SOCK_STREAM, 0)) == -1 ||
	    bind(l, (struct sockaddr *)&addr, alen) != 0 ||
	    listen(l, 1) != 0 ||
	    getsockname(l, (struct sockaddr *)&addr, &alen) != 0 ||
	    (c = socket(addr.ss_family, SOCK_STREAM, 0)) == -1 ||
	    connect(c, (struct sockaddr *)&addr, alen) != 0 ||
	    (a = accept(l, NULL, NULL)) == -1) {
		skip(6, "no TCP connection over %s", what);
		goto out;
	}
	ok(ps_tcp_same_host(c) && ps_tcp_same_host(a),
	    "%s: both ends are this host's", what);
	congestion(c, was, sizeof was);
	ok(ps_tcp_local_server(a) && ps_tcp_local_client(c),
	    "%s: the server's and the client's settings are taken", what);
	is_str(congestion(a, cc, sizeof cc), PS_TCP_LOCAL_CC,
	    "%s: the server's end runs %s", what, PS_TCP_LOCAL_CC);
	is_str(congestion(c, cc, sizeof cc), was,
	    "%s: the client's end keeps the host's %s", what, was);
	is_int(sndbuf(c), local_sndbuf(),
	    "%s: the client's end sends from %d KiB (%d asked, capped by "
	    "wmem_max, doubled)", what, local_sndbuf() / 1024,
	    PS_TCP_LOCAL_SNDBUF / 1024);
	ok(sndbuf(a) != local_sndbuf(),
	    "%s: the server's end keeps its own send buffer (%d)", what,
	    sndbuf(a));
out:
	if (a != -1)
		close(a);
	if (c != -1)
		close(c);
	if (l != -1)
		close(l);
}

/* The first IPv4 address of an interface that is up and not loopback. */
static int
own_address(struct sockaddr_storage *ss)
{
	struct ifaddrs	*ifs, *i;
	int		 found = 0;

	if (getifaddrs(&ifs) != 0)
		return 0;
	for (i = ifs; i != NULL && !found; i = i->ifa_next) {
		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET ||
		    !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
			continue;
		memset(ss, 0, sizeof *ss);
		memcpy(ss, i->ifa_addr, sizeof (struct sockaddr_in));
		found = 1;
	}
	freeifaddrs(ifs);
	return found;
}

/* The numbers of a /proc/sys file, read here apart from tcp.c. */
static int
sysctl_read(const char *path, long long *v, int n)
{
	FILE	*f;
	int	 i = 0;

	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (i < n && fscanf(f, "%lld", &v[i]) == 1)
		i++;
	fclose(f);
	return i;
}

/*
 * ps_tcp_rcvbuf_size() says what a real socket's SO_RCVBUF becomes, and
 * ps_tcp_mem_share() is half of tcp_mem's middle value, in bytes.
 */
static void
test_sizes(void)
{
	long long	 max, mem[3];
	socklen_t	 n;
	size_t		 asked[] = { 128 << 10, 2 << 20 };
	unsigned	 i;
	int		 fd, v;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		bail_out("socket failed");
	for (i = 0; i < 2; i++) {
		v = (int)asked[i];
		n = sizeof v;
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v) != 0 ||
		    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &n) != 0)
			v = -1;
		ok(ps_tcp_rcvbuf_size(asked[i]) == (size_t)v,
		    "SO_RCVBUF %zu KiB makes %d KiB, as ps_tcp_rcvbuf_size says "
		    "(%zu KiB)", asked[i] >> 10, v / 1024,
		    ps_tcp_rcvbuf_size(asked[i]) >> 10);
	}
	close(fd);
	if (sysctl_read("/proc/sys/net/core/rmem_max", &max, 1) == 1)
		ok(ps_tcp_rcvbuf_size((size_t)max + 4096) == 2 * (size_t)max,
		    "more than net.core.rmem_max (%lld) is capped at it", max);
	else
		skip(1, "no /proc/sys/net/core/rmem_max");
	if (sysctl_read("/proc/sys/net/ipv4/tcp_mem", mem, 3) == 3)
		ok(ps_tcp_mem_share() == (size_t)mem[1] *
		    (size_t)sysconf(_SC_PAGESIZE) / 2,
		    "ps_tcp_mem_share() is half of tcp_mem's threshold, %lld "
		    "pages (%zu MiB)", mem[1], ps_tcp_mem_share() >> 20);
	else
		ok(ps_tcp_mem_share() == PS_TCP_MEM_FALLBACK,
		    "without /proc/sys/net/ipv4/tcp_mem, ps_tcp_mem_share() "
		    "is the fallback");
}

int
main(void)
{
	struct sockaddr_storage	ss;
	int			sv[2];

	plan(12 + 6 * 3 + 3 + 4);
	test_addresses();
	test_sizes();

	test_pair("127.0.0.1", v4("127.0.0.1"), sizeof (struct sockaddr_in));
	test_pair("::1", v6("::1"), sizeof (struct sockaddr_in6));
	if (own_address(&ss))
		test_pair("the host's own address", ss,
		    sizeof (struct sockaddr_in));
	else
		skip(6, "no IPv4 interface other than loopback");

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		bail_out("socketpair failed");
	ok(!ps_tcp_same_host(sv[0]), "a Unix socket pair is not TCP");
	ok(!ps_tcp_local_server(sv[0]), "and gets no server setting");
	ok(!ps_tcp_local_client(sv[0]), "nor the client's");
	close(sv[0]);
	close(sv[1]);
	return exit_status();
}
