"""Benchmark: initial inventory of a huge cluster, and watch events applied per second.

Targets (DESIGN.md): 150,000 pods on 5,000 nodes listed into a complete
inventory in < 15 s using < 1.5 GB; >= 20,000 watch events applied per second.

Two set-ups, each with the server and the inventory in separate processes so
that the peak memory printed is the inventory's own:

- `sim`: the simulated API server (`netsight.sim`) serves generated objects
  over HTTPS and makes the watch events with `sim.apply`. End to end, but the
  simulation's own speed bounds the figures.
- `feed`: a bare HTTP server answers the same lists and a watch stream from
  bytes encoded beforehand, so the figures are the inventory's own capacity
  (transport, JSON decoding, diffing, cache and event queue).

    .venv/bin/python bench/bench_inventory.py [--pods 150000] [--nodes 5000]
        [--events 100000] [--setup sim feed]
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger(__name__)

TARGET_LIST_S = 15.0
TARGET_RSS_MB = 1500.0
TARGET_EVENTS_PER_S = 20_000.0


def _uid(n: int) -> str:
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def make_node(i: int) -> dict[str, Any]:
    name = f"node-{i:05d}"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": _uid(i + 1),
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
            "uid": _uid(10_000_000 + i),
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
                    "uid": _uid(20_000_000 + i % 5000),
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


def make_objects(pods: int, nodes: int) -> list[dict[str, Any]]:
    return [make_node(i) for i in range(nodes)] + [make_pod(i, nodes) for i in range(pods)]


def modified_pods(count: int, nodes: int) -> list[dict[str, Any]]:
    """`count` changes to existing pods (a label changes each time), 2,000 pods round-robin."""
    sample = [make_pod(i, nodes) for i in range(min(2000, count))]
    out = []
    for n in range(count):
        pod = json.loads(json.dumps(sample[n % len(sample)]))
        pod["metadata"]["labels"]["bench"] = str(n)
        out.append(pod)
    return out


# -- server processes ----------------------------------------------------------


def _sim_server(pods: int, nodes: int, events: int, kubeconfig: str, pipe: Any) -> None:
    from netsight.sim.server import SimServer

    sim = SimServer(make_objects(pods, nodes), history_limit=events + 1000)
    changes = modified_pods(events, nodes)
    sim.start()
    sim.write_kubeconfig(kubeconfig)
    pipe.send("ready")
    while pipe.recv() != "stop":
        started = time.perf_counter()
        for pod in changes:
            sim.apply("MODIFIED", pod)
        pipe.send(time.perf_counter() - started)
    sim.stop()


class _FeedHandler(BaseHTTPRequestHandler):
    """Lists from pre-encoded items; the first pod watch streams pre-encoded events."""

    protocol_version = "HTTP/1.1"
    server: _FeedServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        plural = url.path.rsplit("/", 1)[-1]
        items = self.server.items.get(plural)
        if items is None:
            self._send(404, b'{"kind":"Status","code":404,"message":"not here"}')
        elif query.get("watch") in ("true", "1"):
            self._watch(plural, float(query.get("timeoutSeconds", "10")))
        else:
            start = int(query.get("continue") or 0)
            end = start + int(query.get("limit") or len(items))
            cont = f',"continue":"{end}"' if end < len(items) else ""
            head = (
                f'{{"kind":"List","apiVersion":"v1","metadata":{{"resourceVersion":"100"{cont}}},'
            )
            body = head.encode() + b'"items":[' + b",".join(items[start:end]) + b"]}"
            self._send(200, body)

    def _send(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _watch(self, plural: str, timeout_s: float) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        lines: list[bytes] = []
        if plural == "pods" and self.server.go.wait(timeout_s):
            with self.server.lock:
                lines, self.server.stream = self.server.stream, []
        if lines:
            for n in range(0, len(lines), 500):
                self.wfile.write(b"".join(lines[n : n + 500]))
            self.wfile.flush()
        else:
            time.sleep(timeout_s)


class _FeedServer(ThreadingHTTPServer):
    daemon_threads = True
    items: dict[str, list[bytes]]
    stream: list[bytes]
    lock: Any
    go: Any


def _feed_server(pods: int, nodes: int, events: int, kubeconfig: str, pipe: Any) -> None:
    import threading

    server = _FeedServer(("127.0.0.1", 0), _FeedHandler)
    objects = make_objects(pods, nodes)
    server.items = {
        "nodes": [json.dumps(o, separators=(",", ":")).encode() for o in objects[:nodes]],
        "pods": [json.dumps(o, separators=(",", ":")).encode() for o in objects[nodes:]],
    }
    del objects
    stream = []
    for n, pod in enumerate(modified_pods(events, nodes)):
        pod["metadata"]["resourceVersion"] = str(1000 + n)
        stream.append(b'{"type":"MODIFIED","object":' + json.dumps(pod).encode() + b"}\n")
    server.stream = stream
    server.lock = threading.Lock()
    server.go = threading.Event()
    with open(kubeconfig, "w", encoding="utf-8") as f:
        json.dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "feed",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {"server": f"http://127.0.0.1:{server.server_address[1]}"},
                    }
                ],
                "users": [{"name": "u", "user": {"token": "bench"}}],
                "contexts": [{"name": "feed", "context": {"cluster": "c", "user": "u"}}],
            },
            f,
        )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    pipe.send("ready")
    while pipe.recv() != "stop":
        server.go.set()
        pipe.send(0.0)
    server.shutdown()


# -- the measuring process -----------------------------------------------------


def _measure(setup: str, pods: int, nodes: int, events: int, out: Any) -> None:
    """Child process: start the server, list everything, then take the watch events."""
    from netsight.kube.client import api_client_for
    from netsight.kube.watching import Inventory

    work = tempfile.mkdtemp(prefix="netsight-bench-")
    kubeconfig = os.path.join(work, "kubeconfig")
    ctx = multiprocessing.get_context("spawn")
    mine, theirs = ctx.Pipe()
    target = _sim_server if setup == "sim" else _feed_server
    server = ctx.Process(target=target, args=(pods, nodes, events, kubeconfig, theirs))
    server.start()
    mine.recv()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # 1. Initial inventory: from nothing to every pod and node listed.
    client = api_client_for(None, kubeconfig)
    started = time.perf_counter()
    cpu_started = time.process_time()
    inventory = Inventory(client, kinds=["Pod", "Node"], watch_timeout_s=5)
    synced = inventory.wait_synced(900)
    list_s = time.perf_counter() - started
    list_cpu_s = time.process_time() - cpu_started
    got = (len(inventory.snapshot("Pod")), len(inventory.snapshot("Node")))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    initial = inventory.events.qsize()
    while not inventory.events.empty():
        inventory.events.get_nowait()
    complete = synced and got == (pods, nodes) and not inventory.unavailable

    # 2. Watch events: `events` MODIFIED pods; count them out of the queue.
    mine.send("go")
    started = time.perf_counter()
    cpu_started = time.process_time()
    seen = 0
    while seen < events:
        try:
            inventory.events.get(timeout=10)
        except Exception:
            break
        seen += 1
    watch_s = time.perf_counter() - started
    watch_cpu_s = time.process_time() - cpu_started
    produce_s = mine.recv()
    inventory.stop()
    client.close()
    mine.send("stop")
    server.join(60)
    out.send(
        {
            "list_s": list_s,
            "rss_mb": rss_mb,
            "rss_before": rss_before,
            "got": got,
            "initial": initial,
            "complete": complete,
            "unavailable": inventory.unavailable,
            "seen": seen,
            "watch_s": watch_s,
            "produce_s": produce_s,
            "list_cpu_s": list_cpu_s,
            "watch_cpu_s": watch_cpu_s,
            "load": os.getloadavg()[0],
        }
    )


def bench(setup: str, pods: int, nodes: int, events: int) -> bool:
    ctx = multiprocessing.get_context("spawn")
    mine, theirs = ctx.Pipe()
    child = ctx.Process(target=_measure, args=(setup, pods, nodes, events, theirs))
    child.start()
    r = mine.recv()
    child.join(60)

    print(
        f"[{setup}] initial inventory of {r['got'][0]} pods and {r['got'][1]} nodes "
        f"({r['initial']} ADDED events): {r['list_s']:.2f} s "
        f"(inventory CPU {r['list_cpu_s']:.2f} s), target < {TARGET_LIST_S:.0f} s: "
        f"{'OK' if r['list_s'] < TARGET_LIST_S else 'MISSED'}"
    )
    print(
        f"[{setup}] peak RSS of the inventory process: {r['rss_mb']:.0f} MB "
        f"({r['rss_before']:.0f} MB before listing), target < {TARGET_RSS_MB:.0f} MB: "
        f"{'OK' if r['rss_mb'] < TARGET_RSS_MB else 'MISSED'}"
    )
    rate = r["seen"] / r["watch_s"] if r["watch_s"] else 0.0
    cpu_rate = r["seen"] / r["watch_cpu_s"] if r["watch_cpu_s"] else 0.0
    print(
        f"[{setup}] watch events applied: {r['seen']} in {r['watch_s']:.2f} s = "
        f"{rate:,.0f} events/s (by inventory CPU time: {cpu_rate:,.0f}/s), "
        f"target >= {TARGET_EVENTS_PER_S:,.0f}/s: "
        f"{'OK' if rate >= TARGET_EVENTS_PER_S else 'MISSED'}"
    )
    if setup == "sim" and r["produce_s"]:
        print(
            f"[{setup}]   (the simulation itself applied them at "
            f"{events / r['produce_s']:,.0f} events/s, which bounds the figure above)"
        )
    print(
        f"[{setup}]   (1-minute load average at the end: {r['load']:.1f} on "
        f"{os.cpu_count()} CPUs; wall times above are only as good as that)"
    )
    if not r["complete"]:
        print(f"[{setup}] INCOMPLETE inventory: unavailable={r['unavailable']}")
    return bool(r["complete"]) and r["seen"] == events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=150_000)
    parser.add_argument("--nodes", type=int, default=5_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--setup", nargs="+", choices=["sim", "feed"], default=["sim", "feed"])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    ok = True
    for setup in args.setup:
        ok = bench(setup, args.pods, args.nodes, args.events) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
