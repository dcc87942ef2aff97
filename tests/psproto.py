"""psctl.worker.v1 in Python: an independent encoder and validating decoder.

Written from psctl-protocol(7), not from src/proto.c, so that the tests
compare two implementations of the spec.  Uses only struct and numpy.

    import psproto as P
    buf = P.encode(P.PULL, id=2, records=[("dense/bias", None)])
    m = P.decode(buf)          # raises P.ProtoError(code, reason)
    m.op, m.id, m.version, m.arg, m.status, m.text
    for t in m.tensors:        # Tensor(name, dtype, shape, array)
        ...

Records given to encode():
    (name, ndarray)            float32 -> F32, float16 -> F16, other -> F32
    (name, ndarray, dtype)     dtype one of F32, F16, BF16 (values converted)
    (name, None)               names only: dtype NONE, ndim 0
    (name, None, shape)        name and shape: dtype NONE, ndim len(shape)
Decoded arrays: F32 as float32, F16 as float16 (exact), BF16 widened to
float32 (exact; numpy has no bfloat16), NONE as None.

The raw_* helpers build headers, text blocks and records field by field,
with every field overridable, so tests can assemble malformed messages.
connect() and call() talk to a server through python3-websocket:

    ws = P.connect("ws://127.0.0.1:7070/", token=None)
    m = P.call(ws, P.encode(P.HELLO, id=1, text="w0"))
"""

import struct
from collections import namedtuple

import numpy as np

MAGIC = 0x31575350          # b"PSW1"
HDRLEN = 40
TEXT_MAX = 4096
NAME_MAX = 255
DIMS_MAX = 8
PROTOCOL = "psctl.worker.v1"
CONTROL_PROTOCOL = "psctl.control.v1"

HELLO, INIT, PULL, PUSH, REPLY, ERROR = 1, 2, 3, 4, 16, 17
OPS = {HELLO: "hello", INIT: "init", PULL: "pull", PUSH: "push",
       REPLY: "reply", ERROR: "error"}

NONE, F32, F16, BF16 = 0, 1, 2, 3
DTYPE_NAMES = {NONE: "NONE", F32: "F32", F16: "F16", BF16: "BF16"}
ELSIZE = {NONE: 0, F32: 4, F16: 2, BF16: 2}

# enum ps_errcode, wire values
E_OK, E_MALFORMED, E_UNKNOWN_OP, E_TOO_LARGE, E_NO_MODEL, E_MISMATCH = range(6)
(E_UNKNOWN_TENSOR, E_SHAPE, E_NONFINITE, E_DTYPE, E_PROTOCOL, E_SHUTDOWN,
 E_INTERNAL, E_DUPLICATE, E_BUSY, E_UNAUTHORIZED) = range(6, 16)
ERRCODES = ["ok", "malformed", "unknown_op", "too_large", "no_model",
            "mismatch", "unknown_tensor", "shape", "nonfinite", "dtype",
            "protocol", "shutdown", "internal", "duplicate", "busy",
            "unauthorized"]

_HDR = struct.Struct("<IBBHQQQII")
_REC = struct.Struct("<HBBI")

Tensor = namedtuple("Tensor", "name dtype shape array")


class ProtoError(Exception):
    """A refused message: code is an ps_errcode wire value."""

    def __init__(self, code, reason):
        super().__init__("%s: %s" % (ERRCODES[code], reason))
        self.code = code
        self.reason = reason


class Message:
    """A decoded message: header fields, text (str) and tensors."""

    def __init__(self, op, flags, status, id, version, arg, text, tensors):
        self.op = op
        self.flags = flags
        self.status = status
        self.id = id
        self.version = version
        self.arg = arg
        self.text = text
        self.tensors = tensors

    def __repr__(self):
        return ("Message(op=%s, id=%d, version=%d, arg=%d, status=%d, "
                "text=%r, tensors=%r)" % (OPS.get(self.op, self.op), self.id,
                                          self.version, self.arg, self.status,
                                          self.text,
                                          [(t.name, DTYPE_NAMES[t.dtype],
                                            t.shape) for t in self.tensors]))

    def named(self):
        """The tensors as an ordered dict name -> array."""
        return {t.name: t.array for t in self.tensors}


def pad8(n):
    return (n + 7) // 8 * 8


def padded(b, fill=0):
    return bytes(b) + bytes([fill]) * (pad8(len(b)) - len(b))


# --- bfloat16, by integer arithmetic on the float32 bits ---

