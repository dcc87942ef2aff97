#!/usr/bin/python3
"""The resume secret (issue 11 item 14) in psctl.Client.  Against a fake
server that records what the client sends: HELLO's reply ends with a
__resume/<32 hex> record, which the client keeps, never lists as a model
tensor, and presents (as the only record of its HELLO) when it resumes; a
refused resume is a new worker, or ResumeError while a push is
unanswered.  Then against psctl serve: the client resumes with its
secret, a client claiming another worker's id with a wrong secret is
refused (and becomes a new worker, its push applied once, the owner
untouched), and a push pending when the resume is refused raises
ResumeError.  Last, psctl.Identity: a worker process started again from
its saved identity resumes, and its unanswered push sent again with its
number is applied once in all."""

import base64
import hashlib
import json
import os
import re
import socket
import struct
import threading

import pstest as T

T.require("numpy")
import numpy as np  # noqa: E402
import psproto as P  # noqa: E402

import psctl  # noqa: E402

T.plan(24)
T.watchdog(60)

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Msg:
    pass


def parse(b):
    """A request as the fake needs it (psproto.decode refuses a HELLO with
    records, as today's server does)."""
    m = Msg()
    _, m.op, _, _, m.id, m.version, m.arg, count, tl = \
        struct.unpack_from("<IBBHQQQII", b)
    off = 40 + P.pad8(tl)
    m.names, m.arrays = [], {}
    for _ in range(count):
        ln, dt, nd, _ = struct.unpack_from("<HBBI", b, off)
        dims = struct.unpack_from("<%dQ" % nd, b, off + 8)
        off += 8 + 8 * nd
        name = b[off:off + ln].decode()
        off += P.pad8(ln)
        n = int(np.prod(dims)) if dt else 0
        m.names.append(name)
        if dt:
            m.arrays[name] = np.frombuffer(b, "<f4", n, off)
        off += P.pad8(4 * n)
    return m


class Fake:
    """One tensor "w" of 3 floats, rule add, one worker id: 7.  drop_after
    _push closes the connection after applying the next push, before its
    answer.  forget makes the next resume fail (a new secret)."""

    def __init__(self):
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(4)
        self.url = "ws://127.0.0.1:%d/" % self.ls.getsockname()[1]
        self.w = np.zeros(3, np.float32)
        self.version = 0
        self.secret = "__resume/" + os.urandom(16).hex()
        self.last_seq = 0
        self.hellos = []            # (arg, [record names]) of every HELLO
        self.drop_after_push = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            s, _ = self.ls.accept()
            threading.Thread(target=self.conn, args=(s,), daemon=True).start()

    def recv_exact(self, s, n):
        b = b""
        while len(b) < n:
            c = s.recv(n - len(b))
            if not c:
                raise EOFError
            b += c
        return b

    def frame(self, s):
        h = self.recv_exact(s, 2)
        n = h[1] & 0x7F
        if n == 126:
            n = struct.unpack("!H", self.recv_exact(s, 2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self.recv_exact(s, 8))[0]
        key = np.frombuffer(self.recv_exact(s, 4), np.uint8)
        data = np.frombuffer(self.recv_exact(s, n), np.uint8)
        return h[0] & 0x0F, (data ^ np.resize(key, n)).tobytes()

    def send(self, s, msg):
        n = len(msg)
        hdr = bytes([0x82, n]) if n < 126 else \
            struct.pack("!BBH", 0x82, 126, n)
        s.sendall(hdr + msg)

    def conn(self, s):
        req = b""
        while b"\r\n\r\n" not in req:
            req += s.recv(4096)
        key = [ln.split(b":", 1)[1].strip() for ln in req.split(b"\r\n")
               if ln.lower().startswith(b"sec-websocket-key:")][0]
        acc = base64.b64encode(hashlib.sha1(key + GUID).digest())
        s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + acc +
                  b"\r\nSec-WebSocket-Protocol: psctl.worker.v1\r\n\r\n")
        helloed = False
        try:
            while True:
                op, data = self.frame(s)
                if op == 8:
                    return
                m = parse(data)
                names = m.names
                if m.op == P.HELLO:
                    self.hellos.append((m.arg, names))
                    if m.arg and names != [self.secret]:
                        self.send(s, P.encode(P.ERROR, id=m.id, status=15,
                                              text="bad resume secret"))
                        continue
                    helloed = True
                    self.send(s, P.encode(
                        P.REPLY, id=m.id, version=self.version, arg=7,
                        text="fake", records=[("w", None, (3,)),
                                              (self.secret, None)]))
                elif not helloed:
                    self.send(s, P.encode(P.ERROR, id=m.id, status=10))
                elif m.op == P.PULL:
                    self.send(s, P.encode(P.REPLY, id=m.id,
                                          version=self.version,
                                          records=[("w", self.w)]))
                elif m.op == P.PUSH:
                    text = "duplicate push: already applied"
                    if m.arg > self.last_seq:
                        self.w = self.w + m.arrays["w"]
                        self.version += 1
                        self.last_seq = m.arg
                        text = ""
                    if self.drop_after_push:
                        self.drop_after_push = False
                        s.close()
                        return
                    self.send(s, P.encode(P.REPLY, id=m.id,
                                          version=self.version, text=text))
        except (EOFError, OSError):
            s.close()


