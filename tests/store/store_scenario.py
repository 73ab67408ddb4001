"""A small cluster's ownership history and agent records, shaped as the contracts say.

Two nodes, a client pod calling a Service that DNATs to a backend on the
other node (seen by the client socket, the server socket and conntrack),
DNS over UDP (client socket without NAT plus conntrack), an IP reused by a
Job and then a StatefulSet pod, a hostNetwork exporter on a node port, and
addresses nobody owns (unknown pod, unknown service, public, user range).
"""

from __future__ import annotations

import itertools
from typing import Any

from netsight.identity.model import Interval, Owner, OwnerUid
from netsight.store import NetRange, Store
from netsight.store.ranges import CLUSTER, EXTERNAL, POD_CIDR, SERVICE_RANGE, USER

T0 = 1_764_835_200.0

NODE1_IP, NODE2_IP = "192.168.1.11", "192.168.1.12"
FRONTEND_IP = "10.244.1.5"
API_IP = "10.244.2.7"
API_SVC_IP = "10.96.0.20"
DNS_IP = "10.244.2.3"
DNS_SVC_IP = "10.96.0.10"
REUSED_IP = "10.244.1.9"
PROM_IP = "10.244.1.20"


def owner(uid: str, kind: str, ns: str | None, name: str, **more: Any) -> Owner:
    return Owner(uid=OwnerUid(uid), kind=kind, namespace=ns, name=name, **more)


OWNERS = [
    owner("n1", "Node", None, "worker-1"),
    owner("n2", "Node", None, "worker-2"),
    owner(
        "p-front",
        "Pod",
        "web",
        "frontend-abc",
        node="worker-1",
        workload_kind="Deployment",
        workload_name="frontend",
        app="shop",
        labels={"app": "frontend"},
    ),
    owner(
        "p-api",
        "Pod",
        "shop",
        "api-xyz",
        node="worker-2",
        workload_kind="Deployment",
        workload_name="api",
        app="shop",
    ),
    owner("s-api", "Service", "shop", "api", app="shop"),
    owner(
        "p-dns",
        "Pod",
        "kube-system",
        "coredns-1",
        node="worker-2",
        workload_kind="Deployment",
        workload_name="coredns",
    ),
    owner("s-dns", "Service", "kube-system", "kube-dns"),
    owner(
        "p-job",
        "Pod",
        "batch",
        "report-1",
        node="worker-1",
        workload_kind="Job",
        workload_name="report",
    ),
    owner(
        "p-cache",
        "Pod",
        "shop",
        "cache-0",
        node="worker-1",
        workload_kind="StatefulSet",
        workload_name="cache",
        app="shop",
    ),
    owner(
        "p-exporter",
        "Pod",
        "monitoring",
        "node-exporter-w2",
        node="worker-2",
        workload_kind="DaemonSet",
        workload_name="node-exporter",
    ),
    owner(
        "p-prom",
        "Pod",
        "monitoring",
        "prom-0",
        node="worker-1",
        workload_kind="StatefulSet",
        workload_name="prom",
    ),
]

INTERVALS = [
    Interval(NODE1_IP, None, OwnerUid("n1"), T0 - 3600),
    Interval(NODE2_IP, None, OwnerUid("n2"), T0 - 3600),
    Interval(NODE2_IP, 9100, OwnerUid("p-exporter"), T0 - 3600),
    Interval(FRONTEND_IP, None, OwnerUid("p-front"), T0 - 600),
    Interval(API_IP, None, OwnerUid("p-api"), T0 - 600),
    Interval(API_SVC_IP, None, OwnerUid("s-api"), T0 - 3600),
    Interval(DNS_IP, None, OwnerUid("p-dns"), T0 - 3600),
    Interval(DNS_SVC_IP, None, OwnerUid("s-dns"), T0 - 3600),
    Interval(REUSED_IP, None, OwnerUid("p-job"), T0, T0 + 100),
    Interval(REUSED_IP, None, OwnerUid("p-cache"), T0 + 200),
    Interval(PROM_IP, None, OwnerUid("p-prom"), T0 - 600),
]

RANGES = [
    NetRange("10.244.1.0/24", POD_CIDR, node="worker-1"),
    NetRange("10.244.2.0/24", POD_CIDR, node="worker-2"),
    NetRange("10.96.0.0/12", SERVICE_RANGE),
]
USER_RANGES = [NetRange("10.8.0.0/16", EXTERNAL, tag="corporate-vpn")]

_seq = itertools.count(1)


