"""PySide6 6.12.0 on Python 3.11 drops a reference to None each time a
pyqtgraph item is created and destroyed, until the process aborts with
`Fatal Python error: none_dealloc`. The pin below 6.12 avoids it; this test
catches a resolver that ignores the pin."""

import gc
import sys

import pyqtgraph as pg


def test_pyqtgraph_items_do_not_leak_references_to_none(qtbot):
    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    gc.collect()
    before = sys.getrefcount(None)

    for _ in range(300):
        item = pg.ScatterPlotItem(x=[0, 1, 2], y=[2, 1, 0])
        plot.addItem(item)
        plot.removeItem(item)
        del item
    gc.collect()

    # Other code may hold a few more references now; a leak loses hundreds.
    assert sys.getrefcount(None) >= before - 10
