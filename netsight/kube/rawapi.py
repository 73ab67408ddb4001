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

from netsight.kube.errors import KubeError, from_status, translate

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
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = content_type
    try:
        request = api_client.param_serialize(
            method=method,
            resource_path=path,
            query_params=list((query or {}).items()),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = api_client.call_api(
            *request, _request_timeout=(min(timeout_s, 10.0), timeout_s)
        ).response
        payload = response.read()
    except KubeError:
        raise
    except Exception as exc:
        raise translate(exc, what) from exc
    finally:
        if "response" in locals():
            response.release_conn()
    if not 200 <= response.status < 300:
        raise from_status(response.status, payload, what)
    if not payload:
        return {}
    try:
        return json.loads(payload)
    except ValueError as exc:
        raise KubeError(f"{what} failed: the answer is not JSON ({exc})") from exc
