#!/usr/bin/python3
"""Stopping psctl serve: SIGTERM with --checkpoint-on-exit writes a final
checkpoint of the model as it was and exits 0; the systemd notify socket
hears READY=1 then STOPPING=1; SIGHUP reopens --log-file; --checkpoint-every writes while the model
changes; SIGINT without a checkpoint directory exits 0 too.
"""

import os
import signal
import socket
import time

import pstest as T

T.require("numpy", "websocket")
import numpy as np  # noqa: E402

T.plan(14)
d = T.tmpdir()
ck = os.path.join(d, "ckpt")
logfile = os.path.join(d, "psctl.log")
sockpath = os.path.join(d, "notify")
ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
ns.bind(sockpath)
ns.settimeout(10)

srv = T.Server("--checkpoint-dir", ck, "--checkpoint-on-exit",
               "--log-file", logfile, env={"NOTIFY_SOCKET": sockpath},
               wait=False)
first = ns.recv(4096).decode()
T.ok(first.split("\n")[0] == "READY=1",
     "the notify socket hears READY=1 once it listens (%r)" % first)
srv.logpath = logfile
T.ok(srv.wait_log(T.LISTENING, 0) is not None, "the log goes to --log-file")
srv.wait_listening()

rng = np.random.default_rng(3)
w = srv.worker()
w.init({"w": rng.standard_normal(1000).astype("f4")})
for i in range(4):
    w.push({"w": rng.standard_normal(1000).astype("f4")})
version, model = w.pull()

# SIGHUP: the log file is reopened (rotation moved the old one away).
os.rename(logfile, logfile + ".1")
srv.signal(signal.SIGHUP)
srv.worker(hello=False).close()     # something to log after the reopen
for _ in range(100):
    if os.path.exists(logfile):
        break
    time.sleep(0.05)
T.ok(os.path.exists(logfile), "SIGHUP reopens --log-file at its path")
T.ok(srv.proc.poll() is None, "SIGHUP does not stop the server")

srv.signal(signal.SIGTERM)
stopping = ns.recv(4096).decode()
T.ok(stopping.split("\n")[0] == "STOPPING=1",
     "SIGTERM: the notify socket hears STOPPING=1 (%r)" % stopping)
T.is_eq(srv.wait(), 0, "the server exits 0 after SIGTERM")
final = os.path.join(ck, "ckpt-%06d.safetensors" % version)
T.ok(os.path.exists(final), "a final checkpoint of version %d was written"
     % version)
meta, saved = T.read_safetensors(final)
T.ok(np.array_equal(saved["w"], model["w"]),
     "it holds the model exactly as it was when the signal came")
T.ok(sorted(os.listdir(ck)) == [".psctl.lock",
                                "ckpt-%06d.safetensors" % version,
                                "initial.safetensors"],
     "and no temporary files are left")
with open(logfile) as f:
    text = f.read()
T.ok("checkpoint" in text and "stopped" in text,
     "the reopened log records the checkpoint and the stop")

# --checkpoint-every: a checkpoint each period while the model changes.
ck3 = os.path.join(d, "periodic")
srv3 = T.Server("--checkpoint-dir", ck3, "--checkpoint-every", "1")
w3 = srv3.worker()
w3.init({"p": np.zeros(8, "f4")})
w3.push({"p": np.ones(8, "f4")})
want = os.path.join(ck3, "ckpt-000001.safetensors")
for _ in range(100):
    if os.path.exists(want):
        break
    time.sleep(0.05)
meta, saved = T.read_safetensors(want) if os.path.exists(want) else ({}, {})
T.ok("p" in saved and np.array_equal(saved["p"], np.ones(8, "f4")),
     "--checkpoint-every 1 writes ckpt-000001 within a few seconds")
time.sleep(2.5)
T.is_eq(sorted(f for f in os.listdir(ck3) if f.startswith("ckpt-")),
        ["ckpt-000001.safetensors"],
        "and nothing more while the model does not change")
srv3.signal(signal.SIGTERM)
srv3.wait()

srv2 = T.Server()
w2 = srv2.worker()
w2.init({"a": np.zeros(4, "f4")})
srv2.signal(signal.SIGINT)
T.is_eq(srv2.wait(), 0, "SIGINT with workers connected exits 0")
rc, out, err = T.psctl("stop", "--checkpoint", url=srv2.url)
T.is_eq(rc, 69, "once it is gone, stop exits 69")
T.done()
