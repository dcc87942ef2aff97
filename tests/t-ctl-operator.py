#!/usr/bin/python3
"""What an operator acts on (issue 12), against a live psctl serve: the
STATUS fields that point at a cause (each worker's update norm and its
minute's largest, its rate dropping to 0 once it stops, its rate over the
minute; each tensor's growth; the sync round and whom it waits on), and
kick, block and unblock, by control message and by psctl.
"""

import json
import os
import time

import pstest as T

T.require("numpy", "websocket")
import numpy as np  # noqa: E402
import psproto as P  # noqa: E402

T.plan(42)
T.watchdog(120)


ctls = {}


def status(srv):
    if srv not in ctls:
        ctls[srv] = srv.control()
    r = ctls[srv].request("status")
    if not r.get("ok"):
        T.bail("status failed: %r" % r)
    return r["result"]


def worker_of(st, wid):
    return [w for w in st["workers"] if w["id"] == wid][0]


def near(a, b, rel=1e-5):
    return a is not None and abs(a - b) <= rel * max(abs(b), 1e-30)


# --- async: update norms, rates, growth ---------------------------------
srv = T.Server("--rule", "sgd", "--lr", "1")
good = srv.worker("good")
bad = srv.worker("bad")
model = {"a": np.full(100, 1.0, "f4"), "b": np.full(100, 1.0, "f4")}
good.init(model)
st = status(srv)
T.ok(worker_of(st, good.id)["update_l2"] is None and
     worker_of(st, good.id)["update_l2_max"] is None and
     worker_of(st, good.id)["last_push_s"] is None,
     "before its first push a worker's update_l2, update_l2_max and "
     "last_push_s are null")
T.ok(all(t["growth_reset"] == 0 for t in st["tensors"]),
     "a new model has grown by 0 since it was created")

# sgd with lr 1 subtracts the update: b goes from 1 to 4 per element.
small = {"a": np.full(100, -0.01, "f4")}
big = {"b": np.full(100, -3.0, "f4")}
good.push(small)
bad.push(big)
good.push({"a": np.full(100, -0.001, "f4")})
st = status(srv)
g, b = worker_of(st, good.id), worker_of(st, bad.id)
T.ok(near(g["update_l2"], 0.01) and near(b["update_l2"], 30.0),
     "update_l2 is the norm of each worker's last push (%r, %r)" %
     (g["update_l2"], b["update_l2"]))
T.ok(near(g["update_l2_max"], 0.1) and near(b["update_l2_max"], 30.0),
     "update_l2_max is the largest of the minute (%r, %r)" %
     (g["update_l2_max"], b["update_l2_max"]))
T.ok(b["last_push_s"] is not None and b["last_push_s"] >= 0,
     "last_push_s says when it last pushed")
tb = [t for t in st["tensors"] if t["name"] == "b"][0]
ta = [t for t in st["tensors"] if t["name"] == "a"][0]
T.ok(near(tb["growth_reset"], 3.0) and near(ta["growth_reset"], 0.011,
     1e-3),
     "growth_reset: b grew by 300 %%, a by 1.1 %% (%r, %r)" %
     (tb["growth_reset"], ta["growth_reset"]))
# Within a minute of the model's creation the window reaches back to it.
win = st["growth_window_s"]
T.ok(win is not None and (win >= 55 or (near(tb["growth_1m"],
     tb["growth_reset"]) and near(ta["growth_1m"], ta["growth_reset"]))),
     "growth_1m compares with the model of growth_window_s (%r s) ago" % win)

# The rate of a worker that stops reads 0, not a decaying rate.
seen = 0.0
while seen == 0.0:
    good.push(small)
    seen = worker_of(status(srv), good.id)["pushes_per_s"]
T.ok(seen > 0, "a pushing worker has a rate (%.1f/s)" % seen)
while worker_of(st, good.id)["last_push_s"] < 2.0:
    time.sleep(0.2)
    st = status(srv)
g = worker_of(st, good.id)
T.is_eq(g["pushes_per_s"], 0,
        "2 s after its last push, a worker that pushed many times a second "
        "has a rate of 0")
T.ok(g["pushes_per_s_1m"] is not None and g["pushes_per_s_1m"] > 0,
     "its rate over the minute still shows what it did (%r/s)" %
     g["pushes_per_s_1m"])
T.is_eq(st["round"], None, "round is null in async mode")

