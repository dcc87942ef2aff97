"""A small RFC 6455 client: the handshake and the framing, nothing else.

Built for large binary messages, as libpsctl's own framing is
(psctl-protocol(7), "Why the worker client frames its own messages"):

- Sending: the caller writes a message straight into :meth:`WebSocket.
  out_buffer`, an 8-byte aligned numpy byte array that sits right after
  room for the frame header; :meth:`WebSocket.send_out` masks it in place
  with one numpy XOR over a uint64 view (the four-byte key repeated twice)
  and hands header and payload to the kernel with one ``sendall``.  The
  caller's own arrays are copied once into the buffer and never touched.
- Receiving: frame headers are parsed from a small staging buffer; a
  payload is read with ``recv_into`` straight into its place in a
  reusable, 8-byte aligned message buffer, so a large message costs the
  kernel's copy and nothing else.  While a large payload arrives, the
  socket wakes the reader for 128 KiB at a time (SO_RCVLOWAT), not for
  every segment, as libpsctl does.  Pings are answered, continuation
  frames are joined, and a close frame ends the connection.

The message returned by :meth:`WebSocket.recv` is a view of that buffer:
valid until the next receive on this connection.
"""

import base64
import hashlib
import os
import random
import socket
import ssl
import struct
import urllib.parse

try:
    import fcntl
    import termios
except ImportError:             # not Unix: no SO_RCVLOWAT waits
    fcntl = None

import numpy as np

from .errors import AuthError, ConnectError, ProtocolError

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_HEAD = 16                      # room before the payload for a frame header
_STAGE = 1 << 16                # bytes read at a time for headers and small frames
_MAX_HANDSHAKE = 16384
_LOWAT = 128 << 10              # most bytes a payload read waits for

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA


class Closed(Exception):
    """The connection ended (EOF, a close frame, a broken framing)."""

    def __init__(self, why, code=None):
        self.code = code
        super().__init__(why)


def parse_url(url):
    """(secure, host, port, path) of a ws:// or wss:// URL; ValueError for
    anything else."""
    u = urllib.parse.urlsplit(url)
    if u.scheme not in ("ws", "wss") or not u.hostname:
        raise ValueError("not a ws:// or wss:// URL: %r" % (url,))
    try:
        port = u.port or (443 if u.scheme == "wss" else 80)
    except ValueError:
        raise ValueError("bad port in URL %r" % (url,)) from None
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    return u.scheme == "wss", u.hostname, port, path


def _aligned(n):
    """An 8-byte aligned, writable uint8 array of n bytes."""
    raw = np.empty(n + 64, dtype=np.uint8)
    off = (-raw.ctypes.data) % 64
    return raw[off:off + n]


