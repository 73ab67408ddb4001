"""The NetSight database: one DuckDB file per cluster context.

`open_store` opens or creates a file, refuses files it must not touch
(another program's DuckDB file, a newer schema, a file locked by another
process) with a `StoreUserError`, and brings older files up to date. The
`Store` appends agent records in Arrow batches, each batch with its pull
cursor in one transaction, so a crash loses at most the batch in flight;
and it keeps the ownership history and address ranges beside the flows so
a saved file can be queried with no cluster.

A Store may be used from several threads; a lock serialises its
statements because a DuckDB connection is not meant for concurrent use.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from netsight.identity.model import Identity, Interval, Owner
from netsight.store import addresses, exports, lookup, merging, querying
from netsight.store.errors import (
    NewerFormatError,
    NotAStoreError,
    StoreAccessError,
    StoreInputError,
    translated,
)
from netsight.store.querying import Filter
from netsight.store.ranges import WELL_KNOWN, WELL_KNOWN_RANGES, NetRange
from netsight.store.schema import (
    APPLICATION,
    FULL_RESOLVE_VERSION_KEY,
    INTERVAL_SCHEMA,
    MIGRATIONS,
    OLDEST_READABLE_VERSION,
    OWNER_SCHEMA,
    OWNERSHIP_VERSION_KEY,
    RECORD_IP_FIELDS,
    RECORD_SCHEMA,
    REQUIRED_RECORD_FIELDS,
    SCHEMA_VERSION,
)

logger = logging.getLogger(__name__)

# DuckDB takes 80 % of RAM by default; resolving 10M records then grew past
# 10 GB. Above this it spills to disk instead, leaving room for the desktop.
MEMORY_LIMIT = "3GB"


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where pulling an agent resumes: records of `generation` after `last_seq` are new."""

    node: str
    generation: str
    last_seq: int


def open_store(path: str | Path, *, read_only: bool = False) -> Store:
    """Open the NetSight database at `path`, creating it (and its directory) unless read_only."""
    path = Path(path)
    if path.is_dir():
        raise StoreAccessError(
            f"{path} is a directory, not a NetSight database file; nothing was opened. "
            "Give the path of a file (it is created if it does not exist)."
        )
    if read_only and not path.exists():
        raise StoreAccessError(f"There is no NetSight database at {path}.")
    if not read_only:
        with translated(f"create the directory for {path}"):
            path.parent.mkdir(parents=True, exist_ok=True)
    with translated(f"open {path}"):
        connection = duckdb.connect(str(path), read_only=read_only)
    try:
        _prepare(connection, path, read_only)
    except BaseException:
        connection.close()
        raise
    logger.debug("Opened NetSight database %s (read_only=%s).", path, read_only)
    return Store(connection, path, read_only)


def _prepare(connection: duckdb.DuckDBPyConnection, path: Path, read_only: bool) -> None:
    """Check that `path` is ours and current; create or migrate it; install the macros."""
    with translated(f"read the schema of {path}"):
        tables = {
            row[0]
            for row in connection.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
            ).fetchall()
        }
    if not tables:
        if read_only:
            raise NotAStoreError(f"{path} is an empty database, not a NetSight database.")
        _migrate(connection, path, 0)
    else:
        version = _schema_version(connection, path, tables)
        if version > SCHEMA_VERSION:
            raise NewerFormatError(
                f"{path} has schema version {version}, newer than this NetSight understands "
                f"({SCHEMA_VERSION}). Upgrade NetSight to open it."
            )
        if version < SCHEMA_VERSION:
            if read_only and version >= OLDEST_READABLE_VERSION:
                logger.info(
                    "%s has the older schema version %d; reading it as it is.", path, version
                )
            elif read_only:
                raise NewerFormatError(
                    f"{path} has the older schema version {version}; open it once for writing "
                    "to upgrade it."
                )
            else:
                _migrate(connection, path, version)
    with translated("install the address macros"):
        connection.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        # A library must not draw DuckDB's progress bar over the user's terminal.
        connection.execute("SET enable_progress_bar = false")
        for statement in addresses.MACROS:
            connection.execute(statement)


