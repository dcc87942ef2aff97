#!/usr/bin/python3
"""Writes and reads safetensors files by hand (struct + json + numpy), as an
implementation of psctl-checkpoint(5) independent of psctl's C code.

    mksafetensors.py fixtures DIR   write the test fixtures (tests/data holds
                                    the committed copies) and, next to each,
                                    NAME.json: what a reader must find in it
    mksafetensors.py dump FILE      read FILE and print, as JSON, its
                                    metadata, the order of its tensors by
                                    data offset, each tensor as float32
                                    values, its L2 norm, and whether the
                                    checksums psctl.crc32c and
                                    psctl.header_crc32c hold (null: absent)

No safetensors library: the point is to check psctl against the format as
written down, not against another implementation's code.
"""

import json
import struct
import sys

import numpy as np

HCRC_KEY = b'"psctl.header_crc32c":"'


def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data, crc=0):
    """CRC-32C, one byte at a time (slow, obviously right)."""
    c = crc ^ 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _raw(arr, dtype):
    """Little-endian bytes of arr stored as dtype."""
    if dtype == "F32":
        return np.asarray(arr, dtype="<f4").tobytes()
    if dtype == "F16":
        return np.asarray(arr, dtype="<f2").tobytes()
    if dtype == "F64":
        return np.asarray(arr, dtype="<f8").tobytes()
    if dtype == "BF16":
        # arr holds the bf16 bit patterns (numpy has no bfloat16).
        return np.asarray(arr, dtype="<u2").tobytes()
    if dtype == "I64":
        return np.asarray(arr, dtype="<i8").tobytes()
    raise ValueError(dtype)


def as_f32(raw, dtype):
    """What a reader must make of raw bytes of dtype, as float32."""
    if dtype == "F32":
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if dtype == "F16":
        return np.frombuffer(raw, dtype="<f2").astype(np.float32)
    if dtype == "F64":
        return np.frombuffer(raw, dtype="<f8").astype(np.float32)
    if dtype == "BF16":
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        return bits.view(np.float32)
    raise ValueError(dtype)


