"""The IP lookup tab: who an address was at a time, who it was before and after, and its traffic.

The user types an IP (and optionally a time); a worker asks the DataSource
for a LookupResult. The owner history is a table model and a small painted
timeline; the connections that involved the address reuse the connection
table model. Unknown and external addresses show what is known of them
(range tags, user-named CIDRs) rather than an empty page.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QDateTime,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRectF,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDateTimeEdit,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from netsight.ui.connection_model import ConnectionTableModel, format_time
from netsight.ui.details import _e
from netsight.ui.messages import notifier
from netsight.ui.queries import DataSource, LookupResult, OwnerSpan
from netsight.ui.workers import Outcome, QueryRunner

logger = logging.getLogger(__name__)

AnyIndex = QModelIndex | QPersistentModelIndex
HISTORY_COLUMNS = ("Owner", "Kind", "Namespace", "Workload", "App", "Node", "From", "Until")
TIMELINE_COLOURS = ("#3b82c4", "#e07a1f", "#2a9d8f", "#7b5ea7", "#d1495b", "#5a8f29")


class OwnershipHistoryModel(QAbstractTableModel):
    """The owners an IP has had, oldest first."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.spans: tuple[OwnerSpan, ...] = ()

    def set_spans(self, spans: tuple[OwnerSpan, ...]) -> None:
        self.beginResetModel()
        self.spans = tuple(spans)
        self.endResetModel()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.spans)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HISTORY_COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            role == Qt.ItemDataRole.DisplayRole
            and orientation == Qt.Orientation.Horizontal
            and 0 <= section < len(HISTORY_COLUMNS)
        ):
            return HISTORY_COLUMNS[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or role != Qt.ItemDataRole.DisplayRole:
            return None
        if index.row() >= len(self.spans):
            return None
        span = self.spans[index.row()]
        values = (
            span.owner,
            span.kind,
            span.namespace or "",
            span.workload or "",
            span.app or "",
            span.node or "",
            format_time(span.valid_from) or "(before records)",
            format_time(span.valid_to) or "now",
        )
        return values[index.column()]

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable


class OwnershipTimeline(QWidget):
    """Bars for each owner of an IP along one time axis, with the asked time marked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spans: tuple[OwnerSpan, ...] = ()
        self.at: float | None = None
        self.setMinimumHeight(54)

    def set_spans(self, spans: tuple[OwnerSpan, ...], at: float | None) -> None:
        self.spans, self.at = tuple(spans), at
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(self.rect()).adjusted(8, 6, -8, -18)
        painter.fillRect(self.rect(), QColor("#fafafa"))
        if not self.spans:
            painter.setPen(QColor("#888"))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "No ownership history")
            return
        now = time.time()
        starts = [s.valid_from for s in self.spans if s.valid_from is not None]
        t0 = min(starts) if starts else now - 3600
        t1 = max([now, *(s.valid_to for s in self.spans if s.valid_to is not None)])
        span_s = max(t1 - t0, 1.0)

        def x_of(t: float | None, default: float) -> float:
            value = default if t is None else t
            return rect.left() + (value - t0) / span_s * rect.width()

        for i, span in enumerate(self.spans):
            left = x_of(span.valid_from, t0)
            right = max(x_of(span.valid_to, now), left + 3)
            bar = QRectF(left, rect.top(), right - left, rect.height())
            painter.fillRect(bar, QColor(TIMELINE_COLOURS[i % len(TIMELINE_COLOURS)]))
            painter.setPen(QColor("white"))
            painter.drawText(bar.adjusted(4, 0, -2, 0), Qt.AlignmentFlag.AlignVCenter, span.owner)
        painter.setPen(QColor("#555"))
        bottom = rect.bottom() + 14
        painter.drawText(QRectF(rect.left(), rect.bottom() + 2, 200, 14), format_time(t0))
        painter.drawText(
            QRectF(rect.right() - 200, rect.bottom() + 2, 200, 14),
            Qt.AlignmentFlag.AlignRight,
            format_time(t1),
        )
        if self.at is not None and t0 <= self.at <= t1:
            x = x_of(self.at, self.at)
            painter.setPen(QColor("#d00000"))
            painter.drawLine(int(x), int(rect.top() - 4), int(x), int(bottom - 12))


class LookupTab(QWidget):
    """Type an IP, optionally a time; see its owner, history and connections."""

    lookup_done = Signal(object)  # LookupResult

    def __init__(self, runner: QueryRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._source: DataSource | None = None
        self._since: float | None = None
        self.result: LookupResult | None = None

        self.address = QLineEdit()
        self.address.setPlaceholderText("IP address, e.g. 10.244.1.23 or fd00::17")
        self.address.setClearButtonEnabled(True)
        self.address.returnPressed.connect(self.run_lookup)
        self.use_time = QCheckBox("at")
        self.when = QDateTimeEdit(QDateTime.currentDateTime())
        self.when.setCalendarPopup(True)
        self.when.setDisplayFormat("yyyy-MM-dd HH:mm:ss")
        self.when.setEnabled(False)
        self.use_time.toggled.connect(self.when.setEnabled)
        go = QPushButton("Look up")
        go.setDefault(True)
        go.clicked.connect(self.run_lookup)
        row = QHBoxLayout()
        row.addWidget(QLabel("Address"))
        row.addWidget(self.address, 1)
        row.addWidget(self.use_time)
        row.addWidget(self.when)
        row.addWidget(go)

        self.summary = QLabel("<span style='color:#888'>Enter an address to see who it was.</span>")
        self.summary.setObjectName("lookupSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.timeline = OwnershipTimeline()
        self.history_model = OwnershipHistoryModel(self)
        self.history = QTableView()
        self.history.setModel(self.history_model)
        self.history.verticalHeader().hide()
        self.history.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.history.horizontalHeader().setStretchLastSection(True)
        self.history.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.connections_model = ConnectionTableModel(self)
        self.connections = QTableView()
        self.connections.setModel(self.connections_model)
        self.connections.verticalHeader().hide()
        self.connections.horizontalHeader().setStretchLastSection(True)
        self.connections.setAlternatingRowColors(True)

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.summary)
        top_layout.addWidget(QLabel("<b>Ownership history</b>"))
        top_layout.addWidget(self.timeline)
        top_layout.addWidget(self.history, 1)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addWidget(QLabel("<b>Connections that involved it</b>"))
        bottom_layout.addWidget(self.connections, 1)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("lookupSplitter")
        self.splitter.addWidget(top)
        self.splitter.addWidget(bottom)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(row)
        layout.addWidget(self.splitter, 1)
        runner.finished.connect(self._on_outcome)

    def set_source(self, source: DataSource | None) -> None:
        self._runner.cancel("lookup")  # an answer from the old context is not wanted
        self._source = source

    def set_since(self, since: float | None) -> None:
        self._since = since

    def lookup(self, ip: str, at: float | None = None) -> None:
        """Fill in the address (and time) and run the lookup."""
        self.address.setText(ip)
        self.use_time.setChecked(at is not None)
        if at is not None:
            self.when.setDateTime(QDateTime.fromSecsSinceEpoch(int(at)))
        self.run_lookup()

    def run_lookup(self) -> None:
        text = self.address.text().strip()
        try:
            ip = ipaddress.ip_address(text).compressed
        except ValueError:
            self.summary.setText(
                f"<span style='color:#b00020'>“{_e(text)}” is not an IP address.</span>"
            )
            return
        if self._source is None:
            self.summary.setText("No cluster or database is open.")
            return
        at = self.when.dateTime().toSecsSinceEpoch() if self.use_time.isChecked() else None
        source, since = self._source, self._since
        self.summary.setText(f"Looking up {ip}…")
        self._runner.submit("lookup", lambda: source.lookup(ip, float(at) if at else None, since))

    def _on_outcome(self, outcome: Outcome) -> None:
        if outcome.channel != "lookup":
            return
        if outcome.error is not None:
            notifier().error(f"Lookup failed: {outcome.error}.", outcome.details)
            self.summary.setText(f"Lookup failed: {_e(outcome.error)}")
            return
        self.show_result(outcome.value)

    def show_result(self, result: LookupResult) -> None:
        self.result = result
        when = f" at {format_time(result.at)}" if result.at else " now"
        facts = "".join(
            f"<tr><td style='color:#777;padding-right:10px'>{_e(k)}</td><td>{_e(v)}</td></tr>"
            for k, v in result.facts
        )
        tags = (
            f"<br><span style='color:#666'>tags: {_e(', '.join(result.tags))}</span>"
            if (result.tags)
            else ""
        )
        note = f"<p style='color:#555'>{_e(result.note)}</p>" if result.note else ""
        self.summary.setText(
            f"<div style='font-size:13pt'><b>{_e(result.ip)}</b>{_e(when)}: "
            f"<b>{_e(result.title)}</b> <span style='color:#666'>({_e(result.kind)})</span></div>"
            f"{tags}<table>{facts}</table>{note}"
        )
        self.history_model.set_spans(result.history)
        self.timeline.set_spans(result.history, result.at)
        if result.connections is not None:
            self.connections_model.set_result(result.connections, has_more=False)
        else:
            self.connections_model.clear()
        self.lookup_done.emit(result)
