"""The tables of a NetSight database and the steps that bring an older file up to date.

A database file outlives the program that wrote it (users keep and share
them), so the schema carries a version in `meta` and every change is a
numbered migration. A file with a higher version than `SCHEMA_VERSION` was
written by a newer NetSight and is refused rather than misread.

Times are DOUBLE epoch seconds (UTC), IPs normalised strings, as everywhere
in NetSight; `ranges` keeps addresses as UHUGEINT in IPv6 space (IPv4 as
IPv4-mapped `::ffff:a.b.c.d`) so one BETWEEN test covers both families.
"""

from __future__ import annotations

import logging

import pyarrow as pa

from netsight.store.merging import (
    MARK_KEY,
    PERSISTED_TABLES,
    RESOLVED_FULL_KEY,
    RESOLVED_OWNERSHIP_KEY,
)

logger = logging.getLogger(__name__)

APPLICATION = "netsight"
SCHEMA_VERSION = 2
# The oldest schema a read-only open accepts (its tables hold everything; what a
# newer schema adds is rebuilt in memory).
OLDEST_READABLE_VERSION = 1
# meta keys bumped in the transaction of every ownership write (and of every
# replacement of the whole history), so the merged connections in the file know
# whether their owners are current.
OWNERSHIP_VERSION_KEY = "ownership_version"
FULL_RESOLVE_VERSION_KEY = "full_resolve_version"

# One agent record, as the collector sends it (docs/architecture.md).
RECORD_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("conn_id", pa.string()),
        ("node", pa.string()),
        ("generation", pa.string()),
        ("proto", pa.string()),
        ("family", pa.int8()),
        ("src_ip", pa.string()),
        ("src_port", pa.int32()),
        ("dst_ip", pa.string()),
        ("dst_port", pa.int32()),
        ("nat_dst_ip", pa.string()),
        ("nat_dst_port", pa.int32()),
        ("nat_src_ip", pa.string()),
        ("nat_src_port", pa.int32()),
        ("observer", pa.string()),
        ("source", pa.string()),
        ("state", pa.string()),
        ("bytes_sent", pa.int64()),
        ("bytes_received", pa.int64()),
        ("process", pa.string()),
        ("pid", pa.int64()),
        ("netns", pa.int64()),
        ("first_seen", pa.float64()),
        ("last_seen", pa.float64()),
    ]
)
# Address fields of a record, stored in one spelling (IPv4-mapped IPv6 as plain IPv4).
RECORD_IP_FIELDS = ("src_ip", "dst_ip", "nat_dst_ip", "nat_src_ip")
# Fields a record cannot do without: the identity of the connection and its time.
REQUIRED_RECORD_FIELDS = ("seq", "conn_id", "node", "generation", "proto", "src_ip", "dst_ip")

INTERVAL_SCHEMA = pa.schema(
    [
        ("ip", pa.string()),
        ("port", pa.int32()),
        ("owner_uid", pa.string()),
        ("valid_from", pa.float64()),
        ("valid_to", pa.float64()),
    ]
)

OWNER_SCHEMA = pa.schema(
    [
        ("uid", pa.string()),
        ("kind", pa.string()),
        ("namespace", pa.string()),
        ("name", pa.string()),
        ("node", pa.string()),
        ("workload_kind", pa.string()),
        ("workload_name", pa.string()),
        ("app", pa.string()),
        ("labels", pa.string()),
    ]
)

_DUCK_TYPES = {
    pa.int8(): "TINYINT",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.string(): "VARCHAR",
}


def _columns(schema: pa.Schema) -> str:
    return ",\n    ".join(f"{field.name} {_DUCK_TYPES[field.type]}" for field in schema)


_V1 = [
    "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)",
    f"CREATE TABLE records (\n    {_columns(RECORD_SCHEMA)}\n)",
    """CREATE TABLE gaps (
    node VARCHAR NOT NULL, generation VARCHAR NOT NULL, from_seq BIGINT NOT NULL,
    to_seq BIGINT NOT NULL, dropped BIGINT NOT NULL, "at" DOUBLE NOT NULL)""",
    """CREATE TABLE cursors (
    node VARCHAR PRIMARY KEY, generation VARCHAR NOT NULL, last_seq BIGINT NOT NULL,
    updated_at DOUBLE NOT NULL)""",
    f"CREATE TABLE ownership (\n    {_columns(INTERVAL_SCHEMA)}\n)",
    f"CREATE TABLE owners (\n    {_columns(OWNER_SCHEMA)}\n)",
    # kind: pod_cidr (node set), service_range, external (tag set);
    # source: well_known, cluster (from the inventory) or user.
    """CREATE TABLE ranges (
    source VARCHAR NOT NULL, kind VARCHAR NOT NULL, cidr VARCHAR NOT NULL,
    lo UHUGEINT NOT NULL, hi UHUGEINT NOT NULL, prefix_len INTEGER NOT NULL,
    node VARCHAR, tag VARCHAR)""",
]

# Version 2 keeps the merged connections (merging.PERSISTED_TABLES) in the file.
_V2 = [f"CREATE TABLE {name} ({columns})" for name, columns in PERSISTED_TABLES.items()] + [
    f"""INSERT OR REPLACE INTO meta VALUES ('{MARK_KEY}', '0'),
        ('{RESOLVED_OWNERSHIP_KEY}', '-1'), ('{RESOLVED_FULL_KEY}', '-1'),
        ('{OWNERSHIP_VERSION_KEY}', '0'), ('{FULL_RESOLVE_VERSION_KEY}', '0')"""
]

# MIGRATIONS[n] takes a file from version n - 1 to version n.
MIGRATIONS: dict[int, list[str]] = {1: _V1, 2: _V2}
