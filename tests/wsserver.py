#!/usr/bin/python3
"""A WebSocket peer for psctl's client tests (t-wsc, t-client).

Two listeners on 127.0.0.1, ports printed as "PORT RAWPORT" on stdout once
both are ready; the process exits when its stdin reaches end of file, so a
crashed test never leaves it behind.

PORT is a python3-websockets server (an independent RFC 6455
implementation); the request path picks the behaviour:
    /echo            echo every message with its type
    /fragment/N      echo each message as N fragments
    /ping            ping first, then echo "pong-ok" or "pong-missing"
    /close/CODE      after the first message, close with CODE
    /auth            like /echo, but 401 unless "Authorization: Bearer secret"
    /silent          read messages, never answer
    /psctl           a fake psctl server (tests/psproto.py), see FakeModel

RAWPORT is a hand-written server for what websockets will not produce:
    /bad-accept      101 with a wrong Sec-WebSocket-Accept
    /no-protocol     101 without the subprotocol that was asked for
    /status/CODE     answers HTTP CODE
    /no-answer       accepts TCP, never answers the handshake
    /huge-frame      a valid handshake, then a frame header of 2**40 bytes
    /masked          a masked frame (servers must not mask)
    /rsv             a frame with a reserved bit set
    /opcode          a frame with opcode 3
    /big-control     a ping of 126 bytes
    /frag-control    a ping without FIN
    /cont            a continuation frame with no message
    /slow-frame      after the first message, a binary message of 192 KiB
                     (byte i is i % 251) sent 4 KiB every 0.1 s
    /stall-frame     after the first message, the header of a binary
                     message of 192 KiB and 4 KiB of it, then 4 KiB more
                     twice, 0.5 s apart, then nothing

Options: --tls CERT KEY serves PORT over TLS.
"""

import asyncio
import base64
import hashlib
import http
import logging
import os
import ssl
import struct
import sys

import websockets

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PROTOCOLS = ["test.v1", "psctl.worker.v1"]


async def echo(ws):
    async for msg in ws:
        await ws.send(msg)


