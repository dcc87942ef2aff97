#!/usr/bin/python3
"""ssp clocks as psctl-protocol(7) says (issue 11 item 7): a new worker
starts at the slowest live worker's clock, not at 0, and counts its pushes
from there; a worker that resumes keeps its clock.  Seen from the pulls
that wait (status shows the worker "waiting") or are answered, and in
STATUS, whose "clock" is that clock (not the push count) and "lag" the
fastest live clock minus it; under sync, "clock" counts the finished
rounds a worker pushed in."""

import time

import pstest as T

T.require("numpy", "websocket")
import numpy as np  # noqa: E402
import psproto as P  # noqa: E402

T.plan(10)
T.watchdog(120)

ONE = {"w": np.ones(2, np.float32)}


def pull_waits(srv, w):
    """Sends a pull; True once status shows w waiting, False when it is
    answered.  A waiting pull is left for release() to read."""
    w.send(P.PULL)
    for _ in range(400):
        if w.pending():
            w.recv()
            return False
        st = T.status_json(srv.url)
        if any(x.get("id") == w.id and x.get("state") == "waiting"
               for x in st.get("workers", [])):
            return True
        time.sleep(0.05)
    T.bail("the pull was neither answered nor waiting")


srv = T.Server("--mode", "ssp", "--staleness", "1", "--rule", "add")
a = srv.worker("a")
a.init({"w": np.zeros(2, np.float32)})
for seq in (1, 2, 3):
    a.push(ONE, seq=seq)
c = srv.worker("c")
T.ok(not pull_waits(srv, a), "a (clock 3) is not held back by the late "
     "joiner c: c starts at the slowest live clock, 3, not 0")
c.push(ONE, seq=1)
a.push(ONE, seq=4)
a.push(ONE, seq=5)
T.ok(not pull_waits(srv, a), "c's clock is its start plus its pushes (4): "
     "a at 5 is within staleness 1")
ws = {x["id"]: x for x in T.status_json(srv.url)["workers"]}
T.is_eq((ws[c.id]["pushes"], ws[c.id]["clock"], ws[c.id]["lag"]), (1, 4, 1),
        "status: c made 1 push, its clock is 4, 1 behind a")
T.is_eq((ws[a.id]["pushes"], ws[a.id]["clock"], ws[a.id]["lag"]), (5, 5, 0),
        "status: a made 5 pushes, clock 5, lag 0")
a.push(ONE, seq=6)
T.ok(pull_waits(srv, a), "a at 6, two ahead of c at 4: a's pull waits")
c.push(ONE, seq=2)
T.ok(a.recv(timeout=10).op == P.REPLY, "c's push releases it")

a.close()
srv.wait_log(r"worker %d .* disconnected" % a.id)
c.push(ONE, seq=3)
c.push(ONE, seq=4)
c.push(ONE, seq=5)
back = srv.worker("a-back", hello=False)
back.resume(a.id, a.secret)
T.ok(pull_waits(srv, c), "a resumed worker keeps its clock (6): c at 7 "
     "is within 1 of it, c at 8 waits for it (no fresh start at 7)")
T.is_eq(srv.stop(), 0, "the server stops")

# sync: the clock counts the rounds a worker pushed in, once they end.
srv = T.Server("--mode", "sync", "--workers", "2", "--rule", "add")
a = srv.worker("a")
b = srv.worker("b")
a.init({"w": np.zeros(2, np.float32)})
a.send(P.PUSH, records=list(ONE.items()))
for _ in range(400):
    ws = {x["id"]: x for x in T.status_json(srv.url)["workers"]}
    if ws[a.id]["pushes"] == 1:
        break
    time.sleep(0.05)
T.is_eq((ws[a.id]["pushes"], ws[a.id]["clock"]), (1, 0),
        "sync: a's push waits in round 1, its clock is still 0")
b.push(ONE)
a.recv(timeout=10)
ws = {x["id"]: x for x in T.status_json(srv.url)["workers"]}
T.is_eq((ws[a.id]["clock"], ws[b.id]["clock"]), (1, 1),
        "once the round ends both clocks are 1")
T.done()
