#!/usr/bin/python3
"""Terminal escapes in tensor names (issue 11 item 16): psctl status,
psctl top and the server's log show every control character escaped,
never the raw bytes, and --json keeps the true name."""
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pstest as T  # noqa: E402

T.require("numpy", "websocket")
import numpy as np  # noqa: E402

T.watchdog(120)
T.plan(9)

# An OSC that sets the window title, a BEL, a colour, a C1 CSI, a newline
# that would forge a log line, and a backslash.
EVIL = "evil\x1b]0;pwned\x07\x1b[31m\u009b2J\nforged line\\x"
RAW = [b"\x1b", b"\x07", b"\xc2\x9b", b"\nforged"]


def clean(text, what):
    """text holds none of the raw controls, and the escaped name."""
    b = text.encode("utf-8", "surrogateescape") \
        if isinstance(text, str) else text
    bad = [r for r in RAW if r in b]
    if not T.ok(not bad and b"evil\\x1b]0;pwned\\x07\\x1b[31m\\u009b2J" in b,
                "%s: control characters escaped" % what):
        T.diag("raw %r in %r" % (bad, b[:600]))


srv = T.Server("--rule", "add", "-v")
w = srv.worker("w")
w.init({EVIL: np.zeros(2, "f4"), "ok": np.zeros(1, "f4")})
try:
    w.push({EVIL: np.zeros(3, "f4")})       # refused: shape, logged
except Exception:
    pass

rc, out, err = srv.psctl("status")
T.is_eq(rc, 0, "psctl status exits 0")
clean(out, "psctl status")
rc, out, err = srv.psctl("status", "--json")
T.ok(rc == 0 and json.loads(out)["tensors"][0]["name"] == EVIL,
     "psctl status --json keeps the name as it is")
p = T.psctl("top", "-b", "-n", "1", url=srv.url)
T.is_eq(p[0], 0, "psctl top -b -n 1 exits 0")
clean(p[1], "psctl top -b")
# A command's error quotes the server's reason: an init of another model
# is refused with a reason naming the model's first tensor.
st = os.path.join(T.tmpdir("st"), "other.safetensors")
hdr = json.dumps({"zz": {"dtype": "F32", "shape": [2],
                         "data_offsets": [0, 8]},
                  "ok": {"dtype": "F32", "shape": [1],
                         "data_offsets": [8, 12]}}).encode()
hdr += b" " * (-len(hdr) % 8)
with open(st, "wb") as f:
    f.write(struct.pack("<Q", len(hdr)) + hdr + b"\0" * 12)
rc, out, err = srv.psctl("init", st)
T.ok(rc != 0 and "\x1b" not in err and "\x07" not in err and
     "evil\\x1b]0;pwned" in err,
     "psctl init's error escapes the reason's control characters")
T.diag(err.strip())
srv.wait_log(r"push refused", 5)
with open(srv.logpath, "rb") as f:
    log = f.read()
clean(log, "the server's log")
T.ok(b"push refused" in log, "the refused push was logged")
T.is_eq(srv.stop(), 0, "the server stops with status 0")
T.done()
