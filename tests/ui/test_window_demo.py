"""The whole desktop against the built-in demo cluster: deploy, live data, search, drill down."""

import threading

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QGuiApplication

from netsight.ui.deploy_dialog import DeployDialog


def deploy(qtbot, win):
    dialog = DeployDialog(win.session, remove=False, parent=win)
    dialog.show()
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.outcome is not None, timeout=30_000)
    return dialog


def test_deploying_from_the_demo_fills_every_view_live(qtbot, window):
    qtbot.waitUntil(lambda: window.session.status.api_state == "connected", timeout=15_000)
    assert window.context_box.currentData() == "sim"
    dialog = deploy(qtbot, window)
    assert dialog.outcome == "done"

    # Records are pulled and the connection list fills without the user asking.
    qtbot.waitUntil(lambda: window.connections.model.rowCount() > 0, timeout=30_000)
    qtbot.waitUntil(lambda: window.session.status.collector_ready == 3, timeout=15_000)
    qtbot.waitUntil(
        lambda: (
            window.topology.view.scene_data is not None
            and window.topology.view.scene_data.node_count > 3
        ),
        timeout=20_000,
    )
    assert "3/3 nodes" in window.status_panel.collector.text()

    # Clicking a node fills the details panel.
    view = window.topology.view

    def shop_deployment():
        kinds, attrs = view.scene_data.kinds, view.scene_data.attrs
        return next(
            (
                i
                for i, (k, a) in enumerate(zip(kinds, attrs, strict=True))
                if k == "Deployment" and a.get("namespace") == "shop"
            ),
            None,
        )

    qtbot.waitUntil(lambda: shop_deployment() is not None, timeout=20_000)
    # Workloads carry their real kind, never a generic "Workload".
    assert "Workload" not in view.scene_data.kinds
    index = shop_deployment()
    from PySide6.QtCore import QPointF

    x, y = view.positions[index]
    view.fit()
    qtbot.wait(50)
    point = view.mapFromScene(view.view_box.mapViewToScene(QPointF(x, y)))
    window.tabs.setCurrentIndex(0)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    label = view.scene_data.labels[index]
    qtbot.waitUntil(
        lambda: (
            window.details.details is not None
            and window.details.details.title == label
            and window.details.details.note == ""
        ),
        timeout=10_000,
    )
    shown = window.details.details
    assert shown.kind == "Deployment"
    helm = dict(shown.helm)
    assert helm["Revision"].isdigit() and int(helm["Revision"]) >= 2, helm
    assert helm["Status"] == "deployed" and helm["Chart"].startswith("shop")
    assert shown.owner_chain[0] == f"Deployment {label}"
    assert shown.owner_chain[-1].startswith("Helm release shop")

    # Ctrl+C on the map copies the selected node's name.
    QGuiApplication.clipboard().clear()
    assert window.copy_action.isEnabled()
    window.copy_action.trigger()
    assert QGuiApplication.clipboard().text() == label

    # A peer's link selects that peer in the topology (by namespace and name).
    peers = shown.outgoing or shown.incoming
    assert peers
    peer = peers[0]
    direction = "out" if shown.outgoing else "in"
    window.details.anchorClicked.emit(QUrl(f"peer:{direction}:0"))
    selected = view.selected_id()
    assert selected is not None
    attrs = view.scene_data.attrs[view.scene_data.index[selected]]
    assert attrs["name"] == peer.name
    assert (attrs.get("namespace") or None) == peer.namespace
    assert peer.label.endswith(peer.name)

    # Typing a namespace filter narrows every row to it.
    namespace = view.scene_data.attrs[index].get("namespace")
    window.search.setFocus()
    qtbot.keyClicks(window.search, f"ns:{namespace}")
    qtbot.keyClick(window.search, Qt.Key.Key_Return)

    def only_that_namespace():
        model = window.connections.model
        rows = [model.row_record(r) for r in range(model.rowCount())]
        return rows and all(namespace in (r["src_namespace"], r["dst_namespace"]) for r in rows)

    qtbot.waitUntil(only_that_namespace, timeout=10_000)

    # Drilling into a workload shows its pods, and the breadcrumb leads back.
    window.search.clear()
    window.apply_search()
    qtbot.waitUntil(lambda: label in view.scene_data.labels, timeout=10_000)
    assert window.topology.drill_down(view.scene_data.ids[view.scene_data.labels.index(label)])
    qtbot.waitUntil(
        lambda: window.topology.result is not None and window.topology.result.level == "pod",
        timeout=10_000,
    )
    assert len(window.topology.crumbs) == 2
    window.topology.go_up(0)
    qtbot.waitUntil(lambda: window.topology.result.level == "workload", timeout=10_000)

    # The IP lookup names the owner of a pod address.
    pod_ip = (
        window.session.store.query_arrow(
            "SELECT ip FROM ownership o JOIN owners w ON w.uid = o.owner_uid "
            "WHERE w.kind = 'Pod' AND o.valid_to IS NULL LIMIT 1"
        )
        .column(0)[0]
        .as_py()
    )
    window.look_up(pod_ip)
    qtbot.waitUntil(lambda: window.lookup.result is not None, timeout=10_000)
    assert window.lookup.result.kind == "Pod"
    assert window.lookup.history_model.rowCount() >= 1


def test_cancelling_a_deploy_leaves_no_collector(qtbot, window, demo):
    qtbot.waitUntil(lambda: window.session.status.api_state == "connected", timeout=15_000)
    dialog = DeployDialog(window.session, remove=False, parent=window)
    started = threading.Event()
    original = window.session.deploy

    def slow_deploy(progress, cancel):
        started.set()
        return original(progress, cancel)

    window.session.deploy = slow_deploy
    dialog.show()
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(started.is_set)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.outcome is not None, timeout=30_000)
    from netsight.collector.deploy import CollectorDeployer

    state = CollectorDeployer(window.session.api_client()).state()
    assert dialog.outcome in ("cancelled", "done")
    if dialog.outcome == "cancelled":
        assert not state.deployed
