"""Help > Keyboard shortcuts and Help > About: what the window can do, and which NetSight.

The shortcut list is read from the window's own menus, so it can never
disagree with them: an action that gets a shortcut shows up here too.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterable

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QMenu, QTextBrowser, QVBoxLayout, QWidget

logger = logging.getLogger(__name__)

# Keys the graph view itself understands (no menu item carries them).
VIEW_KEYS: tuple[tuple[str, str], ...] = (
    ("Arrow keys", "Pan the topology"),
    ("+ / -", "Zoom the topology in / out"),
    ("0 or Home", "Fit the topology"),
    ("Escape", "Clear the selection"),
    ("Double-click", "Drill into a node, or draw an external group address by address"),
)


def action_text(action: QAction) -> str:
    """An action's menu text without mnemonics and ellipsis."""
    return action.text().replace("&", "").rstrip("…").strip()


def shortcut_rows(menus: Iterable[QMenu]) -> list[tuple[str, str, str]]:
    """(menu, action, keys) for every menu action that has a shortcut, in menu order."""
    rows = []
    for menu in menus:
        title = menu.title().replace("&", "")
        for action in menu.actions():
            keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts()]
            if action.isSeparator() or not keys:
                continue
            rows.append((title, action_text(action), ", ".join(keys)))
    return rows


def shortcuts_html(menus: Iterable[QMenu]) -> str:
    lines = ["<h3>Keyboard shortcuts</h3><table cellspacing='3'>"]
    for menu, action, keys in shortcut_rows(menus):
        lines.append(
            f"<tr><td><b>{html.escape(keys)}</b></td><td>{html.escape(action)}</td>"
            f"<td style='color:#888'>{html.escape(menu)}</td></tr>"
        )
    lines.append("</table><h4>In the topology view</h4><table cellspacing='3'>")
    for keys, what in VIEW_KEYS:
        lines.append(f"<tr><td><b>{html.escape(keys)}</b></td><td>{html.escape(what)}</td></tr>")
    lines.append("</table>")
    return "".join(lines)


class ShortcutsDialog(QDialog):
    """A non-modal list of the window's shortcuts."""

    def __init__(self, menus: Iterable[QMenu], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("shortcutsDialog")
        self.setWindowTitle("Keyboard shortcuts — NetSight")
        self.text = QTextBrowser()
        self.text.setHtml(shortcuts_html(menus))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        self.resize(520, 560)


def netsight_version() -> str:
    """The installed NetSight's version (the package metadata, as pip knows it)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("netsight")
    except PackageNotFoundError:  # run from a source tree that was never installed
        import netsight

        return str(getattr(netsight, "__version__", "unknown"))


def about_html() -> str:
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import qVersion

    return (
        f"<h3>NetSight {html.escape(netsight_version())}</h3>"
        "<p>Who talks to whom in a Kubernetes cluster, named as people think of it: "
        "pods, workloads, services, applications and namespaces.</p>"
        f"<p style='color:#666'>Qt {html.escape(qVersion())}, "
        f"PySide6 {html.escape(pyside_version)}</p>"
    )
