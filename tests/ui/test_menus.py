"""Menus and keys: every action has a shortcut shown in its menu and in Help, copy, About."""

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QKeySequence
from PySide6.QtWidgets import QApplication, QMessageBox

from netsight.ui.help import ShortcutsDialog, netsight_version, shortcut_rows
from netsight.ui.main_window import MainWindow

# Actions that need no key: reading about the program.
WITHOUT_SHORTCUT = {"About NetSight"}


def make_window(qtbot):
    win = MainWindow([], None)
    qtbot.addWidget(win)
    with qtbot.waitActive(win):
        win.show()
        win.activateWindow()
    return win


def texts(win):
    return {
        action.text(): action
        for menu in win.menus
        for action in menu.actions()
        if not action.isSeparator()
    }


def test_every_action_has_a_shortcut_and_help_lists_them_all(qtbot):
    win = make_window(qtbot)
    try:
        actions = texts(win)
        for expected, keys in {
            "Deploy collector…": "Ctrl+D",
            "Remove collector…": "Ctrl+Shift+D",
            "Refresh": "F5",
            "Search…": "Ctrl+K",
            "Copy": "Ctrl+C",
            "Export connections…": "Ctrl+E",
            "Export graph…": "Ctrl+Shift+E",
            "Re-layout": "Ctrl+L",
            "Fit to window": "Ctrl+0",
            "Zoom in": "Ctrl++",
            "Zoom out": "Ctrl+-",
            "Pods level": "Ctrl+1",
            "Namespaces level": "Ctrl+5",
            "Topology tab": "Alt+1",
            "IP lookup tab": "Alt+3",
            "Keyboard shortcuts": "Ctrl+/",
        }.items():
            assert QKeySequence(keys) in actions[expected].shortcuts(), expected
        missing = [t for t, a in actions.items() if not a.shortcuts() and t not in WITHOUT_SHORTCUT]
        assert missing == []

        # Help lists each of them, with its key, from the menus themselves.
        listed = {(action, keys.split(", ")[0]) for _menu, action, keys in shortcut_rows(win.menus)}
        for text, action in actions.items():
            if action.shortcuts():
                first = action.shortcuts()[0].toString(QKeySequence.SequenceFormat.NativeText)
                assert (text.rstrip("…"), first) in listed, text
        qtbot.keyClick(win, Qt.Key.Key_Slash, Qt.KeyboardModifier.ControlModifier)
        dialog = win.findChild(ShortcutsDialog, "shortcutsDialog")
        assert dialog is not None and dialog.isVisible()
        shown = dialog.text.toPlainText()
        assert "Deploy collector" in shown and "Ctrl+D" in shown and "Alt+2" in shown
        dialog.close()
    finally:
        win.close()


def test_level_and_tab_keys_switch_the_view(qtbot):
    win = make_window(qtbot)
    try:
        qtbot.keyClick(win, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
        assert win.level == "service"
        qtbot.keyClick(win, Qt.Key.Key_5, Qt.KeyboardModifier.ControlModifier)
        assert win.level == "namespace"
        qtbot.keyClick(win, Qt.Key.Key_2, Qt.KeyboardModifier.AltModifier)
        assert win.tabs.currentIndex() == 1
        qtbot.keyClick(win, Qt.Key.Key_3, Qt.KeyboardModifier.AltModifier)
        assert win.tabs.currentIndex() == 2
        qtbot.keyClick(win, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
        assert QApplication.focusWidget() is win.search
    finally:
        win.close()


def test_ctrl_c_copies_the_selected_table_cells(qtbot):
    import pyarrow as pa

    win = make_window(qtbot)
    try:
        rows = [
            {
                "src_kind": "Pod",
                "src_namespace": "shop",
                "src_name": "web-1",
                "dst_kind": "Pod",
                "dst_namespace": "shop",
                "dst_name": "db-0",
                "dst_port": 5432,
                "proto": "tcp",
                "connections": 3,
                "bytes_sent": 10,
                "bytes_received": 20,
            },
        ]
        win.connections.model.set_result(pa.Table.from_pylist(rows), has_more=False)
        win.tabs.setCurrentIndex(1)
        table, model = win.connections.table, win.connections.model
        table.setFocus()
        # A click selects the whole row; the copy is its cells as shown, tab-separated.
        table.setCurrentIndex(model.index(0, 1))
        QGuiApplication.clipboard().clear()
        qtbot.keyClick(table, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
        copied = QGuiApplication.clipboard().text().split("\t")
        assert copied[:3] == ["shop/web-1", "shop/db-0", "5432"]
        assert copied == [model.index(0, c).data() for c in range(model.columnCount())]
    finally:
        win.close()


def test_about_names_the_version(qtbot):
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert netsight_version() == project["project"]["version"]
    win = make_window(qtbot)
    try:
        win.show_about()
        box = win.findChild(QMessageBox, "aboutBox")
        assert box is not None and box.isVisible()
        assert f"NetSight {netsight_version()}" in box.text()
        box.close()
    finally:
        win.close()
