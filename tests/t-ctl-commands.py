#!/usr/bin/python3
"""psctl status, checkpoint, reset and stop against a live psctl serve:
what they print, the checkpoint files (read back with numpy, not with
psctl), reset returning exactly the checkpointed values, --keep, /metrics
parsed by the Prometheus client library, /livez and /readyz, exit codes.
"""

import os
import re

import pstest as T

T.require("numpy", "websocket")
import numpy as np  # noqa: E402
import psproto as P  # noqa: E402
import websocket  # noqa: E402

T.plan(56)
rng = np.random.default_rng(7)
d = T.tmpdir()
ck = os.path.join(d, "ckpt")

rc, out, err = T.psctl("status", url="ws://127.0.0.1:9/")
T.ok(rc == 69 and "cannot reach" in err,
     "status against a closed port exits 69 and says it cannot reach it")
T.diag(err.strip())

srv = T.Server("--checkpoint-dir", ck, "--keep", "2", "--rule", "add")
st = T.status_json(srv.url)
T.is_eq(st["state"], "empty", "a server without a model reports state empty")
rc, out, err = T.psctl("checkpoint", url=srv.url)
T.ok(rc == 65 and "no_model" in err,
     "checkpoint without a model exits 65 (no_model)")
code, _, body = T.http_get(srv.http + "/readyz")
T.is_eq(code, 503, "/readyz answers 503 before there is a model")

# A push before any model is refused, and counted as refused.
model = {"dense/kernel": rng.standard_normal((64, 32)).astype("f4"),
         "dense/bias": rng.standard_normal(32).astype("f4")}
w = srv.worker("w-one")
try:
    w.push(model)
    T.ok(False, "a push before init is refused with no_model")
except P.ProtoError as e:
    T.ok(e.code == P.E_NO_MODEL, "a push before init is refused with no_model")
st = T.status_json(srv.url)
T.ok(st["rejected_total"] == 1 and st["rejected"].get("no_model") == 1,
     "and counted in rejected_total and rejected.no_model")

# A model of two tensors, updated by a worker; numpy keeps the truth.
w.init(model)
truth = {k: v.copy() for k, v in model.items()}
for i in range(5):
    u = {k: rng.standard_normal(v.shape).astype("f4") for k, v in
         truth.items()}
    w.push(u)
    for k in truth:
        truth[k] = truth[k] + u[k]
version, pulled = w.pull()
T.is_eq(version, 5, "five pushes make model version 5")
T.ok(all(np.array_equal(pulled[k], truth[k]) for k in truth),
     "the pulled model equals numpy's sum of the pushes")

code, _, body = T.http_get(srv.http + "/readyz")
T.is_eq(code, 200, "/readyz answers 200 once there is a model")
code, _, body = T.http_get(srv.http + "/healthz")
T.is_eq(code, 200, "/healthz is /readyz")
code, _, body = T.http_get(srv.http + "/livez")
T.is_eq((code, body), (200, "ok\n"), "/livez answers 200 ok")
code, _, body = T.http_get(srv.http + "/nothing")
T.is_eq(code, 404, "another path is 404")

st = T.status_json(srv.url)
T.is_eq(st["model_version"], 5, "status --json: model_version 5")
T.is_eq((st["mode"], st["rule"], st["state"]), ("async", "add", "serving"),
        "status --json: mode async, rule add, serving")
T.is_eq(st["params"], 64 * 32 + 32, "status --json: params counts elements")
names = [t["name"] for t in st["tensors"]]
T.is_eq(names, ["dense/kernel", "dense/bias"],
        "status --json lists the tensors in model order")
T.is_eq([t["shape"] for t in st["tensors"]], [[64, 32], [32]],
        "with their shapes")
norms_ok = all(abs(t["l2_norm"] - float(np.linalg.norm(
    truth[t["name"]].astype("f8")))) <= 1e-4 * max(1, t["l2_norm"])
    for t in st["tensors"])
T.ok(norms_ok, "each tensor's l2_norm matches numpy's")
wk = [x for x in st["workers"] if x["name"] == "w-one"]
T.ok(len(wk) == 1 and wk[0]["pushes"] == 5 and wk[0]["clock"] == 5 and
     wk[0]["address"].startswith("127.0.0.1:") and
     wk[0]["last_seen_s"] >= 0 and wk[0]["id"] == w.id,
     "the worker is listed with id, name, address, pushes, clock, last seen")
