"""The "Custom…" time range: two date-time pickers, from and until.

Presets cover the common windows; an incident yesterday between 14:05 and
14:20 needs explicit bounds. The dialog only returns a TimeRange; the window
applies it to every view like any preset.
"""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import QDateTime
from PySide6.QtWidgets import (
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QWidget,
)

from netsight.ui.timerange import CUSTOM, TimeRange

logger = logging.getLogger(__name__)

DISPLAY_FORMAT = "yyyy-MM-dd HH:mm:ss"
# A fresh dialog proposes the last hour.
DEFAULT_SPAN_S = 3600.0


def _editor(seconds: float) -> QDateTimeEdit:
    editor = QDateTimeEdit(QDateTime.fromMSecsSinceEpoch(int(seconds * 1000)))
    editor.setCalendarPopup(True)
    editor.setDisplayFormat(DISPLAY_FORMAT)
    return editor


class TimeRangeDialog(QDialog):
    """Pick `since` and `until`; OK stays disabled while until is not after since."""

    def __init__(self, current: TimeRange | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timeRangeDialog")
        self.setWindowTitle("Custom time range")
        now = time.time()
        since = current.since_s if current and current.since_s is not None else now - DEFAULT_SPAN_S
        until = current.until_s if current and current.until_s is not None else now
        self.since_edit = _editor(since)
        self.until_edit = _editor(until)
        self.problem = QLabel()
        self.problem.setStyleSheet("color:#b00020;")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("From", self.since_edit)
        form.addRow("Until", self.until_edit)
        form.addRow(self.problem)
        form.addRow(self.buttons)
        self.since_edit.dateTimeChanged.connect(self._check)
        self.until_edit.dateTimeChanged.connect(self._check)
        self._check()

    def time_range(self) -> TimeRange:
        return TimeRange(
            CUSTOM,
            self.since_edit.dateTime().toMSecsSinceEpoch() / 1000.0,
            self.until_edit.dateTime().toMSecsSinceEpoch() / 1000.0,
        )

    def _check(self) -> None:
        valid = self.until_edit.dateTime() > self.since_edit.dateTime()
        self.problem.setText("" if valid else "“Until” must be after “From”.")
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        if ok is not None:
            ok.setEnabled(valid)


def describe(time_range: TimeRange) -> str:
    """A short label for the selector, e.g. "05-14 14:05 – 14:20"."""

    def fmt(seconds: float | None, pattern: str) -> str:
        if seconds is None:
            return "…"
        return QDateTime.fromMSecsSinceEpoch(int(seconds * 1000)).toString(pattern)

    since, until = time_range.since_s, time_range.until_s
    same_day = (
        since is not None
        and until is not None
        and time.localtime(since)[:3] == time.localtime(until)[:3]
    )
    return f"{fmt(since, 'MM-dd HH:mm')} – {fmt(until, 'HH:mm' if same_day else 'MM-dd HH:mm')}"
