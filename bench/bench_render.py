"""Topology rendering speed: pan/zoom frames per second and a full position update.

Targets (docs/DESIGN.md): 10,000 nodes / 50,000 edges pan and zoom at >= 30
frames per second; a position update of the whole graph in < 30 ms. Edges join
near neighbours, as a settled force layout does (random long edges across the
whole canvas are a picture no layout produces). Runs on the platform Qt is
given: QT_QPA_PLATFORM=offscreen, or xcb under Xvfb (DISPLAY=:99).

    .venv/bin/python bench/bench_render.py [--nodes N] [--edges E] [--frames F]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import networkx as nx
import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

FPS_TARGET = 30.0
UPDATE_TARGET_MS = 30.0


def build_graph(nodes: int, edges: int, seed: int = 7) -> tuple[nx.Graph, np.ndarray]:
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    positions = rng.uniform(0, 100 * np.sqrt(nodes / 100), size=(nodes, 2))
    # k-nearest pairs repeat (a is near b and b near a): ask for twice as many.
    per_node = max(1, int(np.ceil(2.2 * edges / nodes)))
    _, neighbours = cKDTree(positions).query(positions, k=per_node + 1)
    graph = nx.Graph()
    kinds = ("Pod", "Workload", "Service", "External", "Node")
    for i in range(nodes):
        graph.add_node(i, kind=kinds[i % len(kinds)], label=f"node-{i}")
    src = np.repeat(np.arange(nodes), per_node)
    dst = neighbours[:, 1:].reshape(-1)
    weights = rng.lognormal(8, 2, size=src.size)
    for u, v, w in zip(src.tolist(), dst.tolist(), weights.tolist(), strict=True):
        if graph.number_of_edges() >= edges:
            break
        graph.add_edge(u, v, bytes=w, connections=1)
    return graph, positions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--edges", type=int, default=50_000)
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args()

    from PySide6.QtWidgets import QApplication

    from netsight.ui.graph_scene import scene_from_graph
    from netsight.ui.topology_view import TopologyView

    app = QApplication([])
    graph, positions = build_graph(args.nodes, args.edges)
    scene = scene_from_graph(graph)
    view = TopologyView()
    view.resize(1400, 900)
    view.show()
    started = time.perf_counter()
    view.set_graph(scene, positions)
    view.viewport().grab()
    app.processEvents()
    first = time.perf_counter() - started

    # Pan and zoom: each frame moves the view, then renders the viewport.
    frame_times = []
    for frame in range(args.frames):
        begin = time.perf_counter()
        if frame % 2:
            view.view_box.scaleBy((0.97, 0.97) if frame % 4 == 1 else (1 / 0.97, 1 / 0.97))
        else:
            view.view_box.translateBy((3.0, 2.0))
        view.viewport().grab()
        frame_times.append(time.perf_counter() - begin)
    fps = 1.0 / statistics.median(frame_times)

    # Position updates: the whole graph moves (a layout step), then one frame.
    jitter = np.random.default_rng(3).normal(scale=0.5, size=positions.shape)
    updates, drawn = [], []
    for step in range(20):
        begin = time.perf_counter()
        view.set_positions(positions + jitter * (step % 3))
        updates.append(time.perf_counter() - begin)
        view.viewport().grab()
        drawn.append(time.perf_counter() - begin)
    update_ms = statistics.median(updates) * 1000
    drawn_ms = statistics.median(drawn) * 1000

    platform = app.platformName()
    print(f"platform {platform}: {scene.node_count:,} nodes, {scene.edge_count:,} edges")
    print(f"first draw          {first * 1000:8.1f} ms")
    print(
        f"pan/zoom            {fps:8.1f} fps   (target >= {FPS_TARGET:.0f})"
        f"  {'OK' if fps >= FPS_TARGET else 'BELOW TARGET'}"
    )
    print(
        f"position update     {update_ms:8.1f} ms    (target < {UPDATE_TARGET_MS:.0f})"
        f"  {'OK' if update_ms < UPDATE_TARGET_MS else 'ABOVE TARGET'}"
    )
    print(f"update + next frame {drawn_ms:8.1f} ms")
    view.close()


if __name__ == "__main__":
    main()
