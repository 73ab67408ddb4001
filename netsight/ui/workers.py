"""Running blocking work (DuckDB queries, Kubernetes calls, layouts) off the GUI thread.

A request is an immutable callable built on the GUI thread and tagged with an
id. It runs in a private thread pool; its result comes back on the GUI thread
through a queued signal. Each request belongs to a channel ("connections",
"lookup", ...): when a newer request on the same channel exists, the older
result is stale and is dropped, so a slow query can never overwrite the
answer to a newer question.
"""

from __future__ import annotations

import itertools
import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

logger = logging.getLogger(__name__)

# DuckDB and the Kubernetes client each block one thread per call; a handful
# is plenty and keeps a 2-core machine responsive.
MAX_THREADS = 4
# How long close() waits for running work before giving up on it.
SHUTDOWN_WAIT_MS = 5000


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one request, delivered on the GUI thread."""

    channel: str
    request_id: int
    value: Any = None
    error: BaseException | None = None
    details: str = ""


class _Relay(QObject):
    finished = Signal(object)  # Outcome


class _Task(QRunnable):
    def __init__(self, relay: _Relay, channel: str, request_id: int, fn: Callable[[], Any]) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._relay = relay
        self._channel = channel
        self._id = request_id
        self._fn = fn

    def run(self) -> None:
        try:
            outcome = Outcome(self._channel, self._id, value=self._fn())
        except Exception as error:  # noqa: BLE001 - delivered to the GUI as a message
            outcome = Outcome(self._channel, self._id, error=error, details=traceback.format_exc())
        self._relay.finished.emit(outcome)


class QueryRunner(QObject):
    """Runs requests in a private pool; emits `finished(Outcome)` only for current ones."""

    finished = Signal(object)  # Outcome

    def __init__(self, parent: QObject | None = None, max_threads: int = MAX_THREADS) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._relay = _Relay(self)
        self._relay.finished.connect(self._deliver)
        self._ids = itertools.count(1)
        self._latest: dict[str, int] = {}
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, channel: str, fn: Callable[[], Any]) -> int:
        """Run `fn` off the GUI thread; returns the request id. Supersedes older requests."""
        request_id = next(self._ids)
        if self._closed:
            return request_id
        with self._lock:
            self._latest[channel] = request_id
        self._pool.start(_Task(self._relay, channel, request_id, fn))
        return request_id

    def is_current(self, channel: str, request_id: int) -> bool:
        with self._lock:
            return self._latest.get(channel) == request_id

    def cancel(self, channel: str) -> None:
        """Forget the current request on `channel`: its result will be dropped."""
        with self._lock:
            self._latest.pop(channel, None)

    @property
    def busy(self) -> bool:
        return self._pool.activeThreadCount() > 0

    def close(self) -> None:
        """Drop every pending result and wait for running work to end."""
        self._closed = True
        with self._lock:
            self._latest.clear()
        self._pool.clear()
        if not self._pool.waitForDone(SHUTDOWN_WAIT_MS):
            logger.warning("Background work still running after %d ms at close.", SHUTDOWN_WAIT_MS)

    def _deliver(self, outcome: Outcome) -> None:
        if self._closed or not self.is_current(outcome.channel, outcome.request_id):
            logger.debug("Dropped stale result %d on %s.", outcome.request_id, outcome.channel)
            return
        self.finished.emit(outcome)
