"""A psctl client written from psctl-protocol(7) alone, standard library
only: its own RFC 6455 handshake and masking, the worker protocol's
encoding, and the control protocol's JSON.  tests/t-page-client.py runs
it against a live server to check that the page says enough and says it
right: where this file had to guess, the page was fixed.

    c = Worker(port, name="w0", token=None)   # HELLO done: c.id, c.hello
    c.init({"b": ([2], [0.5, -1.0])})         # {name: (shape, floats)}
    version, model = c.pull()                  # model: {name: (shape, l)}
    c.push({"b": ([2], [1.0, 1.0])}, seq=1)    # the new version
    r = c.request(OP_PULL, version=7)          # a Msg, REPLY or ERROR
    k = Control(port, token=None); k.call("status")["result"]
"""

import base64
import hashlib
import json
import os
import socket
import struct

WORKER, CONTROL = "psctl.worker.v1", "psctl.control.v1"
MAGIC = b"PSW1"
OP_HELLO, OP_INIT, OP_PULL, OP_PUSH, OP_REPLY, OP_ERROR = 1, 2, 3, 4, 16, 17
NONE, F32 = 0, 1
ERRORS = ["ok", "malformed", "unknown_op", "too_large", "no_model",
          "mismatch", "unknown_tensor", "shape", "nonfinite", "dtype",
          "protocol", "shutdown", "internal", "duplicate", "busy",
          "unauthorized"]
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Refused(Exception):
    """The handshake was answered with an HTTP status other than 101."""

    def __init__(self, status):
        super().__init__("HTTP %s" % status)
        self.status = status


class Closed(Exception):
    """The server closed the WebSocket: code (None if TCP just ended)."""

    def __init__(self, code):
        super().__init__("closed %s" % code)
        self.code = code


def pad8(n):
    return (n + 7) & ~7


