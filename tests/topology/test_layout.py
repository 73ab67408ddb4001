"""The force layout: quality, determinism, calm growth, pinning, cancellation."""

from __future__ import annotations

import threading

import networkx as nx
import numpy as np
import pytest

from netsight.topology.layout import ForceLayout, LayoutSettings, layout_edges


def _edge_lengths(graph: nx.Graph, pos: dict) -> np.ndarray:
    return np.array([np.hypot(*(np.subtract(pos[u], pos[v]))) for u, v in graph.edges()])


def _random_pair_lengths(pos: dict, seed: int = 1, pairs: int = 3000) -> np.ndarray:
    nodes = list(pos)
    rng = np.random.default_rng(seed)
    a = rng.integers(len(nodes), size=pairs)
    b = rng.integers(len(nodes), size=pairs)
    keep = a != b
    return np.array(
        [
            np.hypot(*np.subtract(pos[nodes[i]], pos[nodes[j]]))
            for i, j in zip(a[keep], b[keep], strict=True)
        ]
    )


def test_positions_are_an_array_aligned_with_the_node_order(graph_maker):
    graph = graph_maker(300, 900, clusters=6, seed=2)
    result = ForceLayout().relayout(graph)
    assert result.nodes == list(graph.nodes())
    assert result.positions.shape == (300, 2)
    assert result.positions.dtype == np.float64
    assert np.isfinite(result.positions).all()
    assert not result.cancelled


def test_connected_nodes_end_up_closer_than_random_pairs(graph_maker):
    graph = graph_maker(600, 2400, clusters=8, seed=3)
    pos = ForceLayout().relayout(graph).as_dict()
    assert np.median(_edge_lengths(graph, pos)) < 0.5 * np.median(_random_pair_lengths(pos))


def test_nodes_do_not_pile_up_on_one_spot():
    star = nx.star_graph(400)  # 400 leaves share every distance to every pivot
    result = ForceLayout().relayout(star)
    pos = result.positions
    dist = np.sqrt(((pos[:, None, :] - pos[None, :, :]) ** 2).sum(axis=2))
    np.fill_diagonal(dist, np.inf)
    edge = np.median(_edge_lengths(star, result.as_dict()))
    assert np.mean(dist.min(axis=1) < 0.05 * edge) < 0.01


def test_a_grid_keeps_its_neighbourhoods():
    grid = nx.grid_2d_graph(20, 20)
    pos = ForceLayout().relayout(grid).as_dict()
    edges = _edge_lengths(grid, pos)
    # Springs come out about even: no edge stretched across the picture.
    assert edges.max() < 4 * np.median(edges)
    assert np.median(edges) < 0.2 * np.median(_random_pair_lengths(pos))


def test_same_seed_same_layout_different_seed_different_layout(graph_maker):
    graph = graph_maker(400, 1200, clusters=5, seed=4)
    first = ForceLayout(LayoutSettings(seed=7)).relayout(graph).positions
    again = ForceLayout(LayoutSettings(seed=7)).relayout(graph).positions
    other = ForceLayout(LayoutSettings(seed=8)).relayout(graph).positions
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_components_and_lone_nodes_stay_near_each_other():
    graph = nx.disjoint_union_all([nx.path_graph(30), nx.cycle_graph(20), nx.complete_graph(6)])
    graph.add_nodes_from(range(100, 140))  # lone nodes
    result = ForceLayout().relayout(graph)
    pos = result.positions
    spread = np.ptp(pos, axis=0).max()
    edge = np.median(_edge_lengths(graph, result.as_dict()))
    assert spread < 60 * edge


def _grown(graph: nx.Graph, new: int, seed: int) -> tuple[nx.Graph, list[int]]:
    bigger = graph.copy()
    rng = np.random.default_rng(seed)
    base = max(graph.nodes()) + 1
    added = list(range(base, base + new))
    for node in added:
        bigger.add_edge(node, int(rng.integers(base)))
    return bigger, added


