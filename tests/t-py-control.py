#!/usr/bin/python3
"""psctl.Control (contrib/python) against a live psctl serve with an
operator token: status, subscribe, checkpoint, reset, stop and their
refusals."""

import os

import pstest as T

T.require("numpy")
import numpy as np  # noqa: E402

import psctl  # noqa: E402

T.plan(18)
T.watchdog(120)

d = T.tmpdir()
wtok = T.write_token(d, "worker.token", "w-tok")
otok = T.write_token(d, "op.token", "op-tok")
srv = T.Server("--rule", "add", "--checkpoint-dir", os.path.join(d, "ckpt"),
               "--token-file", wtok, "--operator-token-file", otok)
w = psctl.Client(srv.url, token="w-tok", name="w")
w.init({"x": np.zeros(3, np.float32)})
w.push({"x": np.ones(3, np.float32)})

ctl = psctl.Control(srv.url, token="op-tok")
st = ctl.status()
T.ok(st["model_version"] == 1 and st["params"] == 3 and
     st["rule"] == "add" and any(x["name"] == "w" for x in st["workers"]),
     "status: the model version, size, rule and the workers")
snaps = []
for s in ctl.subscribe(interval=0.1):
    snaps.append(s)
    if len(snaps) == 2:
        break
T.ok(len(snaps) == 2 and all("model_version" in s for s in snaps),
     "subscribe yields STATUS snapshots")
T.ok(ctl.status()["params"] == 3, "leaving the loop unsubscribes; the "
     "connection answers commands again")
r = ctl.checkpoint("one")
T.ok(r["path"].endswith("one.safetensors") and os.path.exists(r["path"]) and
     r["model_version"] == 1, "checkpoint(name) writes NAME.safetensors")
w.push({"x": np.full(3, 5, np.float32)})
r = ctl.reset("one")
_, m = w.pull()
T.ok(r["from"].endswith("one.safetensors") and np.array_equal(m["x"],
                                                               np.ones(3)),
     "reset(name) puts the model back to that checkpoint")
r = ctl.checkpoint()
T.ok(os.path.basename(r["path"]).startswith("ckpt-"),
     "checkpoint() picks a name (%s)" % os.path.basename(r["path"]))
for what, call, code in [
        ("reset of a missing checkpoint", lambda: ctl.reset("nope"),
         "not_found"),
        ("checkpoint named initial", lambda: ctl.checkpoint("initial"),
         "bad_request"),
        ("checkpoint with a path", lambda: ctl.checkpoint("../x"),
         "bad_request")]:
    try:
        call()
        T.ok(False, "%s raises ControlError %s" % (what, code))
    except psctl.ControlError as e:
        T.ok(e.code == code and e.message, "%s raises ControlError %s (%s)"
             % (what, code, e.message))

for what, tok, status in [("the worker token", "w-tok", 403),
                          ("no token", None, 401)]:
    try:
        psctl.Control(srv.url, token=tok)
        T.ok(False, "%s on the control protocol raises AuthError" % what)
    except psctl.AuthError as e:
        T.ok(e.status == status, "%s on the control protocol raises "
             "AuthError %d" % (what, status))
os.environ["PSCTL_URL"] = srv.url
os.environ["PSCTL_TOKEN"] = "op-tok"
with psctl.Control() as c2:
    T.ok(c2.status()["params"] == 3, "PSCTL_URL and PSCTL_TOKEN are the "
         "defaults")
del os.environ["PSCTL_URL"], os.environ["PSCTL_TOKEN"]

bare = T.Server()
with psctl.Control(bare.url) as cb:
    T.ok(cb.status()["state"] == "empty", "a server without a model: "
         "state empty")
    try:
        cb.checkpoint()
        T.ok(False, "checkpoint without --checkpoint-dir is refused")
    except psctl.ControlError as e:
        T.ok(e.code in ("no_checkpoint_dir", "no_model"),
             "checkpoint without a model or directory is refused (%s)" % e)
bare.kill()

r = ctl.stop(checkpoint=True)
T.ok(r["stopping"] is True and r["checkpoint"] and
     os.path.exists(r["checkpoint"]), "stop(checkpoint=True) writes a final "
     "checkpoint")
T.is_eq(srv.wait(), 0, "and the server exits 0")
try:
    w.pull()
    T.ok(False, "a worker of a stopped server raises ConnectError")
except psctl.ConnectError as e:
    T.ok(True, "a worker of a stopped server raises ConnectError (%s)" % e)
try:
    psctl.Control(srv.url, timeout=2)
    T.ok(False, "a stopped server refuses operators: ConnectError")
except psctl.ConnectError:
    T.ok(True, "a stopped server refuses operators: ConnectError")
T.done()
