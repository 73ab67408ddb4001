"""GET requests through the official client's transport, answered as raw JSON.

The client's generated methods turn every object of a list into model
instances, which dominates the time of listing a large cluster and which we
would only turn back into dicts. Here we keep the client for what it is good at
(host, TLS, auth headers, refreshed credentials) via `param_serialize` and
`call_api`, ask for the undecoded response, and `json.loads` it ourselves.
Every failure leaves as a `KubeError`.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

from kubernetes.client import ApiClient

from netsight.kube.errors import KubeError, from_status, translate

logger = logging.getLogger(__name__)

# Read at most this much per socket read while streaming a watch.
STREAM_CHUNK_BYTES = 256 * 1024

_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = True


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while decoding a large JSON answer.

    Decoding creates hundreds of thousands of containers, each of which would
    trigger and be scanned by young-generation collections: measured, that
    triples the time to decode a 150,000-pod cluster. Decoded JSON holds no
    reference cycles, so nothing is lost by not collecting meanwhile. Nested
    and concurrent pauses (several informers) re-enable only when the last ends.
    """
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


class Stream:
    """An open HTTP response of newline-separated JSON documents (a watch)."""

    def __init__(self, response: Any, what: str) -> None:
        self._response = response
        self._what = what
        self._closed = False

    def lines(self) -> Iterator[bytes]:
        """Each complete line; raises UnavailableError if the stream breaks mid-way."""
        pending = b""
        try:
            for chunk in self._response.stream(STREAM_CHUNK_BYTES, decode_content=True):
                if not chunk:
                    continue
                pending += chunk
                if b"\n" not in chunk:
                    continue
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    if line.strip():
                        yield line
        except Exception as exc:
            if self._closed:
                return
            raise translate(exc, self._what) from exc
        if pending.strip():
            yield pending

    def close(self) -> None:
        """Close the connection; safe from another thread to interrupt `lines()`."""
        self._closed = True
        try:
            self._response.shutdown()
        except Exception:  # best effort on an already broken socket
            logger.debug("Shutting down a watch connection failed.", exc_info=True)
        try:
            self._response.release_conn()
        except Exception:
            logger.debug("Releasing a watch connection failed.", exc_info=True)


def get_json(
    api_client: ApiClient, path: str, query: list[tuple[str, str]], timeout_s: float, what: str
) -> dict[str, Any]:
    """GET `path?query` and return the decoded JSON object; KubeError on any failure."""
    response = _open(api_client, path, query, (min(timeout_s, 10.0), timeout_s), what)
    try:
        body = response.read()
    except Exception as exc:
        raise translate(exc, what) from exc
    finally:
        response.release_conn()
    try:
        with gc_paused():
            doc = json.loads(body)
    except ValueError as exc:
        raise KubeError(f"{what} failed: the server's answer is not JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise KubeError(f"{what} failed: the server's answer is not a JSON object")
    return doc


def open_stream(
    api_client: ApiClient, path: str, query: list[tuple[str, str]], read_timeout_s: float, what: str
) -> Stream:
    """GET a streaming `path?query` (a watch); KubeError if it does not open with 200."""
    response = _open(api_client, path, query, (10.0, read_timeout_s), what)
    return Stream(response, what)


def _open(
    api_client: ApiClient,
    path: str,
    query: list[tuple[str, str]],
    timeout: tuple[float, float],
    what: str,
) -> Any:
    try:
        request = api_client.param_serialize(
            method="GET",
            resource_path=path,
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        response = api_client.call_api(*request, _request_timeout=timeout).response
    except KubeError:
        raise
    except Exception as exc:
        raise translate(exc, what) from exc
    if response.status != 200:
        try:
            body = response.read()
        except Exception:  # the status says enough
            body = b""
        finally:
            response.release_conn()
        raise from_status(response.status, body, what)
    return response
