"""What a view says when it has nothing to draw, and the one step that would change that.

An empty canvas reads as "broken". Before the collector runs, or when the
search matches nothing, the topology and the connection list lay this
overlay over themselves: one sentence saying why it is empty and a button
for the next step (deploy the collector, clear the search). The wording is
chosen in one pure function so both views say the same thing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

logger = logging.getLogger(__name__)

ACTION_DEPLOY = "deploy"
LABEL_WIDTH_PX = 440
ACTION_CLEAR_SEARCH = "clear-search"

NOT_COLLECTING = (
    "No connections recorded yet. Deploy the collector "
    "(Cluster > Deploy collector, Ctrl+D) to start."
)
WAITING = "The collector is running. Connections appear here as soon as the first ones are pulled."
NO_MATCH = (
    "No connections match the search and time range. "
    "Clear the search or choose a longer time range to see more."
)


@dataclass(frozen=True, slots=True)
class EmptyMessage:
    text: str
    action: str | None = None  # ACTION_* for the button, None for no button
    button: str = ""


def empty_message(*, filtered: bool, collector_deployed: bool) -> EmptyMessage:
    """What to say for a view with no rows; `filtered`: the search or a drill-down narrows it."""
    if filtered:
        return EmptyMessage(NO_MATCH, ACTION_CLEAR_SEARCH, "Clear search")
    if collector_deployed:
        return EmptyMessage(WAITING)
    return EmptyMessage(NOT_COLLECTING, ACTION_DEPLOY, "Deploy collector…")


class EmptyState(QWidget):
    """An overlay that covers its parent widget while shown; emits the chosen action."""

    action_requested = Signal(str)

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("emptyState")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(
            "#emptyState{background:rgba(251,251,252,235);}QLabel{color:#3d4450;font-size:14px;}"
        )
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # A fixed width lets the wrapped text take the height it needs.
        self.label.setFixedWidth(LABEL_WIDTH_PX)
        self.button = QPushButton()
        self.button.clicked.connect(self._on_clicked)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(self.label, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addSpacing(10)
        layout.addWidget(self.button, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(1)
        self.message: EmptyMessage | None = None
        parent.installEventFilter(self)
        self.hide()

    def show_message(self, message: EmptyMessage) -> None:
        self.message = message
        self.label.setText(message.text)
        # NB: a wrapped label in a box layout gets its one-line height unless told.
        self.label.setFixedHeight(self.label.heightForWidth(LABEL_WIDTH_PX))
        self.button.setVisible(message.action is not None)
        self.button.setText(message.button)
        parent = self.parentWidget()
        if parent is not None:
            self.setGeometry(parent.rect())
        self.raise_()
        self.show()

    def clear(self) -> None:
        self.message = None
        self.hide()

    def _on_clicked(self) -> None:
        if self.message is not None and self.message.action:
            self.action_requested.emit(self.message.action)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        parent = self.parentWidget()
        if parent is not None and watched is parent and event.type() == QEvent.Type.Resize:
            self.setGeometry(parent.rect())
        return False
