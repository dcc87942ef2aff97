/*
 * TCP settings for a worker connection whose two ends are on one host.
 * Over loopback, the sender's core also runs the receiver's side of TCP
 * for each segment it sends, and a segment that waits in the sender's
 * socket goes out from the peer's acknowledgement, on the peer's core.
 * The settings put that work where it costs least.  No state: any
 * thread.  Part of the common library that libpsctl and the server both
 * link.
 */
#ifndef PS_TCP_H
#define PS_TCP_H

/* The congestion control psctl serve asks for on a same-host connection. */
#define PS_TCP_LOCAL_CC		"reno"
/* SO_SNDBUF of a client's same-host connection (the kernel doubles it). */
#define PS_TCP_LOCAL_SNDBUF	(256 * 1024)

#include <stddef.h>

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
 * psctl serve's end of a same-host connection, the end that sends pulls:
 * asks for PS_TCP_LOCAL_CC (TCP_CONGESTION).  Loopback has no bottleneck
 * to probe, and a pacing congestion control (BBR, the default on some
 * hosts) spaces the segments out by timer, which made a 4 MB pull a
 * quarter as fast.  Reno is built into every Linux kernel and open to
 * unprivileged processes.  Returns 1 when it was set; 0 for another
 * host, or when the kernel refused (the connection keeps the host's
 * choice).
 *
 * The clients keep the host's congestion control: under reno one
 * worker's pushes ran 1.3x, but a connection the receive budget pauses
 * for longer than TCP's retransmission timeout restarts from a small
 * window when it resumes (net.ipv4.tcp_slow_start_after_idle), and 64
 * workers pushing a 40 MB model fell from 1,930-2,087 MiB/s under BBR
 * to 1,795-1,885.
 */
int		 ps_tcp_local_server(int fd);
/*
 * A client's end of a same-host connection, the end that sends pushes:
 * a send buffer of PS_TCP_LOCAL_SNDBUF, so that the client's own send()
 * calls carry its bytes through TCP on the client's core.  With 4 MiB
 * (8 in the kernel) the bytes waited in the client's socket and went out
 * from the server's acknowledgements, on the server's core, which a push
 * keeps busy applying: 64 workers pushing 10M ran at 1,888-1,934 MiB/s
 * against 2,720-2,757 with 256 KiB (64 KiB: 495-1,046; 512 KiB: 2,447
 * and 3,117).  Returns 1 when it was set; 0 for another host, whose
 * connections keep what the caller set, or when the kernel refused.
 */
int		 ps_tcp_local_client(int fd);

/*
 * What the kernel lets a TCP socket's receive buffer reach when asked
 * for asked bytes with SO_RCVBUF: twice the smaller of asked and
 * net.core.rmem_max (read once per call; asked doubled when unreadable
 * or 0).  Never 0 for asked > 0.
 */
size_t		 ps_tcp_rcvbuf_size(size_t asked);
/*
 * Half of net.ipv4.tcp_mem's pressure threshold, in bytes: past the
 * threshold the kernel holds every TCP socket on the host to its minimum
 * buffers, and past the limit above it drops arriving segments, which
 * their senders resend only after a timeout.  PS_TCP_MEM_FALLBACK when
 * the file cannot be read.
 */
size_t		 ps_tcp_mem_share(void);
#define PS_TCP_MEM_FALLBACK	((size_t)256 << 20)

#endif /* PS_TCP_H */
