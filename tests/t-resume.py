#!/usr/bin/python3
"""Resuming a worker takes its resume secret (issue 11 item 14).

HELLO's reply ends with a "__resume/" record holding 128 random bits; a
HELLO resuming that worker must carry exactly that record.  Without it, or
with a wrong one, the answer is ERROR unauthorized, the connection stays
un-helloed, and the worker's owner keeps its connection and its push
sequence.  With it, the resume works and its reply names the secret again.
"""

import re

import pstest as T

T.require("numpy", "websocket")
import numpy as np  # noqa: E402
import psproto as P  # noqa: E402

T.plan(19)
T.watchdog(120)

SECRET = re.compile(r"__resume/[0-9a-f]{32}")
ONE = {"w": np.ones(3, np.float32)}

srv = T.Server("--rule", "add")
a = srv.worker("owner")
b = srv.worker("other")
recs = a.hello.tensors
T.ok(a.secret is not None and SECRET.fullmatch(a.secret) and
     recs[-1].name == a.secret and recs[-1].dtype == P.NONE and
     recs[-1].shape == (), "HELLO's reply ends with __resume/ and 32 hex "
     "digits, dtype NONE, no dimensions")
T.ok(b.secret is not None and b.secret != a.secret,
     "each worker has its own secret")
a.init({"w": np.zeros(3, np.float32)})
T.is_eq(a.push(ONE, seq=1), 1, "the owner pushes with sequence 1")

thief = srv.worker("thief", hello=False)
r = thief.resume(a.id, None)
T.ok(r.op == P.ERROR and r.status == P.E_UNAUTHORIZED,
     "a resume without the secret is refused: unauthorized (%s)" % r.text)
r = thief.resume(a.id, "__resume/" + "0" * 32)
T.ok(r.op == P.ERROR and r.status == P.E_UNAUTHORIZED,
     "a resume with a wrong secret is refused: unauthorized")
r = thief.resume(a.id, b.secret)
T.ok(r.op == P.ERROR and r.status == P.E_UNAUTHORIZED,
     "a resume with another worker's secret is refused: unauthorized")
r = thief.resume(a.id, a.secret[:-1])
T.ok(r.op == P.ERROR and r.status == P.E_UNAUTHORIZED,
     "a resume with a shortened secret is refused: unauthorized")
r = thief.request(P.PULL)
T.ok(r.op == P.ERROR and r.status == P.E_PROTOCOL,
     "after a refused resume the connection is still not helloed")

T.is_eq(a.push(ONE, seq=2), 2,
        "the owner kept its connection and its sequence: its push 2 is "
        "applied")
r = thief.request(P.HELLO, text="thief")
T.ok(r.op == P.REPLY and r.arg not in (a.id, b.id),
     "the refused connection may say HELLO again as a new worker")

c = srv.worker("c", hello=False)
r = c.request(P.HELLO, records=[(a.secret, None)])
T.ok(r.op == P.ERROR and r.status == P.E_MALFORMED,
     "a new worker's HELLO (arg 0) with a record is malformed")
r = c.request(P.HELLO, arg=a.id, records=[(a.secret, None), ("x", None)])
T.ok(r.op == P.ERROR and r.status == P.E_MALFORMED,
     "a HELLO with two records is malformed")
r = c.request(P.HELLO, arg=a.id + 1000, records=[("__resume/x", None)])
T.ok(r.op == P.REPLY and r.arg not in (a.id, b.id, a.id + 1000),
     "resuming an id the server does not know gives a new worker")

old_secret = a.secret
n = srv.worker("back", hello=False)
r = n.resume(a.id, old_secret)
T.ok(r.op == P.REPLY and r.arg == a.id and
     [t.name for t in r.tensors] == ["w", old_secret],
     "with its secret the worker resumes; the reply lists the model, then "
     "the same secret again")
code, _ = a.wait_close()
T.is_eq(code, 1008, "the former connection is closed with 1008")
r = n.request(P.PUSH, arg=2, records=list(ONE.items()))
T.ok(r.op == P.REPLY and "duplicate" in r.text and r.version == 2,
     "the resumed worker kept its sequence: push 2 is a duplicate")
T.is_eq(n.push(ONE, seq=3), 3, "and push 3 is applied")

st = T.status_json(srv.url)
T.ok(old_secret not in srv.log() and old_secret not in repr(st) and
     b.secret not in srv.log(), "no secret in the log or in status")
T.is_eq(srv.stop(), 0, "the server stops cleanly")
T.done()
