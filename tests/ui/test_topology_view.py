"""The graph canvas: drawing from arrays, hit testing, selection, drill signals, labels."""

import networkx as nx
import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from netsight.ui.graph_scene import graph_for_export, positions_array, scene_from_graph
from netsight.ui.topology_view import LABEL_LIMIT, TopologyView


def small_graph() -> tuple[nx.Graph, np.ndarray]:
    graph = nx.DiGraph()
    graph.add_node("a", kind="App", name="shop", namespace="shop")
    graph.add_node("b", kind="Service", name="db", namespace="shop")
    graph.add_node("c", kind="External", name="Internet")
    graph.add_edge("a", "b", bytes=10_000, connections=3)
    graph.add_edge("a", "c", bytes=10, connections=1)
    return graph, np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])


@pytest.fixture
def view(qtbot):
    widget = TopologyView()
    qtbot.addWidget(widget)
    widget.resize(600, 600)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def click_node(qtbot, view, index, double=False):
    x, y = view.positions[index]
    scene_point = view.view_box.mapViewToScene(QPointF(x, y))
    point = view.mapFromScene(scene_point)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    if double:
        # What a real double-click delivers: press, release, double-click, release.
        qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
        qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=point)


def test_scene_flattens_graph_into_arrays_with_heavier_edges_in_wider_classes():
    graph, _ = small_graph()
    scene = scene_from_graph(graph)
    assert scene.ids == ("a", "b", "c")
    assert scene.edges.tolist() == [[0, 1], [0, 2]]
    assert scene.edge_classes[0] > scene.edge_classes[1]
    assert scene.node_weights.tolist() == [10_010.0, 10_000.0, 10.0]
    assert scene.neighbours(0).tolist() == [1, 2]


def test_positions_from_a_mapping_fill_missing_nodes_at_the_centre():
    graph, _ = small_graph()
    scene = scene_from_graph(graph)
    positions = positions_array(scene, {"a": (0, 0), "b": (2, 2)})
    assert positions.tolist() == [[0, 0], [2, 2], [1, 1]]
    with pytest.raises(ValueError):
        positions_array(scene, np.zeros((5, 2)))


def test_clicking_a_node_selects_it_and_clicking_empty_space_clears(qtbot, view):
    graph, positions = small_graph()
    view.set_graph(scene_from_graph(graph), positions)
    with qtbot.waitSignal(view.node_selected) as blocker:
        click_node(qtbot, view, 1)
    assert blocker.args == ["b"]
    assert view.selected_id() == "b"
    with qtbot.waitSignal(view.node_selected) as blocker:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(590, 590))
    assert blocker.args == [None]


def test_double_click_asks_to_drill_down(qtbot, view):
    graph, positions = small_graph()
    view.set_graph(scene_from_graph(graph), positions)
    with qtbot.waitSignal(view.node_activated) as blocker:
        click_node(qtbot, view, 0, double=True)
    assert blocker.args == ["a"]


def test_dragging_a_node_moves_and_pins_it(qtbot, view):
    graph, positions = small_graph()
    view.set_graph(scene_from_graph(graph), positions)
    start = view.mapFromScene(view.view_box.mapViewToScene(QPointF(10.0, 0.0)))
    end = view.mapFromScene(view.view_box.mapViewToScene(QPointF(5.0, 5.0)))
    with qtbot.waitSignal(view.node_moved) as blocker:
        qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=start)
        for step in range(1, 6):
            qtbot.mouseMove(view.viewport(), start + (end - start) * step / 5)
        qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=end)
    node, x, y = blocker.args
    assert node == "b"
    assert abs(x - 5.0) < 1.0 and abs(y - 5.0) < 1.0
    assert 1 in view.pinned
    assert view.positions[0].tolist() == [0.0, 0.0]  # the others stay


def test_labels_appear_only_when_few_nodes_are_in_view(qtbot, view):
    rng = np.random.default_rng(1)
    graph = nx.path_graph(LABEL_LIMIT * 3)
    for n in graph:
        graph.nodes[n]["label"] = f"node-{n}"
    positions = rng.uniform(0, 1000, size=(graph.number_of_nodes(), 2))
    view.set_graph(scene_from_graph(graph), positions)
    qtbot.wait(100)
    assert view.shown_labels() == []
    assert view.focus(7)
    view.view_box.setRange(
        xRange=(positions[7, 0] - 5, positions[7, 0] + 5),
        yRange=(positions[7, 1] - 5, positions[7, 1] + 5),
        padding=0,
    )
    qtbot.waitUntil(lambda: "node-7" in view.shown_labels())
    assert len(view.shown_labels()) <= LABEL_LIMIT


def test_position_update_keeps_nodes_and_selection(qtbot, view):
    graph, positions = small_graph()
    view.set_graph(scene_from_graph(graph), positions)
    view.select("c")
    view.set_positions(positions + 3.0)
    assert view.selected_id() == "c"
    assert view.node_at(QPointF(3.0, 13.0)) == 2
    with pytest.raises(ValueError):
        view.set_positions(np.zeros((2, 2)))


def test_keys_zoom_and_pan(qtbot, view):
    graph, positions = small_graph()
    view.set_graph(scene_from_graph(graph), positions)
    (x0, x1), _ = view.view_box.viewRange()
    qtbot.keyClick(view, Qt.Key.Key_Plus)
    (z0, z1), _ = view.view_box.viewRange()
    assert (z1 - z0) < (x1 - x0)
    qtbot.keyClick(view, Qt.Key.Key_Right)
    (p0, _p1), _ = view.view_box.viewRange()
    assert p0 > z0


def test_graphml_export_copy_holds_positions_and_scalar_attributes():
    graph, positions = small_graph()
    graph.nodes["a"]["ips"] = ["10.0.0.1", "10.0.0.2"]
    exported = graph_for_export(graph, scene_from_graph(graph), positions)
    assert exported.nodes["a"]["ips"] == "10.0.0.1,10.0.0.2"
    assert exported.nodes["b"]["x"] == 10.0
