"""GraphML and node-link JSON exports of a built graph."""

from __future__ import annotations

import json

import networkx as nx

from netsight.topology.export import write_graphml, write_json
from netsight.topology.graph import POD, build_graph
from netsight.topology.layout import ForceLayout


def test_graphml_round_trip_keeps_nodes_edges_and_attributes(tmp_path, shop_rows):
    graph = build_graph(shop_rows, POD)
    positions = ForceLayout().relayout(graph).as_dict()
    path = tmp_path / "shop.graphml"

    write_graphml(graph, path, positions)
    back = nx.read_graphml(path)

    assert set(back.nodes) == set(graph.nodes)
    assert set(back.edges) == set(graph.edges)
    assert back.is_directed()
    edge = back.edges["Pod/shop/frontend-1", "Pod/shop/checkout-1"]
    assert edge["ports"] == "8080/tcp,9090/tcp"
    assert edge["bytes"] == graph.edges["Pod/shop/frontend-1", "Pod/shop/checkout-1"]["bytes"]
    node = back.nodes["External/public"]
    assert node["members"] == 2
    assert node["kind"] == "External"
    assert (node["x"], node["y"]) == positions["External/public"]
    # The live graph keeps its tuples.
    assert isinstance(graph.edges["Pod/shop/frontend-1", "Pod/shop/checkout-1"]["ports"], tuple)


def test_json_export_is_node_link_data_that_networkx_reads_back(tmp_path, shop_rows):
    graph = build_graph(shop_rows, POD)
    path = tmp_path / "shop.json"

    write_json(graph, path)
    data = json.loads(path.read_text(encoding="utf-8"))
    back = nx.node_link_graph(data, edges="edges")

    assert {n["id"] for n in data["nodes"]} == set(graph.nodes)
    assert set(back.edges) == set(graph.edges)
    assert back.nodes["Pod/db/postgres-0"]["namespace"] == "db"
