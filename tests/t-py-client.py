#!/usr/bin/python3
"""psctl.Client (contrib/python) against a live psctl serve: every call,
a token and TLS, every error path, and exactly-once pushes across a
connection cut in the middle of a push (by a TCP proxy the test controls).
"""

import os
import shutil
import socket
import subprocess
import threading

import pstest as T

T.require("numpy")
import numpy as np  # noqa: E402

import psctl  # noqa: E402

T.plan(66)
T.watchdog(240)


def status(srv, token=None):
    return T.status_json(srv.url, token)


# -- round trips over ws:// --------------------------------------------------
srv = T.Server("--rule", "add")
c = psctl.Client(srv.url, name="py-a")
T.ok(c.worker_id >= 1 and c.version == 0 and c.model == [] and
     "rule add" in c.server, "hello: a worker id, version 0, no model, the "
     "server's description")
a0 = np.arange(6, dtype=np.float32).reshape(2, 3)
b0 = np.linspace(-1, 1, 5)                      # float64: converted
v = c.init({"a": a0, "b": b0})
T.is_eq(c.model, [("a", (2, 3)), ("b", (5,))], "init: the model in the "
        "order given, with shapes")
v, m = c.pull()
T.ok(list(m) == ["a", "b"] and m["a"].dtype == np.float32 and
     np.array_equal(m["a"], a0) and
     np.array_equal(m["b"], b0.astype(np.float32)),
     "pull: the model in order, float64 input stored as float32")
T.ok(not m["a"].flags.writeable and m["a"].base is not None,
     "pull: read-only views of the receive buffer")
v2, mc = c.pull(copy=True)
T.ok(mc["a"].flags.writeable and mc["a"].flags.owndata,
     "pull(copy=True): arrays the caller owns")
u = np.full((2, 3), 0.5, np.float32)
u_before = u.copy()
v3 = c.push({"a": u})
T.ok(v3 == v + 1 and c.version == v3 and np.array_equal(u, u_before),
     "push: the version goes up by one; the caller's array is not masked "
     "in place")
h = np.array([1, 2, 3, 4, 5], np.float16)
c.push({"b": h})
_, m = c.pull(["b"])
T.ok(list(m) == ["b"] and np.array_equal(
    m["b"], b0.astype(np.float32) + h.astype(np.float32)),
    "push float16 (sent as F16) and pull one tensor by name")
d = c.push({"a": np.ones((2, 3), np.float64), "b": np.zeros(5, np.float32)})
_, m = c.pull(copy=True)
T.ok(np.allclose(m["a"], a0 + 1.5), "push of two tensors, float64 "
     "converted, applied as one step")
strided = np.arange(12, dtype=np.float32).reshape(2, 6)[:, ::2]
c.push({"a": strided})
_, m2 = c.pull()
T.ok(np.array_equal(m2["a"], m["a"] + strided), "push of a non-contiguous "
     "array sends its values")
c2 = psctl.Client(srv.url, name="py-b")
T.ok(c2.worker_id != c.worker_id and c2.model == c.model,
     "a second worker gets its own id and the model's names from hello")
v_init = c2.init({"a": np.zeros((2, 3), np.float32), "b": np.zeros(5)})
_, m3 = c2.pull()
T.ok(np.array_equal(m3["a"], m2["a"]) and v_init == c.version,
     "init on a server with a model: first writer wins")
params = c2.get_parameters()
T.ok(isinstance(params, list) and len(params) == 2 and
     np.array_equal(params[0], m3["a"]) and params[0].flags.writeable,
     "get_parameters: a list of owned arrays in model order")
big = np.random.default_rng(1).standard_normal(300001).astype(np.float32)
with psctl.Client(srv.url) as c3:
    pass
T.ok(c3._ws is None, "the client is a context manager and closes")

