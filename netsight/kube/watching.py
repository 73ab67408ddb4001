"""Live inventory: list, then watch, every kind NetSight needs, one thread per kind.

Each informer lists its kind (paginated), then watches from the list's
resourceVersion with bookmarks. When the server says the version is gone
(410, as an HTTP answer or an ERROR event in the stream), the stream breaks,
or the credentials stop working (401), it lists again and *diffs the new list
against its cache*: objects that vanished meanwhile produce DELETED, changed
ones MODIFIED, unchanged ones nothing. So consumers see a consistent stream of
changes no matter what happened to the connection.

Where the user may not list a kind cluster-wide (403), the informer falls back
to the namespaces it can read and says so in `Inventory.unavailable`, which
maps a kind to the reason it is (wholly or partly) not watched. No failure of
one kind stops another.

Objects are the server's raw JSON dicts, without `metadata.managedFields` and
the `kubectl.kubernetes.io/last-applied-configuration` annotation: both are
large, and nothing downstream reads them.
"""

from __future__ import annotations

import json
import logging
import queue
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from kubernetes.client import ApiClient

from netsight.kube import client as kube_client
from netsight.kube import kinds as kube_kinds
from netsight.kube.errors import (
    AuthError,
    ForbiddenError,
    GoneError,
    KubeError,
    NotFoundError,
    from_status_object,
)
from netsight.kube.kinds import ALL_KINDS, SPECS, KindSpec
from netsight.kube.raw import (
    Stream,
    decode,
    freeze_heap,
    gc_paused,
    get_json,
    list_pages,
    open_stream,
)

logger = logging.getLogger(__name__)

EventType = Literal["ADDED", "MODIFIED", "DELETED"]

# The server ends each watch after this long; a stop request is honoured at
# least this fast even if closing the connection from outside fails.
WATCH_TIMEOUT_S = 10
# Extra wait beyond the server's timeout before we call a silent stream dead.
WATCH_READ_GRACE_S = 15.0
# Objects per list page: big pages are faster, small ones cap the memory of one answer.
PAGE_SIZE = 2000
# One list page of a huge cluster can take a while to produce.
LIST_TIMEOUT_S = 120.0
# Retry delays after failures: first, cap. Forbidden namespaces are retried slowly.
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0
RBAC_RETRY_S = 60.0
# Lists at least this long are frozen out of the cyclic GC's reach afterwards.
FREEZE_MIN_OBJECTS = 5000
# stop() waits this long for every thread.
STOP_JOIN_S = 10.0

_DROPPED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"


@dataclass(frozen=True, slots=True)
class InventoryEvent:
    """One change of one object, as the inventory saw it at `observed_at` (epoch s)."""

    kind: str
    type: EventType
    obj: dict[str, Any]
    observed_at: float


