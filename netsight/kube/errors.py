"""The errors that leave `netsight.kube`, and the one place that makes them.

The official client raises its own `ApiException`, urllib3 raises transport
errors, and the config loader raises `ConfigException`. Callers above `kube/`
must not need to know any of them: they get a `KubeError` subclass that says
what failed in a sentence fit for a user, plus the HTTP status when there was
one. `translate` is the only bridge; every call into the client goes through
it.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl

import urllib3.exceptions
from kubernetes.client.exceptions import ApiException, OpenApiException
from kubernetes.config.config_exception import ConfigException

logger = logging.getLogger(__name__)

# Server messages can quote whole objects; keep what reaches logs and dialogs short.
MAX_DETAIL_CHARS = 300


class KubeError(Exception):
    """Talking to a Kubernetes API server (or preparing to) failed.

    `status` is the HTTP status when the server answered, else None;
    `reason` is the server's machine-readable reason (`Forbidden`, `Expired`...).
    """

    def __init__(self, message: str, *, status: int | None = None, reason: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason


class AuthError(KubeError):
    """The server does not accept our credentials (401), or none could be obtained."""


class ForbiddenError(KubeError):
    """The credentials are valid but RBAC denies this request (403)."""


class NotFoundError(KubeError):
    """The object or resource type does not exist (404)."""


class ConflictError(KubeError):
    """The object changed or already exists (409)."""


class UnavailableError(KubeError):
    """The server cannot be reached, timed out, or answered with a server error."""


class GoneError(KubeError):
    """The resourceVersion asked for is too old (410): list again."""


class ConfigError(KubeError):
    """The kubeconfig (or a context in it) is missing, unreadable or incomplete."""


_BY_STATUS: dict[int, type[KubeError]] = {
    401: AuthError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
}


def truncate(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    """Cut `text` to `limit` characters, marking the cut."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def from_status(status: int, body: bytes | str | None, what: str) -> KubeError:
    """Build the error for an HTTP answer `status` with a (Status JSON) `body` to `what`."""
    message, reason = _status_details(body)
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = UnavailableError if status >= 500 or status == 429 else KubeError
    detail = f": {truncate(message)}" if message else ""
    return cls(f"{what} failed with HTTP {status}{detail}", status=status, reason=reason)


def from_status_object(status_obj: dict, what: str) -> KubeError:
    """Build the error for a Status object delivered inside a watch stream."""
    code = status_obj.get("code")
    return from_status(code if isinstance(code, int) else 500, json.dumps(status_obj), what)


def translate(exc: BaseException, what: str) -> KubeError:
    """Turn any client, transport or config error raised while doing `what` into a KubeError.

    `what` names the operation for the message, e.g. "listing pods on sim".
    """
    if isinstance(exc, KubeError):
        return exc
    if isinstance(exc, ApiException):
        if exc.status:
            return from_status(int(exc.status), exc.body, what)
        # The client reports TLS failures as status 0.
        return UnavailableError(f"{what} failed: {truncate(str(exc.reason))}")
    if isinstance(exc, ConfigException):
        return ConfigError(f"{what} failed: {truncate(str(exc))}")
    if isinstance(exc, OpenApiException):
        return KubeError(f"{what} failed: {truncate(str(exc))}")
    if isinstance(exc, urllib3.exceptions.HTTPError | ssl.SSLError | socket.timeout | OSError):
        return UnavailableError(f"{what} failed: cannot reach the API server ({_root_cause(exc)})")
    return KubeError(f"{what} failed: {truncate(repr(exc))}")


def _root_cause(exc: BaseException) -> str:
    # MaxRetryError wraps the interesting error in .reason; say that one.
    inner = getattr(exc, "reason", None)
    if isinstance(inner, BaseException):
        exc = inner
    text = str(exc)
    if "Connection refused" in text or isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, urllib3.exceptions.TimeoutError | socket.timeout | TimeoutError):
        return "timed out"
    return truncate(f"{type(exc).__name__}: {text}", 160)


def _status_details(body: bytes | str | None) -> tuple[str, str | None]:
    if not body:
        return "", None
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        obj = json.loads(body)
    except ValueError:
        return body, None
    if not isinstance(obj, dict):
        return body, None
    return str(obj.get("message") or ""), obj.get("reason")
