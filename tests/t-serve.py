#!/usr/bin/env python3
"""psctl serve, async mode, driven by an independent client: hello, init,
pull and push; every update rule against numpy; concurrent pushes lose
nothing; large models go through fragmented replies intact; and every kind
of bad input is refused with the right error or close code, leaves the
model unchanged and does not disturb another worker."""

import threading

import pstest as T

T.require("numpy", "websocket")
import numpy as np  # noqa: E402
import psproto as P  # noqa: E402

ok, diag = T.ok, T.diag

T.watchdog(120)
T.plan(55)

rng = np.random.default_rng(7)
W0 = {"dense/kernel": rng.standard_normal((3, 4)).astype(np.float32),
      "dense/bias": rng.standard_normal(4).astype(np.float32),
      "out": rng.standard_normal((4, 2)).astype(np.float32)}


def records(model):
    return [(k, v) for k, v in model.items()]


def pull(w):
    r = w.request(P.PULL)
    assert r.op == P.REPLY, r
    return T.model_of(r), r.version


# --- the protocol ---------------------------------------------------------

srv = T.Server("--max-message-bytes", "65536")
a = srv.worker("alpha")
b = srv.worker("beta")
ok(a.id >= 1 and b.id >= 1 and a.id != b.id,
   "hello gives each connection its own worker id")
ok([t.name for t in a.hello.tensors] == [a.secret] and
   a.hello.version == 0,
   "hello before any init describes an empty model (and the secret)")

r = a.request(P.PULL)
ok(r.op == P.ERROR and r.status == P.E_NO_MODEL and r.id == 1 + 1,
   "a pull before init is refused with no_model and its own id")
r = a.request(P.PUSH, records=[("out", np.ones((4, 2), np.float32))])
ok(r.op == P.ERROR and r.status == P.E_NO_MODEL,
   "a push before init is refused with no_model")

anon = srv.worker("anon", hello=False)
r = anon.request(P.PULL)
ok(r.op == P.ERROR and r.status == P.E_PROTOCOL,
   "a request before hello is refused with protocol")
r = anon.request(P.HELLO, text="late")
ok(r.op == P.REPLY and r.arg not in (a.id, b.id),
   "the same connection may then say hello")
r = anon.request(P.HELLO, text="twice")
ok(r.op == P.ERROR and r.status == P.E_PROTOCOL,
   "a second hello on one connection is refused")
anon.close()

r = a.request(P.INIT, records=records(W0))
ok(r.op == P.REPLY and r.version == 0 and T.same(T.model_of(r), W0),
   "the first init creates the model and returns it, at version 0")

u = {"out": rng.standard_normal((4, 2)).astype(np.float32)}
r = b.request(P.PUSH, records=records(u))
ok(r.op == P.REPLY and r.version == 1, "a push is applied: version 1")
expect = dict(W0)
expect["out"] = W0["out"] + u["out"]

r = b.request(P.INIT, records=records(W0))
ok(r.op == P.REPLY and T.same(T.model_of(r), expect) and r.version == 1,
   "a second init with the same names and shapes gets the current model")

m, v = pull(a)
ok(T.same(m, expect) and v == 1, "a whole pull returns the model in order")
r = a.request(P.PULL, records=[("out", None), ("dense/kernel", None)])
ok(r.op == P.REPLY and [t.name for t in r.tensors] ==
   ["dense/kernel", "out"] and
   np.array_equal(r.tensors[1].array, expect["out"]),
   "a pull of named tensors returns them in model order")

h = srv.worker("gamma").hello
ok([(t.name, t.shape) for t in h.tensors if not t.name.startswith("__")] ==
   [(k, v.shape) for k, v in W0.items()] and h.version == 1,
   "hello after init lists the model's names and shapes and its version")

# --- bad input: each refused, the model untouched, the other worker fine ---


def refused(w, data, code, desc):
    w.send_raw(data)
    r = w.recv()
    ok(r.op == P.ERROR and r.status == code,
       "%s is refused with %s" % (desc, P.ERRCODES[code]))
    if r.op != P.ERROR or r.status != code:
        diag(repr(r))
    return r


good = P.encode(P.PUSH, id=77, records=[("out", np.ones((4, 2), np.float32))])
r = refused(a, good[:-8], P.E_MALFORMED, "a truncated push")
ok(r.id == 77, "the error for a truncated message echoes its request id")
r = refused(a, b"", P.E_MALFORMED, "an empty message")
ok(r.id == 0, "the error for a message without a header has id 0")
bad = bytearray(good)
bad[0] ^= 0xff
refused(a, bad, P.E_MALFORMED, "a message with a bad magic")
refused(a, P.raw_header(9, id=78), P.E_UNKNOWN_OP, "an unknown op")
refused(a, P.encode(P.REPLY, id=79), P.E_PROTOCOL,
        "a reply sent to the server")
