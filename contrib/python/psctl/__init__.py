"""psctl: Python workers and operators for the psctl parameter server.

Pure Python and numpy.  It speaks psctl-protocol(7) over its own RFC 6455
framing (numpy masking, payloads read straight into reusable buffers), so a
worker moves a model at a good fraction of the C client's speed::

    import numpy as np, psctl

    with psctl.Client("ws://127.0.0.1:7070", name="w0") as c:
        c.init({"w": np.zeros((784, 10), np.float32)})
        version, model = c.pull()
        c.push({"w": grad})

:class:`Client` is the worker (pull, push, Elephas's ``get_parameters`` /
``update_parameters``; :class:`Identity` carries it over a restart of its
process), :class:`Control` the operator (status, subscribe,
checkpoint, reset, stop).  ``psctl.torch.RemoteOptimizer`` and
``psctl.keras.PsctlCallback`` hook a training loop up to a server; they
are imported on their own, so ``import psctl`` needs numpy only.
``python3 -m psctl bench`` is ``psctl bench`` in Python.
"""

from .client import Client, Identity, default_token, default_url
from .control import Control
from .errors import (AuthError, BusyError, ConnectError, ControlError,
                     DtypeError, DuplicateError, InternalError,
                     MalformedError, MismatchError, NoModelError,
                     NonFiniteError, ProtocolError, ProtocolStateError,
                     PsctlError, ResumeError, ServerError, ShapeError,
                     ShutdownError, TimeoutError, TooLargeError,
                     UnauthorizedError, UnknownOpError, UnknownTensorError)

__version__ = "0.1.0"

__all__ = [
    "Client", "Identity", "Control", "default_url", "default_token",
    "PsctlError",
    "ConnectError", "AuthError", "ResumeError", "ProtocolError",
    "TimeoutError", "ServerError", "MalformedError", "UnknownOpError",
    "TooLargeError", "NoModelError", "MismatchError", "UnknownTensorError",
    "ShapeError", "NonFiniteError", "DtypeError", "ProtocolStateError",
    "ShutdownError", "InternalError", "DuplicateError", "BusyError",
    "UnauthorizedError", "ControlError",
]
