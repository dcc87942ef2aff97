#!/usr/bin/env python3
"""psctl serve's consistency modes through the wire: sync rounds apply the
mean of N pushes once and hold the push replies until the round is done; a
worker that dies mid-round leaves the barrier; ssp holds a fast worker's
pull until the slow one catches up; --worker-timeout drops silent workers.

Waiting is checked by order, not by time: the server handles messages one
at a time, so once another connection's later request has been answered,
a reply that was due would already have been sent."""

import time

import pstest as T

T.require("numpy", "websocket")
import numpy as np  # noqa: E402
import psproto as P  # noqa: E402

ok, diag = T.ok, T.diag

T.watchdog(120)
T.plan(34)

SHAPE = (2, 3)
W0 = np.arange(6, dtype=np.float32).reshape(SHAPE)


def u(k):
    return np.full(SHAPE, k, np.float32)


def model(w):
    r = w.request(P.PULL)
    return r.tensors[0].array.copy(), r.version


def setup(*args, n=3):
    s = T.Server(*args)
    ws = [s.worker("w%d" % i) for i in range(n)]
    ws[0].request(P.INIT, records=[("w", W0)])
    return s, ws


# --- sync --workers 3 -------------------------------------------------------

s, (a, b, c) = setup("--mode", "sync", "--workers", "3")
ra = a.send(P.PUSH, records=[("w", u(1))])
rb = b.send(P.PUSH, records=[("w", u(2))])
m, v = model(c)
ok(v == 0 and np.array_equal(m, W0),
   "sync: two of three pushes leave the model as it was")
ok(not a.pending() and not b.pending(),
   "sync: their push replies wait for the round")
rc = c.send(P.PUSH, records=[("w", u(6))])
replies = [w.recv() for w in (a, b, c)]
ok(all(r.op == P.REPLY and r.version == 1 for r in replies) and
   [r.id for r in replies] == [ra, rb, rc],
   "sync: the third push completes the round; all three replies say "
   "version 1")
m, v = model(c)
ok(np.array_equal(m, W0 + np.float32(3)) and v == 1,
   "sync: the mean of the three updates was applied once")

# A worker's second push in a round waits for the next round, and its pull
# after its push waits for its round.
a1 = a.send(P.PUSH, records=[("w", u(3))])
a2 = a.send(P.PUSH, records=[("w", u(30))])
ap = a.send(P.PULL)
b.request(P.PULL)
ok(not a.pending(), "sync: a push waits while the others have not pushed")
rb = b.send(P.PUSH, records=[("w", u(6))])
rc = c.send(P.PUSH, records=[("w", u(9))])
r1 = a.recv()
ok(r1.id == a1 and r1.version == 2 and b.recv().version == 2 and
   c.recv().version == 2, "sync: round 2 completes with the first push of "
   "each worker")
c.request(P.PULL)
ok(not a.pending(),
   "sync: the same worker's second push waits for round 3")
b.send(P.PUSH, records=[("w", u(0))])
c.send(P.PUSH, records=[("w", u(3))])
r2 = a.recv()
rp = a.recv()
ok(r2.id == a2 and r2.version == 3, "sync: it is answered when round 3 "
   "completes")
ok(rp.id == ap and rp.op == P.REPLY and rp.version == 3,
   "sync: the pull sent after it is answered after it, with round 3's "
   "version")
b.recv()
c.recv()
expect = W0 + np.float32(3) + np.float32(6) + np.float32(11)
ok(np.array_equal(rp.tensors[0].array, expect),
   "sync: each round's mean was applied exactly once (%s)" %
   rp.tensors[0].array[0, 0])
r = b.request(P.PUSH, records=[("w", np.full((3, 2), 1, np.float32))])
ok(r.op == P.ERROR and r.status == P.E_SHAPE and not c.pending(),
   "sync: a bad push is refused at once and joins no round")

# A worker dies mid-round: it leaves the barrier and the round completes.
a.send(P.PUSH, records=[("w", u(1))])
b.send(P.PUSH, records=[("w", u(2))])
c.request(P.PULL)
c.drop()
ra, rb = a.recv(), b.recv()
ok(ra.op == P.REPLY and rb.op == P.REPLY and ra.version == 4 == rb.version,
   "sync: when the third worker dies the round completes with the two")
ok(s.wait_log(r"left the sync barrier", 5) is not None,
   "sync: the departure is logged")
m, v = model(a)
ok(np.array_equal(m, expect + np.float32(1.5)),
   "sync: that round applied the mean of the two pushes")
# Two live workers now complete rounds by themselves.
a.send(P.PUSH, records=[("w", u(2))])
b.send(P.PUSH, records=[("w", u(4))])
ok(a.recv().version == 5 and b.recv().version == 5,
   "sync: the remaining two complete the next round alone")
