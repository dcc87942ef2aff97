#!/usr/bin/python3
"""What a stop says to the connections (issue 11 items 9 and 10), as
psctl-protocol(7) has it: a waiting request gets ERROR shutdown, then
every connection, worker and control, is closed with 1001 and the reason
"the server is stopping", with no NUL byte after it."""

import time

import pstest as T

T.require("numpy", "websocket")
import numpy as np  # noqa: E402
import psproto as P  # noqa: E402

T.plan(7)
T.watchdog(120)

REASON = "the server is stopping"

srv = T.Server("--mode", "sync", "--workers", "2", "--rule", "add")
a = srv.worker("a")
b = srv.worker("b")
a.init({"w": np.zeros(2, np.float32)})
a.send(P.PUSH, arg=1, records=[("w", np.ones(2, np.float32))])
for _ in range(200):            # until a's push waits in the round
    st = T.status_json(srv.url)
    if any(w.get("id") == a.id and w.get("state") == "waiting"
           for w in st.get("workers", [])):
        break
    time.sleep(0.05)
watcher = srv.control()
ctl = srv.control()
r = ctl.request("stop")
T.ok(r.get("ok") is True, "stop is answered")
m = a.recv(timeout=10)
T.ok(m.op == P.ERROR and m.status == P.E_SHUTDOWN,
     "the push waiting in its round is answered with error shutdown")
T.is_eq(a.wait_close(), (1001, REASON),
        "then the worker's connection closes with 1001 and the reason")
T.is_eq(b.wait_close(), (1001, REASON),
        "an idle worker's connection closes with 1001 and the reason")
code, reason = watcher.wait_close()
T.is_eq((code, reason), (1001, REASON),
        "a control connection closes with 1001 and the reason")
T.ok("\0" not in reason, "the control close reason has no NUL byte")
T.is_eq(srv.wait(20), 0, "the server exits 0")
T.done()