def f32_to_bf16_bits(a):
    """float32 array -> uint16 bfloat16 bits, round to nearest even."""
    u = np.ascontiguousarray(a, dtype="<f4").view("<u4").astype(np.uint64)
    nan = (u & 0x7fffffff) > 0x7f800000
    r = ((u + 0x7fff + ((u >> 16) & 1)) >> 16) & 0xffff
    r = np.where(nan, (u >> 16) | 0x40, r)
    return r.astype("<u2")


def bf16_bits_to_f32(b):
    u = np.asarray(b, dtype="<u2").astype("<u4") << 16
    return u.view("<f4")


# --- raw builders: every field explicit, nothing checked ---

def raw_header(op, id=0, version=0, arg=0, count=0, textlen=0, status=0,
               flags=0, magic=MAGIC):
    return _HDR.pack(magic, op, flags, status, id, version, arg, count,
                     textlen)


def raw_text(text, fill=0):
    if isinstance(text, str):
        text = text.encode("utf-8")
    return padded(text, fill)


def raw_record(name, dtype, shape=(), data=b"", namelen=None, ndim=None,
               reserved=0, name_fill=0, data_fill=0):
    """One record: head, dims, padded name, padded data (bytes)."""
    if isinstance(name, str):
        name = name.encode("utf-8")
    if namelen is None:
        namelen = len(name)
    if ndim is None:
        ndim = len(shape)
    out = _REC.pack(namelen, dtype, ndim, reserved)
    out += b"".join(struct.pack("<Q", d) for d in shape)
    out += padded(name, name_fill)
    out += padded(data, data_fill)
    return out


def tensor_bytes(array, dtype):
    if dtype == F32:
        return np.ascontiguousarray(array, dtype="<f4").tobytes()
    if dtype == F16:
        return np.ascontiguousarray(array, dtype="<f2").tobytes()
    if dtype == BF16:
        return f32_to_bf16_bits(np.asarray(array, dtype=np.float32)).tobytes()
    raise ValueError("no data for dtype %r" % dtype)


def _record(spec):
    name = spec[0]
    array = spec[1]
    if array is None:
        shape = tuple(spec[2]) if len(spec) > 2 else ()
        return raw_record(name, NONE, shape)
    array = np.asarray(array)
    if len(spec) > 2:
        dtype = spec[2]
    elif array.dtype == np.float16:
        dtype = F16
    else:
        dtype = F32
    return raw_record(name, dtype, array.shape, tensor_bytes(array, dtype))


def encode(op, id=0, version=0, arg=0, text="", records=(), status=0):
    """A whole, valid-by-construction message (bytes)."""
    if isinstance(text, str):
        text = text.encode("utf-8")
    recs = [_record(r) for r in records]
    return (raw_header(op, id, version, arg, len(recs), len(text), status) +
            raw_text(text) + b"".join(recs))


# --- talking to a server (python3-websocket) ---

def connect(url, token=None, protocol=PROTOCOL, timeout=10):
    """A websocket.WebSocket speaking protocol, token in the handshake."""
    import websocket
    header = ["Authorization: Bearer %s" % token] if token else []
    return websocket.create_connection(url, subprotocols=[protocol],
                                       header=header, timeout=timeout)


def call(ws, buf, **limits):
    """Sends one binary message and decodes the next message received."""
    ws.send_binary(buf)
    op, data = ws.recv_data()
    if op != 2:         # websocket.ABNF.OPCODE_BINARY
        raise ProtoError(E_PROTOCOL, "expected a binary message, got "
                         "opcode %d" % op)
    return decode(data, **limits)


# --- decoding ---

def _utf8(b, what):
    try:
        s = bytes(b).decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise ProtoError(E_MALFORMED, "%s is not valid UTF-8" % what)
    if "\0" in s:
        raise ProtoError(E_MALFORMED, "%s contains NUL" % what)
    return s


def _zero(b, what):
    if any(b):
        raise ProtoError(E_MALFORMED, "%s padding is not zero" % what)