expect = expect + np.float32(1.5) + np.float32(3)

# A newcomer restores the barrier of three; one that pushes and leaves
# still counts for its round.
d = s.worker("d")
d.send(P.PUSH, records=[("w", u(3))])
d.close()
ok(s.wait_log(r"worker %d .* disconnected" % d.id, 5) is not None,
   "sync: a newcomer pushes and leaves")
a.send(P.PUSH, records=[("w", u(6))])
b.send(P.PUSH, records=[("w", u(0))])
ra, rb = a.recv(), b.recv()
ok(ra.version == 6 and rb.version == 6,
   "sync: its push still counts: the round completes with three pushes")
m, v = model(a)
ok(np.array_equal(m, expect + np.float32(3)),
   "sync: the mean includes the push of the worker that left")
for w in (a, b):
    w.close()
ok(s.stop() == 0, "sync: the server stops cleanly")

# A worker that sends many requests ahead: each waits for its own round.
s, (a, b) = setup("--mode", "sync", "--workers", "2", n=2)
K = 8
ids = [a.send(P.PUSH, records=[("w", u(2 * i))]) for i in range(K)]
pid = a.send(P.PULL)
bv = [b.request(P.PUSH, records=[("w", u(0))]).version for i in range(K)]
ra = [a.recv() for i in range(K)]
rp = a.recv()
ok(bv == list(range(1, K + 1)) and [r.id for r in ra] == ids and
   [r.version for r in ra] == bv,
   "sync: %d pushes sent ahead by one worker go into %d rounds, in order"
   % (K, K))
ok(rp.id == pid and rp.version == K and
   np.array_equal(rp.tensors[0].array, W0 + np.float32(sum(range(K)))),
   "sync: and the pull sent after them sees all %d rounds" % K)
a.close()
b.close()
s.stop()

# A push waiting for a round when the server stops gets SHUTDOWN.
s, (a, b) = setup("--mode", "sync", "--workers", "2", n=2)
a.send(P.PUSH, records=[("w", u(1))])
b.request(P.PULL)
s.proc.send_signal(15)
r = a.recv()
ok(r.op == P.ERROR and r.status == P.E_SHUTDOWN,
   "sync: a push parked when the server stops is answered with shutdown")
code, why = a.wait_close()
ok(code == 1001, "and the connection is closed with 1001 (got %s)" % code)
ok(s.stop() == 0, "the server exits with status 0")

# --- ssp --staleness 1 -----------------------------------------------------

s, (f, sl) = setup("--mode", "ssp", "--staleness", "1", n=2)
r = f.request(P.PUSH, records=[("w", u(1))])
ok(r.version == 1, "ssp: pushes are applied at once")
m, v = model(f)
ok(v == 1, "ssp: one clock ahead of the slowest, a pull is answered")
f.request(P.PUSH, records=[("w", u(1))])
fp = f.send(P.PULL)
m, v = model(sl)
ok(v == 2 and not f.pending(),
   "ssp: two clocks ahead with staleness 1, the fast worker's pull waits")
r = sl.request(P.PUSH, records=[("w", u(10))])
rp = f.recv()
ok(rp.id == fp and rp.version == 3 and
   np.array_equal(rp.tensors[0].array, W0 + np.float32(12)),
   "ssp: the slow worker's push releases it, with that push applied")
f.request(P.PUSH, records=[("w", u(1))])
f.request(P.PUSH, records=[("w", u(1))])
fp = f.send(P.PULL)
sl.request(P.PULL)
ok(not f.pending(), "ssp: three clocks ahead again, it waits")
sl.close()
rp = f.recv()
ok(rp.id == fp and rp.op == P.REPLY and rp.version == 5,
   "ssp: the slow worker leaving releases it")
f.close()
s.stop()

# --- --worker-timeout -------------------------------------------------------

s, (a, b) = setup("--mode", "sync", "--workers", "2", "--worker-timeout",
                  "1", n=2)
t0 = time.monotonic()
a.send(P.PUSH, records=[("w", u(4))])
r = a.recv()
ok(r.op == P.REPLY and r.version == 1,
   "timeout: a waiting push is released when the silent worker times out")
ok(s.wait_log(r"worker %d .* timed out" % b.id, 5) is not None,
   "timeout: the silent worker is logged as timed out")
code, why = b.wait_close()
ok(code == 1008, "timeout: its connection is closed with 1008 (got %s)" %
   code)
diag("released after %.1f s" % (time.monotonic() - t0))
a.close()
ok(s.stop() == 0, "timeout: the server stops cleanly")

T.done()
