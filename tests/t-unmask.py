#!/usr/bin/python3
"""The server unmasks client payloads itself (wsguard.c) and hands lws
the key as zeros, except where the key came in an earlier read than the
rest of its header; lws then unmasks.  Whatever the reads look like, the
model must get exactly what was pushed: pushes whose bytes arrive in
pieces cut at every place in a frame header (inside the key too), at odd
places in the payload, fragmented, and with a ping between fragments,
each followed by a pull checked value by value (small integers, exact in
float32)."""
import os
import random
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pstest as T  # noqa: E402
import pageclient as C  # noqa: E402

T.watchdog(240)

rng = random.Random(int(os.environ.get("PS_UNMASK_SEED", "0")) or
                    random.randrange(1 << 30))
N = 70000                       # a 280 KB tensor: frames past 64 KiB
SMALL = 8                       # 32 bytes: a 7-bit length
MID = 300                       # 1,200 bytes: a 16-bit length


def dribble(sock, data, cuts):
    """Sends data cut at the offsets in cuts, a pause after each piece."""
    last = 0
    for c in sorted(set(cuts)) + [len(data)]:
        if c <= last or c > len(data):
            continue
        sock.sendall(data[last:c])
        last = c
        time.sleep(0.004)


srv = T.Server()
w = C.Worker(srv.port, "dribbler")
sock = w.ws.s
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
model = {"big": [0.0] * N, "mid": [0.0] * MID, "small": [0.0] * SMALL}
w.init({k: ([len(v)], v) for k, v in model.items()})

cases = []
# Every cut inside the header of a frame with a 64-bit, a 16-bit and a
# 7-bit length (the key is the header's last four bytes).
for name, hlen in (("big", 14), ("mid", 8), ("small", 6)):
    for cut in range(1, hlen):
        cases.append((name, "the %s push cut after byte %d of %d of its "
                      "header" % (name, cut, hlen), [cut], 1, False))
# Odd cuts in the payload, so that a read ends at every phase of the key.
for k in range(4):
    cases.append(("big", "the big push cut in its payload at phase %d" % k,
                  [14 + 1001 + k, 14 + 70001 + 2 * k, 14 + 200003 + k],
                  1, False))
# Fragmented: three frames, each cut in its header; and with a ping
# between the fragments.
cases.append(("big", "the big push in three fragments, each cut in its "
              "header", None, 3, False))
cases.append(("big", "the big push in three fragments, a ping between "
              "them", None, 3, True))
cases.append(("mid", "the mid push in two fragments, a ping between them",
              None, 2, True))

T.plan(2 * len(cases) + 1)
seq = 0
for name, desc, cuts, nfrag, ping in cases:
    upd = [float(rng.randrange(-8, 9)) for _ in model[name]]
    seq += 1
    msg = C.encode(C.OP_PUSH, 1000 + seq, arg=seq,
                   records=[(name, [len(upd)], upd)])
    if nfrag == 1:
        data, _ = C.frame(0x2, msg)
    else:
        size = len(msg) // nfrag
        parts = [msg[i * size:(i + 1) * size] for i in range(nfrag - 1)]
        parts.append(msg[(nfrag - 1) * size:])
        data, cuts = b"", []
        for i, p in enumerate(parts):
            if ping and i > 0:
                f, _ = C.frame(0x9, b"pp%d" % i)
                cuts.append(len(data) + rng.randrange(1, len(f)))
                data += f
            f, hl = C.frame(0x2 if i == 0 else 0x0, p, fin=i == nfrag - 1)
            cuts.append(len(data) + rng.randrange(1, hl))
            cuts.append(len(data) + hl + rng.randrange(1, len(p)))
            data += f
    dribble(sock, data, cuts)
    m = w.recv()
    T.ok(m.op == C.OP_REPLY and m.id == 1000 + seq,
         desc + ": answered (%s)" % (m.error if m.op == C.OP_ERROR
                                      else "version %d" % m.version))
    model[name] = [a + b for a, b in zip(model[name], upd)]
    _, got = w.pull([name])
    bad = [i for i, (a, b) in enumerate(zip(got[name][1], model[name]))
           if a != b]
    T.ok(not bad and len(got[name][1]) == len(model[name]),
         desc + ": the model has exactly what was pushed" +
         (" (%d values differ, the first at %d)" % (len(bad), bad[0])
          if bad else ""))
w.close()
T.is_eq(srv.stop(), 0, "the server stops with status 0")
T.done()
