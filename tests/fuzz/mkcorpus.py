#!/usr/bin/python3
"""Writes the fuzz harnesses' seed corpora (tests/fuzz/corpus/NAME/), from
the test data and the independent encoders the tests already trust:

    PYTHONPATH=tests /usr/bin/python3 tests/fuzz/mkcorpus.py [OUTDIR]

    proto       the worker messages of tests/data/proto-*.bin, and more
                encoded by tests/psproto.py (every op, F16, BF16, empty and
                scalar tensors, resume and sequence numbers)
    checkpoint  tests/data/*.safetensors, and more written by
                tests/mksafetensors.py (each rule with its parameters and
                state, psctl.tensors with versions and steps, F16/BF16/F64)
    control     requests as psctl writes them, replies and events as the
                server writes them, STATUS from tests/data/snap-*.json
    wsframe     a settings byte (tests/fuzz/fuzz-wsframe.c), then a
                server's handshake answer and frames, or frames alone

Seeds are small on purpose (a few KB at most): libFuzzer grows
them.  The committed corpus is this script's output; rerun it when a
format changes.
"""

import base64
import hashlib
import json
import os
import shutil
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
DATA = os.path.join(TESTS, "data")
sys.path.insert(0, TESTS)
import mksafetensors as S  # noqa: E402
import psproto as P  # noqa: E402


