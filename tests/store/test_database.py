"""Opening, creating and refusing database files; ingest, cursors and gaps."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from store_scenario import T0, record

from netsight.store import (
    Cursor,
    NewerFormatError,
    NotAStoreError,
    Store,
    StoreAccessError,
    StoreError,
    StoreInputError,
    StoreLockedError,
    default_db_path,
    open_store,
)
from netsight.store.schema import SCHEMA_VERSION

HOLD_OPEN = """
import sys, duckdb
connection = duckdb.connect(sys.argv[1])
print("ready", flush=True)
sys.stdin.read()
"""


def test_a_new_file_gets_the_schema_and_reopens(db_path: Path) -> None:
    with open_store(db_path) as store:
        store.append_records([record("n", "client", ("10.0.0.1", 1), ("10.0.0.2", 2))])

    with open_store(db_path, read_only=True) as reopened:
        assert reopened.record_count() == 1
        version = reopened.query_arrow("SELECT value FROM meta WHERE key = 'schema_version'")
        assert version.column(0).to_pylist() == [str(SCHEMA_VERSION)]


def test_a_file_locked_by_another_process_is_a_user_error(db_path: Path) -> None:
    open_store(db_path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_OPEN, str(db_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLockedError) as caught:
            open_store(db_path)
        assert caught.value.user_fault
        assert "another process" in str(caught.value)
    finally:
        holder.communicate("")


def test_a_file_of_random_bytes_is_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "junk.duckdb"
    path.write_bytes(os.urandom(64 * 1024))

    with pytest.raises(NotAStoreError):
        open_store(path)


def test_another_programs_duckdb_file_is_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "other.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE TABLE invoices (id INTEGER)")

    with pytest.raises(NotAStoreError, match="not a NetSight database"):
        open_store(path)


def test_a_damaged_file_gives_a_clear_store_error(db_path: Path) -> None:
    with open_store(db_path) as store:
        store.append_records(
            [record("n", "client", ("10.0.0.1", 1), ("10.0.0.2", i)) for i in range(1000)]
        )
    data = bytearray(db_path.read_bytes())
    # Overwrite everything after the file headers (the first 12 KiB).
    data[12288:] = os.urandom(len(data) - 12288)
    db_path.write_bytes(bytes(data))

    with pytest.raises(StoreError) as caught:
        store = open_store(db_path)
        try:
            store.connections("pod")
        finally:
            store.close()
    assert caught.value.user_fault, caught.value


def test_a_newer_schema_is_refused(db_path: Path) -> None:
    open_store(db_path).close()
    with duckdb.connect(str(db_path)) as connection:
        connection.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")

    with pytest.raises(NewerFormatError, match="99"):
        open_store(db_path)


def test_an_unwritable_location_is_an_access_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")

    with pytest.raises(StoreAccessError):
        open_store(blocker / "cluster.duckdb")


def test_read_only_open_of_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(StoreAccessError, match="no NetSight database"):
        open_store(tmp_path / "missing.duckdb", read_only=True)


def test_default_path_is_in_the_data_dir_and_sanitised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_db_path("kind-dev") == tmp_path / "netsight" / "kind-dev.duckdb"

    eks = default_db_path("arn:aws:eks:eu-west-1:123:cluster/prod")
    assert eks.parent == tmp_path / "netsight"
    assert "/" not in eks.name.removesuffix(".duckdb") and ":" not in eks.name
    assert eks != default_db_path("arn_aws_eks_eu-west-1_123_cluster_prod")

    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_db_path("c") == tmp_path / "home" / ".local" / "share" / "netsight" / "c.duckdb"


def test_records_as_arrow_and_as_dicts_store_the_same(tmp_path: Path) -> None:
    records = [record("n", "client", ("10.0.0.1", i), ("10.0.0.2", 80), sent=i) for i in range(50)]
    with (
        open_store(tmp_path / "a.duckdb") as from_dicts,
        open_store(tmp_path / "b.duckdb") as from_arrow,
    ):
        from_dicts.append_records(records)
        from_arrow.append_records(pa.Table.from_pylist(records))
        query = "SELECT * EXCLUDE (seq) FROM records ORDER BY src_port"
        assert from_dicts.query_arrow(query).equals(from_arrow.query_arrow(query))


def test_records_missing_required_fields_are_dropped_and_the_rest_kept(store: Store) -> None:
    good = record("n", "client", ("10.0.0.1", 1), ("10.0.0.2", 2))
    bad = dict(record("n", "client", ("10.0.0.1", 3), ("10.0.0.2", 4)), src_ip=None)

    assert store.append_records([good, bad]) == 1
    assert store.record_count() == 1


def test_records_of_the_wrong_type_are_an_input_error(store: Store) -> None:
    broken = dict(record("n", "client", ("10.0.0.1", 1), ("10.0.0.2", 2)), src_port="many")

    with pytest.raises(StoreInputError):
        store.append_records([broken])
    assert store.record_count() == 0


def test_the_cursor_is_saved_with_its_batch(store: Store) -> None:
    assert store.cursor("worker-1") is None

    store.append_records(
        [record("worker-1", "client", ("10.0.0.1", 1), ("10.0.0.2", 2), seq=7)],
        cursor=Cursor("worker-1", "gen-1", 7),
    )
    assert store.cursor("worker-1") == Cursor("worker-1", "gen-1", 7)

    store.set_cursor(Cursor("worker-1", "gen-2", 0))
    assert store.cursor("worker-1") == Cursor("worker-1", "gen-2", 0)


def test_gaps_are_kept(store: Store) -> None:
    store.record_gap("worker-1", "gen-1", 10, 19, 10, at=T0)

    assert store.gaps().to_pylist() == [
        {
            "node": "worker-1",
            "generation": "gen-1",
            "from_seq": 10,
            "to_seq": 19,
            "dropped": 10,
            "at": T0,
        }
    ]
