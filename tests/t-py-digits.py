#!/usr/bin/python3
"""contrib/examples/digits: a short real training through psctl (softmax
regression on scikit-learn's digits, 2 workers on multiprocessing, async
and sync) must reach 0.93 held-out accuracy, as the one-process baseline
does."""

import json
import os
import sys

import pstest as T

T.require("numpy", "sklearn")
T.plan(5)
T.watchdog(240)

sys.path.insert(0, os.path.join(T.SRCDIR, "contrib", "examples"))
import launch  # noqa: E402

train = launch.load(os.path.join(T.SRCDIR, "contrib", "examples", "digits",
                                 "train.py"))
js = os.path.join(T.tmpdir(), "rows.json")
# The table goes to stdout, where the TAP driver ignores it.
rows, base = train.main(["--workers", "2", "--modes", "async,sync",
                         "--launchers", "multiprocessing", "--epochs", "10",
                         "--no-reference", "--psctl", T.PSCTL, "--json", js])
T.ok(base >= 0.93, "the one-process baseline reaches %.4f" % base)
for r in rows:
    T.ok(r["accuracy"] >= 0.93, "%s, 2 workers: held-out accuracy %.4f >= "
         "0.93" % (r["mode"], r["accuracy"]))
T.ok(rows[0]["updates"] == rows[0]["pushes"] and
     rows[1]["updates"] * 2 == rows[1]["pushes"],
     "async applies every push (%d), sync one update per round of two (%d)"
     % (rows[0]["updates"], rows[1]["updates"]))
with open(js) as f:
    saved = json.load(f)
T.ok(saved["baseline"] == base and len(saved["rows"]) == 2 and
     all(r["curve"] for r in saved["rows"]),
     "--json writes the rows with their accuracy curves")
T.done()