T.is_eq((st["pushes_total"], st["pulls_total"], st["rejected_total"]),
        (5, 1, 1), "pushes_total 5, pulls_total 1, rejected_total 1")
T.ok(st["uptime_s"] > 0, "uptime_s is positive")

rc, out, err = T.psctl("status", url=srv.url)
T.ok(rc == 0 and "model version 5" in out and "dense/kernel" in out and
     "w-one" in out, "status prints a summary with the model and workers")

# Gone one-shot commands are counted, not listed, as psctl top folds them.
for i in range(2):
    rc, out, err = T.psctl("pull", "-o", os.path.join(d, "p.safetensors"),
                           url=srv.url)
    if rc != 0:
        T.bail("psctl pull failed: " + err)
st = T.status_json(srv.url)
n = sum(1 for x in st["workers"]
        if x["name"] == "psctl pull" and x["state"] == "gone")
rc, out, err = T.psctl("status", url=srv.url)
T.ok(rc == 0 and n == 2 and "psctl pull " not in out and "w-one" in out and
     "(and 2 gone connections of psctl init, push or pull: --json lists "
     "them)" in out,
     "status counts the 2 gone psctl pull connections that --json lists, "
     "and still lists w-one")

# A rejected push is counted.
try:
    w.push({"dense/bias": np.full(3, 1, "f4")})
    T.ok(False, "a push of the wrong shape is refused")
except P.ProtoError as e:
    T.ok(e.code == P.E_SHAPE, "a push of the wrong shape is refused")
st = T.status_json(srv.url)
T.ok(st["rejected_total"] == 2 and st["rejected"].get("shape") == 1,
     "and counted in rejected_total and rejected.shape")

# checkpoint: the file holds exactly the model.
rc, out, err = T.psctl("checkpoint", url=srv.url)
path = out.strip()
T.ok(rc == 0 and path == os.path.join(ck, "ckpt-000005.safetensors"),
     "checkpoint prints the path of ckpt-000005.safetensors (%s)" % path)
meta, saved = T.read_safetensors(path)
T.ok(all(np.array_equal(saved[k], truth[k]) for k in truth),
     "the checkpoint file holds exactly the model")
T.is_eq(meta.get("psctl.model_version"), "5",
        "its metadata records model version 5")
snapshot = {k: v.copy() for k, v in truth.items()}

rc, out, err = T.psctl("checkpoint", "before-lr", url=srv.url)
T.ok(rc == 0 and out.strip() == os.path.join(ck,
     "before-lr.safetensors"), "a named checkpoint gets .safetensors")
rc, out, err = T.psctl("checkpoint", "../escape", url=srv.url)
T.ok(rc == 64 and not os.path.exists(os.path.join(d, "escape.safetensors")),
     "a name with .. is refused before connecting (64)")
c = srv.control()
c.send({"id": 3, "cmd": "checkpoint", "name": "a/../../x"})
r = c.recv()
T.ok(r["id"] == 3 and not r["ok"] and r["error"]["code"] == "bad_request",
     "the server refuses a name with / itself (bad_request)")
r = c.request("checkpoint", name="initial")
T.ok(not r["ok"] and r["error"]["code"] == "bad_request",
     "the name initial is reserved")
c.close()

# subscribe: snapshots every interval until unsubscribe.
c = srv.control()
c.send({"id": 7, "cmd": "subscribe", "interval": 0.2})
msgs = [c.recv() for _ in range(4)]
T.ok(msgs[0].get("id") == 7 and msgs[0].get("ok") is True,
     "subscribe is answered ok")
events = [m for m in msgs[1:] if m.get("event") == "snapshot"]
T.ok(len(events) == 3 and [e["seq"] for e in events] == [1, 2, 3] and
     all(e["snapshot"]["model_version"] == 5 for e in events),
     "then snapshot events come with seq 1, 2, 3 and the STATUS object")
c.request("unsubscribe")
# Quiet means the wait times out with the connection still open: a
# message, a close or a dropped connection is not quiet.
try:
    m = c.recv(timeout=0.6)
except websocket.WebSocketTimeoutException:
    m = None
except (T.Closed, websocket.WebSocketConnectionClosedException) as e:
    m = e
if not T.ok(m is None, "after unsubscribe no more snapshots come"):
    T.diag("got %r" % m)
c.send("{\"cmd\": \"status\"}")
r = c.recv()
T.ok(r["id"] is None and r["error"]["code"] == "bad_request",
     "a request without an id is answered with id null")
