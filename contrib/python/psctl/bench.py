"""python3 -m psctl bench: psctl-bench(1) in Python, same flags, same JSON
keys, so the two clients can be compared against one server in one run.

Workers are processes (one connection each), not threads, so that they
run in parallel as the C client's threads do."""

import argparse
import json
import math
import multiprocessing as mp
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np

from .client import Client, default_token, default_url
from .errors import AuthError, ConnectError, PsctlError, ServerError

EX_OK, EX_USAGE, EX_DATAERR, EX_NOINPUT = 0, 64, 65, 66
EX_UNAVAILABLE, EX_NOPERM = 69, 77


class _Usage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _Usage(message)


def _count(flag, hi):
    def parse(s):
        try:
            v = int(s, 10)
        except ValueError:
            v = 0
        if not 1 <= v <= hi:
            raise argparse.ArgumentTypeError(
                "%s wants a number from 1 to %d, not '%s'" % (flag, hi, s))
        return v
    return parse


def _seconds(s):
    try:
        v = float(s)
    except ValueError:
        v = -1
    if not 0 < v <= 86400 or math.isnan(v):
        raise argparse.ArgumentTypeError(
            "--seconds wants a duration in seconds, not '%s'" % s)
    return v


def parser():
    p = _Parser(prog="python3 -m psctl bench",
                description="Measure the throughput and latency of a psctl "
                "server with Python workers (see psctl-bench(1)).")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--connect", metavar="url")
    g.add_argument("--spawn", action="store_true")
    p.add_argument("--workers", type=_count("--workers", 1024), default=1)
    p.add_argument("--params", type=_count("--params", 1 << 40),
                   default=1000000)
    p.add_argument("--tensors", type=_count("--tensors", 65536), default=1)
    p.add_argument("--seconds", type=_seconds, default=5.0)
    p.add_argument("--op", choices=("pull", "push", "pushpull"),
                   default="pushpull")
    p.add_argument("--json", action="store_true")
    p.add_argument("--mode")
    p.add_argument("--rule")
    p.add_argument("--token-file", metavar="file")
    p.add_argument("--ca-file", metavar="file")
    return p


def _spawn(a):
    """Starts psctl serve on a free port; returns (process, url)."""
    exe = os.environ.get("PSCTL") or shutil.which("psctl")
    if not exe:
        raise ConnectError("--spawn", "no psctl binary (set PSCTL or PATH)")
    argv = [exe, "serve", "--listen", "127.0.0.1:0"]
    if a.mode:
        argv += ["--mode", a.mode]
        if a.mode == "sync":
            argv += ["--workers", str(a.workers)]
    if a.rule:
        argv += ["--rule", a.rule]
    if a.token_file:
        argv += ["--token-file", a.token_file]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log = []
    end = time.monotonic() + 15
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            break
        log.append(line.decode("utf-8", "replace"))
        m = re.search(r"127\.0\.0\.1:(\d+)", log[-1])
        if m and int(m.group(1)) > 0:
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc, "ws://127.0.0.1:%s" % m.group(1)
    proc.kill()
    proc.wait()
    raise ConnectError("--spawn", "psctl serve did not start: " +
                       "".join(log[-5:]).strip())


def _model(a, c):
    """Creates the bench model on an empty server, or checks the server's;
    returns the update to push {name: array}."""
    if not c.model:
        each, extra = divmod(a.params, a.tensors)
        init = {}
        base = (np.arange(a.params, dtype=np.int64) % 1000).astype(
            np.float32) * np.float32(1e-3)
        off = 0
        for i in range(a.tensors):
            n = each + (1 if i < extra else 0)
            init["bench/%d" % i] = base[off:off + n]
            off += n
        c.init(init)
    total = sum(int(np.prod(s, dtype=np.int64)) for _, s in c.model)
    n = len(c.model)
    if n != a.tensors or total != a.params:
        raise ValueError("the server holds a model of %d parameters in %d "
                         "tensor%s, not %d in %d: use --params %d --tensors "
                         "%d, or an empty server" % (
                             total, n, "" if n == 1 else "s", a.params,
                             a.tensors, total, n))
    return {name: np.full(shape, 1e-7, np.float32) for name, shape in c.model}


