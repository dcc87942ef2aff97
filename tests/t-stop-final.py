#!/usr/bin/python3
"""A stop that was asked to save never ends the server quietly without the
file (issue 11 item 13).  The disk is "full": RLIMIT_FSIZE lowered on the
running server with prlimit(2) (root ignores permissions, not that).

psctl stop --checkpoint whose file cannot be written is answered with
error io (psctl exits non-zero) and the server goes on serving, nothing
lost; once the disk has room the same stop writes the file and stops.
SIGTERM with --checkpoint-on-exit whose file cannot be written exits 73.
psctl stop --checkpoint on a server with no model exits non-zero too."""

import glob
import os
import resource

import pstest as T

T.require("numpy", "websocket")
import numpy as np  # noqa: E402

T.plan(14)
T.watchdog(180)

N = 1 << 18                     # 1 MiB of F32: over the 64 KiB limit
LIMIT = 64 << 10
INF = resource.RLIM_INFINITY


def full(srv):
    resource.prlimit(srv.proc.pid, resource.RLIMIT_FSIZE, (LIMIT, INF))


def room(srv):
    resource.prlimit(srv.proc.pid, resource.RLIMIT_FSIZE, (INF, INF))


def files(d):
    return sorted(os.path.basename(p)
                  for p in glob.glob(os.path.join(d, "ckpt-*.safetensors")))


d = T.tmpdir("ckpt")
srv = T.Server("--rule", "add", "--checkpoint-dir", d)
w = srv.worker("w")
w.init({"w": np.zeros(N, np.float32)})
w.push({"w": np.ones(N, np.float32)})
T.is_eq(w.push({"w": np.ones(N, np.float32)}), 2, "two pushes: version 2")

full(srv)
rc, out, err = srv.psctl("stop", "--checkpoint")
T.ok(rc != 0 and "final checkpoint" in err,
     "psctl stop --checkpoint exits non-zero when the file cannot be "
     "written (%d: %s)" % (rc, err.strip()))
T.is_eq(srv.wait(1), None, "the server is still running")
T.is_eq(files(d), [], "no checkpoint file was left")
T.ok(srv.wait_log(r"final checkpoint failed: .*serving again") is not None,
     "the server logged the failure and that it serves again")
T.is_eq(w.push({"w": np.ones(N, np.float32)}), 3,
        "a worker's next push is applied: version 3")
_, m = w.pull()
T.ok(np.array_equal(m["w"], np.full(N, 3, np.float32)),
     "the model kept every acknowledged push")

room(srv)
rc, out, err = srv.psctl("stop", "--checkpoint")
path = out.strip()
T.ok(rc == 0 and path.endswith(".safetensors") and os.path.exists(path),
     "with room, psctl stop --checkpoint prints the file (%s)" % path)
T.is_eq(srv.wait(20), 0, "and the server exits 0")
_, saved = T.read_safetensors(path)
T.ok(np.array_equal(saved["w"], np.full(N, 3, np.float32)),
     "the file holds the model with all three pushes")

# SIGTERM with --checkpoint-on-exit and no room.
d = T.tmpdir("ckpt")
srv = T.Server("--rule", "add", "--checkpoint-dir", d, "--checkpoint-on-exit")
w = srv.worker("w")
w.init({"w": np.zeros(N, np.float32)})
w.push({"w": np.ones(N, np.float32)})
full(srv)
T.is_eq(srv.stop(), 73, "SIGTERM whose final checkpoint fails exits 73 "
        "(EX_CANTCREAT), not 0")
T.ok(srv.wait_log(r"final checkpoint failed: .*not saved") is not None,
     "and logs that the model is not saved")
T.is_eq(files(d), [], "no file was written")

# No model: nothing to save, and psctl says so.
d = T.tmpdir("ckpt")
srv = T.Server("--checkpoint-dir", d)
rc, out, err = srv.psctl("stop", "--checkpoint")
T.ok(rc == 73 and "no model" in err,
     "psctl stop --checkpoint on a server without a model exits 73 "
     "(%d: %s)" % (rc, err.strip()))
srv.wait(20)
T.done()
