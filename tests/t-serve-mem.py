#!/usr/bin/env python3
"""psctl serve in bounded memory (issue 10): receive buffers grow with the
bytes that arrive, not with what a frame header announces, and go back
after each message; a header announcing more than --max-message-bytes is
answered 1009 at once and counted as too_large; --max-inflight-bytes
bounds what many workers pushing at once cost, and never stops one; a
worker reading a large reply slowly is not silent, nor is one sending a
large push slowly, and one that stops sending midway is closed, handing
its share of the budget to a push that waited for it; a control client
that pipelines requests and never reads holds at most the output cap.

Memory is read from /proc (VmRSS), never timed.  The bounds are generous,
yet each fails on a server that keeps a buffer per connection or believes
a frame's declared length.  An AddressSanitizer build has an allocator of
its own (quarantine, shadow memory, a huge address space): the memory
checks are skipped there."""

import re
import socket
import struct
import subprocess
import time

import pstest as T

T.require("numpy", "websocket")
import numpy as np  # noqa: E402
import psproto as P  # noqa: E402

ok, diag = T.ok, T.diag

# Only a bound on a hang: on a loaded 2-core machine the 24 pushers and
# the address-space case alone took over 200 s.
T.watchdog(900)
T.plan(37)

SANITIZED = T.sanitized()


def proc_kb(srv, field):
    """VmRSS, VmSize... of the server's process, in KiB."""
    return srv.vm(field) // 1024


def frame_header(length, fin=True, opcode=2):
    """A masked client frame header announcing length bytes of payload
    (RFC 6455 5.2), with an all-zero masking key."""
    b0 = (0x80 if fin else 0) | opcode
    if length < 126:
        h = struct.pack("!BB", b0, 0x80 | length)
    elif length < 65536:
        h = struct.pack("!BBH", b0, 0x80 | 126, length)
    else:
        h = struct.pack("!BBQ", b0, 0x80 | 127, length)
    return h + b"\0\0\0\0"


def push(w, update, op=P.PUSH):
    """w.push() (or w.init() with op INIT), framed here with an all-zero
    masking key: the payload goes out as it is, without websocket-client's
    slow masking."""
    rid = w.next_id
    w.next_id += 1
    buf = P.encode(op, id=rid, records=list(update.items()))
    w.ws.sock.sendall(frame_header(len(buf)) + buf)
    r = w.recv()
    if r.op != P.REPLY or r.id != rid:
        raise AssertionError("push answered %r" % r)
    return r.version


def close_code(w):
    """The close code the server sends (None if it drops or stays quiet
    until the client's timeout)."""
    try:
        return w.wait_close()[0]
    except Exception as e:  # websocket's timeout is none of OSError's
        diag("no close: %r" % e)
        return None


def too_large(srv):
    """too_large in status "rejected" and in /metrics."""
    st = T.status_json(srv.url)
    _, _, body = T.http_get(srv.http + "/metrics")
    m = re.search(r'rejected_total\{reason="too_large"\} (\d+)', body)
    return st.get("rejected", {}).get("too_large", 0), \
        int(m.group(1)) if m else 0


# --- 1009 on the header, counted as too_large ----------------------------

srv = T.Server("--max-message-bytes", "65536")
a = srv.worker("a")
model = {"w": np.arange(16, dtype=np.float32)}
a.init(model)
b = srv.worker("b")
b.ws.sock.sendall(frame_header(1 << 20))
ok(close_code(b) == 1009, "a header announcing 1 MiB over a 64 KiB limit is "
   "answered 1009 with no payload sent")
c = srv.worker("c")
c.send(P.PUSH, records=[("w", np.ones(20000, np.float32))])
ok(close_code(c) == 1009, "a message over the limit whose payload arrives "
   "closes with 1009 too")
