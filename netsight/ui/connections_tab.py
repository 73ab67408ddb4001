"""The Connections tab: a paged, query-sorted table of connections at the chosen level.

The view is a QTableView over ConnectionTableModel; every sort and every
page is a new ConnectionQuery run on a worker, so the table stays smooth at
a million rows. Export runs the same query without a limit, off the GUI
thread, into CSV, JSON or Parquet.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QModelIndex, QPoint, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from netsight.ui.clipboard import put_text, selected_cells_text
from netsight.ui.connection_model import COLUMNS, PAGE_ROWS, RAW_ROLE, ConnectionTableModel
from netsight.ui.empty_state import EmptyState, empty_message
from netsight.ui.messages import notifier
from netsight.ui.queries import ConnectionQuery, DataSource
from netsight.ui.workers import Outcome, QueryRunner

if TYPE_CHECKING:
    import pyarrow as pa

logger = logging.getLogger(__name__)

EXPORT_FORMATS = {
    "csv": "CSV (*.csv)",
    "json": "JSON lines (*.json)",
    "parquet": "Parquet (*.parquet)",
}


def write_table(table: pa.Table, path: str, fmt: str) -> int:
    """Write `table` to `path` as csv, json (one object a line) or parquet; returns rows."""
    import pyarrow as pa

    if fmt == "csv":
        import pyarrow.csv as pacsv

        flat = table.select([n for n in table.column_names])
        # CSV has no lists: join list columns (nodes, processes) with spaces.
        columns = []
        for column in flat.columns:
            if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
                columns.append(pa.array([" ".join(map(str, v or [])) for v in column.to_pylist()]))
            else:
                columns.append(column)
        pacsv.write_csv(pa.table(columns, names=flat.column_names), path)
    elif fmt == "json":
        import json

        with open(path, "w", encoding="utf-8") as out:
            for row in table.to_pylist():
                out.write(json.dumps(row, default=str) + "\n")
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    else:
        raise ValueError(f"unknown export format {fmt!r}")
    return table.num_rows


class ConnectionsTab(QWidget):
    """Table of connections; asks its DataSource for pages through a QueryRunner."""

    lookup_requested = Signal(str)
    focus_requested = Signal(str, str)  # namespace, name
    row_selected = Signal(dict)

    def __init__(self, runner: QueryRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._source: DataSource | None = None
        self._query: ConnectionQuery | None = None
        self._collector_deployed = False
        self.model = ConnectionTableModel(self)
        self.model.more_requested.connect(self._fetch_page)
        self.model.sort_requested.connect(self._resort)

        self.summary = QLabel("No data yet.")
        self.summary.setObjectName("summaryLabel")
        export = QPushButton("Export…")
        export.setToolTip("Save the rows of this view (all pages) as CSV, JSON or Parquet")
        export.clicked.connect(self.export_dialog)
        header = QHBoxLayout()
        header.addWidget(self.summary, 1)
        header.addWidget(export)

        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSortIndicator(
            self.model.sort_column, Qt.SortOrder.DescendingOrder
        )
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        for i, width in enumerate((230, 230, 60, 70, 95, 95, 110, 140, 140, 110)):
            self.table.setColumnWidth(i, width)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.clicked.connect(self._on_clicked)
        # NB: Ctrl+C is the window's Edit > Copy (clipboard.py); a second
        # shortcut here would make the key ambiguous and do nothing.

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(header)
        layout.addWidget(self.table)
        self.empty = EmptyState(self.table)
        runner.finished.connect(self._on_outcome)

    # -- querying --------------------------------------------------------------------------

    def set_source(self, source: DataSource | None) -> None:
        # Answers from the old context's database are not wanted any more.
        self._runner.cancel("connections")
        self._runner.cancel("connections-page")
        self._source = source
        self._query = None
        self.model.clear()
        self.summary.setText("No data yet." if source is None else "Loading…")
        self.empty.clear()

    def set_collector_deployed(self, deployed: bool) -> None:
        """Whether the collector runs; changes what the empty list suggests."""
        if deployed != self._collector_deployed:
            self._collector_deployed = deployed
            if self.empty.isVisible():
                self._show_empty_state()

    def refresh(self, base: ConnectionQuery) -> None:
        """Run `base` (level, time, filter) with the current sort, from the first page."""
        if self._source is None:
            return
        self._query = dataclasses.replace(
            base,
            order_by=self.model.sort_by,
            descending=self.model.sort_descending,
            limit=PAGE_ROWS,
            offset=0,
        )
        source, query = self._source, self._query
        self._runner.cancel("connections-page")
        self._runner.submit("connections", lambda: source.connections(query))

    def _resort(self, order_by: str, descending: bool) -> None:
        if self._query is not None:
            self.refresh(dataclasses.replace(self._query, order_by=order_by, descending=descending))

    def _fetch_page(self, offset: int) -> None:
        if self._source is None or self._query is None:
            self.model.page_failed()
            return
        source, query = self._source, dataclasses.replace(self._query, offset=offset)
        self._runner.submit("connections-page", lambda: source.connections(query))

    def _on_outcome(self, outcome: Outcome) -> None:
        if outcome.channel not in ("connections", "connections-page"):
            return
        if outcome.error is not None:
            if outcome.channel == "connections-page":
                self.model.page_failed()
            notifier().error(
                f"Could not read connections: {outcome.error}. The list keeps its last rows.",
                outcome.details,
            )
            return
        table: pa.Table = outcome.value
        has_more = table.num_rows >= PAGE_ROWS
        if outcome.channel == "connections":
            self.model.set_result(table, has_more)
            self._show_empty_state()
        else:
            self.model.append_page(table, has_more)
        shown = self.model.loaded_rows
        self.summary.setText(
            f"{shown:,} connection rows" + (" (scroll for more)" if has_more else "")
        )

    def _show_empty_state(self) -> None:
        if self.model.loaded_rows or self._query is None:
            self.empty.clear()
            return
        self.empty.show_message(
            empty_message(
                filtered=not self._query.filter.is_empty or self._query.until is not None,
                collector_deployed=self._collector_deployed,
            )
        )

    # -- user actions ----------------------------------------------------------------------

    def copy_selection(self) -> bool:
        """Copy the selected cells (tab-separated rows); False when none is selected."""
        return put_text(selected_cells_text(self.table))

    def _on_clicked(self, index: QModelIndex) -> None:
        if index.isValid():
            self.row_selected.emit(self.model.row_record(index.row()))

    def _context_menu(self, point: QPoint) -> None:
        index = self.table.indexAt(point)
        if not index.isValid():
            return
        record = self.model.row_record(index.row())
        column = COLUMNS[index.column()]
        end = "dst" if column.key == "dst" else "src"
        menu = QMenu(self)
        value = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        menu.addAction(f"Copy “{value}”", lambda: QGuiApplication.clipboard().setText(value))
        name = str(index.data(RAW_ROLE) or "")
        if name and name != value:
            menu.addAction(f"Copy name “{name}”", lambda: QGuiApplication.clipboard().setText(name))
        ip = _ip_of(record, end)
        if ip:
            menu.addAction(f"Look up {ip}", lambda: self.lookup_requested.emit(ip))
        if record.get(f"{end}_name"):
            namespace = str(record.get(f"{end}_namespace") or "")
            menu.addAction(
                "Focus in topology",
                lambda: self.focus_requested.emit(namespace, str(record[f"{end}_name"])),
            )
        menu.popup(self.table.viewport().mapToGlobal(point))

    def export_dialog(self) -> None:
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export connections", "connections.csv", ";;".join(EXPORT_FORMATS.values())
        )
        if path:
            fmt = next((k for k, v in EXPORT_FORMATS.items() if v == chosen), None)
            self.export(path, fmt or Path(path).suffix.lstrip(".") or "csv")

    def export(self, path: str, fmt: str, done: Callable[[int], Any] | None = None) -> None:
        """Export every row of the current query (not just the loaded pages), off-thread."""
        if self._source is None or self._query is None:
            notifier().warning("Nothing to export yet: no connection query has run.")
            return
        source = self._source
        query = dataclasses.replace(self._query, limit=None, offset=0)

        def run() -> int:
            return write_table(source.connections(query), path, fmt)

        runner = self._runner
        channel = f"export:{path}"

        def on_done(outcome: Outcome) -> None:
            if outcome.channel != channel:
                return
            runner.finished.disconnect(on_done)
            if outcome.error is not None:
                notifier().error(
                    f"Export to {path} failed: {outcome.error}. Nothing else changed.",
                    outcome.details,
                )
            else:
                notifier().info(f"Exported {outcome.value:,} rows to {path}.")
            if done is not None:
                done(0 if outcome.error else int(outcome.value))

        runner.finished.connect(on_done)
        runner.submit(channel, run)


def _ip_of(record: dict[str, Any], end: str) -> str | None:
    for key in (f"{end}_ip", f"{end}_name"):
        value = record.get(key)
        if isinstance(value, str):
            try:
                import ipaddress

                return ipaddress.ip_address(value).compressed
            except ValueError:
                continue
    return None
