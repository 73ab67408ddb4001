"""The merged connections are kept in the file, so reopening merges only the records after the mark.

Every test compares with a database that merged the same records in one go
in a fresh file: whatever was persisted, copied or merged later must answer
the same.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from store_scenario import (
    FRONTEND_IP,
    INTERVALS,
    OWNERS,
    REUSED_IP,
    T0,
    fill,
    record,
)

from netsight.identity.model import Interval, Owner, OwnerUid
from netsight.store import NetRange, Store, open_store
from netsight.store.ranges import WELL_KNOWN

LEVELS = ("pod", "workload", "service", "namespace")


def answers(store: Store) -> dict[str, list[dict[str, Any]]]:
    return {level: store.connections(level).to_pylist() for level in LEVELS}


def fresh_answers(path: Path, tmp_path: Path) -> dict[str, list[dict[str, Any]]]:
    """The same records, ownership and ranges merged at once in a new file."""
    with open_store(path, read_only=True) as saved:
        records = saved.query_arrow("SELECT * FROM records ORDER BY rowid")
        intervals = saved.query_arrow("SELECT * FROM ownership")
        owners = saved.query_arrow("SELECT * FROM owners")
        ranges = saved.query_arrow("SELECT source, kind, cidr, node, tag FROM ranges")
    with open_store(tmp_path / f"fresh-{path.stem}.duckdb") as fresh:
        fresh.replace_ownership(intervals, owners)
        by_source: dict[str, list[NetRange]] = {}
        for row in ranges.to_pylist():
            by_source.setdefault(row["source"], []).append(
                NetRange(row["cidr"], row["kind"], node=row["node"], tag=row["tag"])
            )
        for source, items in by_source.items():
            if source != WELL_KNOWN:
                fresh.replace_ranges(source, items)
        fresh.append_records(records)
        return answers(fresh)


def meta(path: Path) -> dict[str, str]:
    with open_store(path, read_only=True) as store:
        return meta_of(store)


def more_records() -> list[dict[str, Any]]:
    return [
        record("worker-1", "client", (FRONTEND_IP, 50001), (REUSED_IP, 7000), first=T0 + 250),
        record("worker-1", "client", (FRONTEND_IP, 50002), ("10.244.2.200", 7001), first=T0 + 5),
    ]


def test_a_refresh_leaves_the_merged_connections_in_the_file(db_path: Path) -> None:
    with open_store(db_path) as store:
        fill(store)
        before = answers(store)
        count = store.record_count()

    assert meta(db_path)["derived_mark"] == str(count)
    with open_store(db_path) as reopened:
        timings = reopened.refresh()
        assert (timings.merge_s, timings.resolve_s) == (0.0, 0.0)
        assert answers(reopened) == before


def test_records_appended_after_reopening_are_merged_onto_the_saved_ones(
    db_path: Path, tmp_path: Path
) -> None:
    with open_store(db_path) as store:
        fill(store)
        store.refresh()
    with open_store(db_path) as reopened:
        reopened.append_records(more_records())
        merged = answers(reopened)

    assert merged == fresh_answers(db_path, tmp_path)
    assert merged != {}


def test_a_read_only_open_of_a_file_that_is_behind_merges_the_rest_in_memory(
    db_path: Path, tmp_path: Path
) -> None:
    with open_store(db_path) as store:
        fill(store)
        store.refresh()
        store.append_records(more_records())  # never merged by this writer
    mark = meta(db_path)["derived_mark"]

    with open_store(db_path, read_only=True) as reader:
        assert reader.refresh().copy_s > 0
        assert answers(reader) == fresh_answers(db_path, tmp_path)
    # The file was not written.
    assert meta(db_path)["derived_mark"] == mark


def test_a_read_only_open_of_a_current_file_answers_from_it_without_copying(
    db_path: Path,
) -> None:
    with open_store(db_path) as store:
        fill(store)
        before = answers(store)

    with open_store(db_path, read_only=True) as reader:
        timings = reader.refresh()
        assert (timings.copy_s, timings.merge_s, timings.resolve_s) == (0.0, 0.0, 0.0)
        assert answers(reader) == before


@pytest.mark.parametrize("read_only", [True, False], ids=["read-only", "writable"])
def test_an_ownership_write_not_yet_resolved_is_resolved_on_the_next_open(
    db_path: Path, tmp_path: Path, read_only: bool
) -> None:
    with open_store(db_path) as store:
        fill(store)
        store.refresh()
        # The job pod is renamed by a later write; this writer never queries again.
        store.upsert_ownership(
            [Interval(REUSED_IP, None, OwnerUid("p-job"), T0, T0 + 100)],
            [Owner(uid=OwnerUid("p-job"), kind="Pod", namespace="batch", name="report-2")],
        )

    with open_store(db_path, read_only=read_only) as reopened:
        names = {row["src_name"] for row in reopened.connections("pod").to_pylist()}
        got = answers(reopened)
    assert "report-2" in names and "report-1" not in names
    assert got == fresh_answers(db_path, tmp_path)


def test_replacing_the_history_then_reopening_resolves_everything(
    db_path: Path, tmp_path: Path
) -> None:
    with open_store(db_path) as store:
        fill(store)
        store.refresh()
        store.replace_ownership([i for i in INTERVALS if i.ip != FRONTEND_IP], OWNERS)

    with open_store(db_path) as reopened:
        got = answers(reopened)
    assert "frontend-abc" not in {row["src_name"] for row in got["pod"]}
    assert got == fresh_answers(db_path, tmp_path)


def test_a_file_of_the_first_schema_is_read_and_upgraded(db_path: Path, tmp_path: Path) -> None:
    with open_store(db_path) as store:
        fill(store)
        expected = answers(store)
    # What a version 1 file looked like: no merged tables, no marks.
    with duckdb.connect(str(db_path)) as raw:
        for name in ("ns_addr", "ns_owner_names", "ns_touched", "ns_natmap", "ns_conns"):
            raw.execute(f"DROP TABLE {name}")
        raw.execute("DELETE FROM meta WHERE key NOT IN ('application', 'created_at')")
        raw.execute("INSERT INTO meta VALUES ('schema_version', '1')")

    with open_store(db_path, read_only=True) as reader:
        assert answers(reader) == expected
    with open_store(db_path) as upgraded:
        assert answers(upgraded) == expected
    assert meta(db_path)["schema_version"] == "2"


KEEP_MERGING = """
import sys
import numpy as np
import pyarrow as pa
from netsight.store import open_store