refused(a, P.encode(P.PUSH, id=80, records=[
    ("out", np.ones((2, 4), np.float32))]), P.E_SHAPE, "a push of the wrong shape")
refused(a, P.encode(P.PUSH, id=81, records=[
    ("nope", np.ones(3, np.float32))]), P.E_UNKNOWN_TENSOR,
    "a push of an unknown tensor")
nan = np.ones((4, 2), np.float32)
nan[1, 1] = np.nan
refused(a, P.encode(P.PUSH, id=82, records=[("out", nan)]), P.E_NONFINITE,
        "a push with a NaN")
inf = np.ones(4, np.float32)
inf[3] = np.inf
refused(a, P.encode(P.PUSH, id=83, records=[
    ("out", np.ones((4, 2), np.float32)), ("dense/bias", inf)]),
    P.E_NONFINITE, "a push whose second tensor holds an infinity")
refused(a, P.encode(P.PUSH, id=84, records=[
    ("out", np.ones((4, 2), np.float32)), ("out", np.ones((4, 2), np.float32))]),
    P.E_DUPLICATE, "a push naming a tensor twice")
refused(a, P.encode(P.INIT, id=85, records=[
    ("dense/kernel", np.ones((3, 5), np.float32))]), P.E_MISMATCH,
    "a second init with a different model")
refused(a, P.encode(P.PULL, id=86, records=[("missing", None)]),
        P.E_UNKNOWN_TENSOR, "a pull of an unknown tensor")
refused(a, P.encode(P.PULL, id=87, records=[("out", None), ("out", None)]),
        P.E_DUPLICATE, "a pull naming a tensor twice")

m, v = pull(a)
ok(T.same(m, expect) and v == 1,
   "after all of that the model and its version are unchanged")
r = b.request(P.PUSH, records=[("dense/bias", np.full(4, 2, np.float32))])
ok(r.op == P.REPLY and r.version == 2,
   "another worker's push is applied meanwhile")
expect["dense/bias"] = expect["dense/bias"] + np.float32(2)

t = srv.worker("texter")
t.ws.send("hello")
code, why = t.wait_close()
ok(code == 1003, "a text frame closes the connection with 1003 (got %s)"
   % code)
big = srv.worker("big")
big.send(P.PUSH, records=[("out", np.ones(20000, np.float32))])
code, why = big.wait_close()
ok(code == 1009, "a message over --max-message-bytes closes with 1009 "
   "(got %s)" % code)
r = a.request(P.PULL)
ok(r.op == P.REPLY and T.same(T.model_of(r), expect),
   "the worker that sent bad messages is still served, model intact")
m, v = pull(b)
ok(T.same(m, expect) and v == 2, "and so is the other worker")

# f16 and bf16 pushes are converted exactly.
r = b.request(P.PUSH, records=[("dense/bias", np.full(4, 0.5, np.float16)),
                               ("out", np.full((4, 2), 0.25, np.float32),
                                P.BF16)])
ok(r.op == P.REPLY and r.version == 3, "an f16 and bf16 push is applied")
expect["dense/bias"] = expect["dense/bias"] + np.float32(0.5)
expect["out"] = expect["out"] + np.float32(0.25)
ok(T.same(pull(b)[0], expect), "its values arrive converted exactly")

# A retried push (same sequence number) is not applied twice.
r1 = b.request(P.PUSH, arg=5, records=[("out", np.ones((4, 2), np.float32))])
r2 = b.request(P.PUSH, arg=5, records=[("out", np.ones((4, 2), np.float32))])
expect["out"] = expect["out"] + np.float32(1)
ok(r1.version == 4 and r2.op == P.REPLY and r2.version == 4 and
   T.same(pull(b)[0], expect),
   "a push retried with the same sequence number is applied once")

for w in (a, b):
    w.close()
ok(srv.stop() == 0, "SIGTERM stops the server with status 0")
ok("stopped after" in srv.log(), "and it says so in its log")

# --- update rules against numpy -------------------------------------------


def rule_test(args, step, desc, steps=6):
    """Runs steps pushes (some partial) under args; step() is numpy's rule."""
    s = T.Server(*args)
    w = s.worker("rules")
    rg = np.random.default_rng(11)
    m0 = {"a": rg.standard_normal((5, 3)).astype(np.float32),
          "b": rg.standard_normal(7).astype(np.float32)}
    w.request(P.INIT, records=records(m0))
    ref = {k: v.astype(np.float64) for k, v in m0.items()}
    state = {k: {"t": 0, "m": np.zeros_like(v), "v": np.zeros_like(v)}
             for k, v in ref.items()}
    for i in range(steps):
        names = ["a", "b"] if i % 3 != 1 else ["a"]
        g = {k: rg.standard_normal(ref[k].shape).astype(np.float32)
             for k in names}
        r = w.request(P.PUSH, records=[(k, g[k]) for k in names])
        if r.op != P.REPLY:
            diag(repr(r))
        for k in names:
            st = state[k]
            st["t"] += 1
            ref[k] = step(ref[k], g[k].astype(np.float64), st)
    got, v = pull(w)
    err = max(float(np.max(np.abs(got[k] - ref[k]) /
                           np.maximum(1.0, np.abs(ref[k])))) for k in ref)
    ok(err < 1e-5 and v == steps, "%s matches numpy over %d steps "
       "(max relative error %.2g)" % (desc, steps, err))
    w.close()
    s.stop()