def _worker(a, url, token, idx, barrier, t0, out):
    """One worker process: waits at the barrier, then calls back to back."""
    res = {"pulls": [], "pushes": [], "pull_bytes": 0, "push_bytes": 0,
           "errors": 0, "first_error": None, "end": 0.0}
    c = None
    try:
        c = Client(url, token=token, name="pybench-%d" % idx,
                   ca_file=a.ca_file, retries=0)
        update = _model(a, c) if c.model else None
    except PsctlError as e:
        res["errors"] += 1
        res["first_error"] = "worker %d: connect: %s" % (idx, e)
    nbytes = a.params * 4
    do_pull = a.op in ("pull", "pushpull")
    do_push = a.op in ("push", "pushpull")
    pulls, pushes = res["pulls"], res["pushes"]
    clock = time.perf_counter
    barrier.wait()          # every worker has connected
    barrier.wait()          # the main process has stamped t0
    deadline = t0.value + a.seconds
    now = clock()

    def error(what, e):
        res["errors"] += 1
        if res["first_error"] is None:
            res["first_error"] = "worker %d: %s: %s" % (idx, what, e)

    # Each worker makes at least one call of each kind it does, even past
    # the deadline on a loaded machine: a figure from no calls is none.
    tried_pull, tried_push = not do_pull, not do_push
    while now < deadline or (c is not None and
                             not (tried_pull and tried_push)):
        if c is None:
            try:
                c = Client(url, token=token, name="pybench-%d" % idx,
                           ca_file=a.ca_file, retries=0)
                update = _model(a, c)
            except (PsctlError, ValueError) as e:
                error("connect", e)
                c = None
                time.sleep(0.05)
                now = clock()
                continue
        if do_push:
            tried_push = True
            t = clock()
            try:
                c.push(update)
                now = clock()
                pushes.append(now - t)
            except PsctlError as e:
                now = clock()
                error("push", e)
                if not isinstance(e, ServerError):
                    c.close()
                    c = None
                    continue
            if now >= deadline and tried_pull:
                break
        if do_pull:
            tried_pull = True
            t = clock()
            try:
                c.pull()
                now = clock()
                pulls.append(now - t)
            except PsctlError as e:
                now = clock()
                error("pull", e)
                if not isinstance(e, ServerError):
                    c.close()
                    c = None
    res["end"] = now
    res["pull_bytes"] = len(pulls) * nbytes
    res["push_bytes"] = len(pushes) * nbytes
    if c is not None:
        c.close()
    res["pulls"] = np.array(pulls)
    res["pushes"] = np.array(pushes)
    out.put(res)


def _pct(lat, p):
    if lat.size == 0:
        return None
    rank = max(1, math.ceil(p / 100.0 * lat.size))
    return float(np.partition(lat, rank - 1)[rank - 1]) * 1e3


def run(argv=None):
    try:
        a = parser().parse_args(argv)
    except _Usage as e:
        print("python3 -m psctl bench: %s" % e, file=sys.stderr)
        parser().print_usage(sys.stderr)
        return EX_USAGE
    if not a.spawn and (a.mode or a.rule):
        print("python3 -m psctl bench: --mode and --rule need --spawn",
              file=sys.stderr)
        return EX_USAGE
    if a.tensors > a.params:
        print("python3 -m psctl bench: --tensors %d is more than --params %d"
              % (a.tensors, a.params), file=sys.stderr)
        return EX_USAGE
    token = None
    if a.token_file:
        try:
            with open(a.token_file) as f:
                token = f.readline().strip()
        except OSError as e:
            print("python3 -m psctl bench: %s: %s" % (a.token_file,
                                                      e.strerror),
                  file=sys.stderr)
            return EX_NOINPUT
    else:
        token = default_token()
    srv = None
    try:
        if a.spawn:
            srv, url = _spawn(a)
        else:
            url = default_url(a.connect)
        return _run(a, url, token)
    except AuthError as e:
        print("python3 -m psctl bench: %s" % e, file=sys.stderr)
        return EX_NOPERM
    except ConnectError as e:
        print("python3 -m psctl bench: %s" % e, file=sys.stderr)
        return EX_UNAVAILABLE
    finally:
        if srv is not None:
            srv.send_signal(signal.SIGTERM)
            try:
                srv.wait(10)
            except subprocess.TimeoutExpired:
                srv.kill()
                srv.wait()


