"""A WebSocket client on a bare socket, for tests that need every byte.

pstest's clients go through python3-websocket, which only sends what RFC
6455 allows; tests of the server's framing checks and handshake refusals
need to send what it does not (unmasked frames, RSV bits, reserved
opcodes, oversized control frames, lengths that lie) and to see exactly
what comes back (an HTTP status, a close code, or a dropped connection).

    import rawws
    c = rawws.Conn(port, protocol="psctl.worker.v1", token=None)
    c.status                     # the handshake's HTTP status (101 ...)
    c.send(rawws.frame(rawws.BINARY, payload))      # masked, FIN set
    c.send(rawws.frame(rawws.PING, b"x" * 126))     # any length
    c.send(rawws.frame(rawws.BINARY, b"", mask=False, rsv=4, fin=False))
    fin, op, data = c.recv_frame()                  # None at EOF
    c.wait_close()               # (code, reason), or (None, "dropped")

protocol may be a str (one subprotocol), a list (sent comma-separated,
in one header) or None (no Sec-WebSocket-Protocol header at all).
early is sent right behind the handshake, in the same write; tls=True
speaks TLS (certificate not verified).
"""

import base64
import os
import socket
import struct

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def frame(op, payload=b"", fin=True, mask=True, rsv=0, length=None,
          key=None):
    """One frame's bytes.  rsv is the three RSV bits as a number 0-7;
    length overrides the announced payload length (the payload sent is
    still payload); key is the 4-byte mask (random by default)."""
    payload = bytes(payload)
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (op & 0xF)
    m = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, m | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", b0, m | 126, n)
    else:
        head = struct.pack("!BBQ", b0, m | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4) if key is None else key
    body = bytes(c ^ key[i & 3] for i, c in enumerate(payload)) \
        if len(payload) < 4096 else _mask_big(payload, key)
    return head + key + body


def _mask_big(payload, key):
    import numpy as np
    p = np.frombuffer(payload, dtype=np.uint8)
    k = np.resize(np.frombuffer(key, dtype=np.uint8), len(p))
    return (p ^ k).tobytes()


def request(port, protocol="psctl.worker.v1", token=None, extra=()):
    """The bytes of an opening handshake (see Conn for protocol)."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = ["GET / HTTP/1.1", "Host: 127.0.0.1:%d" % port,
             "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"]
    if isinstance(protocol, (list, tuple)):
        lines.append("Sec-WebSocket-Protocol: " + ", ".join(protocol))
    elif protocol is not None:
        lines.append("Sec-WebSocket-Protocol: " + protocol)
    if token is not None:
        lines.append("Authorization: Bearer " + token)
    lines.extend(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Conn:
    """One TCP connection to 127.0.0.1:port, handshake done (or refused:
    then status is not 101, and body holds what the server answered)."""

    def __init__(self, port, protocol="psctl.worker.v1", token=None,
                 extra=(), timeout=10, early=b"", tls=False):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        if tls:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            self.sock = ctx.wrap_socket(self.sock)
        self.buf = b""
        self.sock.sendall(request(port, protocol, token, extra) + early)
        self.status = None
        self.headers = {}
        self.body = b""
        head = self._until(b"\r\n\r\n")
        if head is None:
            return
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        self.status = int(parts[1]) if len(parts) > 1 else None
        for ln in lines[1:]:
            if ":" in ln:
                k, v = ln.split(":", 1)
                self.headers[k.strip().lower()] = v.strip()
        if self.status != 101:
            n = int(self.headers.get("content-length", "0") or 0)
            while len(self.buf) < n and self._more():
                pass
            self.body, self.buf = self.buf[:n], self.buf[n:]

    def _more(self):
        try:
            d = self.sock.recv(65536)
        except (ConnectionError, socket.timeout, OSError):
            return False
        if not d:
            return False
        self.buf += d
        return True

    def _until(self, sep):
        while sep not in self.buf:
            if not self._more():
                return None
        i = self.buf.index(sep)
        head, self.buf = self.buf[:i], self.buf[i + len(sep):]
        return head

    def _take(self, n):
        while len(self.buf) < n:
            if not self._more():
                return None
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def send(self, data):
        """Sends bytes; False when the server has already gone."""
        try:
            self.sock.sendall(data)
            return True
        except (ConnectionError, OSError):
            return False

    def recv_frame(self):
        """(fin, opcode, payload) of the next frame; None at EOF."""
        h = self._take(2)
        if h is None:
            return None
        fin, op, n = h[0] >> 7, h[0] & 0xF, h[1] & 0x7F
        if n == 126:
            x = self._take(2)
            if x is None:
                return None
            n = struct.unpack("!H", x)[0]
        elif n == 127:
            x = self._take(8)
            if x is None:
                return None
            n = struct.unpack("!Q", x)[0]
        if h[1] & 0x80:
            if self._take(4) is None:
                return None
        d = self._take(n)
        if d is None:
            return None
        return fin, op, d

    def message(self):
        """The next data message, reassembled: (opcode, payload), or a
        (CLOSE, payload) / (PONG, payload) frame, or None at EOF."""
        first, parts = None, []
        while True:
            f = self.recv_frame()
            if f is None:
                return None
            fin, op, d = f
            if op in (CLOSE, PONG, PING):
                return op, d
            if first is None:
                first = op
            parts.append(d)
            if fin:
                return first, b"".join(parts)

    def wait_close(self):
        """Reads until the server closes: (code, reason) of its close
        frame, or (None, "dropped") when the TCP connection ends without
        one."""
        while True:
            f = self.recv_frame()
            if f is None:
                return None, "dropped"
            if f[1] == CLOSE:
                d = f[2]
                code = struct.unpack("!H", d[:2])[0] if len(d) >= 2 \
                    else None
                return code, d[2:].decode("utf-8", "replace")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