async def handler(ws, path=None):
    path = path if path is not None else ws.path
    if path in ("/echo", "/auth"):
        await echo(ws)
    elif path.startswith("/fragment/"):
        n = int(path.split("/")[2])
        async for msg in ws:
            step = max(1, -(-len(msg) // n))
            parts = [msg[i:i + step] for i in range(0, len(msg), step)]
            while len(parts) < n:
                parts.append(msg[:0])
            await ws.send(parts)
    elif path == "/ping":
        async for msg in ws:
            waiter = await ws.ping(b"are you there")
            try:
                await asyncio.wait_for(waiter, 5)
                await ws.send("pong-ok")
            except asyncio.TimeoutError:
                await ws.send("pong-missing")
    elif path.startswith("/close/"):
        code = int(path.split("/")[2])
        await ws.recv()
        await ws.close(code=code, reason="bye")
    elif path == "/silent":
        async for msg in ws:
            pass
    elif path == "/psctl":
        import psproto  # tests/psproto.py, on PYTHONPATH
        await FakeModel(psproto).serve(ws)
    else:
        await ws.close(code=4004, reason="unknown path")


class FakeModel:
    """Just enough of a psctl server to exercise libpsctl: hello, init
    (first writer wins, a second init must match), pull of all or some
    tensors, push (w += u), ERROR replies for what it refuses.  Built on
    tests/psproto.py, written from the protocol's manual."""

    model = None        # shared by connections: name -> float32 array
    version = 0
    next_worker = 1
    secrets = {}        # worker id -> its "__resume/..." secret

    def __init__(self, psproto):
        self.p = psproto

    async def serve(self, ws):
        async for raw in ws:
            await ws.send(self.handle(raw))

    def error(self, m, status, text):
        return self.p.encode(self.p.ERROR, id=m.id, status=status, text=text)

    def handle(self, raw):
        import numpy as np
        p = self.p
        cls = FakeModel
        try:
            m = p.decode(raw)
        except p.ProtoError as e:
            return p.encode(p.ERROR, id=0, status=e.code, text=str(e))
        if m.op == p.HELLO:
            wid = m.arg
            if wid in cls.secrets:
                if [t.name for t in m.tensors] != [cls.secrets[wid]]:
                    return self.error(m, p.E_UNAUTHORIZED, "wrong resume "
                                      "secret")
            else:
                wid = cls.next_worker
                cls.next_worker += 1
                cls.secrets[wid] = "__resume/" + os.urandom(16).hex()
            recs = [(n, None, a.shape) for n, a in (cls.model or {}).items()]
            recs.append((cls.secrets[wid], None))
            return p.encode(p.REPLY, id=m.id, arg=wid, version=cls.version,
                            text="fake psctl for %s" % m.text, records=recs)
        if m.op == p.INIT:
            if cls.model is None:
                cls.model = {t.name: np.array(t.array, dtype="<f4")
                             for t in m.tensors}
            elif [(t.name, tuple(t.shape)) for t in m.tensors] != \
                    [(n, a.shape) for n, a in cls.model.items()]:
                return self.error(m, p.E_MISMATCH, "init differs from "
                                  "the model")
            return p.encode(p.REPLY, id=m.id, version=cls.version,
                            records=list(cls.model.items()))
        if m.op in (p.PULL, p.PUSH) and cls.model is None:
            return self.error(m, p.E_NO_MODEL, "no model yet")
        names = [t.name for t in m.tensors]
        for n in names:
            if n not in cls.model:
                return self.error(m, p.E_UNKNOWN_TENSOR,
                                  "no tensor named %s" % n)
        if m.op == p.PULL:
            names = names or list(cls.model)
            return p.encode(p.REPLY, id=m.id, version=cls.version,
                            records=[(n, cls.model[n]) for n in names])
        if m.op == p.PUSH:
            for t in m.tensors:
                if tuple(t.shape) != cls.model[t.name].shape:
                    return self.error(m, p.E_SHAPE, "tensor %s: shape %s, "
                                      "the model's is %s" % (
                                          t.name, list(t.shape),
                                          list(cls.model[t.name].shape)))
                if not np.all(np.isfinite(t.array)):
                    return self.error(m, p.E_NONFINITE, "tensor %s: "
                                      "non-finite values" % t.name)
            for t in m.tensors:
                cls.model[t.name] = (cls.model[t.name] +
                                     t.array).astype("<f4")
            cls.version += 1
            return p.encode(p.REPLY, id=m.id, version=cls.version)
        return self.error(m, p.E_UNKNOWN_OP, "op %d" % m.op)


async def check_auth(path, headers):
    if path == "/auth" and headers.get("Authorization") != "Bearer secret":
        return http.HTTPStatus.UNAUTHORIZED, [], b"bad token\n"
    return None


def accept_of(key):
    digest = hashlib.sha1((key + GUID).encode()).digest()
    return base64.b64encode(digest).decode()


async def raw_handler(reader, writer):
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        writer.close()
        return
    lines = head.decode("latin-1").split("\r\n")
    path = lines[0].split(" ")[1]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    key = headers.get("sec-websocket-key", "")
    proto = headers.get("sec-websocket-protocol")
    if path == "/no-answer":
        await reader.read()
        writer.close()
        return
    if path.startswith("/status/"):
        code = int(path.split("/")[2])
        writer.write(("HTTP/1.1 %d Test Status\r\nContent-Length: 0\r\n"
                      "Connection: close\r\n\r\n" % code).encode())
        await writer.drain()
        writer.close()
        return
    accept = accept_of(key)
    if path == "/bad-accept":
        accept = accept_of(key + "x")
    resp = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n" % accept)
    if proto and path != "/no-protocol":
        resp += "Sec-WebSocket-Protocol: %s\r\n" % proto.split(",")[0]
    writer.write((resp + "\r\n").encode())
    frames = {
        "/huge-frame": bytes([0x82, 127]) + struct.pack(">Q", 1 << 40),
        "/masked": bytes([0x82, 0x83, 1, 2, 3, 4, 5, 6, 7]),
        "/rsv": bytes([0xc2, 1, 0]),
        "/opcode": bytes([0x83, 1, 0]),
        "/big-control": bytes([0x89, 126]) + struct.pack(">H", 126) +
        bytes(126),
        "/frag-control": bytes([0x09, 1, 0]),
        "/cont": bytes([0x80, 1, 0]),
    }
    if path in frames:
        # Wait for the client's first message, so it is in recv().
        await reader.read(2)
        writer.write(frames[path])
    if path == "/slow-frame":
        await reader.read(2)
        n = 192 << 10
        data = bytes([0x82, 127]) + struct.pack(">Q", n) + \
            bytes(i % 251 for i in range(n))
        for i in range(0, len(data), 4096):
            writer.write(data[i:i + 4096])
            await writer.drain()
            await asyncio.sleep(0.1)
    if path == "/stall-frame":
        await reader.read(2)
        writer.write(bytes([0x82, 127]) + struct.pack(">Q", 192 << 10) +
                     bytes(4096))
        for _ in range(2):
            await writer.drain()
            await asyncio.sleep(0.5)
            writer.write(bytes(4096))
    await writer.drain()
    try:
        await reader.read()
    except ConnectionError:
        pass
    writer.close()


async def main():
    logging.getLogger("websockets").setLevel(logging.CRITICAL)
    ctx = None
    args = sys.argv[1:]
    if len(args) >= 3 and args[0] == "--tls":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args[1], args[2])
    server = await websockets.serve(
        handler, "127.0.0.1", 0, subprotocols=PROTOCOLS, max_size=None,
        ping_interval=None, process_request=check_auth, ssl=ctx,
        compression=None)
    raw = await asyncio.start_server(raw_handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    rawport = raw.sockets[0].getsockname()[1]
    print("%d %d" % (port, rawport), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.buffer.read)
    os._exit(0)


if __name__ == "__main__":
    asyncio.run(main())