def test_growing_keeps_old_nodes_in_place_and_puts_new_ones_by_their_neighbours(graph_maker):
    graph = graph_maker(800, 2400, clusters=8, seed=5)
    layout = ForceLayout()
    before = layout.relayout(graph).as_dict()
    edge = np.median(_edge_lengths(graph, before))

    bigger, added = _grown(graph, 40, seed=6)
    after = layout.update(bigger).as_dict()

    drift = np.array([np.hypot(*np.subtract(after[n], before[n])) for n in graph])
    assert drift.max() < 0.25 * edge
    assert drift.mean() < 0.05 * edge

    # Each new node has one neighbour: it lands about as close to it as a
    # fresh layout of the grown graph would put it, far closer than chance.
    def gaps(pos: dict) -> float:
        return float(
            np.median([np.hypot(*np.subtract(pos[n], pos[next(iter(bigger[n]))])) for n in added])
        )

    fresh = ForceLayout().relayout(bigger).as_dict()
    assert gaps(after) < 1.5 * gaps(fresh)
    assert gaps(after) < 0.5 * np.median(_random_pair_lengths(after))


def test_an_update_without_changes_moves_nothing(graph_maker):
    graph = graph_maker(200, 600, clusters=4, seed=9)
    layout = ForceLayout()
    first = layout.relayout(graph).positions
    second = layout.update(graph)
    np.testing.assert_array_equal(first, second.positions)
    assert second.iterations == 0


def test_a_new_component_is_placed_beside_the_picture_not_on_it(graph_maker):
    graph = graph_maker(200, 600, clusters=4, seed=10)
    layout = ForceLayout()
    before = layout.relayout(graph).positions
    bigger = graph.copy()
    nx.add_path(bigger, range(1000, 1010))
    after = layout.update(bigger).as_dict()
    island = np.array([after[n] for n in range(1000, 1010)])
    assert island[:, 0].min() > before[:, 0].min()
    assert np.isfinite(island).all()


def test_pinned_nodes_do_not_move_even_on_relayout(graph_maker):
    graph = graph_maker(300, 900, clusters=4, seed=11)
    layout = ForceLayout()
    layout.relayout(graph)
    pinned = {0: (123.0, -45.0), 1: (-10.0, 99.0)}

    bigger, _ = _grown(graph, 30, seed=12)
    grown = layout.update(bigger, pinned=set(pinned), moved=pinned).as_dict()
    again = layout.relayout(bigger, pinned=set(pinned)).as_dict()
    for node, xy in pinned.items():
        assert grown[node] == xy
        assert again[node] == xy


def test_a_dragged_node_keeps_its_new_place_and_the_result_is_a_copy(graph_maker):
    graph = graph_maker(200, 600, clusters=4, seed=15)
    layout = ForceLayout()
    first = layout.relayout(graph)
    first.positions[:] = 0.0  # the view may scribble on its copy

    after = layout.update(graph, moved={5: (1.5, 2.5)}).as_dict()
    assert after[5] == (1.5, 2.5)
    assert after[6] == layout.positions()[6] != (0.0, 0.0)


def test_cancel_stops_between_iterations(graph_maker):
    graph = graph_maker(500, 1500, clusters=5, seed=13)
    calls = 0

    def cancel() -> bool:
        nonlocal calls
        calls += 1
        return calls > 3

    result = ForceLayout(LayoutSettings(iterations=500)).relayout(graph, cancel=cancel)
    assert result.cancelled
    assert result.iterations == 3
    assert np.isfinite(result.positions).all()


def test_cancel_from_another_thread_with_an_event(graph_maker):
    graph = graph_maker(2000, 8000, clusters=10, seed=14)
    stop = threading.Event()
    results = []
    worker = threading.Thread(
        target=lambda: results.append(
            ForceLayout(LayoutSettings(iterations=100_000, settle_tolerance=0.0)).relayout(
                graph, cancel=stop.is_set
            )
        )
    )
    worker.start()
    stop.set()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert results[0].cancelled
    assert results[0].iterations < 100_000


def test_layout_edges_without_networkx():
    edges = np.array([(0, 1), (1, 2), (2, 0), (2, 3), (3, 3)])
    pos = layout_edges(5, edges)
    assert pos.shape == (5, 2)
    assert np.isfinite(pos).all()


@pytest.mark.parametrize("graph", [nx.Graph(), nx.path_graph(1), nx.path_graph(2)], ids=str)
def test_tiny_graphs(graph):
    result = ForceLayout().relayout(graph)
    assert result.positions.shape == (graph.number_of_nodes(), 2)
    assert np.isfinite(result.positions).all()
