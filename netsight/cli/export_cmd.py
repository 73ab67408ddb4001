"""`netsight export`: a saved database's connections or graph, as a file for other tools.

Connections go out as CSV, JSON lines or Parquet through the store (DuckDB
writes them); the graph at a level goes out as GraphML or node-link JSON
through the topology package, the same graph the desktop draws.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from netsight.cli.connections_cmd import parse_window
from netsight.store.querying import LEVELS

logger = logging.getLogger(__name__)

TABLE_FORMATS = ("csv", "json", "parquet")
GRAPH_FORMATS = ("graphml", "graph-json")


def register(subparsers: Any) -> None:
    export = subparsers.add_parser(
        "export", help="write connections (csv, json, parquet) or the graph (graphml, graph-json)"
    )
    export.add_argument("--db", required=True, help="the NetSight database file")
    export.add_argument("--level", choices=LEVELS, default="workload")
    export.add_argument("--format", choices=TABLE_FORMATS + GRAPH_FORMATS, required=True)
    export.add_argument("--since", help="ISO time or a span back from now (15m, 2h, 1d)")
    export.add_argument("--until", help="ISO time or a span back from now")
    export.add_argument("output", help="the file to write")
    export.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    from netsight.store.database import open_store
    from netsight.store.errors import StoreError

    try:
        since, until = parse_window(args.since, args.until)
    except ValueError as error:
        print(f"netsight export: {error}", file=sys.stderr)
        return 2
    try:
        with open_store(args.db, read_only=True) as store:
            if args.format in TABLE_FORMATS:
                count = store.export_connections(
                    args.output, args.format, level=args.level, since=since, until=until
                )
                print(f"Wrote {count} {args.level}-level connections to {args.output}.")
                return 0
            rows = store.connections(args.level, since=since, until=until)
    except StoreError as error:
        print(f"netsight export: {error}", file=sys.stderr)
        return 1
    return _write_graph(rows, args)


def _write_graph(rows: Any, args: argparse.Namespace) -> int:
    from netsight.topology.export import write_graphml, write_json
    from netsight.topology.graph import build_graph

    graph = build_graph(rows, args.level)
    writer = write_graphml if args.format == "graphml" else write_json
    try:
        writer(graph, args.output)
    except OSError as error:
        print(f"netsight export: cannot write {args.output}: {error.strerror}", file=sys.stderr)
        return 1
    print(
        f"Wrote the {args.level}-level graph ({graph.number_of_nodes()} nodes, "
        f"{graph.number_of_edges()} edges) to {args.output}."
    )
    return 0
