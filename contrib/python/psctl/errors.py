"""The exceptions psctl raises.

Everything psctl raises on purpose is a :class:`PsctlError`::

    PsctlError
    ├── ConnectError        the server cannot be reached (names URL and cause)
    │   ├── AuthError       HTTP 401/403: the token is missing or refused
    │   └── ResumeError     reconnected, but the worker identity was lost
    ├── ProtocolError       the peer sent something psctl-protocol(7) forbids
    ├── TimeoutError        no answer within the client's timeout
    ├── ServerError         the server refused the request (ERROR message)
    │   ├── ShapeError, UnknownTensorError, NonFiniteError, NoModelError,
    │   │   MismatchError, DuplicateError, DtypeError, TooLargeError,
    │   │   ShutdownError, BusyError, UnauthorizedError, ...
    └── ControlError        the control protocol refused a command

Arguments that can never be sent (an integer array, a name of 300 bytes)
raise the built-in :class:`TypeError` or :class:`ValueError` before a byte
goes out.
"""

import builtins

__all__ = [
    "PsctlError", "ConnectError", "AuthError", "ResumeError",
    "ProtocolError", "TimeoutError", "ServerError", "MalformedError",
    "UnknownOpError", "TooLargeError", "NoModelError", "MismatchError",
    "UnknownTensorError", "ShapeError", "NonFiniteError", "DtypeError",
    "ProtocolStateError", "ShutdownError", "InternalError", "DuplicateError",
    "BusyError", "UnauthorizedError", "ControlError", "ERROR_NAMES",
]

#: The worker protocol's error codes (psctl-protocol(7), "Error codes").
ERROR_NAMES = {
    1: "malformed", 2: "unknown_op", 3: "too_large", 4: "no_model",
    5: "mismatch", 6: "unknown_tensor", 7: "shape", 8: "nonfinite",
    9: "dtype", 10: "protocol", 11: "shutdown", 12: "internal",
    13: "duplicate", 14: "busy", 15: "unauthorized",
}


class PsctlError(Exception):
    """The base of every error psctl raises on purpose."""


class ConnectError(PsctlError):
    """The server at ``url`` cannot be reached or the connection broke and
    could not be made again; ``cause`` says why in words."""

    def __init__(self, url, cause):
        self.url = url
        self.cause = cause
        super().__init__("%s: %s" % (url, cause))


class AuthError(ConnectError):
    """The server answered the handshake with HTTP ``status`` 401 (no token
    or a wrong one) or 403 (a token that does not admit this protocol)."""

    def __init__(self, url, status, cause):
        self.status = status
        super().__init__(url, cause)


class ResumeError(ConnectError):
    """The connection was made again, but the server no longer knows this
    worker, or refused its resume secret, while a push was unanswered: that
    push may or may not have been applied, so it is not sent again."""


class ProtocolError(PsctlError):
    """The peer sent something the protocol does not allow."""


class TimeoutError(PsctlError, builtins.TimeoutError):
    """No answer within the client's ``timeout``.  The connection is
    closed; a push that timed out is sent again on the next call."""


class ServerError(PsctlError):
    """The server answered ERROR.  ``code`` is the wire code, ``name`` its
    name in psctl-protocol(7) (``"shape"``...), ``text`` the server's
    reason and ``version`` the model version it reported."""

    def __init__(self, code, text, version=0):
        self.code = code
        self.name = ERROR_NAMES.get(code, "error %d" % code)
        self.text = text
        self.version = version
        super().__init__("%s: %s" % (self.name, text) if text else self.name)


class MalformedError(ServerError):
    """The server could not parse the request."""


class UnknownOpError(ServerError):
    """The server does not know the operation."""


class TooLargeError(ServerError):
    """Over a server limit (tensor count, text length)."""


class NoModelError(ServerError):
    """Pull or push before any model exists."""


class MismatchError(ServerError):
    """INIT named other tensors or shapes than the server's model."""


class UnknownTensorError(ServerError):
    """A name the model does not have (or a reserved ``__`` name)."""


class ShapeError(ServerError):
    """A tensor's shape differs from the model's."""


class NonFiniteError(ServerError):
    """A NaN or infinity in an update, or one that would overflow."""


class DtypeError(ServerError):
    """An element type the server does not accept here."""


class ProtocolStateError(ServerError):
    """A valid message at the wrong moment (error code ``protocol``)."""


class ShutdownError(ServerError):
    """The server is stopping."""


class InternalError(ServerError):
    """The server failed (out of memory)."""


class DuplicateError(ServerError):
    """A tensor named twice in one request."""


class BusyError(ServerError):
    """Too many requests waiting on the server."""


class UnauthorizedError(ServerError):
    """The token, or the resume secret, does not allow this."""


_BY_CODE = {
    1: MalformedError, 2: UnknownOpError, 3: TooLargeError, 4: NoModelError,
    5: MismatchError, 6: UnknownTensorError, 7: ShapeError,
    8: NonFiniteError, 9: DtypeError, 10: ProtocolStateError,
    11: ShutdownError, 12: InternalError, 13: DuplicateError, 14: BusyError,
    15: UnauthorizedError,
}


def server_error(code, text, version=0):
    """The ServerError subclass for a wire error code (ServerError itself
    for a code this client does not know)."""
    return _BY_CODE.get(code, ServerError)(code, text, version)


class ControlError(PsctlError):
    """A control command was refused: ``code`` is the control protocol's
    error code (``"no_checkpoint_dir"``...), ``message`` its words."""

    def __init__(self, code, message):
        self.code = code
        self.message = message
        super().__init__("%s: %s" % (code, message))
