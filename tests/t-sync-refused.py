#!/usr/bin/python3
"""A push answered with an error never changes the model (issue 11
item 1).  Under --mode sync a push waits in its round; when its
connection is taken over by the worker's own resume, the push is answered
with error protocol and leaves the round: the round's mean is what the
other pushes make alone, bit for bit, and the worker's sequence number
goes back, so its retry is applied.  A push whose connection just closes
(no answer) stays in the round, as psctl-protocol(7) says."""

import time

import pstest as T

T.require("numpy", "websocket")
import numpy as np  # noqa: E402
import psproto as P  # noqa: E402

T.plan(10)
T.watchdog(120)

ZERO = {"w": np.zeros(4, np.float32)}


def vec(*x):
    return {"w": np.array(x, np.float32)}


def push(w, upd, seq):
    return w.send(P.PUSH, arg=seq, records=list(upd.items()))


def waiting(s, wid):
    """Waits until psctl status shows worker wid waiting (its push is in
    the round), so that the next push arrives after it."""
    for _ in range(200):
        st = T.status_json(s.url)
        if any(w.get("id") == wid and w.get("state") == "waiting"
               for w in st.get("workers", [])):
            return True
        time.sleep(0.05)
    T.bail("worker %d never waited" % wid)


def answer(w):
    try:
        return w.recv(timeout=10)
    except T.Closed as e:
        return e


# --- a takeover takes the old connection's push out of the round --------
srv = T.Server("--mode", "sync", "--workers", "2", "--rule", "add")
a = srv.worker("a")
b = srv.worker("b")
a.init(ZERO)
push(a, vec(1, 1, 1, 1), 1)
a2 = srv.worker("a-again", hello=False)
r = a2.resume(a.id, a.secret)
T.ok(r.op == P.REPLY and r.arg == a.id, "a's own new connection resumes it")
r = answer(a)
T.ok(isinstance(r, T.Closed) or (r.op == P.ERROR and
                                  r.status == P.E_PROTOCOL),
     "the old connection's waiting push is answered with error protocol")
push(b, vec(2, 2, 2, 2), 1)
push(a2, vec(10, 10, 10, 10), 1)
rb, ra = b.recv(timeout=10), a2.recv(timeout=10)
T.ok(rb.op == P.REPLY and ra.op == P.REPLY and ra.version == 1 and
     "duplicate" not in ra.text,
     "a's retry with the same sequence number is applied, not a duplicate")
_, m = b.pull()
T.ok(np.array_equal(m["w"], np.full(4, 6, np.float32)),
     "the round's mean is (2 + 10) / 2: the refused push is not in it "
     "(got %s)" % m["w"])
T.is_eq(srv.stop(), 0, "the server stops")

# --- with a departed worker's push kept, the redo is exact --------------
B = vec(0.1, 1e-8, 3.3, -7.7)
A = vec(1e7, 0.3, -0.2, 5e-3)
C = vec(0.7, 1e-3, 1e5, 0.9)


def run(takeover):
    """sync --workers 3: b pushes B and goes; a pushes (and, takeover,
    is resumed elsewhere and pushes A again); c pushes C.  The model."""
    s = T.Server("--mode", "sync", "--workers", "3", "--rule", "add")
    a, b, c = s.worker("a"), s.worker("b"), s.worker("c")
    a.init(ZERO)
    push(b, B, 1)
    waiting(s, b.id)
    b.drop()
    s.wait_log(r"worker %d .* disconnected" % b.id)
    if takeover:
        push(a, vec(3e6, 3e-3, 3, 3), 1)
        waiting(s, a.id)
        a2 = s.worker("a2", hello=False)
        a2.resume(a.id, a.secret)
        answer(a)
        a = a2
    push(a, A, 1)
    waiting(s, a.id)
    push(c, C, 1)
    ok = a.recv(timeout=10).op == P.REPLY and c.recv(timeout=10).op == P.REPLY
    _, m = c.pull()
    s.stop()
    return ok, m["w"]


ok1, plain = run(False)
ok2, taken = run(True)
T.ok(ok1 and ok2, "both rounds end with every push answered")
T.ok(np.array_equal(plain, taken),
     "the round made again without the refused push equals, bit for bit, "
     "one that never had it (%s, %s)" % (plain, taken))
T.ok(not np.array_equal(plain, np.zeros(4, np.float32)),
     "and the round was applied")

# --- a plain departure keeps its push in the round ----------------------
srv = T.Server("--mode", "sync", "--workers", "2", "--rule", "add")
a = srv.worker("a")
b = srv.worker("b")
a.init(ZERO)
push(a, vec(4, 4, 4, 4), 1)
a.drop()
srv.wait_log(r"worker %d .* disconnected" % a.id)
push(b, vec(2, 2, 2, 2), 1)
T.is_eq(b.recv(timeout=10).version, 1, "the round ends once b pushed")
_, m = b.pull()
T.ok(np.array_equal(m["w"], np.full(4, 3, np.float32)),
     "a push whose connection closed unanswered stays in the round "
     "(mean 3, got %s)" % m["w"])
srv.stop()
T.done()
