/*
 * TCP settings for a worker connection whose two ends are on one host,
 * on psctl serve's end: the end that sends pulls.  No state: any thread.
 *
 * The clients' end (the one that sends pushes) keeps the host's default.
 * There, reno gave one worker's pushes 1.3x, but a connection the
 * receive budget pauses for longer than TCP's retransmission timeout
 * restarts from a small window when it resumes (slow start after idle,
 * net.ipv4.tcp_slow_start_after_idle), and 64 workers pushing a 40 MB
 * model fell from 1,930-2,087 MiB/s under BBR to 1,795-1,885.
 */
#ifndef PS_TCP_H
#define PS_TCP_H

/* The congestion control a same-host connection asks for. */
#define PS_TCP_LOCAL_CC		"reno"

struct sockaddr;

/*
 * Returns 1 when a connection from self to peer stays on this host: peer
 * is a loopback address (127/8, ::1, or 127/8 mapped into IPv6), or the
 * same address as self (what a connection to one of the host's own
 * interface addresses gets); 0 otherwise, and for other families.
 */
int		 ps_tcp_same_host_addr(const struct sockaddr *peer,
		    const struct sockaddr *self);
/*
 * ps_tcp_same_host_addr() for the connected TCP socket fd; 0 when either
 * address cannot be read.
 */
int		 ps_tcp_same_host(int fd);
/*
 * On a same-host connection, asks for PS_TCP_LOCAL_CC (TCP_CONGESTION):
 * loopback has no bottleneck to probe, and a pacing congestion control
 * (BBR, the default on some hosts) spaces the segments out by timer,
 * which made a 4 MB pull a quarter as fast.  A pull connection waits
 * between pulls, not inside one, so slow start after idle costs it
 * little.  Reno is built into every
 * Linux kernel and open to unprivileged processes.  Returns 1 when it was
 * set; 0 for another host, or when the kernel refused (the connection
 * keeps the host's choice).
 */
int		 ps_tcp_tune_local(int fd);

#endif /* PS_TCP_H */