def _schema_version(connection: duckdb.DuckDBPyConnection, path: Path, tables: set[str]) -> int:
    if "meta" not in tables:
        raise NotAStoreError(f"{path} is a DuckDB database but not a NetSight database.")
    with translated(f"read the version of {path}"):
        rows = dict(connection.execute("SELECT key, value FROM meta").fetchall())
    if rows.get("application") != APPLICATION or "schema_version" not in rows:
        raise NotAStoreError(f"{path} is a DuckDB database but not a NetSight database.")
    try:
        return int(rows["schema_version"])
    except ValueError:
        raise NotAStoreError(f"{path} has an unreadable schema version.") from None


def _migrate(connection: duckdb.DuckDBPyConnection, path: Path, current: int) -> None:
    """Apply every migration after `current` in one transaction."""
    with translated(f"upgrade the schema of {path}"):
        connection.begin()
        try:
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[version]:
                    connection.execute(statement)
                if version == 1:
                    connection.execute(
                        "INSERT INTO meta VALUES ('application', ?), ('created_at', ?)",
                        [APPLICATION, str(time.time())],
                    )
                    _insert_ranges(connection, WELL_KNOWN, WELL_KNOWN_RANGES)
            connection.execute(
                "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
            )
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
    logger.info("Database %s is at schema version %d (was %d).", path, SCHEMA_VERSION, current)


def _insert_ranges(
    connection: duckdb.DuckDBPyConnection, source: str, ranges: Iterable[NetRange]
) -> None:
    rows = []
    for item in ranges:
        try:
            lo, hi, prefix = addresses.cidr_bounds(item.cidr)
        except ValueError as error:
            raise StoreInputError(f"{item.cidr!r} is not a CIDR: {error}") from None
        rows.append((source, item.kind, item.cidr, str(lo), str(hi), prefix, item.node, item.tag))
    if rows:
        connection.executemany(
            "INSERT INTO ranges VALUES (?, ?, ?, ?::UHUGEINT, ?::UHUGEINT, ?, ?, ?)", rows
        )


