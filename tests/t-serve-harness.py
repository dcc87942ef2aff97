"""Shared pieces of the psctl serve integration tests (t-serve*.py).

Not a test itself: the tests load it by path.  It starts `$PSCTL serve
--listen 127.0.0.1:0 ...`, reads the port from the "listening on" log line,
keeps the server's log, and kills the server at exit.  Workers speak
psctl.worker.v1 through Debian's python3-websocket and tests/psproto.py.
"""

import atexit
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time

try:
    import numpy as np
    import websocket

    import psproto as P
except ImportError as _e:
    print("1..0 # SKIP %s (Debian's python3-numpy and python3-websocket)"
          % _e, flush=True)
    sys.exit(0)

PSCTL = os.environ.get("PSCTL", "psctl")

# --- TAP ---

_n = 0
_failed = 0


def plan(n):
    print("1..%d" % n, flush=True)


def ok(cond, desc):
    global _n, _failed
    _n += 1
    if not cond:
        _failed += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", _n, desc), flush=True)
    return cond


def diag(msg):
    for line in str(msg).splitlines():
        print("# " + line, flush=True)


def bail(msg):
    print("Bail out! " + msg, flush=True)
    sys.exit(1)


def done():
    sys.exit(1 if _failed else 0)


def watchdog(seconds):
    """Fails the test (never hangs it) if it runs longer than seconds."""
    def fire(sig, frame):
        bail("timed out after %d s" % seconds)
    signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)


# --- the server ---

class Server:
    """A `psctl serve` child on 127.0.0.1 and a free port."""

    def __init__(self, *args, wait=True):
        self.args = [PSCTL, "serve", "--listen", "127.0.0.1:0"] + list(args)
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self.lines = []
        self.port = None
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        atexit.register(self.kill)
        if wait:
            self.port = self.wait_log(r"listening on 127\.0\.0\.1:(\d+)",
                                      10)
            if self.port is None:
                bail("psctl serve did not start: %s" % " ".join(self.args)
                     + "\n" + "\n".join(self.lines))
            self.port = int(self.port.group(1))
            self.url = "ws://127.0.0.1:%d" % self.port

    def _read(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_log(self, pattern, timeout=10):
        """Waits for a log line matching pattern; returns the match or None."""
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for line in self.lines[seen:]:
                    m = rx.search(line)
                    if m:
                        return m
                seen = len(self.lines)
                left = end - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and
                                 not self._reader.is_alive()):
                    return None
                self._cond.wait(min(left, 0.2))

    def log(self):
        with self._cond:
            return "\n".join(self.lines)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signals the server; returns its exit status (None if it hung)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        # The reader thread may still hold the last lines the server wrote
        # before it exited: wait for it to reach end of file.
        self._reader.join(timeout)
        return status

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def worker(self, name="w", hello=True):
        return Worker(self.port, name, hello)


# --- a worker ---

class Closed(Exception):
    """The server closed the connection: code and reason."""

    def __init__(self, code, reason):
        super().__init__("closed %s %r" % (code, reason))
        self.code = code
        self.reason = reason


class Worker:
    """One psctl.worker.v1 connection; requests numbered from 1."""

    def __init__(self, port, name="w", hello=True, timeout=10):
        self.ws = websocket.create_connection(
            "ws://127.0.0.1:%d" % port, subprotocols=[P.PROTOCOL],
            timeout=timeout, enable_multithread=True)
        self.next_id = 1
        self.id = None
        self.name = name
        if hello:
            r = self.request(P.HELLO, text=name)
            if r.op != P.REPLY:
                bail("hello refused: %r" % r)
            self.id = r.arg
            self.hello = r

    def send(self, op, **kw):
        """Sends a request; returns its id."""
        rid = kw.pop("id", None)
        if rid is None:
            rid = self.next_id
            self.next_id += 1
        self.ws.send_binary(P.encode(op, id=rid, **kw))
        return rid

    def send_raw(self, data):
        self.ws.send_binary(bytes(data))

    def recv(self):
        """The next message, decoded; raises Closed on a close frame."""
        op, data = self.ws.recv_data(control_frame=True)
        while op in (websocket.ABNF.OPCODE_PING, websocket.ABNF.OPCODE_PONG):
            op, data = self.ws.recv_data(control_frame=True)
        if op == websocket.ABNF.OPCODE_CLOSE:
            code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
            raise Closed(code, data[2:].decode("utf-8", "replace"))
        return P.decode(data)

    def request(self, op, **kw):
        rid = self.send(op, **kw)
        r = self.recv()
        if r.id != rid:
            raise AssertionError("reply id %d for request %d" % (r.id, rid))
        return r

    def pending(self):
        """1 when the server has sent something not yet read."""
        sock = self.ws.sock
        if hasattr(sock, "pending") and sock.pending():
            return True
        r, _, _ = select.select([sock], [], [], 0)
        return bool(r)

    def wait_close(self):
        """Reads until the server closes; returns (code, reason)."""
        try:
            while True:
                self.recv()
        except Closed as e:
            return e.code, e.reason
        except (websocket.WebSocketConnectionClosedException,
                ConnectionError, OSError):
            return None, "connection dropped"

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass

    def drop(self):
        """Disconnects without a close handshake (a worker that died)."""
        try:
            self.ws.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.ws.sock.close()


def model_of(msg):
    """name -> float32 array of a REPLY's tensors (copies)."""
    return {t.name: np.array(t.array, dtype=np.float32) for t in msg.tensors}


def same(a, b):
    """Two models (dicts) are equal: same names in order, exactly equal data."""
    return (list(a) == list(b) and
            all(a[k].shape == b[k].shape and np.array_equal(a[k], b[k])
                for k in a))
