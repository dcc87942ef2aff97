#!/usr/bin/env python3
"""psctl serve out of file descriptors (issue 10): with its ulimit -n
lowered and a flood of connections past it, the server pauses accepting
instead of spinning on accept() (its CPU time stays a small part of the
time that passes), logs a few lines, not one per attempt, counts the
refusals in /metrics and STATUS, and once the flood is gone a new worker
connects and pulls the model as it was.  Also the receive budget's
figures in /metrics and STATUS: its size, the bytes charged to it while
a message arrives, and a connection paused because it does not fit.

CPU time is read from /proc/PID/stat.  A server that spins burns the
whole flood's time on a core (a quarter of it still on a machine loaded
tenfold); the bound is a tenth of it.  The log bound (10 lines, against
tens of thousands a second) fails such a server whatever the load."""

import os
import re
import resource
import socket
import struct
import time

import pstest as T

T.require("numpy", "websocket")
import numpy as np  # noqa: E402
import psproto as P  # noqa: E402

ok, diag = T.ok, T.diag

T.watchdog(180)
T.plan(16)

FLOOD_S = 2.0
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    """utime + stime of pid, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def nfds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def metric(text, name):
    """The value of an unlabelled sample, or None."""
    m = re.search(r"^psctl_%s (\S+)$" % name, text, re.M)
    return float(m.group(1)) if m else None


def connect_nb(port):
    """A TCP connection started without waiting for it."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    return s


def accept_lines(log):
    return [ln for ln in log.splitlines() if re.search("accept", ln, re.I)]


# The test's own descriptors: the flood holds several hundred.
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if hard != resource.RLIM_INFINITY and hard < 2048:
    T.skip_all("RLIMIT_NOFILE's hard limit is %d: too low for the flood" %
               hard)
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2048), hard))

# --- out of descriptors --------------------------------------------------

srv = T.Server()
pid = srv.proc.pid
model = {"w": np.arange(4096, dtype="f4") / 7, "b": np.ones(3, "f4")}
w = srv.worker("w0")
version = w.init(model)
w.close()
time.sleep(0.2)

# Room for a dozen connections more than it holds now.
limit = nfds(pid) + 12
resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, limit))
lines_before = len(accept_lines(srv.log()))

flood = []
end = time.monotonic() + 20
while nfds(pid) < limit and time.monotonic() < end:
    flood += [connect_nb(srv.port) for _ in range(4)]
    time.sleep(0.01)
ok(nfds(pid) >= limit, "the flood takes every descriptor the server may "
   "have (%d of %d, %d connections)" % (nfds(pid), limit, len(flood)))
# Let accept() fail for a while before measuring.
time.sleep(0.3)

# Keep flooding; measure the server's CPU time meanwhile.
c0, t0 = cpu_s(pid), time.monotonic()
while time.monotonic() - t0 < FLOOD_S:
    flood += [connect_nb(srv.port) for _ in range(4)]
    time.sleep(0.02)
cpu, wall = cpu_s(pid) - c0, time.monotonic() - t0
ok(cpu <= wall / 10, "the server does not spin: %.2f s of CPU in %.2f s of "
   "flood" % (cpu, wall))
ok(srv.proc.poll() is None, "the server is alive")

for s in flood:
    s.close()
del flood

# Accepting resumes: at most a second's back-off, or a closed descriptor.
try:
    w1 = srv.worker("w1", timeout=15)
    v, got = w1.pull()
    ok(v == version and T.same({k: got[k] for k in sorted(got)},
                               {k: model[k] for k in sorted(model)}),
       "after the flood a new worker pulls the model intact")
    w1.close()
except Exception as e:  # a refused connection or a broken pull
    ok(False, "after the flood a new worker pulls the model intact: %r" % e)

lines = accept_lines(srv.log())[lines_before:]
ok(1 <= len(lines) <= 10, "%d log lines about accepting, not one per "
   "attempt" % len(lines))
for ln in lines[:3]:
    diag(ln[:200])

status, ctype, text = T.http_get(srv.http + "/metrics")
refused = metric(text, "accept_emfile_total")
ok(status == 200 and refused is not None and refused >= 1,
   "/metrics counts refused accepts: psctl_accept_emfile_total %s" % refused)
ok(metric(text, "accept_paused") in (0.0, 1.0),
   "/metrics has psctl_accept_paused")
st = T.status_json(srv.url)
acc = st.get("accept", {})
ok(isinstance(acc.get("refused_total"), int) and
   acc["refused_total"] >= refused and acc.get("paused") in (True, False),
   "STATUS accept: %r" % acc)
ok(srv.stop() == 0, "the server stops with status 0")

# --- the receive budget ----------------------------------------------------

BUDGET = 1 << 20
srv = T.Server("--max-inflight-bytes", BUDGET)
w = srv.worker("w0")
v0 = w.init({"w": np.zeros(1 << 18, "f4")})    # 1 MiB of model


def masked_header(length):
    """A masked binary frame's header announcing length bytes, with an
    all-zero masking key (so the payload goes as it is)."""
    return struct.pack("!BBQ", 0x82, 0x80 | 127, length) + b"\0\0\0\0"


def usage():
    status, ctype, text = T.http_get(srv.http + "/metrics")
    return {k: metric(text, "receive_" + k) for k in
            ("budget_bytes", "inflight_bytes", "paused_connections")}


u = usage()
ok(u["budget_bytes"] == BUDGET and u["inflight_bytes"] == 0 and
   u["paused_connections"] == 0, "/metrics: the budget idle: %r" % u)

# Two pushes of 1 MiB, each sent in part: the first is charged to the
# budget, the second does not fit beside it and waits.
body = P.encode(P.PUSH, id=1, records=[("w", np.ones(1 << 18, "f4"))])
a, b = srv.worker("a"), srv.worker("b")
a.ws.sock.sendall(masked_header(len(body)) + body[:4096])
u = None
for _ in range(100):
    u = usage()
    if u["inflight_bytes"] and u["inflight_bytes"] > 0:
        break
    time.sleep(0.05)
ok(u["inflight_bytes"] is not None and u["inflight_bytes"] > 0,
   "/metrics: a message arriving is charged to the budget: %r" % u)
b.ws.sock.sendall(masked_header(len(body)) + body[:4096])
for _ in range(100):
    u = usage()
    if u["paused_connections"] and u["paused_connections"] >= 1:
        break
    time.sleep(0.05)
ok(u["paused_connections"] == 1,
   "/metrics: a message that does not fit beside it waits: %r" % u)
st = srv.receive()
ok(st.get("budget_bytes") == BUDGET and st.get("paused_connections") == 1
   and st.get("inflight_bytes", 0) > 0, "STATUS receive: %r" % st)

# The rest of both: each is applied, and the budget is idle again.
a.ws.sock.sendall(body[4096:])
b.ws.sock.sendall(body[4096:])
ra, rb = a.recv(), b.recv()
ok(ra.op == P.REPLY and rb.op == P.REPLY and
   sorted((ra.version, rb.version)) == [v0 + 1, v0 + 2],
   "both pushes are applied (versions %r, %r)" % (ra.version, rb.version))
for _ in range(100):
    u = usage()
    if u["inflight_bytes"] == 0 and u["paused_connections"] == 0:
        break
    time.sleep(0.05)
ok(u["inflight_bytes"] == 0 and u["paused_connections"] == 0,
   "/metrics: the budget idle again: %r" % u)
ok(srv.stop() == 0, "the server stops with status 0")
T.done()
