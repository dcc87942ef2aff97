#!/usr/bin/python3
"""Cross-checks psctl.worker.v1 between C and Python (TAP).

- Messages the C encoder wrote (tests/data/proto-c-*.bin, made by
  `tests/t-proto --write-fixtures tests/data`) decode with the independent
  Python implementation (tests/psproto.py) to the values t-proto.c put in;
  the f16/bf16 bits the C converters produced match numpy's float16 and a
  nearest-value search for bfloat16.
- psproto.py still encodes tests/data/proto-py-*.bin byte for byte
  (t-proto.c decodes those and re-encodes them with the C encoder).
- psproto.py refuses what the spec says a receiver refuses.
- The hex dumps in psctl-protocol(7)'s EXAMPLES decode to what the page
  says they are.
- A psctl serve started here on 127.0.0.1 (port 0) behaves as the page
  says: ordering, versions, duplicate pushes, refusals, close 1003, resume.
"""

import importlib.util
import os
import re
import struct
import sys

import pstest as T

T.require("numpy")
import numpy as np  # noqa: E402
import psproto as P  # noqa: E402

sys.path.insert(0, T.DATA)
from mkproto import MESSAGES  # noqa: E402

ok, diag = T.ok, T.diag
DATA, SRCDIR = T.DATA, T.SRCDIR


def read(name):
    with open(os.path.join(DATA, name), "rb") as f:
        return f.read()


def refused(buf, code, desc, **limits):
    try:
        P.decode(buf, **limits)
    except P.ProtoError as e:
        if not ok(e.code == code, desc):
            diag("refused as %s: %s" % (P.ERRCODES[e.code], e.reason))
        return
    ok(False, desc)
    diag("accepted")


def bf16_nearest(x):
    """bfloat16 bits of float32 x by search: nearest, ties to even."""
    u = int(np.array(x, dtype="<f4").view("<u4"))
    lo = u >> 16
    cands = [lo, lo + 1]
    vals = [float(np.array(c << 16, dtype="<u4").view("<f4")) for c in cands]
    d = [abs(v - float(x)) if np.isfinite(v) else
         (float("inf") if abs(float(x)) < 2.0 ** 128 - 2.0 ** 119 else 0)
         for v in vals]
    if d[0] < d[1]:
        return cands[0]
    if d[1] < d[0]:
        return cands[1]
    return cands[0] if cands[0] % 2 == 0 else cands[1]


def c_fixtures():
    m = P.decode(read("proto-c-hello.bin"))
    ok(m.op == P.HELLO and m.id == 11 and m.arg == 42 and
       m.text == "w\u00f6rker" and not m.tensors,
       "C's hello decodes in Python: id 11, resume 42, UTF-8 name")

    m = P.decode(read("proto-c-hello-reply.bin"))
    ok(m.op == P.REPLY and m.id == 11 and m.version == 99 and
       m.arg == 42 and m.text == "psctl test" and
       [(t.name, t.dtype, t.shape) for t in m.tensors] ==
       [("layer1/w", P.NONE, (2, 3, 4)), ("layer1/b", P.NONE, (4,)),
        ("s", P.NONE, ())],
       "C's hello reply lists three names with shapes, in order")

    m = P.decode(read("proto-c-pull-reply.bin"))
    w = (np.arange(24, dtype=np.float32) - 12) / 4
    b = np.array([1e-3, -1e30, 3.4e38, -0.0], dtype=np.float32)
    t = m.named()
    ok(m.op == P.REPLY and m.id == 12 and m.version == 99 and
       list(t) == ["layer1/w", "layer1/b", "s"],
       "C's pull reply carries three tensors in model order")
    ok(t["layer1/w"].shape == (2, 3, 4) and
       np.array_equal(t["layer1/w"].ravel(), w),
       "layer1/w is (i - 12) / 4 in row-major order")
    ok(np.array_equal(t["layer1/b"].view("<u4"), b.view("<u4")),
       "layer1/b keeps every bit, -0.0 included")
    ok(t["s"].shape == () and float(t["s"]) == 7.0, "s is the scalar 7")

    m = P.decode(read("proto-c-push.bin"))
    g = np.arange(24, dtype=np.float32) * np.float32(0.1) - np.float32(1.2)
    ok(m.op == P.PUSH and m.id == 13 and m.version == 99 and m.arg == 7 and
       [(x.name, x.dtype) for x in m.tensors] ==
       [("layer1/w", P.F16), ("layer1/b", P.BF16)],
       "C's push decodes: F16 kernel and BF16 bias")
    got16 = m.tensors[0].array.ravel().view("<u2")
    want16 = g.astype(np.float16).view("<u2")
    if not ok(np.array_equal(got16, want16),
              "ps_f32_to_f16 agrees with numpy's float16 on 24 values"):
        diag("C %s\nnumpy %s" % (got16, want16))
    raw = read("proto-c-push.bin")
    gotb = np.frombuffer(raw[-8:], dtype="<u2")
    wantb = np.array([bf16_nearest(x) for x in b], dtype="<u2")
    if not ok(np.array_equal(gotb, wantb),
              "ps_f32_to_bf16 picks the nearest bfloat16, ties to even"):
        diag("C %s\nsearch %s" % (gotb, wantb))

    m = P.decode(read("proto-c-error.bin"))
    ok(m.op == P.ERROR and m.status == P.E_BUSY and m.id == 13 and
       m.text == "too many waiting requests" and not m.tensors,
       "C's error decodes: status 14 (busy) and its reason")


