#!/usr/bin/python3
"""Soak: nothing acknowledged is lost and nothing is applied twice while
workers are SIGKILLed mid-push and the server is SIGTERMed and restarted
from its checkpoint (issue 11).

    soak.py [--workers N] [--updates N | --seconds S] [--kill-every S]
            [--restart-every S] [--progress N] [--slots N] [--seed N]

make check runs it as it is: about 30 seconds (--seconds 30), and on
until there were three worker kills, one of them mid-push and resumed
(the push sent again), and two server restarts, whatever the machine's
speed.
make soak runs --updates 1000000 (SOAK_UPDATES, SOAK_ARGS).

Worker processes (tests/soak-worker.py, psctl.Client) push small integers
into a --rule add server (async), each to its own tensor: push SEQ of
worker K adds 1 to element SEQ % SLOTS of "wK".  Every push has one
outcome in the worker's journal: acknowledged (must be in the model
exactly once), refused with an error (must not be), or ambiguous (its
worker could not resume while it was unanswered, which only a server
restart causes, or a run cut short: once or not at all).  A killed worker's unanswered push
is sent again by its next life with the same sequence number, and is
then acknowledged like any other.  So for every worker and residue R:

    acknowledged(R) <= model[wK][R] <= acknowledged(R) + ambiguous(R)

lost counts the pushes missing below the first bound, duplicated those
applied beyond the second (the same push applied twice, or a refused one
applied).  A loss and a duplicate of the same worker and residue would
cancel: SLOTS residues make that unlikely, never impossible.

A worker is killed every --kill-every seconds on average, the server
restarted every --restart-every seconds, but only after the workers made
about --progress pushes each since the last of these events, so that a
slow machine slows the soak down instead of stalling it (with --updates,
a hundred or so events in all).

The server runs with --checkpoint-on-exit; each restart is SIGTERM (exit
status 0 expected), then a new server with --load on the newest
checkpoint, on a new port (DIR/url tells the workers).  At the end the
model pulled from the last server, and the checkpoint it writes on its
SIGTERM, must both hold what the journals say, and the model version
must have grown by the number of pushes applied.

The verdict line: "soak: U updates in T s (R updates/s), W workers,
K kills, S restarts, peak RSS M MiB, ambiguous=A lost=L duplicated=D";
peak RSS is the largest VmHWM of the server processes.  Times and rates
are reported, never judged.
"""

import argparse
import os
import random
import signal
import subprocess
import sys
import time

import pstest as T

T.require("numpy", "websocket")
import numpy as np  # noqa: E402

from psctl import Client  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--workers", type=int, default=4)
ap.add_argument("--updates", type=int, default=0,
                help="acknowledged pushes in all (0: run --seconds)")
ap.add_argument("--seconds", type=float, default=30)
ap.add_argument("--kill-every", type=float, default=3)
ap.add_argument("--restart-every", type=float, default=10)
ap.add_argument("--progress", type=int, default=0,
                help="pushes per worker, about, between two kills or "
                "restarts (default 50, or a hundredth of each worker's "
                "share of --updates)")
ap.add_argument("--slots", type=int, default=64)
ap.add_argument("--seed", type=int,
                default=int(os.environ.get("PS_SOAK_SEED",
                                           str(int(time.time())))))
