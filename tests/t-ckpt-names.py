#!/usr/bin/python3
"""The checkpoint directory belongs to one server (issue 11 items 8, 15).

Names: the automatic pattern (ckpt- and digits) and "initial" are the
server's, refused to operators; a named checkpoint is never replaced
without --force ("force": true); --keep deletes only automatic
checkpoints, the oldest by time, so after a restart on an older file the
new ones stay.  Initial: reset to it answers "initial" and gives back
exactly the model this server started with, never the initial file an
earlier server left.  Lock: a second server on the same directory is
refused at start (exit 75) and the first goes on unharmed.
"""

import os

import pstest as T

T.require("numpy", "websocket")
import numpy as np  # noqa: E402

T.plan(36)
T.watchdog(240)
d = T.tmpdir()
ck = os.path.join(d, "ckpt")


def model_a(scale):
    return {"a": np.arange(6, dtype="f4").reshape(2, 3) * scale,
            "b": np.full(4, scale, "f4")}


def file_holds(path, model):
    _, saved = T.read_safetensors(path)
    return T.same({k: saved[k] for k in model}, model)


def ckpt(srv, *args):
    return T.psctl("checkpoint", *args, url=srv.url)


# A worker idles while the commands run: on a slow machine (a sanitizer
# build) that can outlast the default --worker-timeout of 60 s.
NOTIMEOUT = ("--worker-timeout", "0")
srv = T.Server("--checkpoint-dir", ck, "--keep", "2", "--rule", "add",
               *NOTIMEOUT)
w = srv.worker("w")
first = model_a(1)
w.init(first)
truth = {k: v.copy() for k, v in first.items()}


def push(n=1):
    for _ in range(n):
        u = {"b": np.ones(4, "f4")}
        w.push(u)
        truth["b"] = truth["b"] + u["b"]


# --- the lock: a second server on the directory is refused -------------
push(2)
second = T.Server("--checkpoint-dir", ck, wait=False)
rc = second.wait(20)
T.is_eq(rc, 75, "a second server on the same directory exits 75 "
        "(EX_TEMPFAIL)")
log = second.log()
T.ok("in use by another psctl serve" in log and
     "pid %d" % srv.proc.pid in log,
     "it says the directory is in use, by which process")
T.diag(log.strip())
T.ok("listening on" not in log, "and never listened")
version, pulled = w.pull()
T.ok(version == 2 and T.same(pulled, truth),
     "the first server serves on, its model untouched")
rc, out, err = ckpt(srv)
T.ok(rc == 0 and os.path.exists(out.strip()),
     "and still writes its checkpoints (%s)" % out.strip())

# --- reserved names ------------------------------------------------------
before = sorted(os.listdir(ck))
for name in ("ckpt-000000", "ckpt-42.safetensors", "ckpt-0000001234"):
    rc, out, err = ckpt(srv, name)
    T.ok(rc == 65 and "automatic" in err and "bad_request" in err,
         "checkpoint %s is refused: the automatic pattern is the "
         "server's (65)" % name)
T.diag(err.strip())
c = srv.control()
r = c.request("checkpoint", name="ckpt-7", force=True)
T.ok(not r["ok"] and r["error"]["code"] == "bad_request",
     "force does not open the automatic names either")
r = c.request("checkpoint", name="initial", force=True)
T.ok(not r["ok"] and r["error"]["code"] == "bad_request",
     "nor the name initial")
T.is_eq(sorted(os.listdir(ck)), before, "and no file was written")
rc, out, err = ckpt(srv, "ckpt-best")
T.ok(rc == 0 and out.strip().endswith("/ckpt-best.safetensors"),
     "ckpt- followed by other than digits is an operator's name")

# --- no silent overwrite -------------------------------------------------
rc, out, err = ckpt(srv, "mine")
mine = out.strip()
T.ok(rc == 0 and file_holds(mine, truth), "checkpoint mine is written")
kept = {k: v.copy() for k, v in truth.items()}
push()
rc, out, err = ckpt(srv, "mine")
T.ok(rc == 65 and "exists" in err and "force" in err,
     "checkpoint mine again is refused: it exists (65)")
T.diag(err.strip())
T.ok(file_holds(mine, kept), "and the file holds the first model still")
r = c.request("checkpoint", name="mine.safetensors")
T.ok(not r["ok"] and r["error"]["code"] == "exists",
     "the control message is refused with code exists")
