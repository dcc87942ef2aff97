#!/usr/bin/python3
"""Reset without --checkpoint-dir: the initial model lives in an unlinked
temporary file in $TMPDIR, not in the server's memory (issue 10).

A model created by `psctl init FILE`, changed by pushes, comes back bit
for bit from FILE on `psctl reset`, twice; the file is open in the server
under $TMPDIR with no name, and nothing is left there when the server is
killed.  The server's resident memory after creating a model and serving
one pull grows by the model and its pull body, not by a third copy.
With $TMPDIR a directory that does not exist, a warning says the model
stays in memory, and reset still works.
"""

import json
import os
import re
import signal

import pstest as T

T.require("numpy", "websocket")
import numpy as np  # noqa: E402
import mksafetensors  # noqa: E402

T.plan(20)
T.watchdog(240)
rng = np.random.default_rng(10)


def bits_equal(got, want):
    """Same names in order and the same bits (0.0 is not -0.0)."""
    return (list(got) == list(want) and
            all(got[k].shape == want[k].shape and
                np.array_equal(np.asarray(got[k], "<f4").view("<u4"),
                               np.asarray(want[k], "<f4").view("<u4"))
                for k in want))


def unlinked_in(pid, d):
    """The server's open files under d that have no name."""
    out = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith(d + "/") and target.endswith(" (deleted)"):
            out.append(target)
    return out


# Values whose bits a careless copy would change: -0.0, subnormals, +-max.
special = np.array([0.0, -0.0, 1e-45, -1e-45, 3.4028235e38, -3.4028235e38,
                    1.0, -1.0], dtype="f4")
model = {"embed": rng.standard_normal((300, 64)).astype("f4"),
         "special": special,
         "bias": rng.standard_normal(17).astype("f4")}

# --- the initial model in an unlinked file ----------------------------
tmp = os.path.realpath(T.tmpdir())
scratch = os.path.join(tmp, "scratch")
os.mkdir(scratch)
init = os.path.join(tmp, "init.safetensors")
mksafetensors.write(init, [(k, "F32", v.shape, v) for k, v in model.items()])
env = dict(os.environ, TMPDIR=scratch)

srv = T.Server("--rule", "add", env=env)
rc, out, err = T.psctl("init", init, url=srv.url)
T.ok(rc == 0, "psctl init FILE creates the model: %s%s" % (out, err))
m = srv.wait_log(r"initial model \(version 0\) kept for reset in an "
                 r"unlinked file in (\S+):", 30)
T.ok(m is not None and m.group(1) == scratch,
     "the server says the initial model is kept in an unlinked file in "
     "$TMPDIR")
names = unlinked_in(srv.proc.pid, scratch)
T.is_eq(len(names), 1, "the server holds one file under $TMPDIR, with no "
        "name: %r" % names)
T.is_eq(os.listdir(scratch), [], "$TMPDIR shows no file of the server")

w = srv.worker("w")
for i in range(3):
    w.push({k: rng.standard_normal(v.shape).astype("f4")
            for k, v in model.items()})
version, pulled = w.pull()
T.ok(version == 3 and not bits_equal(pulled, model),
     "three pushes changed the model (version %d)" % version)

rc, out, err = T.psctl("reset", url=srv.url)
T.ok(rc == 0 and out.startswith("reset to initial,"),
     "psctl reset goes back to the initial model: %s%s" % (out, err))
version, pulled = w.pull()
T.ok(version == 4 and bits_equal(pulled, model),
     "after reset a pull returns the init file's values bit for bit "
     "(version %d)" % version)

w.push({"bias": np.ones(17, "f4")})
r = srv.control().request("reset", name="initial")
T.ok(r.get("ok") and r["result"]["from"] == "initial",
     "reset initial again answers \"initial\": %r" % r)
version, pulled = w.pull()
T.ok(version == 6 and bits_equal(pulled, model),
     "the second reset reads the same file: bit for bit again")

rc, out, err = T.psctl("checkpoints", "--json", url=srv.url)
lst = json.loads(out) if rc == 0 else None
T.ok(lst is not None and [(c["name"], c["path"], c["version"])
                          for c in lst] == [("initial", None, 0)],
     "psctl checkpoints lists the initial model only, with no path: %r" %
     lst)
st = T.status_json(srv.url)
T.ok(st["checkpoint"]["count"] == 0 and
     not st["checkpoint"]["in_progress"],
     "the file is no checkpoint: STATUS counts none")

srv.signal(signal.SIGKILL)
srv.wait()
T.is_eq(os.listdir(scratch), [], "killed, the server leaves nothing in "
        "$TMPDIR")

# --- memory: one model for the pull body, not two ----------------------
# 4,000,000 parameters (16 MB): large against what else the server holds.
n = 4000000
big = {"w": rng.standard_normal(n).astype("f4")}
size = n * 4
srv = T.Server("--rule", "add", env=env)
before = srv.vm("VmRSS")
w = srv.worker("big")
w.init(big)
T.ok(srv.wait_log(r"initial model \(version 0\) kept", 30) is not None,
     "a 16 MB model's initial copy is written")
version, pulled = w.pull()
rss = srv.vm("VmRSS")
grew = rss - before
T.diag("VmRSS %.1f MB before, %.1f MB after init and a pull: %.2f models"
       % (before / 1e6, rss / 1e6, grew / size))
if T.sanitized():
    T.skip(2, "AddressSanitizer's quarantine holds freed memory")
else:
    T.ok(grew > 1.5 * size,
         "the model and its pull body are resident (%.2f models)" %
         (grew / size))
    T.ok(grew < 2.5 * size,
         "but no third copy of the model: VmRSS grew by %.2f models, "
         "under 2.5" % (grew / size))
T.is_eq(srv.stop(), 0, "the server stops")

# --- no temporary file: the model stays in memory ------------------------
env = dict(os.environ, TMPDIR=os.path.join(tmp, "does-not-exist"))
srv = T.Server("--rule", "add", env=env)
rc, out, err = T.psctl("init", init, url=srv.url)
m = srv.wait_log(r"initial model: no temporary file for it \((.*)\): it "
                 r"stays in memory", 30)
T.ok(rc == 0 and m is not None and "does-not-exist" in m.group(1),
     "with no $TMPDIR to write in, a warning says the model stays in "
     "memory: %s" % (m.group(0) if m else srv.log()[-400:]))
w = srv.worker("w")
w.push({"embed": np.ones((300, 64), "f4")})
rc, out, err = T.psctl("reset", url=srv.url)
version, pulled = w.pull()
T.ok(rc == 0 and out.startswith("reset to initial,") and version == 2 and
     bits_equal(pulled, model),
     "and reset still returns the init file's values bit for bit")
T.is_eq(len(re.findall(r"no temporary file", srv.log())), 1,
        "the warning is said once")
T.is_eq(srv.stop(), 0, "that server stops too, with status 0")
T.done()
