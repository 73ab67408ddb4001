"""Store benchmarks: Arrow ingest rate, merging, resolving 10M flows, level aggregates.

Prints each figure (wall and CPU seconds: the machine is shared) beside its
target (DESIGN.md) and a peer measured in the same run:

- append >= 1,000,000 rows/s; peer: a plain DuckDB Arrow insert of the same
  batches into a table of the record columns;
- merge: records -> one row per connection (incremental in use; here all
  at once), which also resolves the new connections;
- resolve 10M flows against 1M ownership intervals in < 3 s: attaching the
  owner of both ends (and service address) to every connection, measured
  by re-resolving everything as an ownership change does; peer: a plain
  DuckDB ASOF join of the two ends on integer keys;
- connections(level) per level, first page of 100 (aggregation and naming);
- reopen: open the closed file and get the first page, writable and
  read-only (the merged connections are kept in the file, so this costs
  the owner and entity tables, not a merge); and a read-only open of a file
  whose merged part is behind by one batch (TEMP copy plus the tail).

Scenarios: `worst` (default) makes every flow a distinct pod pair among
250,000 pod IPs each reused by 4 pods (1M intervals); `realistic` has 5,000
pods (one interval each) with many connections each.

    .venv/bin/python bench/bench_store.py [--scenario worst|realistic] [--flows 10000000]
"""

from __future__ import annotations

import argparse
import logging
import resource
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from netsight.collector.pulling import APPEND_BATCH_RECORDS
from netsight.store import NetRange, Store, open_store
from netsight.store.database import _conform_records
from netsight.store.ranges import CLUSTER, POD_CIDR, SERVICE_RANGE

logger = logging.getLogger(__name__)

APPEND_TARGET_ROWS_S = 1_000_000
RESOLVE_TARGET_S = 3.0
# The puller stores a pull in appends of this many records (at most).
BATCH_ROWS = APPEND_BATCH_RECORDS
# Each pod IP is reused by this many pods over the run (Jobs, restarts).
OWNERS_PER_IP = 4
T0 = 1_764_835_200.0
SLOT_S = 3600.0


def ip_strings(numbers: np.ndarray) -> pa.Array:
    """10.a.b.c strings for integers below 2**24, built column-wise."""
    parts = [pa.array((numbers >> shift) & 255).cast(pa.string()) for shift in (16, 8, 0)]
    return pc.binary_join_element_wise("10", *parts, ".")


