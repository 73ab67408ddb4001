"""Claims on one address key, and the non-overlapping intervals they add up to.

Kubernetes does not promise that two objects never list the same IP at the
same time: a finished Job pod keeps its `podIP`, deletes arrive late, a
Service's externalIP can be a node's address. Each object therefore makes
*claims* `(owner, start, end)` on a key `(ip, port)`, and one rule turns
overlapping claims into one owner per instant:

    among the claims active at t (start <= t < end), the one with the
    highest rank wins; among equal ranks the latest start wins; then the
    claim that lasts longer (an open claim beats a closed one), then the
    owner uid, so there is never a tie.

The rule depends only on the set of claims, not on the order events
arrived in, so replaying a timeline in any order gives the same history.
`segments()` cuts the winners into intervals that never overlap, which is
what makes an ASOF join on `(ip, port, valid_from)` exact.
"""

from __future__ import annotations

import heapq
import logging
import math

from netsight.identity.model import Interval, OwnerUid

logger = logging.getLogger(__name__)

# A key is an address, optionally narrowed to one port (hostNetwork pods and
# Services reached on a node's address own single ports; everything else
# owns the whole address and uses port None).
Key = tuple[str, int | None]

# Ranks: a node's own address outranks a Service externalIP or an
# API-server endpoint that happens to be the same address; the API server
# ranks lowest because its endpoints name the node when one matches.
RANK_APISERVER = 0
RANK_OBJECT = 1
RANK_NODE = 2


class Claim:
    """`uid` claims a key from `start` until `end` (None while it lasts)."""

    __slots__ = ("uid", "start", "end", "rank")

    def __init__(self, uid: str, start: float, end: float | None, rank: int) -> None:
        self.uid = uid
        self.start = start
        self.end = end
        self.rank = rank

    def active_at(self, t: float) -> bool:
        return self.start <= t and (self.end is None or t < self.end)

    def order(self) -> tuple[int, float, float, str]:
        """Sort key of the winning rule: greater wins."""
        return (self.rank, self.start, math.inf if self.end is None else self.end, self.uid)

    def is_empty(self) -> bool:
        return self.end is not None and self.end <= self.start

    def __repr__(self) -> str:
        return f"Claim({self.uid!r}, {self.start}, {self.end}, rank={self.rank})"


def winner_at(claims: list[Claim], t: float) -> Claim | None:
    """The claim that owns the key at time t, or None."""
    best: Claim | None = None
    best_order: tuple[int, float, float, str] | None = None
    for claim in claims:
        if claim.start <= t and (claim.end is None or t < claim.end):
            order = claim.order()
            if best_order is None or order > best_order:
                best, best_order = claim, order
    return best


def segments(key: Key, claims: list[Claim]) -> list[Interval]:
    """Non-overlapping intervals of winners for one key, sorted by start."""
    ip, port = key
    live = [c for c in claims if not c.is_empty()]
    if not live:
        return []
    if len(live) == 1:
        c = live[0]
        return [Interval(ip, port, OwnerUid(c.uid), c.start, c.end)]

    # Sweep the instants where some claim starts or ends; between two of
    # them the winner cannot change. A heap ordered by the winning rule
    # holds the started claims; ended ones are dropped lazily from its top.
    ranked = sorted(live, key=Claim.order)
    priority = {id(c): i for i, c in enumerate(ranked)}
    points = sorted({c.start for c in live} | {c.end for c in live if c.end is not None})
    by_start = sorted(live, key=lambda c: c.start)
    heap: list[tuple[int, int]] = []
    pending = 0
    pieces: list[tuple[float, str | None]] = []
    for point in points:
        while pending < len(by_start) and by_start[pending].start <= point:
            c = by_start[pending]
            heapq.heappush(heap, (-priority[id(c)], pending))
            pending += 1
        while heap:
            top = by_start[heap[0][1]]
            if top.end is not None and top.end <= point:
                heapq.heappop(heap)
            else:
                break
        uid = by_start[heap[0][1]].uid if heap else None
        pieces.append((point, uid))

    # Merge neighbouring pieces of the same owner; a None piece is a gap.
    result: list[Interval] = []
    current_uid: str | None = None
    current_start = 0.0
    for point, uid in pieces:
        if uid == current_uid:
            continue
        if current_uid is not None:
            result.append(Interval(ip, port, OwnerUid(current_uid), current_start, point))
        current_uid, current_start = uid, point
    if current_uid is not None:
        result.append(Interval(ip, port, OwnerUid(current_uid), current_start, None))
    return result