f = Fake()
c = psctl.Client(f.url, name="r", timeout=5)
T.ok(c.worker_id == 7 and c.model == [("w", (3,))],
     "the __resume/ record of HELLO's reply is not a model tensor")
T.ok(f.hellos == [(0, [])], "a new worker's HELLO carries no record")
c.push({"w": np.ones(3, np.float32)})
f.drop_after_push = True
c.push({"w": np.full(3, 2, np.float32)})
T.ok(f.hellos[-1] == (7, [f.secret]) and c.reconnects == 1,
     "resuming, the HELLO carries exactly the secret and the worker id")
T.ok(np.array_equal(f.w, np.full(3, 3, np.float32)) and f.version == 2,
     "the push cut before its answer was applied once")
_, m = c.pull()
T.ok(list(m) == ["w"] and np.array_equal(m["w"], f.w),
     "pull goes on over the resumed connection")

# The server refuses the secret (it was restarted, say).
f.secret = "__resume/" + os.urandom(16).hex()
f.drop_after_push = True
try:
    c.push({"w": np.ones(3, np.float32)})
    T.ok(False, "a refused resume with a push unanswered raises ResumeError")
except psctl.ResumeError as e:
    T.ok(f.hellos[-1][0] == 7, "a refused resume with a push unanswered "
         "raises ResumeError (%s)" % e)
T.ok(np.array_equal(f.w, np.full(3, 4, np.float32)),
     "(the fake had applied it: resending would have applied it twice)")
c2 = psctl.Client(f.url, timeout=5)
f.secret = "__resume/" + os.urandom(16).hex()     # forget c2's
c2._ws.close(abort=True)
c2._ws = None
_, m = c2.pull()
T.ok(f.hellos[-2][0] == 7 and f.hellos[-1] == (0, []) and
     np.array_equal(m["w"], f.w),
     "without a push pending, a refused resume says HELLO again as a new "
     "worker on the same connection")
T.ok(c2._secret == f.secret.encode(), "and keeps the new secret")


# -- against psctl serve --------------------------------------------------------
def cut(client):
    """Drops a client's connection under it, as a network failure would."""
    client._ws.close(abort=True)
    client._ws = None


ONE = np.ones(3, np.float32)
srv = T.Server("--rule", "add")
o = psctl.Client(srv.url, name="owner", timeout=30)
o.init({"w": np.zeros(3, np.float32)})
wid = o.worker_id
T.ok(o._secret is not None and
     re.fullmatch(rb"__resume/[0-9a-f]{32}", o._secret) and
     o.model == [("w", (3,))],
     "psctl serve hands out a __resume/ secret, which is no model tensor")
o.push({"w": ONE})
cut(o)
o.push({"w": ONE})
T.ok(o.worker_id == wid and o.reconnects == 1,
     "a cut connection resumes worker %d, presenting its secret" % wid)

t = psctl.Client(srv.url, name="thief", timeout=30)
tid = t.worker_id
cut(t)
t.worker_id = wid                       # claims the owner's id ...
t._secret = b"__resume/" + b"0" * 32    # ... with a wrong secret
t.push({"w": 10 * ONE})
T.ok(t.worker_id not in (0, wid, tid) and t.reconnects == 1,
     "a resume of worker %d with a wrong secret is refused: the client "
     "goes on as worker %d" % (wid, t.worker_id))
