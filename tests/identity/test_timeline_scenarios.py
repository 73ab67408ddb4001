"""The ownership scenarios of issue 2 replayed through the real stack.

A scripted timeline runs in the simulated HTTPS API server; the informers
(`kube.watching.Inventory`) list and watch it through the official client;
their events feed `OwnershipHistory`. Virtual timestamps in the timeline
make the expected answers exact, however fast the replay runs.
"""

from __future__ import annotations

import copy
import queue
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from netsight.identity.model import API_SERVER, NODE, POD, SERVICE, UNKNOWN_POD
from netsight.identity.ownership import OwnershipHistory
from netsight.kube.client import api_client_for
from netsight.kube.watching import Inventory
from netsight.sim.server import SimServer
from netsight.sim.timeline import Timeline

T0 = 1_700_000_000.0
T1 = 3600.0  # qux is deleted one hour in
KINDS = ("Pod", "Service", "EndpointSlice", "Node", "StatefulSet", "Secret")
U1 = "5f0c6a51-0000-4000-8000-000000000001"
U2 = "5f0c6a51-0000-4000-8000-000000000002"


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def node(name: str, ip: str, cidr: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "uid": f"uid-{name}", "creationTimestamp": iso(T0 - 86400)},
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
        "status": {"addresses": [{"type": "InternalIP", "address": ip}]},
    }


def pod(
    name: str, ip: str, node_name: str, *, namespace: str = "default", **extra: Any
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"nodeName": node_name, "containers": [{"name": "main", "image": "busybox"}]},
        "status": {
            "phase": "Running",
            "hostIP": "192.168.0.11" if node_name == "node-1" else "192.168.0.12",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
        },
    }
    for key, value in extra.items():
        if key in ("uid", "ownerReferences"):
            obj["metadata"][key] = value
        elif key == "spec":
            obj["spec"].update(value)
    return obj


def initial_objects() -> list[dict[str, Any]]:
    kubernetes = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "uid": "uid-svc-kubernetes",
            "creationTimestamp": iso(T0 - 86400),
        },
        "spec": {"clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"], "ports": [{"port": 443}]},
    }
    api_slice = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "uid": "uid-slice-kubernetes",
            "creationTimestamp": iso(T0 - 86400),
            "labels": {"kubernetes.io/service-name": "kubernetes"},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["172.20.5.5"]}],
        "ports": [{"name": "https", "port": 443, "protocol": "TCP"}],
    }
    return [
        node("node-1", "192.168.0.11", "10.244.1.0/24"),
        node("node-2", "192.168.0.12", "10.244.2.0/24"),
        kubernetes,
        api_slice,
    ]


def timeline_document() -> dict[str, Any]:
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "pg", "namespace": "db", "uid": "uid-sts-pg"},
        "spec": {"serviceName": "pg", "selector": {"matchLabels": {"app": "pg"}}, "template": {}},
    }
    sts_ref = [
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "name": "pg",
            "uid": "uid-sts-pg",
            "controller": True,
        }
    ]
    job_ref = [
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "name": "report-1",
            "uid": "uid-job",
            "controller": True,
        }
    ]
    exporter = pod(
        "node-exporter-a",
        "192.168.0.11",
        "node-1",
        namespace="monitoring",
        spec={
            "hostNetwork": True,
            "containers": [
                {"name": "e", "image": "x", "ports": [{"containerPort": 9100, "hostPort": 9100}]}
            ],
        },
        ownerReferences=[
            {
                "apiVersion": "apps/v1",
                "kind": "DaemonSet",
                "name": "node-exporter",
                "uid": "uid-ds",
                "controller": True,
            }
        ],
    )
    web = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "clusterIP": "10.96.0.20",
            "clusterIPs": ["10.96.0.20"],
            "externalIPs": ["203.0.113.9"],
            "type": "LoadBalancer",
            "ports": [{"port": 80}],
        },
        "status": {
            "loadBalancer": {
                "ingress": [{"ip": "198.51.100.4"}, {"hostname": "web.lb.example.com"}]
            }
        },
    }
    headless = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "pg", "namespace": "db"},
        "spec": {"clusterIP": "None", "clusterIPs": ["None"], "ports": [{"port": 5432}]},
    }
    finished = {
        "status": {
            "phase": "Succeeded",
            "containerStatuses": [
                {"name": "main", "state": {"terminated": {"exitCode": 0, "finishedAt": "$time"}}}
            ],
        }
    }
    return {
        "start": T0,
        "steps": [
            {"time": 0, "add": sts},
            {"time": 0, "add": web},
            {"time": 0, "add": headless},
            {"time": 0, "add": exporter},
            {"time": 0, "add": pod("qux", "10.244.1.23", "node-1")},
            {
                "time": 0,
                "add": pod(
                    "pg-0", "10.244.1.30", "node-1", namespace="db", uid=U1, ownerReferences=sts_ref
                ),
            },
            {
                "time": 10,
                "add": pod("report-1-abc", "10.244.1.40", "node-1", ownerReferences=job_ref),
            },
            {
                "time": 100,
                "patch": {"kind": "Pod", "namespace": "default", "name": "report-1-abc"},
                "with": finished,
            },
            {"time": 200, "add": pod("web-1", "10.244.1.40", "node-1")},
            # pg-0 comes back as a new pod before the old one's DELETE arrives.
            {
                "time": 300,
                "add": pod(
                    "pg-0", "10.244.2.31", "node-2", namespace="db", uid=U2, ownerReferences=sts_ref
                ),
            },
            {
                "time": 400,
                "delete": {
                    "kind": "Pod",
                    "namespace": "db",
                    "name": "pg-0",
                    "uid": U1,
                    "metadata": {"deletionTimestamp": "$time-110"},
                },
            },
            {"time": T1, "delete": {"kind": "Pod", "namespace": "default", "name": "qux"}},
            {"time": T1 + 60, "add": pod("foo", "10.244.1.23", "node-1")},
        ],
    }


