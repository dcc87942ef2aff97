"""What the examples share: a psctl server started for each run, one
worker function run K times by one of three launchers (multiprocessing,
Dask distributed, MPI), a watcher that measures held-out accuracy against
wall time, the table, and the accuracy-against-time PNG.

An example is a file that provides, at module level (every launcher's
processes load that file by its path and call them):

    worker(rank, nworkers, url, cfg) -> {"pushes": n, "start": t0,
        "end": t1}, t0 and t1 from time.time() once its init returned and
        after its last push; cfg["mode"] is the server's mode
    evaluate(params) -> held-out accuracy of {name: array}

and calls main() with its server arguments (a function of the mode and
the number of workers) and its one-process baseline, a function returning
(held-out accuracy, seconds of training).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TREE_PY = os.path.join(HERE, "..", "python")
# psctl from the source tree when it is not installed; the worker
# processes of every launcher inherit the path through PYTHONPATH.
if os.path.isdir(TREE_PY):
    sys.path.insert(0, os.path.abspath(TREE_PY))
_pp = [HERE, os.path.abspath(TREE_PY)] + \
    [p for p in os.environ.get("PYTHONPATH", "").split(":") if p]
os.environ["PYTHONPATH"] = ":".join(dict.fromkeys(_pp))

import psctl  # noqa: E402

LAUNCHERS = ("multiprocessing", "dask", "mpi")
MODES = ("async", "sync", "ssp")


def find_psctl(given=None):
    for p in (given, os.environ.get("PSCTL"),
              os.path.join(HERE, "..", "..", "src", "psctl"),
              shutil.which("psctl")):
        if p and os.access(p, os.X_OK):
            return os.path.abspath(p)
    sys.exit("no psctl binary: build it, put it on PATH or pass --psctl")


class Server:
    """psctl serve on 127.0.0.1 and a free port, stopped by stop()."""

    def __init__(self, exe, args):
        self.proc = subprocess.Popen(
            [exe, "serve", "--listen", "127.0.0.1:0"] + args,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT)
        end = time.monotonic() + 15
        self.log = []
        while time.monotonic() < end:
            line = self.proc.stdout.readline().decode("utf-8", "replace")
            if not line:
                break
            self.log.append(line)
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if m:
                self.url = "ws://127.0.0.1:%s" % m.group(1)
                threading.Thread(target=self._drain, daemon=True).start()
                return
        self.proc.kill()
        sys.exit("psctl serve did not start:\n" + "".join(self.log))

    def _drain(self):
        for line in self.proc.stdout:
            pass

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Watcher(threading.Thread):
    """Pulls the model every `every` seconds and keeps (seconds since
    start, model version, a copy of the model); points() evaluates them
    once the run is over, so that evaluating (a CNN's forward pass over
    the held-out set costs as much as a few training steps) takes no CPU
    from the workers while they train.  At most MAX snapshots are kept:
    when full, every other one is dropped and the period doubles.

    The protocol has no observer role: the watcher is a worker that never
    pushes.  Under ssp a connected worker that never pushes is the slowest
    one and holds every other worker's pull, so there it connects for each
    pull and leaves at once; under sync, where a worker leaving makes the
    rounds smaller, it stays connected."""

    MAX = 128

    def __init__(self, url, evaluate, mode, every=0.05):
        super().__init__(daemon=True)
        self.url, self.evaluate, self.every = url, evaluate, every
        self.stay = mode != "ssp"
        self.snaps = []
        self.done = threading.Event()
        self.t0 = time.monotonic()
        self.c = None

    def sample(self):
        try:
            if self.c is None:
                self.c = psctl.Client(self.url, name="watcher", timeout=None)
            v, p = self.c.pull(copy=True)
        except psctl.NoModelError:
            return
        finally:
            if not self.stay and self.c is not None:
                self.c.close()
                self.c = None
        if len(self.snaps) >= self.MAX:
            self.snaps = self.snaps[::2]
            self.every *= 2
        self.snaps.append((time.monotonic() - self.t0, v, p))

    def points(self):
        """[(seconds since start, held-out accuracy, model version)]."""
        return [(t, self.evaluate(p), v) for t, v, p in self.snaps]

    def run(self):
        while not self.done.wait(self.every):
            self.sample()
        self.sample()
        if self.c is not None:
            self.c.close()


# -- launchers: run worker(rank, K, url, cfg) for rank in 0..K-1 ------------

def load(path):
    """The example module at `path` (a file), imported once per process
    under a name of its own, so that its main() does not run."""
    import importlib.util
    name = "psctl_example_" + re.sub(r"\W", "_", os.path.relpath(
        os.path.abspath(path), HERE)[:-3])
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        m = importlib.util.module_from_spec(spec)
        sys.modules[name] = m
        spec.loader.exec_module(m)
    return sys.modules[name]


def _mp_entry(args):
    module, rank, k, url, cfg = args
    return load(module).worker(rank, k, url, cfg)


def launch_multiprocessing(module, k, url, cfg, pool):
    """A Pool of k forked processes, made by prepare() before the watcher
    thread starts: a child forked while another thread holds a lock can
    wait for ever."""
    return pool.map(_mp_entry, [(module, r, k, url, cfg) for r in range(k)])


_dask = {}


def launch_dask(module, k, url, cfg, _):
    """Dask distributed: a LocalCluster of k single-threaded worker
    processes (started by prepare() and kept for the whole run), one task
    per worker."""
    dc = _dask["client"]
    workers = sorted(dc.scheduler_info()["workers"])
    futs = [dc.submit(_mp_entry, (module, r, k, url, cfg), pure=False,
                      workers=[workers[r % len(workers)]])
            for r in range(k)]
    return dc.gather(futs)


def start_dask(k):
    """A directory of its own (no purging of other runs' stale ones), and
    only critical logs: a task's error is raised by gather() anyway, and a
    nanny slow to kill its worker at the end (torch loaded, a busy
    machine) is no error of the run."""
    import logging
    import tempfile
    from dask.distributed import Client as DaskClient, LocalCluster
    if _dask.get("k") != k:
        close_dask()
        tmp = tempfile.mkdtemp(prefix="psctl-dask.")
        cluster = LocalCluster(n_workers=k, threads_per_worker=1,
                               processes=True, dashboard_address=None,
                               silence_logs=logging.CRITICAL,
                               local_directory=tmp)
        _dask.update(k=k, cluster=cluster, client=DaskClient(cluster),
                     tmp=tmp)


def close_dask():
    if "client" in _dask:
        _dask["client"].close()
        _dask["cluster"].close()
        shutil.rmtree(_dask["tmp"], ignore_errors=True)
        _dask.clear()


def launch_mpi(module, k, url, cfg, _):
    """mpirun -n k: each rank runs this file's mpi_main and prints its
    result as one line (no collective: Open MPI spins the CPU in one,
    which would slow the ranks still training on a small machine)."""
    mpirun = shutil.which("mpirun")
    if not mpirun:
        raise RuntimeError("mpirun not found (Debian: openmpi-bin)")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_btl="self,tcp",
               OMPI_MCA_rmaps_base_oversubscribe="1",
               OMPI_MCA_mpi_yield_when_idle="1")
    p = subprocess.run(
        [mpirun, "-n", str(k), "--oversubscribe", sys.executable,
         os.path.abspath(__file__), "--mpi-worker", module, url,
         json.dumps(cfg)], env=env, capture_output=True, text=True)
    # mpirun forwards the ranks' output in pieces, which may interleave:
    # each result is found by its own pattern (a flat JSON object), not
    # by lines.
    res = {int(m.group(1)): json.loads(m.group(2)) for m in
           re.finditer(r"RESULT (\d+) (\{[^{}]*\})", p.stdout)}
    if p.returncode == 0 and len(res) == k:
        return [res[r] for r in range(k)]
    raise RuntimeError("mpirun failed (exit %d):\n%s%s" % (
        p.returncode, p.stdout[-2000:], p.stderr[-2000:]))


def mpi_main(module, url, cfg):
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    r = load(module).worker(comm.Get_rank(), comm.Get_size(), url,
                            json.loads(cfg))
    print("RESULT %d %s" % (comm.Get_rank(), json.dumps(r)), flush=True)


LAUNCH = {"multiprocessing": launch_multiprocessing, "dask": launch_dask,
          "mpi": launch_mpi}


def prepare(launcher, k):
    """What a launcher needs before the clock starts: the forked Pool of
    multiprocessing (returned), Dask's cluster."""
    if launcher == "multiprocessing":
        import multiprocessing as mp
        return mp.get_context("fork").Pool(k)
    if launcher == "dask":
        start_dask(k)
    return None


# -- the run ------------------------------------------------------------------

def parser(description, epochs):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--workers", type=int, default=4,
                   help="workers K (default 4)")
    p.add_argument("--modes", default=",".join(MODES),
                   help="comma-separated: async,sync,ssp")
    p.add_argument("--launchers", default=",".join(LAUNCHERS),
                   help="comma-separated: multiprocessing,dask,mpi")
    p.add_argument("--epochs", type=int, default=epochs,
                   help="passes of each worker over its shard")
    p.add_argument("--staleness", type=int, default=2,
                   help="the bound of --mode ssp (default 2)")
    p.add_argument("--straggle", metavar="P:SECS",
                   help="each step sleeps SECS with probability P")
    p.add_argument("--no-reference", action="store_true",
                   help="skip the one-worker psctl run")
    p.add_argument("--plot", metavar="PNG",
                   help="draw held-out accuracy against wall time per mode")
    p.add_argument("--json", metavar="FILE",
                   help="write the table's rows as JSON")
    p.add_argument("--psctl", help="the psctl binary")
    return p


