"""Empty states, external groups, kind:/node: search, custom time range and settings isolation."""

import time
from pathlib import Path

from PySide6.QtCore import QDateTime, QPointF, QSettings, Qt
from PySide6.QtWidgets import QDialog

from netsight.ui.deploy_dialog import DeployDialog
from netsight.ui.empty_state import NO_MATCH, NOT_COLLECTING


def user_config_files() -> dict[str, float]:
    """NetSight's files in the real ~/.config, with their modification times."""
    root = Path.home() / ".config"
    return {str(p): p.stat().st_mtime for p in root.glob("NetSight*/**/*") if p.is_file()} | {
        str(p): p.stat().st_mtime for p in root.glob("NetSight*") if p.is_file()
    }


def wait_for_rows(qtbot, win, timeout=20_000):
    qtbot.waitUntil(lambda: win.connections.model.rowCount() > 0, timeout=timeout)


def rows(win):
    model = win.connections.model
    return [model.row_record(r) for r in range(model.rowCount())]


def search(qtbot, win, text):
    win.search.clear()
    win.search.setFocus()
    if text:
        qtbot.keyClicks(win.search, text)
    qtbot.keyClick(win.search, Qt.Key.Key_Return)


def double_click_node(qtbot, view, node):
    index = view.scene_data.index[node]
    x, y = view.positions[index]
    point = view.mapFromScene(view.view_box.mapViewToScene(QPointF(x, y)))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=point)


def test_empty_views_say_what_to_do_and_offer_the_deploy(qtbot, window):
    qtbot.waitUntil(lambda: window.topology.result is not None, timeout=15_000)
    assert window.topology.graph.number_of_nodes() == 0
    assert window.topology.empty.isVisible()
    assert window.topology.empty.label.text() == NOT_COLLECTING
    qtbot.waitUntil(lambda: window.connections.empty.message is not None, timeout=10_000)
    assert window.connections.empty.message.text == NOT_COLLECTING

    # The button opens the deploy dialog; nothing is deployed until the user confirms.
    qtbot.mouseClick(window.topology.empty.button, Qt.MouseButton.LeftButton)
    dialog = window.findChild(QDialog, "deployDialog")
    assert isinstance(dialog, DeployDialog) and dialog.isVisible()
    dialog.reject()
    assert window.session.status.collector_deployed is False

    # A search that matches nothing says so, and offers to clear it.
    search(qtbot, window, "ns:no-such-namespace")
    qtbot.waitUntil(
        lambda: (
            window.topology.empty.message is not None
            and window.topology.empty.message.text == NO_MATCH
        ),
        timeout=10_000,
    )
    qtbot.mouseClick(window.topology.empty.button, Qt.MouseButton.LeftButton)
    assert window.search.text() == "" and window.filter.is_empty


