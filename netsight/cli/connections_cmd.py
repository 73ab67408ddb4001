"""`netsight connections` and `netsight lookup`: query a saved database from a shell.

Both open the file read-only, so they work on a file copied from someone
else, and fail with a clear sentence (not a traceback) when the file is
missing, locked by a running collection, or not a NetSight database.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any

from netsight.identity.model import EXTERNAL, UNKNOWN_POD, UNKNOWN_SERVICE
from netsight.identity.ranges import normalize_ip
from netsight.store import LEVELS, StoreError, StoreInputError, open_store

logger = logging.getLogger(__name__)

MAX_PORT = 65535
# What the user typed wrong exits 2 (as argparse does); trouble with the file exits 1.
EXIT_USAGE = 2
EXIT_FAILED = 1
_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_TABLE_COLUMNS = (
    ("SOURCE", "src"),
    ("DESTINATION", "dst"),
    ("PORT", "dst_port"),
    ("PROTO", "proto"),
    ("CONNS", "connections"),
    ("SENT", "bytes_sent"),
    ("RECEIVED", "bytes_received"),
    ("FIRST SEEN", "first_seen"),
    ("LAST SEEN", "last_seen"),
)


def register(subparsers: Any) -> None:
    connections = subparsers.add_parser(
        "connections", help="list resolved connections from a NetSight database"
    )
    connections.add_argument("--db", required=True, help="the NetSight database file")
    connections.add_argument("--level", choices=LEVELS, default="pod")
    connections.add_argument("--since", help="ISO time or a span back from now (15m, 2h, 1d)")
    connections.add_argument("--until", help="ISO time or a span back from now")
    connections.add_argument("--limit", type=_row_limit, help="at most this many rows")
    connections.add_argument("--json", action="store_true", help="one JSON object per line")
    connections.set_defaults(func=run_connections)

    lookup = subparsers.add_parser("lookup", help="who an IP address was, and when")
    lookup.add_argument("ip")
    lookup.add_argument("--db", required=True, help="the NetSight database file")
    lookup.add_argument("--at", help="ISO time or a span back from now (default: now)")
    lookup.add_argument("--port", type=_port, help="port, for hostNetwork pods on a node IP")
    lookup.set_defaults(func=run_lookup)


def _row_limit(text: str) -> int:
    """--limit as a count of rows (argparse turns the error into a usage line and exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of rows") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more rows, not {value}")
    return value


def parse_time(text: str | None, now: float | None = None) -> float | None:
    """Epoch seconds from an ISO time (naive means local time) or a span like 15m before now.

    Raises ValueError with a sentence for text that is neither, or a time
    too far from now for a date to show it.
    """
    if text is None:
        return None
    match = _RELATIVE.match(text)
    if match:
        seconds = (time.time() if now is None else now) - float(match.group(1)) * _UNIT_S[
            match.group(2)
        ]
    else:
        try:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{text!r} is neither an ISO time nor a span like 15m or 2h") from None
        try:
            if moment.tzinfo is None:
                moment = moment.astimezone()
            seconds = moment.timestamp()
        except (ValueError, OverflowError, OSError):
            seconds = math.inf
    try:
        datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):
        raise ValueError(
            f"{text!r} is too far in the past or the future to be a time NetSight can use"
        ) from None
    return seconds


def parse_window(
    since_text: str | None, until_text: str | None
) -> tuple[float | None, float | None]:
    """--since and --until as epoch seconds; ValueError when either is bad or since > until."""
    now = time.time()
    since, until = parse_time(since_text, now), parse_time(until_text, now)
    if since is not None and until is not None and since > until:
        raise ValueError(
            f"the time window is empty: --since {since_text} ({iso(since)}) is after "
            f"--until {until_text} ({iso(until)}); give the earlier time as --since"
        )
    return since, until


