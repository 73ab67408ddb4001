"""A simulated collector: one fake node agent per demo node, speaking the agent's HTTP protocol.

The demo has no kernel to read, so this module invents the connections the
demo cluster's pods would make (a shop calling its backends through
ClusterIPs, DNS lookups translated to CoreDNS pods, Prometheus scraping
hostNetwork exporters on node IPs, a CronJob run talking to its database,
egress to a few outside addresses) and serves them exactly as
`netsight/collector/agent.py` does: `GET /v1/records?after=SEQ&limit=N` and
`GET /v1/status` with the record fields of docs/architecture.md. The
simulated API server forwards pod-proxy calls for the collector's pods to
these servers, so the desktop pulls from the demo the way it pulls from a
real cluster.

Addresses outside the cluster are only strings in records; nothing is ever
sent to them. Given a seed and the same sequence of `step`/`apply` calls,
the records are the same.
"""

from __future__ import annotations

import calendar
import hashlib
import itertools
import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from netsight.sim.demo import cluster
from netsight.sim.demo.cluster import Obj

logger = logging.getLogger(__name__)

AGENT_VERSION = "netsight-demo/0.1"
DEFAULT_SEED = 7
# Records an agent keeps for the desktop; a real agent's buffer is of this order.
DEFAULT_BUFFER_CAPACITY = 50_000
# A page the desktop asks for is clipped to this, as the real agent does.
MAX_PAGE = 5_000
DEFAULT_PAGE = 1_000
# History made up at start so the first pull already shows half an hour.
DEFAULT_HISTORY_S = 1800.0
# Step of that made-up history: coarse, so that start stays quick.
BACKFILL_STEP_S = 10.0
# Inode of the host's network namespace, as Linux numbers the initial one.
HOST_NETNS = 4026531840
EPHEMERAL_PORTS = (32768, 60999)
# State of a connection whose sockets and conntrack entry are gone, as the agent says it.
CLOSED = "CLOSED"
# Chance per step that an agent "lost" some conntrack events (shown as dropped).
DROP_CHANCE = 0.004
# Chance per step that a long-lived connection is closed and reopened.
RECONNECT_CHANCE = 0.004
# Chance per step that a long-lived connection moves bytes.
ACTIVITY_CHANCE = 0.7

# Every record carries these fields, in this order: docs/architecture.md's, plus
# the peer_* fields the real agent adds when it holds both ends of a connection.
RECORD_FIELDS = (
    "seq", "conn_id", "node", "generation", "proto", "family",
    "src_ip", "src_port", "dst_ip", "dst_port",
    "nat_dst_ip", "nat_dst_port", "nat_src_ip", "nat_src_port",
    "observer", "source", "state", "bytes_sent", "bytes_received",
    "process", "pid", "netns", "peer_process", "peer_pid", "peer_netns",
    "first_seen", "last_seen",
)  # fmt: skip
# Process names by the pod's `app` label.
PROCESSES = {
    "frontend": "node",
    "cart": "cart",
    "checkout": "checkout",
    "redis": "redis-server",
    "payments-api": "java",
    "prometheus": "prometheus",
    "node-exporter": "node_exporter",
    "kube-proxy": "kube-proxy",
    "coredns": "coredns",
    "postgres": "postgres",
    "report": "python3",
}


def parse_time(value: str | None) -> float | None:
    """Epoch seconds of a Kubernetes timestamp, or None."""
    if not value:
        return None
    return float(calendar.timegm(time.strptime(value, "%Y-%m-%dT%H:%M:%SZ")))


# -- what the demo's pods do ----------------------------------------------------


