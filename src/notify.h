/*
 * The systemd notify protocol (sd_notify(3)) without libsystemd: one
 * datagram to the AF_UNIX socket named by $NOTIFY_SOCKET, a path or, with a
 * leading '@', an abstract name.  Called from the service thread.
 */
#ifndef PS_NOTIFY_H
#define PS_NOTIFY_H

#include <stdint.h>

/*
 * Sends state ("READY=1", "STOPPING=1", "STATUS=...", lines joined by
 * '\n').  Returns 1 when sent, 0 when $NOTIFY_SOCKET is unset or empty (not
 * run by systemd), -1 with *cause on failure.
 */
int	ps_notify(const char *state, char **cause);

/*
 * The watchdog systemd keeps for this process (sd_watchdog_enabled(3)):
 * $WATCHDOG_USEC, when $WATCHDOG_PID is unset or names this process.
 * Returns 1 with *usec (the service must send "WATCHDOG=1" more often
 * than that; half of it is the usual pace), 0 when there is none for this
 * process, -1 with *cause when a variable is not a positive number.
 */
int	ps_notify_watchdog(uint64_t *usec, char **cause);

#endif