# A reset starts growth over.
r = srv.control().request("reset")
T.ok(r.get("ok"), "reset to the initial model")
st = status(srv)
T.ok(all(t["growth_reset"] == 0 for t in st["tensors"]),
     "after a reset every tensor has grown by 0 since")
T.is_eq(srv.stop(), 0, "the async server stops")

# --- kick, block, unblock -----------------------------------------------
srv = T.Server("--rule", "add")
d1 = srv.worker("dup")
d2 = srv.worker("dup")
bad = srv.worker("bad")
d1.init({"a": np.zeros(4, "f4")})
ctl = srv.control()
r = ctl.request("kick", worker="dup")
T.ok(not r["ok"] and r["error"]["code"] == "ambiguous" and
     str(d1.id) in r["error"]["message"] and
     str(d2.id) in r["error"]["message"],
     "a name two live workers have is refused, with both ids: %s" %
     r.get("error", {}).get("message"))
rc, out, err = srv.psctl("kick", "bad", "--block")
T.ok(rc == 0 and "kicked and blocked" in out,
     "psctl kick bad --block: %s" % (out.strip() or err.strip()))
T.is_eq(bad.wait_close(), (1008, "kicked and blocked by an operator"),
        "the worker's connection closes with 1008 naming the operator action")
secret = [t.name for t in bad.hello.tensors if t.name.startswith("__")]
again = T.Worker(srv.url, "bad", hello=False)
m = again.request(P.HELLO, text="bad")
T.ok(m.op == P.ERROR and m.status == P.E_UNAUTHORIZED and
     "an operator blocked it" in m.text,
     "a new worker named bad is refused at HELLO: %s" % m.text)
m = again.request(P.HELLO, arg=bad.id, text="renamed",
                  records=[(n, None) for n in secret])
T.ok(m.op == P.ERROR and m.status == P.E_UNAUTHORIZED and
     "an operator blocked it" in m.text,
     "resuming its id under another name is refused too: %s" % m.text)
m = again.request(P.HELLO, text="fine")
T.ok(m.op == P.REPLY and m.arg != bad.id,
     "the refused connection may say HELLO again as another worker")
st = status(srv)
T.is_eq(st["blocked"], [{"id": bad.id, "name": "bad"}],
        "STATUS lists the block")
rc, out, err = srv.psctl("unblock", "bad")
T.ok(rc == 0 and "unblocked" in out, "psctl unblock bad: %s" %
     (out.strip() or err.strip()))
T.ok(srv.worker("bad").id is not None,
     "once unblocked, a worker named bad is welcome again")
rc, out, err = srv.psctl("unblock", "bad")
T.ok(rc == 65 and ("not blocked" in err or "no block" in err),
     "unblocking what is not blocked exits 65: %s" % err.strip())
rc, out, err = srv.psctl("kick", "999")
T.ok(rc == 65 and "no worker 999" in err,
     "kicking an id that never was exits 65: %s" % err.strip())
r = ctl.request("kick", worker=d1.id)
T.ok(r["ok"] and r["result"] == {"id": d1.id, "name": "dup", "kicked": True,
                                 "blocked": False},
     "kick by id without block: %r" % r.get("result"))
T.is_eq(d1.wait_close(), (1008, "kicked by an operator"),
        "its connection closes with 1008")
T.ok(srv.worker("dup").id is not None and
     status(srv)["blocked"] == [], "a kick alone blocks nothing")
# A worker that pushes before it has read the kick: its push reaches a
# socket the server has closed, which answers with a reset, and the close
# frame waiting before it must still be read, with its reason.
d2 = srv.worker("late")
r = ctl.request("kick", worker=d2.id)
for _ in range(100):
    if d2.pending():
        break
    time.sleep(0.05)
d2.send(P.PUSH, records=[("a", np.ones(4, "f4"))])
time.sleep(0.2)
T.is_eq(d2.wait_close(), (1008, "kicked by an operator"),
        "a worker pushing after the kick still reads the close and its "
        "reason")
r = ctl.request("checkpoints")
T.ok(r["ok"] and r["result"]["checkpoints"] == [
     {"name": "initial", "path": None, "version": 0, "time": None,
      "age_s": None, "bytes": None, "model_l2": 0}],
     "without a checkpoint directory, only the initial model, kept by the server: %r"
     % r.get("result"))
srv.stop()

