"""A table model over connection query results, fetched page by page.

The store answers with pyarrow tables; this model only adapts them to Qt.
It never sorts or filters: a click on a header asks the owner for a new
query (`sort_requested`), and scrolling to the end asks for the next page
(`more_requested`), so a million connections cost one page of memory in Qt.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)

if TYPE_CHECKING:
    import pyarrow as pa

logger = logging.getLogger(__name__)

# Rows fetched per query; enough to fill a tall window several times over.
PAGE_ROWS = 500

AnyIndex = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True, slots=True)
class Column:
    key: str  # what the view calls it, and what sort_requested names
    title: str
    sort_by: str  # store column the query orders by
    numeric: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("src", "Source", "src_name"),
    Column("dst", "Destination", "dst_name"),
    Column("dst_port", "Port", "dst_port", numeric=True),
    Column("proto", "Protocol", "proto"),
    Column("connections", "Connections", "connections", numeric=True),
    Column("bytes_sent", "Bytes sent", "bytes_sent", numeric=True),
    Column("bytes_received", "Bytes received", "bytes_received", numeric=True),
    Column("first_seen", "First seen", "first_seen"),
    Column("last_seen", "Last seen", "last_seen"),
    Column("nodes", "Nodes", "nodes"),
    Column("processes", "Processes", "processes"),
)
# Raw row values handed out to copy actions and the details panel.
RAW_ROLE = Qt.ItemDataRole.UserRole + 1


def endpoint_text(kind: Any, namespace: Any, name: Any) -> str:
    """`namespace/name`, or just the name for cluster-wide and external ends."""
    name_text = "" if name is None else str(name)
    if namespace:
        return f"{namespace}/{name_text}"
    return name_text or str(kind or "?")


def human_bytes(value: Any) -> str:
    if value is None:
        return ""
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(amount) < 1024 or unit == "TiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return str(value)


def format_time(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        stamp = value
    else:
        stamp = dt.datetime.fromtimestamp(float(value), tz=dt.UTC)
    return stamp.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _join(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value if v is not None)
    return str(value)


class ConnectionTableModel(QAbstractTableModel):
    """Rows of `store.connections()` results, appended page by page."""

    more_requested = Signal(int)  # offset of the next page
    sort_requested = Signal(str, bool)  # store column, descending

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[dict[str, Any]] = []
        self._has_more = False
        self._fetch_pending = False
        self.sort_column = COLUMNS.index(next(c for c in COLUMNS if c.key == "bytes_sent"))
        self.sort_descending = True

    # -- feeding ---------------------------------------------------------------------------

    def set_result(self, table: pa.Table, has_more: bool) -> None:
        """Replace all rows with the first page of a new query."""
        self.beginResetModel()
        self._rows = table.to_pylist()
        self._has_more = has_more
        self._fetch_pending = False
        self.endResetModel()

    def clear(self) -> None:
        """No rows (no query yet, or a new context)."""
        self.beginResetModel()
        self._rows = []
        self._has_more = False
        self._fetch_pending = False
        self.endResetModel()

    def append_page(self, table: pa.Table, has_more: bool) -> None:
        """Add the next page of the current query."""
        self._fetch_pending = False
        self._has_more = has_more
        if table.num_rows == 0:
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + table.num_rows - 1)
        self._rows.extend(table.to_pylist())
        self.endInsertRows()

    def page_failed(self) -> None:
        """The next page could not be read; stop asking until the next query."""
        self._fetch_pending = False
        self._has_more = False

    def row_record(self, row: int) -> dict[str, Any]:
        return dict(self._rows[row])

    @property
    def loaded_rows(self) -> int:
        return len(self._rows)

    @property
    def sort_by(self) -> str:
        return COLUMNS[self.sort_column].sort_by

    # -- Qt model interface ----------------------------------------------------------------

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section].title
        if role == Qt.ItemDataRole.TextAlignmentRole and COLUMNS[section].numeric:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        column = COLUMNS[index.column()]
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(column, row)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(column, row)
        if role == Qt.ItemDataRole.TextAlignmentRole and column.numeric:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == RAW_ROLE:
            return self._raw(column, row)
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def canFetchMore(self, parent: AnyIndex) -> bool:
        return not parent.isValid() and self._has_more and not self._fetch_pending

    def fetchMore(self, parent: AnyIndex) -> None:
        if self.canFetchMore(parent):
            self._fetch_pending = True
            self.more_requested.emit(len(self._rows))

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(COLUMNS):
            return
        self.sort_column = column
        self.sort_descending = order == Qt.SortOrder.DescendingOrder
        self.sort_requested.emit(COLUMNS[column].sort_by, self.sort_descending)

    # -- formatting ------------------------------------------------------------------------

    @staticmethod
    def _raw(column: Column, row: dict[str, Any]) -> Any:
        if column.key in ("src", "dst"):
            return row.get(f"{column.key}_name")
        return row.get(column.key)

    @staticmethod
    def _display(column: Column, row: dict[str, Any]) -> str:
        key = column.key
        if key in ("src", "dst"):
            return endpoint_text(
                row.get(f"{key}_kind"), row.get(f"{key}_namespace"), row.get(f"{key}_name")
            )
        value = row.get(key)
        if key in ("bytes_sent", "bytes_received"):
            return human_bytes(value)
        if key in ("first_seen", "last_seen"):
            return format_time(value)
        if key in ("nodes", "processes"):
            return _join(value)
        if key == "connections" and value is not None:
            return f"{int(value):,}"
        return "" if value is None else str(value)

    @staticmethod
    def _tooltip(column: Column, row: dict[str, Any]) -> str | None:
        key = column.key
        if key in ("src", "dst"):
            text = f"{row.get(f'{key}_kind') or '?'}: " + endpoint_text(
                row.get(f"{key}_kind"), row.get(f"{key}_namespace"), row.get(f"{key}_name")
            )
            if key == "dst" and row.get("via_service"):
                text += f"\nvia Service {row['via_service']}"
            return text
        if key in ("bytes_sent", "bytes_received") and row.get(key) is not None:
            return f"{int(row[key]):,} bytes"
        return None