def frame(op, payload, fin=True):
    """A client frame masked with a random key, and its header's length
    (the key included)."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | op])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    key = os.urandom(4)
    masked = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
    return head + key + masked, len(head) + 4


class Socket:
    """One WebSocket: handshake, masked frames out, messages in."""

    def __init__(self, port, protocol, token=None, timeout=10):
        self.s = socket.create_connection(("127.0.0.1", port),
                                          timeout=timeout)
        key = base64.b64encode(os.urandom(16))
        req = [b"GET / HTTP/1.1", b"Host: 127.0.0.1:%d" % port,
               b"Upgrade: websocket", b"Connection: Upgrade",
               b"Sec-WebSocket-Key: " + key, b"Sec-WebSocket-Version: 13",
               b"Sec-WebSocket-Protocol: " + protocol.encode()]
        if token is not None:
            req.append(b"Authorization: Bearer " + token.encode())
        self.s.sendall(b"\r\n".join(req) + b"\r\n\r\n")
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            if not self._more():
                raise Refused(None)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        if status != 101:
            raise Refused(status)
        hdr = dict((k.strip().lower(), v.strip()) for k, v in
                   (ln.split(":", 1) for ln in lines[1:] if ":" in ln))
        want = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
        if hdr.get("sec-websocket-accept") != want or \
                hdr.get("sec-websocket-protocol") != protocol:
            raise Refused(status)

    def _more(self):
        d = self.s.recv(1 << 16)
        self.buf += d
        return bool(d)

    def _take(self, n):
        while len(self.buf) < n:
            if not self._more():
                raise Closed(None)
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def send(self, op, payload):
        """One frame, FIN set, masked with a random key."""
        self.s.sendall(frame(op, payload)[0])

    def recv(self):
        """(opcode, payload) of the next message; answers pings."""
        first, parts = None, []
        while True:
            b0, b1 = self._take(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._take(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._take(8))[0]
            if b1 & 0x80:
                raise Closed(1002)      # the server masks nothing
            data = self._take(n)
            op = b0 & 0x0F
            if op == 0x8:
                raise Closed(struct.unpack("!H", data[:2])[0]
                             if len(data) >= 2 else None)
            if op == 0x9:
                self.send(0xA, data)
                continue
            if op == 0xA:
                continue
            if first is None:
                first = op
            parts.append(data)
            if b0 & 0x80:
                return first, b"".join(parts)

    def close(self):
        self.s.close()


class Msg:
    """A decoded worker message."""

    def __init__(self, op, status, id, version, arg, text, tensors):
        self.op, self.status, self.id = op, status, id
        self.version, self.arg, self.text = version, arg, text
        self.tensors = tensors          # [(name, dtype, shape, floats)]

    @property
    def error(self):
        return ERRORS[self.status] if self.op == OP_ERROR else None


def encode(op, id, version=0, arg=0, text="", records=(), status=0,
           flags=0):
    """records: (name, shape, floats) or (name, None, None) for a name."""
    t = text.encode()
    out = MAGIC + struct.pack("<BBHQQQII", op, flags, status, id, version,
                              arg, len(records), len(t))
    out += t + b"\0" * (pad8(len(t)) - len(t))
    for name, shape, data in records:
        nb = name.encode()
        shape = list(shape or [])
        dtype = NONE if data is None else F32
        out += struct.pack("<HBBI", len(nb), dtype, len(shape), 0)
        out += b"".join(struct.pack("<Q", d) for d in shape)
        out += nb + b"\0" * (pad8(len(nb)) - len(nb))
        if data is not None:
            raw = struct.pack("<%df" % len(data), *data)
            out += raw + b"\0" * (pad8(len(raw)) - len(raw))
    return out


def decode(buf):
    if buf[:4] != MAGIC:
        raise ValueError("bad magic")
    op, _, status, id, version, arg, count, tl = struct.unpack_from(
        "<BBHQQQII", buf, 4)
    text = buf[40:40 + tl].decode()
    off = 40 + pad8(tl)
    tensors = []
    for _ in range(count):
        nl, dtype, ndim, _ = struct.unpack_from("<HBBI", buf, off)
        off += 8
        shape = list(struct.unpack_from("<%dQ" % ndim, buf, off))
        off += 8 * ndim
        name = buf[off:off + nl].decode()
        off += pad8(nl)
        n = 1
        for d in shape:
            n *= d
        data = None
        if dtype == F32:
            data = list(struct.unpack_from("<%df" % n, buf, off))
            off += pad8(4 * n)
        tensors.append((name, dtype, shape, data))
    if off != len(buf):
        raise ValueError("bytes after the last record")
    return Msg(op, status, id, version, arg, text, tensors)


class Worker:
    """A psctl.worker.v1 connection that has said HELLO."""

    def __init__(self, port, name="w", token=None, resume=0, secret=None):
        self.ws = Socket(port, WORKER, token)
        self.next = 1
        recs = [(secret, None, None)] if secret else []
        self.hello = self.call(OP_HELLO, arg=resume, text=name,
                               records=recs)
        self.id = self.hello.arg
        # Names beginning with "__" are not model tensors.
        self.secret = next((t[0] for t in self.hello.tensors
                            if t[0].startswith("__resume/")), None)

    def send(self, op, **kw):
        rid = self.next
        self.next += 1
        self.ws.send(0x2, encode(op, rid, **kw))
        return rid

    def recv(self):
        op, data = self.ws.recv()
        if op != 0x2:
            raise ValueError("a message of opcode %d" % op)
        return decode(data)

    def request(self, op, **kw):
        rid = self.send(op, **kw)
        m = self.recv()
        if m.id != rid:
            raise ValueError("answer %d to request %d" % (m.id, rid))
        return m

    def call(self, op, **kw):
        m = self.request(op, **kw)
        if m.op == OP_ERROR:
            raise RuntimeError("%s: %s" % (m.error, m.text))
        return m

    def init(self, model):
        return self.call(OP_INIT, records=[(k, s, d) for k, (s, d) in
                                           model.items()]).version

    def pull(self, names=()):
        m = self.call(OP_PULL, records=[(n, None, None) for n in names])
        return m.version, {t[0]: (t[2], t[3]) for t in m.tensors}

    def push(self, update, seq=0):
        return self.call(OP_PUSH, arg=seq, records=[
            (k, s, d) for k, (s, d) in update.items()]).version

    def close(self):
        self.ws.close()


class Control:
    """A psctl.control.v1 connection."""

    def __init__(self, port, token=None):
        self.ws = Socket(port, CONTROL, token)
        self.next = 1

    def send_text(self, data):
        self.ws.send(0x1, data)

    def recv(self):
        op, data = self.ws.recv()
        if op != 0x1:
            raise ValueError("a message of opcode %d" % op)
        return json.loads(data.decode())

    def call(self, cmd, **fields):
        rid = self.next
        self.next += 1
        self.send_text(json.dumps(dict(id=rid, cmd=cmd, **fields)).encode())
        while True:
            m = self.recv()
            if m.get("id") == rid:
                return m