def py_fixtures():
    for name, kw in MESSAGES.items():
        ok(P.encode(**kw) == read("proto-py-%s.bin" % name),
           "psproto encodes proto-py-%s.bin byte for byte" % name)


def refusals():
    good = read("proto-py-pull-reply.bin")
    ok(P.decode(good).id == 2, "the pull reply fixture decodes")
    refused(good[:39], P.E_MALFORMED, "39 bytes are malformed")
    refused(b"X" + good[1:], P.E_MALFORMED, "a bad magic is malformed")
    refused(good[:4] + bytes([9]) + good[5:], P.E_UNKNOWN_OP,
            "op 9 is unknown_op")
    refused(good[:5] + bytes([2]) + good[6:], P.E_MALFORMED,
            "a flag bit is malformed")
    refused(good + bytes(8), P.E_MALFORMED, "trailing bytes are malformed")
    refused(good, P.E_TOO_LARGE, "a message over max_message is too_large",
            max_message=len(good) - 1)
    refused(good, P.E_TOO_LARGE, "two records over max_tensors=1 is too_large",
            max_tensors=1)
    hello = P.raw_header(P.HELLO, textlen=4097) + bytes(4104)
    refused(hello, P.E_TOO_LARGE, "4097 bytes of text is too_large")
    refused(P.raw_header(P.HELLO, textlen=2) + P.raw_text(b"\xc0\xaf"),
            P.E_MALFORMED, "overlong UTF-8 text is malformed")
    refused(P.raw_header(P.HELLO, textlen=2) + b"ok" + b"\0\0\0\0\0\1",
            P.E_MALFORMED, "non-zero text padding is malformed")
    rec = P.raw_record("w", 4, (1,), bytes(8))
    refused(P.raw_header(P.REPLY, count=1) + rec, P.E_DTYPE,
            "F64 on the wire is refused as dtype")
    rec = P.raw_record("\ud800".encode("utf-8", "surrogatepass"), P.NONE)
    refused(P.raw_header(P.REPLY, count=1) + rec, P.E_MALFORMED,
            "a surrogate in a name is malformed")
    rec = P.raw_record("w", P.F32, (3,), bytes(12), data_fill=1)
    refused(P.raw_header(P.REPLY, count=1) + rec, P.E_MALFORMED,
            "non-zero data padding is malformed")
    rec = P.raw_record("w", P.F32, (5,), bytes(12))
    refused(P.raw_header(P.REPLY, count=1) + rec, P.E_MALFORMED,
            "data short of its shape is malformed")
    rec = P.raw_record("w", P.F32, (3,), bytes(12))
    refused(P.raw_header(P.PULL, count=1) + rec, P.E_DTYPE,
            "a pull carrying data is refused as dtype")
    refused(P.raw_header(P.PUSH, count=1) + P.raw_record("w", P.NONE),
            P.E_DTYPE, "a push without data is refused as dtype")
    refused(P.raw_header(P.ERROR, textlen=0), P.E_MALFORMED,
            "an error with status 0 is malformed")
    refused(P.raw_header(P.REPLY, status=3), P.E_MALFORMED,
            "a status outside error is malformed")
    refused(P.raw_header(P.REPLY, count=2) + P.raw_record("w", P.NONE),
            P.E_MALFORMED, "a count the bytes cannot hold is malformed")


def man_examples():
    """Hex dumps in psctl-protocol(7) EXAMPLES, one message per block."""
    path = os.path.join(SRCDIR, "man", "psctl-protocol.7")
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n.Sh EXAMPLES", 1)[1].splitlines()
    except (OSError, IndexError) as e:
        ok(False, "psctl-protocol(7) has an EXAMPLES section")
        diag(e)
        return
    hexline = re.compile(r"^([0-9a-f]{4}):((?: [0-9a-f]{2}){1,16})\s*(\S.*)?$")
    blocks, cur = [], None
    for line in lines:
        mo = hexline.match(line)
        if mo:
            if cur is None:
                cur = bytearray()
                blocks.append(cur)
            if int(mo.group(1), 16) != len(cur):
                ok(False, "hex offsets in the man page are consecutive")
                diag(line)
                return
            cur += bytes(int(x, 16) for x in mo.group(2).split())
        else:
            cur = None
    msgs = []
    for blk in blocks:
        try:
            msgs.append(P.decode(bytes(blk)))
        except P.ProtoError as e:
            ok(False, "every hex dump in the man page decodes")
            diag(e)
            return
    ok(len(msgs) == 4, "the man page shows four messages (got %d)"
       % len(msgs))
    if len(msgs) != 4:
        return
    hello, hreply, pull, preply = msgs
    ok(hello.op == P.HELLO and hello.id == 1 and hello.text == "w0",
       "the first is a hello, id 1, from worker \"w0\"")
    ok(hreply.op == P.REPLY and hreply.id == 1 and hreply.arg == 1 and
       [(t.name, t.shape) for t in hreply.tensors] ==
       [("b", (2,)), ("__resume/0f1e2d3c4b5a69788796a5b4c3d2e1f0", ())],
       "the second replies with worker id 1, the model's one name and the "
       "resume secret")
    ok(pull.op == P.PULL and pull.id == 2 and
       [t.name for t in pull.tensors] == ["b"],
       "the third pulls \"b\" with id 2")
    ok(preply.op == P.REPLY and preply.id == 2 and
       preply.version == hreply.version and
       np.array_equal(preply.named()["b"], np.array([0.5, -1.0],
                                                   dtype=np.float32)),
       "the fourth returns b = [0.5, -1.0] at the same version")


