#!/usr/bin/python3
"""What an operator acts on (issue 12), against a live psctl serve: the
STATUS fields that point at a cause (each worker's update norm and its
minute's largest, its rate dropping to 0 once it stops, its rate over the
minute; each tensor's growth; the sync round and whom it waits on).
"""

import time

import pstest as T

T.require("numpy", "websocket")
import numpy as np  # noqa: E402
import psproto as P  # noqa: E402

T.plan(17)
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
w2.push({"a": np.ones(4, "f4")})
w1.recv()
st = status(srv)
T.is_eq(st["round"], {"number": 2, "waiting_on": [], "waiting_s": 0},
        "the round ends with sw-b's push; round 2 waits on no one")
srv.stop()
T.done()