@dataclass(frozen=True)
class Route:
    """Traffic of one kind from the pods of one app.

    Exactly one of `service`, `pods`, `node_port`, `external` is set.
    `long` routes keep one connection per (client, target); short ones open
    `per_s` new connections per second per client pod.
    """

    client: tuple[str, str]  # namespace, `app` label
    proto: str = "tcp"
    service: tuple[str, str, int] | None = None  # namespace, name, port
    pods: tuple[str, str, str | None, int] | None = None  # namespace, app, pod name, port
    node_port: int | None = None  # every node's InternalIP on this port
    external: tuple[str, int] | None = None
    long: bool = True
    per_s: float = 0.0
    sent_per_s: float = 1000.0
    received_per_s: float = 4000.0


DNS_CLIENTS = (
    ("shop", "frontend"),
    ("shop", "cart"),
    ("shop", "checkout"),
    ("payments", "payments-api"),
    ("monitoring", "prometheus"),
    ("data", "report"),
)
ROUTES: tuple[Route, ...] = (
    Route(("shop", "frontend"), service=("shop", "cart", 7070), sent_per_s=2500,
          received_per_s=9000),
    Route(("shop", "frontend"), service=("shop", "checkout", 5050), sent_per_s=600,
          received_per_s=1500),
    Route(("shop", "cart"), service=("shop", "redis", 6379), sent_per_s=3000,
          received_per_s=12000),
    Route(("shop", "checkout"), service=("payments", "payments", 443), sent_per_s=900,
          received_per_s=2400),
    Route(("payments", "payments-api"), external=(cluster.EXTERNAL_PAYMENT_GATEWAY, 443),
          long=False, per_s=0.05, sent_per_s=3000, received_per_s=5000),
    Route(("shop", "frontend"), external=(cluster.EXTERNAL_CDN, 443), long=False, per_s=0.03,
          sent_per_s=1500, received_per_s=40000),
    *(
        Route(client, proto="udp", service=("kube-system", "kube-dns", 53), long=False,
              per_s=0.08, sent_per_s=60, received_per_s=180)
        for client in DNS_CLIENTS
    ),
    Route(("kube-system", "coredns"), proto="udp", external=(cluster.EXTERNAL_DNS, 53),
          long=False, per_s=0.06, sent_per_s=60, received_per_s=200),
    Route(("monitoring", "prometheus"), node_port=9100, sent_per_s=40, received_per_s=3500),
    Route(("monitoring", "prometheus"), node_port=10249, sent_per_s=30, received_per_s=900),
    Route(("monitoring", "prometheus"), pods=("kube-system", "coredns", None, 9153),
          sent_per_s=30, received_per_s=700),
    Route(("monitoring", "prometheus"), service=("default", "kubernetes", 443), sent_per_s=80,
          received_per_s=2000),
    Route(("kube-system", "coredns"), service=("default", "kubernetes", 443), sent_per_s=20,
          received_per_s=300),
    Route(("data", "report"), pods=("data", "postgres", "postgres-0", 5432), sent_per_s=4000,
          received_per_s=90000),
)  # fmt: skip
# Visitors reach the shop's load balancer at this rate (per second, whole cluster).
VISITS_PER_S = 0.15


# -- the cluster as the simulated agents see it -----------------------------------


@dataclass
class _Pod:
    uid: str
    namespace: str
    name: str
    node: str
    ip: str
    app: str
    labels: dict[str, str]
    host_network: bool
    ports: set[tuple[int, str]]
    start: float
    end: float | None

    def active(self, t: float) -> bool:
        return self.start <= t and (self.end is None or t < self.end)


def _pod_from(obj: Obj) -> _Pod | None:
    status = obj.get("status", {})
    spec = obj.get("spec", {})
    ip = status.get("podIP")
    start = parse_time(status.get("startTime"))
    if not ip or start is None or not spec.get("nodeName"):
        return None
    end = None
    if status.get("phase") in ("Succeeded", "Failed"):
        finished = [
            parse_time(cs.get("state", {}).get("terminated", {}).get("finishedAt"))
            for cs in status.get("containerStatuses", [])
        ]
        end = max((f for f in finished if f is not None), default=start)
    meta = obj["metadata"]
    labels = dict(meta.get("labels", {}))
    ports = {
        (p["containerPort"], p.get("protocol", "TCP").lower())
        for c in spec.get("containers", [])
        for p in c.get("ports", [])
    }
    return _Pod(
        uid=meta["uid"],
        namespace=meta["namespace"],
        name=meta["name"],
        node=spec["nodeName"],
        ip=ip,
        app=labels.get("app", labels.get(cluster.NAME_LABEL, meta["name"])),
        labels=labels,
        host_network=bool(spec.get("hostNetwork")),
        ports=ports,
        start=start,
        end=end,
    )