_, m = o.pull()
T.ok(o.reconnects == 1 and o.worker_id == wid and
     np.array_equal(m["w"], 12 * ONE),
     "the owner kept its connection; the thief's push, not yet sent when "
     "the resume was refused, was applied once (w = %s)" % m["w"])
o.push({"w": ONE})
_, m = o.pull()
T.ok(np.array_equal(m["w"], 13 * ONE),
     "the owner's sequence was untouched: its next push is applied")
st = T.status_json(srv.url)
mine = [x for x in st["workers"] if x["id"] == wid]
T.ok(len(mine) == 1 and mine[0]["pushes"] == 3,
     "the server counts the owner's 3 pushes")

# A push unanswered (its answer timed out: a sync round one worker short)
# when the server refuses the resume: ResumeError, not sent again.
sy = T.Server("--rule", "add", "--mode", "sync", "--workers", "2")
a = psctl.Client(sy.url, name="a", timeout=30)
b = psctl.Client(sy.url, name="b", timeout=30)
a.init({"w": np.zeros(3, np.float32)})
a.timeout = 0.5
try:
    a.push({"w": ONE})
    T.ok(False, "a push whose round never completes raises TimeoutError")
except psctl.TimeoutError:
    T.ok(a.pending == 1, "a push whose round never completes raises "
         "TimeoutError and is kept")
a.timeout = 30
a._secret = b"__resume/" + b"f" * 32
try:
    a.pull()
    T.ok(False, "a refused resume with a push pending raises ResumeError")
except psctl.ResumeError as e:
    T.ok(a.pending == 0, "a refused resume with a push pending raises "
         "ResumeError and drops it (%s)" % e)
a.close()
b.close()

# psctl.Identity: a worker process killed after sending a push, started
# again from the identity it saved before sending.
p = psctl.Client(srv.url, name="proc", timeout=30)
p.push({"w": ONE})
saved = json.dumps(p.identity._asdict())        # what the worker writes
p.push({"w": ONE})                  # applied; then the process "dies"
cut(p)
ident = psctl.Identity(**json.loads(saved))
T.ok(ident.worker_id == p.worker_id and ident.seq == 1 and
     ident.url == srv.url and ident.secret == p._secret.decode(),
     "an Identity goes through JSON whole: worker %d, seq %d" %
     (ident.worker_id, ident.seq))
_, before = o.pull(copy=True)
q = psctl.Client(name="proc", timeout=30, identity=ident)
T.ok(q.resumed and q.worker_id == ident.worker_id,
     "a client made from the saved identity resumes worker %d" % q.worker_id)
q.push({"w": ONE}, seq=ident.seq + 1)   # the push the crash left unanswered
_, m = o.pull()
T.ok(np.array_equal(m["w"], before["w"]),
     "its unanswered push sent again with its number is not applied twice")
q.push({"w": ONE})
_, m = o.pull()
T.ok(np.array_equal(m["w"], before["w"] + ONE) and q.identity.seq == 3,
     "the next push is numbered after it (seq %d) and applied" %
     q.identity.seq)
q.close()
st = T.status_json(srv.url)
mine = [x for x in st["workers"] if x["id"] == ident.worker_id]
T.ok(len(mine) == 1 and mine[0]["pushes"] == 3,
     "the server counts that worker's 3 applied pushes, across both "
     "processes")

forged = ident._replace(secret="__resume/" + "0" * 32)
r = psctl.Client(timeout=30, identity=forged)
T.ok(not r.resumed and r.worker_id not in (0, ident.worker_id),
     "an identity with a wrong secret is not resumed: the client is a new "
     "worker (%d)" % r.worker_id)
r.close()
try:
    psctl.Client("ws://127.0.0.1:1/", identity=ident)
    T.ok(False, "an identity of another server is refused")
except ValueError as e:
    try:
        o.push({"w": ONE}, seq=0)
        T.ok(False, "an identity of another server and a push seq of 0 are "
             "refused")
    except ValueError as e2:
        T.ok(True, "an identity of another server and a push seq of 0 are "
             "refused before anything is sent (%s; %s)" % (e, e2))
T.done()