def straggler(spec):
    if not spec:
        return None
    p, _, s = spec.partition(":")
    return [float(p), float(s or 0.05)]


def one_run(module, exe, server_args, evaluate, mode, launcher, k, cfg,
            staleness):
    args = list(server_args(mode, k)) + ["--mode", mode]
    if mode == "sync":
        args += ["--workers", str(k)]
    elif mode == "ssp":
        args += ["--staleness", str(staleness)]
    pool = prepare(launcher, k)
    srv = Server(exe, args)
    w = None
    try:
        w = Watcher(srv.url, evaluate, mode)
        w.start()
        res = LAUNCH[launcher](module, k, srv.url, dict(cfg, mode=mode),
                               pool)
    finally:
        # The watcher ends (with a last sample) before its server does.
        if w is not None:
            w.done.set()
            w.join()
        srv.stop()
        if pool is not None:
            pool.close()
            pool.join()
    curve = w.points()
    _, acc, version = curve[-1]
    return {"mode": mode, "launcher": launcher, "workers": k,
            "accuracy": acc, "updates": version,
            "pushes": sum(r["pushes"] for r in res),
            "seconds": max(r["end"] for r in res) -
            min(r["start"] for r in res), "curve": curve}


def main(module, description, server_args, evaluate, baseline, cfg,
         epochs, argv=None):
    """Runs every mode under every launcher and prints the table."""
    a = parser(description, epochs).parse_args(argv)
    exe = find_psctl(a.psctl)
    cfg = dict(cfg, epochs=a.epochs, straggle=straggler(a.straggle))
    modes = [m for m in a.modes.split(",") if m]
    launchers = [x for x in a.launchers.split(",") if x]
    for m in modes:
        if m not in MODES:
            sys.exit("unknown mode %r" % m)
    for x in launchers:
        if x not in LAUNCHERS:
            sys.exit("unknown launcher %r" % x)
    base_acc, base_s = baseline(cfg)
    rows = []
    runs = [("async", launchers[0], 1)] if not a.no_reference else []
    runs += [(m, x, a.workers) for x in launchers for m in modes]
    print(HEADER)
    try:
        for m, x, k in runs:
            rows.append(one_run(module, exe, server_args, evaluate, m, x, k,
                                cfg, a.staleness))
            print_row(rows[-1], base_acc)
    finally:
        close_dask()
    print_notes(base_s)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"baseline": base_acc, "baseline_seconds": base_s,
                       "rows": rows}, f)
    if a.plot:
        plot(rows, base_acc, a.plot, description)
    return rows, base_acc


