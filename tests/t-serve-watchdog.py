#!/usr/bin/python3
"""systemd's watchdog: with $WATCHDOG_USEC (and $WATCHDOG_PID unset or
its own pid), psctl serve sends WATCHDOG=1 to $NOTIFY_SOCKET from its loop,
every half period; pings stop while the process is stopped and resume; with
$WATCHDOG_PID naming another process, or without $WATCHDOG_USEC, it sends
none; a malformed $WATCHDOG_USEC is a warning, not a failure.

The socket is a datagram socket this test binds, as systemd's would be.
Where the test says "none", it first lets a second pass and then has the
server answer a status request: its loop has turned since, so a ping that
was due would have been sent.
"""

import os
import signal
import socket
import time

import pstest as T

T.plan(10)
T.watchdog(120)
d = T.tmpdir()
n = 0


def notify_socket():
    """A fresh bound datagram socket and its path."""
    global n
    n += 1
    path = os.path.join(d, "notify%d" % n)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    return path, s


def recv_all(s, timeout):
    """The datagrams that arrive within timeout seconds of the last one."""
    got = []
    s.settimeout(timeout)
    try:
        while True:
            got.append(s.recv(4096).decode())
    except socket.timeout:
        pass
    return got


def wait_for(s, want, timeout=10):
    """Datagrams until one is want (True) or timeout passes (False)."""
    end = time.monotonic() + timeout
    seen = []
    while time.monotonic() < end:
        s.settimeout(max(0.01, end - time.monotonic()))
        try:
            m = s.recv(4096).decode()
        except socket.timeout:
            break
        seen.append(m)
        if m == want:
            return True, seen
    return False, seen


def quiet_for_a_while(srv, s):
    """The datagrams sent over a second and a status request after it."""
    time.sleep(1.0)
    rc, _, _ = srv.psctl("status")
    return rc, recv_all(s, 0.2)


# 1-4: pings arrive, and stop while the loop cannot run.
path, s = notify_socket()
srv = T.Server(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"})
pings = 0
end = time.monotonic() + 15
while pings < 3 and time.monotonic() < end:
    found, _ = wait_for(s, "WATCHDOG=1", end - time.monotonic())
    pings += found
T.is_eq(pings, 3, "WATCHDOG=1 arrives again and again")
srv.signal(signal.SIGSTOP)
time.sleep(0.3)
recv_all(s, 0.1)    # what was sent before the stop
T.is_eq(recv_all(s, 1.0), [], "a stopped server sends no ping")
srv.signal(signal.SIGCONT)
T.ok(wait_for(s, "WATCHDOG=1")[0], "pings resume when it runs again")
T.is_eq(srv.stop(), 0, "the server stops with status 0")
s.close()

# 5-7: WATCHDOG_PID naming another process: no ping.
path, s = notify_socket()
srv = T.Server(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000",
                    "WATCHDOG_PID": str(os.getpid())})
found, seen = wait_for(s, "READY=1\nSTATUS=serving on %s" %
                       "127.0.0.1:%d" % srv.port)
T.ok(found, "READY=1 still comes (%r)" % seen)
rc, seen2 = quiet_for_a_while(srv, s)
T.ok(rc == 0 and "WATCHDOG=1" not in seen + seen2,
     "with WATCHDOG_PID of another process, no ping (%r)" % (seen + seen2))
T.is_eq(srv.stop(), 0, "the server stops with status 0")
s.close()

# 8: no WATCHDOG_USEC: no ping.
path, s = notify_socket()
srv = T.Server(env={"NOTIFY_SOCKET": path})
rc, seen = quiet_for_a_while(srv, s)
T.ok(rc == 0 and "WATCHDOG=1" not in seen,
     "without WATCHDOG_USEC, no ping (%r)" % seen)
srv.stop()
s.close()

# 9-10: a malformed WATCHDOG_USEC is a warning; the server serves.
path, s = notify_socket()
srv = T.Server(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30s"})
rc, seen = quiet_for_a_while(srv, s)
T.ok(rc == 0 and "WATCHDOG=1" not in seen,
     "a malformed WATCHDOG_USEC sends no ping, and the server serves")
T.ok(srv.wait_log(r"warn: systemd watchdog: WATCHDOG_USEC=30s: not a "
                  r"positive whole number; not pinging", 5) is not None,
     "and says so in a warning")
srv.stop()
s.close()

T.done()