def decode(buf, max_message=None, max_tensors=None):
    """Validates and decodes one message; raises ProtoError."""
    buf = bytes(buf)
    n = len(buf)
    if max_message is not None and n > max_message:
        raise ProtoError(E_TOO_LARGE, "message of %d bytes over %d"
                         % (n, max_message))
    if n < HDRLEN:
        raise ProtoError(E_MALFORMED, "shorter than the header")
    magic, op, flags, status, id, version, arg, count, textlen = \
        _HDR.unpack_from(buf, 0)
    if magic != MAGIC:
        raise ProtoError(E_MALFORMED, "bad magic 0x%08x" % magic)
    if flags != 0:
        raise ProtoError(E_MALFORMED, "flags 0x%02x" % flags)
    if op not in OPS:
        raise ProtoError(E_UNKNOWN_OP, "unknown op %d" % op)
    if max_tensors is not None and count > max_tensors:
        raise ProtoError(E_TOO_LARGE, "%d records over %d"
                         % (count, max_tensors))
    if textlen > TEXT_MAX:
        raise ProtoError(E_TOO_LARGE, "text of %d bytes" % textlen)
    pos = HDRLEN
    if pos + pad8(textlen) > n:
        raise ProtoError(E_MALFORMED, "text runs past the end")
    text = _utf8(buf[pos:pos + textlen], "text")
    _zero(buf[pos + textlen:pos + pad8(textlen)], "text")
    pos += pad8(textlen)
    if count * 16 > n - pos:
        raise ProtoError(E_MALFORMED, "%d records cannot fit" % count)

    tensors = []
    for i in range(count):
        where = "record %d at byte %d" % (i, pos)
        if pos + 8 > n:
            raise ProtoError(E_MALFORMED, where + ": truncated")
        namelen, dtype, ndim, reserved = _REC.unpack_from(buf, pos)
        if not 1 <= namelen <= NAME_MAX:
            raise ProtoError(E_MALFORMED, where + ": name length %d" % namelen)
        if dtype not in ELSIZE:
            raise ProtoError(E_DTYPE, where + ": dtype %d" % dtype)
        if ndim > DIMS_MAX:
            raise ProtoError(E_MALFORMED, where + ": ndim %d" % ndim)
        if reserved != 0:
            raise ProtoError(E_MALFORMED, where + ": reserved field")
        pos += 8
        if pos + 8 * ndim > n:
            raise ProtoError(E_MALFORMED, where + ": dims past the end")
        shape = struct.unpack_from("<%dQ" % ndim, buf, pos)
        pos += 8 * ndim
        if pos + pad8(namelen) > n:
            raise ProtoError(E_MALFORMED, where + ": name past the end")
        name = _utf8(buf[pos:pos + namelen], where + ": name")
        _zero(buf[pos + namelen:pos + pad8(namelen)], where + ": name")
        pos += pad8(namelen)
        if dtype == NONE:
            tensors.append(Tensor(name, NONE, shape, None))
            continue
        elems = 1
        for d in shape:
            elems *= d      # Python integers: no overflow to check
        nbytes = elems * ELSIZE[dtype]
        if pos + pad8(nbytes) > n:
            raise ProtoError(E_MALFORMED, where + ": data past the end")
        raw = buf[pos:pos + nbytes]
        _zero(buf[pos + nbytes:pos + pad8(nbytes)], where + ": data")
        pos += pad8(nbytes)
        if dtype == F32:
            a = np.frombuffer(raw, dtype="<f4").reshape(shape)
        elif dtype == F16:
            a = np.frombuffer(raw, dtype="<f2").reshape(shape)
        else:
            a = bf16_bits_to_f32(np.frombuffer(raw, dtype="<u2")).reshape(shape)
        tensors.append(Tensor(name, dtype, shape, a))
    if pos != n:
        raise ProtoError(E_MALFORMED, "%d trailing bytes" % (n - pos))

    # rules that depend on the op
    if op == ERROR:
        if status == 0:
            raise ProtoError(E_MALFORMED, "error with status 0")
        if count:
            raise ProtoError(E_MALFORMED, "error with records")
    elif status != 0:
        raise ProtoError(E_MALFORMED, "status %d on %s" % (status, OPS[op]))
    if op == HELLO and count > 1:
        raise ProtoError(E_MALFORMED, "hello with %d records" % count)
    if op in (HELLO, PULL):
        for t in tensors:
            if t.dtype != NONE:
                raise ProtoError(E_DTYPE, "%s with data" % OPS[op])
            if t.shape:
                raise ProtoError(E_MALFORMED, "%s with a shape" % OPS[op])
    if op in (INIT, PUSH):
        for t in tensors:
            if t.dtype == NONE:
                raise ProtoError(E_DTYPE, "%s without data" % OPS[op])
    return Message(op, flags, status, id, version, arg, text, tensors)
