"""`Status` bodies, the way the API server reports a failed request.

Clients look at `code` and `reason` (kubectl prints `message`), so every
failure the simulation answers carries a real Status object, never a bare
HTTP error page.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """A request the simulated API server refuses; becomes a Status body."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        kind: str | None = None,
        name: str | None = None,
        group: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details: dict[str, str] = {}
        if name is not None:
            self.details["name"] = name
        if group is not None:
            self.details["group"] = group
        if kind is not None:
            self.details["kind"] = kind

    def status(self) -> dict:
        return status_body(self.code, self.reason, self.message, self.details)


def status_body(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    body: dict = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success" if code < 400 else "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def _what(plural: str, name: str | None) -> str:
    return f'{plural} "{name}"' if name else plural


def not_found(plural: str, name: str, group: str = "") -> ApiError:
    what = f"{plural}.{group}" if group else plural
    return ApiError(
        404, "NotFound", f'{what} "{name}" not found', kind=plural, name=name, group=group
    )


def already_exists(plural: str, name: str, group: str = "") -> ApiError:
    what = f"{plural}.{group}" if group else plural
    return ApiError(
        409,
        "AlreadyExists",
        f'{what} "{name}" already exists',
        kind=plural,
        name=name,
        group=group,
    )


def conflict(plural: str, name: str, group: str = "") -> ApiError:
    what = f"{plural}.{group}" if group else plural
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {what} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        kind=plural,
        name=name,
        group=group,
    )


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def forbidden(
    user: str, verb: str, plural: str, group: str, namespace: str | None, name: str | None
) -> ApiError:
    where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    what = f"{plural}.{group}" if group else plural
    message = (
        f'{_what(what, name)} is forbidden: User "{user}" cannot {verb} resource '
        f'"{plural}" in API group "{group}" {where}'
    )
    return ApiError(403, "Forbidden", message, kind=plural, name=name, group=group)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def unavailable(message: str) -> ApiError:
    return ApiError(503, "ServiceUnavailable", message)