def _run(a, url, token):
    try:
        with Client(url, token=token, name="pybench", ca_file=a.ca_file,
                    retries=0) as c:
            _model(a, c)
    except (ServerError, ValueError) as e:
        print("python3 -m psctl bench: %s" % e, file=sys.stderr)
        return EX_DATAERR
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(a.workers + 1)
    t0 = ctx.Value("d", 0.0, lock=False)
    out = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(a, url, token, i, barrier, t0,
                                               out), daemon=True)
             for i in range(a.workers)]
    for p in procs:
        p.start()
    # The clock starts once every worker has connected, as psctl bench's
    # does: connecting is not part of the run.
    try:
        barrier.wait(120)
        t0.value = time.perf_counter()
        barrier.wait(120)
    except threading.BrokenBarrierError:
        for p in procs:
            p.kill()
        print("python3 -m psctl bench: the workers did not start",
              file=sys.stderr)
        return EX_UNAVAILABLE
    progress = sys.stderr.isatty()
    results = []
    while len(results) < a.workers:
        try:
            results.append(out.get(timeout=0.25))
        except Exception:
            if not any(p.is_alive() for p in procs) and out.empty():
                break
        if progress:
            el = min(time.perf_counter() - t0.value, a.seconds)
            sys.stderr.write("\rpython3 -m psctl bench: %.1f/%g s " %
                             (el, a.seconds))
    for p in procs:
        p.join()
    if progress:
        sys.stderr.write("\r%-72s\r" % "")
    return _report(a, url, t0.value, results)


def _report(a, url, t0, results):
    pulls = np.concatenate([r["pulls"] for r in results] + [np.zeros(0)])
    pushes = np.concatenate([r["pushes"] for r in results] + [np.zeros(0)])
    errors = sum(r["errors"] for r in results) + a.workers - len(results)
    first = next((r["first_error"] for r in results if r["first_error"]),
                 None)
    end = max([r["end"] for r in results] + [t0])
    el = max(end - t0, 1e-9)
    pull_bytes = sum(r["pull_bytes"] for r in results)
    push_bytes = sum(r["push_bytes"] for r in results)
    o = {
        "workers": a.workers, "params": a.params, "seconds": el,
        "pulls_per_s": pulls.size / el, "pushes_per_s": pushes.size / el,
        "pull_mib_per_s": pull_bytes / el / 1048576.0,
        "push_mib_per_s": push_bytes / el / 1048576.0,
        "pull_p50_ms": _pct(pulls, 50), "pull_p99_ms": _pct(pulls, 99),
        "push_p50_ms": _pct(pushes, 50), "push_p99_ms": _pct(pushes, 99),
        "errors": errors,
    }
    if a.json:
        print(json.dumps(o))
    else:
        print("%s: %d worker%s, %d parameters in %d tensor%s, %s, %.2f s" % (
            url, a.workers, "" if a.workers == 1 else "s", a.params,
            a.tensors, "" if a.tensors == 1 else "s", a.op, el))
        nan = float("nan")
        if a.op != "push":
            print("pulls:  %10.1f/s  %9.1f MiB/s  p50 %.3f ms  p99 %.3f ms" % (
                o["pulls_per_s"], o["pull_mib_per_s"],
                o["pull_p50_ms"] or nan, o["pull_p99_ms"] or nan))
        if a.op != "pull":
            print("pushes: %10.1f/s  %9.1f MiB/s  p50 %.3f ms  p99 %.3f ms" % (
                o["pushes_per_s"], o["push_mib_per_s"],
                o["push_p50_ms"] or nan, o["push_p99_ms"] or nan))
        print("errors: %d" % errors)
    sys.stdout.flush()
    if first:
        print("python3 -m psctl bench: %d error%s, the first: %s" % (
            errors, "" if errors == 1 else "s", first), file=sys.stderr)
    return EX_OK if pulls.size + pushes.size > 0 else EX_UNAVAILABLE
