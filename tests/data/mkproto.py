#!/usr/bin/python3
"""Writes the proto-py-*.bin fixtures: messages encoded by tests/psproto.py.

    cd tests/data && PYTHONPATH=.. /usr/bin/python3 mkproto.py

tests/t-proto.c decodes them and checks every field against values written
out in the test; tests/t-proto-py.py checks that psproto.py still encodes
them byte for byte.  MESSAGES is shared with t-proto-py.py.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
import psproto as P  # noqa: E402

KERNEL = np.array([[-1.0, -0.5], [0.0, 0.5], [1.0, 1.5]], dtype=np.float32)
BIAS = np.array([1.5, -2.25], dtype=np.float32)
GRAD16 = np.array([[1.0, -2.0], [0.5, 65504.0], [2.0 ** -24, 0.0]],
                  dtype=np.float16)
GRADB16 = np.array([1.0, -3.0], dtype=np.float32)

MESSAGES = {
    "hello": dict(op=P.HELLO, id=1, text="worker-a"),
    "hello-reply": dict(op=P.REPLY, id=1, version=5, arg=3,
                        text="psctl 0.1.0",
                        records=[("dense/kernel", None, (3, 2)),
                                 ("dense/bias", None, (2,))]),
    "pull": dict(op=P.PULL, id=2, records=[("dense/bias", None)]),
    "pull-reply": dict(op=P.REPLY, id=2, version=5,
                       records=[("dense/kernel", KERNEL),
                                ("dense/bias", BIAS)]),
    "push": dict(op=P.PUSH, id=3, version=5, arg=1,
                 records=[("dense/kernel", GRAD16),
                          ("dense/bias", GRADB16, P.BF16)]),
    "error": dict(op=P.ERROR, id=3, status=P.E_SHAPE,
                  text="shape of dense/bias is [3], the model has [2]"),
    "init": dict(op=P.INIT, id=4,
                 records=[("gr\u00f6\u00dfe/\u03b2",
                           np.array(42.0, dtype=np.float32)),
                          ("empty", np.zeros((0, 3), dtype=np.float32))]),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else \
        os.path.dirname(os.path.abspath(__file__))
    for name, kw in MESSAGES.items():
        with open(os.path.join(out, "proto-py-%s.bin" % name), "wb") as f:
            f.write(P.encode(**kw))


if __name__ == "__main__":
    main()
