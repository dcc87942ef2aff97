#!/usr/bin/python3
"""Same-host worker connections (tcp.h).  psctl serve's end runs reno:
with a pacing congestion control (BBR, the default on some hosts) a
1M-parameter pull over loopback ran at a quarter of reno's rate.  The
clients' end keeps the host's congestion control (under reno, workers
paused by the receive budget restart from a small window and 64 of them
pushed more slowly than under BBR), and libpsctl's sends from a 512 KiB
buffer (256 KiB asked, doubled by the kernel) instead of 8 MiB, so that
its own sends, not the server's acknowledgements, carry its pushes
through loopback TCP.  ss(8) shows each socket's congestion control and
send buffer (skmem tb).  On a host whose default is reno the first check
cannot fail; on others (cubic, bbr) it fails without the setting."""
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pstest as T  # noqa: E402

T.watchdog(120)
T.require("numpy", "psctl")
import numpy as np  # noqa: E402
import psctl  # noqa: E402

if shutil.which("ss") is None:
    T.skip_all("ss (iproute2) is not installed")
T.plan(6)

with open("/proc/sys/net/ipv4/tcp_congestion_control") as f:
    DEFAULT = f.read().strip()
T.diag("this host's default congestion control: %s" % DEFAULT)
# libpsctl asks for 256 KiB, capped by net.core.wmem_max, doubled.
with open("/proc/sys/net/core/wmem_max") as f:
    SNDBUF = 2 * min(256 << 10, int(f.read()))


def sockets(port, end):
    """(congestion control, send buffer) of each established socket
    whose end ("sport" or "dport") is port."""
    out = subprocess.run(["ss", "-tnmi", "state", "established",
                          "( %s = :%d )" % (end, port)], capture_output=True,
                         text=True, check=True).stdout
    tb = [int(x) for x in re.findall(r"\btb(\d+)", out)]
    cc = re.findall(r"^\s+(?:skmem:\S+\s+)?([a-z0-9_]+)\s+wscale", out,
                    re.M)
    return list(zip(cc, tb))


def algorithms(port, end):
    """The congestion control of each such socket."""
    return [cc for cc, _ in sockets(port, end)]


srv = T.Server()
w = srv.worker("w")
w.init({"a": np.zeros(1000, np.float32)})
cc = algorithms(srv.port, "sport")
T.ok(cc == ["reno"], "psctl serve's end of a loopback worker connection "
     "runs reno (%s)" % cc)

w.close()

# The Python package's end.
with psctl.Client(srv.url, name="py") as c:
    c.pull()
    cc = algorithms(srv.port, "dport")
T.ok(cc == [DEFAULT], "the Python package's end keeps the host's "
     "default, %s (%s)" % (DEFAULT, cc))

# libpsctl's end: psctl bench's four workers, seen while they run.
srv2 = T.Server()
bench = subprocess.Popen([T.PSCTL, "bench", "--connect", srv2.url,
                          "--workers", "4", "--params", "1000",
                          "--seconds", "3"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
deadline = time.monotonic() + 2.5
socks = []
while time.monotonic() < deadline and len(socks) < 4:
    time.sleep(0.05)
    socks = sockets(srv2.port, "dport")
cc = [a for a, _ in socks]
tb = [b for _, b in socks]
T.ok(len(cc) == 4 and set(cc) == {DEFAULT},
     "libpsctl's end of each of 4 worker connections keeps the host's "
     "default, %s (%s)" % (DEFAULT, cc))
T.ok(len(tb) == 4 and set(tb) == {SNDBUF},
     "and sends from a %d KiB buffer (tb %s)" % (SNDBUF >> 10, tb))
T.is_eq(bench.wait(), 0, "psctl bench succeeds")
T.ok(srv.stop() == 0 and srv2.stop() == 0, "both servers stop with status 0")
T.done()
