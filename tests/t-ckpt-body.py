#!/usr/bin/python3
"""Checkpoints are written from the pull body (issue 10: one immutable
snapshot per model version serves pulls and checkpoints).

A checkpoint holds exactly what a pull of the same version returns, bit
for bit, with its optimizer state and checksums (read by the independent
reader tests/mksafetensors.py), also when the model changes while it is
written; a reset to it gives that model back.  With a checkpoint
directory, the server's resident memory and its peak after creating a
model, pulling it and writing checkpoints stay at the model and its pull
body: no snapshot kept beside them.
"""

import os

import pstest as T

T.require("numpy", "websocket")
import numpy as np  # noqa: E402
import mksafetensors  # noqa: E402

T.plan(14)
T.watchdog(240)
rng = np.random.default_rng(11)


def bits(a):
    return np.ascontiguousarray(a, "<f4").view("<u4")


def same_bits(got, want):
    return (sorted(got) == sorted(want) and
            all(np.shape(got[k]) == np.shape(want[k]) and
                np.array_equal(bits(got[k]).ravel(), bits(want[k]).ravel())
                for k in want))


def file_model(path):
    """(metadata, model tensors, state tensors, checksums hold)."""
    meta, order, tensors, crc_ok, hcrc_ok = mksafetensors.read(path)
    model = {k: np.asarray(v["values"], "f4").reshape(v["shape"])
             for k, v in tensors.items() if not k.startswith("__psctl.")}
    state = {k: np.asarray(v["values"], "f4")
             for k, v in tensors.items() if k.startswith("__psctl.")}
    return meta, model, state, bool(crc_ok and hcrc_ok)


# --- what a checkpoint holds ---------------------------------------------
d = T.tmpdir()
ck = os.path.join(d, "ckpt")
srv = T.Server("--checkpoint-dir", ck, "--rule", "adam", "--lr", "0.01")
w = srv.worker("w")
model = {"a": rng.standard_normal((128, 33)).astype("f4"),
         "b": np.array([0.0, -0.0, 1e-45, 1.0], "f4")}
w.init(model)
for i in range(3):
    w.push({k: rng.standard_normal(v.shape).astype("f4")
            for k, v in model.items()})
version, pulled = w.pull()
r = srv.control().request("checkpoint", name="mid")
T.ok(r.get("ok") and r["result"]["model_version"] == version,
     "checkpoint mid of version %d: %r" % (version, r))
meta, got, state, sums = file_model(os.path.join(ck, "mid.safetensors"))
T.ok(same_bits(got, pulled),
     "its tensors are the pull of the same version, bit for bit")
T.ok(sums, "its data and header checksums hold")
T.ok(sorted(state) == ["__psctl.m.a", "__psctl.m.b", "__psctl.v.a",
                       "__psctl.v.b"] and
     all(np.any(state[k] != 0) for k in ("__psctl.m.a", "__psctl.v.a")),
     "it holds adam's state, not zeros: %r" % sorted(state))
T.is_eq(meta.get("psctl.model_version"), str(version),
        "its metadata names the version")
l2 = float(np.sqrt(sum(float(np.sum(v.astype("f8") ** 2))
                       for v in pulled.values())))
T.ok(abs(float(meta["psctl.model_l2"]) - l2) <= 1e-6 * l2,
     "its model_l2 is the pulled model's (%s, %.9g)" %
     (meta["psctl.model_l2"], l2))

# Pushes while checkpoints are written: each file is one version.
ok = True
for i in range(5):
    v0, p0 = w.pull()
    r = srv.control().request("checkpoint", name="c%d" % i)
    w.push({"a": np.ones((128, 33), "f4")})
    _, p1 = w.pull()
    _, g, _, s = file_model(os.path.join(ck, "c%d.safetensors" % i))
    ok = ok and r.get("ok") and r["result"]["model_version"] == v0 and \
        same_bits(g, p0) and s and not same_bits(g, p1)
T.ok(ok, "five checkpoints with pushes and pulls meanwhile: each holds "
     "the version it names, never the next")

rc, out, err = T.psctl("reset", "mid", url=srv.url)
_, back = w.pull()
T.ok(rc == 0 and same_bits(back, pulled),
     "reset to mid gives its model back, bit for bit: %s%s" % (out, err))
T.is_eq(srv.stop(), 0, "the server stops")

# --- memory: no snapshot kept beside the model ---------------------------
n = 4000000
size = n * 4
ck2 = os.path.join(d, "ckpt2")
srv = T.Server("--checkpoint-dir", ck2, "--rule", "add")
before = srv.vm("VmRSS")
w = srv.worker("big")
w.init({"w": rng.standard_normal(n).astype("f4"),
        "s": np.zeros(4, "f4")})
T.ok(srv.wait_log(r"checkpoint \S+/initial\.safetensors: model version 0",
                  30) is not None, "the initial checkpoint is written")
w.pull()
# Small pushes change the model: a whole-model one would leave its
# receive buffer for the next (--max-inflight-bytes), a model's size.
for i in range(2):
    r = srv.control().request("checkpoint")
    w.push({"s": np.ones(4, "f4")})
    w.pull()
T.ok(r.get("ok"), "two checkpoints of a 16 MB model, with pushes and pulls")
rss = srv.vm("VmRSS")
hwm = srv.vm("VmHWM")
T.diag("VmRSS %.1f MB before, %.1f MB after (%.2f models), VmHWM %.1f MB "
       "(%.2f models)" % (before / 1e6, rss / 1e6, (rss - before) / size,
                          hwm / 1e6, (hwm - before) / size))
if T.sanitized():
    T.skip(2, "AddressSanitizer's quarantine holds freed memory")
else:
    T.ok(rss - before < 2.5 * size,
         "resident: the model and its pull body, no snapshot kept "
         "(%.2f models, under 2.5)" % ((rss - before) / size))
    T.ok(hwm - before < 3.5 * size,
         "peak: at most one more version's body while a file is "
         "written (%.2f models, under 3.5)" % ((hwm - before) / size))
T.is_eq(srv.stop(), 0, "that server stops too")
T.done()