class _World:
    """Pods (with the time each was running), Services and node addresses."""

    def __init__(self, objects: Iterable[Obj]) -> None:
        self.pods: dict[str, _Pod] = {}
        self.services: dict[tuple[str, str], Obj] = {}
        self.node_ips: dict[str, str] = {}
        for obj in objects:
            self.apply("ADDED", obj, time.time())

    def apply(self, event_type: str, obj: Obj, at: float) -> None:
        kind = obj.get("kind")
        meta = obj.get("metadata", {})
        if kind == "Pod":
            if event_type == "DELETED":
                pod = self.pods.get(meta.get("uid", ""))
                if pod is not None and (pod.end is None or pod.end > at):
                    pod.end = at
                return
            new = _pod_from(obj)
            if new is not None:
                self.pods[new.uid] = new
        elif kind == "Service":
            key = (meta.get("namespace", ""), meta.get("name", ""))
            if event_type == "DELETED":
                self.services.pop(key, None)
            else:
                self.services[key] = obj
        elif kind == "Node" and event_type != "DELETED":
            for address in obj.get("status", {}).get("addresses", []):
                if address.get("type") == "InternalIP":
                    self.node_ips[meta["name"]] = address["address"]

    def active_pods(self, t: float, namespace: str, app: str) -> list[_Pod]:
        found = [
            p
            for p in self.pods.values()
            if p.namespace == namespace and p.app == app and p.active(t)
        ]
        return sorted(found, key=lambda p: p.name)

    def backends(self, t: float, service: Obj, port: int) -> list[tuple[_Pod, int]]:
        """Running pods behind `service` on its `port`, with the target port."""
        spec = service.get("spec", {})
        selector = spec.get("selector") or {}
        target = next(
            (p.get("targetPort", port) for p in spec.get("ports", []) if p["port"] == port),
            port,
        )
        if not selector or not isinstance(target, int):
            return []
        namespace = service["metadata"]["namespace"]
        found = [
            p
            for p in self.pods.values()
            if p.namespace == namespace
            and p.active(t)
            and all(p.labels.get(k) == v for k, v in selector.items())
        ]
        return [(p, target) for p in sorted(found, key=lambda p: p.name)]

    def host_pod(self, t: float, node: str, port: int) -> _Pod | None:
        """The hostNetwork pod on `node` that declares `port`."""
        for pod in sorted(self.pods.values(), key=lambda p: p.name):
            if pod.node == node and pod.host_network and pod.active(t):
                if any(number == port for number, _ in pod.ports):
                    return pod
        return None


# -- connections and the agents that report them -----------------------------------


@dataclass
class _Conn:
    """One connection, seen from the client's node and, if in-cluster, the server's."""

    proto: str
    src_ip: str
    src_port: int
    dst_ip: str
    dst_port: int
    first_seen: float
    sent_per_s: float
    received_per_s: float
    client: _Pod | None
    client_node: str | None
    server: _Pod | None
    server_node: str | None
    nat_dst: tuple[str, int] | None = None
    nat_src: tuple[str, int] | None = None
    bytes_sent: int = 0
    bytes_received: int = 0
    last_seen: float = 0.0


