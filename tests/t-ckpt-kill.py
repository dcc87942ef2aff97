#!/usr/bin/python3
"""A checkpoint loop killed with SIGKILL at random moments leaves only
loadable files: psctl serve writes checkpoints back to back while a worker
pushes, and is killed at a random instant, many times over the same
directory.  After each kill every .safetensors file there must load with
ps_ckpt_load() (tests/ckpt-verify), and a new server must start from the
newest one.
"""

import os
import random
import signal
import subprocess
import threading
import time

import pstest as T

T.require("numpy", "websocket")
import numpy as np  # noqa: E402

ROUNDS = 8
T.plan(2 * ROUNDS + 1)
seed = int(os.environ.get("PS_KILL_SEED", str(int(time.time()))))
T.diag("PS_KILL_SEED=%d" % seed)
rnd = random.Random(seed)
d = T.tmpdir()
ck = os.path.join(d, "ckpt")
verify = os.path.join(T.BUILDDIR, "tests", "ckpt-verify")
rng = np.random.default_rng(seed)
n = 1 << 20       # 4 MiB of weights: writes take a few milliseconds


def verify_all():
    files = sorted(os.path.join(ck, f) for f in os.listdir(ck)
                   if f.endswith(".safetensors") and not f.startswith("."))
    p = subprocess.run([verify] + files, capture_output=True, text=True)
    return p.returncode, files, p.stdout


load = []
for r in range(ROUNDS):
    args = ["--checkpoint-dir", ck]
    if load:
        args += ["--load", load[-1]]
    srv = T.Server(*args)
    w = srv.worker()
    if not load:
        w.init({"w": rng.standard_normal(n).astype("f4")})
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            rc = subprocess.run([T.PSCTL, "checkpoint", "--connect",
                                 srv.url], capture_output=True).returncode
            if rc not in (0, 69, 75):
                break

    t = threading.Thread(target=loop)
    t.start()
    end = time.time() + rnd.uniform(0.2, 1.0)
    while time.time() < end:
        w.push({"w": np.full(n, 0.5, "f4")})
    srv.proc.kill()
    srv.proc.wait()
    stop.set()
    t.join()
    srv.kill()
    rc, files, out = verify_all()
    T.ok(rc == 0, "round %d: all %d checkpoints load after SIGKILL" %
         (r + 1, len(files)))
    if rc != 0:
        T.diag(out)
    autos = [f for f in files if os.path.basename(f).startswith("ckpt-")]
    T.ok(len(files) >= 1, "round %d: the directory has checkpoints (%d "
         "automatic)" % (r + 1, len(autos)))
    if autos:
        load.append(autos[-1])

left = [f for f in os.listdir(ck) if f.startswith(".") and
        f != ".psctl.lock"]
T.diag("temporary files after the last kill: %d" % len(left))
srv = T.Server("--checkpoint-dir", ck, *(["--load", load[-1]]
                                         if load else []))
# The new server writes its own initial checkpoint: let it finish first.
for _ in range(200):
    c = T.status_json(srv.url)["checkpoint"]
    if c["count"] + c["failed"] >= 1 and not c["in_progress"]:
        break
    time.sleep(0.05)
left = [f for f in os.listdir(ck) if f.startswith(".") and
        f != ".psctl.lock"]
T.is_eq(left, [], "a new server sweeps them and starts from the newest")
srv.signal(signal.SIGTERM)
srv.wait()
T.done()
