"""The interactive graph canvas: thousands of nodes drawn from numpy arrays.

Nodes are one ScatterPlotItem (symbol and colour by kind), edges are a few
line items in `connect='pairs'` mode (one per width class), and labels are a
small pool of text items shown only when few enough nodes are in view. Hit
testing (click, double-click, hover, drag) is one vectorised distance check
instead of pyqtgraph's per-spot objects, which cost too much at 10,000 nodes.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QKeyEvent
from PySide6.QtWidgets import QWidget

from netsight.ui.graph_scene import WIDTH_CLASSES_PX, GraphScene
from netsight.ui.kind_styles import style_for

logger = logging.getLogger(__name__)

# Labels are drawn only when at most this many nodes are in view: more is
# unreadable and costs frame rate.
LABEL_LIMIT = 150
# How far (pixels) beyond a symbol's edge a click or hover still hits it.
HIT_SLACK_PX = 4.0
# Range changes are coalesced before labels are recomputed.
LABEL_DELAY_MS = 60
ZOOM_STEP = 1.25
PAN_FRACTION = 0.1

EDGE_COLOUR = (96, 112, 134, 150)
# Above this many nodes in view, edges are drawn one pixel wide (heavier ones
# darker instead of wider): wide lines cost the raster engine 2-3x per frame.
THIN_EDGES_ABOVE = 1500
THIN_ALPHAS = (80, 120, 165, 210)
HIGHLIGHT_COLOUR = "#ff9f1c"
SELECT_COLOUR = "#ff6b00"


class _GraphViewBox(pg.ViewBox):
    """A ViewBox that lets the owning view claim drags that start on a node."""

    def __init__(self, owner: TopologyView) -> None:
        super().__init__(lockAspect=True, enableMenu=False)
        self._owner = owner
        self._dragging: int | None = None

    def mouseDragEvent(self, ev: Any, axis: Any = None) -> None:
        if ev.button() == Qt.MouseButton.LeftButton:
            if ev.isStart():
                self._dragging = self._owner.node_at(self.mapSceneToView(ev.buttonDownScenePos()))
            if self._dragging is not None:
                ev.accept()
                point = self.mapSceneToView(ev.scenePos())
                self._owner.move_node(self._dragging, point.x(), point.y(), final=ev.isFinish())
                if ev.isFinish():
                    self._dragging = None
                return
        super().mouseDragEvent(ev, axis)


class TopologyView(pg.GraphicsView):
    """Draws a GraphScene; emits what the user did with its nodes."""

    node_selected = Signal(object)  # node id, or None when the background was clicked
    node_activated = Signal(object)  # node id (double-click: drill down)
    node_moved = Signal(object, float, float)  # node id, x, y (the user pinned it there)
    node_context_menu = Signal(object, QPointF)  # node id, global position

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background="#fbfbfc")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAntialiasing(False)
        self.view_box = _GraphViewBox(self)
        self.setCentralItem(self.view_box)
        self.view_box.setMouseEnabled(x=True, y=True)
        self.view_box.invertY(True)

        self.scene_data: GraphScene | None = None
        self.positions = np.zeros((0, 2))
        self.selected: int | None = None
        self.pinned: set[int] = set()

        self._edge_items = [
            pg.PlotCurveItem(
                pen=pg.mkPen(EDGE_COLOUR, width=w),
                connect="pairs",
                antialias=False,
            )
            for w in WIDTH_CLASSES_PX
        ]
        for item in self._edge_items:
            item.setSegmentedLineMode("on")  # drawLines: far faster than one huge path
            item.setZValue(-10)
            self.view_box.addItem(item)
        self._highlight = pg.PlotCurveItem(
            pen=pg.mkPen(HIGHLIGHT_COLOUR, width=2.0), connect="pairs", antialias=True
        )
        self._highlight.setZValue(-5)
        self.view_box.addItem(self._highlight)
        self._nodes = pg.ScatterPlotItem(pxMode=True, antialias=True)
        self.view_box.addItem(self._nodes)
        self._ring = pg.ScatterPlotItem(
            pxMode=True, brush=None, pen=pg.mkPen(SELECT_COLOUR, width=2.5), symbol="o"
        )
        self._ring.setZValue(5)
        self.view_box.addItem(self._ring)
        self._sizes = np.zeros(0)
        self._thin_edges: bool | None = None
        self._labels: list[pg.TextItem] = []
        self._label_font = QFont()
        self._label_font.setPointSizeF(8.5)

        self._label_timer = QTimer(self)
        self._label_timer.setSingleShot(True)
        self._label_timer.setInterval(LABEL_DELAY_MS)
        self._label_timer.timeout.connect(self._update_labels)
        self.view_box.sigRangeChanged.connect(lambda *_: self._label_timer.start())
        self.scene().sigMouseClicked.connect(self._on_click)
        self.scene().sigMouseMoved.connect(self._on_hover)

    # -- content ---------------------------------------------------------------------------

    def set_graph(self, scene: GraphScene, positions: np.ndarray, keep_view: bool = False) -> None:
        """Show a new graph. The view fits it unless `keep_view` (an incremental update)."""
        previous = self.selected_id()
        self.scene_data = scene
        self.positions = np.array(positions, dtype=np.float64).reshape(-1, 2)
        self.pinned = set()
        styles = [style_for(kind) for kind in scene.kinds]
        self._sizes = np.array([s[2] for s in styles], dtype=np.float64)
        if scene.node_count and scene.node_weights.max() > 0:
            # Busier nodes draw up to 60 % larger.
            rel = np.log1p(scene.node_weights) / np.log1p(scene.node_weights.max())
            self._sizes = self._sizes * (1.0 + 0.6 * rel)
        # Whole pixels only: the symbol atlas renders one pixmap per distinct size.
        self._sizes = np.round(self._sizes)
        brushes = _cached_brushes([s[1] for s in styles])
        pens = pg.mkPen("#ffffff", width=1.0)
        self._nodes.setData(
            pos=self.positions,
            symbol=[s[0] for s in styles],
            size=self._sizes,
            brush=brushes,
            pen=pens,
            data=np.arange(scene.node_count),
        )
        self._redraw_edges()
        self.selected = scene.index.get(previous) if previous is not None else None
        self._redraw_selection()
        if not keep_view:
            self.fit()
        self._update_labels()

    def set_positions(self, positions: np.ndarray) -> None:
        """Move every node (same order as the scene) without rebuilding anything."""
        positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
        if positions.shape != self.positions.shape:
            raise ValueError(f"{positions.shape[0]} positions for {self.positions.shape[0]} nodes")
        self.positions = positions.copy()
        data = self._nodes.data
        data["x"] = self.positions[:, 0]
        data["y"] = self.positions[:, 1]
        self._nodes.prepareGeometryChange()
        self._nodes.bounds = [None, None]
        self._nodes.invalidate()
        self._redraw_edges()
        self._redraw_selection()
        self._label_timer.start()

    def clear_graph(self) -> None:
        self.scene_data = None
        self.positions = np.zeros((0, 2))
        self.selected = None
        self._nodes.clear()
        for item in (*self._edge_items, self._highlight):
            item.setData([], [])
        self._ring.clear()
        self._hide_labels()

    def fit(self) -> None:
        if self.positions.size:
            lo, hi = self.positions.min(axis=0), self.positions.max(axis=0)
            pad = np.maximum((hi - lo) * 0.06, 1.0)
            self.view_box.setRange(
                QRectF(lo[0] - pad[0], lo[1] - pad[1], *(hi - lo + 2 * pad)), padding=0
            )

    def zoom(self, steps: int) -> None:
        """Zoom in (steps > 0) or out (steps < 0) by ZOOM_STEP a step, around the centre."""
        factor = ZOOM_STEP ** (-steps)
        self.view_box.scaleBy((factor, factor))

    # -- selection -------------------------------------------------------------------------

    def selected_id(self) -> Hashable | None:
        if self.scene_data is None or self.selected is None:
            return None
        return self.scene_data.ids[self.selected]

    def select(self, node_id: Hashable | None, emit: bool = False) -> None:
        index = None
        if node_id is not None and self.scene_data is not None:
            index = self.scene_data.index.get(node_id)
        self.selected = index
        self._redraw_selection()
        if emit:
            self.node_selected.emit(self.selected_id())

    def focus(self, node_id: Hashable) -> bool:
        """Select a node and centre the view on it; False when it is not shown."""
        if self.scene_data is None or node_id not in self.scene_data.index:
            return False
        self.select(node_id)
        x, y = self.positions[self.scene_data.index[node_id]]
        (x0, x1), (y0, y1) = self.view_box.viewRange()
        half_w, half_h = (x1 - x0) / 2, (y1 - y0) / 2
        self.view_box.setRange(QRectF(x - half_w, y - half_h, 2 * half_w, 2 * half_h), padding=0)
        return True

    # -- hit testing and interaction -------------------------------------------------------

    def node_at(self, view_point: QPointF) -> int | None:
        """Index of the node drawn under a point in view coordinates, if any."""
        if self.scene_data is None or not self.positions.size:
            return None
        px_w, px_h = self.view_box.viewPixelSize()
        if px_w <= 0 or px_h <= 0:
            return None
        dx = (self.positions[:, 0] - view_point.x()) / px_w
        dy = (self.positions[:, 1] - view_point.y()) / px_h
        distance = np.hypot(dx, dy) - self._sizes / 2.0
        nearest = int(np.argmin(distance))
        return nearest if distance[nearest] <= HIT_SLACK_PX else None

    def move_node(self, index: int, x: float, y: float, final: bool = False) -> None:
        """Move one node (a drag); it stays pinned where it is dropped."""
        moved = self.positions.copy()
        moved[index] = (x, y)
        self.pinned.add(index)
        self.set_positions(moved)
        if final and self.scene_data is not None:
            self.node_moved.emit(self.scene_data.ids[index], float(x), float(y))

    def _on_click(self, event: Any) -> None:
        if self.scene_data is None:
            return
        point = self.view_box.mapSceneToView(event.scenePos())
        index = self.node_at(point)
        if event.button() == Qt.MouseButton.RightButton:
            if index is not None:
                event.accept()
                self.selected = index
                self._redraw_selection()
                self.node_selected.emit(self.scene_data.ids[index])
                self.node_context_menu.emit(self.scene_data.ids[index], event.screenPos())
            return
        if event.button() != Qt.MouseButton.LeftButton:
            return
        if event.double() and index is not None:
            self.node_activated.emit(self.scene_data.ids[index])
            return
        self.selected = index
        self._redraw_selection()
        self.node_selected.emit(self.selected_id())

    def _on_hover(self, scene_pos: QPointF) -> None:
        if self.scene_data is None:
            return
        index = self.node_at(self.view_box.mapSceneToView(scene_pos))
        self.setToolTip("" if index is None else self.tooltip_for(index))

    def tooltip_for(self, index: int) -> str:
        assert self.scene_data is not None
        attrs = self.scene_data.attrs[index]
        lines = [f"<b>{self.scene_data.labels[index]}</b>", f"{self.scene_data.kinds[index]}"]
        for key in ("namespace", "app", "node", "members"):
            if attrs.get(key) not in (None, "", ()):
                lines.append(f"{key}: {attrs[key]}")
        neighbours = self.scene_data.neighbours(index).size
        lines.append(f"{neighbours} peer{'s' if neighbours != 1 else ''}")
        return "<br>".join(lines)

    def close(self) -> bool:
        # pyqtgraph's close() clears the scene: forget the label items first so a
        # pending label update cannot touch deleted ones.
        self._label_timer.stop()
        self._labels.clear()
        self.scene_data = None
        return bool(super().close())

    def keyPressEvent(self, ev: QKeyEvent) -> None:
        key = ev.key()
        (x0, x1), (y0, y1) = self.view_box.viewRange()
        step_x, step_y = (x1 - x0) * PAN_FRACTION, (y1 - y0) * PAN_FRACTION
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom(1)
        elif key == Qt.Key.Key_Minus:
            self.zoom(-1)
        elif key == Qt.Key.Key_Left:
            self.view_box.translateBy((-step_x, 0))
        elif key == Qt.Key.Key_Right:
            self.view_box.translateBy((step_x, 0))
        elif key == Qt.Key.Key_Up:
            self.view_box.translateBy((0, -step_y))
        elif key == Qt.Key.Key_Down:
            self.view_box.translateBy((0, step_y))
        elif key in (Qt.Key.Key_0, Qt.Key.Key_Home):
            self.fit()
        elif key == Qt.Key.Key_Escape:
            self.select(None, emit=True)
        else:
            super().keyPressEvent(ev)
            return
        ev.accept()

    # -- drawing helpers -------------------------------------------------------------------

    def _redraw_edges(self) -> None:
        scene = self.scene_data
        if scene is None or scene.edge_count == 0:
            for item in self._edge_items:
                item.setData([], [])
            return
        for width_class, item in enumerate(self._edge_items):
            chosen = scene.edges[scene.edge_classes == width_class]
            if chosen.size == 0:
                item.setData([], [])
                continue
            ends = self.positions[chosen.reshape(-1)]
            item.setData(ends[:, 0], ends[:, 1], connect="pairs")

    def _redraw_selection(self) -> None:
        scene = self.scene_data
        if scene is None or self.selected is None:
            self._ring.clear()
            self._highlight.setData([], [])
            return
        i = self.selected
        self._ring.setData(pos=self.positions[i : i + 1], size=[self._sizes[i] + 8])
        incident = scene.edges[scene.incident_edges(i)]
        if incident.size:
            ends = self.positions[incident.reshape(-1)]
            self._highlight.setData(ends[:, 0], ends[:, 1], connect="pairs")
        else:
            self._highlight.setData([], [])

    def _hide_labels(self) -> None:
        for label in self._labels:
            label.hide()

    def visible_nodes(self) -> np.ndarray:
        if not self.positions.size:
            return np.empty(0, dtype=np.int64)
        (x0, x1), (y0, y1) = self.view_box.viewRange()
        p = self.positions
        return np.flatnonzero((p[:, 0] >= x0) & (p[:, 0] <= x1) & (p[:, 1] >= y0) & (p[:, 1] <= y1))

    def shown_labels(self) -> list[str]:
        return [label.toPlainText() for label in self._labels if label.isVisible()]

    def _apply_edge_detail(self, visible_count: int) -> None:
        thin = visible_count > THIN_EDGES_ABOVE
        if thin == self._thin_edges:
            return
        self._thin_edges = thin
        for width_class, item in enumerate(self._edge_items):
            if thin:
                colour = (*EDGE_COLOUR[:3], THIN_ALPHAS[width_class])
                item.setPen(pg.mkPen(colour, width=1.0))
            else:
                item.setPen(pg.mkPen(EDGE_COLOUR, width=WIDTH_CLASSES_PX[width_class]))

    def _update_labels(self) -> None:
        if getattr(self, "closed", False):
            return
        scene = self.scene_data
        visible = self.visible_nodes()
        self._apply_edge_detail(int(visible.size))
        if scene is None or visible.size == 0 or visible.size > LABEL_LIMIT:
            self._hide_labels()
            return
        while len(self._labels) < visible.size:
            label = pg.TextItem(color="#2b2f36", anchor=(0.5, -0.35))
            label.setFont(self._label_font)
            label.setZValue(10)
            self.view_box.addItem(label, ignoreBounds=True)
            self._labels.append(label)
        for label, index in zip(self._labels, visible, strict=False):
            label.setText(scene.labels[index])
            label.setPos(float(self.positions[index, 0]), float(self.positions[index, 1]))
            label.show()
        for label in self._labels[visible.size :]:
            label.hide()


_BRUSHES: dict[str, Any] = {}


def _cached_brushes(colours: list[str]) -> list[Any]:
    """One QBrush object per colour: the symbol atlas caches by object identity."""
    out = []
    for colour in colours:
        brush = _BRUSHES.get(colour)
        if brush is None:
            brush = _BRUSHES[colour] = pg.mkBrush(QColor(colour))
        out.append(brush)
    return out
