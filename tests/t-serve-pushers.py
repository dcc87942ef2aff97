#!/usr/bin/env python3
"""Many workers pushing at once hold at most --max-inflight-bytes of
receive buffers (issue 10), however their messages are fragmented.

libpsctl sends a message as frames of 1 MiB: the receive budget must
bound what the server holds by what arrives, not by a first frame's
declared length.  N workers push a model larger than the budget at once,
in 1 MiB fragments (and some with a first fragment too short to show the
op), each holding back its last fragment until the server has read what
it will; the server's peak memory (VmHWM) may grow by the budget, one
message that does not fit in it, one read per connection and a margin,
never by a message per worker; every push is applied (exact small
integers, so the final model says so).  The same in sync mode, where a
round holds one buffer per push.  Memory is read from /proc, never
timed; the checks are skipped under AddressSanitizer, whose allocator
keeps what is freed."""

import struct
import threading
import time

import pstest as T

T.require("numpy", "websocket")
import numpy as np  # noqa: E402
import psproto as P  # noqa: E402

ok, diag = T.ok, T.diag

T.watchdog(300)
T.plan(9)

SANITIZED = T.sanitized()

MiB = 1 << 20
READ = 256 << 10		# the most lws reads from one socket at once


def status_kb(srv, field):
    return srv.vm(field) // 1024


def frames(payload, size=MiB, first=None):
    """payload as a fragmented binary message: frames of size bytes (the
    first of first bytes when given), masked with an all-zero key."""
    out, off, n, op = [], 0, len(payload), 2
    cuts = []
    if first is not None:
        cuts.append(first)
    while sum(cuts) < n:
        cuts.append(min(size, n - sum(cuts)))
    for i, k in enumerate(cuts):
        fin = 0x80 if i == len(cuts) - 1 else 0
        if k < 126:
            h = struct.pack("!BB", fin | op, 0x80 | k)
        elif k < 65536:
            h = struct.pack("!BBH", fin | op, 0x80 | 126, k)
        else:
            h = struct.pack("!BBQ", fin | op, 0x80 | 127, k)
        out.append(h + b"\0\0\0\0" + payload[off:off + k])
        off += k
        op = 0
    return out


def push(w, update, first=None, go=None):
    """A PUSH in 1 MiB fragments, the last one once go is set; the
    reply's version."""
    rid = w.next_id
    w.next_id += 1
    buf = P.encode(P.PUSH, id=rid, records=list(update.items()))
    fs = frames(buf, first=first)
    for f in fs[:-1]:
        w.ws.sock.sendall(f)
    if go is not None:
        go.wait(240)
    w.ws.sock.sendall(fs[-1])
    r = w.recv(timeout=240)
    if r.op != P.REPLY or r.id != rid:
        raise AssertionError("push answered %r" % r)
    return r.version


def settle(srv):
    """Waits until the server's RSS stops growing (it has read what it
    will read); not a timed check."""
    last, same = -1, 0
    for _ in range(120):
        rss = status_kb(srv, "VmRSS")
        same = same + 1 if abs(rss - last) < 256 else 0
        if same >= 6:
            break
        last = rss
        time.sleep(0.25)


def push_all(ws, updates, first=None, srv=None):
    """Worker i of ws pushes updates[i], all at once; with srv, each
    sends all but its last fragment, and once the server has read what it
    will, the last ones follow.  Their versions."""
    got = [None] * len(ws)
    go = threading.Event() if srv is not None else None

    def run(i):
        ws[i].ws.sock.settimeout(240)
        try:
            got[i] = push(ws[i], updates[i], first, go)
        except Exception as e:
            diag("worker %d: %r" % (i, e))
    threads = [threading.Thread(target=run, args=(i,))
               for i in range(len(ws))]
    for t in threads:
        t.start()
    if go is not None:
        settle(srv)
        go.set()
    for t in threads:
        t.join(240)
    return got


def run(n, params, budget, first, what):
    """n workers push params floats each at once under budget bytes;
    checks that all are applied and the peak memory bound."""
    srv = T.Server("--max-inflight-bytes", str(budget))
    a = srv.worker("a")
    a.init({"w": np.zeros(params, dtype=np.float32)})
    # One push and pull first: the pull body and a pooled buffer exist.
    push(a, {"w": np.ones(params, np.float32)})
    a.pull()
    base = status_kb(srv, "VmRSS")
    ws = [srv.worker("w%d" % i) for i in range(n)]
    ups = [{"w": np.full(params, i + 1, np.float32)} for i in range(n)]
    got = push_all(ws, ups, first, srv)
    ok(sorted(v or 0 for v in got) == list(range(2, 2 + n)),
       "%s: every push is answered with its own version" % what)
    v, m = a.pull()
    want = 1 + n * (n + 1) // 2
    ok(v == 1 + n and np.all(m["w"] == np.float32(want)),
       "%s: the model is the sum of every push (%s)" % (what, want))
    msg = 4 * params
    # The budget, one message beyond it, one read per connection, and
    # 8 MiB for the rest.  A buffer per worker is n * msg.
    bound = budget + msg + n * READ + 8 * MiB
    if SANITIZED:
        T.skip(1, "AddressSanitizer keeps freed memory in quarantine")
    else:
        grown = (status_kb(srv, "VmHWM") - base) * 1024
        ok(grown < bound, "%s: the server's peak grew by %.1f MiB, under "
           "%.1f MiB (budget %.0f MiB + a message of %.0f MiB + %d reads "
           "+ 8 MiB; a buffer per worker would be %.0f MiB)"
           % (what, grown / MiB, bound / MiB, budget / MiB, msg / MiB, n,
              n * msg / MiB))
    T.is_eq(srv.stop(), 0, "%s: the server stops cleanly" % what)


# libpsctl's framing: 1 MiB frames, the op in the first one.
run(16, 2 * MiB, 8 * MiB, None, "16 workers, 8 MiB pushes, 8 MiB budget")
# A first fragment of 4 bytes hides the op: the push is admitted small
# and must stall, not grow, when the budget is spent.
run(8, 2 * MiB, 8 * MiB, 4, "8 workers, a 4-byte first fragment")

# sync: a round holds every push's buffer, whatever the budget; the round
# still completes with a budget smaller than one message.
srv = T.Server("--mode", "sync", "--workers", "4",
               "--max-inflight-bytes", str(MiB))
ws = [srv.worker("s%d" % i) for i in range(4)]
ws[0].init({"w": np.zeros(MiB, dtype=np.float32)})
got = push_all(ws, [{"w": np.full(MiB, 2 * (i + 1), np.float32)}
                    for i in range(4)])
v, m = ws[1].pull()
ok(got == [1, 1, 1, 1] and np.all(m["w"] == np.float32(5)),
   "sync, 4 workers pushing 4 MiB in fragments under a 1 MiB budget: the "
   "round completes with the mean (versions %r)" % (got,))
srv.stop()

T.done()
