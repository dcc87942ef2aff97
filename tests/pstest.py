"""psctl's one harness for tests written in Python.

Every tests/t-*.py imports this module and nothing else of the kind: TAP
output for automake's tap-driver, a `psctl serve` of its own on 127.0.0.1
(port 0, read back from the log), temporary directories, running psctl's
commands, and small worker and control clients.  The wire format itself
is tests/psproto.py, written from psctl-protocol(7) and not from the C
code: keep it that way, it is the independent second implementation.

    import pstest as T
    T.require("numpy", "websocket")     # or the whole test is skipped
    import numpy as np
    import psproto as P

    T.plan(3)
    srv = T.Server("--rule", "sgd", "--lr", "0.5")
    w = srv.worker("w0")                # hello'd; w.id is the worker id
    w.init({"b": np.zeros(2, "f4")})
    T.is_eq(w.push({"b": np.ones(2, "f4")}), 1, "a push makes version 1")
    rc, out, err = srv.psctl("status", "--json")
    T.ok(rc == 0, "psctl status answers")
    T.is_eq(srv.stop(), 0, "SIGTERM stops the server with status 0")
    T.done()

The contract:

TAP.  plan(n) first, or no plan and done() prints it at the end.
ok(cond, desc) prints one result and returns bool(cond); is_eq(got, want,
desc) passes when got == want and shows both when not; skip(n, why) counts
n skipped tests; skip_all(why) skips the whole file and exits 0; diag(msg)
writes a comment; bail(msg) stops the test ("Bail out!", exit 1): only for
setup that failed.  done() exits 0 when every test passed and as many ran
as were planned, 1 otherwise.  An uncaught exception exits 1 too, which
the driver reports as an ERROR.  watchdog(seconds) bails if the test runs
longer (a hang fails, it never blocks make check).  Every line is flushed.

Environment.  PSCTL (the binary under test), PS_SRCDIR, PS_TEST_DATA (read
only: distcheck's srcdir is), BUILDDIR (derived from PSCTL).  sanitized()
is True when PSCTL is built with AddressSanitizer, whose quarantine keeps
freed memory: a test skips what it judges of memory then.  require()
skips the file when a Python module is missing; psproto and numpy are
imported only when a worker is made, so a test without them still runs.

Temporary directories.  tmpdir() makes one under $TMPDIR (or /tmp); all
are removed at exit, unless a test failed or the script did not reach
done(): then they stay and a diag line names them, with the servers' logs
in them.  cleanup() kills the servers and removes the directories at once
(for scripts that are not tests, as in tests/bench).

Servers.  Server(*args, env=None, tls=False, wait=True) runs `$PSCTL serve
--listen 127.0.0.1:0 ARGS`, stdout and stderr to a log file in its own
tmpdir, NOTIFY_SOCKET removed from its environment unless env sets it,
and waits (15 s at most, else bail) for the "listening on 127.0.0.1:PORT"
line.  Then .port, .url ("ws[s]://127.0.0.1:PORT/"), .http
("http[s]://127.0.0.1:PORT"), .proc (the Popen), .dir and .logpath are
set.  wait=False returns at once; call wait_listening() later (a test
that gives --log-file points .logpath at that file first).
log() is the log so far; wait_log(regex, timeout) waits for a line and
returns the match (None when it does not come or the server exited);
signal(sig) signals it; wait(timeout) returns its exit status (None if it
is still running); stop(sig=SIGTERM, timeout) signals, waits and returns
the exit status, or kills it and returns None if it hung; vm(field) is a
size in its /proc/PID/status in bytes (vm("VmRSS"), vm("VmHWM")).  Every
server still running at exit is killed (SIGKILL).  worker(name, ...),
control() and psctl(*args) are the clients below, aimed at this server.

Clients.  psctl(*args, url=None, token=None, env=None, input=None) runs
the command with PSCTL_URL and PSCTL_TOKEN removed from its environment
(url becomes --connect URL, token PSCTL_TOKEN) and returns (exit code,
stdout, stderr).  status_json(url, token) is `psctl status --json`,
parsed.  Worker(url, name, hello=True, token=None) is one
psctl.worker.v1 connection (.id and .secret, the worker's resume secret,
come from its HELLO; resume(id, secret) says HELLO resuming another
worker, secret None for no record): request(op, **fields) sends a request,
numbered from 1, and returns the decoded reply or error (a psproto
Message); call() is request() that raises psproto.ProtoError on an error
reply; init(dict), push(dict, seq=0) return the new version; pull(names)
returns (version, {name: array}); send(), send_raw(), recv(), pending(),
wait_close() (the close code and reason), close() and drop() (no close
handshake) are for tests of the transport.  recv() raises Closed(code,
reason) on a close frame.  Control(url, token) is one psctl.control.v1
connection: request(cmd, **fields) returns the reply object with the
request's id (events that come first are kept in .events); send(obj or
text), recv(timeout) and wait_close() as for a worker.

Files.  read_safetensors(path) returns (metadata, {name: float32 array})
read from the format's description, not with psctl; write_token(dir,
name, token) writes a mode 0600 token file; http_get(url, token, cafile)
returns (status, content type, body).
"""