class WebSocket:
    """One client connection, blocking, with ``timeout`` seconds (None for
    no limit) for the connect, each send and each receive."""

    def __init__(self, url, protocol, token=None, ca_file=None, timeout=30.0):
        self.url = url
        secure, host, port, path = parse_url(url)
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as e:
            raise ConnectError(url, _oserr(e)) from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if secure:
                ctx = ssl.create_default_context(cafile=ca_file)
                sock = ctx.wrap_socket(sock, server_hostname=host)
        except ssl.SSLError as e:
            sock.close()
            raise ConnectError(url, "TLS: %s" % (e.reason or e,)) from None
        except OSError as e:
            sock.close()
            raise ConnectError(url, _oserr(e)) from None
        self.sock = sock
        self._rng = random.Random(os.urandom(16))
        self._stage = bytearray(_STAGE)
        self._sview = memoryview(self._stage)
        self._s0 = 0            # unread bytes are _stage[_s0:_s1]
        self._s1 = 0
        self._msg = _aligned(_STAGE)
        self._out = _aligned(_HEAD + _STAGE)
        self._outmv = memoryview(self._out)
        # SO_RCVLOWAT on the socket: 1 (the kernel's default), or 0 where
        # it is never changed: under TLS socket bytes are not payload bytes.
        self._lowat = 1 if fcntl and not isinstance(sock, ssl.SSLSocket) \
            else 0
        self.closed = False
        try:
            self._handshake(host, port, path, protocol, token)
        except BaseException:
            self.close(abort=True)
            raise

    # -- handshake ------------------------------------------------------

    def _handshake(self, host, port, path, protocol, token):
        key = base64.b64encode(os.urandom(16)).decode()
        hostport = "[%s]" % host if ":" in host else host
        if port not in (80, 443):
            hostport += ":%d" % port
        req = ("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n"
               % (path, hostport, key, protocol))
        if token:
            if any(c in token for c in "\r\n"):
                raise ValueError("the token holds a line break")
            req += "Authorization: Bearer %s\r\n" % token
        req += "\r\n"
        try:
            self.sock.sendall(req.encode("latin-1"))
            while True:
                end = self._stage.find(b"\r\n\r\n", 0, self._s1)
                if end >= 0:
                    break
                if self._s1 >= _MAX_HANDSHAKE:
                    raise ConnectError(self.url, "the handshake answer is "
                                       "too long: not a psctl server?")
                n = self.sock.recv_into(self._sview[self._s1:])
                if n == 0:
                    raise ConnectError(self.url, "the server closed the "
                                       "connection during the handshake")
                self._s1 += n
        except ssl.SSLError as e:
            raise ConnectError(self.url, "TLS: %s" % (e.reason or e,)) \
                from None
        except socket.timeout:
            raise ConnectError(self.url, "no answer to the WebSocket "
                               "handshake") from None
        except OSError as e:
            raise ConnectError(self.url, _oserr(e)) from None
        head = bytes(self._stage[:end]).decode("latin-1").split("\r\n")
        self._s0 = end + 4
        status = head[0].split(" ", 2)
        if len(status) < 2 or not status[0].startswith("HTTP/"):
            raise ConnectError(self.url, "not an HTTP answer: %r" % head[0])
        code = status[1]
        if code in ("401", "403"):
            raise AuthError(self.url, int(code), "HTTP %s: %s" % (
                code, "no token or a wrong one" if code == "401" else
                "the token does not admit %s" % protocol))
        if code != "101":
            raise ConnectError(self.url, "HTTP %s instead of a WebSocket"
                               % " ".join(status[1:]))
        fields = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        want = base64.b64encode(hashlib.sha1(key.encode() + _GUID)
                                .digest()).decode()
        if fields.get("sec-websocket-accept") != want:
            raise ConnectError(self.url, "wrong Sec-WebSocket-Accept: not a "
                               "WebSocket server")
        if fields.get("sec-websocket-protocol") != protocol:
            raise ConnectError(self.url, "the server does not speak %s"
                               % protocol)
        if fields.get("sec-websocket-extensions"):
            raise ConnectError(self.url, "the server chose an extension")

    # -- sending --------------------------------------------------------

    def out_buffer(self, n):
        """A writable uint8 array of n bytes (n a multiple of 8) where the
        next outgoing message is built; valid until :meth:`send_out`."""
        if _HEAD + n > self._out.size:
            self._out = _aligned(_HEAD + max(n, 2 * (self._out.size - _HEAD)))
            self._outmv = memoryview(self._out)
        return self._out[_HEAD:_HEAD + n]

    def send_out(self, n, opcode=OP_BINARY):
        """Masks and sends the first n bytes of out_buffer() as one frame."""
        key = self._rng.getrandbits(32)
        if n < 126:
            hdr = struct.pack("!BBI", 0x80 | opcode, 0x80 | n, key)
        elif n < 65536:
            hdr = struct.pack("!BBHI", 0x80 | opcode, 0xFE, n, key)
        else:
            hdr = struct.pack("!BBQI", 0x80 | opcode, 0xFF, n, key)
        start = _HEAD - len(hdr)
        out = self._out
        out[start:_HEAD] = np.frombuffer(hdr, dtype=np.uint8)
        n8 = (n + 7) & ~7
        if n8 > n:
            out[_HEAD + n:_HEAD + n8] = 0
        if n8:
            w = out[_HEAD:_HEAD + n8].view(np.uint64)
            # The key's bytes in wire order, twice, as one little-endian word.
            k = int.from_bytes(struct.pack("!I", key) * 2, "little")
            np.bitwise_xor(w, np.uint64(k), out=w)
        self._sendall(self._outmv[start:_HEAD + n])

    def send(self, data, opcode=OP_BINARY):
        """Sends bytes as one frame (copied into the out buffer)."""
        n = len(data)
        buf = self.out_buffer((n + 7) & ~7)
        buf[:n] = np.frombuffer(data, dtype=np.uint8)
        self.send_out(n, opcode)

    def _sendall(self, mv):
        try:
            self.sock.sendall(mv)
        except socket.timeout:
            raise
        except OSError as e:
            self.close(abort=True)
            raise Closed("send: %s" % _oserr(e)) from None

    # -- receiving ------------------------------------------------------

    def _fill(self, need):
        """Makes at least `need` unread bytes available in the stage."""
        if self._s1 - self._s0 >= need:
            return
        if self._s0:
            left = self._s1 - self._s0
            self._stage[:left] = self._stage[self._s0:self._s1]
            self._s0, self._s1 = 0, left
        while self._s1 < need:
            n = self._recv_into(self._sview[self._s1:])
            self._s1 += n

    def _recv_into(self, mv):
        try:
            n = self.sock.recv_into(mv)
        except socket.timeout:
            raise
        except OSError as e:
            self.close(abort=True)
            raise Closed("receive: %s" % _oserr(e)) from None
        if n == 0:
            self.close(abort=True)
            raise Closed("the server closed the connection")
        return n

    def _read_into(self, dst, pos, n):
        """Reads n payload bytes into dst[pos:pos+n]: first what the stage
        holds, then straight from the socket."""
        have = min(n, self._s1 - self._s0)
        if have:
            dst[pos:pos + have] = np.frombuffer(
                self._stage, dtype=np.uint8, count=have, offset=self._s0)
            self._s0 += have
            pos += have
            n -= have
        if n == 0:
            return
        if n < _STAGE // 2:
            self._fill(n)
            dst[pos:pos + n] = np.frombuffer(
                self._stage, dtype=np.uint8, count=n, offset=self._s0)
            self._s0 += n
            return
        # First what has come, at once: the mark goes up only when the
        # reader has caught up with the sender, which a Python reader
        # seldom has, so most frames cost no setsockopt.
        mv = memoryview(dst)[pos:pos + n]
        got = self._recv_into(mv)
        while got < n:
            self._set_lowat(n - got)
            try:
                got += self._recv_into(mv[got:])
            except socket.timeout:
                # Bytes short of the mark are progress all the same.
                if self._lowat <= 1 or self._inq() == 0:
                    raise
                self._set_lowat(0)
                got += self._recv_into(mv[got:])
        self._set_lowat(0)

    def _set_lowat(self, left):
        """Makes the socket wake the reader when _LOWAT bytes of a payload
        with `left` bytes to come are waiting, or all of them if fewer;
        below _LOWAT / 2 (and for 0, after the payload) at every byte.
        Without it every segment the kernel queues wakes this thread,
        which on loopback the server pays for, in the softirq that queues
        it.  Only bytes the server must still send are waited for, and a
        timeout while fewer wait is no timeout (_read_into)."""
        if not self._lowat:
            return
        v = 1 if left < _LOWAT // 2 else min(left, _LOWAT)
        if v != self._lowat:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, v)
            except OSError:
                return
            self._lowat = v

    def _inq(self):
        """Bytes waiting in the socket (FIONREAD), 0 if unknown."""
        try:
            return struct.unpack("i", fcntl.ioctl(
                self.sock.fileno(), termios.FIONREAD, b"\0" * 4))[0]
        except OSError:
            return 0

    def _frame_header(self):
        self._fill(2)
        b0 = self._stage[self._s0]
        b1 = self._stage[self._s0 + 1]
        if b1 & 0x80:
            self._fail(1002, "the server masked a frame")
        if b0 & 0x70:
            self._fail(1002, "a reserved frame bit is set")
        n = b1 & 0x7F
        hl = 2
        if n == 126:
            hl = 4
            self._fill(hl)
            n = struct.unpack_from("!H", self._stage, self._s0 + 2)[0]
        elif n == 127:
            hl = 10
            self._fill(hl)
            n = struct.unpack_from("!Q", self._stage, self._s0 + 2)[0]
            if n >> 63:
                self._fail(1002, "a frame length with its top bit set")
        self._s0 += hl
        return b0 & 0x80, b0 & 0x0F, n

    def recv(self, max_size):
        """The next data message as (opcode, uint8 array view), the view
        valid until the next receive.  Raises Closed when the connection
        ends and ProtocolError (after closing) for broken framing or a
        message over max_size bytes."""
        opcode = None
        size = 0
        while True:
            fin, op, n = self._frame_header()
            if op >= 0x8:
                if not fin or n > 125:
                    self._fail(1002, "a fragmented or long control frame")
                payload = bytearray(n)
                if n:
                    self._read_into(np.frombuffer(payload, np.uint8), 0, n)
                self._control(op, bytes(payload))
                continue
            if op == OP_CONT:
                if opcode is None:
                    self._fail(1002, "a continuation frame with no message")
            elif op in (OP_TEXT, OP_BINARY):
                if opcode is not None:
                    self._fail(1002, "a new message inside a fragmented one")
                opcode = op
            else:
                self._fail(1002, "unknown frame opcode %d" % op)
            if size + n > max_size:
                self._fail(1009, "a message of more than %d bytes" % max_size)
            if size + n > self._msg.size:
                grown = _aligned(max(size + n, 2 * self._msg.size))
                grown[:size] = self._msg[:size]
                self._msg = grown
            self._read_into(self._msg, size, n)
            size += n
            if fin:
                return opcode, self._msg[:size]

    def _control(self, op, payload):
        if op == OP_PING:
            self.send(payload, OP_PONG)
        elif op == OP_CLOSE:
            code = struct.unpack("!H", payload[:2])[0] \
                if len(payload) >= 2 else None
            reason = payload[2:].decode("utf-8", "replace")
            try:
                self.send(payload[:2], OP_CLOSE)
            except (OSError, Closed):
                pass
            self.close(abort=True)
            raise Closed("the server closed the connection" +
                         (" (code %d%s)" % (code, ": " + reason if reason
                                            else "") if code else ""),
                         code)
        elif op != OP_PONG:
            self._fail(1002, "unknown control opcode %d" % op)

    def _fail(self, code, why):
        try:
            self.send(struct.pack("!H", code), OP_CLOSE)
        except (OSError, Closed):
            pass
        self.close(abort=True)
        raise ProtocolError("%s: %s" % (self.url, why))

    def close(self, abort=False):
        """Sends a close frame (unless abort) and closes the socket."""
        if self.closed:
            return
        self.closed = True
        if not abort:
            try:
                self.sock.settimeout(1.0)
                self.send(struct.pack("!H", 1000), OP_CLOSE)
            except (OSError, Closed):
                pass
        try:
            self.sock.close()
        except OSError:
            pass


def _oserr(e):
    if isinstance(e, ssl.SSLError):
        return "TLS: %s" % (e.reason or e,)
    if isinstance(e, socket.gaierror):
        return "cannot resolve the host: %s" % e.strerror
    return e.strerror or str(e)
