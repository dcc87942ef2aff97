"""PyTorch hook: an optimizer whose step goes through the server.

    import psctl, psctl.torch
    client = psctl.Client(url, name="w%d" % rank)
    opt = psctl.torch.RemoteOptimizer(model, client)   # was: torch.optim.Adam
    for x, y in loader:
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

The server does the optimizing: run it with ``--rule adam`` (or sgd,
momentum) and the learning rate you would have given torch.  ``step()``
pushes the gradients of ``module.named_parameters()`` (those that have
one) and loads the pulled weights back into the module, so every worker
trains the one model the server holds.

Buffers (batch-norm running statistics and the like) are not gradients
and do not belong under an update rule.  By default they stay local to
each worker.  To share them, give ``buffer_client``, a Client of a second
server run with ``--rule add``: each step pushes how much this worker's
buffers changed since they were last pulled and loads the result back.
Integer buffers (num_batches_tracked) always stay local.
"""

from typing import Callable, Optional

import numpy as np
import torch

from .client import Client

__all__ = ["RemoteOptimizer"]


class RemoteOptimizer(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` backed by a psctl server.

    On construction the module's parameters (named as ``named_parameters()``
    names them) create the server's model if it has none (first writer
    wins) and the module is loaded with the server's weights, so all
    workers start alike.  Parameters without ``requires_grad`` are left
    alone."""

    def __init__(self, module: torch.nn.Module, client: Client, *,
                 buffer_client: Optional[Client] = None):
        self.module = module
        self.client = client
        self.buffer_client = buffer_client
        self._named = [(n, p) for n, p in module.named_parameters()
                       if p.requires_grad]
        if not self._named:
            raise ValueError("the module has no trainable parameters")
        super().__init__([p for _, p in self._named], {})
        client.init({n: _numpy(p) for n, p in self._named})
        self._load(client, dict(self._named))
        self._buffers = []
        if buffer_client is not None:
            self._buffers = [(n, b) for n, b in module.named_buffers()
                             if b.is_floating_point()]
            if self._buffers:
                buffer_client.init({n: _numpy(b) for n, b in self._buffers})
                self._base = self._load(buffer_client, dict(self._buffers))

    @staticmethod
    def _load(client, tensors):
        """Pulls `tensors`' names and copies the values in; returns copies
        of what was pulled."""
        _, pulled = client.pull(list(tensors))
        kept = {}
        with torch.no_grad():
            for name, arr in pulled.items():
                t = tensors[name]
                if t.device.type == "cpu" and t.dtype == torch.float32:
                    # Straight into the tensor's memory: one copy.
                    np.copyto(t.detach().numpy(), arr.reshape(t.shape))
                else:
                    t.copy_(torch.from_numpy(np.array(arr)).view(t.shape))
                kept[name] = np.array(arr)
        return kept

    @torch.no_grad()
    def step(self, closure: Optional[Callable[[], float]] = None):
        """Pushes the gradients, then loads the server's weights into the
        module.  Returns closure's loss when a closure is given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        grads = {n: _numpy(p.grad) for n, p in self._named
                 if p.grad is not None}
        if grads:
            self.client.push(grads)
        self._load(self.client, dict(self._named))
        if self._buffers:
            delta = {n: _numpy(b) - self._base[n] for n, b in self._buffers}
            self.buffer_client.push(delta)
            self._base = self._load(self.buffer_client, dict(self._buffers))
        return loss


def _numpy(t):
    """A float32 (or float16) numpy view or copy of a tensor."""
    t = t.detach()
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.cpu().numpy()
