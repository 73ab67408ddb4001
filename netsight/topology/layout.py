"""A force-directed layout that settles 10,000 nodes in seconds and grows without jumping.

networkx's spring_layout computes every pair of nodes in every iteration and
needs about 100 s for 5,000 nodes on our machines; the map must settle
10,000 nodes / 50,000 edges in under 5 s. This layout gets there in three
steps, all vectorised with numpy/scipy:

1. a good start: each connected component is placed by pivot MDS (BFS
   distances from a few dozen pivots, then the top two singular vectors),
   scaled to where springs and repulsion roughly balance, and components
   are packed side by side;
2. coincident starts (leaves of one hub share their distances to every
   pivot) are spread on a small sunflower so no spot holds hundreds of
   nodes;
3. a few dozen spring-electrical steps: repulsion k^2/d from every node
   at once on an FFT grid (particle-mesh, O(N + G^2 log G)), exact
   repulsion between close pairs (k-d tree), linear springs over the
   sparse edge list, a weak gravity, and a cooling step limit.

Lengths come out in the model's own scale (an edge is typically a few to a
few dozen units at 10,000 nodes); the view fits the picture to the screen.

`ForceLayout` keeps positions between calls: new nodes start at the mean of
their placed neighbours and settle in; their old neighbours move a little
to make room; every other old node and every pinned node stays exactly
where it was. It holds no global state, so each view can run its own
instance in a worker thread; a cancel callback is checked between
iterations.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, shortest_path
from scipy.spatial import cKDTree

logger = logging.getLogger(__name__)

# Pairs of nodes closer than this (in units of the squared ideal edge
# length) are treated as this close, so coincident nodes get a large but
# finite push instead of a division by zero.
_MIN_DISTANCE_SQ = 1e-4
# Components up to this size are placed on a small circle; pivot MDS needs
# enough nodes for its distances to say anything.
_SMALL_COMPONENT = 8
# More repulsion pairs than this many per node means the layout is locally
# far too dense (a bad start); the radius shrinks for that step so the
# step stays linear in the number of nodes.
_MAX_PAIRS_PER_NODE = 20
# Golden angle in radians: consecutive points of a sunflower spiral never
# line up, so spread-out nodes fill a disc evenly.
_GOLDEN_ANGLE = math.pi * (3.0 - math.sqrt(5.0))

CancelCheck = Callable[[], bool]


@dataclass(frozen=True, slots=True)
class LayoutSettings:
    """How the layout behaves; lengths are in layout units."""

    # The spring's rest length and the unit of every other length here.
    edge_length: float = 1.0
    # Refinement steps of a fresh layout; the pivot-MDS start is already
    # close, so a few dozen steps settle it.
    iterations: int = 80
    # Refinement steps after new nodes were added to an existing layout.
    incremental_iterations: int = 30
    # Exact pairwise repulsion acts up to this many edge lengths, below the
    # grid's resolution; the grid covers everything farther away.
    cutoff_edge_lengths: float = 1.5
    # How far an existing node next to a new one may move in an incremental
    # update, as a fraction of a new node's step; other old nodes stay put.
    old_node_mobility: float = 0.005
    # BFS sources for pivot MDS; more pivots cost linear time and give
    # diminishing returns beyond ~50.
    pivots: int = 40
    # New nodes start this far (in edge lengths) from the mean of their
    # placed neighbours, in a random direction, so siblings do not coincide.
    jitter_edge_lengths: float = 0.5
    # Pull towards the middle, in units of edge_length * N^(1/4) (about the
    # outward push on the rim of a spring-electrical layout of N nodes).
    gravity: float = 0.3
    # Stop early once the mean step is below this many edge lengths.
    settle_tolerance: float = 0.01
    seed: int = 0


@dataclass(frozen=True, slots=True)
class LayoutResult:
    """Positions of `nodes` (row i of `positions` is nodes[i]), shape (N, 2), float64."""

    nodes: list[Hashable]
    positions: np.ndarray
    iterations: int
    cancelled: bool
    seconds: float

    def as_dict(self) -> dict[Hashable, tuple[float, float]]:
        return {
            n: (float(x), float(y)) for n, (x, y) in zip(self.nodes, self.positions, strict=True)
        }


# --- graph plumbing --------------------------------------------------------


def _edge_index(graph: nx.Graph, index: Mapping[Hashable, int]) -> tuple[np.ndarray, np.ndarray]:
    """Undirected, de-duplicated edge endpoints as index arrays, self-loops dropped."""
    if graph.number_of_edges() == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    pairs = np.fromiter(
        (i for u, v in graph.edges() for i in (index[u], index[v])),
        dtype=np.int64,
        count=2 * graph.number_of_edges(),
    ).reshape(-1, 2)
    pairs.sort(axis=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    pairs = np.unique(pairs, axis=0)
    return pairs[:, 0].copy(), pairs[:, 1].copy()


def _adjacency(n: int, src: np.ndarray, dst: np.ndarray) -> sp.csr_matrix:
    ones = np.ones(2 * len(src))
    rows = np.concatenate([src, dst])
    cols = np.concatenate([dst, src])
    return sp.csr_matrix((ones, (rows, cols)), shape=(n, n))


# --- start placement -------------------------------------------------------


def _pivot_mds(adj: sp.csr_matrix, pivots: int, rng: np.random.Generator) -> np.ndarray:
    """Place one connected component by pivot MDS; returns (n, 2) in hop units."""
    n = adj.shape[0]
    k = min(pivots, n)

    # Farthest-first pivots: each new pivot is the node farthest from all
    # chosen ones, so the pivots span the component.
    dist = np.empty((k, n))
    nearest = np.full(n, np.inf)
    pivot = int(rng.integers(n))
    for i in range(k):
        dist[i] = shortest_path(adj, directed=False, unweighted=True, indices=pivot)
        nearest = np.minimum(nearest, dist[i])
        pivot = int(np.argmax(nearest))

    # Double-centre the squared distances and take the two strongest axes.
    sq = dist.T**2
    sq -= sq.mean(axis=0, keepdims=True)
    sq -= sq.mean(axis=1, keepdims=True)
    u, s, _ = np.linalg.svd(-0.5 * sq, full_matrices=False)
    coords = u[:, :2] * s[:2]
    if coords.shape[1] < 2:
        coords = np.column_stack([coords, np.zeros(n)])
    return coords


def _spread_coincident(pos: np.ndarray, spacing: float) -> np.ndarray:
    """Move nodes that share a spot (to within `spacing`) onto a sunflower around it."""
    if len(pos) < 2:
        return pos
    cells = np.floor(pos / spacing).astype(np.int64)
    _, group, counts = np.unique(cells, axis=0, return_inverse=True, return_counts=True)
    group = group.ravel()
    if counts.max() <= 1:
        return pos
    order = np.argsort(group, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(len(pos), dtype=np.int64)
    rank[order] = np.arange(len(pos)) - starts[group[order]]
    radius = spacing * np.sqrt(rank)
    angle = rank * _GOLDEN_ANGLE
    return pos + np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])


def _small_component_layout(n: int, length: float) -> np.ndarray:
    """A lone node at the origin, or a few nodes on a circle around it."""
    if n == 1:
        return np.zeros((1, 2))
    angle = 2 * math.pi * np.arange(n) / n
    radius = length * max(0.5, n / (2 * math.pi))
    return np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])


def _component_layout(
    adj: sp.csr_matrix, settings: LayoutSettings, rng: np.random.Generator
) -> np.ndarray:
    """Start positions of one connected component, centred on the origin."""
    n = adj.shape[0]
    length = settings.edge_length
    if n <= _SMALL_COMPONENT:
        return _small_component_layout(n, length)

    pos = _pivot_mds(adj, settings.pivots, rng) * length
    pos -= pos.mean(axis=0)

    # Pivot MDS of a small-world graph fits thousands of nodes in a few
    # hops: scale the picture to where springs and repulsion balance, but
    # no wider than a disc of about one edge length per node (long chains
    # would otherwise start stretched into lines they cannot fold out of).
    pos = _spread_coincident(pos, 0.25 * length)
    coo = sp.triu(adj).tocoo()
    spring = float(((pos[coo.row] - pos[coo.col]) ** 2).sum())
    radius = math.sqrt(float((pos**2).sum(axis=1).mean()))
    if spring > 0 and radius > 0:
        balanced = length * math.sqrt(n * (n - 1) / 2 / spring)
        pos *= min(balanced, length * math.sqrt(n) / radius)
    return pos - pos.mean(axis=0)


def _packed_components(
    n: int, src: np.ndarray, dst: np.ndarray, settings: LayoutSettings, rng: np.random.Generator
) -> np.ndarray:
    """Start positions for all nodes: every component laid out, then packed in rows."""
    pos = np.zeros((n, 2))
    if n == 0:
        return pos
    adj = _adjacency(n, src, dst)
    count, labels = connected_components(adj, directed=False)
    members = np.argsort(labels, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(labels, minlength=count))])
    groups = [members[bounds[c] : bounds[c + 1]] for c in range(count)]
    groups.sort(key=lambda g: (-len(g), int(g[0])))

    # Lay out each component, then shelf-pack their bounding boxes so that
    # the largest sits first and the rows are about as wide as the total.
    gap = settings.edge_length * settings.cutoff_edge_lengths
    boxes = []
    small: dict[int, np.ndarray] = {}
    for nodes in groups:
        if len(nodes) <= _SMALL_COMPONENT:
            # Thousands of lone nodes are common; their shape needs no edges.
            if len(nodes) not in small:
                small[len(nodes)] = _small_component_layout(len(nodes), settings.edge_length)
            local = small[len(nodes)]
        else:
            local = _component_layout(adj[nodes][:, nodes].tocsr(), settings, rng)
        low = local.min(axis=0)
        boxes.append((nodes, local - low, local.max(axis=0) - low))
    total_area = sum(float((size[0] + gap) * (size[1] + gap)) for _, _, size in boxes)
    row_width = max(math.sqrt(total_area), float(boxes[0][2][0]) + gap)
    x = y = row_height = 0.0
    for nodes, local, size in boxes:
        if x > 0 and x + size[0] > row_width:
            x, y, row_height = 0.0, y + row_height + gap, 0.0
        pos[nodes] = local + (x, y)
        x += float(size[0]) + gap
        row_height = max(row_height, float(size[1]))
    return pos - pos.mean(axis=0)


# --- refinement -------------------------------------------------------------


class _GridRepulsion:
    """Repulsion from every node at once, computed on a grid with FFTs (particle-mesh).

    Each node's unit charge is shared among the four grid points around it;
    the field of all charges is the convolution of that grid with the
    kernel of a k^2/d push, done as a product of FFTs on a zero-padded grid
    (so nothing wraps around); each node reads the field back from the same
    four points, which makes a node's push on itself cancel exactly.
    Cost per step is O(N + G^2 log G) whatever the density.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        padded = 2 * size
        offset = (np.arange(padded) + size) % padded - size
        dx, dy = np.meshgrid(offset, offset, indexing="ij")
        dist_sq = (dx * dx + dy * dy).astype(float)
        dist_sq[0, 0] = 1.0
        self._kx = np.fft.rfft2(np.where(dist_sq > 0, dx / dist_sq, 0.0))
        self._ky = np.fft.rfft2(np.where(dist_sq > 0, dy / dist_sq, 0.0))

    def __call__(self, pos: np.ndarray, strength: float) -> np.ndarray:
        size = self.size
        padded = 2 * size
        low = pos.min(axis=0)
        span = float((pos.max(axis=0) - low).max())
        cell = max(span, 1e-9) / (size - 1.001)

        # Share each node among its four surrounding grid points.
        grid_pos = (pos - low) / cell
        corner = np.minimum(np.floor(grid_pos).astype(np.int64), size - 2)
        frac = grid_pos - corner
        flat = corner[:, 0] * padded + corner[:, 1]
        corners = (flat, flat + padded, flat + 1, flat + padded + 1)
        weights = (
            (1 - frac[:, 0]) * (1 - frac[:, 1]),
            frac[:, 0] * (1 - frac[:, 1]),
            (1 - frac[:, 0]) * frac[:, 1],
            frac[:, 0] * frac[:, 1],
        )
        charge = np.zeros(padded * padded)
        for where, weight in zip(corners, weights, strict=True):
            charge += np.bincount(where, weight, minlength=padded * padded)
        spectrum = np.fft.rfft2(charge.reshape(padded, padded))

        # Field on the grid, then read back at the nodes.
        force = np.zeros_like(pos)
        for axis, kernel in enumerate((self._kx, self._ky)):
            field = np.fft.irfft2(spectrum * kernel, s=(padded, padded)).ravel()
            for where, weight in zip(corners, weights, strict=True):
                force[:, axis] += weight * field[where]
        return force * (strength / cell)


