"""Records become connections: merged, deduplicated and named at their time."""

from __future__ import annotations

import pytest
from store_scenario import (
    API_IP,
    API_SVC_IP,
    FRONTEND_IP,
    T0,
    find,
    record,
)

from netsight.store import Store


def test_versions_of_one_connection_count_once_with_latest_counters(store: Store) -> None:
    versions = [
        record(
            "worker-1",
            "client",
            ("10.1.0.1", 1000),
            ("10.1.0.2", 80),
            sent=s,
            received=r,
            first=T0,
            last=T0 + i,
            seq=i,
        )
        for i, (s, r) in enumerate([(1, 2), (10, 20), (100, 200)], start=1)
    ]
    store.append_records(versions)

    table = store.connections("pod")

    assert table.num_rows == 1
    row = table.to_pylist()[0]
    assert (row["connections"], row["bytes_sent"], row["bytes_received"]) == (1, 100, 200)
    assert row["last_seen"] == T0 + 3


def test_both_ends_and_conntrack_merge_into_one_connection(scenario: Store) -> None:
    table = scenario.connections("pod")

    [row] = find(table, src_name="frontend-abc", dst_name="api-xyz")
    assert row["connections"] == 1
    # Bytes are the maximum per direction over the client, server and conntrack views.
    assert (row["bytes_sent"], row["bytes_received"]) == (150, 2100)
    assert row["first_seen"] == T0 + 9
    assert row["last_seen"] == T0 + 72
    assert row["nodes"] == ["worker-1", "worker-2"]
    assert row["processes"] == ["api-server", "curl"]
    assert row["via_service"] == "shop/api"
    assert row["dst_port"] == 8080


def test_a_client_socket_without_nat_merges_with_the_conntrack_record(scenario: Store) -> None:
    table = scenario.connections("pod", filter=None)

    dns = find(table, proto="udp")
    assert len(dns) == 1
    assert dns[0]["dst_name"] == "coredns-1"
    assert (dns[0]["bytes_sent"], dns[0]["bytes_received"]) == (68, 148)
    assert dns[0]["processes"] == ["curl"]


def test_the_same_connection_on_two_nodes_is_counted_once(store: Store) -> None:
    src, dst = ("10.1.0.1", 1000), ("10.1.0.2", 80)
    store.append_records(
        [
            record("node-a", "conntrack", src, dst, sent=5, received=6, generation="a"),
            record("node-b", "conntrack", src, dst, sent=7, received=4, generation="b"),
        ]
    )

    [row] = store.connections("pod").to_pylist()

    assert row["connections"] == 1
    assert (row["bytes_sent"], row["bytes_received"]) == (7, 6)
    assert row["nodes"] == ["node-a", "node-b"]


def test_service_level_names_the_service_and_carries_the_backend(scenario: Store) -> None:
    table = scenario.connections("service")

    [row] = find(table, src_name="frontend-abc", dst_kind="Service", dst_name="api")
    assert row["dst_namespace"] == "shop"
    assert row["dst_port"] == 80
    assert (row["backend_kind"], row["backend_namespace"], row["backend_name"]) == (
        "Pod",
        "shop",
        "api-xyz",
    )
    # Direct pod-to-pod connections keep the pod as dst and have no backend.
    direct = find(table, src_name="cache-0")
    assert direct[0]["dst_name"] == "api-xyz" and direct[0]["backend_name"] is None


def test_a_reused_ip_is_named_by_its_owner_at_the_time(scenario: Store) -> None:
    table = scenario.connections("pod", order_by="first_seen")

    to_api = [r for r in find(table, dst_name="api-xyz") if r["src_name"] != "frontend-abc"]
    assert [(r["src_name"], r["first_seen"]) for r in to_api] == [
        ("report-1", T0 + 50),
        ("cache-0", T0 + 250),
    ]


def test_a_reused_ip_between_owners_is_not_claimed_by_either(store: Store) -> None:
    from store_scenario import INTERVALS, OWNERS, REUSED_IP

    store.replace_ownership(INTERVALS, OWNERS)
    # +150 lies after the Job gave the IP back and before the cache pod got it.
    store.append_records(
        [record("worker-1", "conntrack", (REUSED_IP, 1), (API_IP, 8080), first=T0 + 150)]
    )

    [row] = store.connections("pod").to_pylist()

    assert row["src_kind"] == "External"  # no ranges stored here: only the address is known
    assert row["src_name"] == REUSED_IP


def test_a_connection_before_history_began_goes_to_the_first_known_owner(store: Store) -> None:
    from store_scenario import INTERVALS, OWNERS

    store.replace_ownership(INTERVALS, OWNERS)
    store.append_records(
        [record("worker-1", "client", (FRONTEND_IP, 1), (API_IP, 8080), first=T0 - 5000)]
    )

    [row] = store.connections("pod").to_pylist()

    assert (row["src_name"], row["dst_name"]) == ("frontend-abc", "api-xyz")


def test_host_network_ports_go_to_the_pod_and_other_ports_to_the_node(scenario: Store) -> None:
    table = scenario.connections("pod")

    by_port = {r["dst_port"]: r for r in find(table, src_name="prom-0")}
    assert (by_port[9100]["dst_kind"], by_port[9100]["dst_name"]) == ("Pod", "node-exporter-w2")
    assert (by_port[10250]["dst_kind"], by_port[10250]["dst_name"]) == ("Node", "worker-2")


