"""The ownership rules of issue 2, each on a small scripted history."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from identity_builders import (
    T0,
    node,
    owner_ref,
    pod,
    ref_to,
    service,
    ts,
    workload,
)

from netsight.identity.model import API_SERVER, EXTERNAL, NODE, POD, SERVICE, UNKNOWN_POD
from netsight.identity.ownership import OwnershipHistory
from netsight.identity.settings import IdentitySettings

Event = tuple[str, str, dict[str, Any], float]


def run(events: list[Event], settings: IdentitySettings | None = None) -> OwnershipHistory:
    history = OwnershipHistory(settings)
    for kind, event_type, obj, observed_at in events:
        history.apply(kind, event_type, obj, observed_at)
    return history


def assert_no_overlap(history: OwnershipHistory) -> None:
    by_key: dict[tuple[str, int | None], list[tuple[float, float]]] = {}
    for iv in history.intervals():
        end = float("inf") if iv.valid_to is None else iv.valid_to
        assert iv.valid_from < end, iv
        by_key.setdefault((iv.ip, iv.port), []).append((iv.valid_from, end))
    for key, spans in by_key.items():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end <= start, f"overlap on {key}: {spans}"


# -- IP reuse ------------------------------------------------------------------


def ip_reuse_events() -> list[Event]:
    t1 = T0 + 3600
    qux = pod("qux", "10.244.1.23", started=T0)
    qux_deleting = pod(
        "qux", "10.244.1.23", started=T0, pod_uid=qux["metadata"]["uid"], deleted_at=t1
    )
    foo = pod("foo", "10.244.1.23", started=t1 + 60)
    return [
        ("Pod", "ADDED", qux, T0 + 1),
        ("Pod", "MODIFIED", qux_deleting, t1 - 30),
        ("Pod", "DELETED", qux_deleting, t1 + 2),
        ("Pod", "ADDED", foo, t1 + 61),
    ]


def test_reused_ip_resolves_to_the_pod_that_held_it_at_the_time() -> None:
    t1 = T0 + 3600
    history = run(ip_reuse_events())

    assert history.resolve("10.244.1.23", T0 + 10).name == "qux"
    assert history.resolve("10.244.1.23", t1 + 90).name == "foo"
    # Between the delete and the reuse the address is nobody's pod.
    assert history.resolve("10.244.1.23", t1 + 30).kind == UNKNOWN_POD
    assert [iv.valid_to for iv in history.history("10.244.1.23")] == [t1, None]
    assert_no_overlap(history)


@pytest.mark.parametrize("order", list(itertools.permutations(range(4)))[::5])
def test_reuse_history_does_not_depend_on_event_order(order: tuple[int, ...]) -> None:
    events = ip_reuse_events()
    in_order = run(events).intervals()
    shuffled = run([events[i] for i in order]).intervals()
    # A MODIFIED that arrives after DELETED is stale and ignored; DELETED
    # carries the deletion time, so the history is the same either way.
    assert sorted(shuffled, key=lambda i: i.valid_from) == sorted(
        in_order, key=lambda i: i.valid_from
    )


# -- Finished pods -------------------------------------------------------------


def test_succeeded_job_pod_gives_its_ip_back_when_its_containers_finish() -> None:
    job_ref = owner_ref("Job", "report-28712", "job-uid")
    done = pod(
        "report-28712-abc",
        "10.244.1.40",
        phase="Succeeded",
        started=T0,
        finished=T0 + 100,
        owner=job_ref,
    )
    running = pod("web-1", "10.244.1.40", started=T0 + 500)
    history = run([("Pod", "ADDED", running, T0 + 600), ("Pod", "ADDED", done, T0 + 600)])

    assert history.resolve("10.244.1.40", T0 + 50).name == "report-28712-abc"
    assert history.resolve("10.244.1.40", T0 + 50).workload_kind == "Job"
    assert history.resolve("10.244.1.40", T0 + 200).kind == UNKNOWN_POD
    assert history.resolve("10.244.1.40", T0 + 700).name == "web-1"
    assert_no_overlap(history)


def test_running_pod_wins_over_a_finished_pod_that_still_lists_the_ip() -> None:
    # The running pod's startTime is earlier than the finished pod's (its
    # sandbox was recreated): both claim the address for a while.
    running = pod("web-1", "10.244.1.41", started=T0)
    done = pod("job-x", "10.244.1.41", phase="Succeeded", started=T0 + 10, finished=T0 + 20)
    history = run([("Pod", "ADDED", done, T0 + 30), ("Pod", "ADDED", running, T0 + 30)])

    for t in (T0 + 5, T0 + 25, T0 + 10_000):
        assert history.resolve("10.244.1.41", t).name == "web-1"
    assert history.resolve("10.244.1.41", T0 + 15).name == "job-x"
    assert_no_overlap(history)


def test_pods_with_the_same_start_never_tie() -> None:
    done = pod("job-x", "10.244.1.42", phase="Failed", started=T0, finished=T0 + 50)
    running = pod("web-2", "10.244.1.42", started=T0)
    for events in (
        [("Pod", "ADDED", done, T0 + 60), ("Pod", "ADDED", running, T0 + 60)],
        [("Pod", "ADDED", running, T0 + 60), ("Pod", "ADDED", done, T0 + 60)],
    ):
        history = run(events)
        assert history.resolve("10.244.1.42", T0 + 10).name == "web-2"
        assert [iv.valid_from for iv in history.history("10.244.1.42")] == [T0]


def test_pod_that_finishes_while_watched_stops_owning_at_finish_time() -> None:
    running = pod("job-y", "10.244.1.43", started=T0)
    done = pod(
        "job-y",
        "10.244.1.43",
        started=T0,
        pod_uid=running["metadata"]["uid"],
        phase="Succeeded",
        finished=T0 + 40,
    )
    history = run([("Pod", "ADDED", running, T0 + 1), ("Pod", "MODIFIED", done, T0 + 90)])
    assert history.resolve("10.244.1.43", T0 + 39).name == "job-y"
    assert history.resolve("10.244.1.43", T0 + 41).kind == UNKNOWN_POD


# -- Late delete ---------------------------------------------------------------


def test_late_delete_of_a_replaced_statefulset_pod_keeps_the_new_ip_mapped() -> None:
    sts = workload("StatefulSet", "pg", namespace="db")
    old = pod("pg-0", "10.244.1.30", namespace="db", started=T0, owner=ref_to(sts))
    new = pod("pg-0", "10.244.2.31", namespace="db", started=T0 + 300, owner=ref_to(sts))
    old_gone = dict(old, metadata=dict(old["metadata"], deletionTimestamp=ts(T0 + 290)))
    history = run(
        [
            ("StatefulSet", "ADDED", sts, T0),
            ("Pod", "ADDED", old, T0 + 1),
            ("Pod", "ADDED", new, T0 + 301),
            ("Pod", "DELETED", old_gone, T0 + 400),
        ]
    )
    assert old["metadata"]["uid"] != new["metadata"]["uid"]
    before = history.resolve("10.244.1.30", T0 + 100)
    after = history.resolve("10.244.2.31", T0 + 500)
    assert (before.name, before.uid) == ("pg-0", old["metadata"]["uid"])
    assert (after.name, after.uid) == ("pg-0", new["metadata"]["uid"])
    for identity in (before, after):
        assert (identity.workload_kind, identity.workload_name) == ("StatefulSet", "pg")
    assert history.resolve("10.244.1.30", T0 + 295).kind != POD


# -- hostNetwork ---------------------------------------------------------------


def host_network_history() -> OwnershipHistory:
    ds = workload("DaemonSet", "node-exporter", namespace="monitoring")
    exporter = pod(
        "node-exporter-abc",
        "192.168.0.11",
        namespace="monitoring",
        host_network=True,
        ports=[{"containerPort": 9100, "hostPort": 9100}],
        owner=ref_to(ds),
    )
    hostport = pod(
        "ingress-xyz",
        "10.244.1.7",
        ports=[{"containerPort": 8080, "hostPort": 80}],
    )
    return run(
        [
            ("Node", "ADDED", node("node-1", "192.168.0.11", pod_cidrs=["10.244.1.0/24"]), T0),
            ("DaemonSet", "ADDED", ds, T0),
            ("Pod", "ADDED", exporter, T0 + 1),
            ("Pod", "ADDED", hostport, T0 + 1),
        ]
    )


def test_host_network_ip_belongs_to_the_node_and_declared_ports_to_the_pod() -> None:
    history = host_network_history()
    at = T0 + 100

    plain = history.resolve("192.168.0.11", at)
    assert (plain.kind, plain.name) == (NODE, "node-1")
    undeclared = history.resolve("192.168.0.11", at, port=22)
    assert (undeclared.kind, undeclared.name) == (NODE, "node-1")
    exporter = history.resolve("192.168.0.11", at, port=9100)
    assert (exporter.kind, exporter.name) == (POD, "node-exporter-abc")
    assert exporter.workload_kind == "DaemonSet"
    assert "host-network" in exporter.tags
    # A hostPort of an ordinary pod is that pod, reached on the node address.
    via_host_port = history.resolve("192.168.0.11", at, port=80)
    assert (via_host_port.kind, via_host_port.name) == (POD, "ingress-xyz")
    assert_no_overlap(history)


def test_host_network_address_is_in_cluster_even_without_the_node_object() -> None:
    exporter = pod(
        "node-exporter-abc",
        "192.168.7.7",
        host_ip="192.168.7.7",
        node="node-7",
        host_network=True,
    )
    history = run([("Pod", "ADDED", exporter, T0)])
    identity = history.resolve("192.168.7.7", T0 + 5, port=1234)
    assert (identity.kind, identity.name) == (NODE, "node-7")
    assert identity.kind != EXTERNAL


# -- Services and the API server ------------------------------------------------


def test_services_own_cluster_external_and_load_balancer_addresses() -> None:
    dual = service("web", ["10.96.0.20", "fd00:10:96::0020"], external_ips=["203.0.113.9"])
    lb = service(
        "edge",
        "10.96.0.21",
        svc_type="LoadBalancer",
        ingress=[{"ip": "198.51.100.4"}, {"hostname": "edge.elb.example.com"}],
    )
    by_name = service(
        "named-lb", "10.96.0.22", svc_type="LoadBalancer", ingress=[{"hostname": "x.example.com"}]
    )
    headless = service("db", "None")
    headless_lower = service("db2", "none")
    dual_headless = service("kubelet", ["None"])
    ext = service("upstream", None, svc_type="ExternalName")
    history = run(
        [
            ("Service", "ADDED", s, T0)
            for s in (dual, lb, by_name, headless, headless_lower, dual_headless, ext)
        ]
    )
    at = T0 + 10

    for ip, name in [
        ("10.96.0.20", "web"),
        ("fd00:10:96::20", "web"),
        ("203.0.113.9", "web"),
        ("10.96.0.21", "edge"),
        ("198.51.100.4", "edge"),
        ("10.96.0.22", "named-lb"),
    ]:
        identity = history.resolve(ip, at)
        assert (identity.kind, identity.name) == (SERVICE, name), ip
    owners = {o.name: o for o in history.owners().values()}
    assert owners["named-lb"].hostnames == ("x.example.com",)
    assert owners["edge"].hostnames == ("edge.elb.example.com",)
    owned_by = {history.owner(iv.owner_uid).name for iv in history.intervals()}  # type: ignore[union-attr]
    assert owned_by == {"web", "edge", "named-lb"}
    # No address was invented for the hostname-only ingress.
    assert len({iv.ip for iv in history.intervals()}) == 6


def test_external_ip_that_is_a_node_address_leaves_the_node_its_address() -> None:
    svc = service(
        "klipper",
        "10.43.0.50",
        svc_type="LoadBalancer",
        ingress=[{"ip": "192.168.0.11"}],
        ports=[443],
    )
    history = run(
        [("Node", "ADDED", node("node-1", "192.168.0.11"), T0), ("Service", "ADDED", svc, T0)]
    )
    assert history.resolve("192.168.0.11", T0 + 1).kind == NODE
    assert history.resolve("192.168.0.11", T0 + 1, port=443).name == "klipper"


@pytest.mark.parametrize("form", ["EndpointSlice", "Endpoints"])
def test_kubernetes_endpoints_that_match_no_node_are_the_api_server(form: str) -> None:
    if form == "EndpointSlice":
        eps: dict[str, Any] = {
            "kind": "EndpointSlice",
            "metadata": {
                "name": "kubernetes",
                "namespace": "default",
                "uid": "slice-1",
                "labels": {"kubernetes.io/service-name": "kubernetes"},
            },
            "endpoints": [{"addresses": ["172.20.5.5"]}, {"addresses": ["192.168.0.11"]}],
            "ports": [{"port": 443}],
        }
    else:
        eps = {
            "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default", "uid": "ep-1"},
            "subsets": [
                {
                    "addresses": [{"ip": "172.20.5.5"}, {"ip": "192.168.0.11"}],
                    "ports": [{"port": 443}],
                }
            ],
        }
    other = {
        "kind": "EndpointSlice",
        "metadata": {
            "name": "web-abc",
            "namespace": "default",
            "uid": "slice-2",
            "labels": {"kubernetes.io/service-name": "web"},
        },
        "endpoints": [{"addresses": ["172.20.6.6"]}],
    }
    history = run(
        [
            ("Node", "ADDED", node("node-1", "192.168.0.11"), T0),
            (form, "ADDED", eps, T0),
            ("EndpointSlice", "ADDED", other, T0),
        ]
    )
    api = history.resolve("172.20.5.5", T0 + 1)
    assert (api.kind, api.namespace, api.name) == (API_SERVER, "default", "kubernetes")
    assert history.resolve("192.168.0.11", T0 + 1).kind == NODE
    # The API server's port on a control-plane node is the API server.
    assert history.resolve("192.168.0.11", T0 + 1, port=443).kind == API_SERVER
    assert history.resolve("172.20.6.6", T0 + 1).kind == EXTERNAL


# -- Nodes, unknown addresses, external ones ---------------------------------------


def test_nodes_own_every_address_even_public_or_equal_ones() -> None:
    same = node("edge-1", "34.1.2.3", external="34.1.2.3")
    both = node("n-2", ["10.0.0.2", "2001:db8:1::2"], external="35.9.9.9")
    history = run([("Node", "ADDED", same, T0), ("Node", "ADDED", both, T0)])
    for ip, name in [
        ("34.1.2.3", "edge-1"),
        ("10.0.0.2", "n-2"),
        ("2001:DB8:1:0::2", "n-2"),
        ("35.9.9.9", "n-2"),
    ]:
        identity = history.resolve(ip, T0 + 1)
        assert (identity.kind, identity.name) == (NODE, name), ip
    assert len(history.history("34.1.2.3")) == 1


def test_unowned_addresses_are_classified_never_external_inside_the_cluster() -> None:
    settings = IdentitySettings(named_cidrs=(("corporate VPN", "172.31.0.0/16"),))
    history = run(
        [
            (
                "Node",
                "ADDED",
                node("node-1", "192.168.0.11", pod_cidrs=["10.244.1.0/24", "fd00:244:1::/64"]),
                T0,
            ),
            ("Service", "ADDED", service("kubernetes", "10.96.0.1"), T0),
            ("Service", "ADDED", service("dns", "10.96.0.10"), T0),
        ],
        settings,
    )
    at = T0 + 1
    unknown = history.resolve("10.244.1.99", at)
    assert (unknown.kind, unknown.node) == (UNKNOWN_POD, "node-1")
    assert unknown.describe() == "an unknown pod on node node-1"
    assert history.resolve("fd00:244:1::abcd", at).node == "node-1"
    assert history.resolve("10.96.3.3", at).kind == "UnknownService"
    assert history.resolve("10.96.3.3", at).describe() == "an unknown service address"
    expected_tags = {
        "10.1.2.3": ("private",),
        "fd12::1": ("private",),
        "169.254.169.254": ("link-local",),
        "fe80::1": ("link-local",),
        "100.64.3.4": ("cgnat",),
        "192.0.2.1": ("documentation",),
        "2001:db8::5": ("documentation",),
        "8.8.8.8": ("public",),
        "2606:4700::1111": ("public",),
        "127.0.0.1": ("loopback",),
        "224.0.0.251": ("multicast",),
        "172.31.4.4": ("private", "corporate VPN"),
    }
    for ip, tags in expected_tags.items():
        identity = history.resolve(ip, at)
        assert (identity.kind, identity.tags) == (EXTERNAL, tags), ip


def test_ipv6_and_mapped_addresses_are_normalised_before_matching() -> None:
    history = run(
        [
            (
                "Pod",
                "ADDED",
                pod("dual", ["10.244.1.5", "FD00:0244:0001:0000:0000:0000:0000:0005"]),
                T0,
            ),
        ]
    )
    assert history.resolve("fd00:244:1::5", T0 + 1).name == "dual"
    assert history.resolve("fd00:244:1:0:0:0:0:5", T0 + 1).name == "dual"
    assert history.resolve("::ffff:10.244.1.5", T0 + 1).name == "dual"
    assert {iv.ip for iv in history.intervals()} == {"10.244.1.5", "fd00:244:1::5"}
    with pytest.raises(ValueError):
        history.resolve("not-an-ip", T0)


# -- Workloads -------------------------------------------------------------------


def test_owner_chains_name_the_workload() -> None:
    deploy = workload("Deployment", "checkout")
    rs = workload("ReplicaSet", "checkout-7d9f", owner=ref_to(deploy))
    orphan_rs = workload("ReplicaSet", "lonely-5c6d")
    cron = workload("CronJob", "report")
    job = workload("Job", "report-28712", owner=ref_to(cron))
    ds = workload("DaemonSet", "agent")
    pods = {
        "10.244.1.1": pod("checkout-7d9f-x2kq", "10.244.1.1", owner=ref_to(rs)),
        "10.244.1.2": pod("lonely-5c6d-aaaa", "10.244.1.2", owner=ref_to(orphan_rs)),
        "10.244.1.3": pod("report-28712-abc", "10.244.1.3", owner=ref_to(job)),
        "10.244.1.4": pod("agent-qq", "10.244.1.4", owner=ref_to(ds)),
        "10.244.1.5": pod("bare", "10.244.1.5"),
        "10.244.1.6": pod("static-node-1", "10.244.1.6", owner=owner_ref("Node", "node-1", "n")),
        "10.244.1.7": pod(
            "unknown-rs-x", "10.244.1.7", owner=owner_ref("ReplicaSet", "gone-rs", "g")
        ),
    }
    events: list[Event] = [("Pod", "ADDED", p, T0) for p in pods.values()]
    # Parents arrive after the pods: the chain is read when resolving.
    events += [(w["kind"], "ADDED", w, T0) for w in (deploy, rs, orphan_rs, cron, job, ds)]
    history = run(events)
    expected = {
        "10.244.1.1": ("Deployment", "checkout"),
        "10.244.1.2": ("ReplicaSet", "lonely-5c6d"),
        "10.244.1.3": ("CronJob", "report"),
        "10.244.1.4": ("DaemonSet", "agent"),
        "10.244.1.5": (None, None),
        "10.244.1.6": (None, None),
        "10.244.1.7": ("ReplicaSet", "gone-rs"),
    }
    for ip, workload_id in expected.items():
        identity = history.resolve(ip, T0 + 1)
        assert (identity.workload_kind, identity.workload_name) == workload_id, ip


def test_stale_events_after_delete_do_not_resurrect_a_pod() -> None:
    p = pod("gone", "10.244.1.77", started=T0)
    history = run(
        [
            ("Pod", "ADDED", p, T0 + 1),
            ("Pod", "DELETED", p, T0 + 50),
            ("Pod", "MODIFIED", p, T0 + 60),
        ]
    )
    assert history.resolve("10.244.1.77", T0 + 10).name == "gone"
    assert history.resolve("10.244.1.77", T0 + 70).kind == UNKNOWN_POD
