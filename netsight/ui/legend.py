"""The key to the topology's shapes and colours, for the kinds on screen.

Symbols on the map stand for kinds (a circle is a pod, a square a workload,
a star an external group ...). A small legend in the view's corner lists the
kinds drawn right now, in the same glyph and colour as the view uses.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QLabel, QWidget

from netsight.ui.kind_styles import style_for

logger = logging.getLogger(__name__)

# pyqtgraph symbol name -> a text glyph of the same shape.
GLYPHS = {"o": "●", "s": "■", "d": "◆", "h": "⬢", "p": "⬟", "t": "▼", "star": "★"}
# What a reader calls each kind; unlisted kinds are shown as they are.
KIND_NAMES = {
    "App": "Application",
    "UnknownPod": "Unknown pod",
    "UnknownService": "Unknown service",
    "ApiServer": "API server",
    "External": "External (grouped)",
}
# Kinds listed first, in this order; others follow alphabetically.
ORDER = ("Namespace", "App", "Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job", "Pod")
MARGIN_PX = 8


def legend_html(kinds: Iterable[str]) -> str:
    present = sorted(set(kinds), key=lambda k: (ORDER.index(k) if k in ORDER else 99, k))
    rows = []
    for kind in present:
        symbol, colour, _size = style_for(kind)
        glyph = GLYPHS.get(symbol, "●")
        name = html.escape(KIND_NAMES.get(kind, kind))
        rows.append(f"<span style='color:{colour}'>{glyph}</span>&nbsp;{name}")
    return "<br>".join(rows)


class Legend(QLabel):
    """A small translucent box in the bottom-left corner of its parent."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("topologyLegend")
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, True)
        self.setStyleSheet(
            "#topologyLegend{background:rgba(255,255,255,215);border:1px solid #d8dce2;"
            "border-radius:4px;padding:4px 6px;color:#3d4450;font-size:11px;}"
        )
        self.kinds: tuple[str, ...] = ()
        parent.installEventFilter(self)
        self.hide()

    def show_kinds(self, kinds: Iterable[str]) -> None:
        self.kinds = tuple(sorted(set(kinds)))
        if not self.kinds:
            self.hide()
            return
        self.setText(legend_html(self.kinds))
        self.adjustSize()
        self._place()
        self.raise_()
        self.show()

    def _place(self) -> None:
        parent = self.parentWidget()
        if parent is not None:
            self.move(MARGIN_PX, parent.height() - self.height() - MARGIN_PX)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.parentWidget() and event.type() == QEvent.Type.Resize:
            self._place()
        return False
