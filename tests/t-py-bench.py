#!/usr/bin/python3
"""python3 -m psctl bench: the flags, JSON keys and exit codes of psctl
bench (psctl-bench(1)), checked against the C command in the same run.
Figures are not judged: this is no benchmark.  Nothing here depends on
how fast the machine is: each worker makes at least one call of each kind
whatever the load, so the checks are on counts (rate times seconds), never
on rates or times."""

import json
import os
import subprocess
import sys

import pstest as T

T.require("numpy")
T.plan(10)
T.watchdog(240)

env = dict(os.environ)
env.pop("PSCTL_URL", None)
env.pop("PSCTL_TOKEN", None)


def pybench(*args):
    p = subprocess.run([sys.executable, "-m", "psctl", "bench"] + list(args),
                       capture_output=True, text=True, env=env, timeout=60)
    return p.returncode, p.stdout, p.stderr


def calls(o, kind):
    """How many calls of `kind` (pulls, pushes) a JSON result counted."""
    return int(round(o[kind + "_per_s"] * o["seconds"]))


srv = T.Server()
args = ["--connect", srv.url, "--params", "1001", "--tensors", "3",
        "--seconds", "1", "--json"]
rc, out, err = T.psctl("bench", *args)
c = json.loads(out)
rc2, out2, err2 = pybench(*args)
p = json.loads(out2) if rc2 == 0 else {}
T.ok(rc == 0 and rc2 == 0, "both benches run against one server")
if rc2 != 0:
    T.diag("exit %d: %s%s" % (rc2, out2, err2))
T.is_eq(list(p), list(c), "the same JSON keys in the same order")
T.ok(p["workers"] == 1 and p["params"] == 1001 and p["errors"] == 0 and
     calls(p, "pulls") >= 1 and calls(p, "pushes") >= 1 and
     p["pull_p50_ms"] <= p["pull_p99_ms"],
     "pushpull: pulls and pushes counted, no errors, p50 <= p99")
rc, out, err = pybench("--connect", srv.url, "--params", "1001", "--tensors",
                       "3", "--seconds", "1", "--op", "pull",
                       "--workers", "2")
if not T.ok(rc == 0 and "2 workers, 1001 parameters in 3 tensors, pull" in
            out and "pulls:" in out and "pushes:" not in out and
            "errors: 0" in out, "text output of two worker processes pulling"):
    T.diag("exit %d\n%s%s" % (rc, out, err))
rc, out, err = pybench("--connect", srv.url, "--params", "5000",
                       "--seconds", "0.2")
T.ok(rc == 65 and "--params 1001 --tensors 3" in err,
     "another model: exit 65, saying which flags match (%s)" % err.strip())
rc, out, err = pybench("--spawn", "--mode", "sync", "--workers", "2",
                       "--params", "100", "--seconds", "1", "--json")
o = json.loads(out) if rc == 0 else {}
T.ok(rc == 0 and calls(o, "pushes") >= 2 and o["errors"] == 0,
     "--spawn --mode sync starts a server for two workers (%s)" % err.strip())
for what, argv, want in [
        ("a bad --op", ["--op", "x"], 64),
        ("--mode without --spawn", ["--mode", "sync"], 64),
        ("a missing token file", ["--token-file", "/nonexistent/t"], 66),
        ("a server that is down", ["--connect", "ws://127.0.0.1:1"], 69)]:
    rc, out, err = pybench(*argv)
    T.is_eq(rc, want, "%s exits %d" % (what, want))
T.done()