# A large model: several frames' worth, odd sizes, scalars.
srv_big = T.Server("--rule", "add")
with psctl.Client(srv_big.url) as cb:
    scalar = np.float32(2.5)
    cb.init({"big": big, "s": np.array(scalar), "e": np.zeros((0, 3))})
    _, m = cb.pull()
    T.ok(np.array_equal(m["big"], big) and m["s"].shape == () and
         m["s"] == 2.5 and m["e"].shape == (0, 3),
         "a 1.2 MB tensor, a scalar and an empty tensor round-trip")
    cb.push({"big": np.ones_like(big)})
    _, m = cb.pull()
    T.ok(np.array_equal(m["big"], big + 1), "a large push is applied exactly")
srv_big.kill()

# Elephas's meaning: delta = old - new, server --rule elephas: w -= delta.
srv_el = T.Server("--rule", "elephas")
with psctl.Client(srv_el.url) as ce:
    ce.init({"w": np.array([1.0, 2.0], np.float32),
             "b": np.array([0.5], np.float32)})
    old = ce.get_parameters()
    new = [old[0] - 0.25, old[1] + 1.0]
    ce.update_parameters([o - n for o, n in zip(old, new)])
    got = ce.get_parameters()
    T.ok(np.allclose(got[0], new[0]) and np.allclose(got[1], new[1]),
         "update_parameters(old - new) under --rule elephas yields new")
    try:
        ce.update_parameters([np.zeros(2)])
        T.ok(False, "update_parameters with too few arrays is refused")
    except ValueError:
        T.ok(True, "update_parameters with too few arrays is refused")
srv_el.kill()

# -- error paths ---------------------------------------------------------------
empty = T.Server("--rule", "add")
ce = psctl.Client(empty.url)
for what, call, exc in [
        ("pull before init", lambda: ce.pull(), psctl.NoModelError),
        ("push before init", lambda: ce.push({"a": np.ones(1)}),
         psctl.NoModelError)]:
    try:
        call()
        T.ok(False, what + " raises " + exc.__name__)
    except exc as e:
        T.ok(e.name == "no_model" and isinstance(e, psctl.ServerError),
             what + " raises " + exc.__name__)
ce.close()
empty.kill()

_, before = c.pull(copy=True)
st0 = status(srv)
for what, upd, exc, name in [
        ("a mis-shaped push", {"a": np.ones(6, np.float32)}, psctl.ShapeError,
         "shape"),
        ("a push of an unknown tensor", {"zz": np.ones(1, np.float32)},
         psctl.UnknownTensorError, "unknown_tensor"),
        ("a push of a reserved name", {"__x": np.ones(1, np.float32)},
         psctl.UnknownTensorError, "unknown_tensor"),
        ("a push with a NaN", {"b": np.array([0, 0, np.nan, 0, 0])},
         psctl.NonFiniteError, "nonfinite"),
        ("a push with one good and one bad tensor",
         {"b": np.ones(5), "a": np.ones((3, 2))}, psctl.ShapeError, "shape"),
        ("a float64 push beyond float32's range",
         {"b": np.full(5, 1e40)}, psctl.NonFiniteError, "nonfinite"),
        ("a float16 infinity", {"b": np.full(5, np.inf, np.float16)},
         psctl.NonFiniteError, "nonfinite")]:
    try:
        c.push(upd)
        T.ok(False, what + " raises " + exc.__name__)
    except exc as e:
        T.ok(e.name == name and e.text != "", "%s raises %s (%s)" % (
            what, exc.__name__, e))
_, after = c.pull(copy=True)
T.ok(all(np.array_equal(before[k], after[k]) for k in before),
     "the refused pushes left the model unchanged")
T.ok(c.pull()[0] == c.version, "the connection stays usable after refusals")
try:
    c.pull(["a", "a"])
    T.ok(False, "pulling a name twice raises DuplicateError")
except psctl.DuplicateError as e:
    T.ok(e.code == 13, "pulling a name twice raises DuplicateError")