def ownership(pod_ips: int, owners_per_ip: int = OWNERS_PER_IP) -> tuple[pa.Table, pa.Table]:
    count = pod_ips * owners_per_ip
    index = np.arange(count)
    slot = index % owners_per_ip
    valid_from = T0 + slot * SLOT_S
    valid_to = pa.array(valid_from + SLOT_S, mask=slot == owners_per_ip - 1)
    uids = pc.binary_join_element_wise("pod-", pa.array(index).cast(pa.string()), "")
    intervals = pa.table(
        {
            "ip": ip_strings(index // owners_per_ip),
            "port": pa.nulls(count, pa.int32()),
            "owner_uid": uids,
            "valid_from": valid_from,
            "valid_to": valid_to,
        }
    )
    workload = pc.binary_join_element_wise("wl-", pa.array(index // 40).cast(pa.string()), "")
    owners = pa.table(
        {
            "uid": uids,
            "kind": pa.array(["Pod"] * count),
            "namespace": pc.binary_join_element_wise(
                "ns-", pa.array(index % 200).cast(pa.string()), ""
            ),
            "name": uids,
            "node": pc.binary_join_element_wise(
                "node-", pa.array((index // owners_per_ip) // 256).cast(pa.string()), ""
            ),
            "workload_kind": pa.array(["Deployment"] * count),
            "workload_name": workload,
            "app": pc.binary_join_element_wise("app-", pa.array(index % 500).cast(pa.string()), ""),
            "labels": pa.array(["{}"] * count),
        }
    )
    return intervals, owners


def flows(count: int, pod_ips: int, rng: np.random.Generator) -> pa.Table:
    """One client-side record per connection; servers are a tenth of the pods."""
    src = rng.integers(0, pod_ips, count)
    dst = rng.integers(0, pod_ips // 10, count) * 10
    first = T0 + rng.random(count) * OWNERS_PER_IP * SLOT_S
    src_ips, dst_ips = ip_strings(src), ip_strings(dst)
    src_ports = rng.integers(1024, 65535, count).astype(np.int32)
    dst_ports = (8000 + dst % 7).astype(np.int32)
    return pa.table(
        {
            "seq": np.arange(count, dtype=np.int64),
            "conn_id": pc.binary_join_element_wise(src_ips, src_ports.astype(str), ">"),
            "node": pa.array(rng.integers(0, 100, count)).cast(pa.string()),
            "generation": pa.array(["g1"] * count),
            "proto": pa.array(["tcp"] * count),
            "family": np.full(count, 4, dtype=np.int8),
            "src_ip": src_ips,
            "src_port": src_ports,
            "dst_ip": dst_ips,
            "dst_port": dst_ports,
            "observer": pa.array(["client"] * count),
            "source": pa.array(["sockdiag"] * count),
            "bytes_sent": rng.integers(0, 1 << 20, count),
            "bytes_received": rng.integers(0, 1 << 20, count),
            "process": pa.array(["app"] * count),
            "first_seen": first,
            "last_seen": first + rng.random(count) * 60,
        }
    )


class Clock:
    """Wall and CPU seconds of a block."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    def __str__(self) -> str:
        return f"{self.wall:.2f} s wall, {self.cpu:.2f} s CPU"


def plain_insert_peer(records: pa.Table, path: Path) -> Clock:
    """A plain DuckDB Arrow insert of the same batches (conformed to the record columns)."""
    with duckdb.connect(str(path)) as connection:
        connection.register("first", _conform_records(records.slice(0, 1)))
        connection.execute("CREATE TABLE records AS SELECT * FROM first LIMIT 0")
        with Clock() as clock:
            for offset in range(0, records.num_rows, BATCH_ROWS):
                connection.register("batch", _conform_records(records.slice(offset, BATCH_ROWS)))
                connection.execute("INSERT INTO records SELECT * FROM batch")
            connection.execute("CHECKPOINT")
    return clock


def plain_asof_peer(store: Store) -> Clock:
    """A plain ASOF join of both ends of every connection on integer ip ids."""
    with Clock() as clock:
        store.query_arrow(
            """SELECT count(s.owner), count(d.owner) FROM ns_conns c
            ASOF LEFT JOIN (SELECT * FROM ns_own WHERE port IS NULL) s
              ON s.ip_id = c.src_id AND c.first_seen >= s.valid_from
            ASOF LEFT JOIN (SELECT * FROM ns_own WHERE port IS NULL) d
              ON d.ip_id = c.b_id AND c.first_seen >= d.valid_from"""
        )
    return clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", choices=("worst", "realistic"), default="worst")
    parser.add_argument("--flows", type=int, default=10_000_000)
    parser.add_argument("--db", type=Path, help="database file (default: a temporary one)")
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    pod_ips, owners_per_ip = (250_000, OWNERS_PER_IP) if args.scenario == "worst" else (5000, 1)

    with tempfile.TemporaryDirectory() as scratch:
        path = args.db or Path(scratch) / "bench.duckdb"
        store = open_store(path)

        intervals, owners = ownership(pod_ips, owners_per_ip)
        with Clock() as clock:
            store.replace_ownership(intervals, owners)
            store.replace_ranges(
                CLUSTER,
                [
                    NetRange("10.0.0.0/8", POD_CIDR, node="node-0"),
                    NetRange("172.20.0.0/16", SERVICE_RANGE),
                ],
            )
        print(f"scenario {args.scenario}: {pod_ips:,} pod IPs, {args.flows:,} flows")
        print(f"ownership: {intervals.num_rows:,} intervals stored in {clock}")

        # Ingest in agent-sized batches through Arrow; the peer inserts the same batches.
        records = flows(args.flows, pod_ips, rng)
        with Clock() as clock:
            for offset in range(0, records.num_rows, BATCH_ROWS):
                store.append_records(records.slice(offset, BATCH_ROWS))
            store.query_arrow("CHECKPOINT")
        rate = records.num_rows / clock.wall
        verdict = "ok" if rate >= APPEND_TARGET_ROWS_S else "BELOW TARGET"
        peer = plain_insert_peer(records, Path(scratch) / "peer.duckdb")
        print(
            f"append: {rate:,.0f} rows/s ({clock}) in batches of {BATCH_ROWS:,} "
            f"(target >= {APPEND_TARGET_ROWS_S:,}) {verdict}; plain DuckDB Arrow insert: "
            f"{records.num_rows / peer.wall:,.0f} rows/s ({peer})"
        )
        del records

        with Clock() as clock:
            timings = store.refresh()
        print(
            f"merge {args.flows:,} records into connections (and resolve them): {clock} "
            f"(owners {timings.owners_s:.2f} s, merge {timings.merge_s:.2f} s, "
            f"entities {timings.entities_s:.2f} s)"
        )

        # Replacing the whole history makes the next query re-resolve every connection.
        store.replace_ownership(intervals, owners)
        with Clock() as clock:
            timings = store.refresh()
        verdict = "ok" if timings.resolve_s < RESOLVE_TARGET_S else "OVER TARGET"
        peer = plain_asof_peer(store)
        print(
            f"resolve {args.flows:,} flows vs {intervals.num_rows:,} intervals: "
            f"{timings.resolve_s:.2f} s wall (with owner and entity tables {clock}; entities "
            f"{timings.entities_s:.2f} s) (target < {RESOLVE_TARGET_S:.0f} s) {verdict}; "
            f"plain ASOF join of both ends: {peer}"
        )

        # A live ownership write (an upsert of 100 pod IPs' intervals) re-resolves their
        # connections only.
        touched = intervals.slice(0, 100 * owners_per_ip)
        store.upsert_ownership(touched, owners.slice(0, 100 * owners_per_ip))
        with Clock() as clock:
            timings = store.refresh()
        print(
            f"ownership upsert of {touched.num_rows} intervals, then refresh: {clock} "
            f"(owners {timings.owners_s:.2f} s, re-resolve {timings.resolve_s:.2f} s, "
            f"entities {timings.entities_s:.2f} s)"
        )

        for level in ("pod", "workload", "service", "app", "namespace"):
            with Clock() as clock:
                page = store.connections(level, order_by="bytes_sent desc", limit=100)
            print(f"connections({level!r}) first 100 by bytes: {clock} ({page.num_rows} rows)")
        for level in ("pod", "workload"):
            with Clock() as clock:
                page = store.connections(level, limit=100, offset=1000)
            print(f"connections({level!r}) default order, rows 1000-1099: {clock}")
            with Clock() as clock:
                page = store.connections(level, order_by="src_name", limit=100)
            print(f"connections({level!r}) first 100 by src_name (names first): {clock}")
        store.close()
        reopen_lines(path, records_tail=flows(BATCH_ROWS, pod_ips, rng))
        print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB")


def reopen_lines(path: Path, records_tail: pa.Table) -> None:
    """Open the closed file and ask for the first page, as the desktop or the CLI does."""
    for read_only in (False, True):
        with Clock() as clock:
            store = open_store(path, read_only=read_only)
            page = store.connections("pod", limit=100)
        store.close()
        mode = "read-only" if read_only else "writable"
        print(f"reopen ({mode}) + first page of pods: {clock} ({page.num_rows} rows)")
    # A writer appended a batch and exited before any query merged it.
    with open_store(path) as writer:
        writer.append_records(records_tail)
    with Clock() as clock:
        store = open_store(path, read_only=True)
        timings = store.refresh()
        store.connections("pod", limit=100)
    store.close()
    print(
        f"reopen (read-only, {records_tail.num_rows:,} records not merged) + first page: "
        f"{clock} (TEMP copy of the merged tables {timings.copy_s:.2f} s)"
    )


if __name__ == "__main__":
    main()