def sgd(lr):
    return lambda w, g, st: w - lr * g


def momentum(lr, mu, nesterov):
    def f(w, g, st):
        st["m"] = mu * st["m"] + g
        return w - lr * (g + mu * st["m"] if nesterov else st["m"])
    return f


def adam(lr, b1, b2, eps):
    def f(w, g, st):
        t = st["t"]
        st["m"] = b1 * st["m"] + (1 - b1) * g
        st["v"] = b2 * st["v"] + (1 - b2) * g * g
        mhat = st["m"] / (1 - b1 ** t)
        vhat = st["v"] / (1 - b2 ** t)
        return w - lr * mhat / (np.sqrt(vhat) + eps)
    return f


rule_test(["--rule", "add"], lambda w, g, st: w + g, "rule add (w += u)")
rule_test(["--rule", "elephas"], lambda w, g, st: w - g,
          "rule elephas (w -= u)")
rule_test(["--rule", "sgd", "--lr", "0.1"], sgd(0.1), "rule sgd, lr 0.1")
rule_test(["--rule", "sgd"], sgd(0.01), "rule sgd with its default lr 0.01")
rule_test(["--rule", "momentum", "--lr", "0.1", "--momentum", "0.8"],
          momentum(0.1, 0.8, False), "rule momentum, lr 0.1, momentum 0.8")
rule_test(["--rule", "momentum", "--lr", "0.05", "--nesterov"],
          momentum(0.05, 0.9, True), "rule momentum with nesterov")
rule_test(["--rule", "adam", "--lr", "0.01"], adam(0.01, 0.9, 0.999, 1e-8),
          "rule adam, per-tensor bias correction")
rule_test(["--rule", "adam", "--lr", "0.1", "--beta1", "0.5", "--beta2",
           "0.9", "--eps", "0.001"], adam(0.1, 0.5, 0.9, 1e-3),
          "rule adam with beta1, beta2 and eps given", steps=9)

# --- concurrency and large messages ---------------------------------------

s = T.Server()
w = s.worker("init")
n = 1 << 20
big = {"w": (np.arange(n, dtype=np.float32) % 1000) / 8,
       "v": np.zeros((256, 3), np.float32)}
w.request(P.INIT, records=records(big))
workers = [s.worker("c%d" % i) for i in range(4)]
errors = []
PUSHES = 50


def pusher(wk, k):
    try:
        for i in range(PUSHES):
            r = wk.request(P.PUSH, records=[
                ("v", np.full((256, 3), k, np.float32))])
            if r.op != P.REPLY:
                errors.append(r)
    except Exception as e:
        errors.append(e)


threads = [threading.Thread(target=pusher, args=(wk, i + 1))
           for i, wk in enumerate(workers)]
for th in threads:
    th.start()
for th in threads:
    th.join()
got, v = pull(w)
ok(not errors, "four workers pushing at once all get replies")
ok(v == 4 * PUSHES, "every push raised the version: %d" % v)
ok(np.array_equal(got["v"], np.full((256, 3), PUSHES * (1 + 2 + 3 + 4),
                                    np.float32)),
   "no update was lost (the sum of all pushes)")
ok(np.array_equal(got["w"], big["w"]),
   "a 4 MiB tensor comes back intact through a fragmented reply")

# Several workers pulling the same shared reply at once.
results = [None] * 4


def puller(wk, i):
    try:
        results[i] = [T.model_of(wk.request(P.PULL)) for _ in range(3)]
    except Exception as e:
        results[i] = e


threads = [threading.Thread(target=puller, args=(wk, i))
           for i, wk in enumerate(workers)]
for th in threads:
    th.start()
for th in threads:
    th.join()
ok(all(isinstance(r, list) and all(np.array_equal(m["w"], big["w"]) and
                                   np.array_equal(m["v"], got["v"])
                                   for m in r) for r in results),
   "four workers pulling the same version at once all get it intact")
r = workers[0].request(P.PULL, records=[("w", None)])
ok(np.array_equal(r.tensors[0].array, big["w"]),
   "a named pull of the large tensor is intact too")
for wk in workers + [w]:
    wk.close()
ok(s.stop(2) == 0, "SIGINT stops the server with status 0")
ok(s.wait_log(r"stopped after .* 200 pushes", 1) is not None,
   "its last line counts the 200 pushes")

T.done()