try:
    c.pull(["nope"])
    T.ok(False, "pulling an unknown name raises UnknownTensorError")
except psctl.UnknownTensorError:
    T.ok(True, "pulling an unknown name raises UnknownTensorError")
try:
    c2.init({"a": np.zeros((3, 2), np.float32), "b": np.zeros(5)})
    T.ok(False, "a different init raises MismatchError")
except psctl.MismatchError:
    T.ok(True, "a different init raises MismatchError")

st1 = status(srv)
pushes = st1["pushes_total"] + st1["rejected_total"]
for what, upd, exc in [
        ("an int32 array", {"a": np.ones((2, 3), np.int32)}, TypeError),
        ("a bool array", {"a": np.ones((2, 3), bool)}, TypeError),
        ("a complex array", {"a": np.ones((2, 3), np.complex64)}, TypeError),
        ("a list of ints", {"a": [[1, 2, 3], [4, 5, 6]]}, TypeError),
        ("a string array", {"a": np.array(["x"])}, TypeError),
        ("a name of 256 bytes", {"x" * 256: np.ones(1)}, ValueError),
        ("a name with NUL", {"a\0": np.ones(1)}, ValueError),
        ("a 9-dimensional array", {"a": np.ones((1,) * 9)}, ValueError),
        ("a non-str name", {3: np.ones(1)}, TypeError),
        ("a list instead of a mapping", [np.ones(1)], TypeError)]:
    try:
        c.push(upd)
        T.ok(False, "%s raises %s" % (what, exc.__name__))
    except exc:
        T.ok(True, "%s raises %s before sending" % (what, exc.__name__))
st2 = status(srv)
T.ok(st2["pushes_total"] + st2["rejected_total"] == pushes,
     "none of those reached the server")
T.ok(st0["rejected_total"] + 7 == st1["rejected_total"],
     "the server counted the seven refused pushes")

dead = T.Server()
dead_url = dead.url
dead.kill()
try:
    psctl.Client(dead_url, timeout=5)
    T.ok(False, "a server that is down raises ConnectError")
except psctl.ConnectError as e:
    T.ok(e.url == dead_url and "refused" in str(e).lower(),
         "a server that is down raises ConnectError naming URL and cause "
         "(%s)" % e)
try:
    psctl.Client("http://127.0.0.1:1/")
    T.ok(False, "a URL that is not ws:// raises ValueError")
except ValueError:
    T.ok(True, "a URL that is not ws:// raises ValueError")
os.environ["PSCTL_URL"] = srv.url
with psctl.Client() as ce:
    T.ok(ce.url == srv.url and ce.model == c.model,
         "PSCTL_URL names the default server")
del os.environ["PSCTL_URL"]

# -- a token and TLS -------------------------------------------------------------
d = T.tmpdir()
openssl = shutil.which("openssl")


def ossl(*args):
    subprocess.run([openssl] + list(args), check=True, cwd=d,
                   capture_output=True)


ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
     "-subj", "/CN=psctl test CA", "-keyout", "ca.key", "-out", "ca.pem")
ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
     "-keyout", "server.key", "-out", "server.csr")
with open(os.path.join(d, "san.ext"), "w") as f:
    f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
ossl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey",
     "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "san.ext",
     "-out", "server.pem")
ca = os.path.join(d, "ca.pem")
tls = T.Server("--rule", "add", "--tls-cert", os.path.join(d, "server.pem"),
               "--tls-key", os.path.join(d, "server.key"),
               "--token-file", T.write_token(d, "worker.token", "w-secret-1"),
               "--operator-token-file", T.write_token(d, "op.token",
                                                      "op-secret-2"),
               tls=True)
ct = psctl.Client(tls.url, token="w-secret-1", ca_file=ca, name="tls")
big = np.random.default_rng(2).standard_normal((1000, 301)).astype(np.float32)
ct.init({"w": big})
ct.push({"w": np.ones_like(big)})
_, m = ct.pull()
T.ok(tls.url.startswith("wss://") and np.array_equal(m["w"], big + 1),
     "over wss:// with a worker token: init, push and pull of 1.2 MB")