class _Agent:
    """The record buffer and counters of one simulated node agent."""

    def __init__(self, node: str, generation: str, capacity: int, started_at: float) -> None:
        self.node = node
        self.started_at = started_at
        # Conntrack events the simulated kernel "lost" (also counted in dropped).
        self.overruns = 0
        self.generation = generation
        self.capacity = capacity
        self.lock = threading.Lock()
        self.buffer: deque[dict[str, Any]] = deque()
        self.last_seq = 0
        self.dropped = 0

    def emit(self, fields: dict[str, Any]) -> None:
        with self.lock:
            self.last_seq += 1
            fields |= {"seq": self.last_seq, "node": self.node, "generation": self.generation}
            self.buffer.append({name: fields[name] for name in RECORD_FIELDS})
            if len(self.buffer) > self.capacity:
                self.buffer.popleft()
                self.dropped += 1

    def page(self, after: int, limit: int) -> dict[str, Any]:
        with self.lock:
            oldest = self.buffer[0]["seq"] if self.buffer else self.last_seq + 1
            start = max(0, after - oldest + 1)
            records = list(itertools.islice(self.buffer, start, start + limit))
            return {
                "node": self.node,
                "generation": self.generation,
                "oldest_seq": oldest,
                "last_seq": self.last_seq,
                "dropped": self.dropped,
                "records": records,
            }

    def status(self) -> dict[str, Any]:
        with self.lock:
            return {
                "version": AGENT_VERSION,
                "generation": self.generation,
                "node": self.node,
                "buffer_used": len(self.buffer),
                "buffer_capacity": self.capacity,
                "dropped": self.dropped,
                "last_seq": self.last_seq,
                "conntrack": True,
                "conntrack_error": None,
                "conntrack_overruns": self.overruns,
                "sock_diag": True,
                "last_error": None,
                "started_at": self.started_at,
            }


def _conn_id(proto: str, src_ip: str, src_port: int, dst_ip: str, dst_port: int) -> str:
    return f"{proto}:{src_ip}:{src_port}>{dst_ip}:{dst_port}"


