"""The map: graphs per level built from aggregated connections, and their layout.

Pure data transforms (networkx, numpy, scipy); no Qt, DuckDB or Kubernetes,
so the UI runs everything here in worker threads and tests need none of them.

- `graph`: node ids, external groups, collapse to a coarser level, drill-down.
- `layout`: `ForceLayout`, a fast force-directed layout that grows calmly.
- `export`: GraphML and node-link JSON.
"""
