"""Import NetSight's heavy modules off the GUI thread, one thread at a time.

The window shows before DuckDB, the store, the Kubernetes client, networkx,
scipy and pyqtgraph are loaded; workers load them afterwards. Two threads
importing modules that import each other (the store's package imports its
submodules, which import the package) can each hold what the other needs,
and Python then aborts one import with `_DeadlockError`. Every worker
therefore imports through `preload`, which takes one lock.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading

logger = logging.getLogger(__name__)

_import_lock = threading.Lock()

# What a live session needs before it opens a database and watches a cluster.
SESSION_MODULES = (
    "netsight.store",
    "netsight.store.database",
    "netsight.store.paths",
    "netsight.store.syncing",
    "netsight.ui.store_source",
    "netsight.identity.ownership",
    "netsight.kube.client",
    "netsight.kube.errors",
    "netsight.kube.watching",
    "netsight.collector.deploy",
    "netsight.collector.pulling",
)
# What the first graph needs.
GRAPH_MODULES = ("netsight.topology.graph", "netsight.topology.layout")
# The canvas (pyqtgraph).
VIEW_MODULES = ("netsight.ui.topology_view",)


def preload(*names: str) -> None:
    """Import `names` (in order) unless they are loaded; safe from any thread."""
    if all(name in sys.modules for name in names):
        return
    with _import_lock:
        for name in names:
            if name not in sys.modules:
                importlib.import_module(name)
