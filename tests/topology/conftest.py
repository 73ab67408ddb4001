"""Rows shaped like the store's `connections(level)` and small graph builders."""

from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np
import pytest


def make_row(
    src: tuple[str, str | None, str],
    dst: tuple[str, str | None, str],
    port: int = 80,
    proto: str = "tcp",
    connections: int = 1,
    sent: int = 100,
    received: int = 1000,
    **extra: Any,
) -> dict[str, Any]:
    """One aggregated row as the store returns it."""
    row = {
        "src_kind": src[0],
        "src_namespace": src[1],
        "src_name": src[2],
        "dst_kind": dst[0],
        "dst_namespace": dst[1],
        "dst_name": dst[2],
        "dst_port": port,
        "proto": proto,
        "connections": connections,
        "bytes_sent": sent,
        "bytes_received": received,
        "first_seen": 1_764_835_200.0,
        "last_seen": 1_764_835_260.0,
    }
    row.update(extra)
    return row


def clustered_graph(n: int, m: int, clusters: int, seed: int) -> nx.Graph:
    """Namespaces-like clusters: 90 % of edges inside a cluster, the rest anywhere."""
    rng = np.random.default_rng(seed)
    order = np.sort(rng.integers(0, clusters, n))  # node i is in cluster order[i]
    starts = np.searchsorted(order, np.arange(clusters))
    sizes = np.bincount(order, minlength=clusters)
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    edges: set[tuple[int, int]] = set()
    while len(edges) < m:
        batch = 2 * (m - len(edges))
        a = rng.integers(n, size=batch)
        inside = starts[order[a]] + (rng.random(batch) * sizes[order[a]]).astype(int)
        b = np.where(rng.random(batch) < 0.9, inside, rng.integers(n, size=batch))
        for u, v in zip(a.tolist(), b.tolist(), strict=True):
            if u != v and len(edges) < m:
                edges.add((min(u, v), max(u, v)))
    graph.add_edges_from(sorted(edges))
    return graph


@pytest.fixture
def row():
    """Builds one aggregated row: row((kind, ns, name), (kind, ns, name), port, ...)."""
    return make_row


@pytest.fixture
def graph_maker():
    """Builds a clustered test graph: graph_maker(n, m, clusters, seed)."""
    return clustered_graph


@pytest.fixture
def shop_rows() -> list[dict[str, Any]]:
    """Pod-level traffic of a small shop: frontend -> checkout -> postgres, plus egress."""
    conn = make_row
    return [
        conn(("Pod", "shop", "frontend-1"), ("Pod", "shop", "checkout-1"), 8080),
        conn(("Pod", "shop", "frontend-2"), ("Pod", "shop", "checkout-1"), 8080),
        conn(("Pod", "shop", "frontend-1"), ("Pod", "shop", "checkout-1"), 9090, sent=5),
        conn(("Pod", "shop", "checkout-1"), ("Pod", "db", "postgres-0"), 5432),
        conn(("Pod", "shop", "checkout-1"), ("External", None, "93.184.216.34"), 443),
        conn(("Pod", "shop", "checkout-1"), ("External", None, "1.1.1.1"), 443),
        conn(("Pod", "shop", "frontend-1"), ("External", None, "10.8.1.20"), 443),
        conn(("Pod", "shop", "frontend-1"), ("External", None, "192.168.1.9"), 53, "udp"),
    ]