def put(outdir, kind, name, blob):
    d = os.path.join(outdir, kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(blob)


def proto(outdir):
    for f in sorted(os.listdir(DATA)):
        if f.startswith("proto-") and f.endswith(".bin"):
            shutil.copy(os.path.join(DATA, f),
                        os.path.join(outdir, "proto", f[len("proto-"):]))
    k = np.array([[1.0, -2.0], [0.5, 3.0]], dtype=np.float32)
    h = np.array([1.0, -0.0, 65504.0, 2.0 ** -24], dtype=np.float16)
    msgs = {
        "hello-resume": dict(op=P.HELLO, id=9, arg=4, text=""),
        "init-f16": dict(op=P.INIT, id=2, records=[("w", h)]),
        "init-bf16": dict(op=P.INIT, id=2,
                          records=[("w", np.array([1.0, -3.0],
                                                  dtype=np.float32), P.BF16),
                                   ("s", np.array(2.5, dtype=np.float32))]),
        "push-seq": dict(op=P.PUSH, id=7, version=12, arg=3,
                         records=[("dense/kernel", k)]),
        "push-empty": dict(op=P.PUSH, id=8, version=1,
                           records=[("e", np.zeros((0, 2),
                                                   dtype=np.float32))]),
        "pull-all": dict(op=P.PULL, id=1),
        "reply-version": dict(op=P.REPLY, id=7, version=13),
        "error-busy": dict(op=P.ERROR, id=5, status=P.E_BUSY, text="busy"),
    }
    for name, kw in msgs.items():
        put(outdir, "proto", name + ".bin", P.encode(**kw))


def checkpoint(outdir):
    d = os.path.join(outdir, "checkpoint")
    for f in sorted(os.listdir(DATA)):
        if f.endswith(".safetensors"):
            shutil.copy(os.path.join(DATA, f), os.path.join(d, f))
    w = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    b = np.array([0.25], dtype=np.float32)

    def ps(rule, params, tensors, version="5"):
        return {"format": "pt", "psctl.version": "0.1.0",
                "psctl.model_version": version, "psctl.rule": rule,
                "psctl.rule_params": json.dumps(params,
                                                separators=(",", ":")),
                "psctl.mode": "sync",
                "psctl.tensors": json.dumps(tensors, separators=(",", ":"))}

    order = [{"name": "w", "version": 5, "steps": 3},
             {"name": "b", "version": 2, "steps": 1}]
    model = [("w", "F32", (3,), w), ("b", "F32", (1,), b)]
    seeds = {
        "add": (model, ps("add", {}, order)),
        "sgd": (model, ps("sgd", {"lr": 0.05}, order)),
        "momentum": (model + [("__psctl.m.w", "F32", (3,), w / 2),
                              ("__psctl.m.b", "F32", (1,), b / 2)],
                     ps("momentum", {"lr": 0.01, "momentum": 0.9,
                                     "nesterov": True}, order)),
        "adam": (model + [("__psctl.m.w", "F32", (3,), w / 4),
                          ("__psctl.v.w", "F32", (3,), w * w),
                          ("__psctl.m.b", "F32", (1,), b / 4),
                          ("__psctl.v.b", "F32", (1,), b * b)],
                 ps("adam", {"lr": 0.001, "beta1": 0.9, "beta2": 0.999,
                             "eps": 1e-08}, order)),
        "halves": ([("h", "F16", (2, 2),
                     np.array([1, -2, 0.5, 0], dtype=np.float16)),
                    ("g", "BF16", (2,),
                     np.array([0x3F80, 0xC000], dtype=np.uint16)),
                    ("d", "F64", (), np.array([0.125]))],
                   ps("elephas", {}, [{"name": "h"}, {"name": "g"},
                                      {"name": "d"}], version="0")),
    }
    for name, (tensors, meta) in seeds.items():
        S.write(os.path.join(d, name + ".safetensors"), tensors, psctl=meta)
    # No psctl metadata at all, keys out of data order.
    S.write(os.path.join(d, "foreign.safetensors"),
            [("x", "F32", (1, 2), np.array([1.0, 2.0], dtype=np.float32)),
             ("e", "F32", (0,), np.zeros(0, dtype=np.float32))],
            metadata={"format": "np"}, header_order=["e", "x"])


def control(outdir):
    reqs = [
        {"id": 1, "cmd": "status"},
        {"id": 2, "cmd": "subscribe", "interval": 0.5},
        {"id": 3, "cmd": "unsubscribe"},
        {"id": 4, "cmd": "checkpoint", "name": "before-lr-drop"},
        {"id": 5, "cmd": "reset", "name": "ckpt-000042.safetensors"},
        {"id": 6, "cmd": "stop", "checkpoint": True},
        {"id": -7, "cmd": "reset", "name": None},
    ]
    for r in reqs:
        put(outdir, "control", "req-%s-%d.json" % (r["cmd"], abs(r["id"])),
            json.dumps(r, separators=(",", ":")).encode())
    results = {
        "subscribe": {"interval": 1.0},
        "checkpoint": {"path": "/var/lib/psctl/x.safetensors",
                       "model_version": 812, "bytes": 4000128,
                       "seconds": 0.021},
        "reset": {"from": "initial", "model_version": 813},
        "stop": {"stopping": True, "checkpoint": None},
    }
    for i, (cmd, res) in enumerate(results.items()):
        put(outdir, "control", "reply-%s.json" % cmd,
            json.dumps({"id": i + 2, "ok": True, "result": res},
                       separators=(",", ":")).encode())
    put(outdir, "control", "reply-error.json", json.dumps(
        {"id": None, "ok": False, "error": {
            "code": "bad_request", "message": "\"interval\" must be a "
            "number of seconds from 0.1 to 60"}}).encode())
    put(outdir, "control", "event-other.json",
        b'{"event":"goodbye","reason":"stopping"}')
    for f in ("snap-empty.json", "snap-ssp.json", "snap-async-1.json"):
        with open(os.path.join(DATA, f)) as fp:
            st = json.load(fp)
        put(outdir, "control", "status-" + f[len("snap-"):],
            json.dumps({"id": 1, "ok": True, "result": st},
                       separators=(",", ":")).encode())
        put(outdir, "control", "event-" + f[len("snap-"):],
            json.dumps({"event": "snapshot", "seq": 3, "snapshot": st},
                       separators=(",", ":")).encode())


def frame(op, payload, fin=True, plen=None):
    n = len(payload) if plen is None else plen
    b = bytes([(0x80 if fin else 0) | op])
    if n < 126:
        b += bytes([n])
    elif n < 65536:
        b += bytes([126]) + struct.pack(">H", n)
    else:
        b += bytes([127]) + struct.pack(">Q", n)
    return b + payload


def wsframe(outdir):
    key = base64.b64encode(b"psctl fuzz nonce")
    acc = base64.b64encode(hashlib.sha1(
        key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    answer = (b"HTTP/1.1 101 Switching Protocols\r\n"
              b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Accept: " + acc + b"\r\n")
    proto = b"Sec-WebSocket-Protocol: psctl.worker.v1\r\n"
    msg = P.encode(op=P.REPLY, id=1, version=3, arg=1, text="psctl")
    seeds = {
        # settings byte: limit index (low 4 bits), 0x10 asks for a
        # subprotocol.
        "answer-frames": bytes([0x18]) + answer + proto + b"\r\n" +
        frame(2, msg) + frame(9, b"ping") + frame(8, b"\x03\xe8bye"),
        "answer-noproto": bytes([0x08]) + answer + b"\r\n" +
        frame(1, "grüße".encode()),
        "answer-401": bytes([0x08]) +
        b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n",
        "text": bytes([0x08]) + frame(1, b"Hello"),
        "fragments": bytes([0x08]) + frame(1, b"Hel", fin=False) +
        frame(9, b"") + frame(0, b"lo"),
        "binary-126": bytes([0x09]) + frame(2, bytes(200)),
        "binary-127": bytes([0x0c]) + frame(2, b"", plen=70000),
        "close-empty": bytes([0x03]) + frame(8, b"") + frame(10, b"x"),
        "too-big": bytes([0x02]) + frame(2, bytes(10)),
    }
    for name, blob in seeds.items():
        put(outdir, "wsframe", name, blob)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
    for kind in ("proto", "checkpoint", "control", "wsframe"):
        shutil.rmtree(os.path.join(out, kind), ignore_errors=True)
        os.makedirs(os.path.join(out, kind))
    proto(out)
    checkpoint(out)
    control(out)
    wsframe(out)


if __name__ == "__main__":
    main()
