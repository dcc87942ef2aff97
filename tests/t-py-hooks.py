#!/usr/bin/python3
"""The framework hooks of contrib/python against live servers: the
Keras-style callback with a fake model (no Keras needed), and
psctl.torch.RemoteOptimizer against an Adam step computed by hand (skipped,
saying so, where Debian's python3-torch is missing)."""

import pstest as T

T.require("numpy")
import numpy as np  # noqa: E402

import psctl  # noqa: E402
import psctl.keras  # noqa: E402

T.plan(12)
T.watchdog(180)


class FakeModel:
    """Keras's get_weights()/set_weights() and nothing else.  One "batch"
    of training moves every weight by -step."""

    def __init__(self, weights, step):
        self.w = [np.array(x, np.float32) for x in weights]
        self.step = step
        self.set_calls = 0

    def get_weights(self):
        return [x.copy() for x in self.w]

    def set_weights(self, weights):
        assert [x.shape for x in weights] == [x.shape for x in self.w]
        self.w = [np.array(x, np.float32) for x in weights]
        self.set_calls += 1

    def train_batch(self):
        self.w = [x - self.step for x in self.w]


def fit(cb, model, epochs, batches):
    """What keras.Model.fit calls, in its order."""
    cb.set_model(model)
    cb.set_params({"epochs": epochs, "steps": batches})
    cb.on_train_begin()
    for e in range(epochs):
        cb.on_epoch_begin(e)
        for b in range(batches):
            cb.on_train_batch_begin(b)
            model.train_batch()
            cb.on_train_batch_end(b, {"loss": 0.0})
        cb.on_epoch_end(e, {"loss": 0.0})
    cb.on_train_end()


srv = T.Server("--rule", "elephas")
w0 = [np.ones((2, 3), np.float32), np.zeros(3, np.float32)]
ma = FakeModel(w0, 0.25)
ca = psctl.Client(srv.url, name="keras-a")
cba = psctl.keras.PsctlCallback(ca, frequency="epoch")
fit(cba, ma, epochs=2, batches=3)
_, m = ca.pull()
T.ok(list(m) == ["w000", "w001"] and cba.pushes == 2 and
     np.allclose(m["w000"], 1 - 2 * 3 * 0.25) and
     np.allclose(m["w001"], -1.5),
     "epoch callback: the model created from get_weights(), two deltas of "
     "3 batches each applied under --rule elephas")
mb = FakeModel([np.full((2, 3), 9), np.full(3, 9)], 0.5)
cbb = psctl.keras.PsctlCallback(psctl.Client(srv.url, name="keras-b"),
                                frequency="batch")
fit(cbb, mb, epochs=1, batches=4)
_, m = ca.pull()
T.ok(cbb.pushes == 4 and mb.set_calls == 4 and
     np.allclose(m["w000"], -0.5 - 4 * 0.5),
     "batch callback: a second worker starts from the server's weights, "
     "not its own, and pushes after every batch")
T.ok(np.allclose(mb.w[0], m["w000"]), "the fake model ends with what the "
     "server holds")
try:
    psctl.keras.PsctlCallback(ca, frequency="step")
    T.ok(False, "frequency='step' is refused")
except ValueError:
    T.ok(True, "frequency='step' is refused")
srv.kill()

try:
    import torch
except ImportError:
    T.skip(8, "python3-torch is not installed: apt-get install python3-torch")
    T.done()

import psctl.torch  # noqa: E402

torch.manual_seed(0)
lr, b1, b2, eps = 0.05, 0.8, 0.99, 1e-6
srv = T.Server("--rule", "adam", "--lr", lr, "--beta1", b1, "--beta2", b2,
               "--eps", eps)


def make():
    lin = torch.nn.Linear(3, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]]))
        lin.bias.copy_(torch.tensor([0.1, -0.2]))
    return lin


x = torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0], [0.0, -3.0, 1.0]])
y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, -1.0]])
lin = make()
c = psctl.Client(srv.url, name="torch-a")
opt = psctl.torch.RemoteOptimizer(lin, c)
T.ok(isinstance(opt, torch.optim.Optimizer) and
     [n for n, _ in c.model] == ["weight", "bias"],
     "RemoteOptimizer is a torch Optimizer; the model is named as "
     "named_parameters() names it")

