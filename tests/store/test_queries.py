"""Filters, order and paging in SQL; exports; IP lookup; a saved file reopened alone."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from store_scenario import NODE2_IP, REUSED_IP, T0, fill, find

from netsight.store import Filter, Store, StoreInputError, open_store


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        (Filter(namespaces=("kube-system",)), {("frontend-abc", "coredns-1")}),
        (
            Filter(apps=("shop",), ports=(8080,)),
            {("frontend-abc", "api-xyz"), ("cache-0", "api-xyz"), ("report-1", "api-xyz")},
        ),
        (Filter(ports=(80,)), {("frontend-abc", "api-xyz"), ("frontend-abc", "10.244.2.99")}),
        (Filter(cidrs=("10.244.1.9/32",)), {("report-1", "api-xyz"), ("cache-0", "api-xyz")}),
        (
            Filter(cidrs=("10.96.0.0/27",)),
            {("frontend-abc", "api-xyz"), ("frontend-abc", "coredns-1")},
        ),
        (Filter(name="EXPORTER"), {("prom-0", "node-exporter-w2")}),
        (
            Filter(external_only=True),
            {("frontend-abc", "93.184.216.34"), ("frontend-abc", "10.8.1.1")},
        ),
        (Filter(protos=("udp",)), {("frontend-abc", "coredns-1")}),
    ],
    ids=[
        "namespace",
        "app-and-port",
        "service-port",
        "ip",
        "service-cidr",
        "name",
        "external",
        "proto",
    ],
)
def test_filters_keep_matching_connections(
    scenario: Store, filter: Filter, expected: set[tuple[str, str]]
) -> None:
    table = scenario.connections("pod", filter=filter)

    assert {(r["src_name"], r["dst_name"]) for r in table.to_pylist()} == expected


def test_time_window_keeps_overlapping_connections(scenario: Store) -> None:
    table = scenario.connections("pod", since=T0 + 200, until=T0 + 400)

    assert {(r["src_name"], r["dst_name"]) for r in table.to_pylist()} == {("cache-0", "api-xyz")}


def test_order_limit_and_offset_page_through_the_result(scenario: Store) -> None:
    everything = scenario.connections("pod", order_by=["bytes_received desc"])
    received = everything.column("bytes_received").to_pylist()
    assert received == sorted(received, reverse=True)

    page = scenario.connections("pod", order_by="bytes_received desc", limit=3, offset=2)
    assert page.to_pylist() == everything.to_pylist()[2:5]


def test_unknown_order_column_and_level_are_input_errors(scenario: Store) -> None:
    with pytest.raises(StoreInputError):
        scenario.connections("pod", order_by="bytes; DROP TABLE records")
    with pytest.raises(StoreInputError):
        scenario.connections("galaxy")
    with pytest.raises(StoreInputError):
        scenario.connections("pod", filter=Filter(cidrs=("not-an-ip",)))


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_exports_read_back_as_the_same_rows(scenario: Store, tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"connections.{fmt}"

    written = scenario.export_connections(path, fmt, level="workload", order_by="bytes_sent desc")

    expected = scenario.connections("workload", order_by="bytes_sent desc")
    assert written == expected.num_rows
    if fmt == "parquet":
        back = pq.read_table(path)
        assert back.to_pylist() == expected.to_pylist()
    elif fmt == "json":
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        assert [(r["src_name"], r["dst_name"], r["bytes_sent"]) for r in lines] == [
            (r["src_name"], r["dst_name"], r["bytes_sent"]) for r in expected.to_pylist()
        ]
    else:
        back = duckdb.read_csv(str(path)).fetchall()
        assert [(row[2], row[5]) for row in back] == [
            (r["src_name"], r["dst_name"]) for r in expected.to_pylist()
        ]


def test_an_unknown_export_format_is_an_input_error(scenario: Store, tmp_path: Path) -> None:
    with pytest.raises(StoreInputError):
        scenario.export_connections(tmp_path / "x.xml", "xml")


def test_identity_at_follows_ip_reuse(scenario: Store) -> None:
    assert scenario.identity_at(REUSED_IP, T0 + 50).name == "report-1"
    assert scenario.identity_at(REUSED_IP, T0 + 250).workload_name == "cache"
    # Between owners the address range answers.
    between = scenario.identity_at(REUSED_IP, T0 + 150)
    assert (between.kind, between.node) == ("UnknownPod", "worker-1")


def test_identity_at_prefers_a_host_network_port(scenario: Store) -> None:
    assert scenario.identity_at(NODE2_IP, T0, port=9100).name == "node-exporter-w2"
    assert scenario.identity_at(NODE2_IP, T0, port=22).name == "worker-2"
    assert scenario.identity_at(NODE2_IP, T0).kind == "Node"


def test_identity_of_unowned_addresses(scenario: Store) -> None:
    assert scenario.identity_at("10.96.7.7", T0).kind == "UnknownService"
    external = scenario.identity_at("10.8.3.4", T0)
    assert (external.kind, external.tags) == ("External", ("corporate-vpn",))
    assert scenario.identity_at("1.1.1.1", T0).tags == ("public",)
    assert scenario.identity_at("fd00::1", T0).tags == ("private",)


def test_ip_history_lists_every_owner_in_order(scenario: Store) -> None:
    history = scenario.ip_history(REUSED_IP).to_pylist()

    assert [(h["name"], h["valid_from"], h["valid_to"]) for h in history] == [
        ("report-1", T0, T0 + 100),
        ("cache-0", T0 + 200, None),
    ]


def test_a_saved_file_reopens_and_answers_without_a_cluster(db_path: Path) -> None:
    with open_store(db_path) as store:
        fill(store)
        before = store.connections("service")

    with open_store(db_path, read_only=True) as reopened:
        assert reopened.connections("service").equals(before)
        assert reopened.identity_at(REUSED_IP, T0 + 50).name == "report-1"
        assert find(reopened.connections("namespace"), dst_name="corporate-vpn")


def test_upserted_ownership_closes_an_interval(scenario: Store) -> None:
    from netsight.identity.model import Interval, OwnerUid

    scenario.upsert_ownership(
        [Interval(REUSED_IP, None, OwnerUid("p-cache"), T0 + 200, T0 + 260)], []
    )

    history = scenario.ip_history(REUSED_IP).to_pylist()
    assert [(h["name"], h["valid_to"]) for h in history] == [
        ("report-1", T0 + 100),
        ("cache-0", T0 + 260),
    ]


def test_an_ownership_write_re_resolves_the_connections_at_its_ips(scenario: Store) -> None:
    from netsight.identity.model import Interval, Owner, OwnerUid

    before = scenario.connections("pod")
    assert find(before, src_name="frontend-abc", dst_name="10.244.2.99")

    # A new owner whose uid sorts before every other: earlier owners keep their names.
    scenario.upsert_ownership(
        [Interval("10.244.2.99", None, OwnerUid("a-first"), T0)],
        [Owner(uid=OwnerUid("a-first"), kind="Pod", namespace="shop", name="late-pod")],
    )

    after = scenario.connections("pod")
    [row] = find(after, src_name="frontend-abc", dst_name="late-pod")
    assert (row["dst_kind"], row["dst_namespace"]) == ("Pod", "shop")
    assert not find(after, dst_name="10.244.2.99")
    rest = [r for r in after.to_pylist() if r["dst_name"] != "late-pod"]
    assert sorted(rest, key=repr) == sorted(
        [r for r in before.to_pylist() if r["dst_name"] != "10.244.2.99"], key=repr
    )


def test_replacing_the_history_re_resolves_every_connection(scenario: Store) -> None:
    scenario.connections("pod")
    scenario.replace_ownership([], [])

    names = {r["src_name"] for r in scenario.connections("pod").to_pylist()}
    assert "frontend-abc" not in names and "10.244.1.5" in names


@pytest.mark.parametrize(
    ("level", "kinds", "expected"),
    [
        ("pod", ("external",), {("frontend-abc", "93.184.216.34"), ("frontend-abc", "10.8.1.1")}),
        ("workload", ("DAEMONSET",), {("prom", "node-exporter")}),
        ("service", ("Service",), {("frontend-abc", "api"), ("frontend-abc", "kube-dns")}),
        ("namespace", ("unknownservice",), {("web", "service range")}),
    ],
)
def test_kinds_keep_rows_with_an_end_of_that_kind_at_the_level(
    scenario: Store, level: str, kinds: tuple[str, ...], expected: set[tuple[str, str]]
) -> None:
    table = scenario.connections(level, filter=Filter(kinds=kinds))

    assert {(r["src_name"], r["dst_name"]) for r in table.to_pylist()} == expected


def test_nodes_keep_whole_rows_that_a_node_observed(scenario: Store) -> None:
    everything = scenario.connections("namespace")
    table = scenario.connections("namespace", filter=Filter(nodes=("worker-2",)))

    assert table.num_rows > 0
    assert all("worker-2" in row["nodes"] for row in table.to_pylist())
    # Whole rows: the same rows as unfiltered, connections other nodes saw included.
    assert table.to_pylist() == [r for r in everything.to_pylist() if "worker-2" in r["nodes"]]
    assert table.num_rows < everything.num_rows


def test_unowned_pod_and_service_addresses_carry_no_cidr_tag(scenario: Store) -> None:
    unknown_pod = scenario.identity_at("10.244.1.77", T0)
    assert (unknown_pod.kind, unknown_pod.node, unknown_pod.tags) == ("UnknownPod", "worker-1", ())
    assert unknown_pod.describe() == "an unknown pod on node worker-1"
    assert scenario.identity_at("10.96.7.7", T0).tags == ()
