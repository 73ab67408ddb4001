"""kind: and node: filters applied to the store's Arrow rows until the store takes them."""

import pyarrow as pa

from netsight.ui.row_filters import apply_client_filters, needs_client_filter
from netsight.ui.search import parse_search


def table():
    return pa.table(
        {
            "src_kind": ["Deployment", "Pod", "StatefulSet", None],
            "dst_kind": ["Service", "External", "Deployment", "Pod"],
            "nodes": [["worker-1"], ["worker-2", "worker-3"], [], None],
        }
    )


def test_kind_matches_either_end_ignoring_case():
    kept = apply_client_filters(table(), parse_search("kind:deployment"))
    assert kept.column("src_kind").to_pylist() == ["Deployment", "StatefulSet"]


def test_node_matches_any_observer_and_combines_with_kind():
    assert apply_client_filters(table(), parse_search("node:worker-3")).num_rows == 1
    both = apply_client_filters(table(), parse_search("node:worker-1 kind:Service"))
    assert both.column("nodes").to_pylist() == [["worker-1"]]
    assert apply_client_filters(table(), parse_search("node:worker-1 kind:External")).num_rows == 0


def test_other_filters_leave_the_table_alone():
    search = parse_search("ns:shop port:80")
    assert not needs_client_filter(search)
    assert apply_client_filters(table(), search) is not None
    assert apply_client_filters(table(), search).num_rows == 4