store = open_store(sys.argv[1])
rows = 2000
batch = 0
while True:
    n = np.arange(batch * rows, (batch + 1) * rows, dtype=np.int64)
    store.append_records(pa.table({
        "seq": n,
        "conn_id": pa.array([f"c{i}" for i in n]),
        "node": pa.array(["worker-1", "worker-2"] * (rows // 2)),
        "generation": pa.array(["g"] * rows),
        "proto": pa.array(["tcp"] * rows),
        "src_ip": pa.array([f"10.244.1.{i % 200}" for i in n]),
        "src_port": (n % 5000 + 1024).astype(np.int32),
        "dst_ip": pa.array([f"10.244.2.{i % 50}" for i in n]),
        "dst_port": np.full(rows, 80, dtype=np.int32),
        "bytes_sent": n,
        "first_seen": n.astype(np.float64),
        "last_seen": n.astype(np.float64) + 5,
    }))
    store.refresh()
    batch += 1
    print(batch, flush=True)
"""


def test_kill_9_while_merging_leaves_merged_connections_that_match_the_records(
    db_path: Path, tmp_path: Path
) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", KEEP_MERGING, str(db_path)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    try:
        done = 0
        while done < 6:
            line = writer.stdout.readline()
            assert line, "the writer ended early"
            done = int(line)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()

    with open_store(db_path) as reopened:
        assert int(meta_of(reopened)["derived_mark"]) <= reopened.record_count()
        got = answers(reopened)
    assert got == fresh_answers(db_path, tmp_path)
    assert len(got["pod"]) > 0


def meta_of(store: Store) -> dict[str, str]:
    table: pa.Table = store.query_arrow("SELECT key, value FROM meta")
    return dict(
        zip(table.column("key").to_pylist(), table.column("value").to_pylist(), strict=True)
    )
