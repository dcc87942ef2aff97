"""The worker client: psctl.worker.v1 over psctl's own WebSocket framing."""

import os
import socket
import time
from typing import (Dict, List, Mapping, NamedTuple, Optional, Sequence,
                    Tuple)

import numpy as np

from . import _wire as W
from ._ws import Closed, WebSocket
from .errors import (ConnectError, ProtocolError, ResumeError,
                     TimeoutError, server_error)

PROTOCOL = "psctl.worker.v1"
DEFAULT_URL = "ws://127.0.0.1:7070"
RESUME_PREFIX = "__resume/"


def default_url(url=None):
    """url, else $PSCTL_URL, else ws://127.0.0.1:7070, as psctl(1) does."""
    return url or os.environ.get("PSCTL_URL") or DEFAULT_URL


def default_token(token=None):
    """token, else $PSCTL_TOKEN (None when unset or empty)."""
    return token if token is not None else (os.environ.get("PSCTL_TOKEN")
                                            or None)


class Identity(NamedTuple):
    """A worker's identity on one server (:attr:`Client.identity`): what a
    worker process saves so that, started again after a crash, it carries
    on as the same worker with ``Client(identity=saved)``.  Save it with
    ``json.dumps(identity._asdict())``, load with ``Identity(**d)``.

    ``secret`` is the resume secret the server gave this worker (a string,
    or None from a server that sends none): keep it as private as a
    token.  ``seq`` is the sequence number of the last push sent.  A push
    that a crash left unanswered is sent again with
    ``push(update, seq=its_number)``: the server applies it once in all."""
    url: str
    worker_id: int
    secret: Optional[str]
    seq: int


