#!/usr/bin/env python3
"""An idle worker keeps its connection for as long as --worker-timeout
says (issue 10: 10,000 idle connections held).  libwebsockets 4.1 pings
each WebSocket 300 s after it opened and closes it 10 s later unless a
PONG came; a worker that does not read then (idle, computing, or sending
a large push) lost its connection even with --worker-timeout 0, and a
10,000-connection run that took longer than 310 s to open kept only the
newer ones.

The server runs under libfaketime (Debian's faketime package; the test
is skipped without it) with its clock read from a file: the test moves
it 400 s on, then 800 s, and waits until STATUS's uptime shows each move
(so nothing depends on how fast the machine is).  A hello'd worker that
reads nothing meanwhile must still be connected and pull the model."""

import os
import time

import pstest as T

T.require("numpy", "websocket")
import numpy as np  # noqa: E402

ok, diag = T.ok, T.diag

FAKETIME_LIBS = ("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                 "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
                 "/usr/lib/faketime/libfaketime.so.1")
lib = next((p for p in FAKETIME_LIBS if os.path.exists(p)), None)
if lib is None:
    T.skip_all("libfaketime is not installed (Debian package faketime)")

T.watchdog(120)
T.plan(6)

clock = os.path.join(T.tmpdir("clock"), "offset")


def move_clock(seconds):
    """The server's clocks run `seconds` ahead of the real ones."""
    tmp = clock + ".tmp"
    with open(tmp, "w") as f:
        f.write("+%d\n" % seconds)
    os.rename(tmp, clock)


def uptime_reaches(srv, seconds, timeout=30):
    """Waits until STATUS's uptime is at least seconds; the last uptime.
    A probe whose handshake the jump of the server's clock overtakes is
    cut by lws's handshake timeout (it counts on that clock): the next
    probe asks again."""
    up = None
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            up = T.status_json(srv.url).get("uptime_s")
        except RuntimeError as e:
            diag("a status probe failed, asking again: %s" % e)
            time.sleep(0.2)
            continue
        if up is not None and up >= seconds:
            break
        time.sleep(0.2)
    return up


move_clock(0)
asan = os.environ.get("ASAN_OPTIONS", "")
env = {
    "LD_PRELOAD": lib,
    "FAKETIME_TIMESTAMP_FILE": clock,
    "FAKETIME_CACHE_DURATION": "1",     # the file is read once a second
    # A sanitizer build's runtime must otherwise come first.
    "ASAN_OPTIONS": (asan + ":" if asan else "") +
    "verify_asan_link_order=0",
}
srv = T.Server("--worker-timeout", "0", env=env)

model = {"w": np.arange(1024, dtype="f4") / 3}
w0 = srv.worker("w0")
version = w0.init(model)
w0.close()

idle = srv.worker("idle")       # hello'd; reads nothing until the end

move_clock(400)
up = uptime_reaches(srv, 400)
ok(up is not None and up >= 400, "the server's clock moved 400 s on "
   "(uptime %s)" % up)
# The ping an old server sends now (it wanted a PONG within 10 s).
time.sleep(1.5)
if idle.pending():
    diag("the server sent the idle worker something unasked")
move_clock(800)
up = uptime_reaches(srv, 800)
ok(up is not None and up >= 800, "and 800 s on (uptime %s)" % up)
time.sleep(1.5)

try:
    v, got = idle.pull()
    ok(v == version and T.same(got, model),
       "the worker idle for 800 s pulls the model")
except Exception as e:  # closed under it
    ok(False, "the worker idle for 800 s pulls the model: %r" % e)

st = T.status_json(srv.url)
names = [w.get("name") for w in st.get("workers", [])
         if w.get("state") != "gone"]
ok("idle" in names, "STATUS lists it as connected: %r" % names)

# A worker that connects now is served too.
w1 = srv.worker("w1")
v1, got1 = w1.pull()
ok(v1 == version and T.same(got1, model), "a new worker pulls the model")
w1.close()
idle.close()
ok(srv.stop() == 0, "the server stops with status 0")
T.done()
