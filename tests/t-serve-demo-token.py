#!/usr/bin/python3
"""--demo with tokens: the demo workers are workers, so they present the
worker token (--token-file), or the operator token when that is the only
one, and train; none of them is refused.
"""

import re
import time

import pstest as T

T.require("numpy", "websocket")

T.plan(10)
T.watchdog(120)
d = T.tmpdir()
wtok = T.write_token(d, "worker-token", "demo-worker-token-0123456789")
otok = T.write_token(d, "operator-token", "demo-operator-token-0123456789")
WTOK = "demo-worker-token-0123456789"
OTOK = "demo-operator-token-0123456789"


def climbs(srv, token):
    """Waits (30 s at most) for the three demo workers and for the model
    version to climb by 20; returns (ok, status)."""
    st, v0 = None, None
    end = time.monotonic() + 30
    while time.monotonic() < end:
        st = T.status_json(srv.url, token)
        names = sorted(w["name"] for w in st["workers"]
                       if w["state"] != "gone")
        if v0 is None:
            v0 = st["model_version"]
        if names == ["demo-1", "demo-2", "demo-3"] and \
                st["model_version"] >= v0 + 20:
            return True, st
        time.sleep(0.2)
    return False, st


def refused(srv):
    return re.search(r"psctl\.worker\.v1 refused|demo: demo-\d+ cannot "
                     r"connect", srv.log()) is not None


# 1-4: worker and operator tokens: the demo workers use the worker token.
srv = T.Server("--demo", "--token-file", wtok, "--operator-token-file", otok)
ok, st = climbs(srv, OTOK)
T.ok(ok, "with both tokens, the three demo workers train (%s)" %
     (st and st["model_version"]))
T.ok(not refused(srv), "and none of them is refused")
w = srv.worker("probe", token=WTOK)
version, _ = w.pull()
T.ok(version > 0, "the worker token pulls the demo's model (version %d)"
     % version)
w.close()
T.is_eq(srv.stop(), 0, "the server stops with status 0")

# 5-7: the worker token alone (no control plane): the version still climbs,
# as a worker with that token sees it.
srv = T.Server("--demo", "--token-file", wtok)
w = srv.worker("probe", token=WTOK)
v0, _ = w.pull()
end = time.monotonic() + 30
v = v0
while v < v0 + 20 and time.monotonic() < end:
    time.sleep(0.2)
    v, _ = w.pull()
T.ok(v >= v0 + 20, "with --token-file alone, the demo trains (%d -> %d)"
     % (v0, v))
T.ok(not refused(srv), "and none of its workers is refused")
w.close()
T.is_eq(srv.stop(), 0, "the server stops with status 0")

# 8-10: the operator token alone admits workers too: the demo uses it.
srv = T.Server("--demo", "--operator-token-file", otok)
ok, st = climbs(srv, OTOK)
T.ok(ok, "with --operator-token-file alone, the demo trains (%s)" %
     (st and st["model_version"]))
T.ok(not refused(srv), "and none of its workers is refused")
T.is_eq(srv.stop(), 0, "the server stops with status 0")

T.done()
