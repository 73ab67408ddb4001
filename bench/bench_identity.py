"""How fast OwnershipHistory takes watch events, and what it holds in memory.

A synthetic cluster at Kubernetes' own limits (150,000 pods on 5,000 nodes)
is fed as watch events: the initial ADDED of everything, then a stream of
MODIFIED status updates and pod churn (delete, and a new pod reusing the
address). Objects are generated one event at a time and dropped after
apply, so the memory growth measured is what identity keeps.

Times are CPU seconds of this process (time.process_time), so that other
work on a shared machine does not count against identity.

Run: .venv/bin/python bench/bench_identity.py [--pods N] [--nodes N]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import logging
import os
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from netsight.identity.ownership import OwnershipHistory

logger = logging.getLogger(__name__)

TARGET_EVENTS_PER_S = 20_000
# The whole inventory (kube cache + identity) must fit in 1.5 GB; identity
# should take a minor share of it.
TARGET_INVENTORY_MB = 1_500
T0 = 1_700_000_000.0

Event = tuple[str, str, dict[str, Any], float]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def ts(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod_ip(index: int, node: int) -> str:
    # 5,000 nodes x /24 fits 10.0.0.0/8 as 10.(node // 256).(node % 256).x
    return f"10.{node // 256 + 64}.{node % 256}.{(index // 5_000) % 250 + 2}"


def make_node(n: int) -> dict[str, Any]:
    return {
        "kind": "Node",
        "metadata": {
            "name": f"node-{n}",
            "uid": f"node-uid-{n}",
            "creationTimestamp": ts(T0 - 86400),
        },
        "spec": {"podCIDR": f"10.{n // 256 + 64}.{n % 256}.0/24"},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": f"172.16.{n // 256}.{n % 256}"},
                {"type": "Hostname", "address": f"node-{n}"},
            ]
        },
    }


def make_pod(i: int, node: int, generation: int, phase: str = "Running") -> dict[str, Any]:
    deploy = i // 30
    started = T0 + generation * 600 + i % 600
    host_network = i % 50 == 0
    ip = f"172.16.{node // 256}.{node % 256}" if host_network else pod_ip(i, node)
    return {
        "kind": "Pod",
        "metadata": {
            "name": f"app-{deploy}-abc-{i}-{generation}",
            "namespace": f"ns-{deploy % 200}",
            "uid": f"pod-uid-{i}-{generation}",
            "creationTimestamp": ts(started - 2),
            "labels": {"app.kubernetes.io/instance": f"app-{deploy}", "pod-template-hash": "abc"},
            "ownerReferences": [
                {
                    "kind": "ReplicaSet",
                    "name": f"app-{deploy}-abc",
                    "uid": f"rs-uid-{deploy}",
                    "controller": True,
                }
            ],
        },
        "spec": {
            "nodeName": f"node-{node}",
            "hostNetwork": host_network,
            "containers": [{"name": "main", "ports": [{"containerPort": 9000 + i % 100}]}],
        },
        "status": {
            "phase": phase,
            "hostIP": f"172.16.{node // 256}.{node % 256}",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": ts(started),
            "containerStatuses": [
                {
                    "name": "main",
                    "ready": True,
                    "restartCount": generation,
                    "state": {"running": {"startedAt": ts(started + 1)}},
                }
            ],
        },
    }


def initial_events(pods: int, nodes: int) -> Iterator[Event]:
    for n in range(nodes):
        yield "Node", "ADDED", make_node(n), T0
    for d in range(pods // 30 + 1):
        ns = f"ns-{d % 200}"
        yield (
            "Deployment",
            "ADDED",
            {
                "kind": "Deployment",
                "metadata": {"name": f"app-{d}", "namespace": ns, "uid": f"dep-uid-{d}"},
            },
            T0,
        )
        yield (
            "ReplicaSet",
            "ADDED",
            {
                "kind": "ReplicaSet",
                "metadata": {
                    "name": f"app-{d}-abc",
                    "namespace": ns,
                    "uid": f"rs-uid-{d}",
                    "ownerReferences": [
                        {
                            "kind": "Deployment",
                            "name": f"app-{d}",
                            "uid": f"dep-uid-{d}",
                            "controller": True,
                        }
                    ],
                },
            },
            T0,
        )
        yield (
            "Service",
            "ADDED",
            {
                "kind": "Service",
                "metadata": {
                    "name": f"app-{d}",
                    "namespace": ns,
                    "uid": f"svc-uid-{d}",
                    "creationTimestamp": ts(T0),
                },
                "spec": {"clusterIP": f"10.96.{d // 250}.{d % 250 + 1}", "ports": [{"port": 80}]},
            },
            T0,
        )
    for i in range(pods):
        yield "Pod", "ADDED", make_pod(i, i % nodes, 0), T0 + 1


def watch_events(pods: int, nodes: int, count: int, seed: int = 7) -> list[Event]:
    """A mix like a busy cluster's watch: mostly status updates, some churn."""
    rng = random.Random(seed)
    generation = dict.fromkeys(range(pods), 0)
    events: list[Event] = []
    now = T0 + 10_000
    while len(events) < count:
        i = rng.randrange(pods)
        g = generation[i]
        now += 0.05
        if rng.random() < 0.8:
            events.append(("Pod", "MODIFIED", make_pod(i, i % nodes, g), now))
        else:
            old = make_pod(i, i % nodes, g)
            old["metadata"]["deletionTimestamp"] = ts(now)
            events.append(("Pod", "DELETED", old, now))
            generation[i] = g + 1
            new = make_pod(i, i % nodes, g + 1)
            new["status"]["startTime"] = ts(now + 1)
            events.append(("Pod", "ADDED", new, now + 1))
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=150_000)
    parser.add_argument("--nodes", type=int, default=5_000)
    parser.add_argument("--watch-events", type=int, default=200_000)
    args = parser.parse_args()

    gc.collect()
    base = rss_mb()
    history = OwnershipHistory()
    # Objects are made in chunks outside the timed part and dropped after
    # apply, so the time is apply() alone and the memory is what identity keeps.
    source = initial_events(args.pods, args.nodes)
    initial_s = 0.0
    count = 0
    while chunk := list(itertools.islice(source, 10_000)):
        started = time.process_time()
        for kind, event_type, obj, at in chunk:
            history.apply(kind, event_type, obj, at)
        initial_s += time.process_time() - started
        count += len(chunk)
        del chunk
    gc.collect()
    held = rss_mb() - base
    verdict = "meets" if count / initial_s >= TARGET_EVENTS_PER_S else "MISSES"
    print(
        f"initial ADDED events: {count:,} in {initial_s:.2f} s CPU = "
        f"{count / initial_s:,.0f} events/s, target >= {TARGET_EVENTS_PER_S:,}: {verdict}"
    )
    print(
        f"memory held by identity for {args.pods:,} pods / {args.nodes:,} nodes: {held:,.0f} MB "
        f"(whole inventory target < {TARGET_INVENTORY_MB:,} MB)"
    )

    # Events are built first so that only apply() is timed.
    events = watch_events(args.pods, args.nodes, args.watch_events)
    started = time.process_time()
    for kind, event_type, obj, at in events:
        history.apply(kind, event_type, obj, at)
    watch_s = time.process_time() - started
    rate = len(events) / watch_s
    verdict = "meets" if rate >= TARGET_EVENTS_PER_S else "MISSES"
    print(
        f"watch events (80% MODIFIED, 20% delete+re-add reusing the IP): {len(events):,} in "
        f"{watch_s:.2f} s CPU = {rate:,.0f} events/s, target >= {TARGET_EVENTS_PER_S:,}: {verdict}"
    )
    del events

    rng = random.Random(3)
    probes = [
        (pod_ip(i, i % args.nodes), T0 + rng.uniform(0, 20_000))
        for i in (rng.randrange(args.pods) for _ in range(100_000))
    ]
    started = time.process_time()
    for ip, at in probes:
        history.resolve(ip, at)
    lookup_s = time.process_time() - started
    print(f"lookups: {len(probes) / lookup_s:,.0f} resolves/s")

    started = time.process_time()
    intervals = history.intervals()
    owners = history.owners()
    print(
        f"intervals() + owners(): {len(intervals):,} intervals, {len(owners):,} owners "
        f"in {time.process_time() - started:.2f} s"
    )
    print(f"state after churn: {history.stats()}")


if __name__ == "__main__":
    main()
