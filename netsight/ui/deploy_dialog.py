"""Deploy or remove the collector, with progress per node and a cancel button.

The only place the desktop writes to a cluster, and only after the user
pressed Start. The work runs in its own thread; progress callbacks from the
deployer are queued to the dialog as signals. Cancel sets an event the
deployer checks, and the deployer then removes what it created.
"""

from __future__ import annotations

import logging
import threading
import traceback
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from netsight.ui.messages import notifier

logger = logging.getLogger(__name__)


class _Relay(QObject):
    progress = Signal(object)  # CollectorState
    finished = Signal(object, str)  # result or None, error text ("" on success)


class DeployDialog(QDialog):
    """Asks first, then deploys (or removes) and shows nodes ready and per-node problems."""

    def __init__(self, session: Any, remove: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setObjectName("deployDialog")
        self._session = session
        self._remove = remove
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._relay = _Relay(self)
        self._relay.progress.connect(self.show_progress)
        self._relay.finished.connect(self._on_finished)
        self.outcome: str | None = None  # "done", "cancelled" or "failed"

        action = "Remove the collector from" if remove else "Deploy the collector to"
        self.setWindowTitle("Remove collector" if remove else "Deploy collector")
        self.message = QLabel(
            f"{action} every node of <b>{session.context}</b>?<br>"
            + (
                "This deletes its namespace, ServiceAccount, ConfigMap and DaemonSet."
                if remove
                else "This creates a namespace, a ServiceAccount (no API token), a ConfigMap and "
                "a DaemonSet that reads connections on each node. Nothing else is changed."
            )
        )
        self.message.setWordWrap(True)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 0)
        self.progress_bar.hide()
        self.problems = QListWidget()
        self.problems.hide()
        self.buttons = QDialogButtonBox()
        self.start_button = self.buttons.addButton(
            "Remove" if remove else "Deploy", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.problems)
        layout.addWidget(self.buttons)
        self.resize(480, 220)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self.start_button.setEnabled(False)
        self.progress_bar.show()
        self.message.setText("Removing the collector…" if self._remove else "Deploying…")
        session, cancel, relay, remove = self._session, self._cancel, self._relay, self._remove

        def work() -> None:
            try:
                run = session.remove if remove else session.deploy
                result = run(relay.progress.emit, cancel)
            except Exception as error:  # noqa: BLE001 - shown in the dialog and the banner
                logger.debug(
                    "Collector %s failed:\n%s",
                    "removal" if remove else "deploy",
                    traceback.format_exc(),
                )
                relay.finished.emit(None, str(error) or type(error).__name__)
                return
            relay.finished.emit(result, "")

        self._thread = threading.Thread(target=work, name="collector-deploy")
        self._thread.start()

    def cancel(self) -> None:
        if self.running:
            self._cancel.set()
            self.cancel_button.setEnabled(False)
            self.message.setText("Cancelling; removing what was created…")
        else:
            self.reject()

    def show_progress(self, state: Any) -> None:
        nodes = len(state.nodes)
        self.progress_bar.setRange(0, max(nodes, 1))
        self.progress_bar.setValue(len(state.ready_nodes))
        self.progress_bar.setFormat(f"{len(state.ready_nodes)}/{nodes} nodes ready")
        self.problems.setVisible(bool(state.problems))
        self.problems.clear()
        for node, problem in sorted(state.problems.items()):
            self.problems.addItem(f"{node}: {problem}")

    def _on_finished(self, result: Any, error: str) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if error:
            self.outcome = "cancelled" if self._cancel.is_set() else "failed"
            if self.outcome == "failed":
                notifier().error(
                    f"Collector {'removal' if self._remove else 'deploy'} failed: {error}"
                )
            else:
                notifier().info(error)
        else:
            self.outcome = "done"
            notifier().info(
                "Collector removed; nothing it created is left."
                if self._remove
                else f"Collector running: {getattr(result, 'summary', 'ready')}. "
                "Connections appear as they are pulled."
            )
        self.accept()

    def done(self, code: int) -> None:
        # Closing the window while work runs means cancel, then wait for the cleanup.
        if self.running:
            self._cancel.set()
            assert self._thread is not None
            self._thread.join()
            self._thread = None
        super().done(code)
