#!/usr/bin/python3
"""Framing abuse (issue 11): what a peer breaking RFC 6455 gets, on both
subprotocols, and that the model never moves for it.

Each case opens a bare socket (tests/rawws.py, so that every byte is
ours), says HELLO where the protocol has one, breaks the framing one way,
and checks the close code the server answers with (psctl-protocol(7),
"Limits and what happens over them"); then a clean worker pulls, and the
model must equal the one before the case.

The million empty continuation frames are 1,000,000 frames of 6 bytes
(6 MB) around one PULL: the server reads them on a 2-core machine
shared with other builds in a few seconds; the test gives it the
watchdog's time, never a clock of its own.
"""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pstest as T  # noqa: E402

T.require("numpy", "websocket")
import numpy as np  # noqa: E402
import psproto as P  # noqa: E402
import rawws as R  # noqa: E402

T.watchdog(300)
MAX = 65536
EMPTY_CONTINUATIONS = 1000000

srv = T.Server("--rule", "add", "--max-message-bytes", MAX)
w = srv.worker("clean")
w.init({"b": np.arange(4, dtype="f4"), "k": np.ones((2, 3), "f4")})
w.push({"b": np.ones(4, "f4")})
_, MODEL = w.pull()
WORKER, CONTROL = P.PROTOCOL, P.CONTROL_PROTOCOL

PUSH = P.encode(P.PUSH, id=2, records=[("b", np.full(4, 100, "f4"))])
PULL = P.encode(P.PULL, id=2)
STATUS = b'{"id": 1, "cmd": "status"}'


def conn(protocol=WORKER):
    """A raw connection, hello'd on the worker protocol."""
    c = R.Conn(srv.port, protocol)
    if c.status != 101:
        T.bail("handshake answered %s" % c.status)
    if protocol == WORKER:
        c.send(R.frame(R.BINARY, P.encode(P.HELLO, id=1, text="abuser")))
        m = c.message()
        if m is None or P.decode(m[1]).op != P.REPLY:
            T.bail("HELLO on a raw connection failed")
    return c


def model_intact(what, before):
    """The clean pull after each case: the model before, bit for bit."""
    _, now = w.pull()
    T.ok(T.same(now, before), "%s: the model is what it was" % what)


def gone():
    """Waits until the clean worker is the only one connected."""
    for _ in range(200):
        if T.status_json(srv.url)["workers_connected"] == 1:
            return True
        time.sleep(0.05)
    return False


def closes(what, data, want, protocol=WORKER, reason=None):
    """Sends data on a fresh connection; the server must close with want
    (and a reason containing reason, when given)."""
    _, before = w.pull()
    c = conn(protocol)
    c.send(data)
    code, why = c.wait_close()
    c.close()
    good = code == want and (reason is None or reason in why)
    if not T.ok(good, "%s (%s): close %d" % (what, protocol, want)):
        T.diag("got close %s %r" % (code, why))
    model_intact("%s (%s)" % (what, protocol), before)


T.plan(57)

for proto, data, kind in ((WORKER, PUSH, R.BINARY),
                          (CONTROL, STATUS, R.TEXT)):
    # Issue 11 item 2: RFC 6455 5.1, the server must close.
    closes("an unmasked frame", R.frame(kind, data, mask=False), 1002,
           proto)
    # Issue 11 item 4: a control frame of 126 bytes is broken framing.
    closes("a ping of 126 bytes", R.frame(R.PING, b"p" * 126), 1002, proto)
    closes("RSV1 set", R.frame(kind, data, rsv=4), 1002, proto)
    closes("RSV3 set", R.frame(kind, data, rsv=1), 1002, proto)
    closes("reserved data opcode 3", R.frame(3, data), 1002, proto)
    closes("reserved control opcode 0xB", R.frame(0xB, b""), 1002, proto)
    closes("a ping without FIN", R.frame(R.PING, b"p", fin=False) +
           R.frame(R.CONT, b"q"), 1002, proto)
    closes("a continuation with nothing to continue",
           R.frame(R.CONT, data), 1002, proto)
    closes("a new message inside a fragmented one",
           R.frame(kind, data[:8], fin=False) + R.frame(kind, data), 1002,
           proto)