class _Simulation:
    """Invents the connections of the demo's pods, step by step, into the agents."""

    def __init__(self, world: _World, agents: dict[str, _Agent], seed: int) -> None:
        self.world = world
        self.agents = agents
        self.rng = random.Random(seed)
        self.long: dict[tuple[Any, ...], _Conn] = {}
        self.last_step: float | None = None
        self.first_step = 0.0
        self._pids: dict[str, tuple[int, int]] = {}

    def process_of(self, pod: _Pod) -> tuple[str, int, int]:
        """Process name, pid and network namespace inode of a pod's main process."""
        if pod.uid not in self._pids:
            netns = HOST_NETNS if pod.host_network else 4026532000 + self.rng.randrange(9000)
            self._pids[pod.uid] = (self.rng.randrange(1000, 400000), netns)
        pid, netns = self._pids[pod.uid]
        return PROCESSES.get(pod.app, pod.app), pid, netns

    def ephemeral_port(self) -> int:
        return self.rng.randint(*EPHEMERAL_PORTS)

    # -- one step ---------------------------------------------------------------

    def step(self, t: float) -> None:
        if self.last_step is None:
            self.first_step = t
        dt = 1.0 if self.last_step is None else max(0.0, t - self.last_step)
        self.last_step = t
        self._close_orphans(t)
        for index, route in enumerate(ROUTES):
            for client in self._clients(route, t):
                if route.long:
                    self._keep_long(index, route, client, t, dt)
                else:
                    self._open_short(route, client, t, dt)
        self._visitors(t, dt)
        for node in sorted(self.agents):
            if self.rng.random() < DROP_CHANCE:
                agent = self.agents[node]
                lost = self.rng.randint(1, 25)
                with agent.lock:
                    agent.dropped += lost
                    agent.overruns += lost

    def _clients(self, route: Route, t: float) -> list[_Pod]:
        return self.world.active_pods(t, *route.client)

    def _targets(self, route: Route, client: _Pod, t: float) -> list[tuple[Any, ...]]:
        """Where a client of `route` connects: (key, dst ip, dst port, service?) tuples."""
        if route.service is not None:
            ns, name, port = route.service
            svc = self.world.services.get((ns, name))
            ip = svc.get("spec", {}).get("clusterIP") if svc else None
            return [((ns, name, port), ip, port, svc)] if ip and ip != "None" else []
        if route.pods is not None:
            ns, app, only, port = route.pods
            return [
                ((p.uid,), p.ip, port, None)
                for p in self.world.active_pods(t, ns, app)
                if only is None or p.name == only
            ]
        if route.node_port is not None:
            return [
                ((node,), ip, route.node_port, None)
                for node, ip in sorted(self.world.node_ips.items())
            ]
        assert route.external is not None
        return [(route.external, route.external[0], route.external[1], None)]

    def _new_conn(
        self, route: Route, client: _Pod, dst_ip: str, dst_port: int, svc: Obj | None, t: float
    ) -> _Conn | None:
        """A connection from `client` to dst, translated and attributed as a node would."""
        conn = _Conn(
            proto=route.proto,
            src_ip=client.ip,
            src_port=self.ephemeral_port(),
            dst_ip=dst_ip,
            dst_port=dst_port,
            first_seen=t,
            last_seen=t,
            sent_per_s=route.sent_per_s,
            received_per_s=route.received_per_s,
            client=client,
            client_node=client.node,
            server=None,
            server_node=None,
        )
        if svc is not None:
            backends = self.world.backends(t, svc, dst_port)
            if dst_ip == "10.96.0.1":  # default/kubernetes: the API server, not a pod
                conn.nat_dst = (cluster.API_SERVER_IP, cluster.API_SERVER_PORT)
                return conn
            if not backends:
                return None
            backend, target = self.rng.choice(self._least_used(backends, dst_ip))
            conn.nat_dst = (backend.ip, target)
            conn.server, conn.server_node = backend, backend.node
        elif route.node_port is not None:
            node = next(n for n, ip in self.world.node_ips.items() if ip == dst_ip)
            conn.server = self.world.host_pod(t, node, dst_port)
            conn.server_node = node if conn.server else None
        elif route.pods is not None:
            conn.server = next(
                (p for p in self.world.pods.values() if p.ip == dst_ip and p.active(t)), None
            )
            conn.server_node = conn.server.node if conn.server else None
        else:
            # Egress leaves through the node's address (source NAT by the CNI).
            node_ip = self.world.node_ips.get(client.node)
            if node_ip:
                conn.nat_src = (node_ip, self.ephemeral_port())
        return conn

    def _least_used(
        self, backends: list[tuple[_Pod, int]], service_ip: str
    ) -> list[tuple[_Pod, int]]:
        """The backends with the fewest open connections through `service_ip`.

        Spreading like this (rather than at random) makes a small demo show
        every backend of a Service, as a busy real one would.
        """
        load = {pod.uid: 0 for pod, _ in backends}
        for conn in self.long.values():
            if conn.dst_ip == service_ip and conn.server is not None:
                if conn.server.uid in load:
                    load[conn.server.uid] += 1
        least = min(load.values())
        return [(pod, port) for pod, port in backends if load[pod.uid] == least]

    def _keep_long(self, index: int, route: Route, client: _Pod, t: float, dt: float) -> None:
        for key, dst_ip, dst_port, svc in self._targets(route, client, t):
            conn_key = (index, client.uid, key)
            conn = self.long.get(conn_key)
            if conn is not None and self.rng.random() < RECONNECT_CHANCE:
                self._report(conn, t, closing=True)
                del self.long[conn_key]
                conn = None
            if conn is None:
                new = self._new_conn(route, client, dst_ip, dst_port, svc, t)
                if new is None:
                    continue
                self.long[conn_key] = new
                self._grow(new, min(dt, 2.0))
                self._report(new, t)
            elif self.rng.random() < ACTIVITY_CHANCE:
                self._grow(conn, dt)
                self._report(conn, t)

    def _close_orphans(self, t: float) -> None:
        """Close long connections whose client or server pod stopped running."""
        for conn_key in sorted(self.long, key=repr):
            conn = self.long[conn_key]
            ends = [p for p in (conn.client, conn.server) if p is not None]
            # The world holds the latest version of each pod (it may have finished since).
            ended = [self.world.pods.get(p.uid, p) for p in ends]
            ended = [p for p in ended if not p.active(t)]
            if ended:
                # The connection ended with the pod, not when this step noticed.
                gone = min(p.end if p.end is not None else t for p in ended)
                self._report(conn, min(t, gone), closing=True)
                del self.long[conn_key]

    def _open_short(self, route: Route, client: _Pod, t: float, dt: float) -> None:
        expected = route.per_s * dt
        count = int(expected) + (1 if self.rng.random() < expected - int(expected) else 0)
        for _ in range(count):
            for _key, dst_ip, dst_port, svc in self._targets(route, client, t):
                start = self._recent(t, dt)
                conn = self._new_conn(route, client, dst_ip, dst_port, svc, start)
                if conn is None:
                    continue
                self._grow(conn, self.rng.uniform(0.2, 2.0))
                conn.last_seen = min(t, start + self.rng.uniform(0.01, 1.5))
                self._report(conn, conn.last_seen, closing=True)

    def _visitors(self, t: float, dt: float) -> None:
        """Internet visitors reaching the shop through the LoadBalancer address."""
        svc = self.world.services.get(("shop", "frontend"))
        if svc is None or not self.world.node_ips:
            return
        expected = VISITS_PER_S * dt
        count = int(expected) + (1 if self.rng.random() < expected - int(expected) else 0)
        for _ in range(count):
            backends = self.world.backends(t, svc, 80)
            if not backends:
                return
            backend, target = self.rng.choice(backends)
            start = self._recent(t, dt)
            conn = _Conn(
                proto="tcp",
                src_ip=cluster.EXTERNAL_VISITOR,
                src_port=self.ephemeral_port(),
                dst_ip=cluster.LOAD_BALANCER_IP,
                dst_port=80,
                first_seen=start,
                last_seen=min(t, start + self.rng.uniform(0.05, 3.0)),
                sent_per_s=800,
                received_per_s=25000,
                client=None,
                client_node=None,
                server=backend,
                server_node=backend.node,
                nat_dst=(backend.ip, target),
            )
            self._grow(conn, 1.0)
            self._report(conn, conn.last_seen, closing=True)

    def _recent(self, t: float, dt: float) -> float:
        """A start time for a short connection within the step that ends at `t`."""
        return max(self.first_step, t - self.rng.uniform(0.0, min(dt, 5.0)))

    def _grow(self, conn: _Conn, seconds: float) -> None:
        conn.bytes_sent += int(conn.sent_per_s * seconds * self.rng.uniform(0.3, 1.7)) + 1
        conn.bytes_received += int(conn.received_per_s * seconds * self.rng.uniform(0.3, 1.7))

    # -- records ---------------------------------------------------------------

    def _report(self, conn: _Conn, t: float, *, closing: bool = False) -> None:
        """Emit the connection as the client's node and the server's node see it.

        Like the real agent, a node that holds both ends reports them as one
        record (the client's, with the server as its peer).
        """
        conn.last_seen = max(conn.last_seen, t)
        base = {
            "proto": conn.proto,
            "family": 4,
            "bytes_sent": conn.bytes_sent,
            "bytes_received": conn.bytes_received,
            "first_seen": round(conn.first_seen, 3),
            "last_seen": round(conn.last_seen, 3),
            "peer_process": None,
            "peer_pid": None,
            "peer_netns": None,
        }
        open_state = "ESTABLISHED" if conn.proto == "tcp" else "REPLIED"
        state = CLOSED if closing else open_state
        server_seen = conn.proto == "tcp" and conn.server is not None
        merged = False

        # The client's node: its socket (TCP) or its conntrack entry (UDP, visitors).
        if conn.client_node in self.agents:
            record = dict(
                base,
                conn_id=_conn_id(conn.proto, conn.src_ip, conn.src_port, conn.dst_ip,
                                 conn.dst_port),
                src_ip=conn.src_ip, src_port=conn.src_port,
                dst_ip=conn.dst_ip, dst_port=conn.dst_port,
                nat_dst_ip=conn.nat_dst[0] if conn.nat_dst else None,
                nat_dst_port=conn.nat_dst[1] if conn.nat_dst else None,
                nat_src_ip=conn.nat_src[0] if conn.nat_src else None,
                nat_src_port=conn.nat_src[1] if conn.nat_src else None,
                state=state,
            )  # fmt: skip
            if conn.proto == "udp" or conn.client is None:
                record |= {"observer": "conntrack", "source": "conntrack",
                           "process": None, "pid": None, "netns": HOST_NETNS}  # fmt: skip
            else:
                process, pid, netns = self.process_of(conn.client)
                record |= {"observer": "client", "source": "sockdiag",
                           "process": process, "pid": pid, "netns": netns}  # fmt: skip
                if server_seen and conn.server_node == conn.client_node:
                    assert conn.server is not None
                    peer = self.process_of(conn.server)
                    record |= dict(
                        zip(("peer_process", "peer_pid", "peer_netns"), peer, strict=True)
                    )
                    merged = True
            self.agents[conn.client_node].emit(record)

        # The server's node sees the translated addresses on its own socket.
        if server_seen and not merged and conn.server_node in self.agents:
            assert conn.server is not None
            src_ip, src_port = conn.nat_src or (conn.src_ip, conn.src_port)
            dst_ip, dst_port = conn.nat_dst or (conn.dst_ip, conn.dst_port)
            nat_dst: tuple[str | None, int | None] = (None, None)
            if conn.client_node is None and conn.nat_dst:
                # The client is outside and the translation happened on this node:
                # its conntrack entry gives the address the client asked for.
                dst_ip, dst_port, nat_dst = conn.dst_ip, conn.dst_port, conn.nat_dst
            process, pid, netns = self.process_of(conn.server)
            record = dict(
                base,
                conn_id=_conn_id(conn.proto, src_ip, src_port, dst_ip, dst_port),
                src_ip=src_ip, src_port=src_port, dst_ip=dst_ip, dst_port=dst_port,
                nat_dst_ip=nat_dst[0], nat_dst_port=nat_dst[1],
                nat_src_ip=None, nat_src_port=None,
                observer="server", source="sockdiag", state=state,
                process=process, pid=pid, netns=netns,
            )  # fmt: skip
            self.agents[conn.server_node].emit(record)


