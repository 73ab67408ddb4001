"""The one path from any layer of the desktop to the user's eyes.

Workers, models and uncaught exceptions all report here; the main window
shows the latest message in a non-modal banner. A message is a sentence that
says what failed and what happens next; the traceback, if any, goes to the
log and to the banner's details, never into the sentence.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

logger = logging.getLogger(__name__)

INFO = "info"
WARNING = "warning"
ERROR = "error"
# Info messages fade on their own; warnings and errors stay until dismissed.
INFO_TIMEOUT_MS = 6000


@dataclass(frozen=True, slots=True)
class UserMessage:
    level: str
    text: str
    details: str = ""


class Notifier(QObject):
    """Thread-safe: `report` may be called from any thread; delivery is on the GUI thread."""

    posted = Signal(object)  # UserMessage

    def report(self, level: str, text: str, details: str = "") -> None:
        log = {ERROR: logger.error, WARNING: logger.warning}.get(level, logger.info)
        log("%s%s", text, f"\n{details}" if details else "")
        # NB: a signal emitted from a worker thread is queued to this object's thread.
        self.posted.emit(UserMessage(level, text, details))

    def error(self, text: str, details: str = "") -> None:
        self.report(ERROR, text, details)

    def warning(self, text: str, details: str = "") -> None:
        self.report(WARNING, text, details)

    def info(self, text: str) -> None:
        self.report(INFO, text)


_notifier: Notifier | None = None


def notifier() -> Notifier:
    """The application's notifier; created on first use (call first on the GUI thread)."""
    global _notifier
    if _notifier is None:
        _notifier = Notifier()
    return _notifier


ExceptHook = Callable[[type[BaseException], BaseException, TracebackType | None], None]


def install_excepthooks() -> Callable[[], None]:
    """Route uncaught exceptions, in the GUI and in worker threads, to the banner.

    Returns a function that restores the previous hooks (tests use it).
    """
    previous_sys = sys.excepthook
    previous_thread = threading.excepthook

    def on_exception(
        kind: type[BaseException], value: BaseException, tb: TracebackType | None
    ) -> None:
        details = "".join(traceback.format_exception(kind, value, tb))
        notifier().error(
            f"Internal error ({kind.__name__}: {value}). NetSight keeps running; "
            "the details are in the log.",
            details,
        )

    def on_thread_exception(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            on_exception(args.exc_type, args.exc_value, args.exc_traceback)

    sys.excepthook = on_exception
    threading.excepthook = on_thread_exception

    def restore() -> None:
        sys.excepthook = previous_sys
        threading.excepthook = previous_thread

    return restore


class ErrorBanner(QFrame):
    """A strip above the tabs showing the latest message, with details and a close button."""

    STYLES = {
        ERROR: "background:#fde8e8; border:1px solid #e0a0a0; color:#7a1f1f;",
        WARNING: "background:#fff6e0; border:1px solid #e6c77a; color:#6b4e00;",
        INFO: "background:#e8f1fd; border:1px solid #a6c3ea; color:#1d3f6e;",
    }

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorBanner")
        self._message: UserMessage | None = None
        self._label = QLabel(self)
        self._label.setWordWrap(True)
        self._label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._details = QPushButton("Details", self)
        self._details.setFlat(True)
        self._details.clicked.connect(self._show_details)
        self._close = QToolButton(self)
        self._close.setText("✕")
        self._close.setAutoRaise(True)
        self._close.setToolTip("Dismiss")
        self._close.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 4, 4)
        layout.addWidget(self._label, 1)
        layout.addWidget(self._details)
        layout.addWidget(self._close)
        self._fade = QTimer(self)
        self._fade.setSingleShot(True)
        self._fade.timeout.connect(self.dismiss)
        self.hide()

    @property
    def text(self) -> str:
        return self._label.text()

    @Slot(object)
    def show_message(self, message: UserMessage) -> None:
        self._message = message
        self._label.setText(message.text)
        self._details.setVisible(bool(message.details))
        self.setStyleSheet(f"#errorBanner {{{self.STYLES.get(message.level, '')}}}")
        self.show()
        if message.level == INFO:
            self._fade.start(INFO_TIMEOUT_MS)
        else:
            self._fade.stop()

    @Slot()
    def dismiss(self) -> None:
        self._fade.stop()
        self.hide()

    def _show_details(self) -> None:
        if self._message is None:
            return
        from PySide6.QtWidgets import QMessageBox

        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Information)
        box.setWindowTitle("NetSight – details")
        box.setText(self._message.text)
        box.setDetailedText(self._message.details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
