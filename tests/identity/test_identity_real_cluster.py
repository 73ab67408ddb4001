"""A real OpenShift cluster's dump, checked by rules read straight from the objects."""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from netsight.identity.model import EXTERNAL, NODE, POD, SERVICE, UNKNOWN_POD
from netsight.identity.ownership import OwnershipHistory

REAL = Path("/work/shared/fixtures/real")
if not REAL.is_dir():
    REAL = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "real"
PODS_FILE = REAL / "mg-aws-ocp-pods.json"
REST_FILE = REAL / "mg-aws-ocp-nodes-services-endpointslices-workloads.json"


def epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for path in (REST_FILE, PODS_FILE):
        items += json.loads(path.read_text())["items"]
    return items


@pytest.fixture(scope="module")
def dump_time(objects: list[dict[str, Any]]) -> float:
    """A moment after everything in the dump happened."""
    return max(epoch(o["metadata"]["creationTimestamp"]) for o in objects) + 3600


@pytest.fixture(scope="module")
def history(objects: list[dict[str, Any]], dump_time: float) -> OwnershipHistory:
    h = OwnershipHistory()
    for obj in objects:
        h.apply(obj["kind"], "ADDED", obj, dump_time)
    return h


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def test_dump_has_what_the_rules_need(objects: list[dict[str, Any]]) -> None:
    pods = of_kind(objects, "Pod")
    assert sum(1 for p in pods if p["spec"].get("hostNetwork")) == 80
    assert (
        sum(1 for p in pods if p["status"]["phase"] == "Succeeded" and p["status"].get("podIP"))
        == 56
    )


def test_no_two_owners_at_one_address_port_and_time(history: OwnershipHistory) -> None:
    spans: dict[tuple[str, int | None], list[tuple[float, float]]] = {}
    for iv in history.intervals():
        spans.setdefault((iv.ip, iv.port), []).append(
            (iv.valid_from, float("inf") if iv.valid_to is None else iv.valid_to)
        )
    for key, found in spans.items():
        found.sort()
        starts = [s for s, _ in found]
        assert len(starts) == len(set(starts)), key
        for (_, end), (start, _) in itertools.pairwise(found):
            assert end <= start, key


def test_every_running_pod_ip_is_that_pod(
    objects: list[dict[str, Any]], history: OwnershipHistory, dump_time: float
) -> None:
    running = [
        p
        for p in of_kind(objects, "Pod")
        if p["status"]["phase"] == "Running" and not p["spec"].get("hostNetwork")
    ]
    assert len(running) == 103
    for p in running:
        for entry in p["status"]["podIPs"]:
            identity = history.resolve(entry["ip"], dump_time)
            assert (identity.kind, identity.uid) == (POD, p["metadata"]["uid"]), entry["ip"]
            assert identity.node == p["spec"]["nodeName"]


def test_host_network_ips_are_the_node_or_a_pod_declaring_the_port(
    objects: list[dict[str, Any]], history: OwnershipHistory, dump_time: float
) -> None:
    node_by_ip = {
        a["address"]: n["metadata"]["name"]
        for n in of_kind(objects, "Node")
        for a in n["status"]["addresses"]
        if a["type"] == "InternalIP"
    }
    declared: dict[tuple[str, int], set[str]] = {}
    host_pods = [p for p in of_kind(objects, "Pod") if p["spec"].get("hostNetwork")]
    for p in host_pods:
        for c in p["spec"]["containers"]:
            for port in c.get("ports") or []:
                for number in {port.get("containerPort"), port.get("hostPort")} - {None}:
                    declared.setdefault((p["status"]["podIP"], number), set()).add(
                        p["metadata"]["uid"]
                    )

    for p in host_pods:
        ip = p["status"]["podIP"]
        plain = history.resolve(ip, dump_time)
        assert (plain.kind, plain.name) == (NODE, node_by_ip[ip])
        assert history.resolve(ip, dump_time, port=1).kind == NODE
        for port in (1, 22, 6443, 9100, 10250, 10301):
            identity = history.resolve(ip, dump_time, port=port)
            assert identity.kind != EXTERNAL
            if (ip, port) in declared:
                assert identity.kind == POD and identity.uid in declared[(ip, port)], (ip, port)
            else:
                assert (identity.kind, identity.name) == (NODE, node_by_ip[ip]), (ip, port)
    assert len(declared) > 50