def write(path, tensors, metadata=None, header_order=None, psctl=None,
          compact=False):
    """tensors: list of (name, dtype, shape, values) in data order.
    header_order: the order of the header's keys (default: data order).
    psctl: None, or a dict of psctl's metadata (without the checksums),
    in which case both checksums are added as psctl-checkpoint(5) says."""
    entries = {}
    data = b""
    for name, dtype, shape, values in tensors:
        raw = _raw(np.asarray(values).reshape(shape), dtype)
        entries[name] = {"dtype": dtype, "shape": list(shape),
                         "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    meta = dict(metadata or {})
    if psctl is not None:
        meta.update(psctl)
        meta["psctl.crc32c"] = "%08x" % crc32c(data)
        meta["psctl.header_crc32c"] = "00000000"
    header = {}
    if meta:
        header["__metadata__"] = meta
    for name in header_order or [t[0] for t in tensors]:
        header[name] = entries[name]
    sep = (",", ":") if compact or psctl is not None else None
    text = json.dumps(header, separators=sep).encode()
    text += b" " * (-len(text) % 8)
    head = struct.pack("<Q", len(text)) + text
    if psctl is not None:
        at = head.index(HCRC_KEY) + len(HCRC_KEY)
        digits = b"%08x" % crc32c(head)   # digits still "00000000"
        head = head[:at] + digits + head[at + 8:]
    with open(path, "wb") as f:
        f.write(head + data)


def read(path):
    """An independent reader: (metadata, order, tensors, crc_ok, hcrc_ok)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    head = blob[:8 + n]
    header = json.loads(head[8:].decode())
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    spans = sorted((v["data_offsets"][0], v["data_offsets"][1], k)
                   for k, v in header.items())
    tensors = {}
    for begin, end, name in spans:
        e = header[name]
        vals = as_f32(data[begin:end], e["dtype"])
        tensors[name] = {"dtype": e["dtype"], "shape": e["shape"],
                         "values": vals}
    crc_ok = None
    if "psctl.crc32c" in meta:
        crc_ok = meta["psctl.crc32c"] == "%08x" % crc32c(data)
    hcrc_ok = None
    if "psctl.header_crc32c" in meta:
        at = head.index(HCRC_KEY) + len(HCRC_KEY)
        zeroed = head[:at] + b"00000000" + head[at + 8:]
        hcrc_ok = meta["psctl.header_crc32c"] == "%08x" % crc32c(zeroed)
    if "psctl.tensors" in meta:
        order = [t["name"] for t in json.loads(meta["psctl.tensors"])]
        order += [s[2] for s in spans if s[2].startswith("__psctl.")]
    else:
        order = [s[2] for s in spans]
    return meta, order, tensors, crc_ok, hcrc_ok


def _expect(path, order, tensors, extra=None):
    """NAME.json: the float32 values a reader must produce, and the order."""
    out = {"order": order, "tensors": {}}
    for name, dtype, shape, values in tensors:
        raw = _raw(np.asarray(values).reshape(shape), dtype)
        f = as_f32(raw, dtype)
        out["tensors"][name] = {
            "dtype": dtype, "shape": list(shape),
            "values": [float(x) for x in f],
            "l2": float(np.sqrt(np.sum(f.astype(np.float64) ** 2)))}
    out.update(extra or {})
    with open(path, "w") as fp:
        json.dump(out, fp, indent=1)
        fp.write("\n")


def fixtures(d):
    # mixed: every dtype psctl reads, header keys sorted as the Hugging Face
    # writer sorts them, data in another order, a scalar, an empty tensor.
    f16 = np.array([0.5, -2.0, 65504.0, 6.1035156e-05, 5.9604645e-08, -0.0],
                   dtype=np.float16)
    bf16 = np.array([0x3F80, 0xC020, 0x3E20, 0x7F7F], dtype=np.uint16)
    f64 = np.array([0.1, 1.0 / 3.0, -1e-40, 3.0e38], dtype=np.float64)
    mixed = [
        ("dense.kernel", "F64", (2, 2), f64),
        ("conv.weight", "F16", (2, 3), f16),
        ("empty", "F32", (0, 3), np.zeros(0, dtype=np.float32)),
        ("bias", "BF16", (4,), bf16),
        ("scale", "F32", (), np.array([1.5], dtype=np.float32)),
    ]
    write(d + "/mixed.safetensors", mixed, metadata={"format": "np"},
          header_order=sorted(t[0] for t in mixed))
    _expect(d + "/mixed.json", [t[0] for t in mixed], mixed)

    # f32: a small plain file, as a Python writer lays it out (spaces after
    # separators), no checksum: the bit-flip and truncation subject.
    rng = np.random.default_rng(7)
    f32 = [
        ("w", "F32", (2, 3), rng.standard_normal(6).astype(np.float32)),
        ("b", "F32", (3,), rng.standard_normal(3).astype(np.float32)),
    ]
    write(d + "/f32.safetensors", f32)
    _expect(d + "/f32.json", ["w", "b"], f32)

    # psctl: psctl's own metadata and both checksums, written from the man
    # page; psctl.tensors orders the model unlike the data offsets; adam
    # state for each tensor.
    w1 = np.linspace(-1, 1, 12, dtype=np.float32)
    w2 = np.arange(1, 7, dtype=np.float32) / 8
    b = np.array([0.25, -0.75], dtype=np.float32)
    ps = [
        ("b", "F32", (2,), b),
        ("layer.1", "F32", (3, 4), w1),
        ("layer.2", "F32", (6,), w2),
        ("__psctl.m.layer.2", "F32", (6,), w2 / 4),
        ("__psctl.v.layer.2", "F32", (6,), w2 * w2 / 16),
        ("__psctl.m.layer.1", "F32", (3, 4), w1 / 2),
        ("__psctl.v.layer.1", "F32", (3, 4), w1 * w1 / 4),
        ("__psctl.m.b", "F32", (2,), b / 2),
        ("__psctl.v.b", "F32", (2,), b * b / 4),
    ]
    listed = [{"name": "layer.2", "version": 7, "steps": 5},
              {"name": "layer.1", "version": 9, "steps": 6},
              {"name": "b", "version": 3, "steps": 2}]
    meta = {"format": "pt", "psctl.version": "0.1.0",
            "psctl.model_version": "9", "psctl.rule": "adam",
            "psctl.rule_params": json.dumps(
                {"lr": 0.001, "beta1": 0.8, "beta2": 0.99, "eps": 1e-7},
                separators=(",", ":")),
            "psctl.mode": "sync",
            "psctl.tensors": json.dumps(listed, separators=(",", ":"))}
    write(d + "/psctl.safetensors", ps, psctl=meta)
    _expect(d + "/psctl.json", [t["name"] for t in listed], ps,
            {"versions": [t["version"] for t in listed],
             "steps": [t["steps"] for t in listed], "model_version": 9})

    # i64: a dtype psctl does not read.
    write(d + "/i64.safetensors", [
        ("w", "F32", (2,), np.array([1, 2], dtype=np.float32)),
        ("step", "I64", (1,), np.array([42], dtype=np.int64))])


def dump(path):
    meta, order, tensors, crc_ok, hcrc_ok = read(path)
    out = {"metadata": meta, "order": order, "crc_ok": crc_ok,
           "header_crc_ok": hcrc_ok, "tensors": {}}
    for name, t in tensors.items():
        v = t["values"]
        out["tensors"][name] = {
            "dtype": t["dtype"], "shape": t["shape"],
            "values": [float(x) for x in v],
            "l2": float(np.sqrt(np.sum(v.astype(np.float64) ** 2)))}
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


def main(argv):
    if len(argv) == 3 and argv[1] == "fixtures":
        fixtures(argv[2])
    elif len(argv) == 3 and argv[1] == "dump":
        dump(argv[2])
    else:
        sys.stderr.write("usage: mksafetensors.py fixtures DIR | dump FILE\n")
        return 64
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