def record(
    node: str,
    observer: str,
    src: tuple[str, int],
    dst: tuple[str, int],
    *,
    proto: str = "tcp",
    nat_dst: tuple[str, int] | None = None,
    sent: int = 0,
    received: int = 0,
    first: float = T0,
    last: float | None = None,
    process: str | None = None,
    generation: str = "gen-1",
    seq: int | None = None,
) -> dict[str, Any]:
    """One agent record exactly as docs/architecture.md shows it."""
    return {
        "seq": next(_seq) if seq is None else seq,
        "conn_id": f"{proto}:{src[0]}:{src[1]}>{dst[0]}:{dst[1]}",
        "node": node,
        "generation": generation,
        "proto": proto,
        "family": 4,
        "src_ip": src[0],
        "src_port": src[1],
        "dst_ip": dst[0],
        "dst_port": dst[1],
        "nat_dst_ip": nat_dst[0] if nat_dst else None,
        "nat_dst_port": nat_dst[1] if nat_dst else None,
        "nat_src_ip": None,
        "nat_src_port": None,
        "observer": observer,
        "source": "conntrack" if observer == "conntrack" else "sockdiag",
        "state": "ESTABLISHED",
        "bytes_sent": sent,
        "bytes_received": received,
        "process": process,
        "pid": 4242 if process else None,
        "netns": 4026532281,
        "first_seen": first,
        "last_seen": first + 60 if last is None else last,
    }


def scenario_records() -> list[dict[str, Any]]:
    client = (FRONTEND_IP, 40112)
    return [
        # Frontend -> Service api -> api pod: two versions of the client socket,
        # conntrack on worker-1, and the server socket on worker-2.
        record(
            "worker-1",
            "client",
            client,
            (API_SVC_IP, 80),
            nat_dst=(API_IP, 8080),
            sent=10,
            received=20,
            first=T0 + 10,
            last=T0 + 11,
            process="curl",
        ),
        record(
            "worker-1",
            "client",
            client,
            (API_SVC_IP, 80),
            nat_dst=(API_IP, 8080),
            sent=100,
            received=2000,
            first=T0 + 10,
            last=T0 + 70,
            process="curl",
        ),
        record(
            "worker-1",
            "conntrack",
            client,
            (API_SVC_IP, 80),
            nat_dst=(API_IP, 8080),
            sent=150,
            received=2100,
            first=T0 + 9,
            last=T0 + 71,
        ),
        record(
            "worker-2",
            "server",
            client,
            (API_IP, 8080),
            sent=100,
            received=2000,
            first=T0 + 10,
            last=T0 + 72,
            process="api-server",
        ),
        # DNS over UDP: the client socket does not know the NAT, conntrack does.
        record(
            "worker-1",
            "client",
            (FRONTEND_IP, 5353),
            (DNS_SVC_IP, 53),
            proto="udp",
            sent=40,
            received=120,
            first=T0 + 5,
            process="curl",
        ),
        record(
            "worker-1",
            "conntrack",
            (FRONTEND_IP, 5353),
            (DNS_SVC_IP, 53),
            proto="udp",
            nat_dst=(DNS_IP, 53),
            sent=68,
            received=148,
            first=T0 + 5,
        ),
        # The reused IP: the Job calls the api at +50, the cache pod at +250.
        record(
            "worker-2",
            "server",
            (REUSED_IP, 33000),
            (API_IP, 8080),
            sent=5,
            received=7,
            first=T0 + 50,
            process="api-server",
        ),
        record(
            "worker-2",
            "server",
            (REUSED_IP, 33001),
            (API_IP, 8080),
            sent=11,
            received=13,
            first=T0 + 250,
            process="api-server",
        ),
        # Prometheus scrapes the hostNetwork exporter, and the kubelet on the node IP.
        record(
            "worker-1",
            "client",
            (PROM_IP, 50000),
            (NODE2_IP, 9100),
            sent=300,
            received=30000,
            first=T0 + 20,
            process="prometheus",
        ),
        record(
            "worker-1",
            "client",
            (PROM_IP, 50001),
            (NODE2_IP, 10250),
            sent=400,
            received=40000,
            first=T0 + 20,
            process="prometheus",
        ),
        # Addresses nobody owns.
        record(
            "worker-1",
            "client",
            (FRONTEND_IP, 41000),
            ("10.244.2.99", 80),
            sent=1,
            received=2,
            first=T0 + 30,
            process="curl",
        ),
        record(
            "worker-1",
            "client",
            (FRONTEND_IP, 41001),
            ("10.96.5.5", 443),
            sent=3,
            received=4,
            first=T0 + 30,
            process="curl",
        ),
        record(
            "worker-1",
            "client",
            (FRONTEND_IP, 41002),
            ("93.184.216.34", 443),
            sent=5,
            received=6,
            first=T0 + 30,
            process="curl",
        ),
        record(
            "worker-1",
            "client",
            (FRONTEND_IP, 41003),
            ("10.8.1.1", 22),
            sent=7,
            received=8,
            first=T0 + 30,
            process="ssh",
        ),
    ]


def fill(store: Store) -> None:
    store.replace_ownership(INTERVALS, OWNERS)
    store.replace_ranges(CLUSTER, RANGES)
    store.replace_ranges(USER, USER_RANGES)
    store.append_records(scenario_records())


def rows(table: Any) -> list[dict[str, Any]]:
    return table.to_pylist()


def find(table: Any, **match: Any) -> list[dict[str, Any]]:
    return [row for row in table.to_pylist() if all(row[k] == v for k, v in match.items())]