HEADER = "%-6s %-16s %7s %9s %8s %9s %9s" % (
    "mode", "launcher", "workers", "accuracy", "updates", "wall s",
    "baseline")


def print_row(r, base_acc):
    """One row of the table, printed as soon as its run is over."""
    print("%-6s %-16s %7d %9.4f %8d %9.2f %9.4f" % (
        r["mode"], r["launcher"], r["workers"], r["accuracy"],
        r["updates"], r["seconds"], base_acc), flush=True)


def print_notes(base_s):
    print("wall s: from the first worker's start of training to the last "
          "worker's last push.")
    print("baseline: the same model trained in one process without psctl "
          "(%.2f s)." % base_s)
    sys.stdout.flush()


def plot(rows, base_acc, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    for r in rows:
        # Time since the model was created: launchers differ in how long
        # their processes take to start, the modes in how they train.
        t0 = r["curve"][0][0] if r["curve"] else 0
        xs = [p[0] - t0 for p in r["curve"]]
        ys = [p[1] for p in r["curve"]]
        ax.plot(xs, ys, marker=".", markersize=3, linewidth=1.2,
                label="%s, %s, %d worker%s" % (
                    r["mode"], r["launcher"], r["workers"],
                    "" if r["workers"] == 1 else "s"))
    ax.axhline(base_acc, color="black", linestyle="--", linewidth=1,
               label="one process, no psctl (final)")
    ax.set_xlabel("wall time since the model was created (s)")
    ax.set_ylabel("held-out accuracy")
    ax.set_ylim(max(0.0, min(0.5, base_acc - 0.3)), 1.0)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__" and len(sys.argv) == 5 and \
        sys.argv[1] == "--mpi-worker":
    mpi_main(sys.argv[2], sys.argv[3], sys.argv[4])
