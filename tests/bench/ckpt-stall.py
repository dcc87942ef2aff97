#!/usr/bin/python3
"""How long a checkpoint of a large model stalls serving.

Starts psctl serve --load with a model of one large tensor (--mb, default
400 MB) and one small one, then pulls the small tensor in a tight loop
from one connection while `psctl checkpoint` runs: once alone, then twice
at the same moment.  A snapshot is the pull body of the model's version
(made once per version, shared with pulls: made for the initial checkpoint
at start, then shared while the model does not change) and a copy of the
optimizer state; a checkpoint asked for while one is written waits its
turn.
Prints the pull latency outside checkpoints (median, p99, max), the worst
pull latency while each checkpoint ran, what the server logged about each
snapshot, and for comparison the time of one memcpy of the model (numpy
copyto into memory already touched) and of a copy into fresh memory.

Not part of make check (it needs ~2.5 GB and prints figures, it does not
judge them).  Usage:
    PSCTL=build/src/psctl PS_SRCDIR=. python3 tests/bench/ckpt-stall.py [--mb 400]
"""

import argparse
import json
import os
import shutil
import signal
import struct
import sys
import tempfile
import threading
import time

import numpy as np

sys.path.insert(0, os.path.join(os.environ.get("PS_SRCDIR", "."), "tests"))
import pstest as T  # noqa: E402

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
# The model goes in with --load: a safetensors file written here.
model = os.path.join(d, "model.safetensors")
header = json.dumps({
    "big": {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]},
    "small": {"dtype": "F32", "shape": [16],
              "data_offsets": [4 * n, 4 * n + 64]}}).encode()
header += b" " * (-len(header) % 8)
with open(model, "wb") as f:
    f.write(struct.pack("<Q", len(header)) + header)
    src.tofile(f)
    np.zeros(16, "f4").tofile(f)
del src
srv = T.Server("--checkpoint-dir", d, "--load", model, "-v")


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
    p = srv.worker("puller")
    while not stop.is_set():
        t = time.perf_counter()
        p.pull(["small"])
        lat.append((t, time.perf_counter()))
    p.close()


th = threading.Thread(target=puller)
th.start()
time.sleep(1.0)
windows = []


def checkpoint(name):
    t = time.perf_counter()
    rc, out, err = T.psctl("checkpoint", name, url=srv.url)
    windows.append((t, time.perf_counter(), rc, out.strip()))


# One alone, then two at once: the second waits and copies in its turn.
checkpoint("alone")
time.sleep(1.0)
pair = [threading.Thread(target=checkpoint, args=(n,))
        for n in ("first-of-two", "second-of-two")]
for p in pair:
    p.start()
    time.sleep(0.05)
for p in pair:
    p.join()
time.sleep(1.0)
stop.set()
th.join()

snap = [l for l in srv.log().splitlines() if "snapshot of version" in l]
srv.signal(signal.SIGTERM)
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
for ws, we, rc, path in windows:
    during = [e - s for s, e in lat if s <= we and e >= ws]
    print("%s: %.0f ms end to end, exit %d; worst pull during it %.1f ms "
          "over %d pulls" % (os.path.basename(path), (we - ws) * 1e3, rc,
                             max(during) * 1e3 if during else 0,
                             len(during)))
for l in snap:
    print("server: " + l.split(": ", 1)[-1])
if a.dir is None:
    shutil.rmtree(d, ignore_errors=True)
T.cleanup()     # removes the server's log directory
