"""The Topology tab: graph query plus force layout off the GUI thread, drawn by TopologyView.

One worker job asks the DataSource for the graph of the current level,
filter and drill-down focus, then lets that view's ForceLayout place it
(new nodes settle near their neighbours, old ones stay, dragged ones are
pinned). The GUI thread only copies the arrays into the view. A breadcrumb
remembers the drill-down path; each step keeps its own layout so going back
up shows the picture the user left.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import networkx as nx
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from netsight.topology.layout import ForceLayout, LayoutResult
from netsight.ui.graph_scene import graph_for_export, positions_array, scene_from_graph
from netsight.ui.messages import notifier
from netsight.ui.queries import LEVEL_TITLES, DataSource, GraphQuery, GraphResult
from netsight.ui.topology_view import TopologyView
from netsight.ui.workers import Outcome, QueryRunner

logger = logging.getLogger(__name__)

# Double-click on a node of this kind opens the members one level down.
DRILL_LEVEL = {
    "Namespace": "app",
    "App": "workload",
    "Application": "app",
    "Workload": "pod",
    "Deployment": "pod",
    "StatefulSet": "pod",
    "DaemonSet": "pod",
    "Job": "pod",
    "CronJob": "pod",
    "ReplicaSet": "pod",
    "Service": "pod",
}


@dataclass(frozen=True, slots=True)
class Crumb:
    """One step of the drill-down path."""

    level: str
    focus: tuple[str, str | None, str] | None
    title: str


class TopologyTab(QWidget):
    """Breadcrumb, notes, the graph view and its export buttons."""

    node_selected = Signal(object, dict)  # node id (or None), its attributes
    lookup_requested = Signal(str)
    level_changed = Signal(str)

    def __init__(self, runner: QueryRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._source: DataSource | None = None
        self._base: GraphQuery | None = None
        self._crumbs: list[Crumb] = []
        self._layouts: dict[Crumb, ForceLayout] = {}
        self._moved: dict[Crumb, dict[Hashable, tuple[float, float]]] = {}
        self._shown_key: Crumb | None = None
        self._cancel = threading.Event()
        self.graph: nx.Graph | None = None
        self.result: GraphResult | None = None

        self.breadcrumb = QHBoxLayout()
        self.breadcrumb.setSpacing(2)
        self.note = QLabel()
        self.note.setObjectName("topologyNote")
        self.note.setStyleSheet("color:#8a6d00;")
        self.note.setWordWrap(True)
        self.weight = QComboBox()
        self.weight.addItem("Edge width: bytes", "bytes")
        self.weight.addItem("Edge width: connections", "connections")
        self.weight.currentIndexChanged.connect(self._redraw)
        relayout = QPushButton("Re-layout")
        relayout.setToolTip("Lay the whole graph out again (pinned nodes stay)")
        relayout.clicked.connect(lambda: self.refresh(fresh=True))
        fit = QPushButton("Fit")
        fit.setToolTip("Show the whole graph (Home)")
        export = QPushButton("Export…")
        export.setToolTip("Save the graph as PNG, SVG or GraphML")
        export.clicked.connect(self.export_dialog)

        bar = QHBoxLayout()
        bar.addLayout(self.breadcrumb)
        bar.addStretch(1)
        bar.addWidget(self.weight)
        bar.addWidget(relayout)
        bar.addWidget(fit)
        bar.addWidget(export)

        self.view = TopologyView(self)
        fit.clicked.connect(self.view.fit)
        self.view.node_selected.connect(self._on_selected)
        self.view.node_activated.connect(self.drill_down)
        self.view.node_moved.connect(self._on_moved)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(bar)
        layout.addWidget(self.note)
        layout.addWidget(self.view, 1)
        self.note.hide()
        runner.finished.connect(self._on_outcome)

    # -- querying --------------------------------------------------------------------------

    def set_source(self, source: DataSource | None) -> None:
        self._cancel.set()
        self._source = source
        self._layouts.clear()
        self._moved.clear()
        self._shown_key = None
        self.graph = None
        self.view.clear_graph()

    def set_base(self, base: GraphQuery) -> None:
        """New level, time or filter from the window; resets the drill-down when the level moves."""
        if self._base is None or base.level != self._base.level or not self._crumbs:
            self._crumbs = [Crumb(base.level, None, LEVEL_TITLES.get(base.level, base.level))]
            self._rebuild_breadcrumb()
        self._base = base

    @property
    def crumbs(self) -> list[Crumb]:
        return list(self._crumbs)

    def refresh(self, fresh: bool = False) -> None:
        if self._source is None or self._base is None or not self._crumbs:
            return
        crumb = self._crumbs[-1]
        query = dataclasses.replace(self._base, level=crumb.level, focus=crumb.focus)
        layout = self._layouts.setdefault(crumb, ForceLayout())
        moved = dict(self._moved.get(crumb, {}))
        source = self._source
        self._cancel.set()
        cancel = self._cancel = threading.Event()

        def run() -> tuple[Crumb, GraphResult, LayoutResult]:
            result = source.graph(query)
            place = layout.relayout if fresh else layout.update
            placed = place(result.graph, pinned=set(moved), moved=moved, cancel=cancel.is_set)
            return crumb, result, placed

        self._runner.submit("graph", run)

    def _on_outcome(self, outcome: Outcome) -> None:
        if outcome.channel != "graph":
            return
        if outcome.error is not None:
            notifier().error(
                f"Could not build the topology: {outcome.error}. The map keeps its last picture.",
                outcome.details,
            )
            return
        crumb, result, placed = outcome.value
        if placed.cancelled:
            return
        self.result = result
        self.graph = result.graph
        self.note.setVisible(bool(result.note))
        self.note.setText(result.note)
        self._show(crumb, placed)

    def _show(self, crumb: Crumb, placed: LayoutResult) -> None:
        assert self.graph is not None
        scene = scene_from_graph(self.graph, str(self.weight.currentData()))
        if list(placed.nodes) == list(scene.ids):
            positions = placed.positions
        else:
            positions = positions_array(scene, placed.as_dict())
        same_view = crumb == self._shown_key
        self.view.set_graph(scene, positions, keep_view=same_view)
        self._shown_key = crumb

    def _redraw(self) -> None:
        if self.graph is None or self._shown_key is None:
            return
        scene = scene_from_graph(self.graph, str(self.weight.currentData()))
        self.view.set_graph(scene, positions_array(scene, self.view.positions), keep_view=True)

    # -- interaction -----------------------------------------------------------------------

    def node_attrs(self, node: Hashable | None) -> dict[str, Any]:
        if node is None or self.graph is None or node not in self.graph:
            return {}
        return dict(self.graph.nodes[node])

    def _on_selected(self, node: Hashable | None) -> None:
        self.node_selected.emit(node, self.node_attrs(node))

    def _on_moved(self, node: Hashable, x: float, y: float) -> None:
        if self._crumbs:
            self._moved.setdefault(self._crumbs[-1], {})[node] = (x, y)

    def drill_down(self, node: Hashable) -> bool:
        """Open the members of `node` one level down; False when it has none to show."""
        attrs = self.node_attrs(node)
        kind = str(attrs.get("kind", ""))
        level = DRILL_LEVEL.get(kind)
        if level is None or not self._crumbs:
            return False
        name = str(attrs.get("name") or attrs.get("label") or node)
        namespace = attrs.get("namespace")
        focus = (kind, None if namespace is None else str(namespace), name)
        self._crumbs.append(Crumb(level, focus, name))
        self._rebuild_breadcrumb()
        self.refresh()
        return True

    def go_up(self, depth: int) -> None:
        """Return to breadcrumb step `depth` (0 is the top)."""
        if 0 <= depth < len(self._crumbs) - 1:
            del self._crumbs[depth + 1 :]
            self._rebuild_breadcrumb()
            self.refresh()

    def focus_on(self, namespace: str | None, name: str) -> bool:
        """Select and centre a node by name (and namespace); False when it is not drawn."""
        if self.graph is None:
            return False
        for node, attrs in self.graph.nodes(data=True):
            if attrs.get("name") == name and (not namespace or attrs.get("namespace") == namespace):
                self.view.focus(node)
                self._on_selected(node)
                return True
        return False

    def _rebuild_breadcrumb(self) -> None:
        while self.breadcrumb.count():
            item = self.breadcrumb.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        for depth, crumb in enumerate(self._crumbs):
            if depth:
                sep = QLabel("›")
                sep.setStyleSheet("color:#888; padding:0 2px;")
                self.breadcrumb.addWidget(sep)
            button = QToolButton()
            button.setText(crumb.title if depth else f"All {crumb.title.lower()}")
            button.setAutoRaise(True)
            button.setEnabled(depth < len(self._crumbs) - 1)
            button.setToolTip("Back to this level")
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.clicked.connect(lambda _=False, d=depth: self.go_up(d))
            self.breadcrumb.addWidget(button)

    # -- export ----------------------------------------------------------------------------

    def export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export graph", "topology.png", "PNG (*.png);;SVG (*.svg);;GraphML (*.graphml)"
        )
        if path:
            self.export(path)

    def export(self, path: str) -> bool:
        """Write the shown graph to `path`; the suffix picks PNG, SVG or GraphML."""
        try:
            if path.endswith(".graphml"):
                if self.graph is None or self.view.scene_data is None:
                    raise ValueError("no graph is shown")
                exported = graph_for_export(self.graph, self.view.scene_data, self.view.positions)
                nx.write_graphml(exported, path)
            elif path.endswith(".svg"):
                from pyqtgraph.exporters import SVGExporter

                SVGExporter(self.view.view_box).export(path)
            else:
                self.view.grab().save(path)
        except Exception as error:  # noqa: BLE001 - told to the user, details logged
            logger.debug("Graph export to %s failed.", path, exc_info=True)
            notifier().error(f"Could not export the graph to {path}: {error}.")
            return False
        notifier().info(f"Saved the graph to {path}.")
        return True

    def close_down(self) -> None:
        self._cancel.set()