is_st, is_prom = too_large(srv)
T.is_eq(is_st, 2, "status counts both as refused pushes, too_large")
T.is_eq(is_prom, 2, "and /metrics as rejected_total{reason=\"too_large\"}")
v, m = a.pull()
ok(T.same(m, model) and v == 0, "the model is untouched")
srv.stop()

# --- a declared-huge frame under an address-space limit ------------------

srv = T.Server()
a = srv.worker("a")
model = {"w": np.arange(1000, dtype=np.float32)}
a.init(model)
if SANITIZED:
    T.skip(4, "AddressSanitizer's allocator needs a huge address space")
else:
    limit = proc_kb(srv, "VmSize") * 1024 + (512 << 20)
    subprocess.run(["prlimit", "--pid", str(srv.proc.pid),
                    "--as=%d:" % limit], check=True)
    liars = []
    try:
        for i in range(8):
            w = srv.worker("liar%d" % i)
            liars.append(w)
            # 1 GiB less a little (under the default limit), and 4 bytes.
            w.ws.sock.sendall(frame_header((1 << 30) - 64) + b"\1\2\3\4")
        v, m = a.pull()
        alive = srv.proc.poll() is None and T.same(m, model) and v == 0
    except Exception as e:
        diag("the server went away: %r" % e)
        alive = False
    ok(alive, "8 headers announcing 1 GiB each under a 512 MiB "
       "address-space allowance: the server is alive and the model intact")
    if alive:
        ok(a.push({"w": np.ones(1000, np.float32)}) == 1,
           "and it applies pushes")
        model["w"] = model["w"] + np.float32(1)
        rss = proc_kb(srv, "VmRSS")
        ok(rss < 64 * 1024, "its RSS stays under 64 MiB (%d KiB)" % rss)
        for w in liars:
            w.drop()
        v, m = a.pull()
        ok(T.same(m, model), "the model is as expected after the liars "
           "leave")
    else:
        for i in range(3):
            ok(False, "(the server is gone)")
srv.kill()

# --- idle connections after large pushes ---------------------------------

N = 24
PARAMS = 1 << 20			# 4 MiB a message
srv = T.Server()
a = srv.worker("a")
model = {"w": np.zeros(PARAMS, dtype=np.float32)}
a.init(model)
a.pull()
push(a, {"w": np.ones(PARAMS, np.float32)})
a.pull()
base = proc_kb(srv, "VmRSS")
workers = [srv.worker("w%d" % i) for i in range(N)]
versions = [push(w, {"w": np.ones(PARAMS, np.float32)}) for w in workers]
ok(sorted(versions) == list(range(2, 2 + N)),
   "%d workers push 4 MiB each, all applied" % N)
grown = proc_kb(srv, "VmRSS") - base
if SANITIZED:
    T.skip(1, "AddressSanitizer keeps freed memory in quarantine")
else:
    # A buffer kept per connection is 96 MiB here.
    ok(grown < 48 * 1024, "%d idle connections after 4 MiB pushes grew the "
       "server by under 48 MiB (%d KiB)" % (N, grown))
v, m = workers[0].pull()
ok(v == 1 + N and np.all(m["w"] == np.float32(1 + N)),
   "a pull after them has every push")
for w in workers:
    w.close()
ok(push(a, {"w": np.ones(PARAMS, np.float32)}) == 2 + N,
   "the first worker still pushes after they leave")
T.is_eq(srv.stop(), 0, "the server stops cleanly")
ok(not re.search(r"fatal|Cannot allocate", srv.log()),
   "nothing fatal in the log")

# --- the receive budget, --max-inflight-bytes ----------------------------

import threading  # noqa: E402