@pytest.mark.parametrize(
    ("ip", "kind", "pod_tag", "group_name"),
    [
        ("10.244.2.99", "UnknownPod", None, "worker-2"),
        ("10.96.5.5", "UnknownService", None, "service range"),
        ("93.184.216.34", "External", "public", "public"),
        ("10.8.1.1", "External", "corporate-vpn", "corporate-vpn"),
    ],
    ids=["unknown-pod", "unknown-service", "public", "user-cidr"],
)
def test_unowned_addresses_are_named_from_their_range(
    scenario: Store, ip: str, kind: str, pod_tag: str | None, group_name: str
) -> None:
    [pod_row] = find(scenario.connections("pod"), dst_name=ip)
    assert (pod_row["dst_kind"], pod_row["dst_tag"]) == (kind, pod_tag)

    [workload_row] = find(scenario.connections("workload"), dst_kind=kind, dst_name=group_name)
    assert workload_row["src_name"] == "frontend"


def test_an_unowned_service_ip_without_nat_is_not_a_service_hop(scenario: Store) -> None:
    [row] = find(scenario.connections("service"), dst_name="10.96.5.5")
    assert row["via_service"] is None and row["backend_name"] is None


def test_workload_level_groups_pods_by_their_controller(scenario: Store) -> None:
    table = scenario.connections("workload")

    [row] = find(table, src_name="frontend", dst_name="api")
    assert (row["src_kind"], row["src_namespace"]) == ("Deployment", "web")
    assert (row["dst_kind"], row["dst_namespace"]) == ("Deployment", "shop")
    assert find(table, src_kind="Job", src_name="report")
    assert find(table, src_kind="StatefulSet", src_name="cache")


def test_app_level_joins_workloads_of_one_release(scenario: Store) -> None:
    table = scenario.connections("app")

    # frontend (web) and api (shop) are both in app "shop" but in different namespaces.
    [row] = find(table, src_kind="App", src_namespace="web", dst_kind="App", dst_port=8080)
    assert (row["src_name"], row["dst_name"], row["dst_namespace"]) == ("shop", "shop", "shop")
    # Pods without an app fall back to their workload.
    assert find(table, src_kind="Job", src_name="report", dst_kind="App", dst_name="shop")


def test_namespace_level_sums_connections_between_namespaces(scenario: Store) -> None:
    table = scenario.connections("namespace")

    web_to_shop = find(table, src_name="web", dst_kind="Namespace", dst_name="shop")
    assert sum(r["connections"] for r in web_to_shop) == 1
    shop_to_shop = find(table, src_name="shop", dst_name="shop")
    assert shop_to_shop[0]["src_namespace"] is None
    total_pod = sum(r["connections"] for r in scenario.connections("pod").to_pylist())
    total_ns = sum(r["connections"] for r in table.to_pylist())
    assert total_pod == total_ns == 10


def test_service_address_is_kept_when_the_service_is_unknown_to_history(store: Store) -> None:
    store.append_records(
        [
            record(
                "worker-1", "conntrack", (FRONTEND_IP, 9), (API_SVC_IP, 80), nat_dst=(API_IP, 8080)
            )
        ]
    )

    [row] = store.connections("service").to_pylist()

    assert row["dst_name"] == API_SVC_IP and row["backend_name"] == API_IP
    assert row["via_service"] == API_SVC_IP


def test_records_arriving_after_a_query_merge_into_the_connections(store: Store) -> None:
    from store_scenario import DNS_IP, DNS_SVC_IP, INTERVALS, OWNERS

    store.replace_ownership(INTERVALS, OWNERS)
    client = (FRONTEND_IP, 5353)
    # The client socket first: it does not know the NAT, so it names the service address.
    store.append_records(
        [record("worker-1", "client", client, (DNS_SVC_IP, 53), proto="udp", sent=40)]
    )
    [before] = store.connections("pod").to_pylist()
    assert before["dst_name"] == "kube-dns"

    # Conntrack later teaches the translation; the connection is re-keyed to the backend.
    store.append_records(
        [
            record(
                "worker-1",
                "conntrack",
                client,
                (DNS_SVC_IP, 53),
                proto="udp",
                nat_dst=(DNS_IP, 53),
                sent=68,
            )
        ]
    )
    [after] = store.connections("pod").to_pylist()
    assert (after["dst_name"], after["via_service"]) == ("coredns-1", "kube-system/kube-dns")
    assert (after["connections"], after["bytes_sent"]) == (1, 68)


def test_ownership_written_after_a_query_renames_the_connections(store: Store) -> None:
    from store_scenario import INTERVALS, OWNERS

    store.append_records([record("worker-1", "client", (FRONTEND_IP, 1), (API_IP, 8080))])
    [unknown] = store.connections("pod").to_pylist()
    assert unknown["dst_name"] == API_IP

    store.replace_ownership(INTERVALS, OWNERS)
    [known] = store.connections("pod").to_pylist()
    assert (known["src_name"], known["dst_name"]) == ("frontend-abc", "api-xyz")
