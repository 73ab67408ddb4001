"""Graph exports: GraphML for graph tools (Gephi, yEd, Cytoscape) and node-link JSON.

GraphML only holds strings, numbers and booleans, while the live graph
keeps tuples (ports) and may hold None; this module flattens attributes
on a copy so the view's graph is never changed, and can add the layout's
positions as `x`/`y` so another tool opens the same picture.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import networkx as nx
import numpy as np

logger = logging.getLogger(__name__)

Positions = Mapping[Hashable, Sequence[float]]


def _flat(value: Any) -> str | int | float | bool | None:
    """A GraphML-safe value: lists joined with commas, numpy scalars unwrapped, None dropped."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return ",".join(str(v) for v in items)
    return str(value)


def flattened(graph: nx.Graph, positions: Positions | None = None) -> nx.Graph:
    """A copy of `graph` whose attributes GraphML can hold, with `x`/`y` from `positions`."""
    out = graph.__class__()
    out.graph.update(
        {k: v for k, v in ((k, _flat(v)) for k, v in graph.graph.items()) if v is not None}
    )
    for node, attrs in graph.nodes(data=True):
        flat = {k: v for k, v in ((k, _flat(v)) for k, v in attrs.items()) if v is not None}
        if positions is not None and node in positions:
            flat["x"], flat["y"] = (float(c) for c in positions[node][:2])
        out.add_node(str(node), **flat)
    for u, v, attrs in graph.edges(data=True):
        flat = {k: fv for k, fv in ((k, _flat(x)) for k, x in attrs.items()) if fv is not None}
        out.add_edge(str(u), str(v), **flat)
    return out


def write_graphml(
    graph: nx.Graph, path: str | os.PathLike[str], positions: Positions | None = None
) -> None:
    """Write `graph` as GraphML to `path`."""
    nx.write_graphml(flattened(graph, positions), os.fspath(path))
    logger.info(
        "Wrote %d nodes and %d edges to %s.", graph.number_of_nodes(), graph.number_of_edges(), path
    )


def to_node_link(graph: nx.Graph, positions: Positions | None = None) -> dict[str, Any]:
    """The graph as node-link data (`nodes`, `edges`), JSON-serialisable."""
    data: dict[str, Any] = nx.node_link_data(flattened(graph, positions), edges="edges")
    return data


def write_json(
    graph: nx.Graph, path: str | os.PathLike[str], positions: Positions | None = None
) -> None:
    """Write `graph` as node-link JSON to `path`."""
    with open(path, "w", encoding="utf-8") as out:
        json.dump(to_node_link(graph, positions), out, indent=1, sort_keys=True)
    logger.info(
        "Wrote %d nodes and %d edges to %s.", graph.number_of_nodes(), graph.number_of_edges(), path
    )