def test_groups_kind_node_and_custom_time_filter_the_live_demo(qtbot, window):
    qtbot.waitUntil(lambda: window.session.status.api_state == "connected", timeout=15_000)
    dialog = DeployDialog(window.session, remove=False, parent=window)
    dialog.start()
    qtbot.waitUntil(lambda: dialog.outcome is not None, timeout=30_000)
    wait_for_rows(qtbot, window)
    assert not window.connections.empty.isVisible()
    view = window.topology.view

    # The Internet is one node; a double-click draws its addresses, another folds them.
    window.level_box.setCurrentIndex(window.level_box.findData("pod"))
    qtbot.waitUntil(lambda: window.topology.result.level == "pod", timeout=10_000)
    qtbot.waitUntil(
        lambda: view.scene_data is not None and "External/public" in view.scene_data.index,
        timeout=20_000,
    )
    assert not window.topology.empty.isVisible()

    # The group's details list the pods that reached its addresses.
    view.select("External/public", emit=True)
    qtbot.waitUntil(
        lambda: (
            window.details.details is not None
            and window.details.details.kind == "External"
            and window.details.details.note == ""
        ),
        timeout=10_000,
    )
    group_details = window.details.details
    assert group_details.incoming, "no connections listed for the Internet group"
    # NB: which clients show first depends on what was pulled by then.
    assert all(p.kind and p.name and p.connections > 0 for p in group_details.incoming)

    view.fit()
    qtbot.wait(50)
    double_click_node(qtbot, view, "External/public")
    qtbot.waitUntil(
        lambda: any(str(n).startswith("External/public/") for n in view.scene_data.ids),
        timeout=10_000,
    )
    assert "External/public" not in view.scene_data.index
    assert window.topology.expanded_groups == {"public"}
    address = next(n for n in view.scene_data.ids if str(n).startswith("External/public/"))
    assert window.topology.drill_down(address)
    qtbot.waitUntil(lambda: "External/public" in view.scene_data.index, timeout=10_000)

    # At a coarse level, opening the group shows pods with its addresses drawn.
    window.level_box.setCurrentIndex(window.level_box.findData("workload"))
    qtbot.waitUntil(
        lambda: (
            window.topology.result.level == "workload"
            and "External/public" in view.scene_data.index
        ),
        timeout=10_000,
    )
    assert window.topology.drill_down("External/public")
    assert window.level == "pod"
    qtbot.waitUntil(
        lambda: (
            window.topology.result.level == "pod"
            and any(str(n).startswith("External/public/") for n in view.scene_data.ids)
        ),
        timeout=10_000,
    )
    window.topology.toggle_group("public")

    # kind: keeps rows with an end of that kind (the store's Filter.kinds).
    window.level_box.setCurrentIndex(window.level_box.findData("workload"))
    search(qtbot, window, "kind:StatefulSet")
    qtbot.waitUntil(
        lambda: (
            bool(rows(window))
            and all("StatefulSet" in (r["src_kind"], r["dst_kind"]) for r in rows(window))
        ),
        timeout=10_000,
    )

    def graph_only_statefulset_edges():
        kinds = view.scene_data.kinds
        edges = view.scene_data.edges.tolist()
        return bool(edges) and all("StatefulSet" in (kinds[u], kinds[v]) for u, v in edges)

    qtbot.waitUntil(graph_only_statefulset_edges, timeout=10_000)

    # node: keeps rows some agent on that node saw.
    search(qtbot, window, "node:worker-2")
    qtbot.waitUntil(
        lambda: bool(rows(window)) and all("worker-2" in r["nodes"] for r in rows(window)),
        timeout=10_000,
    )
    every_node = {n for r in rows(window) for n in r["nodes"]}
    assert every_node >= {"worker-2"}
    search(qtbot, window, "")

    # Custom: a window in the future holds nothing; one around now holds the rows.
    custom = window.time_box.findData("custom")
    window.time_box.setCurrentIndex(custom)
    picker = window.time_dialog
    assert picker is not None and picker.isVisible()
    later = QDateTime.currentDateTime().addDays(2)
    picker.since_edit.setDateTime(later)
    picker.until_edit.setDateTime(later.addSecs(3600))
    picker.accept()
    qtbot.waitUntil(
        lambda: (
            window.connections.model.rowCount() == 0
            and window.connections.empty.message is not None
            and window.connections.empty.message.text == NO_MATCH
        ),
        timeout=10_000,
    )
    assert window.time_box.currentText().startswith("Custom: ")
    since, until = time.time() - 3600, time.time() + 3600
    window.time_box.setCurrentIndex(0)
    window.time_box.setCurrentIndex(custom)
    window.time_dialog.since_edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(since)))
    window.time_dialog.until_edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(until)))
    window.time_dialog.accept()
    wait_for_rows(qtbot, window)
    query = window.connections._query
    assert (int(query.since), int(query.until)) == (int(since), int(until))
    assert all(r["first_seen"] <= until and r["last_seen"] >= since for r in rows(window))

    # Cancelling the picker goes back to the window in use.
    window.time_box.setCurrentIndex(2)
    window.time_box.setCurrentIndex(custom)
    window.time_dialog.reject()
    assert window.time_box.currentIndex() == 2


def test_settings_stay_in_the_test_folder(qtbot, window, isolated_settings):
    before = user_config_files()
    window.level_box.setCurrentIndex(0)
    window.save_settings()
    assert window.settings.fileName().startswith(str(isolated_settings))
    assert QSettings("NetSight", "NetSight").fileName().startswith(str(isolated_settings))
    assert user_config_files() == before
