"""Any request to the API server (writes included), answered as raw JSON.

`raw.py` serves the informers' GETs and watches; deploying the collector and
pulling agents through the pod proxy also need POST, PATCH and DELETE, with
the same promise: the official client carries transport and auth, JSON comes
back as dicts, and every failure leaves as a `KubeError`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from kubernetes.client import ApiClient

from netsight.kube.errors import KubeError, translate
from netsight.kube.raw import open_response

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0


def request_json(
    api_client: ApiClient,
    method: str,
    path: str,
    *,
    query: dict[str, str] | None = None,
    body: Any = None,
    content_type: str = "application/json",
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Any:
    """Send `method path?query` with a JSON `body`; return the decoded JSON answer.

    Raises the `KubeError` subclass matching the HTTP status, or
    UnavailableError when the server cannot be reached.
    """
    what = f"{method} {path}"
    response = open_response(
        api_client,
        path,
        list((query or {}).items()),
        (min(timeout_s, 10.0), timeout_s),
        what,
        method=method,
        body=body,
        content_type=content_type,
    )
    try:
        payload = response.read()
    except Exception as exc:
        raise translate(exc, what) from exc
    finally:
        response.release_conn()
    if not payload:
        return {}
    try:
        return json.loads(payload)
    except ValueError as exc:
        raise KubeError(f"{what} failed: the answer is not JSON ({exc})") from exc
