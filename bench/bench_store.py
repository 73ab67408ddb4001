"""Store benchmarks: Arrow ingest rate, and resolving 10M flows against 1M intervals.

Prints each figure beside its target (DESIGN.md): appends >= 1,000,000
rows/s; resolve 10M flows against 1M ownership intervals in < 3 s, at pod
and at application level. Data is generated with numpy/pyarrow.

    .venv/bin/python bench/bench_store.py [--flows 10000000] [--intervals 1000000]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from netsight.store import NetRange, open_store
from netsight.store.ranges import CLUSTER, POD_CIDR, SERVICE_RANGE

logger = logging.getLogger(__name__)

APPEND_TARGET_ROWS_S = 1_000_000
RESOLVE_TARGET_S = 3.0
# Agents are pulled in batches of this many records.
BATCH_ROWS = 100_000
# Each pod IP is reused by this many pods over the run (Jobs, restarts).
OWNERS_PER_IP = 4
T0 = 1_764_835_200.0
SLOT_S = 3600.0


def ip_strings(numbers: np.ndarray) -> pa.Array:
    """10.a.b.c strings for integers below 2**24, built column-wise."""
    parts = [pa.array((numbers >> shift) & 255).cast(pa.string()) for shift in (16, 8, 0)]
    return pc.binary_join_element_wise("10", *parts, ".")


def ownership(pod_ips: int) -> tuple[pa.Table, pa.Table]:
    count = pod_ips * OWNERS_PER_IP
    index = np.arange(count)
    slot = index % OWNERS_PER_IP
    valid_from = T0 + slot * SLOT_S
    valid_to = pa.array(valid_from + SLOT_S, mask=slot == OWNERS_PER_IP - 1)
    uids = pc.binary_join_element_wise("pod-", pa.array(index).cast(pa.string()), "")
    intervals = pa.table(
        {
            "ip": ip_strings(index // OWNERS_PER_IP),
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
                "node-", pa.array((index // OWNERS_PER_IP) // 256).cast(pa.string()), ""
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--flows", type=int, default=10_000_000)
    parser.add_argument("--intervals", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, help="database file (default: a temporary one)")
    args = parser.parse_args()
    rng = np.random.default_rng(7)

    with tempfile.TemporaryDirectory() as scratch:
        path = args.db or Path(scratch) / "bench.duckdb"
        store = open_store(path)

        # Ownership: 1M intervals over a quarter as many pod IPs.
        intervals, owners = ownership(args.intervals // OWNERS_PER_IP)
        started = time.perf_counter()
        store.replace_ownership(intervals, owners)
        store.replace_ranges(
            CLUSTER,
            [
                NetRange("10.0.0.0/8", POD_CIDR, node="node-0"),
                NetRange("172.20.0.0/16", SERVICE_RANGE),
            ],
        )
        print(
            f"ownership: {intervals.num_rows:,} intervals stored in "
            f"{time.perf_counter() - started:.2f} s"
        )

        # Ingest in agent-sized batches through Arrow.
        records = flows(args.flows, args.intervals // OWNERS_PER_IP, rng)
        started = time.perf_counter()
        for offset in range(0, records.num_rows, BATCH_ROWS):
            store.append_records(records.slice(offset, BATCH_ROWS))
        elapsed = time.perf_counter() - started
        rate = records.num_rows / elapsed
        verdict = "ok" if rate >= APPEND_TARGET_ROWS_S else "BELOW TARGET"
        print(
            f"append: {rate:,.0f} rows/s in batches of {BATCH_ROWS:,} "
            f"(target >= {APPEND_TARGET_ROWS_S:,}) {verdict}"
        )

        # Resolve at two levels; the first run warms the file cache.
        for level in ("pod", "app"):
            started = time.perf_counter()
            table = store.connections(level)
            elapsed = time.perf_counter() - started
            verdict = "ok" if elapsed < RESOLVE_TARGET_S else "OVER TARGET"
            print(
                f"resolve {args.flows:,} flows vs {intervals.num_rows:,} intervals at {level} "
                f"level: {elapsed:.2f} s -> {table.num_rows:,} rows "
                f"(target < {RESOLVE_TARGET_S:.0f} s) {verdict}"
            )
        started = time.perf_counter()
        page = store.connections("pod", order_by="bytes_sent desc", limit=100)
        print(
            f"first page of 100 at pod level by bytes: {time.perf_counter() - started:.2f} s "
            f"({page.num_rows} rows)"
        )
        store.close()


if __name__ == "__main__":
    main()
