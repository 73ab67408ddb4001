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
import queue
import re
import threading
from collections.abc import Iterator
from typing import Any

from kubernetes.client import ApiClient

from netsight.kube.errors import KubeError, from_status, translate

logger = logging.getLogger(__name__)

# Read at most this much per socket read while streaming a watch.
STREAM_CHUNK_BYTES = 256 * 1024

# How far into a list answer its metadata (and continue token) may be looked for.
LIST_HEAD_BYTES = 64 * 1024
_CONTINUE = re.compile(rb'"continue"\s*:\s*("(?:[^"\\]|\\.)*")')

_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = True


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while decoding large JSON answers.

    Decoding creates millions of containers, and each batch of them triggers
    collections that scan them again: measured on 150,000 pods, GC was more
    than half of the listing time. Decoded JSON holds no reference cycles (it
    is freed by reference counting), so nothing is lost by not collecting
    meanwhile. Nested and concurrent pauses (several informers) re-enable the
    collector only when the last one ends.
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


def freeze_heap() -> None:
    """Move every object alive now out of the cyclic GC's reach (`gc.freeze`).

    NB: a full collection over a 150,000-pod inventory takes seconds (6 s
    measured), holding the GIL, so it would freeze the UI every time enough
    new objects accumulate. Frozen objects are still freed by reference
    counting when dropped (as inventory dicts are: they hold no cycles); the
    cost is that an object alive now that later becomes part of an
    unreachable cycle is never collected.
    """
    gc.freeze()
    logger.debug("Froze %d objects out of the garbage collector's reach.", gc.get_freeze_count())


def get_json(
    api_client: ApiClient, path: str, query: list[tuple[str, str]], timeout_s: float, what: str
) -> dict[str, Any]:
    """GET `path?query` and return the decoded JSON object; KubeError on any failure."""
    return decode(get_bytes(api_client, path, query, timeout_s, what), what)


def get_bytes(
    api_client: ApiClient, path: str, query: list[tuple[str, str]], timeout_s: float, what: str
) -> bytes:
    """GET `path?query` and return the undecoded body of a 200 answer; KubeError otherwise."""
    response = open_response(api_client, path, query, (min(timeout_s, 10.0), timeout_s), what)
    try:
        return bytes(response.read())
    except Exception as exc:
        raise translate(exc, what) from exc
    finally:
        response.release_conn()


def decode(body: bytes, what: str) -> dict[str, Any]:
    """The JSON object in `body` (decoded with the GC paused); KubeError if it is not one."""
    try:
        with gc_paused():
            doc = json.loads(body)
    except ValueError as exc:
        raise KubeError(f"{what} failed: the server's answer is not JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise KubeError(f"{what} failed: the server's answer is not a JSON object")
    return doc


def list_pages(
    api_client: ApiClient,
    path: str,
    query: list[tuple[str, str]],
    timeout_s: float,
    what: str,
    stop: threading.Event,
) -> Iterator[bytes]:
    """The undecoded pages of a paginated list (`query` holds the `limit`).

    The next page is fetched by a helper thread while the caller decodes the
    current one, so the server's time to produce a page and ours to decode
    the previous one overlap. The token for the next page is read from the
    head of each answer (servers put `metadata` before `items`), so the
    helper does not need to decode whole pages.
    """
    pages: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=2)
    done = threading.Event()

    def put(item: bytes | BaseException | None) -> None:
        while not done.is_set():
            try:
                pages.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def fetch() -> None:
        token = None
        try:
            while not (done.is_set() or stop.is_set()):
                page_query = [*query, ("continue", token)] if token else query
                body = get_bytes(api_client, path, page_query, timeout_s, what)
                token = continue_token(body, what)
                put(body)
                if not token:
                    break
        except BaseException as exc:  # handed to the caller, who raises it
            put(exc)
            return
        put(None)

    helper = threading.Thread(target=fetch, name="netsight-list-pages", daemon=True)
    helper.start()
    try:
        while True:
            try:
                item = pages.get(timeout=0.2)
            except queue.Empty:
                if not helper.is_alive() and pages.empty():
                    return  # stopped
                continue
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        done.set()
        helper.join()


def continue_token(body: bytes, what: str) -> str | None:
    """The `metadata.continue` of a list answer, read from its head when possible."""
    items_at = body.find(b'"items"', 0, LIST_HEAD_BYTES)
    if items_at >= 0 and b'"metadata"' in body[:items_at]:
        found = _CONTINUE.search(body, 0, items_at)
        return (json.loads(found.group(1)) or None) if found else None
    meta = decode(body, what).get("metadata") or {}
    return meta.get("continue") or None


def open_stream(
    api_client: ApiClient, path: str, query: list[tuple[str, str]], read_timeout_s: float, what: str
) -> Stream:
    """GET a streaming `path?query` (a watch); KubeError if it does not open with 200."""
    response = open_response(api_client, path, query, (10.0, read_timeout_s), what)
    return Stream(response, what)


def open_response(
    api_client: ApiClient,
    path: str,
    query: list[tuple[str, str]],
    timeout: tuple[float, float],
    what: str,
    *,
    method: str = "GET",
    body: Any = None,
    content_type: str = "application/json",
) -> Any:
    """Send a request and return the open urllib3 response; KubeError unless it is 2xx."""
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = content_type
    try:
        request = api_client.param_serialize(
            method=method,
            resource_path=path,
            query_params=query,
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = api_client.call_api(*request, _request_timeout=timeout).response
    except KubeError:
        raise
    except Exception as exc:
        raise translate(exc, what) from exc
    if not 200 <= response.status < 300:
        try:
            answer = response.read()
        except Exception:  # the status says enough
            answer = b""
        finally:
            response.release_conn()
        raise from_status(response.status, answer, what)
    return response