# --- checkpoints: what reset can go back to ------------------------------
ck = os.path.join(T.tmpdir(), "ckpt")
srv = T.Server("--rule", "add", "--checkpoint-dir", ck)
w = srv.worker("w")
w.init({"a": np.full(4, 1.0, "f4")})
while status(srv)["checkpoint"]["count"] < 1:      # the initial one
    time.sleep(0.05)
w.push({"a": np.full(4, 1.0, "f4")})               # L2 4
rc, out, err = srv.psctl("checkpoint", "mid")
w.push({"a": np.full(4, 10.0, "f4")})              # L2 24
rc2, out, err = srv.psctl("checkpoint")
rc3, out, err = srv.psctl("checkpoints", "--json")
T.ok(rc == 0 and rc2 == 0 and rc3 == 0, "two checkpoints written and "
     "listed: %s" % err.strip())
cks = json.loads(out)
T.is_eq([(c["name"], c["version"], c["model_l2"]) for c in cks],
        [("ckpt-000002", 2, 24.0), ("mid", 1, 4.0), ("initial", 0, 2.0)],
        "psctl checkpoints --json: newest first, initial last, with "
        "versions and model L2 from the metadata")
T.ok(all(c["bytes"] == os.path.getsize(c["path"]) and
         os.path.dirname(c["path"]) == os.path.realpath(ck) and
         c["age_s"] is not None and c["age_s"] >= -1 and c["time"] > 0
         for c in cks), "each has its path, size, time and age")
rc, out, err = srv.psctl("checkpoints")
lines = out.splitlines()
T.ok(rc == 0 and lines[0].split()[:2] == ["NAME", "VERSION"] and
     [ln.split()[0] for ln in lines[1:]] == ["ckpt-000002", "mid",
                                             "initial"],
     "psctl checkpoints prints a table:\n" + out)
r = ctl_r = srv.control().request("reset", name=cks[1]["name"])
T.ok(r["ok"] and status(srv)["model_l2"] == 4.0,
     "reset takes a listed name, and gives the model its L2 said")
with open(os.path.join(ck, "junk.safetensors"), "w") as f:
    f.write("not a checkpoint")
rc, out, err = srv.psctl("checkpoints", "--json")
T.ok(rc == 0 and "junk" not in out and len(json.loads(out)) == 3,
     "a file that is not a checkpoint is left out")
srv.stop()

# --- sync: the round and whom it waits on --------------------------------
srv = T.Server("--mode", "sync", "--workers", "2", "--rule", "add")
w1 = srv.worker("sw-a")
w2 = srv.worker("sw-b")
w1.init({"a": np.zeros(4, "f4")})
st = status(srv)
T.is_eq(st["round"], {"number": 1, "waiting_on": [], "waiting_s": 0},
        "an empty round 1 waits on no one")
w1.send(P.PUSH, records=[("a", np.ones(4, "f4"))])
st = status(srv)
while not st["round"]["waiting_on"]:     # the push may come after
    time.sleep(0.05)
    st = status(srv)
T.ok(st["round"]["number"] == 1 and st["round"]["waiting_on"] == [w2.id]
     and st["round"]["waiting_s"] >= 0,
     "once sw-a pushed, round 1 waits on sw-b only: %r" % st["round"])
w2.push({"a": np.full(4, 2, "f4")})
w1.recv()
st = status(srv)
T.is_eq(st["round"], {"number": 2, "waiting_on": [], "waiting_s": 0},
        "the round ends with sw-b's push; round 2 waits on no one")
T.ok(near(worker_of(st, w1.id)["update_l2"], 2.0) and
     near(worker_of(st, w2.id)["update_l2"], 4.0),
     "in sync, update_l2 is each worker's push, not the round's mean "
     "(%r, %r)" % (worker_of(st, w1.id)["update_l2"],
                   worker_of(st, w2.id)["update_l2"]))
# A kicked worker's push waiting in the round is answered first.
w1.send(P.PUSH, records=[("a", np.ones(4, "f4"))])
while not status(srv)["round"]["waiting_on"]:
    time.sleep(0.05)
r = srv.control().request("kick", worker="sw-a")
m = w1.recv()
T.ok(r["ok"] and m.op == P.ERROR and m.status == P.E_UNAUTHORIZED,
     "kicking sw-a while its push waits for the round answers that push "
     "with unauthorized: %s" % m.text)
T.is_eq(w1.wait_close()[0], 1008, "and closes it with 1008")
srv.stop()
T.done()
