#!/usr/bin/env python3
"""psctl serve in bounded memory (issue 10): receive buffers grow with the
bytes that arrive, not with what a frame header announces, and go back
after each message; a header announcing more than --max-message-bytes is
answered 1009 at once and counted as too_large.

Memory is read from /proc (VmRSS), never timed.  The bounds are generous,
yet each fails on a server that keeps a buffer per connection or believes
a frame's declared length.  An AddressSanitizer build has an allocator of
its own (quarantine, shadow memory, a huge address space): the memory
checks are skipped there."""

import re
import struct
import subprocess

import pstest as T

T.require("numpy", "websocket")
import numpy as np  # noqa: E402
import psproto as P  # noqa: E402

ok, diag = T.ok, T.diag

T.watchdog(240)
T.plan(15)

with open(T.PSCTL, "rb") as f:
    SANITIZED = b"__asan_init" in f.read()


def proc_kb(srv, field):
    """VmRSS, VmSize... of the server's process, in KiB."""
    with open("/proc/%d/status" % srv.proc.pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (field, srv.proc.pid))


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


def push(w, update):
    """w.push(), framed here with an all-zero masking key: the payload
    goes out as it is, without websocket-client's slow masking."""
    rid = w.next_id
    w.next_id += 1
    buf = P.encode(P.PUSH, id=rid, records=list(update.items()))
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

T.done()
