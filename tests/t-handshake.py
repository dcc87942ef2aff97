#!/usr/bin/python3
"""Refused WebSocket handshakes (issue 11 items 3 and 17): each gets the
HTTP status psctl-protocol(7) gives it, never a WebSocket, and a peer
knocking in a loop gets at most one log line a second."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pstest as T  # noqa: E402

T.require("numpy", "websocket")
import psproto as P  # noqa: E402
import rawws as R  # noqa: E402

T.watchdog(240)
T.plan(14)
W, C = P.PROTOCOL, P.CONTROL_PROTOCOL

d = T.tmpdir("tokens")
wtok, otok = "w" * 24, "o" * 24
srv = T.Server("--token-file", T.write_token(d, "w", wtok),
               "--operator-token-file", T.write_token(d, "o", otok))


def status(protocol, token=otok):
    c = R.Conn(srv.port, protocol, token=token)
    c.close()
    return c.status


T.is_eq(status(W), 101, "one subprotocol, ours: 101")
T.is_eq(status(C), 101, "the control subprotocol with the operator token: 101")
T.is_eq(status([W, C]), 400, "both subprotocols: 400")
T.is_eq(status([C, W]), 400, "both, the other way round: 400")
T.is_eq(status([W, "chat"]), 400, "ours among others: 400")
T.is_eq(status(["chat", C]), 400, "ours after another: 400")
T.is_eq(status([W, W]), 400, "ours twice: 400")
T.is_eq(status("chat"), 400, "only a subprotocol we do not speak: 400")
T.is_eq(status(None), 400, "no subprotocol at all: 400")
T.is_eq(status(W, token=None), 401, "no token: 401")
T.is_eq(status(C, token=wtok), 403, "the worker token on control: 403")

# A peer knocking in a loop: at most one log line a second.
def refusals():
    return [ln for ln in srv.log().splitlines() if " refused: " in ln]


N = 300
earlier = len(refusals())
t0 = time.monotonic()
for i in range(N):
    status(W, token="bad" if i % 2 else None)
elapsed = time.monotonic() - t0
# Past the second, the next refusal is logged with the count of the rest.
time.sleep(1.1)
status(W, token=None)
srv.wait_log(r"not logged", 5)
lines = refusals()[earlier:]
T.ok(len(lines) <= elapsed + 3,
     "%d refused handshakes in %.1f s: %d log lines, one a second at most"
     % (N + 1, elapsed, len(lines)))
T.ok(len(lines) >= 1 and "not logged" in lines[-1],
     "the next line says how many refusals were not logged")
T.is_eq(srv.stop(), 0, "the server stops with status 0")
T.done()