# Socket bytes are not payload bytes under TLS: no SO_RCVLOWAT waits.
marks = []
tsock = ct._ws.sock
real_setsockopt = tsock.setsockopt


def spy_setsockopt(level, opt, *value):
    if (level, opt) == (socket.SOL_SOCKET, socket.SO_RCVLOWAT):
        marks.append(value)
    return real_setsockopt(level, opt, *value)


tsock.setsockopt = spy_setsockopt
_, m = ct.pull()
del tsock.setsockopt
T.ok(np.array_equal(m["w"], big + 1) and marks == [],
     "over wss:// a pull of 1.2 MB leaves SO_RCVLOWAT alone (%r)" % marks)
os.environ["PSCTL_TOKEN"] = "w-secret-1"
with psctl.Client(tls.url, ca_file=ca) as ce:
    T.ok(ce.model == [("w", (1000, 301))], "PSCTL_TOKEN is the default token")
del os.environ["PSCTL_TOKEN"]
for what, kw, want in [("no token", {}, 401),
                       ("a wrong token", {"token": "nope"}, 401)]:
    try:
        psctl.Client(tls.url, ca_file=ca, **kw)
        T.ok(False, what + " raises AuthError")
    except psctl.AuthError as e:
        T.ok(e.status == want and isinstance(e, psctl.ConnectError),
             "%s raises AuthError (%s)" % (what, e))
try:
    psctl.Client(tls.url, token="w-secret-1")
    T.ok(False, "without the CA the certificate does not verify")
except psctl.ConnectError as e:
    T.ok("TLS" in str(e) or "certif" in str(e).lower(),
         "without the CA the certificate does not verify: ConnectError "
         "(%s)" % e)
ct.close()
tls.kill()


# -- exactly once across a connection cut mid-push -------------------------------
class Proxy:
    """A TCP proxy on 127.0.0.1 to `port`.  cut = "request" drops the next
    client data (the push never reaches the server) and closes both sides;
    cut = "reply" passes the client's data but drops the server's next data
    (the answer) and closes both sides.  stall = "request" or "reply"
    drops everything that side sends from its next data on, keeping the
    connection open, until the client closes it (after its timeout)."""

    def __init__(self, port):
        self.port_to = port
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.cut = None
        self.cuts = 0
        self.stall = None
        self.stalls = 0
        self.conns = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                a, _ = self.lsock.accept()
            except OSError:
                return
            b = socket.create_connection(("127.0.0.1", self.port_to))
            self.conns += 1
            stalled = set()     # the sides of this connection that stall
            threading.Thread(target=self._pump, args=(a, b, "request",
                                                      stalled),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(b, a, "reply",
                                                      stalled),
                             daemon=True).start()

    def _pump(self, src, dst, side, stalled):
        while True:
            try:
                data = src.recv(1 << 16)
            except OSError:
                data = b""
            with self.lock:
                if data and self.cut == side:
                    self.cut = None
                    self.cuts += 1
                    data = b""
                if data and self.stall == side:
                    self.stall = None
                    self.stalls += 1
                    stalled.add(side)
            if data and side in stalled:
                continue
            if not data:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    s.close()
                return
            try:
                dst.sendall(data)
            except OSError:
                return


once = T.Server("--rule", "add")
px = Proxy(once.port)
purl = "ws://127.0.0.1:%d/" % px.port
w0 = np.zeros(4, np.float32)
obs = psctl.Client(once.url, name="observer")
obs.init({"w": w0})
obs2 = psctl.Client(once.url, name="observer-2")
cp = psctl.Client(purl, name="cut")
wid = cp.worker_id          # 3: a number the next server will not give out

