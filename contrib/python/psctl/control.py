"""The operator client: psctl.control.v1, JSON over WebSocket text."""

import json
import socket
from typing import Any, Dict, Iterator, Optional

from ._ws import OP_TEXT, Closed, WebSocket
from .client import default_token, default_url
from .errors import ConnectError, ControlError, ProtocolError, TimeoutError

PROTOCOL = "psctl.control.v1"


class Control:
    """An operator's connection to ``psctl serve`` (psctl-protocol(7), "The
    control protocol").  ``url`` and ``token`` default to ``$PSCTL_URL``
    and ``$PSCTL_TOKEN``; the token must be the operator token when the
    server has one (else :class:`AuthError`, HTTP 403).  A refused command
    raises :class:`ControlError` with the protocol's error code.  The
    connection is made by the constructor and is not made again."""

    def __init__(self, url: Optional[str] = None, *,
                 token: Optional[str] = None, ca_file: Optional[str] = None,
                 timeout: Optional[float] = 30.0):
        self.url = default_url(url)
        self._timeout = timeout
        self._ws = WebSocket(self.url, PROTOCOL, default_token(token),
                             ca_file, timeout)
        self._id = 0
        self._subscribed = False

    def _send(self, cmd: str, **args) -> int:
        self._id += 1
        msg = dict(id=self._id, cmd=cmd)
        msg.update((k, v) for k, v in args.items() if v is not None)
        try:
            self._ws.send(json.dumps(msg).encode("utf-8"), OP_TEXT)
        except Closed as e:
            raise ConnectError(self.url, str(e)) from None
        return self._id

    def _recv(self, timeout=None) -> Dict[str, Any]:
        try:
            op, buf = self._ws.recv(1 << 26)
        except Closed as e:
            raise ConnectError(self.url, str(e)) from None
        except socket.timeout:
            self._ws.close(abort=True)
            raise TimeoutError("%s: no answer within %g s"
                               % (self.url, self._timeout)) from None
        if op != OP_TEXT:
            raise ProtocolError("%s: a binary message on %s"
                                % (self.url, PROTOCOL))
        try:
            obj = json.loads(bytes(buf).decode("utf-8"))
        except ValueError as e:
            raise ProtocolError("%s: not JSON: %s" % (self.url, e)) from None
        if not isinstance(obj, dict):
            raise ProtocolError("%s: not a JSON object" % self.url)
        return obj

    def _command(self, cmd: str, **args) -> Any:
        id_ = self._send(cmd, **args)
        while True:
            obj = self._recv()
            if "event" in obj:
                continue        # a snapshot of a subscription: not ours
            if obj.get("id") not in (id_, None):
                continue
            if not obj.get("ok"):
                err = obj.get("error") or {}
                raise ControlError(err.get("code", "error"),
                                   err.get("message", ""))
            return obj.get("result")

    def status(self) -> Dict[str, Any]:
        """The server's status: the STATUS object of psctl-protocol(7)."""
        return self._command("status")

    def subscribe(self, interval: float = 1.0) -> Iterator[Dict[str, Any]]:
        """Snapshots (STATUS objects) every ``interval`` seconds (0.1 to
        60), for as long as the caller iterates; closing the iterator (or
        leaving the ``for`` loop) unsubscribes."""
        self._command("subscribe", interval=float(interval))
        self._subscribed = True
        try:
            while True:
                obj = self._recv()
                if obj.get("event") == "snapshot":
                    yield obj["snapshot"]
        finally:
            if self._subscribed and not self._ws.closed:
                self._subscribed = False
                try:
                    self._command("unsubscribe")
                except (ConnectError, ProtocolError, TimeoutError):
                    pass

    def checkpoint(self, name: Optional[str] = None) -> Dict[str, Any]:
        """Writes a checkpoint (named, or ckpt-VERSION.safetensors) into
        the server's checkpoint directory; returns {"path", "model_version",
        "bytes", "seconds"}."""
        return self._command("checkpoint", name=name)

    def reset(self, name: Optional[str] = None) -> Dict[str, Any]:
        """Puts the model back to a checkpoint (by name; by default the
        newest this server wrote, else the model as first created); returns
        {"from", "model_version"}."""
        return self._command("reset", name=name)

    def stop(self, checkpoint: bool = False) -> Dict[str, Any]:
        """Stops the server, writing a final checkpoint first when asked;
        returns {"stopping", "checkpoint"}."""
        return self._command("stop", checkpoint=bool(checkpoint))

    def close(self) -> None:
        self._ws.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
