#!/usr/bin/python3
"""psctl._ws, the Python package's WebSocket client, against tests/wsserver.py:
a large payload is read waiting for 128 KiB at a time (SO_RCVLOWAT) and
whole however slowly it comes; the mark is back at 1 for what follows; a
stalled payload still times out.
"""

import os
import socket
import subprocess
import sys
import threading

import pstest as T

T.require("numpy", "websockets")
import numpy as np  # noqa: E402

from psctl._ws import OP_BINARY, WebSocket  # noqa: E402

T.plan(7)
T.watchdog(60)

peer = subprocess.Popen([sys.executable,
                         os.path.join(T.SRCDIR, "tests", "wsserver.py")],
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
ports = peer.stdout.readline().split()
if len(ports) != 2:
    T.bail("tests/wsserver.py did not start")
port, rawport = int(ports[0]), int(ports[1])


def lowat(sock):
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT)


class MarkWatch:
    """The highest SO_RCVLOWAT seen on a socket, read every 20 ms from
    another thread until stop()."""

    def __init__(self, sock):
        self.probe = socket.socket(fileno=os.dup(sock.fileno()))
        self.high = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            self.high = max(self.high, lowat(self.probe))
            if self.done.wait(0.02):
                return

    def stop(self):
        self.done.set()
        self.thread.join()
        self.probe.close()
        return self.high


# -- a large message arriving slowly -----------------------------------------
# 192 KiB at 40 KiB/s: 128 KiB takes 3.2 s to arrive, the timeout is 1 s.
ws = WebSocket("ws://127.0.0.1:%d/slow-frame" % rawport, "test.v1",
               timeout=1.0)
watch = MarkWatch(ws.sock)
ws.send(b"go")
try:
    op, msg = ws.recv(1 << 20)
    why = "%d bytes" % msg.size
except (socket.timeout, OSError) as e:
    op, msg, why = None, None, "%s: %s" % (type(e).__name__, e)
high = watch.stop()
want = (np.arange(192 << 10) % 251).astype(np.uint8)
T.ok(op == OP_BINARY and msg is not None and np.array_equal(msg, want),
     "a 192 KiB message arriving at 40 KiB/s with a 1 s timeout comes "
     "whole (%s)" % why)
T.is_eq(high, 128 << 10, "while it arrives the socket waits for 128 KiB at "
        "a time (SO_RCVLOWAT)")
T.is_eq(lowat(ws.sock), 1, "after the message the mark is back at 1")
ws.close()

# -- a payload that stops coming ---------------------------------------------
ws = WebSocket("ws://127.0.0.1:%d/stall-frame" % rawport, "test.v1",
               timeout=1.0)
ws.send(b"go")
try:
    ws.recv(1 << 20)
    why = "a message"
except socket.timeout:
    why = "timeout"
except OSError as e:
    why = "%s: %s" % (type(e).__name__, e)
T.is_eq(why, "timeout", "a payload that stops 12 KiB in (bytes short of "
        "the mark, then none) still times out")
ws.close(abort=True)

# -- large and small messages in turn, at full speed --------------------------
ws = WebSocket("ws://127.0.0.1:%d/echo" % port, "test.v1", timeout=10.0)
rng = np.random.default_rng(1)
big = rng.integers(0, 256, (3 << 20) + 5, dtype=np.uint8).tobytes()
got = []
for data in (big, b"small", big[:200000], b"x" * 100):
    ws.send(data)
    op, msg = ws.recv(1 << 24)
    got.append(msg.tobytes() == data)
    if len(data) > 65536:
        T.is_eq(lowat(ws.sock), 1, "after an echo of %d bytes the mark is "
                "back at 1" % len(data))
T.ok(all(got), "3 MiB, 5 B, 200,000 B and 100 B echoed whole, in turn")
ws.close()

peer.stdin.close()
peer.wait(10)
T.done()
