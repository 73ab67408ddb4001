"""What the topology view draws, as flat arrays, built from a networkx graph.

pyqtgraph draws fastest from numpy arrays: one array of node positions, one
of edge endpoints. This module turns a graph (nodes carrying `kind`, `label`
and friends; edges carrying `bytes` and `connections`) into those arrays once,
so the view itself only indexes arrays. It has no Qt in it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import networkx as nx

logger = logging.getLogger(__name__)

# Edge weights are shown in a few width classes rather than one width per
# edge: pyqtgraph draws one pen per item, and four items stay fast.
WIDTH_CLASSES_PX: tuple[float, ...] = (1.0, 1.8, 3.0, 4.8)
WEIGHT_KEYS = ("bytes", "connections")


@dataclass(frozen=True)
class GraphScene:
    """Nodes in a fixed order, their attributes, and edges as index pairs."""

    ids: tuple[Hashable, ...]
    kinds: tuple[str, ...]
    labels: tuple[str, ...]
    attrs: tuple[Mapping[str, Any], ...]
    edges: np.ndarray  # (E, 2) int indices into ids
    edge_weights: np.ndarray  # (E,) float, by the chosen weight key
    edge_classes: np.ndarray  # (E,) int index into WIDTH_CLASSES_PX
    node_weights: np.ndarray  # (N,) float, summed weight of a node's edges
    index: Mapping[Hashable, int] = field(default_factory=dict)

    @property
    def node_count(self) -> int:
        return len(self.ids)

    @property
    def edge_count(self) -> int:
        return int(self.edges.shape[0])

    def neighbours(self, i: int) -> np.ndarray:
        """Indices of the nodes joined to node i by an edge (either direction)."""
        if self.edge_count == 0:
            return np.empty(0, dtype=np.int64)
        left = self.edges[self.edges[:, 1] == i, 0]
        right = self.edges[self.edges[:, 0] == i, 1]
        return np.unique(np.concatenate([left, right]))

    def incident_edges(self, i: int) -> np.ndarray:
        if self.edge_count == 0:
            return np.empty(0, dtype=np.int64)
        return np.flatnonzero((self.edges[:, 0] == i) | (self.edges[:, 1] == i))


def _label_for(node: Hashable, data: Mapping[str, Any]) -> str:
    for key in ("label", "name"):
        if data.get(key):
            return str(data[key])
    return str(node)


def weight_classes(weights: np.ndarray) -> np.ndarray:
    """Width class per edge: log-scaled between the lightest and heaviest edge."""
    if weights.size == 0:
        return np.empty(0, dtype=np.int64)
    logs = np.log1p(np.maximum(weights, 0.0))
    low, high = float(logs.min()), float(logs.max())
    if math.isclose(low, high):
        return np.full(weights.shape, 1, dtype=np.int64)
    scaled = (logs - low) / (high - low)
    return np.minimum((scaled * len(WIDTH_CLASSES_PX)).astype(np.int64), len(WIDTH_CLASSES_PX) - 1)


def scene_from_graph(graph: nx.Graph, weight_key: str = "bytes") -> GraphScene:
    """Flatten `graph` for drawing; edge weight from `weight_key` (bytes or connections)."""
    ids = tuple(graph.nodes)
    index = {node: i for i, node in enumerate(ids)}
    kinds = tuple(str(graph.nodes[n].get("kind", "Pod")) for n in ids)
    labels = tuple(_label_for(n, graph.nodes[n]) for n in ids)
    attrs = tuple(dict(graph.nodes[n]) for n in ids)

    pairs: list[tuple[int, int]] = []
    weights: list[float] = []
    for u, v, data in graph.edges(data=True):
        if u == v:
            continue  # a self-loop draws nothing useful at this scale
        pairs.append((index[u], index[v]))
        raw = data.get(weight_key)
        if raw is None:
            raw = data.get("weight", 1.0)
        weights.append(float(raw or 0.0))

    edges = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    edge_weights = np.array(weights, dtype=np.float64)
    node_weights = np.zeros(len(ids), dtype=np.float64)
    if edges.size:
        np.add.at(node_weights, edges[:, 0], edge_weights)
        np.add.at(node_weights, edges[:, 1], edge_weights)
    return GraphScene(
        ids=ids,
        kinds=kinds,
        labels=labels,
        attrs=attrs,
        edges=edges,
        edge_weights=edge_weights,
        edge_classes=weight_classes(edge_weights),
        node_weights=node_weights,
        index=index,
    )


def positions_array(
    scene: GraphScene, positions: Mapping[Hashable, Any] | np.ndarray
) -> np.ndarray:
    """An (N, 2) float array in scene order, from an array or a {node: (x, y)} mapping.

    Nodes missing from a mapping are placed at the centre of the known ones.
    """
    if isinstance(positions, np.ndarray):
        array = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
        if array.shape[0] != scene.node_count:
            raise ValueError(f"{array.shape[0]} positions for {scene.node_count} nodes")
        return array
    known = [positions[n] for n in scene.ids if n in positions]
    centre = np.mean(np.asarray(known, dtype=np.float64), axis=0) if known else np.zeros(2)
    return np.array(
        [positions[n] if n in positions else centre for n in scene.ids], dtype=np.float64
    ).reshape(-1, 2)


def graph_for_export(graph: nx.Graph, scene: GraphScene, positions: np.ndarray) -> nx.Graph:
    """A copy of `graph` that GraphML can hold: scalar attributes plus x/y positions."""
    import networkx as nx

    out = nx.DiGraph() if graph.is_directed() else nx.Graph()

    def scalar(value: Any) -> Any:
        if isinstance(value, bool | int | float | str):
            return value
        if value is None:
            return ""
        if isinstance(value, Mapping):
            return ",".join(f"{k}={v}" for k, v in value.items())
        if isinstance(value, list | tuple | set | frozenset):
            return ",".join(str(v) for v in value)
        return str(value)

    for i, node in enumerate(scene.ids):
        data = {k: scalar(v) for k, v in graph.nodes[node].items()}
        data["x"], data["y"] = float(positions[i, 0]), float(positions[i, 1])
        out.add_node(str(node), **data)
    for u, v, data in graph.edges(data=True):
        out.add_edge(str(u), str(v), **{k: scalar(val) for k, val in data.items()})
    return out
