"""Derived tables that make connection queries cheap: merged connections with their owners.

Resolving every query from raw records (merge both ends, look owners up,
aggregate, name) cost minutes at 10M records, so the work is done once and
kept. The merged state (`PERSISTED_TABLES`) lives in the file beside a mark
(records below that rowid are merged) and the ownership versions its owners
were resolved at, all committed in one transaction per refresh: a kill -9
leaves them consistent, and reopening a big file merges only the records
after the mark. A read-only open uses them as they are when current, else
works on TEMP copies (which shadow the file's tables by name). The tables
(in the file, except `ns_own` and the entity tables of `resolution`, which
are TEMP and rebuilt per open from small inputs):

- `ns_addr`: every IP seen, as a dense INTEGER id (joins on integers, not text).
- `ns_natmap`: original tuple -> translated destination, from records that know it.
- `ns_touched`: IPs whose intervals an ownership write changed since the last refresh.
- `ns_own` (TEMP): ownership intervals keyed by IP id (and port), owner as INTEGER id,
  an IP's first interval stretched back in time (inventory often starts after
  the connection did).
- `ns_owner_names`: owner id -> attributes, joined only after aggregation.
- `ns_conns`: one row per connection (proto, client ip/port, backend ip/port),
  merging the client end, the server end and conntrack on any node: bytes the
  maximum per direction, first_seen the minimum, last_seen the maximum; the
  service address is the destination that differs from the backend; and the
  owners of the client, the backend and the service address at first_seen.

`refresh` merges only the records appended since the last call (rowids only
grow: records are never deleted), re-keying earlier connections whose NAT
became known; it re-resolves every connection only when the ownership history
changed. Owners are found with hash joins on (ip id[, port]) and the time
range as residual: intervals of one (ip, port) never overlap, so at most one
matches, and this measured faster than an ASOF join here.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import duckdb

from netsight.store import resolution

logger = logging.getLogger(__name__)

_CONN_KEY = ("proto", "src_id", "src_port", "b_id", "b_port")

# The merged state kept in the file (schema version 2), so reopening a big file
# merges only the records after the mark. Columns as `CREATE TABLE name (...)`.
PERSISTED_TABLES = {
    "ns_addr": "ip VARCHAR, id INTEGER",
    "ns_owner_names": """id INTEGER, uid VARCHAR, kind VARCHAR, namespace VARCHAR,
        name VARCHAR, node VARCHAR, workload_kind VARCHAR, workload_name VARCHAR, app VARCHAR""",
    # IPs whose intervals an ownership write changed since the last refresh.
    "ns_touched": "ip VARCHAR",
    "ns_natmap": """proto VARCHAR, src_ip VARCHAR, src_port INTEGER, dst_ip VARCHAR,
        dst_port INTEGER, map_ip VARCHAR, map_port INTEGER""",
    "ns_conns": """proto VARCHAR, src_id INTEGER, src_port INTEGER, b_id INTEGER,
        b_port INTEGER, svc_id INTEGER, svc_port INTEGER, bytes_sent BIGINT,
        bytes_received BIGINT, first_seen DOUBLE, last_seen DOUBLE, node_a VARCHAR,
        node_b VARCHAR, client_process VARCHAR, server_process VARCHAR,
        src_owner INTEGER, dst_owner INTEGER, svc_owner INTEGER""",
}
# meta keys: the records merged (rowids below the mark) and the ownership versions
# (`schema.OWNERSHIP_VERSION`, `schema.FULL_RESOLVE_VERSION`) the owners were resolved at.
MARK_KEY = "derived_mark"
RESOLVED_OWNERSHIP_KEY = "derived_ownership_version"
RESOLVED_FULL_KEY = "derived_full_resolve_version"

# New IPs of a table's columns get the next ids.
_ADD_ADDRESSES = """
INSERT INTO ns_addr
SELECT ip, ((SELECT coalesce(max(id), 0) FROM ns_addr) + row_number() OVER (ORDER BY ip))::INTEGER
FROM (SELECT DISTINCT ip FROM ({source}) WHERE ip IS NOT NULL) fresh
WHERE NOT EXISTS (SELECT 1 FROM ns_addr a WHERE a.ip = fresh.ip)
"""

_OWNERS = [
    # Owner ids stay stable across ownership writes (connections keep them):
    # known uids keep theirs, new ones get the next ids.
    """CREATE OR REPLACE {temp}TABLE ns_owner_names AS
    WITH fresh AS (
        SELECT DISTINCT ON (uid) * FROM (
            SELECT uid, kind, namespace, name, node, workload_kind, workload_name, app
            FROM owners
            UNION ALL
            SELECT DISTINCT owner_uid, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM ownership
        ) ORDER BY uid, kind NULLS LAST
    ),
    known AS (SELECT f.*, o.id AS old_id FROM fresh f LEFT JOIN ns_owner_names o ON o.uid = f.uid)
    SELECT coalesce(old_id, (SELECT coalesce(max(id), 0) FROM ns_owner_names)
                    + (row_number() OVER (PARTITION BY old_id IS NULL ORDER BY uid))::INTEGER)
               ::INTEGER AS id,
           uid, kind, namespace, name, node, workload_kind, workload_name, app
    FROM known""",
    """CREATE OR REPLACE TEMP TABLE ns_own AS
    SELECT a.id AS ip_id, o.port, n.id AS owner,
           CASE WHEN o.port IS NULL
                 AND o.valid_from = min(o.valid_from) OVER (PARTITION BY o.ip, o.port IS NULL)
                THEN '-infinity'::DOUBLE ELSE o.valid_from END AS valid_from,
           -- Latest start wins: an interval ends where the next one for its
           -- (ip, port) begins, so intervals left open by an earlier run (a
           -- pod deleted while nobody watched) never double a match.
           least(coalesce(o.valid_to, 'infinity'::DOUBLE),
                 coalesce(lead(o.valid_from) OVER (PARTITION BY o.ip, o.port
                                                   ORDER BY o.valid_from, o.owner_uid),
                          'infinity'::DOUBLE)) AS valid_to
    FROM ownership o
    JOIN ns_addr a ON a.ip = o.ip
    JOIN ns_owner_names n ON n.uid = o.owner_uid""",
]

# Owner columns of a connection `c` at its first_seen.
_RESOLVE_SELECT = """s.owner AS src_owner, coalesce(hp.owner, d.owner) AS dst_owner,
       v.owner AS svc_owner"""
_RESOLVE_JOINS = """
LEFT JOIN (SELECT ip_id, owner, valid_from, valid_to FROM ns_own WHERE port IS NULL) s
  ON s.ip_id = c.src_id AND c.first_seen >= s.valid_from AND c.first_seen < s.valid_to