def push_all(ws, update):
    """Every worker of ws pushes update at once; their versions."""
    got = [None] * len(ws)

    def run(i):
        ws[i].ws.sock.settimeout(120)
        try:
            got[i] = push(ws[i], update)
        except Exception as e:
            diag("worker %d: %r" % (i, e))
    threads = [threading.Thread(target=run, args=(i,))
               for i in range(len(ws))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return got


def settle(srv):
    """Waits until the server's RSS stops growing (it has read what it
    will read); not a timed check."""
    last, same = -1, 0
    for _ in range(80):
        rss = proc_kb(srv, "VmRSS")
        same = same + 1 if abs(rss - last) < 256 else 0
        if same >= 6:
            break
        last = rss
        time.sleep(0.25)


def push_held(ws, update):
    """Every worker of ws sends all of a push but its last byte; once the
    server has read what it will, the last bytes follow.  Returns the
    server's RSS growth while the pushes were held, and the versions."""
    got = [None] * len(ws)
    go = threading.Event()

    def run(i):
        w = ws[i]
        w.ws.sock.settimeout(120)	# a paused one waits its turn
        try:
            rid = w.next_id
            w.next_id += 1
            buf = P.encode(P.PUSH, id=rid, records=list(update.items()))
            msg = frame_header(len(buf)) + buf
            w.ws.sock.sendall(msg[:-1])
            go.wait()
            w.ws.sock.sendall(msg[-1:])
            got[i] = w.recv().version
        except Exception as e:
            diag("worker %d: %r" % (i, e))
    base = proc_kb(srv, "VmRSS")
    threads = [threading.Thread(target=run, args=(i,))
               for i in range(len(ws))]
    for t in threads:
        t.start()
    settle(srv)
    grown = proc_kb(srv, "VmRSS") - base
    go.set()
    for t in threads:
        t.join(120)
    return grown, got


N = 16
srv = T.Server("--max-inflight-bytes", str(8 << 20))
a = srv.worker("a")
a.init({"w": np.zeros(PARAMS, dtype=np.float32)})
a.pull()
push(a, {"w": np.ones(PARAMS, np.float32)})
a.pull()
workers = [srv.worker("w%d" % i) for i in range(N)]
grown, versions = push_held(workers, {"w": np.ones(PARAMS, np.float32)})
ok(sorted(v or 0 for v in versions) == list(range(2, 2 + N)),
   "%d workers pushing 4 MiB at once under an 8 MiB budget: every push "
   "is applied" % N)
if SANITIZED:
    T.skip(1, "AddressSanitizer keeps freed memory in quarantine")
else:
    # Read all at once, the messages alone are 64 MiB.
    ok(grown < 32 * 1024, "while all %d were being sent the server grew by "
       "under 32 MiB (%d KiB)" % (N, grown))
v, m = a.pull()
ok(v == 1 + N and np.all(m["w"] == np.float32(1 + N)),
   "a pull after them has every push")
srv.stop()

srv = T.Server("--mode", "sync", "--workers", "4",
               "--max-inflight-bytes", str(1 << 20))
workers = [srv.worker("s%d" % i) for i in range(4)]
workers[0].init({"w": np.zeros(PARAMS, dtype=np.float32)})
versions = push_all(workers, {"w": np.ones(PARAMS, np.float32)})
ok(versions == [1, 1, 1, 1], "sync, 4 workers, a budget of a quarter of "
   "one message: the round completes (versions %r)" % (versions,))
v, m = workers[1].pull()
ok(v == 1 and np.all(m["w"] == np.float32(1)), "with the mean of the "
   "four pushes")
T.is_eq(srv.stop(), 0, "the server stops cleanly")

# --- a slow reader is not silent -----------------------------------------

def slow_reply(sock, chunk=16384, pause=0.01):
    """Reads one whole message off sock, chunk bytes at a time with a
    pause between reads (a worker on a slow link); decoded."""
    sock.settimeout(30)
    buf = bytearray()

    def need(n):
        while len(buf) < n:
            b = sock.recv(min(chunk, n - len(buf)))
            if not b:
                raise ConnectionError("closed by the server")
            buf.extend(b)
            time.sleep(pause)

    payload = bytearray()
    while True:
        buf.clear()
        need(2)
        fin, op, n = buf[0] & 0x80, buf[0] & 0x0f, buf[1] & 0x7f
        if op == 8:
            need(2 + n)
            raise T.Closed(int.from_bytes(buf[2:4], "big"),
                           bytes(buf[4:]).decode("utf-8", "replace"))
        if n == 126:
            need(4)
            n = int.from_bytes(buf[2:4], "big")
        elif n == 127:
            need(10)
            n = int.from_bytes(buf[2:10], "big")
        start = len(buf)
        need(start + n)
        payload.extend(buf[start:start + n])
        if fin and op in (0, 2):
            return P.decode(bytes(payload))


srv = T.Server("--worker-timeout", "3")
model = {"w": np.arange(4 << 20, dtype=np.float32)}	# 16 MiB
buf = P.encode(P.INIT, id=1, records=list(model.items()))
a = srv.worker("a")	# after the encoding, which may take seconds
a.ws.sock.sendall(frame_header(len(buf)) + buf)
a.recv()
# A small receive buffer, set before connecting (else the kernel's
# autotuning takes in megabytes for the worker).
import websocket  # noqa: E402
slow = websocket.create_connection(
    srv.url, subprotocols=[P.PROTOCOL], timeout=30,
    sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 65536),))
