#!/usr/bin/python3
"""Pushes refused in validation count as refused pushes (issue 11 item 6):
an unknown dtype, dtype NONE, too many records and bad UTF-8 appear in
status "rejected" and "rejected_total" and in /metrics, as pushes the
model refuses do."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pstest as T  # noqa: E402

T.require("numpy", "websocket")
import numpy as np  # noqa: E402
import psproto as P  # noqa: E402

T.watchdog(120)
T.plan(9)

srv = T.Server("--rule", "add", "--max-tensors", 2)
w = srv.worker("v")
w.init({"a": np.zeros(2, "f4"), "b": np.zeros(2, "f4")})
_, before = w.pull()
data = np.ones(2, "f4").tobytes()


def push(records, text=b""):
    """A raw PUSH; returns the error code it is answered with."""
    body = P.raw_header(P.PUSH, id=w.next_id, count=len(records),
                        textlen=len(text)) + P.raw_text(text) + \
        b"".join(records)
    w.next_id += 1
    w.send_raw(body)
    r = w.recv()
    return r.status if r.op == P.ERROR else 0


cases = [
    ("an unknown dtype", [P.raw_record("a", 7, (2,), data)], b"", P.E_DTYPE),
    ("dtype NONE", [P.raw_record("a", P.NONE, (2,))], b"", P.E_DTYPE),
    ("too many records", [P.raw_record(n, P.F32, (2,), data)
                          for n in ("a", "b", "a")], b"", P.E_TOO_LARGE),
    ("a name that is not UTF-8", [P.raw_record(b"a\xff", P.F32, (2,), data)],
     b"", P.E_MALFORMED),
    ("text that is not UTF-8", [P.raw_record("a", P.F32, (2,), data)],
     b"\xc0\x80", P.E_MALFORMED),
]
for what, recs, text, want in cases:
    T.is_eq(P.ERRCODES[push(recs, text)], P.ERRCODES[want],
            "a push with %s is refused with %s" % (what, P.ERRCODES[want]))

st = T.status_json(srv.url)
T.is_eq((st["rejected_total"], st["rejected"]),
        (5, {"dtype": 2, "too_large": 1, "malformed": 2}),
        "status counts the five in rejected_total and rejected")
code, _, body = T.http_get(srv.http + "/metrics")
got = {m.group(1): int(float(m.group(2))) for m in re.finditer(
    r'^psctl_rejected_total\{[^}]*reason="(\w+)"[^}]*\} (\S+)', body, re.M)}
T.is_eq(got, {"dtype": 2, "too_large": 1, "malformed": 2},
        "/metrics counts them by code")
_, after = w.pull()
T.ok(T.same(before, after), "the model is untouched")
T.is_eq(srv.stop(), 0, "the server stops with status 0")
T.done()
