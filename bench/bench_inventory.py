"""Benchmark: initial inventory of a huge cluster, and watch events applied per second.

Targets (DESIGN.md): 150,000 pods on 5,000 nodes listed into a complete
inventory in < 15 s using < 1.5 GB; >= 20,000 watch events applied per second.

The simulated API server runs in a child process, so the peak memory printed
is the inventory's own (the parent's max RSS). Run:

    .venv/bin/python bench/bench_inventory.py [--pods 150000] [--nodes 5000]
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import resource
import sys
import tempfile
import time
import uuid
from typing import Any

logger = logging.getLogger(__name__)

TARGET_LIST_S = 15.0
TARGET_RSS_MB = 1500.0
TARGET_EVENTS_PER_S = 20_000.0


def make_node(i: int) -> dict[str, Any]:
    name = f"node-{i:05d}"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": str(uuid.UUID(int=i + 1)),
            "resourceVersion": "1",
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "node.kubernetes.io/instance-type": "m5.xlarge",
                "topology.kubernetes.io/zone": f"zone-{i % 3}",
            },
        },
        "spec": {
            "podCIDR": f"10.{64 + i // 256}.{i % 256}.0/24",
            "podCIDRs": [f"10.{64 + i // 256}.{i % 256}.0/24"],
        },
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": f"172.16.{i // 256}.{i % 256}"},
                {"type": "Hostname", "address": name},
            ],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "lastHeartbeatTime": "2025-01-01T00:00:00Z",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready",
                }
            ],
            "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
        },
    }


def make_pod(i: int, nodes: int) -> dict[str, Any]:
    node = i % nodes
    ns = f"team-{i % 200:03d}"
    app = f"app-{i % 5000:04d}"
    rs = f"{app}-7d9f8c6b5"
    name = f"{rs}-{i:06d}"
    ip = f"10.{64 + node // 256}.{node % 256}.{2 + (i // nodes) % 250}"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": str(uuid.UUID(int=10_000_000 + i)),
            "resourceVersion": "1",
            "creationTimestamp": "2025-01-01T00:00:00Z",
            "labels": {
                "app.kubernetes.io/name": app,
                "app.kubernetes.io/instance": app,
                "pod-template-hash": "7d9f8c6b5",
            },
            "annotations": {"meta.helm.sh/release-name": app},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": rs,
                    "uid": str(uuid.UUID(int=20_000_000 + i % 5000)),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "nodeName": f"node-{node:05d}",
            "serviceAccountName": "default",
            "containers": [
                {
                    "name": "main",
                    "image": f"registry.example.com/{app}:1.2.3",
                    "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                }
            ],
        },
        "status": {
            "phase": "Running",
            "hostIP": f"172.16.{node // 256}.{node % 256}",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": "2025-01-01T00:00:01Z",
            "conditions": [
                {"type": t, "status": "True", "lastTransitionTime": "2025-01-01T00:00:02Z"}
                for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
            "containerStatuses": [
                {
                    "name": "main",
                    "ready": True,
                    "restartCount": 0,
                    "image": f"registry.example.com/{app}:1.2.3",
                    "containerID": f"containerd://{i:064x}",
                    "state": {"running": {"startedAt": "2025-01-01T00:00:02Z"}},
                }
            ],
        },
    }


def _serve(objects_path: str, kubeconfig: str, ready: Any, commands: Any) -> None:
    """Child process: serve the objects until told to stop; apply changes on request."""
    from netsight.sim.server import SimServer

    with open(objects_path, encoding="utf-8") as f:
        objects = json.load(f)
    sim = SimServer(objects, history_limit=200_000)
    sim.start()
    sim.write_kubeconfig(kubeconfig)
    ready.put("ready")
    while True:
        command = commands.get()
        if command is None:
            break
        count, pods = command
        started = time.perf_counter()
        for n in range(count):
            pod = pods[n % len(pods)]
            pod["metadata"]["labels"]["bench"] = str(n)
            sim.apply("MODIFIED", pod)
        ready.put(time.perf_counter() - started)
    sim.stop()


def bench(pods: int, nodes: int, events: int) -> int:
    from netsight.kube.client import api_client_for
    from netsight.kube.watching import Inventory

    work = tempfile.mkdtemp(prefix="netsight-bench-")
    objects_path = os.path.join(work, "objects.json")
    kubeconfig = os.path.join(work, "kubeconfig")
    t0 = time.perf_counter()
    objects = [make_node(i) for i in range(nodes)] + [make_pod(i, nodes) for i in range(pods)]
    with open(objects_path, "w", encoding="utf-8") as f:
        json.dump(objects, f)
    sample = objects[nodes : nodes + 2000]
    del objects
    print(f"generated {pods} pods and {nodes} nodes in {time.perf_counter() - t0:.1f} s")

    ctx = multiprocessing.get_context("spawn")
    ready, commands = ctx.Queue(), ctx.Queue()
    server = ctx.Process(target=_serve, args=(objects_path, kubeconfig, ready, commands))
    server.start()
    ready.get(timeout=600)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # 1. Initial inventory: from nothing to every pod and node listed.
    client = api_client_for("sim", kubeconfig)
    started = time.perf_counter()
    inventory = Inventory(client, kinds=["Pod", "Node"])
    synced = inventory.wait_synced(600)
    list_s = time.perf_counter() - started
    got_pods, got_nodes = len(inventory.snapshot("Pod")), len(inventory.snapshot("Node"))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    drained = 0
    while not inventory.events.empty():
        inventory.events.get_nowait()
        drained += 1
    ok = synced and got_pods == pods and got_nodes == nodes and not inventory.unavailable
    print(
        f"initial inventory: {got_pods} pods, {got_nodes} nodes, {drained} events "
        f"in {list_s:.2f} s (target < {TARGET_LIST_S:.0f} s) "
        f"{'OK' if list_s < TARGET_LIST_S else 'MISSED'}"
    )
    print(
        f"peak RSS of the inventory process: {rss_mb:.0f} MB (before listing {rss_before:.0f} "
        f"MB; target < {TARGET_RSS_MB:.0f} MB) {'OK' if rss_mb < TARGET_RSS_MB else 'MISSED'}"
    )
    if not ok:
        print(f"incomplete inventory: unavailable={inventory.unavailable}")

    # 2. Watch events: the server emits `events` MODIFIED pods; count what arrives.
    commands.put((events, sample))
    started = time.perf_counter()
    seen = 0
    deadline = started + 300
    while seen < events and time.perf_counter() < deadline:
        try:
            inventory.events.get(timeout=5)
        except Exception:
            break
        seen += 1
    watch_s = time.perf_counter() - started
    produce_s = ready.get(timeout=300)
    rate = seen / watch_s if watch_s else 0.0
    print(
        f"watch events applied: {seen} in {watch_s:.2f} s = {rate:,.0f} events/s "
        f"(target >= {TARGET_EVENTS_PER_S:,.0f}) "
        f"{'OK' if rate >= TARGET_EVENTS_PER_S else 'MISSED'}"
        f"; the server needed {produce_s:.2f} s just to apply them "
        f"({events / produce_s:,.0f}/s), which bounds this figure"
    )

    inventory.stop()
    client.close()
    commands.put(None)
    server.join(30)
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=150_000)
    parser.add_argument("--nodes", type=int, default=5_000)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    return bench(args.pods, args.nodes, args.events)


if __name__ == "__main__":
    sys.exit(main())
