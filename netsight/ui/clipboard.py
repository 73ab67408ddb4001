"""Copying what the user has selected (table cells, a node's name) to the clipboard.

One Copy action (Ctrl+C) serves the whole window; it asks the widget with
the focus what is selected. Text fields and the details panel copy their
own selection as usual (they claim Ctrl+C before the window's shortcut).
"""

from __future__ import annotations

import logging

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QAbstractItemView

logger = logging.getLogger(__name__)


def selected_cells_text(view: QAbstractItemView) -> str:
    """The selected cells of a table as tab-separated lines, in row and column order."""
    indexes = sorted(view.selectedIndexes(), key=lambda i: (i.row(), i.column()))
    if not indexes and view.currentIndex().isValid():
        indexes = [view.currentIndex()]
    rows: dict[int, list[str]] = {}
    for index in indexes:
        rows.setdefault(index.row(), []).append(str(index.data() or ""))
    return "\n".join("\t".join(cells) for cells in rows.values())


def put_text(text: str) -> bool:
    """Put `text` on the clipboard; False (nothing copied) when it is empty."""
    if not text:
        return False
    QGuiApplication.clipboard().setText(text)
    return True
