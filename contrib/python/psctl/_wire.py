"""psctl.worker.v1 messages (psctl-protocol(7), "Message layout"), encoded
straight into the WebSocket's out buffer and decoded as views of its
receive buffer."""

import struct

import numpy as np

from .errors import ProtocolError

MAGIC = 0x31575350
HELLO, INIT, PULL, PUSH, REPLY, ERROR = 1, 2, 3, 4, 16, 17
NONE, F32, F16, BF16 = 0, 1, 2, 3
DIMS_MAX = 8
TEXT_MAX = 4096

_HDR = struct.Struct("<IBBHQQQII")      # 40 bytes
_REC = struct.Struct("<HBBI")           # 8 bytes
_ITEM = {NONE: 0, F32: 4, F16: 2, BF16: 2}
_NP = {F32: np.dtype("<f4"), F16: np.dtype("<f2")}
_U64 = np.dtype("<u8")


def pad8(n):
    return (n + 7) & ~7


def encode_name(name):
    """A tensor name as bytes; ValueError if it cannot be put on the wire."""
    if not isinstance(name, str):
        raise TypeError("tensor names are str, not %s" % type(name).__name__)
    try:
        b = name.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("tensor name %r is not valid UTF-8" % name) from None
    if not 1 <= len(b) <= 255 or b"\0" in b:
        raise ValueError("tensor name %r: names are 1 to 255 bytes of UTF-8 "
                         "without NUL" % name)
    return b


def as_wire_array(name, value):
    """(dtype code, array) for a tensor to send: float32 as F32, float16 as
    F16, any other floating type converted to float32; anything else is a
    TypeError naming the tensor."""
    a = value if isinstance(value, np.ndarray) else np.asarray(value)
    dt = a.dtype
    if dt.kind != "f":
        raise TypeError("tensor %r has dtype %s: psctl sends floating-point "
                        "tensors only" % (name, dt))
    if a.ndim > DIMS_MAX:
        raise ValueError("tensor %r has %d dimensions, at most %d can be "
                         "sent" % (name, a.ndim, DIMS_MAX))
    if dt.itemsize == 2:
        return F16, a
    return F32, a


def encode(ws, op, id, version=0, arg=0, text=b"", names=(), tensors=()):
    """Builds one message in ws.out_buffer() and returns its length.
    `names` are name-only records (bytes); `tensors` are (name bytes, dtype
    code, array) with data."""
    tl = len(text)
    if tl > TEXT_MAX:
        raise ValueError("text of %d bytes: at most %d" % (tl, TEXT_MAX))
    size = 40 + pad8(tl)
    for nb in names:
        size += 8 + pad8(len(nb))
    for nb, code, a in tensors:
        size += 8 + 8 * a.ndim + pad8(len(nb)) + pad8(a.size * _ITEM[code])
    buf = ws.out_buffer(size)
    u64 = buf.view(_U64)
    _HDR.pack_into(buf, 0, MAGIC, op, 0, 0, id, version, arg,
                   len(names) + len(tensors), tl)
    off = 40
    if tl:
        u64[off >> 3:(off + pad8(tl)) >> 3] = 0
        buf[off:off + tl] = np.frombuffer(text, np.uint8)
        off += pad8(tl)
    for nb in names:
        ln = len(nb)
        _REC.pack_into(buf, off, ln, NONE, 0, 0)
        off += 8
        u64[off >> 3:(off + pad8(ln)) >> 3] = 0
        buf[off:off + ln] = np.frombuffer(nb, np.uint8)
        off += pad8(ln)
    for nb, code, a in tensors:
        ln = len(nb)
        nd = a.ndim
        _REC.pack_into(buf, off, ln, code, nd, 0)
        off += 8
        if nd:
            u64[off >> 3:(off >> 3) + nd] = a.shape
            off += 8 * nd
        u64[off >> 3:(off + pad8(ln)) >> 3] = 0
        buf[off:off + ln] = np.frombuffer(nb, np.uint8)
        off += pad8(ln)
        nbytes = a.size * _ITEM[code]
        end = pad8(nbytes)
        if end != nbytes:
            u64[(off + end >> 3) - 1] = 0
        if nbytes:
            dst = buf[off:off + nbytes].view(_NP[code])
            if nd != 1:
                dst = dst.reshape(a.shape)
            if a.dtype == dst.dtype:
                np.copyto(dst, a)
            else:
                # Beyond float32's range becomes an infinity, which the
                # server refuses: no need for numpy's warning.
                with np.errstate(over="ignore"):
                    np.copyto(dst, a, casting="same_kind")
        off += end
    return size


class Message:
    """A decoded message: header fields, text, and records as
    (name, dtype code, shape, data array or None)."""

    __slots__ = ("op", "status", "id", "version", "arg", "text", "records")


def decode(buf):
    """Parses a message (a uint8 array) completely, checking every length
    against its size; the records' arrays are views of buf.  Raises
    ProtocolError for anything psctl-protocol(7) does not allow."""
    size = buf.size
    if size < 40:
        raise ProtocolError("a message of %d bytes, under the 40-byte "
                            "header" % size)
    magic, op, flags, status, id_, version, arg, count, tl = \
        _HDR.unpack_from(buf, 0)
    if magic != MAGIC or flags:
        raise ProtocolError("not a psctl.worker.v1 message (magic %#x, "
                            "flags %d)" % (magic, flags))
    m = Message()
    m.op, m.status, m.id, m.version, m.arg = op, status, id_, version, arg
    off = 40 + pad8(tl)
    if tl > TEXT_MAX or off > size:
        raise ProtocolError("text of %d bytes does not fit" % tl)
    try:
        m.text = bytes(buf[40:40 + tl]).decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("the text is not valid UTF-8") from None
    recs = []
    for i in range(count):
        if off + 8 > size:
            raise ProtocolError("record %d at byte %d: past the end" % (i, off))
        ln, code, nd, res = _REC.unpack_from(buf, off)
        if not 1 <= ln <= 255 or code > BF16 or nd > DIMS_MAX or res:
            raise ProtocolError("record %d at byte %d: bad record header"
                                % (i, off))
        off += 8
        end = off + 8 * nd + pad8(ln)
        if end > size:
            raise ProtocolError("record %d at byte %d: past the end" % (i, off))
        shape = struct.unpack_from("<%dQ" % nd, buf, off) if nd else ()
        off += 8 * nd
        try:
            name = bytes(buf[off:off + ln]).decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("record %d at byte %d: name is not valid "
                                "UTF-8" % (i, off)) from None
        off = end
        n = 1
        for d in shape:
            n *= d
        nbytes = n * _ITEM[code]
        if off + pad8(nbytes) > size:
            raise ProtocolError("record %d (%s): data past the end"
                                % (i, name))
        data = None
        if code != NONE:
            if code == BF16:
                raise ProtocolError("record %d (%s): the server sent BF16"
                                    % (i, name))
            data = buf[off:off + nbytes].view(_NP[code])
            if nd != 1:
                data = data.reshape(shape)
        off += pad8(nbytes)
        recs.append((name, code, shape, data))
    if off != size:
        raise ProtocolError("%d bytes after the last record" % (size - off))
    m.records = recs
    return m
