#!/usr/bin/python3
"""A small CNN in PyTorch on scikit-learn's digits, trained by K workers
through psctl with psctl.torch.RemoteOptimizer against a server running
--rule adam, beside the same model trained in one process with
torch.optim.Adam.  Same launchers, modes and table as digits/.

    contrib/examples/torch-digits/train.py --plot cnn.png
    contrib/examples/torch-digits/train.py --modes async --launchers dask

The only change to a one-process training loop is the optimizer:
    opt = torch.optim.Adam(net.parameters(), lr=LR)              # before
    opt = psctl.torch.RemoteOptimizer(net, psctl.Client(url))    # after
"""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import launch  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import psctl  # noqa: E402
import psctl.torch  # noqa: E402

LR = 0.002
BATCH = 32
# One thread per process: K workers share the machine's cores, and the
# forked workers of the multiprocessing launcher must not inherit a
# running OpenMP pool.
torch.set_num_threads(1)

digits = launch.load(os.path.join(HERE, "..", "digits", "train.py"))


def net():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Flatten(),
        torch.nn.Linear(32 * 4 * 4, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 10))


def tensors(X, y):
    return (torch.from_numpy(X.reshape(-1, 1, 8, 8).copy()),
            torch.from_numpy(y.astype(np.int64)))


def evaluate(params):
    _, _, xv, yv = digits.data()
    m = net()
    with torch.no_grad():
        for name, p in m.named_parameters():
            p.copy_(torch.from_numpy(np.array(params[name])))
        x, y = tensors(xv, yv)
        return float((m(x).argmax(1) == y).float().mean())


def train(model, opt, X, y, epochs, seed, straggle=None, batch=BATCH,
          per_epoch=None):
    """The training loop, the same in one process and in a worker:
    `per_epoch` whole minibatches of `batch` a pass (all that fit)."""
    x, t = tensors(X, y)
    rng = np.random.default_rng(seed)
    loss_fn = torch.nn.CrossEntropyLoss()
    steps = 0
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(len(t)))
        for i in range(0, (per_epoch or len(t) // batch) * batch, batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            loss_fn(model(x[idx]), t[idx]).backward()
            if straggle and rng.random() < straggle[0]:
                time.sleep(straggle[1])
            opt.step()
            steps += 1
    return steps


def worker(rank, nworkers, url, cfg):
    """Under sync the server averages the K workers' gradients once a
    round: each takes BATCH/K images a step, so a round is the baseline's
    minibatch of BATCH.  Every worker makes as many steps as the smallest
    shard allows: under sync one that finished early would leave the
    others' last rounds short of it."""
    torch.set_num_threads(1)
    xt, yt, _, _ = digits.data()
    batch = BATCH // nworkers if cfg.get("mode") == "sync" else BATCH
    model = net()
    with psctl.Client(url, name="cnn-%d" % rank, timeout=None) as c:
        opt = psctl.torch.RemoteOptimizer(model, c)
        start = time.time()
        n = train(model, opt, xt[rank::nworkers], yt[rank::nworkers],
                  cfg["epochs"], 100 + rank, cfg.get("straggle"), batch,
                  (len(xt) // nworkers) // batch)
    return {"pushes": n, "start": start, "end": time.time()}


def baseline(cfg):
    xt, yt, _, _ = digits.data()
    model = net()
    t0 = time.monotonic()
    train(model, torch.optim.Adam(model.parameters(), lr=LR), xt, yt,
          cfg["epochs"], 100)
    secs = time.monotonic() - t0
    return evaluate({n: p.detach().numpy()
                     for n, p in model.named_parameters()}), secs


def main(argv=None):
    return launch.main(
        os.path.abspath(__file__),
        "torch-digits: a small CNN, RemoteOptimizer against --rule adam",
        lambda mode, k: ["--rule", "adam", "--lr", str(LR)], evaluate,
        baseline, {}, epochs=20, argv=argv)


if __name__ == "__main__":
    main()