r = c.request("checkpoint", name="mine", force="yes")
T.ok(not r["ok"] and r["error"]["code"] == "bad_request",
     "force must be a boolean")
r = c.request("reset", name="mine", force=True)
T.ok(not r["ok"] and r["error"]["code"] == "bad_request",
     "reset takes no force")
r = c.request("checkpoint", name="mine", force=False)
T.ok(not r["ok"] and r["error"]["code"] == "exists",
     "force false is no force")
T.ok(file_holds(mine, kept), "the file is still the first model")
rc, out, err = ckpt(srv, "--force", "mine")
T.ok(rc == 0 and out.strip() == mine and file_holds(mine, truth),
     "checkpoint --force mine replaces it with the model now")
push()
r = c.request("checkpoint", name="mine", force=True)
T.ok(r["ok"] and r["result"]["path"] == mine and file_holds(mine, truth),
     "so does {\"force\": true}")

# --- reset to initial ----------------------------------------------------
r = c.request("reset", name="initial")
T.ok(r["ok"] and r["result"]["from"] == "initial",
     "reset to initial answers \"initial\", not a path: %r" % r)
version, pulled = w.pull()
T.ok(T.same(pulled, first), "and the model is exactly the first one")
rc, out, err = T.psctl("reset", "initial", url=srv.url)
T.ok(rc == 0 and out.startswith("reset to initial,"),
     "psctl reset initial prints \"reset to initial\": %s" % out.strip())
c.close()

# --- --keep: only automatic checkpoints, the oldest by time --------------
truth = {k: v.copy() for k, v in first.items()}
autos = []
for i in range(3):
    push()
    rc, out, err = ckpt(srv)
    autos.append(os.path.basename(out.strip()))
left = sorted(f for f in os.listdir(ck) if f.startswith("ckpt-0"))
T.is_eq(left, sorted(autos[1:]), "--keep 2 keeps the two newest automatic "
        "checkpoints")
T.ok(all(os.path.exists(os.path.join(ck, f)) for f in
         ("mine.safetensors", "ckpt-best.safetensors",
          "initial.safetensors")),
     "named checkpoints, ckpt-best among them, and initial stay")
T.is_eq(srv.stop(), 0, "the first server stops")

# A restart on an older file (mine): its next checkpoint has a lower
# version than the automatic ones, and is the one --keep must keep.
_, reloaded = T.read_safetensors(mine)
srv = T.Server("--checkpoint-dir", ck, "--keep", "2", "--load", mine,
               *NOTIMEOUT)
T.ok("in use" not in srv.log(), "once it stopped, the directory is free")
w = srv.worker("w")
w.push({"b": np.ones(4, "f4")})
rc, out, err = ckpt(srv)
newest = os.path.basename(out.strip())
left = sorted(f for f in os.listdir(ck) if f.startswith("ckpt-0"))
T.diag("kept before: %r, written now: %s" % (autos[1:], newest))
T.ok(rc == 0 and newest in left and len(left) == 2,
     "after a restart on an older file, --keep keeps the checkpoint just "
     "written (%s): %r" % (newest, left))

# reset to initial is this server's: the file it loaded, not the first
# server's initial model.
rc, out, err = T.psctl("reset", "initial", url=srv.url)
version, pulled = w.pull()
T.ok(rc == 0 and T.same(pulled, {k: reloaded[k] for k in pulled}),
     "reset to initial goes back to what this server started with")
T.ok(not T.same(pulled, first), "not to the earlier server's initial model")
T.is_eq(srv.stop(), 0, "it stops")

# A server without a model yet does not offer the earlier server's file.
srv = T.Server("--checkpoint-dir", ck, *NOTIMEOUT)
c = srv.control()
r = c.request("checkpoints")
T.ok(r["ok"] and "initial" not in [x["name"] for x in
                                   r["result"]["checkpoints"]],
     "checkpoints does not list an initial file another server wrote")
w = srv.worker("w")
third = model_a(3)
w.init(third)
push_u = {"b": np.ones(4, "f4")}
w.push(push_u)
r = c.request("reset")
version, pulled = w.pull()
T.ok(r["ok"] and r["result"]["from"] == "initial" and
     T.same(pulled, third),
     "reset with no name and only the initial file written answers "
     "\"initial\" with this server's first model: %r" % r)
c.close()
T.is_eq(srv.stop(), 0, "the last server stops")
T.done()