LEFT JOIN (SELECT ip_id, port, owner, valid_from, valid_to FROM ns_own WHERE port IS NOT NULL) hp
  ON hp.ip_id = c.b_id AND hp.port = c.b_port
 AND c.first_seen >= hp.valid_from AND c.first_seen < hp.valid_to
LEFT JOIN (SELECT ip_id, owner, valid_from, valid_to FROM ns_own WHERE port IS NULL) d
  ON d.ip_id = c.b_id AND c.first_seen >= d.valid_from AND c.first_seen < d.valid_to
LEFT JOIN (SELECT ip_id, owner, valid_from, valid_to FROM ns_own WHERE port IS NULL) v
  ON v.ip_id = c.svc_id AND c.first_seen >= v.valid_from AND c.first_seen < v.valid_to
"""
_CONN_COLUMNS = """c.proto, c.src_id, c.src_port, c.b_id, c.b_port, c.svc_id, c.svc_port,
       c.bytes_sent, c.bytes_received, c.first_seen, c.last_seen, c.node_a, c.node_b,
       c.client_process, c.server_process"""

_MERGE = [
    # Records appended since the last merge.
    """CREATE OR REPLACE TEMP TABLE ns_new AS
    SELECT proto, src_ip, src_port, dst_ip, dst_port, nat_dst_ip, nat_dst_port, node, observer,
           process, bytes_sent, bytes_received, first_seen, last_seen
    FROM records WHERE rowid >= $watermark AND rowid < $end""",
    # Translations they teach: the tuples whose earlier connections must be re-keyed.
    """CREATE OR REPLACE TEMP TABLE ns_natnew AS
    SELECT proto, src_ip, src_port, dst_ip, dst_port,
           max(nat_dst_ip) AS map_ip, max(nat_dst_port) AS map_port
    FROM ns_new
    WHERE nat_dst_ip IS NOT NULL AND nat_dst_ip <> dst_ip
    GROUP BY ALL""",
    """INSERT INTO ns_natmap
    SELECT * FROM ns_natnew n
    WHERE NOT EXISTS (
        SELECT 1 FROM ns_natmap m
        WHERE m.proto = n.proto AND m.src_ip = n.src_ip AND m.src_port = n.src_port
          AND m.dst_ip = n.dst_ip AND m.dst_port = n.dst_port)""",
    _ADD_ADDRESSES.format(
        source="SELECT src_ip AS ip FROM ns_new UNION ALL SELECT dst_ip FROM ns_new "
        "UNION ALL SELECT nat_dst_ip FROM ns_new"
    ),
    # The new records as connections: backend from the record, else the NAT map.
    """CREATE OR REPLACE TEMP TABLE ns_delta AS
    WITH ends AS (
        SELECT r.*,
               coalesce(r.nat_dst_ip, m.map_ip, r.dst_ip) AS b_ip,
               coalesce(r.nat_dst_port, m.map_port, r.dst_port) AS b_port
        FROM ns_new r
        LEFT JOIN ns_natmap m
          ON m.proto = r.proto AND m.src_ip = r.src_ip AND m.src_port = r.src_port
         AND m.dst_ip = r.dst_ip AND m.dst_port = r.dst_port
    ),
    grouped AS (
        SELECT proto, src_ip, src_port, b_ip, b_port,
               max(dst_ip) FILTER (WHERE dst_ip <> b_ip) AS svc_ip,
               max(dst_port) FILTER (WHERE dst_ip <> b_ip) AS svc_port,
               max(bytes_sent) AS bytes_sent, max(bytes_received) AS bytes_received,
               min(first_seen) AS first_seen, max(last_seen) AS last_seen,
               min(node) AS node_a, max(node) AS node_b,
               max(process) FILTER (WHERE observer = 'client') AS client_process,
               max(process) FILTER (WHERE observer = 'server') AS server_process
        FROM ends
        GROUP BY proto, src_ip, src_port, b_ip, b_port
    )
    SELECT g.proto, s.id AS src_id, g.src_port, b.id AS b_id, g.b_port, v.id AS svc_id,
           g.svc_port, g.bytes_sent, g.bytes_received, g.first_seen, g.last_seen,
           g.node_a, g.node_b, g.client_process, g.server_process
    FROM grouped g
    LEFT JOIN ns_addr s ON s.ip = g.src_ip
    LEFT JOIN ns_addr b ON b.ip = g.b_ip
    LEFT JOIN ns_addr v ON v.ip = g.svc_ip""",
    # Earlier connections keyed by the service address whose translation is now known.
    """CREATE OR REPLACE TEMP TABLE ns_rekey AS
    SELECT n.proto, s.id AS src_id, n.src_port, d.id AS dst_id, n.dst_port,
           m.id AS map_id, n.map_port
    FROM ns_natnew n
    JOIN ns_addr s ON s.ip = n.src_ip
    JOIN ns_addr d ON d.ip = n.dst_ip
    JOIN ns_addr m ON m.ip = n.map_ip""",
    # Earlier rows of the connections the delta touches, re-keyed where needed.
    """CREATE OR REPLACE TEMP TABLE ns_old AS
    SELECT c.proto, c.src_id, c.src_port,
           coalesce(k.map_id, c.b_id) AS b_id, coalesce(k.map_port, c.b_port) AS b_port,
           CASE WHEN k.map_id IS NOT NULL THEN c.b_id ELSE c.svc_id END AS svc_id,
           CASE WHEN k.map_id IS NOT NULL THEN c.b_port ELSE c.svc_port END AS svc_port,
           c.bytes_sent, c.bytes_received, c.first_seen, c.last_seen, c.node_a, c.node_b,
           c.client_process, c.server_process, c.rowid AS old_row
    FROM ns_conns c
    LEFT JOIN ns_rekey k
      ON c.svc_id IS NULL AND k.proto = c.proto AND k.src_id = c.src_id
     AND k.src_port = c.src_port AND k.dst_id = c.b_id AND k.dst_port = c.b_port
    WHERE k.map_id IS NOT NULL OR EXISTS (
        SELECT 1 FROM ns_delta d
        WHERE d.proto = c.proto AND d.src_id = c.src_id AND d.src_port = c.src_port
          AND d.b_id = c.b_id AND d.b_port = c.b_port)""",
    "DELETE FROM ns_conns WHERE rowid IN (SELECT old_row FROM ns_old)",
    f"""INSERT INTO ns_conns
    SELECT {_CONN_COLUMNS}, {_RESOLVE_SELECT}
    FROM (
        SELECT proto, src_id, src_port, b_id, b_port,
               max(svc_id) AS svc_id, max(svc_port) AS svc_port,
               max(bytes_sent) AS bytes_sent, max(bytes_received) AS bytes_received,
               min(first_seen) AS first_seen, max(last_seen) AS last_seen,
               min(node_a) AS node_a, max(node_b) AS node_b,
               max(client_process) AS client_process, max(server_process) AS server_process
        FROM (SELECT * EXCLUDE (old_row) FROM ns_old UNION ALL SELECT * FROM ns_delta)
        GROUP BY proto, src_id, src_port, b_id, b_port
    ) c
    {_RESOLVE_JOINS}""",
]

_RESOLVE_ALL = f"""CREATE OR REPLACE {{temp}}TABLE ns_conns AS
SELECT {_CONN_COLUMNS}, {_RESOLVE_SELECT}
FROM ns_conns c
{_RESOLVE_JOINS}"""

# Re-resolve only the connections with an end at an IP whose intervals a write touched.
_RESOLVE_TOUCHED = [
    """CREATE OR REPLACE TEMP TABLE ns_touched_ids AS
    SELECT DISTINCT a.id FROM ns_touched t JOIN ns_addr a ON a.ip = t.ip""",
    """CREATE OR REPLACE TEMP TABLE ns_redo AS
    SELECT c.rowid AS old_row, c.* EXCLUDE (src_owner, dst_owner, svc_owner) FROM ns_conns c
    WHERE c.src_id IN (SELECT id FROM ns_touched_ids)
       OR c.b_id IN (SELECT id FROM ns_touched_ids)
       OR c.svc_id IN (SELECT id FROM ns_touched_ids)""",
    "DELETE FROM ns_conns WHERE rowid IN (SELECT old_row FROM ns_redo)",
    f"""INSERT INTO ns_conns
    SELECT {_CONN_COLUMNS}, {_RESOLVE_SELECT}
    FROM ns_redo c
    {_RESOLVE_JOINS}""",
    "DROP TABLE ns_redo",
    "DROP TABLE ns_touched_ids",
    "DELETE FROM ns_touched",
]

_DROP_SCRATCH = [
    f"DROP TABLE IF EXISTS {name}"
    for name in ("ns_new", "ns_natnew", "ns_delta", "ns_rekey", "ns_old")
]


@dataclass
class Timings:
    """Seconds the last `refresh` spent in each stage (for benchmarks and logs)."""

    owners_s: float = 0.0
    merge_s: float = 0.0
    resolve_s: float = 0.0
    entities_s: float = 0.0
    # Copying the file's merged tables into TEMP ones (a read-only open that is behind).
    copy_s: float = 0.0


class Derived:
    """The derived tables of one connection, and what they are up to date with.

    Writable (`persist`): the merged tables live in the file and every refresh
    that changes them commits them with the mark and the resolved ownership
    versions in one transaction, so a kill -9 leaves the file consistent and
    the next open merges only the records after the mark. Read-only: the
    file's tables are used as they are when they cover every record and the
    current ownership; otherwise they are copied into TEMP tables of the same
    names (which shadow them) and the rest is merged there.
    """

    def __init__(self, persist: bool) -> None:
        self._persist = persist
        self.timings = Timings()
        self.reset()

    def reset(self) -> None:
        """Forget what is in memory: the next refresh starts again from what the file holds."""
        self._started = False
        self._temp = False
        self._mark = 0
        self._resolved_ownership = -1
        self._resolved_full = -1
        self._own_built_for: int | None = None
        self._ranges_version = -1
        self._unowned: tuple[object, ...] = ()

    def refresh(
        self,
        connection: duckdb.DuckDBPyConnection,
        ownership_version: int,
        ranges_version: int = 0,
        full_resolve_version: int = 0,
    ) -> None:
        """Bring ns_conns up to date with the records and the ownership history.

        An ownership write since the connections were resolved re-resolves the
        connections at the IPs it touched (listed in `ns_touched`), or all of
        them when `full_resolve_version` moved (the whole history was replaced).
        """
        self.timings = Timings()
        rows = connection.execute("SELECT coalesce(max(rowid) + 1, 0) FROM records").fetchall()
        end = int(rows[0][0])
        if not self._started:
            self._start(connection, end, ownership_version)
        owners_stale = ownership_version != self._resolved_ownership
        merge = end > self._mark
        if owners_stale or merge or self._own_built_for != ownership_version:
            connection.begin()
            try:
                self._update(connection, end, ownership_version, full_resolve_version)
                connection.commit()
            except BaseException:
                connection.rollback()
                raise
            self._own_built_for = ownership_version
            self._resolved_ownership = ownership_version
            self._resolved_full = full_resolve_version
            if merge:
                logger.debug("Merged records %d..%d into connections.", self._mark, end - 1)
                self._mark = end
        self._refresh_entities(connection, owners_stale, merge, ranges_version)

    def _start(self, connection: duckdb.DuckDBPyConnection, end: int, ownership: int) -> None:
        """Read what the file's merged tables cover; copy them to TEMP when read-only and behind."""
        meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
        in_file = {
            row[0]
            for row in connection.execute(
                "SELECT table_name FROM duckdb_tables() "
                "WHERE database_name = current_database() AND schema_name = 'main'"
            ).fetchall()
        }
        complete = set(PERSISTED_TABLES) <= in_file and MARK_KEY in meta
        if complete:
            self._mark = int(meta[MARK_KEY])
            self._resolved_ownership = int(meta[RESOLVED_OWNERSHIP_KEY])
            self._resolved_full = int(meta[RESOLVED_FULL_KEY])
        up_to_date = complete and self._mark >= end and self._resolved_ownership == ownership
        self._temp = not self._persist and not up_to_date
        if self._temp:
            started = time.perf_counter()
            database = connection.execute("SELECT current_database()").fetchall()[0][0]
            for name, columns in PERSISTED_TABLES.items():
                if complete:
                    source = f'"{database}".main.{name}'
                    connection.execute(
                        f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {source}"
                    )
                else:
                    connection.execute(f"CREATE OR REPLACE TEMP TABLE {name} ({columns})")
            self.timings.copy_s = time.perf_counter() - started
            logger.debug(
                "Read-only and the file's merged tables are behind: working on TEMP copies."
            )
        self._started = True

    def _update(
        self,
        connection: duckdb.DuckDBPyConnection,
        end: int,
        ownership_version: int,
        full_resolve_version: int,
    ) -> None:
        """Owners, re-resolution and the merge of new records (one transaction)."""
        temp = "TEMP " if self._temp else ""
        owners_stale = ownership_version != self._resolved_ownership
        started = time.perf_counter()
        if owners_stale:
            connection.execute(_ADD_ADDRESSES.format(source="SELECT ip FROM ownership"))
            connection.execute(_OWNERS[0].format(temp=temp))
        connection.execute(_OWNERS[1])
        self.timings.owners_s = time.perf_counter() - started

        if owners_stale and self._mark:
            started = time.perf_counter()
            if full_resolve_version != self._resolved_full:
                connection.execute(_RESOLVE_ALL.format(temp=temp))
                connection.execute("DELETE FROM ns_touched")
            else:
                for statement in _RESOLVE_TOUCHED:
                    connection.execute(statement)
            self.timings.resolve_s = time.perf_counter() - started
        elif owners_stale:
            connection.execute("DELETE FROM ns_touched")

        if end > self._mark:
            started = time.perf_counter()
            for statement in _MERGE:
                params = {"watermark": self._mark, "end": end} if "$" in statement else None
                connection.execute(statement, params)
            for statement in _DROP_SCRATCH:
                connection.execute(statement)
            self.timings.merge_s = time.perf_counter() - started
        if not self._temp and self._persist:
            connection.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [
                    (MARK_KEY, str(max(end, self._mark))),
                    (RESOLVED_OWNERSHIP_KEY, str(ownership_version)),
                    (RESOLVED_FULL_KEY, str(full_resolve_version)),
                ],
            )

    def _refresh_entities(
        self,
        connection: duckdb.DuckDBPyConnection,
        owners_changed: bool,
        merged: bool,
        ranges_version: int,
    ) -> None:
        """Rebuild the entity and level id tables when what names the ends changed."""
        started = time.perf_counter()
        stale = owners_changed or ranges_version != self._ranges_version
        if merged or stale:
            unowned = connection.execute(resolution.UNOWNED_SET).fetchall()[0]
            stale = stale or unowned != self._unowned
            self._unowned = unowned
        if not stale:
            return
        for statement in resolution.ENTITY_STATEMENTS:
            connection.execute(statement)
        self._ranges_version = ranges_version
        self.timings.entities_s = time.perf_counter() - started