# Lengths: announced past the limit, and reached by fragments.
closes("a frame announcing 2^62 bytes",
       R.frame(R.BINARY, PUSH, length=1 << 62), 1009)
closes("fragments past the limit",
       R.frame(R.BINARY, PUSH + b"\0" * (MAX // 2), fin=False) +
       R.frame(R.CONT, b"\0" * (MAX // 2 + 8)), 1009)
closes("a text frame", R.frame(R.TEXT, b"hello"), 1003)
closes("a binary frame", R.frame(R.BINARY, STATUS), 1003, CONTROL)

_, MODEL = w.pull()

# A ping between the fragments of a message is allowed: answered with a
# pong, and the message goes on.
c = conn()
c.send(R.frame(R.BINARY, PULL[:20], fin=False) + R.frame(R.PING, b"hi") +
       R.frame(R.CONT, PULL[20:]))
m1, m2 = c.message(), c.message()
T.is_eq(m1, (R.PONG, b"hi"), "a ping inside a fragmented message: pong")
m = P.decode(m2[1]) if m2 is not None and m2[0] == R.BINARY else None
T.ok(m is not None and m.op == P.REPLY and
     T.same(T.model_of(m), MODEL),
     "a ping inside a fragmented message: the message is answered")
c.close()

# A million empty continuation frames: one message, one answer.
c = conn()
empty = R.frame(R.CONT, b"", fin=False, key=b"\x5a\x5a\x5a\x5a")
chunk = empty * 10000
c.send(R.frame(R.BINARY, PULL, fin=False))
sent = 0
while sent < EMPTY_CONTINUATIONS and c.send(chunk):
    sent += 10000
c.send(R.frame(R.CONT, b""))
m2 = c.message()
m = P.decode(m2[1]) if m2 is not None and m2[0] == R.BINARY else None
T.ok(sent == EMPTY_CONTINUATIONS and m is not None and m.op == P.REPLY
     and T.same(T.model_of(m), MODEL),
     "%d empty continuation frames: one message, answered" % sent)
c.close()
model_intact("a million empty continuations", MODEL)

# A push cut off mid-frame, in its payload and in its header.
for what, cut in (("payload", len(PUSH) // 2 + 14), ("header", 3)):
    c = conn()
    c.send(R.frame(R.BINARY, PUSH)[:cut])
    c.close()
    # Once the server has seen the connection go, nothing was applied.
    T.ok(gone(), "a push cut off in its %s: the connection is gone" % what)
    model_intact("a push cut off in its %s" % what, MODEL)

T.is_eq(srv.proc.poll(), None, "the server is still running")
T.is_eq(srv.stop(), 0, "SIGTERM stops it with status 0")

# The same checks over TLS, where the server reads with SSL_read().
openssl = shutil.which("openssl")
if openssl is None:
    T.skip(3, "no openssl command to make a certificate")
else:
    d = T.tmpdir("tls")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-keyout",
                    os.path.join(d, "k.pem"), "-out", os.path.join(d, "c.pem")],
                   check=True, capture_output=True)
    tls = T.Server("--tls-cert", os.path.join(d, "c.pem"), "--tls-key",
                   os.path.join(d, "k.pem"), tls=True)
    for what, data in (("an unmasked frame", R.frame(R.TEXT, STATUS,
                                                     mask=False)),
                       ("a ping of 126 bytes", R.frame(R.PING, b"p" * 126))):
        c = R.Conn(tls.port, CONTROL, tls=True)
        c.send(data)
        T.is_eq(c.wait_close()[0], 1002, "%s over TLS: close 1002" % what)
        c.close()
    T.is_eq(tls.stop(), 0, "the TLS server stops with status 0")
T.done()
