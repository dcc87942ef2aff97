/*
 * What the server does when accept() finds no file descriptor free, which
 * libwebsockets 4.1 (the version Debian 12 ships) does not handle: its
 * listen socket stays readable while the connection waits in the queue,
 * so it calls accept() again at once, logging "accept: errno 24" each
 * time, at 100 % CPU, for as long as the descriptors are gone.
 *
 * This module defines accept() and accept4(), which the dynamic linker
 * binds lws's calls to (as wsguard.h does for recv()).  When the real
 * call fails with EMFILE, ENFILE, ENOBUFS or ENOMEM on a listen socket of
 * the context given to ps_acceptguard_start(), it counts the refusal,
 * turns reading off on that listen socket (lws_rx_flow_control() on its
 * wsi), and tells lws EAGAIN, which lws takes quietly.  Accepting resumes
 * after a back-off of 100 ms, doubling with each refusal in a row up to
 * 1 s, or earlier when lws closes a connection (lws turns every listen
 * socket back on whenever a descriptor of its goes).  Meanwhile the
 * connections wait in the kernel's listen queue; none is accepted and
 * closed.  One log line for the first refusal, then at most one every
 * PS_ACCEPTGUARD_LOG_S seconds with the count since the last line.
 *
 * Service thread only (LWS_MAX_SMP is 1), as every lws callback.
 */
#ifndef PS_ACCEPTGUARD_H
#define PS_ACCEPTGUARD_H

#include <stdint.h>

struct lws_context;

/* The back-off's first and longest pauses, and the log's interval. */
#define PS_ACCEPTGUARD_MIN_US	(100 * 1000)
#define PS_ACCEPTGUARD_MAX_US	(1000 * 1000)
#define PS_ACCEPTGUARD_LOG_S	10

/*
 * Guards the listen sockets of ctx (borrowed, until ps_acceptguard_stop())
 * from the HTTP protocol's PROTOCOL_INIT; before it, accept() only passes
 * through.
 */
void		 ps_acceptguard_start(struct lws_context *ctx);
/* PROTOCOL_DESTROY: cancels the back-off's timer and forgets ctx. */
void		 ps_acceptguard_stop(void);
/* Accepts refused for want of a descriptor since the process started. */
uint64_t	 ps_acceptguard_refused(void);
/* 1 while accepting is paused. */
int		 ps_acceptguard_paused(void);

#endif