class Store:
    """An open NetSight database. Use `open_store` to get one; `close` when done."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, path: Path, read_only: bool):
        self._connection = connection
        self._lock = threading.RLock()
        self.path = path
        self.read_only = read_only
        # Bumped (in the file too) on every ownership write, so the merged
        # connections know to re-resolve their owners.
        self._ownership_version = 0
        # Bumped when the whole history is replaced: every connection is re-resolved.
        self._full_resolve_version = 0
        with translated(f"read the ownership version of {path}"):
            meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
        self._ownership_version = int(meta.get(OWNERSHIP_VERSION_KEY, 0))
        self._full_resolve_version = int(meta.get(FULL_RESOLVE_VERSION_KEY, 0))
        # Bumped on every ranges write: unowned ends are named from the ranges.
        self._ranges_version = 0
        self._derived = merging.Derived(persist=not read_only)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock, translated(f"close {self.path}"):
            self._connection.close()

    # -- records, gaps and cursors -------------------------------------------------------

    def append_records(
        self, records: Iterable[Mapping[str, Any]] | pa.Table, cursor: Cursor | None = None
    ) -> int:
        """Store one batch of agent records (and the cursor after it) in one transaction.

        Records missing a field they cannot do without are dropped with a
        warning; the rest are stored. Returns the number stored.
        """
        table = _conform_records(records)
        with self._lock, translated(f"store {table.num_rows} records in {self.path}"):
            self._connection.begin()
            try:
                self._connection.register("_ns_batch", table)
                self._connection.execute("INSERT INTO records BY NAME SELECT * FROM _ns_batch")
                self._connection.unregister("_ns_batch")
                if cursor is not None:
                    self._write_cursor(cursor)
                self._connection.commit()
            except BaseException:
                self._connection.rollback()
                raise
        return table.num_rows

    def record_gap(
        self,
        node: str,
        generation: str,
        from_seq: int,
        to_seq: int,
        dropped: int,
        at: float | None = None,
    ) -> None:
        """Remember that records from_seq..to_seq of an agent were lost (`dropped` of them)."""
        with self._lock, translated(f"record a gap for {node}"):
            self._connection.execute(
                "INSERT INTO gaps VALUES (?, ?, ?, ?, ?, ?)",
                [node, generation, from_seq, to_seq, dropped, time.time() if at is None else at],
            )

    def gaps(self) -> pa.Table:
        with self._lock, translated("read the gaps"):
            return self._connection.sql('SELECT * FROM gaps ORDER BY "at", node').to_arrow_table()

    def cursor(self, node: str) -> Cursor | None:
        """The saved pull position for `node`, or None when it was never pulled."""
        with self._lock, translated(f"read the cursor of {node}"):
            rows = self._connection.execute(
                "SELECT node, generation, last_seq FROM cursors WHERE node = ?", [node]
            ).fetchall()
        return Cursor(rows[0][0], rows[0][1], int(rows[0][2])) if rows else None

    def set_cursor(self, cursor: Cursor) -> None:
        with self._lock, translated(f"save the cursor of {cursor.node}"):
            self._write_cursor(cursor)

    def _write_cursor(self, cursor: Cursor) -> None:
        self._connection.execute(
            "INSERT OR REPLACE INTO cursors VALUES (?, ?, ?, ?)",
            [cursor.node, cursor.generation, cursor.last_seq, time.time()],
        )

    def record_count(self) -> int:
        with self._lock, translated("count the records"):
            rows = self._connection.execute("SELECT count(*) FROM records").fetchall()
        return int(rows[0][0])

    # -- ownership and ranges -------------------------------------------------------------

    def replace_ownership(
        self,
        intervals: Iterable[Interval] | pa.Table,
        owners: Iterable[Owner] | Mapping[str, Owner] | pa.Table,
    ) -> None:
        """Replace the whole ownership history (intervals and owners) in one transaction."""
        interval_table = _intervals_table(intervals)
        owner_table = _owners_table(owners)
        with self._lock, translated("replace the ownership history"):
            self._transaction(
                ("DELETE FROM ownership", None),
                ("DELETE FROM owners", None),
                ("INSERT INTO ownership BY NAME SELECT * FROM _ns_intervals", interval_table),
                ("INSERT INTO owners BY NAME SELECT * FROM _ns_owners", owner_table),
                *self._version_steps(full=True),
            )
            self._ownership_version += 1
            self._full_resolve_version += 1

    def upsert_ownership(
        self,
        intervals: Iterable[Interval] | pa.Table,
        owners: Iterable[Owner] | Mapping[str, Owner] | pa.Table,
    ) -> None:
        """Add or update intervals (keyed by ip, port, owner, start) and owners (by uid)."""
        interval_table = _intervals_table(intervals)
        owner_table = _owners_table(owners)
        with self._lock, translated("update the ownership history"):
            # The next refresh re-resolves only connections at these IPs.
            self._transaction(
                ("INSERT INTO ns_touched SELECT DISTINCT ip FROM _ns_intervals", interval_table),
                (
                    """DELETE FROM ownership o USING _ns_intervals n
                    WHERE o.ip = n.ip AND o.port IS NOT DISTINCT FROM n.port
                      AND o.owner_uid = n.owner_uid AND o.valid_from = n.valid_from""",
                    interval_table,
                ),
                ("INSERT INTO ownership BY NAME SELECT * FROM _ns_intervals", interval_table),
                ("DELETE FROM owners WHERE uid IN (SELECT uid FROM _ns_owners)", owner_table),
                ("INSERT INTO owners BY NAME SELECT * FROM _ns_owners", owner_table),
                *self._version_steps(full=False),
            )
            self._ownership_version += 1

    def _version_steps(self, full: bool) -> list[tuple[str, pa.Table | None]]:
        """Statements that record an ownership write in `meta` (in the write's transaction)."""
        versions = [(OWNERSHIP_VERSION_KEY, self._ownership_version + 1)]
        if full:
            versions.append((FULL_RESOLVE_VERSION_KEY, self._full_resolve_version + 1))
        return [
            (f"INSERT OR REPLACE INTO meta VALUES ('{key}', '{value}')", None)
            for key, value in versions
        ]

    def replace_ranges(self, source: str, ranges: Iterable[NetRange]) -> None:
        """Replace the ranges of one source (`ranges.CLUSTER` or `ranges.USER`)."""
        ranges = list(ranges)
        with self._lock, translated(f"replace the {source} address ranges"):
            self._connection.begin()
            try:
                self._connection.execute("DELETE FROM ranges WHERE source = ?", [source])
                _insert_ranges(self._connection, source, ranges)
                self._connection.commit()
            except BaseException:
                self._connection.rollback()
                raise
            self._ranges_version += 1

    def _transaction(self, *steps: tuple[str, pa.Table | None]) -> None:
        """Run statements in one transaction; a step's table is visible under its `_ns_*` name."""
        self._connection.begin()
        try:
            for sql, table in steps:
                if table is not None:
                    name = "_ns_intervals" if "_ns_intervals" in sql else "_ns_owners"
                    self._connection.register(name, table)
                self._connection.execute(sql)
            self._connection.commit()
        except BaseException:
            self._connection.rollback()
            raise
        finally:
            for name in ("_ns_intervals", "_ns_owners"):
                self._connection.unregister(name)

    # -- queries ---------------------------------------------------------------------------

    def connections(
        self,
        level: str = "pod",
        since: float | None = None,
        until: float | None = None,
        filter: Filter | None = None,
        order_by: str | Iterable[str] | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> pa.Table:
        """Resolved connections aggregated to `level` (see docs/architecture.md for columns)."""
        sql, params = querying.connections_sql(level, since, until, filter, order_by, limit, offset)
        with self._lock, translated(f"query connections at {level} level"):
            self._refresh()
            return self._connection.sql(sql, params=params).to_arrow_table()

    def refresh(self) -> merging.Timings:
        """Merge new records and resolve owners now (queries do this when they need it)."""
        with self._lock, translated("resolve the connections"):
            self._refresh()
            return self._derived.timings

    def _refresh(self) -> None:
        try:
            self._derived.refresh(
                self._connection,
                self._ownership_version,
                self._ranges_version,
                self._full_resolve_version,
            )
        except BaseException:
            # Half-built derived tables are rebuilt from scratch next time.
            self._derived.reset()
            raise

    def identity_at(self, ip: str, at: float | None = None, port: int | None = None) -> Identity:
        """Who `ip` (and `port`, for hostNetwork pods) was at time `at` (default: now)."""
        with self._lock, translated(f"look up {ip}"):
            return lookup.identity_at(self._connection, ip, time.time() if at is None else at, port)

    def ip_history(self, ip: str) -> pa.Table:
        """Every owner `ip` had, oldest first."""
        with self._lock, translated(f"read the history of {ip}"):
            return lookup.ip_history(self._connection, ip)

    def export_connections(self, path: str | Path, fmt: str, **query: Any) -> int:
        """Write a `connections(**query)` result to `path` as csv, json (lines) or parquet."""
        table = self.connections(**query)
        with self._lock, translated(f"export connections to {path}"):
            exports.write_table(self._connection, table, Path(path), fmt)
        return table.num_rows

    def query_arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """Run a read-only SQL query of NetSight's own (topology, UI) and return Arrow."""
        with self._lock, translated("run a query"):
            return self._connection.sql(sql, params=dict(params or {})).to_arrow_table()


def records_table(records: Iterable[Mapping[str, Any]] | pa.Table) -> pa.Table:
    """Agent records as the Arrow table `append_records` stores (a puller can batch these)."""
    return _conform_records(records)


def _conform_records(records: Iterable[Mapping[str, Any]] | pa.Table) -> pa.Table:
    """Shape records as RECORD_SCHEMA (missing optional fields null, extra fields dropped)."""
    try:
        if isinstance(records, pa.Table):
            columns = []
            for field in RECORD_SCHEMA:
                if field.name in records.column_names:
                    columns.append(records.column(field.name).cast(field.type))
                else:
                    columns.append(pa.nulls(records.num_rows, field.type))
            table = pa.Table.from_arrays(columns, schema=RECORD_SCHEMA)
        else:
            table = pa.Table.from_pylist(list(records), schema=RECORD_SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, AttributeError) as error:
        raise StoreInputError(f"Records do not have the agent record shape: {error}") from None
    table = _normalised_ips(table, RECORD_IP_FIELDS)

    if not any(table.column(name).null_count for name in REQUIRED_RECORD_FIELDS):
        return table
    valid = None
    for name in REQUIRED_RECORD_FIELDS:
        present = pc.is_valid(table.column(name))
        valid = present if valid is None else pc.and_(valid, present)
    if valid is not None and table.num_rows:
        kept = table.filter(valid)
        if kept.num_rows != table.num_rows:
            logger.warning(
                "Dropped %d of %d agent records that lack one of %s.",
                table.num_rows - kept.num_rows,
                table.num_rows,
                ", ".join(REQUIRED_RECORD_FIELDS),
            )
        table = kept
    return table


def _normalised_ips(table: pa.Table, names: Iterable[str]) -> pa.Table:
    """`table` with the IP columns `names` spelled as stored (see addresses.normalised_ip)."""
    for name in names:
        index = table.schema.get_field_index(name)
        table = table.set_column(
            index, table.schema.field(index), addresses.normalised_column(table.column(index))
        )
    return table


def _intervals_table(intervals: Iterable[Interval] | pa.Table) -> pa.Table:
    if isinstance(intervals, pa.Table):
        table = _conform(intervals, INTERVAL_SCHEMA, "Ownership intervals")
    else:
        table = _interval_arrays(list(intervals))
    return _normalised_ips(table, ("ip",))


def _interval_arrays(items: list[Interval]) -> pa.Table:
    return _arrays(
        INTERVAL_SCHEMA,
        [
            [i.ip for i in items],
            [i.port for i in items],
            [i.owner_uid for i in items],
            [i.valid_from for i in items],
            [i.valid_to for i in items],
        ],
        "Ownership intervals",
    )


def _owners_table(owners: Iterable[Owner] | Mapping[str, Owner] | pa.Table) -> pa.Table:
    if isinstance(owners, pa.Table):
        return _conform(owners, OWNER_SCHEMA, "Owners")
    items = list(owners.values()) if isinstance(owners, Mapping) else list(owners)
    return _arrays(
        OWNER_SCHEMA,
        [
            [o.uid for o in items],
            [o.kind for o in items],
            [o.namespace for o in items],
            [o.name for o in items],
            [o.node for o in items],
            [o.workload_kind for o in items],
            [o.workload_name for o in items],
            [o.app for o in items],
            [json.dumps(o.labels, sort_keys=True) for o in items],
        ],
        "Owners",
    )


def _arrays(schema: pa.Schema, columns: list[list[Any]], what: str) -> pa.Table:
    try:
        return pa.Table.from_arrays(
            [
                pa.array(values, type=field.type)
                for values, field in zip(columns, schema, strict=True)
            ],
            schema=schema,
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as error:
        raise StoreInputError(f"{what} do not have the agreed shape: {error}") from None


def _conform(table: pa.Table, schema: pa.Schema, what: str) -> pa.Table:
    try:
        return pa.Table.from_arrays(
            [table.column(field.name).cast(field.type) for field in schema], schema=schema
        )
    except (KeyError, pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise StoreInputError(f"{what} do not have the agreed shape: {error}") from None


def iter_batches(table: pa.Table, size: int) -> Iterator[pa.Table]:
    """Slices of `table` of `size` rows, for callers that append in batches."""
    for start in range(0, table.num_rows, size):
        yield table.slice(start, size)
