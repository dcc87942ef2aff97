#!/usr/bin/python3
"""What the kernel may queue for one worker connection is bounded
(ws-worker.c, CONN_RCVBUF): left to autotuning, the connections the
receive budget pauses each grew to tcp_rmem's maximum (32 MiB on Debian
12), and 64 pushing workers ran the kernel out of TCP memory, which
stalled the connection being read for 30 s.  ss(8) shows each socket's
receive buffer limit (skmem rb): a worker connection's is 4 MiB from the
start and stays there through large pushes; the kernel's default starts
at tcp_rmem's middle value and grows."""
import os
import re
import shutil
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pstest as T  # noqa: E402

T.watchdog(120)
if shutil.which("ss") is None:
    T.skip_all("ss (iproute2) is not installed")
T.plan(4)

# SO_RCVBUF 2 MiB, capped by net.core.rmem_max and doubled by the kernel.
with open("/proc/sys/net/core/rmem_max") as f:
    LIMIT = 2 * min(2 << 20, int(f.read()))


def rcvbufs(port):
    """rb of every established socket whose local port is port."""
    out = subprocess.run(["ss", "-tnm", "state", "established",
                          "( sport = :%d )" % port], capture_output=True,
                         text=True, check=True).stdout
    return [int(x) for x in re.findall(r"\brb(\d+)", out)]


srv = T.Server()
w = srv.worker("big")
n = 4 << 20                     # a 16 MB model
w.init({"a": np.zeros(n, np.float32)})
rb = rcvbufs(srv.port)
T.ok(rb == [LIMIT], "a worker connection's receive buffer is %d KiB "
     "(rb %s)" % (LIMIT >> 10, rb))
for _ in range(3):
    w.push({"a": np.ones(n, np.float32)})
rb = rcvbufs(srv.port)
T.ok(rb == [LIMIT], "and stays %d KiB after three 16 MB pushes (rb %s)"
     % (LIMIT >> 10, rb))
_, model = w.pull()
T.ok(model["a"][0] == 3.0 and model["a"][-1] == 3.0,
     "the pushes arrived whole")
w.close()
T.is_eq(srv.stop(), 0, "the server stops with status 0")
T.done()
