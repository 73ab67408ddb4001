"""Watch streams: the events a `?watch=true` request receives, one JSON per line.

When 410 Gone is answered, and how:

- HTTP 410 (a Status body instead of a stream): the watch asks for a
  resourceVersion older than the event history holds at the time the
  request arrives (more than `history_limit` writes ago, or before a
  `compact()`).
- In-stream `ERROR` event carrying a Status with code 410, after which the
  stream ends: the stream was open and either the events it still had to
  deliver left the history (the client read too slowly while more than
  `history_limit` writes happened) or `compact()` ran (every open watch
  ends this way then, which gives tests a deterministic in-stream 410).

Watch without a resourceVersion (or with "0") first sends ADDED for every
current object, as the real server does. Bookmarks, when asked for with
`allowWatchBookmarks`, are sent every `bookmark_interval_s` of quiet and
once more just before the stream ends at `timeoutSeconds`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from netsight.sim import status
from netsight.sim.objects import Event, ObjectStore, meta
from netsight.sim.resources import Resource
from netsight.sim.selectors import Matcher
from netsight.sim.tables import table_for

logger = logging.getLogger(__name__)

# The real server closes watches after a random 30-60 minutes when the
# client gives no timeoutSeconds.
DEFAULT_TIMEOUT_S = 1800.0
# Longest sleep between checks for a closed client or a stopped server.
POLL_S = 0.5

Send = Callable[[bytes], None]


@dataclass(frozen=True)
class WatchRequest:
    resource: Resource
    namespace: str | None
    matcher: Matcher | None
    resource_version: str | None
    timeout_s: float
    bookmarks: bool
    send_initial_events: bool
    as_table: bool = False  # kubectl get -w: each object as a one-row Table


def _line(event_type: str, obj: dict) -> bytes:
    return json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"


def _encoded_line(event_type: str, encoded: bytes) -> bytes:
    return b'{"type":"' + event_type.encode() + b'","object":' + encoded + b"}\n"


class WatchStream:
    """One open watch; `check()` before the response starts, then `run(send)`."""

    def __init__(
        self,
        store: ObjectStore,
        request: WatchRequest,
        bookmark_interval_s: float,
        client_gone: Callable[[], bool] = lambda: False,
    ) -> None:
        self.store = store
        self.request = request
        self.bookmark_interval_s = bookmark_interval_s
        self.client_gone = client_gone
        self._position = 0

    def check(self) -> None:
        """Raise ApiError 410 when the asked resourceVersion is older than the history."""
        rv_text = self.request.resource_version
        if not rv_text or rv_text == "0":
            return
        try:
            rv = int(rv_text)
        except ValueError:
            raise status.bad_request(f"invalid resource version: {rv_text!r}") from None
        oldest = self.store.oldest_watchable_rv()
        if rv < oldest:
            raise status.gone(f"too old resource version: {rv} ({oldest})")

    def _matches(self, obj: dict) -> bool:
        request = self.request
        if request.namespace and meta(obj).get("namespace") != request.namespace:
            return False
        return request.matcher is None or request.matcher(obj)

    def _translate(self, event: Event) -> str | None:
        """The event type this watch sees, or None when the filter hides it."""
        now = self._matches(event.obj)
        if event.type != "MODIFIED":
            return event.type if now else None
        before = event.previous is not None and self._matches(event.previous)
        if now and before:
            return "MODIFIED"
        if now:
            return "ADDED"
        if before:
            return "DELETED"
        return None

    def _bookmark(self, initial_end: bool = False) -> bytes:
        metadata: dict = {"resourceVersion": str(self._position)}
        if initial_end:
            metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
        resource = self.request.resource
        obj = {"kind": resource.kind, "apiVersion": resource.api_version, "metadata": metadata}
        return _line("BOOKMARK", obj)

    def _event_line(self, event_type: str, obj: dict) -> bytes:
        if self.request.as_table:
            rv = int(meta(obj).get("resourceVersion") or self._position)
            return _line(event_type, table_for(self.request.resource, [obj], rv))
        return _line(event_type, obj)

    def run(self, send: Send) -> None:
        """Stream events until timeout, server stop, client close or 410."""
        request = self.request
        deadline = time.monotonic() + request.timeout_s
        epoch = self.store.epoch
        self._start(send)
        last_sent = time.monotonic()

        while not self.store.closed:
            events = self.store.events_after(self._position)
            if events is None or self.store.epoch != epoch:
                logger.info(
                    "Watch of %s fell behind the event history at rv %d; sending 410.",
                    request.resource.plural,
                    self._position,
                )
                gone = status.gone(f"too old resource version: {self._position}")
                send(_line("ERROR", gone.status()))
                return
            for event in events:
                self._position = event.rv
                if event.resource.key != request.resource.key:
                    continue
                seen_as = self._translate(event)
                if seen_as is not None:
                    send(self._event_line(seen_as, event.obj))
                    last_sent = time.monotonic()

            now = time.monotonic()
            if now >= deadline:
                break
            if request.bookmarks and now - last_sent >= self.bookmark_interval_s:
                send(self._bookmark())
                last_sent = now
            if self.client_gone():
                logger.debug("Watch client of %s went away.", request.resource.plural)
                return
            wait = min(POLL_S, deadline - now)
            if request.bookmarks:
                wait = min(wait, max(0.01, self.bookmark_interval_s - (now - last_sent)))
            self.store.wait_for_change(self._position, wait)

        if request.bookmarks and not self.store.closed:
            send(self._bookmark())

    def _start(self, send: Send) -> None:
        """Pick the starting position; send the current state when asked to."""
        request = self.request
        rv_text = request.resource_version
        if rv_text and rv_text != "0":
            self._position = int(rv_text)
            return
        rv, items, _, _ = self.store.list_page(request.resource, request.namespace, request.matcher)
        self._position = rv
        for encoded in items:
            if request.as_table:
                send(self._event_line("ADDED", json.loads(encoded)))
            else:
                send(_encoded_line("ADDED", encoded))
        if request.bookmarks and request.send_initial_events:
            send(self._bookmark(initial_end=True))