class Inventory:
    """Watches `kinds` through `api_client` from construction until `stop()`.

    `namespaces` limits namespaced kinds to those namespaces (None: cluster-wide,
    falling back to readable namespaces on 403). `fallback_namespace` is the
    namespace to try when even namespaces cannot be listed; by default the
    context's namespace (when the client came from `api_client_for`), else
    "default".
    """

    def __init__(
        self,
        api_client: ApiClient,
        kinds: Iterable[str] = ALL_KINDS,
        namespaces: Iterable[str] | None = None,
        *,
        fallback_namespace: str | None = None,
        watch_timeout_s: int = WATCH_TIMEOUT_S,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.api_client = api_client
        self.events: queue.Queue[InventoryEvent] = queue.Queue()
        self._unavailable: dict[str, str] = {}
        self.kinds = tuple(kinds)
        unknown = [k for k in self.kinds if k not in SPECS]
        if unknown:
            raise ValueError(f"unknown kinds {unknown}; known: {', '.join(ALL_KINDS)}")
        self._namespaces = list(namespaces) if namespaces is not None else None
        self._fallback_namespace = (
            fallback_namespace or kube_client.context_namespace(api_client) or "default"
        )
        self._watch_timeout_s = watch_timeout_s
        self._page_size = page_size
        self._context = kube_client.context_name(api_client) or api_client.configuration.host

        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._caches: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in self.kinds}
        self._problems: dict[str, dict[str, str]] = {k: {} for k in self.kinds}
        self._settled = {k: threading.Event() for k in self.kinds}
        self._streams: set[Stream] = set()
        self._threads: list[threading.Thread] = []
        for kind in self.kinds:
            self._start_thread(f"inventory-{kind}", self._run_kind, SPECS[kind])

    # -- public -----------------------------------------------------------------

    @property
    def unavailable(self) -> dict[str, str]:
        """Kinds not (or only partly) watched, each with the reason; a copy, safe to iterate."""
        with self._lock:
            return dict(self._unavailable)

    def snapshot(self, kind: str) -> list[dict[str, Any]]:
        """The objects of `kind` as currently known (a new list; the dicts are shared)."""
        with self._lock:
            return list(self._caches[kind].values())

    def wait_synced(self, timeout: float | None = None) -> bool:
        """Wait until every kind has been listed once or declared unavailable."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for event in self._settled.values():
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not event.wait(left):
                return False
        return True

    def stop(self) -> None:
        """Stop every informer and join its thread; events already queued stay queued."""
        self._stop.set()
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            stream.close()
        deadline = time.monotonic() + STOP_JOIN_S
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                logger.warning("Informer thread %s did not stop in time.", thread.name)

    def __enter__(self) -> Inventory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- threads ----------------------------------------------------------------

    def _start_thread(self, name: str, target: Any, *args: Any) -> None:
        def guarded() -> None:
            try:
                target(*args)
            except Exception as exc:  # a bug: report it, never die silently
                logger.exception("Informer thread %s failed; its kind is no longer watched.", name)
                spec = args[0]
                self._set_problem(spec.kind, "*", f"internal error: {exc!r}")
                self._settled[spec.kind].set()

        thread = threading.Thread(target=guarded, name=f"netsight-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _run_kind(self, spec: KindSpec) -> None:
        if self._namespaces is None or not spec.namespaced:
            forbidden = self._scope_loop(spec, None, None)
            if forbidden is None or not spec.namespaced:
                return
            note = f"cannot list {spec.plural} cluster-wide ({forbidden.message})"
            logger.warning(
                "%s on %s; falling back to the namespaces it can read.", note, self._context
            )
        else:
            note = ""
        self._namespace_mode(spec, note)

    def _namespace_mode(self, spec: KindSpec, note: str) -> None:
        # Try each readable namespace; each that lists gets its own watching thread.
        active: set[str] = set()
        refused: dict[str, str] = {}
        while not self._stop.is_set():
            for ns in self._readable_namespaces():
                if ns in active or self._stop.is_set():
                    continue
                try:
                    rv = self._relist(spec, ns)
                except ForbiddenError as exc:
                    refused[ns] = exc.message
                    continue
                except KubeError as exc:
                    refused[ns] = exc.message
                    continue
                refused.pop(ns, None)
                self._set_problem(spec.kind, ns, None)
                active.add(ns)
                self._start_thread(
                    f"inventory-{spec.kind}-{ns}", self._namespace_worker, spec, ns, rv, active
                )
            self._set_problem(spec.kind, "*", _fallback_reason(note, active, refused))
            self._settled[spec.kind].set()
            self._stop.wait(RBAC_RETRY_S)

    def _namespace_worker(self, spec: KindSpec, ns: str, rv: str, active: set[str]) -> None:
        try:
            self._scope_loop(spec, ns, rv)
        finally:
            active.discard(ns)

    def _scope_loop(self, spec: KindSpec, ns: str | None, rv: str | None) -> ForbiddenError | None:
        """List and watch one scope until stopped; return the error if listing is forbidden."""
        scope = ns or "*"
        where = f"{spec.plural} in {ns}" if ns else spec.plural
        failures = 0
        while not self._stop.is_set():
            try:
                if rv is None:
                    rv = self._relist(spec, ns)
                    self._set_problem(spec.kind, scope, None)
                    self._settled[spec.kind].set()
                    failures = 0
                while not self._stop.is_set():
                    rv = self._watch(spec, ns, rv)
            except GoneError:
                logger.info("Watch of %s on %s expired; relisting.", where, self._context)
                rv = None
                continue
            except ForbiddenError as exc:
                if ns is None and spec.namespaced:
                    return exc
                self._set_problem(spec.kind, scope, exc.message)
                self._settled[spec.kind].set()
                if ns is not None:
                    return exc
                self._stop.wait(RBAC_RETRY_S)
                rv = None
                continue
            except AuthError as exc:
                logger.warning(
                    "The API server rejected the credentials while watching %s on "
                    "%s (%s); fetching new ones and relisting.",
                    where,
                    self._context,
                    exc.message,
                )
                kube_client.invalidate_credentials(self.api_client)
                self._note_failure(spec, scope, exc, failures)
            except NotFoundError as exc:
                self._note_failure(spec, scope, exc, failures, "the server does not serve them")
                self._stop.wait(RBAC_RETRY_S)
            except KubeError as exc:
                if exc.status == 400 and spec.field_selector and self._fall_back_selector(spec):
                    spec = SPECS_WITH_LABELS[spec.kind]
                    rv = None
                    continue
                logger.warning(
                    "Watching %s on %s failed (%s); relisting after a pause.",
                    where,
                    self._context,
                    exc.message,
                )
                self._note_failure(spec, scope, exc, failures)
            failures += 1
            rv = None
            self._stop.wait(_backoff(failures))
        return None

    def _note_failure(
        self, spec: KindSpec, scope: str, exc: KubeError, failures: int, why: str | None = None
    ) -> None:
        # The first failure is often a blip; report from the second, or before the first list.
        if failures >= 1 or not self._settled[spec.kind].is_set() or why:
            self._set_problem(spec.kind, scope, f"{why}: {exc.message}" if why else exc.message)
            self._settled[spec.kind].set()

    def _fall_back_selector(self, spec: KindSpec) -> bool:
        logger.info(
            "The server refused the field selector %s for %s on %s; using the label "
            "selector %s instead.",
            spec.field_selector,
            spec.plural,
            self._context,
            kube_kinds.HELM_RELEASE_LABEL,
        )
        return spec.kind in SPECS_WITH_LABELS

    # -- list and watch ---------------------------------------------------------

    def _relist(self, spec: KindSpec, ns: str | None) -> str:
        """List the scope page by page, replace the cache's view of it; return the version.

        The cyclic GC is paused meanwhile, and a large list is then frozen out
        of its reach: see `raw.gc_paused` for why.
        """
        with gc_paused():
            rv, count = self._relist_paused(spec, ns)
            if count >= FREEZE_MIN_OBJECTS:
                freeze_heap()
        return rv

    def _relist_paused(self, spec: KindSpec, ns: str | None) -> tuple[str, int]:
        base = _selectors(spec)
        items: list[dict[str, Any]] = []
        what = f"listing {spec.plural}" + (f" in {ns}" if ns else "") + f" on {self._context}"
        query = [*base, ("limit", str(self._page_size))]
        meta: dict[str, Any] = {}
        for body in list_pages(
            self.api_client, spec.path(ns), query, LIST_TIMEOUT_S, what, self._stop
        ):
            doc = decode(body, what)
            items.extend(doc.get("items") or [])
            meta = doc.get("metadata") or {}
        if self._stop.is_set():
            return "", 0
        self._replace(spec, ns, items)
        rv = str(meta.get("resourceVersion") or "")
        logger.debug("Listed %d %s at version %s.", len(items), what[8:], rv)
        return rv, len(items)

    def _replace(self, spec: KindSpec, ns: str | None, items: list[dict[str, Any]]) -> None:
        now = time.time()
        fresh: dict[str, dict[str, Any]] = {}
        for obj in items:
            _trim(obj, spec)
            fresh[_key(obj)] = obj
        out: list[InventoryEvent] = []
        with self._lock:
            cache = self._caches[spec.kind]
            in_scope = (
                list(cache) if ns is None else [k for k, o in cache.items() if _namespace(o) == ns]
            )
            for key in in_scope:
                if key not in fresh:
                    out.append(InventoryEvent(spec.kind, "DELETED", cache.pop(key), now))
            for key, obj in fresh.items():
                old = cache.get(key)
                if old is None:
                    out.append(InventoryEvent(spec.kind, "ADDED", obj, now))
                elif _version(old) != _version(obj):
                    out.append(InventoryEvent(spec.kind, "MODIFIED", obj, now))
                cache[key] = obj
        put = self.events.put
        for event in out:
            put(event)

    def _watch(self, spec: KindSpec, ns: str | None, rv: str) -> str:
        """Follow one watch stream from `rv`; return the last version seen when it ends."""
        query = [
            *_selectors(spec),
            ("watch", "true"),
            ("resourceVersion", rv),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(self._watch_timeout_s)),
        ]
        what = f"watching {spec.plural}" + (f" in {ns}" if ns else "") + f" on {self._context}"
        stream = open_stream(
            self.api_client, spec.path(ns), query, self._watch_timeout_s + WATCH_READ_GRACE_S, what
        )
        with self._lock:
            self._streams.add(stream)
        try:
            if self._stop.is_set():
                return rv
            for line in stream.lines():
                rv = self._apply_line(spec, line, rv, what)
                if self._stop.is_set():
                    break
        finally:
            with self._lock:
                self._streams.discard(stream)
            stream.close()
        return rv

    def _apply_line(self, spec: KindSpec, line: bytes, rv: str, what: str) -> str:
        try:
            event = json.loads(line)
            kind_of_event = event["type"]
            obj = event["object"]
        except (ValueError, KeyError, TypeError) as exc:
            raise KubeError(f"{what} failed: unreadable watch event ({exc})") from exc
        if kind_of_event == "ERROR":
            raise from_status_object(obj if isinstance(obj, dict) else {}, what)
        new_rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
        if kind_of_event == "BOOKMARK":
            return new_rv
        _trim(obj, spec)
        key = _key(obj)
        now = time.time()
        out: InventoryEvent | None = None
        with self._lock:
            cache = self._caches[spec.kind]
            old = cache.get(key)
            if kind_of_event == "DELETED":
                if old is not None:
                    del cache[key]
                    out = InventoryEvent(spec.kind, "DELETED", obj, now)
            elif kind_of_event in ("ADDED", "MODIFIED"):
                cache[key] = obj
                if old is None:
                    out = InventoryEvent(spec.kind, "ADDED", obj, now)
                elif _version(old) != _version(obj):
                    out = InventoryEvent(spec.kind, "MODIFIED", obj, now)
            else:
                logger.debug("Ignoring watch event of type %s in %s.", kind_of_event, what)
        if out is not None:
            self.events.put(out)
        return new_rv

    # -- bookkeeping ------------------------------------------------------------

    def _readable_namespaces(self) -> list[str]:
        if self._namespaces is not None:
            return self._namespaces
        names: list[str] = []
        token = None
        spec = SPECS[kube_kinds.NAMESPACE]
        try:
            while True:
                query = [("limit", "500")] + ([("continue", token)] if token else [])
                doc = get_json(
                    self.api_client,
                    spec.path(),
                    query,
                    LIST_TIMEOUT_S,
                    f"listing namespaces on {self._context}",
                )
                names += [
                    str((o.get("metadata") or {}).get("name")) for o in doc.get("items") or []
                ]
                token = (doc.get("metadata") or {}).get("continue")
                if not token:
                    return names
        except KubeError as exc:
            logger.info(
                "Cannot list namespaces on %s (%s); trying namespace %s only.",
                self._context,
                exc.message,
                self._fallback_namespace,
            )
            return [self._fallback_namespace]

    def _set_problem(self, kind: str, scope: str, reason: str | None) -> None:
        with self._lock:
            problems = self._problems[kind]
            if reason is None:
                if problems.pop(scope, None) is None:
                    return
            else:
                if problems.get(scope) == reason:
                    return
                problems[scope] = reason
            if problems:
                self._unavailable[kind] = "; ".join(problems.values())
            else:
                self._unavailable.pop(kind, None)
        if reason is None:
            logger.info("%s on %s are watched again.", kind, self._context)
        else:
            logger.warning("%s on %s: %s", kind, self._context, reason)


SPECS_WITH_LABELS: dict[str, KindSpec] = {
    kube_kinds.HELM_RELEASE_SECRET: KindSpec(
        kube_kinds.HELM_RELEASE_SECRET,
        "",
        "v1",
        "secrets",
        True,
        label_selector=kube_kinds.HELM_RELEASE_LABEL,
    )
}


def _selectors(spec: KindSpec) -> list[tuple[str, str]]:
    query = []
    if spec.field_selector:
        query.append(("fieldSelector", spec.field_selector))
    if spec.label_selector:
        query.append(("labelSelector", spec.label_selector))
    return query


def _trim(obj: dict[str, Any], spec: KindSpec) -> None:
    # List items carry no kind/apiVersion; watch objects do. Make them alike.
    obj.setdefault("kind", spec.kind)
    obj.setdefault("apiVersion", spec.api_version)
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
        annotations = meta.get("annotations")
        if annotations and _DROPPED_ANNOTATION in annotations:
            del annotations[_DROPPED_ANNOTATION]


def _key(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    uid = meta.get("uid")
    if uid:
        return str(uid)
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"


def _namespace(obj: dict[str, Any]) -> str | None:
    return (obj.get("metadata") or {}).get("namespace")


def _version(obj: dict[str, Any]) -> Any:
    return (obj.get("metadata") or {}).get("resourceVersion")


def _backoff(failures: int) -> float:
    delay = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * (2 ** max(0, failures - 1)))
    return delay * random.uniform(0.8, 1.2)


def _fallback_reason(note: str, active: set[str], refused: dict[str, str]) -> str | None:
    parts = []
    if note:
        watched = ", ".join(sorted(active)) or "none"
        parts.append(f"{note}; watching only namespace(s): {watched}")
    for ns, reason in sorted(refused.items()):
        parts.append(f"namespace {ns}: {reason}")
    return "; ".join(parts) or None
