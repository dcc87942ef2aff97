/*
 * The systemd notify protocol (sd_notify(3)) without libsystemd: one
 * datagram to the AF_UNIX socket named by $NOTIFY_SOCKET, a path or, with a
 * leading '@', an abstract name.  Called from the service thread.
 */
#ifndef PS_NOTIFY_H
#define PS_NOTIFY_H

/*
 * Sends state ("READY=1", "STOPPING=1", "STATUS=...", lines joined by
 * '\n').  Returns 1 when sent, 0 when $NOTIFY_SOCKET is unset or empty (not
 * run by systemd), -1 with *cause on failure.
 */
int	ps_notify(const char *state, char **cause);

#endif