opt = ap.parse_args()
if not opt.progress:
    opt.progress = max(50, opt.updates // opt.workers // 100)
if opt.updates:
    T.watchdog(24 * 3600)
else:
    T.watchdog(900)
MIN_KILLS = 3
MIN_RESTARTS = 2

T.plan(8)
T.diag("PS_SOAK_SEED=%d" % opt.seed)
rnd = random.Random(opt.seed)
d = T.tmpdir("soak")
ck = os.path.join(d, "ckpt")
WORKER = os.path.join(T.SRCDIR, "tests", "soak-worker.py")
SERVE = ["--rule", "add", "--checkpoint-dir", ck, "--checkpoint-on-exit",
         "-q"]
quota = -(-opt.updates // opt.workers) if opt.updates else 1 << 62


def vmhwm(pid):
    """The process's peak resident set, in KiB (0 once it is gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def write_url(gen, url):
    tmp = os.path.join(d, "url.tmp")
    with open(tmp, "w") as f:
        f.write("%d %s\n" % (gen, url))
    os.rename(tmp, os.path.join(d, "url"))


def newest_checkpoint():
    names = [f for f in os.listdir(ck)
             if f.startswith("ckpt-") and f.endswith(".safetensors")]
    if not names:
        return None
    names.sort(key=lambda f: int(f[5:-len(".safetensors")]))
    return os.path.join(ck, names[-1])


ports = set()


def start_server(load=None):
    """A server on a port none before it had (a worker still holding an
    old URL must fail to connect, not reach the new server)."""
    while True:
        srv = T.Server(*(SERVE + (["--load", load] if load else [])))
        if srv.port not in ports:
            ports.add(srv.port)
            return srv
        srv.kill()


srv = start_server()
gen = 0
with Client(srv.url, name="soak-init") as c:
    c.init({"w%d" % k: np.zeros(opt.slots, dtype=np.float32)
            for k in range(opt.workers)})
    version0 = c.version
write_url(gen, srv.url)

procs = {}
errs = {}


def spawn(k):
    errs[k] = open(os.path.join(d, "worker.%d.err" % k), "ab")
    procs[k] = subprocess.Popen(
        [sys.executable, WORKER, d, str(k), str(opt.slots), str(quota)],
        stdin=subprocess.DEVNULL, stdout=errs[k], stderr=errs[k])


t0 = time.monotonic()
for k in range(opt.workers):
    spawn(k)
kills = restarts = 0
restart_fail = []
worker_fail = []
peak = 0
finished = set()
next_kill = t0 + rnd.expovariate(1 / opt.kill_every)
next_restart = t0 + rnd.expovariate(1 / opt.restart_every)
stopping = False
next_count = 0


def journal_bytes():
    n = 0
    for k in range(opt.workers):
        try:
            n += os.stat(os.path.join(d, "journal.%d" % k)).st_size
        except OSError:
            pass
    return n


# Between two events the workers make progress, however slow the machine:
# a push writes about 20 bytes of journal.
gate_step = 20 * opt.progress * opt.workers
gate = gate_step


def journal_count(what):
    n = 0
    for k in range(opt.workers):
        try:
            with open(os.path.join(d, "journal.%d" % k)) as f:
                n += sum(1 for line in f if line[0] == what)
        except OSError:
            pass
    return n


while len(finished) < opt.workers and not worker_fail and not restart_fail:
    time.sleep(0.02)
    now = time.monotonic()
    for k, p in procs.items():
        if k in finished or p.poll() is None:
            continue
        if p.returncode == 0:
            finished.add(k)
        else:
            worker_fail.append((k, p.returncode))
    if (not opt.updates and not stopping and now - t0 >= opt.seconds and
            kills >= MIN_KILLS and restarts >= MIN_RESTARTS and
            now >= next_count):
        next_count = now + 1
        if journal_count("T") >= 1:
            open(os.path.join(d, "stop"), "w").close()
            stopping = True
    if stopping or len(finished) == opt.workers:
        continue
    if journal_bytes() < gate:
        continue
    if now >= next_kill:
        live = [k for k in procs if k not in finished and
                procs[k].poll() is None]
        if live:
            k = rnd.choice(live)
            procs[k].kill()
            procs[k].wait()
            kills += 1
            spawn(k)
        next_kill = now + rnd.expovariate(1 / opt.kill_every)
        gate = journal_bytes() + gate_step
    if now >= next_restart:
        peak = max(peak, vmhwm(srv.proc.pid))
        st = srv.stop(signal.SIGTERM, timeout=300)
        ckpt = newest_checkpoint()
        if st != 0 or ckpt is None:
            restart_fail.append("exit status %r, checkpoint %r:\n%s" %
                                (st, ckpt, srv.log()[-2000:]))
            break
        srv = start_server(ckpt)
        gen += 1
        write_url(gen, srv.url)
        restarts += 1
        gate = journal_bytes() + gate_step
        next_restart = time.monotonic() + rnd.expovariate(
            1 / opt.restart_every)

for k, p in procs.items():
    if p.poll() is None:
        if worker_fail or restart_fail:
            p.kill()
        p.wait()
    if p.returncode != 0 and k not in finished and \
            (k, p.returncode) not in worker_fail:
        worker_fail.append((k, p.returncode))
elapsed = time.monotonic() - t0
for k, p in procs.items():
    errs[k].close()

T.ok(not restart_fail, "%d server restarts: each SIGTERM exited 0 with a "
     "checkpoint, and a server loaded it" % restarts)
for r in restart_fail:
    T.diag(r)
T.ok(not worker_fail, "every worker process ran to its end (%d killed "
     "and started again)" % kills)
for k, rc in worker_fail:
    T.diag("worker %d exited %d:" % (k, rc))
    with open(os.path.join(d, "worker.%d.err" % k), errors="replace") as f:
        T.diag(f.read()[-3000:])
resent = journal_count("T")
T.ok(kills >= MIN_KILLS and restarts >= MIN_RESTARTS and resent >= 1 or
     opt.updates, "at least %d kills (%d), %d restarts (%d), and a killed "
     "push sent again by the resumed worker (%d)" % (
         MIN_KILLS, kills, MIN_RESTARTS, restarts, resent))

# What the journals say.
acked = np.zeros((opt.workers, opt.slots), dtype=np.int64)
ambiguous = np.zeros_like(acked)
refused = 0
for k in range(opt.workers):
    pending = None
    with open(os.path.join(d, "journal.%d" % k)) as f:
        for line in f:
            w = line.split()
            if w[0] == "P":
                pending = int(w[1])
            elif w[0] == "A":
                acked[k, int(w[1]) % opt.slots] += 1
            elif w[0] == "X":
                ambiguous[k, int(w[1]) % opt.slots] += 1
            elif w[0] == "R":
                refused += 1
            if w[0] in "AXR":
                pending = None
    # A push its worker never learnt the outcome of (a run cut short
    # killed it mid-push): once or not at all.
    if pending is not None:
        ambiguous[k, pending % opt.slots] += 1

with Client(srv.url, name="soak-check") as c:
    version, got = c.pull(copy=True)
model = np.stack([got["w%d" % k] for k in range(opt.workers)])
peak = max(peak, vmhwm(srv.proc.pid))
st = srv.stop(signal.SIGTERM, timeout=300)
ckpt = newest_checkpoint()
_, saved = T.read_safetensors(ckpt) if ckpt else (None, {})
T.ok(st == 0 and all(np.array_equal(saved.get("w%d" % k), got["w%d" % k])
                     for k in range(opt.workers)),
     "the last server stops with status 0 and its checkpoint holds the "
     "model it served last (%s)" % (os.path.basename(ckpt or "none")))

applied = model.astype(np.int64)
T.ok(np.array_equal(applied, model) and (applied >= 0).all(),
     "the model holds whole numbers of pushes")
lost = int(np.maximum(acked - applied, 0).sum())
dup = int(np.maximum(applied - acked - ambiguous, 0).sum())
T.is_eq(lost, 0, "no acknowledged push is lost")
T.is_eq(dup, 0, "no push is applied twice, nor a refused one at all")
T.is_eq(version - version0, int(applied.sum()),
        "the model version grew by the number of pushes applied")
if lost or dup:
    for k in range(opt.workers):
        for r in range(opt.slots):
            if not acked[k, r] <= applied[k, r] <= \
                    acked[k, r] + ambiguous[k, r]:
                T.diag("w%d[%d]: %d applied, %d acknowledged, %d ambiguous"
                       % (k, r, applied[k, r], acked[k, r],
                          ambiguous[k, r]))

n = int(acked.sum())
T.diag("soak: %d updates in %.1f s (%.0f updates/s), %d workers, %d kills, "
       "%d restarts, peak RSS %.1f MiB, resent=%d refused=%d ambiguous=%d "
       "lost=%d duplicated=%d" % (n, elapsed, n / elapsed, opt.workers,
                                  kills, restarts, peak / 1024.0, resent,
                                  refused,
                                  int(ambiguous.sum()), lost, dup))
T.done()
