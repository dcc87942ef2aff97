#!/usr/bin/python3
"""What the kernel may queue for worker connections is bounded
(ws-worker.c, CONN_RCVBUF).  Left to autotuning, the connections the
receive budget pauses each grew to tcp_rmem's maximum (32 MiB on Debian
12), and 64 pushing workers ran the kernel out of TCP memory, which
stalled the connection being read for 30 s.  With 4 MiB for every
connection, 400 pushing workers did the same.  So a worker connection
starts with a small receive buffer and gets the large one when a large
message of it is admitted, while the large ones add up to at most
--max-socket-bytes; it keeps it until it closes.

ss(8) shows each socket's receive buffer limit (skmem rb), which the
kernel caps at twice net.core.rmem_max."""
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pstest as T  # noqa: E402

T.watchdog(180)
if shutil.which("ss") is None:
    T.skip_all("ss (iproute2) is not installed")
T.plan(17)

# SO_RCVBUF asked for (CONN_RCVBUF_MIN, CONN_RCVBUF), capped by
# net.core.rmem_max and doubled by the kernel.
with open("/proc/sys/net/core/rmem_max") as f:
    RMEM_MAX = int(f.read())
SMALL = 2 * min(128 << 10, RMEM_MAX)
LARGE = 2 * min(2 << 20, RMEM_MAX)
if SMALL == LARGE:
    T.diag("net.core.rmem_max %d makes both buffers %d bytes: the checks "
           "that tell them apart cannot fail here" % (RMEM_MAX, SMALL))
N = 4 << 20                     # a 16 MB model


def rcvbuf(srv, w):
    """rb of the server's end of worker w's connection."""
    port = w.ws.sock.getsockname()[1]
    out = subprocess.run(["ss", "-tnm", "state", "established",
                          "( sport = :%d and dport = :%d )"
                          % (srv.port, port)],
                         capture_output=True, text=True, check=True).stdout
    rb = [int(x) for x in re.findall(r"\brb(\d+)", out)]
    return rb[0] if len(rb) == 1 else rb


srv = T.Server()
w = srv.worker("big")
T.is_eq(rcvbuf(srv, w), SMALL, "a worker connection starts with a %d KiB "
        "receive buffer" % (SMALL >> 10))
w.init({"a": np.zeros(N, np.float32)})
T.is_eq(rcvbuf(srv, w), LARGE, "and has %d KiB once a 16 MB message of "
        "it was admitted" % (LARGE >> 10))
for _ in range(3):
    w.push({"a": np.ones(N, np.float32)})
T.is_eq(rcvbuf(srv, w), LARGE, "and keeps it through three 16 MB pushes")
small = srv.worker("small")
small.pull()
T.is_eq(rcvbuf(srv, small), SMALL, "a worker that only pulls keeps the "
        "small buffer")
rx = srv.receive()
T.ok(rx.get("socket_bytes") == LARGE and
     rx.get("socket_large_connections") == 1 and
     rx.get("socket_budget_bytes", 0) >= LARGE, "STATUS counts the one "
     "large buffer (%r)" % rx)
_, model = small.pull()
T.ok(model["a"][0] == 3.0 and model["a"][-1] == 3.0,
     "the pushes arrived whole")
w.close()
small.close()
T.is_eq(srv.stop(), 0, "the server stops with status 0")

# Room for one large buffer: the second pusher keeps the small one, and
# gets the large one once the first has gone.
srv = T.Server("--max-socket-bytes", str(LARGE))
a = srv.worker("a")
a.init({"a": np.zeros(N, np.float32)})
b = srv.worker("b")
b.push({"a": np.ones(N, np.float32)})
a.push({"a": np.ones(N, np.float32)})
T.ok(rcvbuf(srv, a) == LARGE and rcvbuf(srv, b) == SMALL,
     "--max-socket-bytes %d: the first pusher has the large buffer, the "
     "second the small one (rb %r, %r)" % (LARGE, rcvbuf(srv, a),
                                             rcvbuf(srv, b)))
_, model = b.pull()
T.ok(model["a"][0] == 2.0 and model["a"][-1] == 2.0,
     "and both pushes arrived whole")
metrics = T.http_get(srv.http + "/metrics")[2]
gauges = dict(re.findall(r"^psctl_receive_socket_(\w+) (\d+)$", metrics,
                         re.M))
T.ok(gauges == {"budget_bytes": str(LARGE), "bytes": str(LARGE),
                "large_connections": "1"},
     "/metrics says the same (%r)" % gauges)
a.close()
for _ in range(50):		# the server sees the close in its own time
    if srv.receive().get("socket_large_connections") == 0:
        break
    time.sleep(0.1)
T.is_eq(srv.receive().get("socket_bytes"), 0, "the first one's close "
        "gives its share back")
b.push({"a": np.ones(N, np.float32)})
T.is_eq(rcvbuf(srv, b), LARGE, "and the second one's next push takes it")
b.close()
T.is_eq(srv.stop(), 0, "the server stops with status 0")

# No room at all: every connection keeps the small buffer, and works.
srv = T.Server("--max-socket-bytes", "0")
a = srv.worker("a")
a.init({"a": np.zeros(N, np.float32)})
a.push({"a": np.ones(N, np.float32)})
T.is_eq(rcvbuf(srv, a), SMALL, "--max-socket-bytes 0: a pusher keeps the "
        "small buffer")
_, model = a.pull()
T.ok(model["a"][0] == 1.0 and model["a"][-1] == 1.0,
     "and its push arrived whole")
a.close()
T.is_eq(srv.stop(), 0, "the server stops with status 0")

r = subprocess.run([os.environ.get("PSCTL", "psctl"), "serve",
                    "--max-socket-bytes", "-1"], capture_output=True,
                   text=True, timeout=20)
T.ok(r.returncode != 0 and "max-socket-bytes" in r.stderr,
     "a negative --max-socket-bytes is refused (%r)" % r.stderr.strip())
T.done()