def test_succeeded_pods_never_win_and_their_ips_stay_in_cluster(
    objects: list[dict[str, Any]], history: OwnershipHistory, dump_time: float
) -> None:
    pods = of_kind(objects, "Pod")
    running_ips = {p["status"]["podIP"] for p in pods if p["status"]["phase"] == "Running"}
    done = [p for p in pods if p["status"]["phase"] == "Succeeded"]
    for p in done:
        ip = p["status"]["podIP"]
        identity = history.resolve(ip, dump_time)
        assert identity.uid != p["metadata"]["uid"]
        assert identity.kind != EXTERNAL
        if ip not in running_ips:
            assert (identity.kind, identity.node) == (UNKNOWN_POD, p["spec"]["nodeName"])
        # While it ran, it was that pod.
        finished = max(
            epoch(cs["state"]["terminated"]["finishedAt"])
            for cs in p["status"]["containerStatuses"]
        )
        started = epoch(p["status"]["startTime"])
        if started < finished and ip not in running_ips:
            assert history.resolve(ip, (started + finished) / 2).uid == p["metadata"]["uid"]


def test_services_own_their_cluster_ips_and_headless_ones_own_nothing(
    objects: list[dict[str, Any]], history: OwnershipHistory, dump_time: float
) -> None:
    services = of_kind(objects, "Service")
    owning_uids = {iv.owner_uid for iv in history.intervals()}
    headless = 0
    for s in services:
        spec = s["spec"]
        ips = [
            ip
            for ip in spec.get("clusterIPs") or [spec.get("clusterIP")]
            if ip and ip.lower() != "none"
        ]
        if spec.get("type") == "ExternalName" or not ips:
            headless += 1
            assert s["metadata"]["uid"] not in owning_uids, s["metadata"]["name"]
            continue
        for ip in ips:
            identity = history.resolve(ip, dump_time)
            assert (identity.kind, identity.namespace, identity.name) == (
                SERVICE,
                s["metadata"]["namespace"],
                s["metadata"]["name"],
            )
    # The dump holds an ExternalName Service and many headless ones.
    assert headless > 10
    assert any(s["spec"].get("type") == "ExternalName" for s in services)
    router = next(
        o for o in history.owners().values() if o.name == "router-default" and o.kind == SERVICE
    )
    assert router.hostnames and router.hostnames[0].endswith(".elb.amazonaws.com")
    # An address in the learned Service range that nobody holds.
    assert history.resolve("172.30.77.77", dump_time).kind == "UnknownService"


def test_nodes_and_kubernetes_endpoints(
    objects: list[dict[str, Any]], history: OwnershipHistory, dump_time: float
) -> None:
    for n in of_kind(objects, "Node"):
        for a in n["status"]["addresses"]:
            if a["type"] in ("InternalIP", "ExternalIP"):
                identity = history.resolve(a["address"], dump_time)
                assert (identity.kind, identity.name) == (NODE, n["metadata"]["name"])
    # Here the API server endpoints are control-plane nodes: they stay nodes.
    slice_ = next(
        e for e in of_kind(objects, "EndpointSlice") if e["metadata"]["namespace"] == "default"
    )
    for ep in slice_["endpoints"]:
        assert history.resolve(ep["addresses"][0], dump_time).kind == NODE


def test_pods_name_their_workload(
    objects: list[dict[str, Any]], history: OwnershipHistory, dump_time: float
) -> None:
    rs_parent = {
        rs["metadata"]["uid"]: rs["metadata"]["ownerReferences"][0]["name"]
        for rs in of_kind(objects, "ReplicaSet")
        if rs["metadata"].get("ownerReferences")
    }
    checked = 0
    for p in of_kind(objects, "Pod"):
        refs = p["metadata"].get("ownerReferences") or []
        if p["spec"].get("hostNetwork") or p["status"]["phase"] != "Running" or not refs:
            continue
        ref = refs[0]
        identity = history.resolve(p["status"]["podIP"], dump_time)
        if ref["kind"] == "ReplicaSet" and ref["uid"] in rs_parent:
            assert (identity.workload_kind, identity.workload_name) == (
                "Deployment",
                rs_parent[ref["uid"]],
            )
            checked += 1
        elif ref["kind"] in ("DaemonSet", "StatefulSet"):
            assert (identity.workload_kind, identity.workload_name) == (ref["kind"], ref["name"])
            checked += 1
    assert checked > 50