def drain(
    inventory: Inventory, history: OwnershipHistory, done: Callable[[], bool], timeout: float = 20
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            event = inventory.events.get(timeout=0.1)
        except queue.Empty:
            if done():
                return
            continue
        history.apply(event.kind, event.type, event.obj, event.observed_at)
    pytest.fail("the inventory did not deliver the timeline's events in time")


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnershipHistory]:
    timeline = Timeline.from_document(copy.deepcopy(timeline_document()))
    sim = SimServer(initial_objects(), timeline=timeline)
    sim.start()
    inventory: Inventory | None = None
    try:
        path = Path(tmp_path_factory.mktemp("timeline")) / "kubeconfig"
        sim.write_kubeconfig(path)
        inventory = Inventory(api_client_for("sim", str(path)), kinds=KINDS, watch_timeout_s=2)
        assert inventory.wait_synced(20), "the informers did not list the simulated cluster"
        assert timeline.run_all() == len(timeline.steps)
        history = OwnershipHistory()

        def everything_seen() -> bool:
            return (
                history.resolve("10.244.1.23", T0 + T1 + 90).name == "foo"
                and history.resolve("10.244.1.30", T0 + 350).kind != POD
            )

        drain(inventory, history, everything_seen)
        yield history
    finally:
        if inventory is not None:
            inventory.stop()
            inventory.api_client.close()
        sim.stop()


def test_ip_reuse_through_the_simulation(replayed: OwnershipHistory) -> None:
    assert replayed.resolve("10.244.1.23", T0 + 10).name == "qux"
    assert replayed.resolve("10.244.1.23", T0 + T1 + 30).kind == UNKNOWN_POD
    assert replayed.resolve("10.244.1.23", T0 + T1 + 90).name == "foo"


def test_finished_job_pod_through_the_simulation(replayed: OwnershipHistory) -> None:
    during = replayed.resolve("10.244.1.40", T0 + 50)
    assert (during.name, during.workload_kind, during.workload_name) == (
        "report-1-abc",
        "Job",
        "report-1",
    )
    assert replayed.resolve("10.244.1.40", T0 + 150).kind == UNKNOWN_POD
    assert replayed.resolve("10.244.1.40", T0 + 250).name == "web-1"
    owners = [iv.owner_uid for iv in replayed.history("10.244.1.40")]
    assert len(owners) == len(set(owners)) == 2


def test_late_delete_through_the_simulation(replayed: OwnershipHistory) -> None:
    old = replayed.resolve("10.244.1.30", T0 + 100)
    new = replayed.resolve("10.244.2.31", T0 + 500)
    assert (old.uid, new.uid) == (U1, U2)
    for identity in (old, new):
        assert (identity.name, identity.workload_kind, identity.workload_name) == (
            "pg-0",
            "StatefulSet",
            "pg",
        )
    assert replayed.resolve("10.244.1.30", T0 + 295).kind == UNKNOWN_POD


def test_host_network_through_the_simulation(replayed: OwnershipHistory) -> None:
    assert replayed.resolve("192.168.0.11", T0 + 50).kind == NODE
    assert replayed.resolve("192.168.0.11", T0 + 50, port=22).kind == NODE
    exporter = replayed.resolve("192.168.0.11", T0 + 50, port=9100)
    assert (exporter.kind, exporter.name, exporter.workload_kind) == (
        POD,
        "node-exporter-a",
        "DaemonSet",
    )


def test_services_and_api_server_through_the_simulation(replayed: OwnershipHistory) -> None:
    for ip in ("10.96.0.20", "203.0.113.9", "198.51.100.4"):
        identity = replayed.resolve(ip, T0 + 50)
        assert (identity.kind, identity.name) == (SERVICE, "web"), ip
    assert replayed.resolve("10.96.0.1", T0 + 50).name == "kubernetes"
    assert replayed.resolve("172.20.5.5", T0 + 50).kind == API_SERVER
    assert replayed.resolve("10.96.0.99", T0 + 50).kind == "UnknownService"
    owners = {o.name: o for o in replayed.owners().values() if o.kind == SERVICE}
    assert owners["web"].hostnames == ("web.lb.example.com",)
    assert not any(history.owner_uid == owners["pg"].uid for history in replayed.intervals())