c.send_raw(b"\x00\x01")
code, why = c.wait_close()
T.is_eq(code, 1003, "a binary message ends a control connection (1003)")
c.close()

# More training, then reset: exactly the checkpointed values come back.
for i in range(3):
    u = {k: rng.standard_normal(v.shape).astype("f4") for k, v in
         truth.items()}
    w.push(u)
version, pulled = w.pull()
T.is_eq(version, 8, "three more pushes: version 8")
rc, out, err = T.psctl("reset", url=srv.url)
T.ok(rc == 0 and "before-lr.safetensors" in out and "version 9" in out,
     "reset goes back to the newest checkpoint, as version 9: %s" %
     out.strip())
version, pulled = w.pull()
T.ok(version == 9 and all(np.array_equal(pulled[k], snapshot[k])
                          for k in snapshot),
     "after reset a pull returns exactly the checkpointed values")
rc, out, err = T.psctl("reset", "ckpt-000005", url=srv.url)
T.ok(rc == 0 and "version 10" in out, "reset to a named checkpoint")
rc, out, err = T.psctl("reset", "initial", url=srv.url)
version, pulled = w.pull()
T.ok(rc == 0 and version == 11 and all(np.array_equal(pulled[k], model[k])
                                       for k in model),
     "reset initial returns the model as first initialised")
rc, out, err = T.psctl("reset", "nope", url=srv.url)
T.ok(rc == 65 and "not_found" in err, "reset to a missing name exits 65")
st = T.status_json(srv.url)
T.is_eq(st["resets_total"], 3, "three resets are counted")

# --keep 2: only the two newest automatic checkpoints stay.
for i in range(3):
    w.push({"dense/bias": np.ones(32, "f4")})
    rc, out, err = T.psctl("checkpoint", url=srv.url)
autos = sorted(f for f in os.listdir(ck) if f.startswith("ckpt-"))
T.is_eq(autos, ["ckpt-000013.safetensors", "ckpt-000014.safetensors"],
        "--keep 2 keeps the two newest automatic checkpoints")
T.ok(os.path.exists(os.path.join(ck, "before-lr.safetensors")) and
     os.path.exists(os.path.join(ck, "initial.safetensors")),
     "named and initial checkpoints are not pruned")

# /metrics, parsed by the Prometheus client library.
code, ctype, text = T.http_get(srv.http + "/metrics")
T.ok(code == 200 and ctype.startswith("text/plain; version=0.0.4"),
     "/metrics answers text format 0.0.4")
try:
    from prometheus_client.parser import text_string_to_metric_families
    fams = {f.name: f for f in text_string_to_metric_families(text)}

    def val(fam, name, **labels):
        for s in fams[fam].samples:
            if s.name == name and all(s.labels.get(k) == v
                                      for k, v in labels.items()):
                return s.value
        return None
    T.is_eq(val("psctl_model_version", "psctl_model_version"), 14.0,
            "psctl_model_version is 14")
    T.is_eq(val("psctl_checkpoints", "psctl_checkpoints_total",
                result="ok"), 6.0,
            "six checkpoints written (initial, 5, before-lr, three more)")
    T.is_eq(val("psctl_update_apply_duration_seconds",
                "psctl_update_apply_duration_seconds_count"), 11.0,
            "eleven updates timed in the apply histogram")
    T.is_eq(val("psctl_workers_connected", "psctl_workers_connected"), 1.0,
            "one worker connected")
    T.is_eq(val("psctl_resets", "psctl_resets_total"), 3.0,
            "psctl_resets_total is 3")
except ImportError:
    T.skip(5, "python3-prometheus-client is not installed")

# stop --checkpoint: a final checkpoint, then the server exits 0.
w.push({"dense/bias": np.ones(32, "f4")})
version, final = w.pull()
rc, out, err = T.psctl("stop", "--checkpoint", url=srv.url)
T.ok(rc == 0 and out.strip() == os.path.join(ck, "ckpt-000015.safetensors"),
     "stop --checkpoint prints the final checkpoint's path")
T.is_eq(srv.wait(), 0, "the server exits 0")
meta, saved = T.read_safetensors(out.strip())
T.ok(all(np.array_equal(saved[k], final[k]) for k in final),
     "the final checkpoint holds the model as it was at stop")
T.ok(re.search(r"stopping after a final checkpoint", srv.log()) is not None,
     "the log says why it stopped")
T.done()