def _port(text: str) -> int:
    """--port as a TCP/UDP port number (argparse turns the error into exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"{value} is not a port; ports are 0 to {MAX_PORT}")
    return value


def iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def run_connections(args: argparse.Namespace) -> int:
    try:
        since, until = parse_window(args.since, args.until)
    except ValueError as error:
        print(f"netsight connections: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with open_store(args.db, read_only=True) as store:
            table = store.connections(args.level, since=since, until=until, limit=args.limit)
            gaps = store.gaps()
    except StoreError as error:
        print(f"netsight connections: {error}", file=sys.stderr)
        return EXIT_USAGE if isinstance(error, StoreInputError) else EXIT_FAILED
    for note in gap_notes(gaps.to_pylist()):
        print(note, file=sys.stderr)
    rows = [_json_row(row) for row in table.to_pylist()]
    if args.json:
        for row in rows:
            print(json.dumps(row, separators=(",", ":")))
    else:
        _print_table(rows)
    return 0


def gap_notes(gaps: list[dict[str, Any]]) -> list[str]:
    """One line per node whose agent dropped records before they were pulled."""
    dropped: dict[str, int] = {}
    for gap in gaps:
        dropped[gap["node"]] = dropped.get(gap["node"], 0) + int(gap["dropped"])
    return [
        f"Note: {count:,} record{'s were' if count != 1 else ' was'} dropped by the agent on "
        f"{node} before {'they' if count != 1 else 'it'} could be pulled (gaps); connections "
        "from that time may be missing."
        for node, count in sorted(dropped.items())
        if count > 0
    ]


def _end(row: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    if row.get(f"{prefix}_kind") is None and row.get(f"{prefix}_name") is None:
        return None
    return {
        "kind": row[f"{prefix}_kind"],
        "namespace": row[f"{prefix}_namespace"],
        "name": row[f"{prefix}_name"],
    }


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "src": _end(row, "src"),
        "dst": _end(row, "dst"),
        "dst_port": row["dst_port"],
        "proto": row["proto"],
        "connections": row["connections"],
        "bytes_sent": row["bytes_sent"],
        "bytes_received": row["bytes_received"],
        "first_seen": iso(row["first_seen"]),
        "last_seen": iso(row["last_seen"]),
        "nodes": row["nodes"],
        "processes": row["processes"],
        "via_service": row["via_service"],
    }
    if row.get("src_tag"):
        out["src"]["tag"] = row["src_tag"]
    if row.get("dst_tag"):
        out["dst"]["tag"] = row["dst_tag"]
    if "backend_kind" in row:
        out["backend"] = _end(row, "backend")
    return out


def _describe(end: dict[str, Any] | None) -> str:
    if end is None:
        return "-"
    place = f"{end['namespace']}/" if end.get("namespace") else ""
    return f"{end['kind']} {place}{end['name']}"


def _print_table(rows: list[dict[str, Any]]) -> None:
    lines = [[title for title, _ in _TABLE_COLUMNS]]
    for row in rows:
        cells = []
        for _, key in _TABLE_COLUMNS:
            value = row[key]
            if key == "dst" and row.get("backend"):
                cells.append(f"{_describe(value)} -> {_describe(row['backend'])}")
            elif key in ("src", "dst"):
                cells.append(_describe(value))
            else:
                cells.append("" if value is None else str(value))
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(_TABLE_COLUMNS))]
    for line in lines:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )
    if not rows:
        print("(no connections)")


def run_lookup(args: argparse.Namespace) -> int:
    try:
        at = parse_time(args.at)
        if normalize_ip(args.ip) is None:
            raise ValueError(f"{args.ip!r} is not an IP address")
    except ValueError as error:
        print(f"netsight lookup: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with open_store(args.db, read_only=True) as store:
            identity = store.identity_at(args.ip, at, args.port)
            history = store.ip_history(args.ip).to_pylist()
    except StoreError as error:
        print(f"netsight lookup: {error}", file=sys.stderr)
        return EXIT_USAGE if isinstance(error, StoreInputError) else EXIT_FAILED

    when = iso(at) if at is not None else "now"
    unowned = identity.kind in (UNKNOWN_POD, UNKNOWN_SERVICE, EXTERNAL)
    # Unowned addresses read as identity says them ("an unknown pod on node w-2").
    who = identity.describe() if unowned else f"{identity.kind} {identity.describe()}"
    print(f"{identity.ip} at {when}: {who}")
    for label, value in (
        (
            "workload",
            f"{identity.workload_kind} {identity.workload_name}"
            if identity.workload_name
            else None,
        ),
        ("app", identity.app),
        ("node", None if unowned else identity.node),
        ("tags", None if unowned or not identity.tags else ", ".join(identity.tags)),
    ):
        if value:
            print(f"  {label}: {value}")
    print("history:" if history else "history: none recorded")
    for entry in history:
        port = f":{entry['port']}" if entry["port"] is not None else ""
        place = f"{entry['namespace']}/" if entry["namespace"] else ""
        until = iso(entry["valid_to"]) or "now"
        print(
            f"  {iso(entry['valid_from'])} .. {until}  {entry['kind']} {place}{entry['name']}{port}"
        )
    return 0