def _grid_size(n: int) -> int:
    """Grid points per side: about two nodes per cell, within FFT-friendly bounds."""
    return int(min(256, max(32, 2 ** math.ceil(math.log2(math.sqrt(n / 2) + 1)))))


class _NearPairs:
    """Pairs of nodes closer than a radius, each once, at least one end movable.

    When only a few nodes move (an incremental update), the k-d tree of the
    fixed nodes is built once and only the movers are queried each step.
    """

    def __init__(self, pos: np.ndarray, movable: np.ndarray) -> None:
        self.active = np.flatnonzero(movable)
        self.partial = len(self.active) < 0.25 * len(pos)
        if self.partial:
            self.fixed = np.flatnonzero(~movable)
            self.fixed_tree = cKDTree(pos[self.fixed]) if len(self.fixed) else None

    def __call__(self, pos: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
        if not self.partial:
            pairs = cKDTree(pos).query_pairs(radius, output_type="ndarray")
            return pairs[:, 0], pairs[:, 1]
        moving = pos[self.active]
        pairs = cKDTree(moving).query_pairs(radius, output_type="ndarray")
        firsts, seconds = [self.active[pairs[:, 0]]], [self.active[pairs[:, 1]]]
        if self.fixed_tree is not None:
            near = self.fixed_tree.query_ball_point(moving, radius)
            counts = np.fromiter((len(x) for x in near), dtype=np.int64, count=len(near))
            if counts.sum():
                firsts.append(np.repeat(self.active, counts))
                seconds.append(self.fixed[np.concatenate(near).astype(np.int64)])
        return np.concatenate(firsts), np.concatenate(seconds)


def _refine(
    pos: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    mobility: np.ndarray,
    settings: LayoutSettings,
    iterations: int,
    start_step: float,
    cancel: CancelCheck | None,
) -> tuple[int, bool]:
    """Spring-electrical steps, in place; returns (steps done, cancelled).

    Repulsion k^2/d comes from the grid (all nodes, smoothed over about a
    cell) plus exact pairs within the cutoff (so close nodes do not
    overlap); springs pull along edges with force d; a weak gravity holds
    components together. Each node moves along its force by at most the
    current step times its mobility (0 = does not move).
    """
    n = len(pos)
    length = settings.edge_length
    length_sq = length * length
    cutoff = length * settings.cutoff_edge_lengths
    end_step = 0.05 * length
    movable = mobility > 0
    if n < 2 or not movable.any():
        return 0, False
    grid = _GridRepulsion(_grid_size(n))
    gravity = settings.gravity * length * n**0.25
    near_pairs = _NearPairs(pos, movable)
    # Springs between two fixed nodes cannot move anything.
    live = movable[src] | movable[dst]
    src, dst = src[live], dst[live]

    for step_no in range(iterations):
        if cancel is not None and cancel():
            return step_no, True
        # Geometric cooling from start_step to end_step.
        frac = step_no / max(1, iterations - 1)
        max_step = start_step * (end_step / start_step) ** frac

        # Far repulsion from the grid.
        force = grid(pos, length_sq)

        # Near repulsion, exact, fading out at the cutoff.
        radius = cutoff
        i, j = near_pairs(pos, radius)
        if len(i) > _MAX_PAIRS_PER_NODE * n:
            radius *= math.sqrt(_MAX_PAIRS_PER_NODE * n / len(i))
            i, j = near_pairs(pos, radius)
        if len(i):
            delta = pos[i] - pos[j]
            dist_sq = np.maximum((delta**2).sum(axis=1), _MIN_DISTANCE_SQ * length_sq)
            fade = np.clip(1.0 - dist_sq / (radius * radius), 0.0, 1.0)
            push = delta * (length_sq * fade / dist_sq)[:, None]
            for axis in range(2):
                force[:, axis] += np.bincount(i, push[:, axis], minlength=n)
                force[:, axis] -= np.bincount(j, push[:, axis], minlength=n)

        # Gravity: a constant pull towards the middle (linear near it) keeps
        # separate components and lone nodes from drifting apart for ever.
        centre = pos.mean(axis=0)
        offset = pos - centre
        radius_of = np.sqrt((offset**2).sum(axis=1))
        core = max(float(np.sqrt((radius_of**2).mean())), length)
        force -= offset * (gravity / np.maximum(radius_of, core))[:, None]

        # Springs: force d along each edge.
        if len(src):
            pull = pos[src] - pos[dst]
            for axis in range(2):
                force[:, axis] -= np.bincount(src, pull[:, axis], minlength=n)
                force[:, axis] += np.bincount(dst, pull[:, axis], minlength=n)

        # Move each node along its force, at most max_step times its mobility.
        norm = np.sqrt((force**2).sum(axis=1))
        limit = max_step * mobility
        scale = np.where(norm > 0, np.minimum(norm, limit) / np.maximum(norm, 1e-300), 0.0)
        move = force * scale[:, None]
        pos += move
        mean_move = float(np.sqrt((move[movable] ** 2).sum(axis=1)).mean())
        if frac > 0.3 and mean_move < settings.settle_tolerance * length:
            return step_no + 1, False
    return iterations, False


def _typical_edge(
    pos: np.ndarray, src: np.ndarray, dst: np.ndarray, among: np.ndarray, default: float
) -> float:
    """Median length of the edges between `among` nodes: the scale a grown layout keeps."""
    both = among[src] & among[dst]
    if not both.any():
        return default
    lengths = np.sqrt(((pos[src[both]] - pos[dst[both]]) ** 2).sum(axis=1))
    return max(float(np.median(lengths)), default)


def _fresh_start_step(pos: np.ndarray, settings: LayoutSettings) -> float:
    """First step of a fresh layout: a tenth of the picture's radius, so folds can unfold."""
    if len(pos) == 0:
        return settings.edge_length
    radius = float(np.sqrt(((pos - pos.mean(axis=0)) ** 2).sum(axis=1).mean()))
    return max(2.0 * settings.edge_length, 0.1 * radius)


# --- public API ----------------------------------------------------------------


class ForceLayout:
    """Positions for one view's graph, kept between updates so the picture grows calmly.

    Call `update` (or `relayout`) from a worker thread with the current graph;
    it returns a `LayoutResult` whose arrays the view can copy in one go.
    Dragged nodes come in through `moved` and stay put while pinned. One
    instance serves one view; concurrent calls are serialised by a lock.
    """

    def __init__(self, settings: LayoutSettings | None = None) -> None:
        self.settings = settings or LayoutSettings()
        self._lock = threading.Lock()
        self._known: dict[Hashable, np.ndarray] = {}
        self._rng = np.random.default_rng(self.settings.seed)

    def positions(self) -> dict[Hashable, tuple[float, float]]:
        """Every position this layout remembers, including nodes no longer shown."""
        with self._lock:
            return {n: (float(p[0]), float(p[1])) for n, p in self._known.items()}

    def update(
        self,
        graph: nx.Graph,
        pinned: Collection[Hashable] = frozenset(),
        moved: Mapping[Hashable, Sequence[float]] | None = None,
        cancel: CancelCheck | None = None,
    ) -> LayoutResult:
        """Place new nodes near their neighbours and let them settle; old nodes barely move."""
        return self._run(graph, pinned, moved, cancel, fresh=False)

    def relayout(
        self,
        graph: nx.Graph,
        pinned: Collection[Hashable] = frozenset(),
        moved: Mapping[Hashable, Sequence[float]] | None = None,
        cancel: CancelCheck | None = None,
    ) -> LayoutResult:
        """Lay the whole graph out again; only pinned nodes keep their place."""
        return self._run(graph, pinned, moved, cancel, fresh=True)

    def _run(
        self,
        graph: nx.Graph,
        pinned: Collection[Hashable],
        moved: Mapping[Hashable, Sequence[float]] | None,
        cancel: CancelCheck | None,
        fresh: bool,
    ) -> LayoutResult:
        started = time.perf_counter()
        with self._lock:
            for node, xy in (moved or {}).items():
                self._known[node] = np.asarray(xy, dtype=float)[:2].copy()
            nodes = list(graph.nodes())
            index = {node: i for i, node in enumerate(nodes)}
            src, dst = _edge_index(graph, index)
            pinned_mask = np.fromiter((n in pinned for n in nodes), dtype=bool, count=len(nodes))
            pinned_mask &= np.fromiter(
                (n in self._known for n in nodes), dtype=bool, count=len(nodes)
            )

            if fresh or not self._known:
                pos, steps, cancelled = self._fresh(nodes, src, dst, pinned_mask, cancel)
            else:
                pos, steps, cancelled = self._grow(nodes, src, dst, pinned_mask, cancel)

            for node, xy in zip(nodes, pos, strict=True):
                self._known[node] = xy
            self._forget_stale(len(nodes))
        seconds = time.perf_counter() - started
        logger.debug(
            "Laid out %d nodes / %d edges in %.2f s (%d steps%s).",
            len(nodes),
            len(src),
            seconds,
            steps,
            ", cancelled" if cancelled else "",
        )
        # The caller gets its own array: changing it must not move remembered nodes.
        return LayoutResult(nodes, pos.copy(), steps, cancelled, seconds)

    def _fresh(
        self,
        nodes: list[Hashable],
        src: np.ndarray,
        dst: np.ndarray,
        pinned_mask: np.ndarray,
        cancel: CancelCheck | None,
    ) -> tuple[np.ndarray, int, bool]:
        settings = self.settings
        rng = np.random.default_rng(settings.seed)
        pos = _packed_components(len(nodes), src, dst, settings, rng)
        if pinned_mask.any():
            # Keep the new picture where the pinned nodes are, then pin them.
            pinned_pos = np.array([self._known[nodes[i]] for i in np.flatnonzero(pinned_mask)])
            pos += pinned_pos.mean(axis=0) - pos[pinned_mask].mean(axis=0)
            pos[pinned_mask] = pinned_pos
        mobility = np.where(pinned_mask, 0.0, 1.0)
        start_step = _fresh_start_step(pos, settings)
        steps, cancelled = _refine(
            pos, src, dst, mobility, settings, settings.iterations, start_step, cancel
        )
        return pos, steps, cancelled

    def _grow(
        self,
        nodes: list[Hashable],
        src: np.ndarray,
        dst: np.ndarray,
        pinned_mask: np.ndarray,
        cancel: CancelCheck | None,
    ) -> tuple[np.ndarray, int, bool]:
        settings = self.settings
        n = len(nodes)
        known = np.fromiter((node in self._known for node in nodes), dtype=bool, count=n)
        pos = np.zeros((n, 2))
        for i in np.flatnonzero(known):
            pos[i] = self._known[nodes[i]]
        if known.all():
            # Nothing new: nothing to settle; old and dragged nodes stay where they are.
            return pos, 0, False

        placed = known.copy()
        adj = _adjacency(n, src, dst)
        unit = _typical_edge(pos, src, dst, known, settings.edge_length)
        jitter = settings.jitter_edge_lengths * unit

        # Place new nodes next to placed neighbours, ring after ring, so a
        # chain of new nodes grows outwards from the old picture.
        while True:
            counts = adj @ placed.astype(float)
            ready = ~placed & (counts > 0)
            if not ready.any():
                break
            sums = adj @ (pos * placed[:, None])
            idx = np.flatnonzero(ready)
            angle = self._rng.uniform(0, 2 * math.pi, len(idx))
            offset = jitter * np.column_stack([np.cos(angle), np.sin(angle)])
            pos[idx] = sums[idx] / counts[idx, None] + offset
            placed[idx] = True

        # New nodes with no placed neighbour form new components: lay them
        # out on their own and put them beside the existing picture.
        rest = np.flatnonzero(~placed)
        if len(rest):
            remap = np.full(n, -1)
            remap[rest] = np.arange(len(rest))
            keep = (remap[src] >= 0) & (remap[dst] >= 0)
            local = _packed_components(
                len(rest), remap[src[keep]], remap[dst[keep]], settings, self._rng
            )
            if placed.any():
                low, high = pos[placed].min(axis=0), pos[placed].max(axis=0)
                gap = settings.cutoff_edge_lengths * settings.edge_length
                local += (high[0] + gap - local[:, 0].min(), low[1] - local[:, 1].min())
            pos[rest] = local

        # New nodes move freely; old nodes next to them may make a little
        # room; every other old node and every pinned one stays exactly put.
        is_new = (~known).astype(float)
        touches_new = (adj @ is_new) > 0
        mobility = np.where(known, 0.0, 1.0)
        mobility[known & touches_new] = settings.old_node_mobility
        mobility[pinned_mask] = 0.0
        start_step = 2.0 * unit
        steps, cancelled = _refine(
            pos, src, dst, mobility, settings, settings.incremental_iterations, start_step, cancel
        )
        return pos, steps, cancelled

    def _forget_stale(self, shown: int) -> None:
        """Drop remembered positions of long-gone nodes once they outnumber the shown ones."""
        if len(self._known) > 4 * shown + 10_000:
            excess = len(self._known) - (2 * shown + 10_000)
            for node in list(self._known)[:excess]:
                del self._known[node]


def layout_edges(
    n: int,
    edges: Iterable[tuple[int, int]] | np.ndarray,
    settings: LayoutSettings | None = None,
    cancel: CancelCheck | None = None,
) -> np.ndarray:
    """Fresh positions (n, 2) for nodes 0..n-1 joined by `edges`; no networkx needed."""
    settings = settings or LayoutSettings()
    arr = np.asarray(list(edges) if not isinstance(edges, np.ndarray) else edges, dtype=np.int64)
    arr = arr.reshape(-1, 2)
    arr = np.sort(arr, axis=1)
    arr = np.unique(arr[arr[:, 0] != arr[:, 1]], axis=0)
    rng = np.random.default_rng(settings.seed)
    src, dst = arr[:, 0].copy(), arr[:, 1].copy()
    pos = _packed_components(n, src, dst, settings, rng)
    start_step = _fresh_start_step(pos, settings)
    _refine(pos, src, dst, np.ones(n), settings, settings.iterations, start_step, cancel)
    return pos