slow.send_binary(P.encode(P.HELLO, id=1, text="slow"))
slow.recv()
slow.send_binary(P.encode(P.PULL, id=2))
try:
    r = slow_reply(slow.sock)
    got = r.op == P.REPLY and T.same(T.model_of(r), model)
except Exception as e:
    diag("the slow pull: %r" % e)
    got = False
ok(got, "a worker reading a 16 MiB reply at about 1.5 MiB/s with "
   "--worker-timeout 3 gets all of it")
# Timed out, it would have its reply (a close waits for the replies)
# but not the next one.
try:
    slow.send_binary(P.encode(P.PULL, id=3, records=[("nope", None)]))
    r = P.decode(slow.recv())
    alive = r.op == P.ERROR and r.status == P.E_UNKNOWN_TENSOR
except Exception as e:
    diag("the next request: %r" % e)
    alive = False
ok(alive, "it was not timed out: its next request is answered")
srv.stop()

# --- a slow sender is not silent; one that stops is closed ---------------
# While a large frame arrives the server reads it in 128 KiB steps
# (SO_RCVLOWAT): bytes that wait in the socket are progress all the same.

srv = T.Server("--worker-timeout", "2")
model = {"w": np.zeros(48 << 10, dtype=np.float32)}	# 192 KiB
a = srv.worker("a")
a.init(model)
update = {"w": np.full(48 << 10, 0.5, dtype=np.float32)}
buf = frame_header(len(P.encode(P.PUSH, id=2, records=list(update.items()))))
buf += P.encode(P.PUSH, id=2, records=list(update.items()))
# 4 KiB every 0.25 s: about 12 s for the whole push, and 8 s for 128 KiB.
try:
    for i in range(0, len(buf), 4096):
        a.ws.sock.sendall(buf[i:i + 4096])
        time.sleep(0.25)
    r = a.recv()
    got = r.op == P.REPLY and r.id == 2 and r.status == 0
    pushed = r.version
except Exception as e:
    diag("the slow push: %r" % e)
    got, pushed = False, None
ok(got, "a worker sending a 192 KiB push at 16 KiB/s with --worker-timeout "
   "2 is answered")
