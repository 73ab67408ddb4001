"""The object store behind the simulated API server: state, versions, history.

One global resourceVersion counts every write, as etcd's revision does. Each
write appends one event to a bounded history so that watches can resume from
a resourceVersion; events fall off the front once `history_limit` newer ones
exist, and a watch that needs them is told 410 Gone. Stored dicts are never
changed in place after they are stored (every write stores a new dict), so
readers may serialise them without holding the lock.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from netsight.sim import status
from netsight.sim.resources import Resource, ResourceRegistry
from netsight.sim.selectors import Matcher

logger = logging.getLogger(__name__)

# Paged lists are served from a snapshot taken by the first page, so pages
# are consistent; a client that lets this many newer paged lists start
# before it asks for its next page gets 410 (as when etcd compacts).
MAX_LIST_SNAPSHOTS = 64

ObjectKey = tuple[str, str]  # (namespace or "", name)
EventHook = Callable[["Event"], None]


def copy_json(value: Any) -> Any:
    """A deep copy of JSON data (dicts, lists, scalars); twice as fast as deepcopy."""
    kind = type(value)
    if kind is dict:
        return {k: copy_json(v) for k, v in value.items()}
    if kind is list:
        return [copy_json(v) for v in value]
    return value


def iso_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def object_key(obj: dict) -> ObjectKey:
    metadata = meta(obj)
    return (str(metadata.get("namespace") or ""), str(metadata.get("name") or ""))


class _Stored:
    """An object as stored, with its JSON encoding made once on demand."""

    __slots__ = ("obj", "_encoded")

    def __init__(self, obj: dict) -> None:
        self.obj = obj
        self._encoded: bytes | None = None

    def encoded(self) -> bytes:
        if self._encoded is None:
            self._encoded = json.dumps(self.obj, separators=(",", ":")).encode()
        return self._encoded


@dataclass(frozen=True)
class Event:
    """One write: its resourceVersion, resource, type and the object after it.

    `previous` is the object before a MODIFIED, so that a filtered watch can
    turn a change into ADDED/DELETED when the object enters or leaves the
    filter, as the real server does.
    """

    rv: int
    resource: Resource
    type: str
    obj: dict
    previous: dict | None = None
    # "api" for writes through the API (controllers cascade them), "apply"
    # for history replayed with apply() (delivered exactly as scripted).
    origin: str = "api"


class ObjectStore:
    """Objects of every resource, the global resourceVersion and the history."""

    def __init__(self, registry: ResourceRegistry, history_limit: int = 1000) -> None:
        self.registry = registry
        self.history_limit = max(1, int(history_limit))
        self.clock: Callable[[], float] = time.time
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._rv = 0
        self._objects: dict[tuple[str, str], dict[ObjectKey, _Stored]] = {}
        self._history: deque[Event] = deque(maxlen=self.history_limit)
        self._replaced: dict[str, dict] = {}  # uid -> object replaced by a same-named one
        self._snapshots: OrderedDict[str, tuple[int, list[_Stored]]] = OrderedDict()
        self._hooks: list[EventHook] = []
        self._closed = False
        self._epoch = 0  # bumped by compact(); open watches end with 410

    # -- reading -------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        with self._lock:
            return self._rv

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def epoch(self) -> int:
        """Changes whenever compact() runs; a watch opened before must end with 410."""
        return self._epoch

    def get(self, resource: Resource, namespace: str, name: str) -> dict | None:
        with self._lock:
            stored = self._objects.get(resource.key, {}).get((namespace, name))
            return stored.obj if stored else None

    def get_encoded(self, resource: Resource, namespace: str, name: str) -> bytes | None:
        with self._lock:
            stored = self._objects.get(resource.key, {}).get((namespace, name))
        return stored.encoded() if stored else None

    def objects(self, resource: Resource, namespace: str | None = None) -> list[dict]:
        """Current objects of a resource (in one namespace if given), in key order."""
        with self._lock:
            items = self._objects.get(resource.key, {})
            keys = sorted(k for k in items if namespace is None or k[0] == namespace)
            return [items[k].obj for k in keys]

    def list_page(
        self,
        resource: Resource,
        namespace: str | None,
        matcher: Matcher | None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> tuple[int, list[bytes], str | None, int | None]:
        """A page of encoded objects: (rv, items, continue token, remaining count)."""
        if continue_token:
            rv, remaining = self._take_snapshot(continue_token)
        else:
            with self._lock:
                rv = self._rv
                items = self._objects.get(resource.key, {})
                keys = sorted(k for k in items if namespace is None or k[0] == namespace)
                remaining = [items[k] for k in keys]
            if matcher is not None:
                remaining = [s for s in remaining if matcher(s.obj)]
        if not limit or limit >= len(remaining):
            return rv, [s.encoded() for s in remaining], None, None
        page, rest = remaining[:limit], remaining[limit:]
        token = uuid.uuid4().hex
        with self._lock:
            self._snapshots[token] = (rv, rest)
            while len(self._snapshots) > MAX_LIST_SNAPSHOTS:
                self._snapshots.popitem(last=False)
        return rv, [s.encoded() for s in page], token, len(rest)

    def _take_snapshot(self, token: str) -> tuple[int, list[_Stored]]:
        with self._lock:
            found = self._snapshots.pop(token, None)
        if found is None:
            raise status.gone(
                "The provided continue parameter is too old to display a consistent list "
                "result. You can start a new list without the continue parameter."
            )
        return found

    # -- history ---------------------------------------------------------------

    def oldest_watchable_rv(self) -> int:
        """The lowest resourceVersion a watch may start from (all later events kept)."""
        with self._lock:
            if self._history:
                return self._history[0].rv - 1
            return self._rv

    def events_after(self, rv: int) -> list[Event] | None:
        """Events newer than rv, or None when some of them have left the history."""
        with self._lock:
            if rv < self.oldest_watchable_rv():
                return None
            if not self._history or rv >= self._rv:
                return []
            start = rv - (self._history[0].rv - 1)
            return list(itertools.islice(self._history, start, None))

    def wait_for_change(self, rv: int, timeout: float) -> None:
        """Block until the resourceVersion moves past rv, the store closes, or timeout."""
        with self._changed:
            if self._rv <= rv and not self._closed:
                self._changed.wait(timeout)

    def compact(self) -> None:
        """Drop the whole event history, as an etcd compaction would.

        Every open watch gets an in-stream 410 ERROR event and ends; new
        watches from an older resourceVersion get HTTP 410.
        """
        with self._changed:
            self._history.clear()
            self._epoch += 1
            self._changed.notify_all()
        logger.info("Event history compacted at resourceVersion %d.", self._rv)

    def atomically(self) -> threading.RLock:
        """Hold off every reader (lists, watches) while several writes land.

        `with store.atomically(): ...` makes the writes inside visible at
        once. NB: controllers react inside the block too; do not write
        DaemonSets or Nodes in it from several threads.
        """
        return self._lock

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def add_hook(self, hook: EventHook) -> None:
        """Call hook(event) after every write, outside the store lock."""
        self._hooks.append(hook)

    # -- writing ---------------------------------------------------------------

    def load(self, objects: list[dict]) -> None:
        """Put initial objects in place without history events (the starting state)."""
        with self._lock:
            for obj in objects:
                resource = self.registry.for_object(obj)
                fresh = self._prepare_new(resource, obj)
                self._rv += 1
                fresh["metadata"]["resourceVersion"] = str(self._rv)
                self._objects.setdefault(resource.key, {})[object_key(fresh)] = _Stored(fresh)

    def create(self, resource: Resource, obj: dict) -> dict:
        with self._lock:
            key = object_key(obj)
            if key in self._objects.get(resource.key, {}):
                raise status.already_exists(resource.plural, key[1], resource.group)
            fresh = self._prepare_new(resource, obj, server_side=True)
            event = self._write(resource, "ADDED", fresh, None)
        return self._run_hooks(event)

    def update(self, resource: Resource, obj: dict) -> dict:
        """Replace an object; a stale metadata.resourceVersion is a 409 Conflict."""
        with self._lock:
            key = object_key(obj)
            current = self.get(resource, *key)
            if current is None:
                raise status.not_found(resource.plural, key[1], resource.group)
            asked_rv = meta(obj).get("resourceVersion")
            if asked_rv and str(asked_rv) != meta(current).get("resourceVersion"):
                raise status.conflict(resource.plural, key[1], resource.group)
            fresh = copy_json(obj)
            fresh["apiVersion"] = resource.api_version
            fresh["kind"] = resource.kind
            metadata = fresh["metadata"]
            old_meta = meta(current)
            for field in ("uid", "creationTimestamp"):
                metadata[field] = old_meta.get(field)
            generation = int(old_meta.get("generation") or 1)
            if fresh.get("spec") != current.get("spec"):
                generation += 1
            metadata["generation"] = generation
            event = self._write(resource, "MODIFIED", fresh, current)
        return self._run_hooks(event)

    def delete(self, resource: Resource, namespace: str, name: str) -> dict:
        with self._lock:
            current = self.get(resource, namespace, name)
            if current is None:
                raise status.not_found(resource.plural, name, resource.group)
            gone = copy_json(current)
            gone["metadata"].setdefault("deletionTimestamp", iso_time(self.clock()))
            gone["metadata"].setdefault("deletionGracePeriodSeconds", 0)
            event = self._write(resource, "DELETED", gone, current)
        return self._run_hooks(event)

    def apply(self, event_type: str, obj: dict) -> dict:
        """Record a change as if the cluster made it, with little checking.

        ADDED of a name that exists under another uid replaces it (the old
        object is kept so that a late DELETED for its uid can still be
        delivered); DELETED of a uid that is no longer current sends the
        DELETED event without touching the current object.
        """
        if event_type not in ("ADDED", "MODIFIED", "DELETED"):
            raise ValueError(f"unknown event type {event_type!r}")
        resource = self.registry.for_object(obj)
        key = object_key(obj)
        with self._lock:
            current = self.get(resource, *key)
            if event_type == "DELETED":
                event = self._apply_delete(resource, obj, current)
            else:
                event = self._apply_write(resource, event_type, obj, current)
        return self._run_hooks(event)

    def _apply_write(
        self, resource: Resource, event_type: str, obj: dict, current: dict | None
    ) -> Event:
        # A change that leaves out uid or creationTimestamp keeps the current ones.
        defaults: dict = {}
        if current is not None and meta(obj).get("uid") in (None, "", meta(current).get("uid")):
            defaults = {k: meta(current).get(k) for k in ("uid", "creationTimestamp")}
        fresh = self._prepare_new(resource, obj, defaults=defaults)
        if current is not None and meta(current).get("uid") != fresh["metadata"]["uid"]:
            self._replaced[str(meta(current).get("uid"))] = current
        previous = current if event_type == "MODIFIED" else None
        return self._write(resource, event_type, fresh, previous, origin="apply")

    def _apply_delete(self, resource: Resource, obj: dict, current: dict | None) -> Event:
        uid = meta(obj).get("uid")
        late = current is not None and uid and meta(current).get("uid") != uid
        if late:
            base = self._replaced.pop(str(uid), None) or obj
        else:
            base = current or obj
        gone = copy_json(base)
        gone.setdefault("metadata", {})
        gone["apiVersion"] = resource.api_version
        gone["kind"] = resource.kind
        given_ts = meta(obj).get("deletionTimestamp")
        if given_ts:
            gone["metadata"]["deletionTimestamp"] = given_ts
        gone["metadata"].setdefault("deletionTimestamp", iso_time(self.clock()))
        gone["metadata"].setdefault("uid", str(uuid.uuid4()))
        # A late delete tells watchers about the old uid; the current object stays.
        return self._write(resource, "DELETED", gone, current, touch=not late, origin="apply")

    def _prepare_new(
        self,
        resource: Resource,
        obj: dict,
        server_side: bool = False,
        defaults: dict | None = None,
    ) -> dict:
        """A copy with apiVersion, kind and the server-set metadata filled in."""
        fresh = copy_json(obj)
        fresh["apiVersion"] = resource.api_version
        fresh["kind"] = resource.kind
        metadata = fresh.setdefault("metadata", {})
        if not resource.namespaced:
            metadata.pop("namespace", None)
        elif not metadata.get("namespace"):
            metadata["namespace"] = "default"
        if not server_side:
            for field, value in (defaults or {}).items():
                if value and not metadata.get(field):
                    metadata[field] = value
        if server_side or not metadata.get("uid"):
            metadata["uid"] = str(uuid.uuid4())
        if server_side or not metadata.get("creationTimestamp"):
            metadata["creationTimestamp"] = iso_time(self.clock())
        if server_side or not metadata.get("generation"):
            metadata["generation"] = 1
        if server_side:
            metadata.pop("deletionTimestamp", None)
        return fresh

    def _write(
        self,
        resource: Resource,
        event_type: str,
        obj: dict,
        previous: dict | None,
        touch: bool = True,
        origin: str = "api",
    ) -> Event:
        with self._changed:
            if self._closed:
                raise status.unavailable("the simulated API server is shutting down")
            self._rv += 1
            obj["metadata"]["resourceVersion"] = str(self._rv)
            items = self._objects.setdefault(resource.key, {})
            key = object_key(obj)
            if not touch:
                pass
            elif event_type == "DELETED":
                items.pop(key, None)
            else:
                items[key] = _Stored(obj)
            event = Event(self._rv, resource, event_type, obj, previous, origin)
            self._history.append(event)
            self._changed.notify_all()
        logger.debug("%s %s %s/%s at rv %d", event_type, resource.kind, *key, event.rv)
        return event

    def _run_hooks(self, event: Event) -> dict:
        """Let controllers react to a write; called without the store lock held."""
        for hook in self._hooks:
            try:
                hook(event)
            except Exception:
                key = object_key(event.obj)
                logger.exception(
                    "Reacting to %s of %s %s/%s failed; the change itself stands.",
                    event.type,
                    event.resource.kind,
                    key[0],
                    key[1],
                )
        return event.obj