# Adam by hand, in numpy, from the formula of psctl-serve(1).
ref = {n: p.detach().numpy().astype(np.float64).copy()
       for n, p in make().named_parameters()}
mom = {n: np.zeros_like(v) for n, v in ref.items()}
vel = {n: np.zeros_like(v) for n, v in ref.items()}
ok_steps = True
for t in (1, 2, 3):
    opt.zero_grad()
    loss = ((lin(x) - y) ** 2).sum()
    loss.backward()
    grads = {n: p.grad.numpy().astype(np.float64) for n, p in
             lin.named_parameters()}
    # The hand step uses the gradient at the reference weights, which
    # must equal the module's weights before each step.
    before = {n: p.detach().numpy().astype(np.float64)
              for n, p in lin.named_parameters()}
    ok_steps &= all(np.allclose(before[n], ref[n], atol=1e-6) for n in ref)
    opt.step()
    for n, g in grads.items():
        mom[n] = b1 * mom[n] + (1 - b1) * g
        vel[n] = b2 * vel[n] + (1 - b2) * g * g
        mhat = mom[n] / (1 - b1 ** t)
        vhat = vel[n] / (1 - b2 ** t)
        ref[n] = ref[n] - lr * mhat / (np.sqrt(vhat) + eps)
got = {n: p.detach().numpy() for n, p in lin.named_parameters()}
T.ok(ok_steps and all(np.allclose(got[n], ref[n], rtol=1e-5, atol=1e-6)
                      for n in ref),
     "three steps match Adam computed by hand (max diff %.2g)" %
     max(float(np.abs(got[n] - ref[n]).max()) for n in ref))
_, srvm = c.pull()
T.ok(all(np.array_equal(srvm[n], got[n]) for n in got),
     "after step() the module holds exactly the server's weights")

# The same three steps with torch.optim.Adam in one process.
lin2 = make()
adam = torch.optim.Adam(lin2.parameters(), lr=lr, betas=(b1, b2), eps=eps)
for _ in range(3):
    adam.zero_grad()
    ((lin2(x) - y) ** 2).sum().backward()
    adam.step()
T.ok(all(torch.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in
         zip(lin.parameters(), lin2.parameters())),
     "and match torch.optim.Adam's")

lin3 = make()
with torch.no_grad():
    lin3.weight.zero_()
opt3 = psctl.torch.RemoteOptimizer(lin3, psctl.Client(srv.url, name="b"))
T.ok(torch.equal(lin3.weight, lin.weight),
     "a second worker's module is loaded with the server's weights")
loss = opt3.step(lambda: ((lin3(x) - y) ** 2).sum().backward() or
                 torch.tensor(1.5))
T.ok(float(loss) == 1.5 and c.pull()[0] == 4,
     "step(closure) runs the closure and returns its loss")
srv.kill()

# Buffers: local by default, shared through a second server (--rule add).
srv_p = T.Server("--rule", "sgd", "--lr", "0.1")
srv_b = T.Server("--rule", "add")
net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
cp = psctl.Client(srv_p.url)
cbuf = psctl.Client(srv_b.url)
opt = psctl.torch.RemoteOptimizer(net, cp, buffer_client=cbuf)
T.ok([n for n, _ in cp.model] == ["0.weight", "0.bias", "1.weight",
                                  "1.bias"] and
     [n for n, _ in cbuf.model] == ["1.running_mean", "1.running_var"],
     "parameters on one server, float buffers on the other")
before = net[1].running_mean.clone()
net.train()
opt.zero_grad()
net(x).sum().backward()
after_fwd = net[1].running_mean.clone()
opt.step()
_, bm = cbuf.pull()
T.ok(not torch.equal(before, after_fwd) and
     np.allclose(bm["1.running_mean"], after_fwd.numpy(), atol=1e-7) and
     torch.allclose(net[1].running_mean, after_fwd),
     "a step pushes the change of the running statistics (--rule add)")
T.done()