import atexit
import importlib
import json
import os
import re
import select
import shutil
import signal
from signal import SIGTERM
import socket
import struct
import subprocess
import sys
import tempfile
import time

PSCTL = os.environ.get("PSCTL", "psctl")
SRCDIR = os.environ.get("PS_SRCDIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DATA = os.environ.get("PS_TEST_DATA") or os.path.join(SRCDIR, "tests",
                                                      "data")
BUILDDIR = os.path.dirname(os.path.dirname(os.path.abspath(PSCTL)))


def sanitized():
    """True when PSCTL is built with AddressSanitizer."""
    with open(shutil.which(PSCTL) or PSCTL, "rb") as f:
        return b"__asan_init" in f.read()

# The modules next to this one (psproto) whatever PYTHONPATH says.
_here = os.path.dirname(os.path.abspath(__file__))
if _here not in sys.path:
    sys.path.insert(0, _here)

# --- TAP ---------------------------------------------------------------

_planned = None
_run = 0
_failed = 0
_finished = False


def _out(line):
    print(line, flush=True)


def plan(n):
    """Announces n tests; call it once, before the first."""
    global _planned
    _planned = n
    _out("1..%d" % n)


def ok(cond, desc):
    """One test: passes when cond is true.  Returns bool(cond)."""
    global _run, _failed
    _run += 1
    cond = bool(cond)
    if not cond:
        _failed += 1
    _out("%s %d - %s" % ("ok" if cond else "not ok", _run, desc))
    return cond


def is_eq(got, want, desc):
    """One test: passes when got == want; shows both when not."""
    if ok(got == want, desc):
        return True
    diag("got %r, want %r" % (got, want))
    return False


def skip(n, why):
    """Counts n tests as skipped, for why."""
    global _run
    for _ in range(n):
        _run += 1
        _out("ok %d # SKIP %s" % (_run, why))


def skip_all(why):
    """Skips the whole test file (exit 0); only before the first test."""
    global _finished
    _finished = True
    _out("1..0 # SKIP %s" % why)
    sys.exit(0)


def diag(msg):
    """A comment, one "# " line per line of str(msg)."""
    for line in str(msg).splitlines() or [""]:
        _out("# " + line)


def bail(msg):
    """Stops the whole test: for setup that failed, not for a result."""
    _out("Bail out! " + str(msg).replace("\n", " "))
    sys.exit(1)


def done():
    """Ends the test: exit 0 if all passed and the plan was kept, else 1."""
    global _finished
    if _planned is None:
        _out("1..%d" % _run)
    elif _run != _planned:
        diag("planned %d tests but ran %d" % (_planned, _run))
    status = 1 if _failed or (_planned is not None and _run != _planned) \
        else 0
    _finished = status == 0
    sys.exit(status)


def watchdog(seconds):
    """Bails if the test is still running after seconds."""
    def fire(sig, frame):
        bail("timed out after %d s" % seconds)
    signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)


