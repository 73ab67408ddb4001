"""Graph building, external groups, collapsing, drill-down and the breadcrumb."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from netsight.topology.external import PUBLIC, ExternalGrouping
from netsight.topology.graph import (
    APP,
    NAMESPACE,
    POD,
    WORKLOAD,
    Breadcrumb,
    NotDrillableError,
    TopologySettings,
    build_graph,
    build_view,
    drill_down,
    expand_group,
    groups_in,
    member_subgraph,
    node_id,
)

VPN = TopologySettings(user_ranges=(("corporate-vpn", ("10.8.0.0/16",)),))


def test_pod_rows_become_nodes_with_stable_ids_and_summed_edges(shop_rows):
    graph = build_graph(shop_rows, POD)

    frontend = node_id("Pod", "shop", "frontend-1")
    checkout = node_id("Pod", "shop", "checkout-1")
    assert frontend == "Pod/shop/frontend-1"
    assert graph.nodes[frontend]["kind"] == "Pod"
    assert graph.nodes[frontend]["namespace"] == "shop"
    assert graph.nodes[frontend]["label"] == "frontend-1"
    assert graph.nodes[frontend]["members"] == 1
    edge = graph.edges[frontend, checkout]
    assert edge["ports"] == ("8080/tcp", "9090/tcp")
    assert edge["connections"] == 2
    assert edge["bytes_sent"] == 105
    assert edge["bytes"] == 105 + 2000
    # Edges point from client to server.
    assert not graph.has_edge(checkout, frontend)


def test_arrow_table_and_dict_rows_build_the_same_graph(shop_rows):
    from_dicts = build_graph(shop_rows, POD)
    from_arrow = build_graph(pa.Table.from_pylist(shop_rows), POD)
    assert dict(from_dicts.nodes(data=True)) == dict(from_arrow.nodes(data=True))
    assert list(from_dicts.edges(data=True)) == list(from_arrow.edges(data=True))


@pytest.mark.parametrize(
    ("level", "kind", "namespace", "name", "expected"),
    [
        (WORKLOAD, "Deployment", "shop", "checkout", "Deployment/shop/checkout"),
        (APP, "App", "shop", "webshop", "App/shop/webshop"),
        (NAMESPACE, "Namespace", None, "shop", "Namespace/shop"),
    ],
    ids=["workload", "app", "namespace"],
)
def test_each_level_gets_ids_from_its_own_rows(row, level, kind, namespace, name, expected):
    rows = [row((kind, namespace, name), ("Node", None, "worker-1"), 10250)]
    graph = build_graph(rows, level)
    assert set(graph) == {expected, "Node/worker-1"}
    assert graph.graph["level"] == level
    assert graph.nodes[expected]["level"] == level


def test_unknown_level_is_refused():
    with pytest.raises(ValueError, match="unknown level"):
        build_graph([], "cluster")


def test_external_addresses_fold_into_user_named_then_well_known_groups(shop_rows):
    graph = build_graph(shop_rows, POD, grouping=VPN.grouping())

    externals = {n: a for n, a in graph.nodes(data=True) if a["kind"] == "External"}
    assert set(externals) == {"External/public", "External/corporate-vpn", "External/private"}
    assert externals["External/public"]["label"] == "Internet"
    assert externals["External/public"]["members"] == 2
    assert externals["External/private"]["label"] == "Private network"
    assert externals["External/corporate-vpn"]["label"] == "corporate-vpn"
    assert externals["External/corporate-vpn"]["members"] == 1
    assert groups_in(graph) == ["corporate-vpn", "private", "public"]


def test_expanding_a_group_shows_its_addresses_and_folding_hides_them(shop_rows):
    expanded = expand_group(frozenset(), PUBLIC)
    graph = build_graph(shop_rows, POD, expanded_groups=expanded, grouping=VPN.grouping())
    assert "External/public" not in graph
    assert {"External/public/1.1.1.1", "External/public/93.184.216.34"} <= set(graph)
    assert graph.nodes["External/public/1.1.1.1"]["group"] == PUBLIC
    assert graph.nodes["External/public/1.1.1.1"]["label"] == "1.1.1.1"
    assert "External/corporate-vpn" in graph

    folded = build_graph(shop_rows, POD, expanded_groups=expand_group(expanded, PUBLIC))
    assert "External/public" in folded


def test_the_stores_tags_name_the_groups_at_every_level(row):
    pod_rows = [
        row(("Pod", "shop", "a"), ("External", None, "10.8.1.1"), 443, dst_tag="office"),
        row(("Pod", "shop", "a"), ("External", None, "8.8.8.8"), 53, dst_tag="public"),
    ]
    graph = build_graph(pod_rows, POD)
    assert {"External/office", "External/public"} <= set(graph)

    # Coarser levels name only the group: expanding it has nothing to show.
    workload_rows = [
        row(("Deployment", "shop", "a"), ("External", None, "office"), dst_tag="office")
    ]
    coarse = build_graph(workload_rows, WORKLOAD, expanded_groups={"office"})
    assert "External/office" in coarse
    assert coarse.nodes["External/office"]["members"] == 1


def test_most_specific_user_range_wins_and_bad_ranges_are_skipped(caplog):
    grouping = ExternalGrouping(
        {"office": ["10.8.0.0/16"], "printers": ["10.8.5.0/24"], "broken": ["not-a-cidr"]}
    )
    assert grouping.group_of("10.8.5.7") == "printers"
    assert grouping.group_of("10.8.9.7") == "office"
    assert grouping.group_of("10.9.0.1") == "private"
    assert grouping.group_of("100.64.3.3") == "cgnat"
    assert grouping.group_of("2001:db8::1") == "documentation"
    assert grouping.group_of("::ffff:10.8.5.1") == "printers"
    assert grouping.group_of("8.8.8.8") == PUBLIC
    assert "not-a-cidr" in caplog.text


def _pod_fleet(row, pods: int) -> dict[str, list[dict[str, Any]]]:
    """Rows per level for `pods` pods in 4 workloads of 2 apps in one namespace."""
    pod_rows = [
        row(("Pod", "shop", f"web-{i}"), ("Pod", "shop", f"api-{i % 7}"), 8080) for i in range(pods)
    ]
    workload_rows = [
        row(("Deployment", "shop", "web"), ("Deployment", "shop", "api"), 8080),
        row(("Deployment", "shop", "api"), ("StatefulSet", "shop", "db"), 5432),
    ]
    app_rows = [row(("App", "shop", "webshop"), ("App", "shop", "storage"), 5432)]
    return {POD: pod_rows, WORKLOAD: workload_rows, APP: app_rows}


def test_too_many_nodes_collapse_to_the_next_level_with_a_note(row):
    rows = _pod_fleet(row, 60)
    asked: list[str] = []

    def fetch(level: str) -> list[dict[str, Any]]:
        asked.append(level)
        return rows[level]

    view = build_view(fetch, POD, settings=TopologySettings(max_visible_nodes=20))

    assert asked == [POD, WORKLOAD]
    assert view.level == WORKLOAD
    assert view.requested_level == POD
    assert set(view.graph) == {
        "Deployment/shop/web",
        "Deployment/shop/api",
        "StatefulSet/shop/db",
    }
    assert view.note is not None
    assert "67 pods" in view.note and "20" in view.note and "workloads" in view.note


def test_a_view_under_the_limit_stays_at_its_level_without_note(row):
    rows = _pod_fleet(row, 5)
    view = build_view(rows.__getitem__, POD, settings=TopologySettings(max_visible_nodes=20))
    assert view.level == POD
    assert view.note is None
    assert view.graph.number_of_nodes() == 10


def test_collapse_goes_up_several_levels_until_it_fits(row):
    rows = _pod_fleet(row, 60)
    view = build_view(rows.__getitem__, POD, settings=TopologySettings(max_visible_nodes=2))
    assert view.level == APP
    assert view.note is not None and "applications" in view.note


def test_drilling_into_an_app_asks_for_its_workloads_and_marks_members(row):
    apps = build_graph([row(("App", "shop", "webshop"), ("App", "db", "pg"), 5432)], APP)
    spec = drill_down(apps, node_id("App", "shop", "webshop"))
    assert spec.level == WORKLOAD
    assert (spec.namespace, spec.app) == ("shop", "webshop")
    assert spec.search_text() == "ns:shop app:webshop"
    assert spec.filter_fields() == {"namespaces": ("shop",), "apps": ("webshop",)}

    # The store returns the members' traffic, both ends tagged with their app.
    workload_rows = [
        row(("Deployment", "shop", "web"), ("Deployment", "shop", "api"), 80,
             src_app="webshop", dst_app="webshop"),
        row(("Deployment", "shop", "api"), ("StatefulSet", "db", "pg"), 5432,
             src_app="webshop", dst_app="pg"),
        row(("Deployment", "shop", "cron"), ("StatefulSet", "db", "pg"), 5432,
             src_app="reports", dst_app="pg"),
    ]  # fmt: skip
    sub = member_subgraph(build_graph(workload_rows, WORKLOAD), spec)
    in_focus = {n for n, a in sub.nodes(data=True) if a["in_focus"]}
    assert in_focus == {"Deployment/shop/web", "Deployment/shop/api"}
    # The peer stays visible, the unrelated workload does not.
    assert "StatefulSet/db/pg" in sub
    assert "Deployment/shop/cron" not in sub


def test_drilling_into_a_namespace_and_a_workload(row):
    namespaces = build_graph(
        [row(("Namespace", None, "shop"), ("Namespace", None, "db"))], NAMESPACE
    )
    spec = drill_down(namespaces, node_id("Namespace", None, "shop"))
    assert (spec.level, spec.namespace, spec.app) == (APP, "shop", None)

    workloads = build_graph([row(("Deployment", "shop", "web"), ("Pod", "shop", "bare"))], WORKLOAD)
    spec = drill_down(workloads, node_id("Deployment", "shop", "web"))
    assert (spec.level, spec.workload_kind, spec.workload_name) == (POD, "Deployment", "web")
    assert spec.filter_fields() == {"namespaces": ("shop",), "name": "web"}
    with pytest.raises(NotDrillableError):
        drill_down(workloads, node_id("Pod", "shop", "bare"))


def test_a_workload_without_application_drills_to_its_pods_from_app_level(row):
    apps = build_graph([row(("App", "shop", "webshop"), ("DaemonSet", "kube", "proxy"))], APP)
    spec = drill_down(apps, node_id("DaemonSet", "kube", "proxy"))
    assert (spec.level, spec.workload_kind, spec.workload_name) == (POD, "DaemonSet", "proxy")
    assert spec.app is None


def test_pods_and_external_groups_cannot_be_drilled(shop_rows):
    graph = build_graph(shop_rows, POD)
    with pytest.raises(NotDrillableError, match="no members"):
        drill_down(graph, node_id("Pod", "shop", "frontend-1"))
    with pytest.raises(NotDrillableError):
        drill_down(graph, "External/public")
    with pytest.raises(NotDrillableError, match="not in the graph"):
        drill_down(graph, "Pod/shop/gone")


def test_breadcrumb_is_an_immutable_stack(row):
    root = Breadcrumb.root(NAMESPACE)
    namespaces = build_graph(
        [row(("Namespace", None, "shop"), ("Namespace", None, "db"))], NAMESPACE
    )
    into_shop = drill_down(namespaces, node_id("Namespace", None, "shop"))
    deeper = root.push(into_shop)

    assert root.labels == ("Namespaces",)
    assert deeper.labels == ("Namespaces", "shop")
    assert deeper.current.spec == into_shop
    assert deeper.current.level == APP
    assert deeper.pop() == root
    assert root.pop() == root
    assert deeper.up_to(0) == root
    with pytest.raises(IndexError):
        deeper.up_to(5)
    with pytest.raises(AttributeError):
        deeper.crumbs = ()  # type: ignore[misc]