class Client:
    """A psctl worker: one WebSocket connection to one ``psctl serve``.

    ``url`` defaults to ``$PSCTL_URL``, else ``ws://127.0.0.1:7070``;
    ``token`` to ``$PSCTL_TOKEN``.  ``wss://`` URLs use TLS, verifying the
    server against ``ca_file`` (a PEM file of CA certificates) or the
    system's CAs.  ``timeout`` is the longest wait, in seconds, for the
    connection and for each answer (None: no limit; a pull under ``sync``
    or ``ssp`` may wait as long as the slowest worker).

    The constructor connects and says hello (raising :class:`ConnectError`
    or :class:`AuthError`).  When the connection breaks, the next call, or
    the call under way, connects again (up to ``retries`` times, ``backoff``
    seconds apart, doubling) and resumes the same worker identity; a push
    that was not answered is sent again with its sequence number, so the
    server applies it exactly once.  A push that raised
    :class:`TimeoutError` is not lost either: the next call connects again,
    resumes, and sends it first with its sequence number (so do not push
    the same update again; :meth:`close` drops it).  A worker process that
    is itself restarted resumes with ``identity=`` (see :class:`Identity`);
    :attr:`resumed` then says whether the server took it back.

    Arrays returned by :meth:`pull` are read-only views of the client's
    receive buffer, valid until the next call on this client; pass
    ``copy=True`` to own them.  One thread uses a client at a time.
    """

    def __init__(self, url: Optional[str] = None, *,
                 token: Optional[str] = None, name: Optional[str] = None,
                 timeout: Optional[float] = 30.0,
                 ca_file: Optional[str] = None, retries: int = 5,
                 backoff: float = 0.05, max_message: int = 2 << 30,
                 identity: Optional[Identity] = None):
        if identity is not None and url is not None and url != identity.url:
            raise ValueError("the identity is worker %d of %s, not of %s"
                             % (identity.worker_id, identity.url, url))
        self.url = identity.url if identity is not None else default_url(url)
        self._token = default_token(token)
        self._name = (name or "").encode("utf-8")
        if len(self._name) > W.TEXT_MAX:
            raise ValueError("the worker name is over %d bytes" % W.TEXT_MAX)
        self._timeout = timeout
        self._ca_file = ca_file
        self._retries = retries
        self._backoff = backoff
        self._max = max_message
        self._ws = None
        self._id = 0
        self._seq = 0
        self._secret = None     # the __resume/... record's name, as bytes
        self._pending = []      # [(seq, base, recs)]: pushes that timed out
        self.worker_id = 0      #: the id the server gave this worker
        self.version = 0        #: the model version of the last answer
        self.server = ""        #: the server's description, from HELLO
        self.reconnects = 0     #: how often the connection was made again
        self._model = []        # [(name, shape)] in model order
        if identity is not None:
            self.worker_id = identity.worker_id
            self._secret = (identity.secret.encode("utf-8")
                            if identity.secret is not None else None)
            self._seq = identity.seq
        #: Whether the first hello resumed a saved :class:`Identity` (False
        #: without one, or when the server no longer knows it: the client
        #: is then a new worker).
        self.resumed = self._connect()

    @property
    def identity(self) -> Identity:
        """This worker's :class:`Identity` now, to save and resume from."""
        return Identity(self.url, self.worker_id,
                        None if self._secret is None
                        else self._secret.decode("utf-8"), self._seq)

    @property
    def timeout(self) -> Optional[float]:
        """The longest wait in seconds for the connection and each answer
        (None: no limit).  Setting it applies to the connection at once."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: Optional[float]) -> None:
        self._timeout = value
        if self._ws is not None:
            self._ws.sock.settimeout(value)

    @property
    def pending(self) -> int:
        """How many pushes that raised :class:`TimeoutError` wait to be
        sent again, first thing on the next call."""
        return len(self._pending)

    # -- connection -------------------------------------------------------

    def _hello(self, ws, resume):
        self._id += 1
        names = [self._secret] if resume and self._secret else []
        n = W.encode(ws, W.HELLO, self._id, arg=resume, text=self._name,
                     names=names)
        ws.send_out(n)
        return self._answer(ws, self._id)

    def _connect(self, pending_push=False):
        """Connects and says hello, resuming this worker if it has an id.
        Returns whether the server resumed it.  A resume the server refuses
        (unauthorized: it does not know the secret) becomes a new worker on
        the same connection, unless a push is unanswered: then ResumeError,
        since that push may or may not have been applied."""
        ws = WebSocket(self.url, PROTOCOL, self._token, self._ca_file,
                       self._timeout)
        resume = self.worker_id
        held = self._secret
        try:
            m = self._hello(ws, resume)
            if m.op == W.ERROR and m.status == 15 and resume:
                why = m.text
                self.worker_id = 0
                self._secret = None
                if pending_push:
                    raise ResumeError(self.url, "the server refused to resume "
                                      "worker %d (%s) while a push was "
                                      "unanswered: it may or may not have "
                                      "been applied" % (resume, why))
                resume = 0
                m = self._hello(ws, 0)
            if m.op == W.ERROR:
                raise server_error(m.status, m.text, m.version)
        except Closed as e:
            ws.close(abort=True)
            raise ConnectError(self.url, str(e)) from None
        except socket.timeout:
            ws.close(abort=True)
            raise ConnectError(self.url, "no answer to HELLO within %g s"
                               % self._timeout) from None
        except BaseException:
            ws.close(abort=True)
            raise
        model = []
        secret = None
        for name, code, shape, _ in m.records:
            if name.startswith("__"):
                if name.startswith(RESUME_PREFIX):
                    secret = name.encode("utf-8")
                continue
            model.append((name, tuple(shape)))
        self._ws = ws
        self.worker_id = m.arg
        self.version = m.version
        self.server = m.text
        self._model = model
        # The same id is not proof: a restarted server numbers its workers
        # afresh and may give a new one this id.  Its secret says which.
        resumed = (resume != 0 and m.arg == resume and
                   (held is None or secret is None or secret == held))
        if secret is not None or not resumed:
            self._secret = secret
        return resumed

    def _answer(self, ws, id_):
        """The next answer to request id_ (older answers, which a call that
        timed out left behind, are skipped)."""
        while True:
            op, buf = ws.recv(self._max)
            if op != 2:
                ws.close(abort=True)
                raise ProtocolError("%s: a text message on %s"
                                    % (self.url, PROTOCOL))
            m = W.decode(buf)
            if m.op not in (W.REPLY, W.ERROR):
                raise ProtocolError("%s: the server sent op %d"
                                    % (self.url, m.op))
            if m.id == id_:
                return m
            if m.id > id_:
                raise ProtocolError("%s: an answer to request %d, which "
                                    "was never sent" % (self.url, m.id))

    def _flush(self, ws):
        """Sends again, in order, the pushes whose answers timed out, each
        with its sequence number: the server applies each once.  A refusal
        is raised as the error of the call under way."""
        while self._pending:
            seq, base, recs = self._pending[0]
            self._id += 1
            ws.send_out(W.encode(ws, W.PUSH, self._id, version=base,
                                 arg=seq, tensors=recs))
            m = self._answer(ws, self._id)
            del self._pending[0]
            self.version = m.version
            if m.op == W.ERROR:
                raise server_error(m.status, "a push that had timed out, "
                                   "sent again: " + m.text, m.version)

    def _call(self, build, push=None):
        """Sends the request build(ws, id) encodes and returns its REPLY.
        A broken connection is made again (resuming this worker) and the
        request sent again, up to `retries` times.  `push` is (seq, base,
        records) when the request is that push: if its answer times out, it
        is kept to be sent again on the next connection."""
        attempt = 0
        sent = False            # this request went out, whole or in part
        while True:
            try:
                if self._ws is None:
                    # A push not sent yet is not unanswered: if the resume
                    # is refused, it goes out from the new worker.
                    unanswered = bool(self._pending) or (push is not None
                                                         and sent)
                    try:
                        resumed = self._connect(unanswered)
                    except ResumeError:
                        self._pending = []
                        raise
                    self.reconnects += 1
                    if unanswered and not resumed:
                        self._pending = []
                        raise ResumeError(self.url, "reconnected as a new "
                                          "worker while a push was "
                                          "unanswered: it may or may not "
                                          "have been applied")
                ws = self._ws
                self._flush(ws)
                self._id += 1
                n = build(ws, self._id)
                sent = True
                ws.send_out(n)
                m = self._answer(ws, self._id)
            except (Closed, ConnectError) as e:
                if isinstance(e, ResumeError):
                    raise
                if self._ws is not None:
                    self._ws.close(abort=True)
                    self._ws = None
                attempt += 1
                if attempt > self._retries:
                    if isinstance(e, ConnectError):
                        raise
                    raise ConnectError(self.url, str(e)) from None
                time.sleep(self._backoff * (1 << min(attempt - 1, 6)))
                continue
            except socket.timeout:
                # The answer may still come: this connection is spent.  A
                # push is sent again, with its sequence number, first thing
                # on the next connection (copied: the caller's arrays may
                # change, or be views of a receive buffer).
                if push is not None and all(
                        p[0] != push[0] for p in self._pending):
                    seq, base, recs = push
                    self._pending.append((seq, base, [
                        (nb, code, np.array(a, copy=True))
                        for nb, code, a in recs]))
                if self._ws is not None:
                    self._ws.close(abort=True)
                    self._ws = None
                raise TimeoutError("%s: no answer within %g s"
                                   % (self.url, self._timeout)) from None
            except ProtocolError:
                if self._ws is not None:
                    self._ws.close(abort=True)
                    self._ws = None
                raise
            self.version = m.version
            if m.op == W.ERROR:
                raise server_error(m.status, m.text, m.version)
            return m

    # -- the worker API -----------------------------------------------------

    @property
    def model(self) -> List[Tuple[str, Tuple[int, ...]]]:
        """The model's tensors as (name, shape), in model order, as of the
        last hello, init or whole pull (empty while the server has none)."""
        return list(self._model)

    @staticmethod
    def _tensors(tensors):
        if not isinstance(tensors, Mapping):
            raise TypeError("tensors are a mapping of name to array, not %s"
                            % type(tensors).__name__)
        out = []
        for name, value in tensors.items():
            nb = W.encode_name(name)
            code, a = W.as_wire_array(name, value)
            out.append((nb, code, a))
        return out

    def init(self, tensors: Mapping[str, np.ndarray]) -> int:
        """Creates the model from ``tensors`` (in their order) unless the
        server has one already: first writer wins, and a worker that comes
        second gets the existing model (same names and shapes, or
        :class:`MismatchError`).  Returns the model version."""
        recs = self._tensors(tensors)
        m = self._call(lambda ws, i: W.encode(ws, W.INIT, i, tensors=recs))
        self._model = [(r[0], tuple(r[2])) for r in m.records]
        return m.version

    def pull(self, names: Optional[Sequence[str]] = None, *,
             copy: bool = False) -> Tuple[int, Dict[str, np.ndarray]]:
        """Pulls the named tensors, or the whole model, and returns
        ``(version, {name: float32 array})`` in model order.  The arrays are
        read-only views valid until the next call on this client, or
        copies with ``copy=True``."""
        if isinstance(names, str):
            names = [names]
        nbs = [W.encode_name(n) for n in names] if names else []
        m = self._call(lambda ws, i: W.encode(ws, W.PULL, i, names=nbs))
        out = {}
        for name, code, shape, data in m.records:
            if code != W.F32:
                raise ProtocolError("%s: pull answered tensor %r in dtype %d"
                                    % (self.url, name, code))
            if copy:
                data = data.copy()
            else:
                data.flags.writeable = False
            out[name] = data
        if not names:
            self._model = [(r[0], tuple(r[2])) for r in m.records]
        return m.version, out

    def push(self, update: Mapping[str, np.ndarray], *,
             seq: Optional[int] = None) -> int:
        """Pushes an update of some or all tensors (float32; float16 is sent
        as F16; other floating types are converted to float32; anything else
        is a TypeError before a byte is sent).  The server applies it whole
        under its update rule, or refuses it whole (:class:`ShapeError`,
        :class:`UnknownTensorError`, :class:`NonFiniteError`...) and leaves
        the model untouched.  Returns the model version after it.

        A push that raises :class:`TimeoutError` may or may not have been
        applied: the client keeps it (:attr:`pending`) and sends it again,
        with its sequence number, on its next call, so it is applied
        exactly once; push the next update, not this one again.  Should
        the server refuse it then, that next call raises the refusal and is
        not made.

        ``seq`` sends the push with that sequence number instead of the
        next one: a worker restarted from its :class:`Identity` sends the
        push its crash left unanswered again with the number it had, and
        the server applies it only if it had not.  Later pushes are
        numbered after the highest sent."""
        recs = self._tensors(update)
        if seq is None:
            self._seq += 1
            seq = self._seq
        elif isinstance(seq, bool) or not isinstance(seq, int) or \
                not 0 < seq < 1 << 64:
            raise ValueError("push: seq %r is not a number from 1 to 2^64-1"
                             % (seq,))
        else:
            self._seq = max(self._seq, seq)
        base = self.version
        m = self._call(lambda ws, i: W.encode(ws, W.PUSH, i, version=base,
                                              arg=seq, tensors=recs),
                       push=(seq, base, recs))
        return m.version

    # -- Elephas's names ----------------------------------------------------

    def get_parameters(self) -> List[np.ndarray]:
        """The whole model as a list of float32 arrays in model order (as
        Keras's ``get_weights()``), copies the caller owns.  Elephas's
        ``get_parameters``."""
        _, t = self.pull(copy=True)
        return list(t.values())

    def update_parameters(self, delta: Sequence[np.ndarray]) -> int:
        """Pushes Elephas's delta (old weights minus new, one array per
        tensor in model order) for a server run with ``--rule elephas``,
        which applies ``w -= delta``.  Returns the model version."""
        if not self._model:
            self.pull()
        if len(delta) != len(self._model):
            raise ValueError("update_parameters: %d arrays for a model of %d "
                             "tensors" % (len(delta), len(self._model)))
        return self.push({name: d for (name, _), d in zip(self._model, delta)})

    # -- lifetime -----------------------------------------------------------

    def close(self) -> None:
        """Closes the connection (the worker leaves the server's barrier).
        Pushes still :attr:`pending` after a timeout are dropped."""
        if self._ws is not None:
            self._ws.close()
            self._ws = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "<psctl.Client %s worker %d version %d>" % (
            self.url, self.worker_id, self.version)
