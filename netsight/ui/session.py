"""One kubeconfig context, live: inventory to ownership to store, agents pulled, status reported.

A LiveSession owns the context's DuckDB file, an API client, an Inventory
(its informer threads), the OwnershipHistory fed from it and a puller for the
collector agents. All of that runs in one background thread with a stop
flag and short sleeps, and that thread also opens (or creates) the database
first, so the GUI thread never waits for DuckDB: `opened` says when `source`
can be queried. The GUI sees only queued signals: a SessionStatus a few
times a second at most, `data_changed` once per burst of new data, and the
completion vocabulary. Details the store does not keep (Helm revisions, the
owner chain between a pod and its workload) are answered from the live
OwnershipHistory under a lock (`owner_chain`, `release`). Nothing here
writes to the cluster; deploying and removing the collector happen only
through `deploy`/`remove`, which the user's dialog calls.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from netsight.ui.messages import notifier
from netsight.ui.preload import SESSION_MODULES, preload
from netsight.ui.search import Vocabulary
from netsight.ui.status import (
    API_CONNECTED,
    API_CONNECTING,
    API_RECONNECTING,
    SessionStatus,
)

logger = logging.getLogger(__name__)

# How often the loop wakes: drains inventory events, maybe pulls, maybe reports.
TICK_S = 0.25
# Agents are pulled this often; the demo and real agents buffer far longer.
PULL_INTERVAL_S = 2.0
# Ownership is written to the store at most this often while events flow.
OWNERSHIP_WRITE_S = 2.0
# Collector state (a couple of small GETs) is read this often.
COLLECTOR_CHECK_S = 5.0
# After a failed connection attempt, wait this long before the next one.
RECONNECT_S = 5.0


class LiveSession(QObject):
    opened = Signal(object)  # this session, once `store` and `source` can be used
    open_failed = Signal(str)  # why the database could not be opened
    status_changed = Signal(object)  # SessionStatus
    data_changed = Signal()
    vocabulary_changed = Signal(object)  # Vocabulary

    def __init__(
        self,
        context: str,
        kubeconfig: str | None,
        db_path: str | Path | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.context = context
        self.kubeconfig = kubeconfig
        self._db_arg = Path(db_path) if db_path else None
        self.db_path: Path | None = self._db_arg
        # Both set by the session thread before `opened` is emitted.
        self.store: Any = None
        self.source: Any = None
        # The live ownership history, applied to by the loop and read by
        # workers (owner chains, releases) under this lock.
        self._facts_lock = threading.Lock()
        self._history: Any = None
        self._stop = threading.Event()
        # Set after a deploy or removal: read the collector's state on the next tick.
        self._check_collector = threading.Event()
        self._thread: threading.Thread | None = None
        self._api: Any = None
        self._api_lock = threading.Lock()
        self.status = SessionStatus(context=context, api_state=API_CONNECTING)

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"session-{self.context}")
        self._thread.start()

    def close(self, wait: bool = True) -> threading.Thread | None:
        """Stop the loop, the informers and the store.

        With `wait`, returns when all have ended. Without, the loop (which
        may sit in a slow API call) is joined by a short-lived thread that
        is returned, so the GUI thread never waits on the network.
        """
        self._stop.set()
        if not wait:
            closer = threading.Thread(
                target=self._finish_close, name=f"session-close-{self.context}"
            )
            closer.start()
            return closer
        self._finish_close()
        return None

    def _finish_close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        if self.store is None:
            return
        try:
            self.store.close()
        except Exception:  # noqa: BLE001 - closing must not fail the app's exit
            logger.warning("Closing the database %s failed.", self.db_path, exc_info=True)

    def api_client(self) -> Any:
        """The context's API client once connected (for deploy/remove), else None."""
        with self._api_lock:
            return self._api

    # -- collector actions (called from the deploy dialog's worker) ------------------------

    def deploy(self, progress: Callable[[Any], None], cancel: threading.Event) -> Any:
        from netsight.collector.deploy import CollectorDeployer

        try:
            return CollectorDeployer(self._require_api()).deploy(progress=progress, cancel=cancel)
        finally:
            self._check_collector.set()

    def remove(self, progress: Callable[[Any], None], cancel: threading.Event) -> Any:
        from netsight.collector.deploy import CollectorDeployer

        try:
            return CollectorDeployer(self._require_api()).remove()
        finally:
            self._check_collector.set()

    def _require_api(self) -> Any:
        api = self.api_client()
        if api is None:
            from netsight.kube.client import api_client_for

            api = api_client_for(self.context, self.kubeconfig)
        return api

    # -- live facts (called from worker threads) ------------------------------------------

    def owner_chain(self, kind: str, namespace: str | None, name: str) -> list[tuple[str, str]]:
        """Owners above a pod or workload, nearest first, as (kind, name), up to its
        Helm release (see OwnershipHistory.owner_chain); empty before the first sync."""
        with self._facts_lock:
            if self._history is None:
                return []
            return list(self._history.owner_chain(kind, namespace, name))

    def release(self, namespace: str | None, name: str) -> Any | None:
        """The live revision of Helm release `name` (in `namespace` when there is one)."""
        with self._facts_lock:
            if self._history is None:
                return None
            releases = [r for r in self._history.releases() if r.name == name]
        for candidate in releases:
            if candidate.namespace == namespace:
                return candidate
        return releases[0] if releases else None

    # -- the loop --------------------------------------------------------------------------

    def _open(self) -> bool:
        """Open (or create) the context's database; False, told to the user, when it cannot."""
        from netsight.store.database import open_store
        from netsight.store.paths import default_db_path
        from netsight.ui.store_source import StoreDataSource

        path = self._db_arg or default_db_path(self.context)
        self.db_path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            store = open_store(path)
        except Exception as error:  # noqa: BLE001 - StoreUserError or OSError: told, not fatal
            logger.warning(
                "Opening the database %s of %s failed.", path, self.context, exc_info=True
            )
            message = (
                f"Could not open the database of {self.context} ({path}): {error}. "
                "Nothing is shown for it; pick another context."
            )
            notifier().error(message)
            self.open_failed.emit(message)
            return False
        self.store = store
        self.source = StoreDataSource(store, live=self)
        self.opened.emit(self)
        return True

    def _run(self) -> None:
        preload(*SESSION_MODULES)
        from netsight.identity.ownership import OwnershipHistory

        if not self._open():
            return
        history = OwnershipHistory()
        with self._facts_lock:
            self._history = history
        inventory: Any = None
        puller: Any = None
        deployer: Any = None
        next_connect = next_pull = next_write = next_check = 0.0
        pending_events = 0
        flows_window: list[tuple[float, int]] = []
        dropped = 0
        collector: Any = None
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if inventory is None and now >= next_connect:
                    inventory, puller, deployer = self._connect()
                    next_connect = now + RECONNECT_S
                if inventory is not None:
                    with self._facts_lock:
                        pending_events += _drain(inventory, history, self._stop)
                    if pending_events and now >= next_write:
                        self._write_ownership(history)
                        pending_events, next_write = 0, now + OWNERSHIP_WRITE_S
                        self.data_changed.emit()
                        self.vocabulary_changed.emit(self._vocabulary())
                if deployer is not None and (now >= next_check or self._check_collector.is_set()):
                    self._check_collector.clear()
                    collector = self._collector_state(deployer)
                    next_check = now + COLLECTOR_CHECK_S
                if puller is not None and collector is not None and now >= next_pull:
                    next_pull = now + PULL_INTERVAL_S
                    if collector.deployed and collector.ready_nodes:
                        result = puller.pull_all()
                        flows_window.append((now, result.records))
                        dropped += result.dropped
                        if result.records:
                            self.data_changed.emit()
                self._report(inventory, collector, flows_window, dropped, now)
                self._stop.wait(TICK_S)
        except Exception as error:  # noqa: BLE001 - the loop must tell, not die silently
            logger.exception("The live session of %s stopped.", self.context)
            notifier().error(
                f"Live updates for {self.context} stopped: {error}. "
                "Saved data stays readable; switch context to retry."
            )
        finally:
            if inventory is not None:
                inventory.stop()

    def _connect(self) -> tuple[Any, Any, Any]:
        from netsight.collector.deploy import CollectorDeployer
        from netsight.collector.pulling import AgentPuller
        from netsight.kube.client import api_client_for
        from netsight.kube.errors import KubeError
        from netsight.kube.watching import Inventory

        try:
            api = api_client_for(self.context, self.kubeconfig)
            inventory = Inventory(api)
        except KubeError as error:
            self._set_status(api_state=API_RECONNECTING, api_reason=str(error))
            logger.warning("Connecting to %s failed: %s; retrying.", self.context, error)
            return None, None, None
        with self._api_lock:
            self._api = api
        self._set_status(api_state=API_CONNECTED, api_reason="")
        return inventory, AgentPuller(api, self.store), CollectorDeployer(api)

    def _write_ownership(self, history: Any) -> None:
        # Upserts (re-resolving only the touched addresses) and the cluster's
        # pod and service ranges, so unowned addresses are named too.
        from netsight.store.syncing import save_identity

        save_identity(self.store, history)

    def _collector_state(self, deployer: Any) -> Any:
        from netsight.kube.errors import KubeError

        try:
            state = deployer.state()
        except KubeError as error:
            self._set_status(api_state=API_RECONNECTING, api_reason=str(error))
            return None
        self._set_status(
            api_state=API_CONNECTED,
            collector_deployed=state.deployed,
            collector_nodes=len(state.nodes),
            collector_ready=len(state.ready_nodes),
            collector_problems=dict(state.problems),
        )
        return state

    def _vocabulary(self) -> Vocabulary:
        try:
            return self.source.vocabulary()
        except Exception:  # noqa: BLE001 - completion is a convenience
            return Vocabulary()

    def _report(
        self,
        inventory: Any,
        collector: Any,
        flows_window: list[tuple[float, int]],
        dropped: int,
        now: float,
    ) -> None:
        while flows_window and flows_window[0][0] < now - 10.0:
            flows_window.pop(0)
        span = max(now - flows_window[0][0], PULL_INTERVAL_S) if flows_window else 1.0
        rate = sum(n for _, n in flows_window) / span if flows_window else 0.0
        forbidden = dict(getattr(inventory, "unavailable", {}) or {}) if inventory else {}
        self._set_status(
            flows_per_s=rate,
            db_bytes=_file_size(self.db_path),
            dropped_records=dropped,
            forbidden_kinds=forbidden,
        )

    def _set_status(self, **changes: Any) -> None:
        import dataclasses

        updated = dataclasses.replace(self.status, **changes)
        if updated != self.status:
            self.status = updated
            self.status_changed.emit(updated)


def _drain(inventory: Any, history: Any, stop: threading.Event, limit: int = 20_000) -> int:
    """Apply waiting inventory events (a bounded batch so stop stays responsive)."""
    applied = 0
    while applied < limit and not stop.is_set():
        try:
            event = inventory.events.get_nowait()
        except queue.Empty:
            break
        history.apply(event.kind, event.type, event.obj, event.observed_at)
        applied += 1
    return applied


def _file_size(path: Path | None) -> int:
    total = 0
    if path is None:
        return total
    for candidate in (path, Path(f"{path}.wal")):
        try:
            total += os.path.getsize(candidate)
        except OSError:
            continue
    return total