LIVE_TESTS = 10


def live_server():
    """What psctl-protocol(7) promises, against a real psctl serve."""
    if importlib.util.find_spec("websocket") is None:
        T.skip(LIVE_TESTS, "no python3-websocket")
        return
    srv = T.Server("--rule", "sgd", "--lr", "0.5")
    live_checks(srv.url)
    srv.stop()


def live_checks(url):
    import websocket
    ws = P.connect(url)
    m = P.call(ws, P.encode(P.PULL, id=1))
    ok(m.op == P.ERROR and m.id == 1 and m.status == P.E_PROTOCOL,
       "live: a pull before HELLO is answered with error protocol")
    m = P.call(ws, P.encode(P.HELLO, id=2, text="w0"))
    secret = m.tensors[-1].name if m.tensors else ""
    ok(m.op == P.REPLY and m.id == 2 and m.arg != 0 and m.version == 0 and
       len(m.tensors) == 1 and re.fullmatch("__resume/[0-9a-f]{32}", secret)
       and m.tensors[0].dtype == P.NONE and m.tensors[0].shape == () and
       m.text.startswith("psctl "),
       "live: HELLO gets a worker id, version 0 and only its resume secret "
       "before INIT")
    wid = m.arg
    b = np.array([0.5, -1.0], dtype=np.float32)
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    m = P.call(ws, P.encode(P.INIT, id=3, records=[("b", b),
                                                   ("w", w, P.F16)]))
    ok(m.op == P.REPLY and [(t.name, t.dtype, t.shape) for t in m.tensors]
       == [("b", P.F32, (2,)), ("w", P.F32, (2, 3))] and
       np.array_equal(m.named()["w"], w),
       "live: INIT's reply is the model, F32, in the order given")
    v0 = m.version
    g = np.array([1.0, 2.0], dtype=np.float32)
    m = P.call(ws, P.encode(P.PUSH, id=4, version=v0, arg=1,
                            records=[("b", g)]))
    ok(m.op == P.REPLY and m.version == v0 + 1,
       "live: an accepted push raises the model version by one")
    m = P.call(ws, P.encode(P.PUSH, id=5, arg=1, records=[("b", g)]))
    ok(m.op == P.REPLY and m.version == v0 + 1 and "duplicate" in m.text,
       "live: a push repeating sequence number 1 is not applied again")
    m = P.call(ws, P.encode(P.PULL, id=6, records=[("w", None),
                                                   ("b", None)]))
    ok(m.op == P.REPLY and [t.name for t in m.tensors] == ["b", "w"] and
       np.array_equal(m.named()["b"], b - np.float32(0.5) * g),
       "live: a pull answers in model order with sgd applied once")
    m = P.call(ws, P.raw_header(P.PULL, id=7, count=1) +
               P.raw_record("b", P.NONE, name_fill=1))
    ok(m.op == P.ERROR and m.id == 7 and m.status == P.E_MALFORMED and
       "record 0 at byte 49" in m.text,
       "live: non-zero name padding is refused, naming record 0, byte 49")
    ws.send("a text frame")
    try:
        op, data = ws.recv_data(control_frame=True)
    except websocket.WebSocketException:
        op, data = None, b""
    ok(op == 8 and struct.unpack(">H", data[:2])[0] == 1003,
       "live: a text message closes the connection with 1003")
    ws.close()
    ws = P.connect(url)
    m = P.call(ws, P.encode(P.HELLO, id=1, arg=wid))
    ok(m.op == P.ERROR and m.status == P.E_UNAUTHORIZED,
       "live: HELLO resuming without the secret is refused: unauthorized")
    m = P.call(ws, P.encode(P.HELLO, id=2, arg=wid,
                            records=[(secret, None)]))
    ok(m.op == P.REPLY and m.arg == wid and m.version == v0 + 1 and
       [(t.name, t.dtype, t.shape) for t in m.tensors] ==
       [("b", P.NONE, (2,)), ("w", P.NONE, (2, 3)), (secret, P.NONE, ())],
       "live: HELLO with the secret resumes the worker and lists names "
       "and shapes, then the secret")
    ws.close()


def main():
    c_fixtures()
    py_fixtures()
    refusals()
    man_examples()
    live_server()
    T.done()


main()
