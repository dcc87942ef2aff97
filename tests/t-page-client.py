#!/usr/bin/python3
"""psctl-protocol(7) tells an implementer enough (issue 11 item 11): a
client written from the page alone (tests/pageclient.py, standard
library only) checks, against live servers, what the page says about
versions, reserved fields, INIT over a model, the update rules, sync
rounds, duplicates, leavers, hogwild, control's bad UTF-8, and the HTTP
status of every refused handshake."""
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pstest as T  # noqa: E402
import pageclient as C  # noqa: E402

T.watchdog(240)
T.plan(29)

# --- versions, reserved fields, INIT over a model, hogwild ---------------
srv = T.Server("--mode", "hogwild", "--checkpoint-dir", T.tmpdir("ck"))
w = C.Worker(srv.port, "page")
T.ok(w.hello.version == 0 and w.hello.text.endswith("mode async, rule add")
     and not [t for t in w.hello.tensors if not t[0].startswith("__")],
     "HELLO to a fresh server: version 0, no tensors, hogwild says async")
T.is_eq(w.init({"a": ([2], [1.0, 2.0]), "b": ([], [5.0])}), 0,
        "a model created by INIT is at version 0")
m = w.request(C.OP_INIT, records=[("a", [2], [math.nan, 0.0]),
                                  ("b", [], [math.inf])])
T.ok(m.op == C.OP_REPLY and m.version == 0 and m.tensors[0][3] == [1, 2],
     "INIT with NaN over an existing model: its data is ignored")
m = w.request(C.OP_PULL, version=7, arg=9)
T.is_eq(m.op, C.OP_REPLY, "version and arg in PULL are ignored")
T.is_eq(w.request(C.OP_PULL, status=3).error, "malformed",
        "status in a request: malformed")
T.is_eq(w.request(C.OP_PULL, flags=1).error, "malformed",
        "flags in a request: malformed")
T.is_eq(w.push({"a": ([2], [1.0, 1.0])}), 1, "each push adds 1")
T.is_eq(w.push({"a": ([2], [1.0, 1.0])}, seq=3), 2, "a push with seq 3")
m = w.request(C.OP_PUSH, arg=3, records=[("a", [2], [1.0, 1.0])])
T.ok(m.version == 2 and m.text == "duplicate push: already applied",
     "the same seq again: not applied, said so")
k = C.Control(srv.port)
st = k.call("status")["result"]
T.ok(st["mode"] == "async" and st["model_version"] == 2,
     "STATUS says async and version 2")
k.send_text(b'{"id": 5, "cmd": "status", "x": "\xff"}')
r = k.recv()
T.ok(r["id"] is None and r["error"]["code"] == "bad_request",
     "invalid UTF-8 on control: bad_request with id null")
T.ok(k.call("status")["ok"], "and the connection stays open")
codes = {n: (k.call("checkpoint", name=n).get("error") or {}).get("code")
         for n in ("a..b", ".x", "a/b", "a\x1bb", "initial", "x" * 201,
                   "ok-\u0085", "x" * 200 + ".safetensors")}
T.is_eq(codes, {"a..b": "bad_request", ".x": "bad_request",
                "a/b": "bad_request", "a\x1bb": "bad_request",
                "initial": "bad_request", "x" * 201: "bad_request",
                "ok-\u0085": None, "x" * 200 + ".safetensors": None},
        "checkpoint names: the page's rules, exactly")
for proto, want, what in (("%s, %s" % (C.WORKER, C.CONTROL), 400, "both"),
                          (C.WORKER + ", chat", 400, "ours and another"),
                          ("chat", 400, "only another")):
    try:
        C.Socket(srv.port, proto)
        got = 101
    except C.Refused as e:
        got = e.status
    T.is_eq(got, want, "a handshake naming %s: %d" % (what, want))
srv.stop()

# --- the update rules, with their defaults -------------------------------
srv = T.Server("--rule", "adam", "--lr", "0.1")
w = C.Worker(srv.port, "adam")
w.init({"a": ([1], [1.0]), "b": ([1], [1.0])})
for g in ((0.5, None), (0.25, None), (None, -1.0)):
    w.push({k: ([1], [v]) for k, v in zip("ab", g) if v is not None})