def require(*modules):
    """Imports each module by name, or skips the whole file."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as e:
            skip_all("python3 cannot import %s (%s)" % (name, e))


def data(name):
    """The path of a fixture in $PS_TEST_DATA (read only)."""
    return os.path.join(DATA, name)


# --- temporary directories and the end of the test ----------------------

_dirs = []
_servers = []


def tmpdir(prefix="t"):
    """A fresh directory, removed at exit when the test passed."""
    base = os.environ.get("TMPDIR") or "/tmp"
    d = tempfile.mkdtemp(prefix="psctl-%s." % prefix, dir=base)
    _dirs.append(d)
    return d


def cleanup():
    """Kills the servers and removes the temporary directories now: what
    the end of a passing test does, for scripts that are not tests."""
    global _finished
    for s in list(_servers):
        s.kill()
    for d in _dirs:
        shutil.rmtree(d, ignore_errors=True)
    del _dirs[:]
    _finished = True


def _at_exit():
    for s in list(_servers):
        s.kill()
    if _finished:
        cleanup()
    elif _dirs:
        diag("left for inspection: " + " ".join(_dirs))


atexit.register(_at_exit)


# --- psctl's commands ---------------------------------------------------

def psctl(*args, url=None, token=None, env=None, input=None, timeout=60):
    """Runs $PSCTL ARGS [--connect url]; returns (code, stdout, stderr)."""
    e = dict(os.environ)
    e.pop("PSCTL_TOKEN", None)
    e.pop("PSCTL_URL", None)
    if token is not None:
        e["PSCTL_TOKEN"] = token
    if env:
        e.update(env)
    argv = [PSCTL] + [str(a) for a in args]
    if url is not None:
        argv += ["--connect", url]
    p = subprocess.run(argv, capture_output=True, text=True, env=e,
                       timeout=timeout, input=input,
                       stdin=None if input is not None else
                       subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def status_json(url, token=None):
    """`psctl status --json`, parsed; raises RuntimeError if it fails."""
    rc, out, err = psctl("status", "--json", url=url, token=token)
    if rc != 0:
        raise RuntimeError("psctl status: exit %d: %s" % (rc, err.strip()))
    return json.loads(out)


# --- the server ---------------------------------------------------------

LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")


class Server:
    """`$PSCTL serve --listen 127.0.0.1:0 ARGS`, killed at exit."""

    def __init__(self, *args, env=None, tls=False, wait=True):
        self.args = [PSCTL, "serve", "--listen", "127.0.0.1:0"] + \
            [str(a) for a in args]
        self.tls = tls
        self.dir = tmpdir("serve")
        self.logpath = os.path.join(self.dir, "serve.log")
        e = dict(os.environ)
        e.pop("NOTIFY_SOCKET", None)
        if env:
            e.update(env)
        with open(self.logpath, "wb") as logf:
            self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=logf, env=e)
        _servers.append(self)
        self.port = self.url = self.http = None
        if wait:
            self.wait_listening()

    def wait_listening(self, timeout=15):
        """Waits for the port in the log and sets port, url and http."""
        m = self.wait_log(LISTENING, timeout)
        if m is None:
            bail("psctl serve did not start: %s\n%s" %
                 (" ".join(self.args[1:]), self.log()))
        self.port = int(m.group(1))
        self.url = "%s://127.0.0.1:%d/" % ("wss" if self.tls else "ws",
                                           self.port)
        self.http = "%s://127.0.0.1:%d" % ("https" if self.tls else "http",
                                           self.port)

    def log(self):
        """The server's log so far."""
        with open(self.logpath, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait_log(self, pattern, timeout=10):
        """The first match of pattern in the log, waiting up to timeout s;
        None if it does not come, or the server exited without it."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        end = time.monotonic() + timeout
        while True:
            exited = self.proc.poll() is not None
            m = rx.search(self.log())
            if m or exited or time.monotonic() >= end:
                return m
            time.sleep(0.02)

    def vm(self, field):
        """A size in the server's /proc/PID/status (VmRSS...), in bytes."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise KeyError(field)

    def receive(self):
        """STATUS's "receive" object ({} from a server without one)."""
        return status_json(self.url).get("receive", {})

    def signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout=20):
        """The exit status, or None if still running after timeout s."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=SIGTERM, timeout=20):
        """Signals the server and returns its exit status; a server that
        does not exit within timeout s is killed and None returned."""
        self.signal(sig)
        status = self.wait(timeout)
        if status is None:
            self.kill()
        return status

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self in _servers:
            _servers.remove(self)

    def worker(self, name="w", **kw):
        return Worker(self.url, name, **kw)

    def control(self, **kw):
        return Control(self.url, **kw)

    def psctl(self, *args, **kw):
        return psctl(*args, url=self.url, **kw)


# --- clients ------------------------------------------------------------

class Closed(Exception):
    """The server closed the connection: code (None if absent), reason."""

    def __init__(self, code, reason):
        super().__init__("closed %s %r" % (code, reason))
        self.code = code
        self.reason = reason


class _Conn:
    """What both clients share: a websocket-client connection."""

    def __init__(self, url, protocol, token, timeout, sslopt):
        import websocket
        self._websocket = websocket
        header = ["Authorization: Bearer %s" % token] if token else []
        self.ws = websocket.create_connection(
            url, subprotocols=[protocol], header=header, timeout=timeout,
            sslopt=sslopt, enable_multithread=True)
        # websocket-client answers a close frame before handing it over,
        # and raises if that answer cannot be sent: the server closes its
        # end right after its close frame, so a frame we sent meanwhile
        # draws a reset.  The close received is what counts, as libpsctl
        # and the Python package also have it.
        answer = self.ws.send_close

        def send_close(*args, **kw):
            try:
                answer(*args, **kw)
            except (websocket.WebSocketException, OSError):
                pass
        self.ws.send_close = send_close

    def _frame(self, timeout=None):
        """The next data frame as (opcode, bytes); raises Closed."""
        ws = self._websocket
        old = self.ws.gettimeout()
        if timeout is not None:
            self.ws.settimeout(timeout)
        try:
            while True:
                op, data = self.ws.recv_data(control_frame=True)
                if op == ws.ABNF.OPCODE_CLOSE:
                    code = int.from_bytes(data[:2], "big") \
                        if len(data) >= 2 else None
                    raise Closed(code, data[2:].decode("utf-8", "replace"))
                if op not in (ws.ABNF.OPCODE_PING, ws.ABNF.OPCODE_PONG):
                    return op, data
        finally:
            if timeout is not None:
                self.ws.settimeout(old)

    def pending(self):
        """True when the server has sent something not read yet."""
        sock = self.ws.sock
        if hasattr(sock, "pending") and sock.pending():
            return True
        r, _, _ = select.select([sock], [], [], 0)
        return bool(r)

    def wait_close(self):
        """Reads until the server closes: (code, reason); (None,
        "connection dropped") when it drops the connection instead."""
        ws = self._websocket
        try:
            while True:
                self._frame()
        except Closed as e:
            return e.code, e.reason
        except (ws.WebSocketConnectionClosedException, ConnectionError,
                OSError):
            return None, "connection dropped"

    def close(self):
        try:
            self.ws.close()
        except (self._websocket.WebSocketException, OSError):
            pass

    def drop(self):
        """Disconnects without a close handshake (a client that died)."""
        try:
            self.ws.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.ws.sock.close()


class Worker(_Conn):
    """One psctl.worker.v1 connection; requests numbered from 1."""

    def __init__(self, url, name="w", hello=True, token=None, timeout=10,
                 sslopt=None):
        import psproto
        self.P = psproto
        super().__init__(url, psproto.PROTOCOL, token, timeout, sslopt)
        self.next_id = 1
        self.name = name
        self.id = None
        self.hello = None
        self.secret = None
        if hello:
            self.hello = self.call(psproto.HELLO, text=name)
            self.id = self.hello.arg
            self.secret = resume_secret(self.hello)

    def resume(self, wid, secret):
        """HELLO resuming worker wid with its secret (None: no record);
        returns the reply or error, keeping id and secret on a reply."""
        recs = [(secret, None)] if secret is not None else []
        r = self.request(self.P.HELLO, arg=wid, text=self.name,
                         records=recs)
        if r.op == self.P.REPLY:
            self.hello, self.id = r, r.arg
            self.secret = resume_secret(r)
        return r

    def send(self, op, **kw):
        """Sends a request (psproto.encode's fields); returns its id."""
        rid = kw.pop("id", None)
        if rid is None:
            rid = self.next_id
            self.next_id += 1
        self.ws.send_binary(self.P.encode(op, id=rid, **kw))
        return rid

    def send_raw(self, data):
        self.ws.send_binary(bytes(data))

    def recv(self, timeout=None):
        """The next message, decoded; raises Closed on a close frame."""
        op, data = self._frame(timeout)
        if op != self._websocket.ABNF.OPCODE_BINARY:
            raise self.P.ProtoError(self.P.E_PROTOCOL,
                                    "a message of opcode %d" % op)
        return self.P.decode(data)

    def request(self, op, **kw):
        """Sends a request; returns the reply or error that answers it."""
        rid = self.send(op, **kw)
        r = self.recv()
        if r.id != rid:
            raise AssertionError("reply id %d for request %d" % (r.id, rid))
        return r

    def call(self, op, **kw):
        """request(), raising psproto.ProtoError on an error reply."""
        r = self.request(op, **kw)
        if r.op == self.P.ERROR:
            raise self.P.ProtoError(r.status, r.text)
        return r

    def init(self, tensors):
        """INIT with {name: array}; returns the model version."""
        return self.call(self.P.INIT, records=list(tensors.items())).version

    def pull(self, names=None):
        """(version, {name: array}) of the whole model or of names."""
        recs = [(n, None) for n in names] if names else []
        m = self.call(self.P.PULL, records=recs)
        return m.version, model_of(m)

    def push(self, update, seq=0):
        """PUSH {name: array}; returns the new model version."""
        return self.call(self.P.PUSH, arg=seq,
                         records=list(update.items())).version


class Control(_Conn):
    """One psctl.control.v1 connection: JSON requests, ids from 1."""

    def __init__(self, url, token=None, timeout=10, sslopt=None):
        super().__init__(url, "psctl.control.v1", token, timeout, sslopt)
        self.next_id = 1
        self.events = []

    def send(self, obj):
        """Sends a dict as JSON, or a str as it is (text frame)."""
        self.ws.send(obj if isinstance(obj, str) else json.dumps(obj))

    def send_raw(self, data):
        self.ws.send_binary(bytes(data))

    def recv(self, timeout=None):
        """The next message, parsed; raises Closed on a close frame and
        websocket.WebSocketTimeoutException when none comes in time."""
        op, data = self._frame(timeout)
        return json.loads(data.decode("utf-8"))

    def request(self, cmd, **fields):
        """Sends {"id": N, "cmd": cmd, ...}; returns the reply with id N.
        Messages without that id that come first go to .events."""
        rid = self.next_id
        self.next_id += 1
        obj = {"id": rid, "cmd": cmd}
        obj.update(fields)
        self.send(obj)
        while True:
            m = self.recv()
            if m.get("id") == rid:
                return m
            self.events.append(m)


def resume_secret(hello):
    """The "__resume/..." record's name in a HELLO reply, or None."""
    names = [t.name for t in hello.tensors
             if t.name.startswith("__resume/")]
    return names[-1] if names else None


def model_of(msg):
    """{name: float32 array} of a message's tensors (copies)."""
    import numpy as np
    return {t.name: np.array(t.array, dtype=np.float32) for t in msg.tensors}


def same(a, b):
    """Two models ({name: array}) are equal: names in order, exact data."""
    import numpy as np
    return (list(a) == list(b) and
            all(np.shape(a[k]) == np.shape(b[k]) and
                np.array_equal(a[k], b[k]) for k in a))


# --- files --------------------------------------------------------------

def read_safetensors(path):
    """(metadata, {name: float32 array}) of a .safetensors file."""
    import numpy as np
    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack_from("<Q", raw, 0)
    header = json.loads(raw[8:8 + hlen])
    body = raw[8 + hlen:]
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        if e["dtype"] != "F32":
            raise ValueError("%s: dtype %s" % (name, e["dtype"]))
        a, b = e["data_offsets"]
        out[name] = np.frombuffer(body[a:b], dtype="<f4").reshape(
            e["shape"])
    return meta, out


def write_token(d, name, token):
    """Writes token to d/name, mode 0600; returns the path."""
    path = os.path.join(d, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return path


def http_get(url, token=None, cafile=None):
    """(status, content type, body text) of a GET."""
    import ssl
    import urllib.error
    import urllib.request
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    ctx = ssl.create_default_context(cafile=cafile) if cafile else None
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
            return r.status, r.headers.get("Content-Type"), \
                r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()
