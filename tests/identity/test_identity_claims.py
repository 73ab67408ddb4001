"""Random claim sets: intervals never overlap and an ASOF join gives resolve()'s answer."""

from __future__ import annotations

import bisect
import random

import pytest
from identity_builders import T0, node, pod

from netsight.identity.claims import Claim, segments, winner_at
from netsight.identity.model import Interval
from netsight.identity.ownership import OwnershipHistory


def asof(intervals: list[Interval], t: float) -> Interval | None:
    """What a SQL ASOF join on valid_from finds for one key at time t."""
    ordered = sorted(intervals, key=lambda i: i.valid_from)
    starts = [i.valid_from for i in ordered]
    index = bisect.bisect_right(starts, t) - 1
    if index < 0:
        return None
    hit = ordered[index]
    return hit if hit.valid_to is None or t < hit.valid_to else None


@pytest.mark.parametrize("seed", range(40))
def test_segments_are_disjoint_and_agree_with_the_winner_rule(seed: int) -> None:
    rng = random.Random(seed)
    claims = []
    for n in range(rng.randint(1, 12)):
        start = float(rng.randint(0, 50))
        end = None if rng.random() < 0.3 else start + rng.randint(-2, 30)
        claims.append(Claim(f"u{n % 5}", start, end, rng.choice([0, 1, 1, 2])))
    result = segments(("10.0.0.1", None), claims)

    starts = [iv.valid_from for iv in result]
    assert starts == sorted(set(starts)), "one row per valid_from"
    for a, b in zip(result, result[1:], strict=False):
        assert a.valid_to is not None and a.valid_to <= b.valid_from
    for step in range(-4, 170):
        t = step / 2
        claim = winner_at(claims, t)
        hit = asof(result, t)
        assert (claim.uid if claim else None) == (hit.owner_uid if hit else None), t


@pytest.mark.parametrize("seed", range(6))
def test_resolve_equals_an_asof_join_with_port_fallback(seed: int) -> None:
    rng = random.Random(seed)
    history = OwnershipHistory()
    history.apply("Node", "ADDED", node("n1", "192.168.9.1", pod_cidrs=["10.9.0.0/24"]), T0)
    ips = [f"10.9.0.{i}" for i in range(1, 5)]
    events = []
    for n in range(30):
        start = T0 + rng.randint(0, 500)
        host = rng.random() < 0.3
        phase = rng.choice(["Running", "Running", "Succeeded"])
        p = pod(
            f"p{n}",
            "192.168.9.1" if host else rng.choice(ips),
            host_ip="192.168.9.1",
            host_network=host,
            ports=[{"containerPort": rng.choice([80, 443])}] if host else None,
            started=start,
            phase=phase,
            finished=start + rng.randint(1, 100) if phase == "Succeeded" else None,
        )
        events.append(("Pod", "ADDED", p, start + 1))
        if rng.random() < 0.5:
            events.append(("Pod", "DELETED", p, start + rng.randint(-50, 200)))
    rng.shuffle(events)
    for kind, event_type, obj, at in events:
        history.apply(kind, event_type, obj, at)

    by_key: dict[tuple[str, int | None], list[Interval]] = {}
    for iv in history.intervals():
        by_key.setdefault((iv.ip, iv.port), []).append(iv)
    owners = history.owners()
    for ip in [*ips, "192.168.9.1"]:
        for port in (None, 80, 443, 22):
            for t in range(int(T0) - 10, int(T0) + 800, 7):
                hit = asof(by_key.get((ip, port), []), t) if port is not None else None
                if hit is None:
                    hit = asof(by_key.get((ip, None), []), t)
                identity = history.resolve(ip, t, port)
                if hit is None:
                    assert identity.uid is None, (ip, port, t)
                else:
                    assert identity.uid == hit.owner_uid, (ip, port, t)
                    assert owners[hit.owner_uid].name == identity.name