# -- HTTP ---------------------------------------------------------------------------


class _AgentServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, agent: _Agent) -> None:
        self.agent = agent
        super().__init__(("127.0.0.1", 0), _AgentHandler)


class _AgentHandler(BaseHTTPRequestHandler):
    server: _AgentServer
    server_version = "netsight-demo-agent"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        agent = self.server.agent
        if url.path == "/v1/records":
            try:
                after = int(query.get("after", ["0"])[0])
                limit = int(query.get("limit", [str(DEFAULT_PAGE)])[0])
            except ValueError:
                self._reply(400, {"error": "after and limit must be integers"})
                return
            if after < 0 or limit < 1:
                self._reply(400, {"error": "after must be >= 0 and limit >= 1"})
                return
            self._reply(200, agent.page(after, min(limit, MAX_PAGE)))
        elif url.path == "/v1/status":
            self._reply(200, agent.status())
        elif url.path == "/healthz":
            self._reply(200, {"ok": True})
        else:
            self._reply(404, {"error": f"no such path: {url.path}"})

    def _reply(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        logger.debug("Demo agent %s: %s", self.server.agent.node, format % args)


# -- the public face -------------------------------------------------------------------


class DemoCollector:
    """Simulated node agents for every node among `objects`, served on loopback.

    `rate` is how many simulation steps run per second once started; each
    step moves bytes on open connections and opens new short ones. `start`
    first makes up `history_s` seconds of past traffic so that the first
    pull has something to show.
    """

    def __init__(
        self,
        objects: Iterable[Obj],
        *,
        now_fn: Callable[[], float] = time.time,
        rate: float = 1.0,
        seed: int = DEFAULT_SEED,
        history_s: float = DEFAULT_HISTORY_S,
        buffer_capacity: int = DEFAULT_BUFFER_CAPACITY,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, not {rate}")
        objects = list(objects)
        self.now_fn = now_fn
        self.rate = rate
        self.history_s = history_s
        self._lock = threading.Lock()
        self._world = _World(objects)
        started = now_fn()
        nodes = sorted(o["metadata"]["name"] for o in objects if o.get("kind") == "Node")
        self._agents = {
            node: _Agent(
                node,
                hashlib.sha256(f"{seed}:{node}:{started:.3f}".encode()).hexdigest()[:16],
                buffer_capacity,
                started,
            )
            for node in nodes
        }
        self._sim = _Simulation(self._world, self._agents, seed)
        self._servers: dict[str, _AgentServer] = {}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    @property
    def nodes(self) -> list[str]:
        return list(self._agents)

    def step(self, now: float | None = None) -> None:
        """Advance the simulation to `now` (default: the clock) and emit records."""
        with self._lock:
            self._sim.step(self.now_fn() if now is None else now)

    def backfill(self, now: float | None = None) -> None:
        """Make up the last `history_s` seconds of traffic in coarse steps."""
        end = self.now_fn() if now is None else now
        t = end - self.history_s
        while t < end:
            self.step(t)
            t += BACKFILL_STEP_S
        self.step(end)

    def apply(self, event_type: str, obj: Obj, at: float | None = None) -> None:
        """Tell the agents the cluster changed (a pod started, finished or went away)."""
        with self._lock:
            self._world.apply(event_type, obj, self.now_fn() if at is None else at)

    def page(self, node: str, after: int = 0, limit: int = DEFAULT_PAGE) -> dict[str, Any]:
        """What `GET /v1/records` on `node` answers, without HTTP."""
        return self._agents[node].page(after, min(limit, MAX_PAGE))

    def status(self, node: str) -> dict[str, Any]:
        return self._agents[node].status()

    def start(self) -> None:
        """Make up the history, serve every agent on loopback and keep simulating."""
        if self._threads:
            raise RuntimeError("the demo collector is already running")
        self._stop.clear()
        if self.history_s > 0:
            self.backfill()
        for node, agent in self._agents.items():
            server = _AgentServer(agent)
            self._servers[node] = server
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"demo-agent-{node}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        ticker = threading.Thread(target=self._run, name="demo-collector", daemon=True)
        ticker.start()
        self._threads.append(ticker)
        logger.info("Demo collector serving %d nodes: %s", len(self._servers), self.urls())

    def _run(self) -> None:
        interval = 1.0 / self.rate
        while not self._stop.wait(interval):
            try:
                self.step()
            except Exception:  # a bug here must not silently end the demo's traffic
                logger.exception("Demo collector step failed; trying again next step.")

    def urls(self) -> dict[str, str]:
        """node -> base URL of its simulated agent (e.g. http://127.0.0.1:41234)."""
        return {
            node: f"http://127.0.0.1:{server.server_address[1]}"
            for node, server in self._servers.items()
        }

    def stop(self) -> None:
        """Stop simulating and serving; joins every thread it started."""
        self._stop.set()
        for server in self._servers.values():
            server.shutdown()
        for thread in self._threads:
            thread.join(timeout=5)
        for server in self._servers.values():
            server.server_close()
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> DemoCollector:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
