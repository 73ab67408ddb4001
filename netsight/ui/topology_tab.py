"""The Topology tab: graph query plus force layout off the GUI thread, drawn by TopologyView.

One worker job asks the DataSource for the graph of the current level,
filter and drill-down (shaped by `netsight.topology`: external groups,
collapse, members), then lets that view's ForceLayout place it (new nodes
settle near their neighbours, old ones stay, dragged ones are pinned). The
GUI thread only copies the arrays into the view. The topology package's
Breadcrumb remembers the drill-down path; each step keeps its own layout so
going back up shows the picture the user left.

Start-up: the window must be on screen fast, so nothing heavy is imported
with this module. networkx, scipy and the layout load in the worker that
answers the first graph query; pyqtgraph loads when the view is first built
(`ensure_view`, which the window calls just after it is shown).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPointF, Qt, Signal
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

from netsight.ui.empty_state import EmptyState, empty_message
from netsight.ui.legend import Legend
from netsight.ui.messages import notifier
from netsight.ui.preload import GRAPH_MODULES, SESSION_MODULES, preload
from netsight.ui.queries import LEVEL_TITLES, DataSource, GraphQuery, GraphResult
from netsight.ui.workers import Outcome, QueryRunner

if TYPE_CHECKING:
    import networkx as nx

    from netsight.topology.graph import Breadcrumb, Crumb
    from netsight.topology.layout import ForceLayout, LayoutResult
    from netsight.ui.topology_view import TopologyView

logger = logging.getLogger(__name__)

# Kind of an external address or group (netsight.topology.graph.EXTERNAL).
EXTERNAL = "External"


class TopologyTab(QWidget):
    """Breadcrumb, notes, the graph view and its export buttons."""

    node_selected = Signal(object, dict)  # node id (or None), its attributes
    node_context_menu = Signal(object, QPointF)  # node id, global position
    lookup_requested = Signal(str)
    level_requested = Signal(str)  # the view wants the window to switch level

    def __init__(self, runner: QueryRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._source: DataSource | None = None
        self._base: GraphQuery | None = None
        self._crumbs: Breadcrumb | None = None
        self._expanded: frozenset[str] = frozenset()
        self._collector_deployed = False
        # Filled by the graph workers (a layout is made where it is first needed).
        self._layouts: dict[Crumb, ForceLayout] = {}
        self._layouts_lock = threading.Lock()
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
        relayout.setToolTip("Lay the whole graph out again (pinned nodes stay) (Ctrl+L)")
        relayout.clicked.connect(self.relayout)
        fit = QPushButton("Fit")
        fit.setToolTip("Show the whole graph (Ctrl+0)")
        fit.clicked.connect(self.fit)
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

        # The graph view goes into this frame once built; the legend and the
        # empty-state overlay sit on the frame so they exist before it.
        self.canvas = QWidget()
        self.canvas.setObjectName("topologyCanvas")
        self._canvas_layout = QVBoxLayout(self.canvas)
        self._canvas_layout.setContentsMargins(0, 0, 0, 0)
        self._view: TopologyView | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(bar)
        layout.addWidget(self.note)
        layout.addWidget(self.canvas, 1)
        self.note.hide()
        self.legend = Legend(self.canvas)
        self.empty = EmptyState(self.canvas)
        runner.finished.connect(self._on_outcome)

    @property
    def view(self) -> TopologyView:
        """The graph canvas, built (and pyqtgraph imported) on first use."""
        return self.ensure_view()

    @property
    def view_built(self) -> bool:
        return self._view is not None

    def ensure_view(self) -> TopologyView:
        if self._view is None:
            from netsight.ui.topology_view import TopologyView

            view = TopologyView(self.canvas)
            view.node_selected.connect(self._on_selected)
            view.node_activated.connect(self.drill_down)
            view.node_moved.connect(self._on_moved)
            view.node_context_menu.connect(self.node_context_menu)
            self._canvas_layout.addWidget(view)
            self._view = view
            self.legend.raise_()
            self.empty.raise_()
        return self._view

    # -- querying --------------------------------------------------------------------------

    def set_source(self, source: DataSource | None) -> None:
        self._cancel.set()
        self._runner.cancel("graph")
        self._source = source
        self._layouts = {}
        self._moved.clear()
        self._shown_key = None
        self._expanded = frozenset()
        self.graph = None
        self.result = None
        if self._view is not None:
            self._view.clear_graph()
        self.legend.hide()
        self.empty.clear()

    def set_collector_deployed(self, deployed: bool) -> None:
        """Whether the collector runs; changes what the empty view suggests."""
        if deployed != self._collector_deployed:
            self._collector_deployed = deployed
            if self.empty.isVisible():
                self._show_empty_state()

    def set_base(self, base: GraphQuery) -> None:
        """New level, time or filter from the window; resets the drill-down when the level moves."""
        if self._base is None or base.level != self._base.level or not self._crumbs:
            from netsight.topology.graph import Breadcrumb

            title = f"All {LEVEL_TITLES.get(base.level, base.level).lower()}"
            self._crumbs = Breadcrumb.root(base.level, title)
            self._rebuild_breadcrumb()
        self._base = base

    @property
    def crumbs(self) -> list[Crumb]:
        return list(self._crumbs or ())

    @property
    def expanded_groups(self) -> frozenset[str]:
        return self._expanded

    def refresh(self, fresh: bool = False) -> None:
        if self._source is None or self._base is None or not self._crumbs:
            return
        crumb = self._crumbs.current
        query = dataclasses.replace(
            self._base, level=crumb.level, drill=crumb.spec, expanded_groups=self._expanded
        )
        layouts, lock = self._layouts, self._layouts_lock
        moved = dict(self._moved.get(crumb, {}))
        source = self._source
        self._cancel.set()
        cancel = self._cancel = threading.Event()

        def run() -> tuple[Crumb, GraphResult, LayoutResult]:
            preload(*SESSION_MODULES, *GRAPH_MODULES)
            from netsight.topology.layout import ForceLayout

            result = source.graph(query)
            with lock:
                layout = layouts.setdefault(crumb, ForceLayout())
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
        self._show_empty_state()

    def _show_empty_state(self) -> None:
        if self.graph is None or self.graph.number_of_nodes():
            self.empty.clear()
            return
        base = self._base
        # A search, a drill-down or a custom time window (it has an end) narrows the view.
        filtered = base is not None and (
            not base.filter.is_empty or len(self.crumbs) > 1 or base.until is not None
        )
        self.empty.show_message(
            empty_message(filtered=filtered, collector_deployed=self._collector_deployed)
        )

    def _show(self, crumb: Crumb, placed: LayoutResult) -> None:
        from netsight.ui.graph_scene import positions_array, scene_from_graph

        assert self.graph is not None
        scene = scene_from_graph(self.graph, str(self.weight.currentData()))
        if list(placed.nodes) == list(scene.ids):
            positions = placed.positions
        else:
            positions = positions_array(scene, placed.as_dict())
        same_view = crumb == self._shown_key
        self.view.set_graph(scene, positions, keep_view=same_view)
        self._shown_key = crumb
        self.legend.show_kinds(scene.kinds)

    def _redraw(self) -> None:
        if self.graph is None or self._shown_key is None:
            return
        from netsight.ui.graph_scene import positions_array, scene_from_graph

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
            self._moved.setdefault(self._crumbs.current, {})[node] = (x, y)

    def drill_down(self, node: Hashable) -> bool:
        """Open the members of `node`, or expand/fold an external group; False when neither."""
        attrs = self.node_attrs(node)
        if not attrs or not self._crumbs or self.graph is None:
            return False
        from netsight.topology.graph import POD, NotDrillableError, drill_down, expand_group

        if attrs.get("kind") == EXTERNAL and attrs.get("group"):
            group = str(attrs["group"])
            if attrs.get("level") != POD:
                # TODO: expand in place once the store can name external ends by
                # address at coarse levels (it names them by range tag there).
                self._expanded = self._expanded | {group}
                notifier().info(
                    f"Showing pods, where the addresses in {attrs.get('label')} are drawn "
                    "one by one; Ctrl+2 goes back to workloads."
                )
                self.level_requested.emit(POD)
                return True
            self._expanded = expand_group(self._expanded, group)
            self.refresh()
            return True
        try:
            spec = drill_down(self.graph, node)  # type: ignore[arg-type]
        except NotDrillableError:
            label = attrs.get("label") or attrs.get("name") or node
            notifier().info(f"{label} is a single {attrs.get('kind', 'object')}; nothing to open.")
            return False
        self._crumbs = self._crumbs.push(spec)
        self._rebuild_breadcrumb()
        self.refresh()
        return True

    def toggle_group(self, group: str) -> None:
        """Draw an external group address by address, or fold it back into one node."""
        from netsight.topology.graph import expand_group

        self._expanded = expand_group(self._expanded, group)
        self.refresh()

    def go_up(self, depth: int) -> None:
        """Return to breadcrumb step `depth` (0 is the top)."""
        if self._crumbs is not None and 0 <= depth < len(self._crumbs) - 1:
            self._crumbs = self._crumbs.up_to(depth)
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

    def relayout(self) -> None:
        """Lay the whole graph out afresh (dragged nodes stay where they were put)."""
        self.refresh(fresh=True)

    def fit(self) -> None:
        self.view.fit()

    def zoom(self, steps: int) -> None:
        """Zoom in (steps > 0) or out (steps < 0) around the centre of the view."""
        self.view.zoom(steps)

    def _rebuild_breadcrumb(self) -> None:
        while self.breadcrumb.count():
            item = self.breadcrumb.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        crumbs = list(self._crumbs or ())
        for depth, crumb in enumerate(crumbs):
            if depth:
                sep = QLabel("›")
                sep.setStyleSheet("color:#888; padding:0 2px;")
                self.breadcrumb.addWidget(sep)
            button = QToolButton()
            button.setText(crumb.label)
            button.setAutoRaise(True)
            button.setEnabled(depth < len(crumbs) - 1)
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
                import networkx as nx

                from netsight.ui.graph_scene import graph_for_export

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
