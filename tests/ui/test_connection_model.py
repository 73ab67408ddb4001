"""The connection table adapts pyarrow pages to Qt; sorting and paging go back to the query."""

import pyarrow as pa
from PySide6.QtCore import QModelIndex, Qt

from netsight.ui.connection_model import COLUMNS, RAW_ROLE, ConnectionTableModel


def page(start: int, count: int) -> pa.Table:
    rows = range(start, start + count)
    return pa.table(
        {
            "src_kind": ["Pod"] * count,
            "src_namespace": ["shop"] * count,
            "src_name": [f"web-{i}" for i in rows],
            "dst_kind": ["External"] * count,
            "dst_namespace": [None] * count,
            "dst_name": [f"203.0.113.{i % 250}" for i in rows],
            "dst_port": [443] * count,
            "proto": ["tcp"] * count,
            "connections": [i + 1 for i in rows],
            "bytes_sent": [1024 * i for i in rows],
            "bytes_received": [None] * count,
            "first_seen": [1.7e9 + i for i in rows],
            "last_seen": [1.7e9 + 60 + i for i in rows],
            "nodes": [["worker-1", "worker-2"]] * count,
            "processes": [["curl"]] * count,
            "via_service": [None] * count,
        }
    )


def test_model_passes_the_model_tester_through_reset_and_append(qtmodeltester):
    model = ConnectionTableModel()
    qtmodeltester.check(model)
    model.set_result(page(0, 30), has_more=True)
    qtmodeltester.check(model)
    model.append_page(page(30, 20), has_more=False)
    qtmodeltester.check(model)
    assert model.rowCount() == 50
    model.clear()
    qtmodeltester.check(model)
    assert model.rowCount() == 0 and not model.canFetchMore(QModelIndex())


def test_ownership_history_model_passes_the_model_tester(qtmodeltester):
    from netsight.ui.lookup_tab import HISTORY_COLUMNS, OwnershipHistoryModel
    from netsight.ui.queries import OwnerSpan

    model = OwnershipHistoryModel()
    qtmodeltester.check(model)
    spans = (
        OwnerSpan("report-1", "Pod", "ops", "CronJob/report", None, "worker-1", 1.7e9, 1.7e9 + 60),
        OwnerSpan("web-0", "Pod", "shop", "StatefulSet/web", "shop", "worker-2", 1.7e9 + 60, None),
    )
    model.set_spans(spans)
    qtmodeltester.check(model)
    assert model.rowCount() == 2 and model.columnCount() == len(HISTORY_COLUMNS)
    assert model.index(1, 0).data() == "web-0"
    assert model.index(1, HISTORY_COLUMNS.index("Until")).data() == "now"


def test_cells_show_names_units_and_times_while_raw_values_stay_available():
    model = ConnectionTableModel()
    model.set_result(page(3, 1), has_more=False)
    column = {c.key: i for i, c in enumerate(COLUMNS)}
    assert model.index(0, column["src"]).data() == "shop/web-3"
    assert model.index(0, column["dst"]).data() == "203.0.113.3"
    assert model.index(0, column["bytes_sent"]).data() == "3.0 KiB"
    assert model.index(0, column["bytes_received"]).data() == ""
    assert model.index(0, column["nodes"]).data() == "worker-1, worker-2"
    assert model.index(0, column["src"]).data(RAW_ROLE) == "web-3"
    assert "Pod" in model.index(0, column["src"]).data(Qt.ItemDataRole.ToolTipRole)


def test_scrolling_to_the_end_asks_for_the_next_page_once(qtbot):
    model = ConnectionTableModel()
    model.set_result(page(0, 10), has_more=True)
    asked = []
    model.more_requested.connect(asked.append)
    assert model.canFetchMore(QModelIndex())
    model.fetchMore(QModelIndex())
    model.fetchMore(QModelIndex())  # a second call while the first is pending asks nothing
    assert asked == [10]
    model.append_page(page(10, 5), has_more=False)
    assert not model.canFetchMore(QModelIndex())


def test_sorting_is_delegated_to_the_query():
    model = ConnectionTableModel()
    model.set_result(page(0, 5), has_more=False)
    asked = []
    model.sort_requested.connect(lambda by, desc: asked.append((by, desc)))
    port = next(i for i, c in enumerate(COLUMNS) if c.key == "dst_port")
    model.sort(port, Qt.SortOrder.AscendingOrder)
    assert asked == [("dst_port", False)]
    # The rows themselves are untouched until the new query answers.
    assert model.index(0, 0).data() == "shop/web-0"
