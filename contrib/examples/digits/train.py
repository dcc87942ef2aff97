#!/usr/bin/python3
"""Softmax regression or a small MLP, in numpy, on scikit-learn's bundled
digits (8x8 images, 10 classes; no download), trained by K psctl workers,
each on its own shard, in the async, sync and ssp modes, launched by
multiprocessing, Dask distributed and MPI.  Prints one table: mode,
launcher, workers, held-out accuracy, updates applied, wall time, and the
same model trained in one process without psctl.

    contrib/examples/digits/train.py                      # softmax, all
    contrib/examples/digits/train.py --model mlp --plot mlp.png
    contrib/examples/digits/train.py --launchers dask --modes sync,ssp \\
        --straggle 0.1:0.02                               # stragglers

The server runs --rule sgd: each worker pulls, computes the gradient of a
minibatch of its shard and pushes it.  Under async and ssp each worker's
minibatch is BATCH examples and the server applies each push.  Under sync
the server applies the mean of the K workers' gradients once a round, so
each worker takes BATCH/K examples a step: a round is one minibatch of
BATCH, the same SGD as one worker's, at the same learning rate.

The learning rate decays linearly to zero over the run, as in the
one-process baseline; the server's is fixed, so each worker scales the
gradient it pushes (under --rule sgd the same thing).  The last steps are
then small ones and the final accuracy does not hang on where the last
step happened to land.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
import launch  # noqa: E402

import numpy as np  # noqa: E402

import psctl  # noqa: E402

LR = {"softmax": 0.5, "mlp": 0.2}
BATCH = 32
HIDDEN = 64

_data = None


def data():
    """(train X, train y, test X, test y): 75/25, stratified, seed 0;
    pixels scaled to [0, 1]."""
    global _data
    if _data is None:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
        X, y = load_digits(return_X_y=True)
        X = (X / 16.0).astype(np.float32)
        xt, xv, yt, yv = train_test_split(X, y, test_size=0.25,
                                          random_state=0, stratify=y)
        _data = (xt, yt, xv, yv)
    return _data


def init_params(model):
    rng = np.random.default_rng(0)
    if model == "softmax":
        return {"w": np.zeros((64, 10), np.float32),
                "b": np.zeros(10, np.float32)}
    return {"w1": (rng.standard_normal((64, HIDDEN)) *
                   np.sqrt(2 / 64)).astype(np.float32),
            "b1": np.zeros(HIDDEN, np.float32),
            "w2": (rng.standard_normal((HIDDEN, 10)) *
                   np.sqrt(1 / HIDDEN)).astype(np.float32),
            "b2": np.zeros(10, np.float32)}


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def logits(p, X):
    if "w" in p:
        return X @ p["w"] + p["b"]
    h = np.maximum(X @ p["w1"] + p["b1"], 0)
    return h @ p["w2"] + p["b2"]


def grads(p, X, y):
    """Gradient of the mean cross-entropy over the batch."""
    n = len(y)
    if "w" in p:
        d = _softmax(X @ p["w"] + p["b"])
        d[np.arange(n), y] -= 1
        d /= n
        return {"w": X.T @ d, "b": d.sum(axis=0)}
    a = X @ p["w1"] + p["b1"]
    h = np.maximum(a, 0)
    d = _softmax(h @ p["w2"] + p["b2"])
    d[np.arange(n), y] -= 1
    d /= n
    dh = (d @ p["w2"].T) * (a > 0)
    return {"w1": X.T @ dh, "b1": dh.sum(axis=0), "w2": h.T @ d,
            "b2": d.sum(axis=0)}


def evaluate(p):
    _, _, xv, yv = data()
    return float((logits(p, xv).argmax(axis=1) == yv).mean())


def decay(step, steps):
    """The learning rate's factor at `step` of `steps`: linear to zero."""
    return 1.0 - step / steps


def worker(rank, nworkers, url, cfg):
    """One psctl worker on shard `rank` of `nworkers`: pull, gradient of a
    minibatch, push; `epochs` passes over the shard."""
    xt, yt, _, _ = data()
    X, y = xt[rank::nworkers], yt[rank::nworkers]
    batch = BATCH // nworkers if cfg.get("mode") == "sync" else BATCH
    # Whole minibatches of the smallest shard, the same number for every
    # worker: under sync a worker that finished early would leave the
    # others' last rounds short of it.
    per_epoch = (len(xt) // nworkers) // batch
    steps = cfg["epochs"] * per_epoch
    rng = np.random.default_rng(100 + rank)
    straggle = cfg.get("straggle")
    pushes = 0
    with psctl.Client(url, name="digits-%d" % rank, timeout=None) as c:
        c.init(init_params(cfg["model"]))
        start = time.time()
        for _ in range(cfg["epochs"]):
            order = rng.permutation(len(y))
            for i in range(0, per_epoch * batch, batch):
                idx = order[i:i + batch]
                _, p = c.pull()
                f = decay(pushes, steps)
                g = {k: v * f for k, v in grads(p, X[idx], y[idx]).items()}
                if straggle and rng.random() < straggle[0]:
                    time.sleep(straggle[1])
                c.push(g)
                pushes += 1
    return {"pushes": pushes, "start": start, "end": time.time()}


def baseline(cfg):
    """The same model, minibatch SGD in one process, no psctl."""
    xt, yt, _, _ = data()
    p = init_params(cfg["model"])
    rng = np.random.default_rng(100)
    lr = LR[cfg["model"]]
    per_epoch = len(yt) // BATCH
    steps = cfg["epochs"] * per_epoch
    step = 0
    t0 = time.monotonic()
    for _ in range(cfg["epochs"]):
        order = rng.permutation(len(yt))
        for i in range(0, per_epoch * BATCH, BATCH):
            idx = order[i:i + BATCH]
            f = lr * decay(step, steps)
            for k, g in grads(p, xt[idx], yt[idx]).items():
                p[k] -= f * g
            step += 1
    return evaluate(p), time.monotonic() - t0


def main(argv=None):
    model = "softmax"
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--model" in argv:
        i = argv.index("--model")
        model = argv[i + 1]
        del argv[i:i + 2]
        if model not in LR:
            sys.exit("--model is softmax or mlp")
    return launch.main(
        os.path.abspath(__file__),
        "digits: %s in numpy" % {"softmax": "softmax regression",
                                 "mlp": "MLP (64-64-10)"}[model],
        lambda mode, k: ["--rule", "sgd", "--lr", str(LR[model])], evaluate,
        baseline, {"model": model}, epochs=20 if model == "softmax" else 40,
        argv=argv)


if __name__ == "__main__":
    main()
