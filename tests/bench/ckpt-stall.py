#!/usr/bin/python3
"""How long a checkpoint of a large model stalls serving.

Starts psctl serve with a model of one large tensor (--mb, default 400 MB)
and one small one, then pulls the small tensor in a tight loop from one
connection while `psctl checkpoint` runs twice: the first checkpoint
clones the model into fresh memory, the second copies it into the
snapshot kept from the first.  Prints the pull latency outside checkpoints
(median, p99, max), the worst pull latency while each checkpoint ran, and,
for comparison, the time of one memcpy of the model (numpy copyto into
memory already touched) and of a copy into fresh memory.

Not part of make check (it needs ~2.5 GB and prints figures, it does not
judge them).  Usage:
    PSCTL=build/src/psctl PS_SRCDIR=. python3 tests/bench/ckpt-stall.py [--mb 400]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

sys.path.insert(0, os.path.join(os.environ.get("PS_SRCDIR", "."), "tests"))
import ctltest as T  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--mb", type=int, default=400)
ap.add_argument("--dir", default=None,
                help="checkpoint directory (default: a temporary one)")
a = ap.parse_args()
n = a.mb * 1000 * 1000 // 4

# The reference: one memcpy of the model.
src = np.ones(n, "f4")
dst = np.empty_like(src)
dst.fill(0)
t0 = time.perf_counter()
np.copyto(dst, src)
memcpy_s = time.perf_counter() - t0
t0 = time.perf_counter()
fresh = src.copy()
fresh_s = time.perf_counter() - t0
del dst, fresh

d = a.dir or tempfile.mkdtemp(prefix="ckpt-stall.")
srv = T.Server(["--checkpoint-dir", d, "-v"])
w = T.Worker(srv.url, name="init")
w.init({"big": src, "small": np.zeros(16, "f4")})
del src
w.close()


def wait_idle():
    while True:
        st = T.status_json(srv.url)
        if not st["checkpoint"]["in_progress"]:
            return
        time.sleep(0.05)


wait_idle()     # the initial checkpoint

lat = []        # (start, end) of each pull of "small"
stop = threading.Event()


def puller():
    p = T.Worker(srv.url, name="puller")
    while not stop.is_set():
        t = time.perf_counter()
        p.pull(["small"])
        lat.append((t, time.perf_counter()))
    p.close()


th = threading.Thread(target=puller)
th.start()
time.sleep(1.0)
windows = []
for i in range(2):
    t = time.perf_counter()
    rc, out, err = T.psctl("checkpoint", url=srv.url)
    windows.append((t, time.perf_counter(), rc, out.strip()))
    time.sleep(1.0)
stop.set()
th.join()

snap = [l for l in srv.text().splitlines() if "snapshot of version" in l]
srv.signal(T.signal.SIGTERM)
srv.wait()

outside = [e - s for s, e in lat
           if not any(s <= we and e >= ws for ws, we, _, _ in windows)]
outside.sort()
print("model: %d MB (%d floats); pulls of a 64-byte tensor: %d" %
      (a.mb, n, len(lat)))
print("memcpy of the model (touched memory):   %8.1f ms" % (memcpy_s * 1e3))
print("copy into fresh memory (numpy copy):     %8.1f ms" % (fresh_s * 1e3))
print("pull latency outside checkpoints: median %.3f ms, p99 %.3f ms, "
      "max %.3f ms" % (outside[len(outside) // 2] * 1e3,
                       outside[int(len(outside) * 0.99)] * 1e3,
                       outside[-1] * 1e3))
for i, (ws, we, rc, path) in enumerate(windows):
    during = [e - s for s, e in lat if s <= we and e >= ws]
    print("checkpoint %d (%s): %.0f ms end to end, exit %d; worst pull "
          "during it %.1f ms over %d pulls" %
          (i + 1, "clone" if i == 0 else "copy into the kept snapshot",
           (we - ws) * 1e3, rc, max(during) * 1e3 if during else 0,
           len(during)))
for l in snap:
    print("server: " + l.split(": ", 1)[-1])
if a.dir is None:
    shutil.rmtree(d, ignore_errors=True)