def adam(w0, gs, lr=0.1, b1=0.9, b2=0.999, eps=1e-8):
    x, m, v = w0, 0.0, 0.0
    for t, g in enumerate(gs, 1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        x -= lr * (m / (1 - b1 ** t)) / (math.sqrt(v / (1 - b2 ** t)) + eps)
    return x


_, model = w.pull()
want = {"a": adam(1.0, [0.5, 0.25]), "b": adam(1.0, [-1.0])}
T.ok(all(abs(model[n][1][0] - want[n]) < 1e-6 for n in want),
     "adam with default betas and eps, t per tensor: %r" % (
         {n: model[n][1][0] for n in model},))
srv.stop()
srv = T.Server("--rule", "momentum")
w = C.Worker(srv.port, "mom")
w.init({"a": ([1], [1.0])})
w.push({"a": ([1], [1.0])})
w.push({"a": ([1], [1.0])})
# v = 1, w = 1 - 0.01; v = 0.9 + 1, w -= 0.01 * 1.9
T.ok(abs(w.pull()[1]["a"][1][0] - (1 - 0.01 - 0.019)) < 1e-6,
     "momentum's defaults: lr 0.01, momentum 0.9")
srv.stop()

# --- sync rounds -----------------------------------------------------------
srv = T.Server("--mode", "sync", "--workers", 2)
a, b, c = (C.Worker(srv.port, n) for n in "abc")
a.init({"x": ([1], [0.0]), "y": ([1], [0.0])})
a.send(C.OP_PUSH, records=[("x", [1], [1.0])])
b.send(C.OP_PUSH, records=[("x", [1], [3.0]), ("y", [1], [4.0])])
va, vb = a.recv().version, b.recv().version
_, model = c.pull()
T.ok(va == vb == 1 and model["x"][1] == [2.0] and model["y"][1] == [4.0],
     "a round's mean is per tensor, over the pushes that named it")
c.send(C.OP_PUSH, records=[("x", [1], [10.0])])
a.send(C.OP_PUSH, arg=5, records=[("x", [1], [20.0])])
T.ok(c.recv().version == a.recv().version == 2 and
     c.pull()[1]["x"][1] == [17.0],
     "three workers, N 2: the first two distinct pushers make the round")
m = a.request(C.OP_PUSH, arg=5, records=[("x", [1], [99.0])])
T.ok(m.version == 2 and m.text == "duplicate push: already applied",
     "a repeated seq after its round: answered at once, not applied")
b.send(C.OP_PUSH, records=[("x", [1], [1.0])])
c.send(C.OP_PUSH, records=[("x", [1], [3.0])])
T.ok(b.recv().version == c.recv().version == 3 and
     c.pull()[1]["x"][1] == [19.0], "the next round has b's and c's")
# Pushes on different connections have no order: each step waits until
# the server has the one before (STATUS's round), so that a's push is in
# round 4 before b's, and c's comes after round 4.
k = C.Control(srv.port)
a.send(C.OP_PUSH, records=[("x", [1], [4.0])])
a.send(C.OP_PUSH, arg=6, records=[("x", [1], [8.0])])
a.send(C.OP_PUSH, arg=6, records=[("x", [1], [8.0])])
end = time.monotonic() + 30
while time.monotonic() < end:
    r = k.call("status")["result"]["round"]
    if r["number"] == 4 and r["waiting_on"] and a.id not in r["waiting_on"]:
        break
    time.sleep(0.01)
b.send(C.OP_PUSH, records=[("x", [1], [2.0])])
vb = b.recv().version
c.send(C.OP_PUSH, records=[("x", [1], [0.0])])
got = [a.recv().version for _ in range(3)] + [vb, c.recv().version]
k.ws.close()
T.is_eq(got, [4, 5, 5, 4, 5],
        "a duplicate of a push waiting in a round is answered with its round")
T.is_eq(c.pull()[1]["x"][1], [26.0], "and it was applied once")
a.send(C.OP_PUSH, records=[("x", [1], [6.0])])
a.close()
b.send(C.OP_PUSH, records=[("x", [1], [2.0])])
T.ok(b.recv().version == 6 and c.pull()[1]["x"][1] == [30.0],
     "a leaver's push stays in its round and is applied with it")
srv.stop()

# --- one token file --------------------------------------------------------
d = T.tmpdir("tok")
wt, ot = "w" * 20, "o" * 20


def handshake(port, proto, token):
    try:
        C.Socket(port, proto, token).close()
        return 101
    except C.Refused as e:
        return e.status


srv = T.Server("--token-file", T.write_token(d, "w", wt))
T.is_eq([handshake(srv.port, C.WORKER, wt),
         handshake(srv.port, C.CONTROL, wt),
         handshake(srv.port, C.CONTROL, None)], [101, 403, 401],
        "--token-file alone: workers in, control refused to all")
srv.stop()
srv = T.Server("--operator-token-file", T.write_token(d, "o", ot))
T.is_eq([handshake(srv.port, C.WORKER, None),
         handshake(srv.port, C.WORKER, ot),
         handshake(srv.port, C.CONTROL, ot)], [401, 101, 101],
        "--operator-token-file alone: everyone needs the operator token")
T.is_eq(T.http_get(srv.http + "/livez")[0], 200, "/livez needs no token")
T.is_eq(srv.stop(), 0, "the last server stops with status 0")
T.done()