b = srv.worker("b")
half = buf[:len(buf) // 2]
b.ws.sock.sendall(half)
T.is_eq(close_code(b), 1008, "one that stops halfway through its push is "
        "closed with 1008 after --worker-timeout")
# a, silent meanwhile for longer than --worker-timeout, is gone too.
v, m = srv.worker("c").pull()
ok(v == pushed and np.all(m["w"] == np.float32(0.5)), "the model holds the "
   "slow push, and nothing of the one that stopped (version %d)" % v)
T.is_eq(srv.stop(), 0, "the server stops cleanly")

# --- a timeout that frees the budget lets the next push in ---------------
# a's push is admitted and stops midway; b's whole push arrives meanwhile,
# does not fit beside a's, and waits, paused.  Closing a (a timer, no
# traffic of b's) must hand the budget on: b's push is then read and
# answered.  A server that forgot its waiting list when a connection it
# closed let go of its charge would leave b waiting for good.


def wait_for(cond, tries=100):
    """Polls cond every 0.1 s until it holds; whether it did."""
    for _ in range(tries):
        if cond():
            return True
        time.sleep(0.1)
    return False


# A timeout long enough for the checks before it on a loaded machine.
srv = T.Server("--worker-timeout", "4", "--max-inflight-bytes",
               str(256 << 10))
a = srv.worker("a")
a.init(model)
b = srv.worker("b")
abuf = P.encode(P.PUSH, id=a.next_id, records=list(update.items()))
a.ws.sock.sendall(frame_header(len(abuf)) + abuf[:64 << 10])
ok(wait_for(lambda: srv.receive()["inflight_bytes"] >= len(abuf)), "a push "
   "that stops midway holds its whole size of a 256 KiB budget")
rid = b.next_id
b.next_id += 1
bbuf = P.encode(P.PUSH, id=rid, records=[("w", np.full(48 << 10, 0.25,
                                                      dtype=np.float32))])
# In fragments, as libpsctl sends a large message: a message that came
# whole in one read is in memory already, and is not held back.
frags = [bbuf[i:i + (64 << 10)] for i in range(0, len(bbuf), 64 << 10)]
b.ws.sock.sendall(b"".join(
    frame_header(len(f), fin=i == len(frags) - 1, opcode=0 if i else 2) + f
    for i, f in enumerate(frags)))
ok(wait_for(lambda: srv.receive()["paused_connections"] == 1), "a second "
   "worker's whole push waits, paused, while the first holds the budget")
T.is_eq(close_code(a), 1008, "the first is closed with 1008 after "
        "--worker-timeout")
try:
    b.ws.sock.settimeout(20)
    r = b.recv()
    got = (r.op, r.id, r.status, r.version)
except Exception as e:
    diag("b: %r" % e)
    got = None
T.is_eq(got, (P.REPLY, rid, 0, 1), "then the waiting push is read and "
        "answered")
v, m = srv.worker("c").pull()
ok(v == 1 and np.all(m["w"] == np.float32(0.25)), "the model holds it, "
   "and nothing of the push that stopped")
T.is_eq(srv.stop(), 0, "the server stops cleanly")

# --- a control client that never reads ------------------------------------

srv = T.Server()
a = srv.worker("a")
a.init({"layer%03d/w" % i: np.zeros(4, np.float32) for i in range(100)})
ctl = srv.control()
base = proc_kb(srv, "VmRSS")
req = b'{"id":1,"cmd":"status"}'
flood = (frame_header(len(req), opcode=1) + req) * 10000
sock = ctl.ws.sock
sock.settimeout(5)
try:
    sock.sendall(flood)
    sent = "all"
except (socket.timeout, OSError) as e:
    sent = "until %r" % e	# the server stopped reading, or closed
diag("10,000 status requests sent: %s" % sent)
settle(srv)
grown = proc_kb(srv, "VmRSS") - base
if SANITIZED:
    T.skip(1, "AddressSanitizer keeps freed memory in quarantine")
else:
    # Every request answered and queued, the replies are over 150 MB.
    ok(grown < 48 * 1024, "10,000 pipelined status requests never read "
       "grew the server by under 48 MiB (%d KiB)" % grown)
st, _, body = T.http_get(srv.http + "/livez")
T.is_eq(st, 200, "/livez answers meanwhile")
T.is_eq(T.status_json(srv.url).get("params"), 400, "and so does another "
        "control connection")
ctl.drop()
T.is_eq(srv.stop(), 0, "the server stops cleanly")

T.done()