px.cut = "reply"
v = cp.push({"w": np.ones(4, np.float32)})
_, m = obs.pull()
T.ok(px.cuts == 1 and cp.reconnects == 1 and cp.worker_id == wid,
     "reply lost: the client reconnected and resumed worker %d" % wid)
T.ok(np.array_equal(m["w"], w0 + 1) and v == obs.version,
     "reply lost: the retried push was applied exactly once (w = %s)"
     % m["w"])

px.cut = "request"
cp.push({"w": np.full(4, 2, np.float32)})
_, m = obs.pull()
T.ok(px.cuts == 2 and cp.reconnects == 2 and np.array_equal(m["w"], w0 + 3),
     "request lost: the retried push was applied exactly once (w = %s)"
     % m["w"])
cp.push({"w": np.full(4, 4, np.float32)})
_, m = obs.pull()
T.ok(np.array_equal(m["w"], w0 + 7), "later pushes go on as usual")
st = status(once)
mine = [x for x in st["workers"] if x["id"] == wid]
T.ok(len(mine) == 1 and mine[0]["pushes"] == 3,
     "the server counts 3 pushes for the worker, not 4")

# A push whose answer times out is kept and sent again, with its sequence
# number, first thing on the next call: applied once.  (The proxy stalls
# for ever, so the timeout is certain whatever the machine's load.)
px.stall = "reply"
cp.timeout = 0.5
try:
    cp.push({"w": np.full(4, 8, np.float32)})
    T.ok(False, "a push whose answer stalls raises TimeoutError")
except psctl.TimeoutError:
    T.ok(px.stalls == 1 and cp.pending == 1, "a push whose answer stalls "
         "raises TimeoutError, and the client keeps the push")
cp.timeout = 30
_, m = cp.pull()
T.ok(cp.pending == 0 and cp.worker_id == wid and
     np.array_equal(m["w"], w0 + 15),
     "reply lost to a timeout: the next call resumed, sent the push again, "
     "and the server applied it once (w = %s)" % m["w"])
px.stall = "request"
cp.timeout = 0.5
u = np.full(4, 16, np.float32)
try:
    cp.push({"w": u})
    T.ok(False, "a push that stalls on its way raises TimeoutError")
except psctl.TimeoutError:
    T.ok(px.stalls == 2 and cp.pending == 1, "a push that stalls on its way "
         "raises TimeoutError, and the client keeps the push")
u[:] = 1000                 # the client kept a copy
cp.timeout = 30
_, m = obs.pull()
T.ok(np.array_equal(m["w"], w0 + 15), "(it never reached the server)")
cp.push({"w": np.full(4, 32, np.float32)})
_, m = obs.pull()
T.ok(cp.pending == 0 and np.array_equal(m["w"], w0 + 63),
     "request lost to a timeout: the next push sent it first, as it was "
     "given, then itself; each applied once (w = %s)" % m["w"])
st = status(once)
mine = [x for x in st["workers"] if x["id"] == wid]
T.ok(len(mine) == 1 and mine[0]["pushes"] == 6,
     "the server counts 6 pushes for the worker (%s)"
     % (mine[0]["pushes"] if mine else None))

# A server that no longer knows the worker: the pending push is not resent.
obs2.close()
once.kill()
once2 = T.Server("--rule", "add")
px.port_to = once2.port
with psctl.Client(once2.url) as seed:
    seed.init({"w": w0})
try:
    cp.push({"w": np.ones(4, np.float32)})
    T.ok(False, "a push whose worker was forgotten raises ResumeError")
except psctl.ResumeError as e:
    T.ok(isinstance(e, psctl.ConnectError),
         "a push whose worker was forgotten raises ResumeError (%s)" % e)
with psctl.Client(once2.url) as o2:
    T.ok(np.array_equal(o2.pull()[1]["w"], w0),
         "... and was not applied to the new server")
T.ok(cp.pull()[1]["w"].shape == (4,), "the client goes on as a new worker")
cp.close()
obs.close()
c.close()
c2.close()
T.done()
