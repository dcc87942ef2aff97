"""What the control-plane tests share: TAP output, a psctl serve started on
127.0.0.1 with a free port (always killed at the end), running psctl's
commands, a worker through tests/psproto.py, and a safetensors reader
written from the format's description (not from src/checkpoint.c).

    import ctltest as T
    srv = T.Server(["--checkpoint-dir", d])
    rc, out, err = T.psctl("status", "--json", url=srv.url)
    w = T.Worker(srv.url); w.init({"a": np.ones(3, "f4")})
"""

import atexit
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

SRCDIR = os.environ.get("PS_SRCDIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(SRCDIR, "tests"))

import psproto as P  # noqa: E402

PSCTL = os.environ.get("PSCTL", "psctl")
BUILDDIR = os.path.dirname(os.path.dirname(os.path.abspath(PSCTL)))

_n = 0
_failed = 0
_servers = []
_dirs = []


def plan(n):
    print("1..%d" % n, flush=True)


def ok(cond, desc):
    global _n, _failed
    _n += 1
    if not cond:
        _failed += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", _n, desc), flush=True)
    return cond


def is_eq(got, want, desc):
    if not ok(got == want, desc):
        diag("got %r, want %r" % (got, want))


def skip(n, why):
    global _n
    for _ in range(n):
        _n += 1
        print("ok %d # SKIP %s" % (_n, why), flush=True)


def diag(msg):
    for line in str(msg).splitlines():
        print("# " + line, flush=True)


def done():
    """Kills the servers; removes the temporary directories unless a test
    failed (then they stay for a look at the server logs)."""
    for s in list(_servers):
        s.kill()
    if not _failed:
        for d in _dirs:
            shutil.rmtree(d, ignore_errors=True)
    else:
        diag("left for inspection: " + " ".join(_dirs))
    sys.exit(1 if _failed else 0)


def tmpdir():
    base = os.environ.get("TMPDIR") or BUILDDIR
    d = tempfile.mkdtemp(prefix="t-ctl.", dir=base)
    _dirs.append(d)
    return d


class Server:
    """psctl serve on 127.0.0.1, port 0; the log goes to a file."""

    def __init__(self, args=(), env=None, tls=False, wait=True):
        self.dir = tmpdir()
        self.log = os.path.join(self.dir, "serve.log")
        e = dict(os.environ)
        e.pop("NOTIFY_SOCKET", None)
        if env:
            e.update(env)
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen(
            [PSCTL, "serve", "--listen", "127.0.0.1:0"] + list(args),
            stdin=subprocess.DEVNULL, stdout=self.logf, stderr=self.logf,
            env=e)
        _servers.append(self)
        self.port = None
        scheme = "wss" if tls else "ws"
        if wait:
            self.wait_listening()
            self.url = "%s://127.0.0.1:%d/" % (scheme, self.port)
            self.http = "%s://127.0.0.1:%d" % (
                "https" if tls else "http", self.port)

    def wait_listening(self, timeout=15):
        end = time.time() + timeout
        while time.time() < end:
            with open(self.log) as f:
                m = re.search(r"listening on [^ ]*:(\d+)", f.read())
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError("psctl serve did not start:\n" + self.text())

    def text(self):
        with open(self.log) as f:
            return f.read()

    def wait(self, timeout=20):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self in _servers:
            _servers.remove(self)
        self.logf.close()


atexit.register(lambda: [s.kill() for s in list(_servers)])


def psctl(*args, url=None, token=None, env=None, timeout=60):
    """Runs psctl; returns (exit code, stdout, stderr)."""
    e = dict(os.environ)
    e.pop("PSCTL_TOKEN", None)
    e.pop("PSCTL_URL", None)
    if token is not None:
        e["PSCTL_TOKEN"] = token
    if env:
        e.update(env)
    argv = [PSCTL] + list(args)
    if url is not None:
        argv += ["--connect", url]
    p = subprocess.run(argv, capture_output=True, text=True, env=e,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


class Worker:
    """A psctl.worker.v1 client through tests/psproto.py."""

    def __init__(self, url, token=None, name="t"):
        self.ws = P.connect(url, token=token)
        self.id = 0
        m = self.call(P.HELLO, text=name)
        self.worker_id = m.arg

    def call(self, op, **kw):
        self.id += 1
        m = P.call(self.ws, P.encode(op, id=self.id, **kw))
        if m.op == P.ERROR:
            raise P.ProtoError(m.status, m.text)
        return m

    def init(self, tensors):
        return self.call(P.INIT, records=list(tensors.items())).version

    def pull(self, names=None):
        recs = [(n, None) for n in names] if names else []
        m = self.call(P.PULL, records=recs)
        return m.version, {t.name: np.array(t.array) for t in m.tensors}

    def push(self, update):
        return self.call(P.PUSH, records=list(update.items())).version

    def close(self):
        self.ws.close()


def read_safetensors(path):
    """(metadata, {name: array}) from a .safetensors file."""
    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack_from("<Q", raw, 0)
    header = json.loads(raw[8:8 + hlen])
    data = raw[8 + hlen:]
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        if e["dtype"] != "F32":
            raise ValueError("%s: dtype %s" % (name, e["dtype"]))
        a, b = e["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(
            e["shape"])
    return meta, out


def status_json(url, token=None):
    rc, out, err = psctl("status", "--json", url=url, token=token)
    if rc != 0:
        raise RuntimeError("psctl status: %d %s" % (rc, err))
    return json.loads(out)


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


def write_token(d, name, token):
    path = os.path.join(d, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return path


__all__ = ["P", "signal"]
