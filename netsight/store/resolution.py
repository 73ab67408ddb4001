"""Naming resolved connections: aggregate by owner first, then join names.

`merging` keeps one row per connection with the owner ids of its client,
backend and service address (`ns_conns`). A query here:

1. `pairs`: connections in the window grouped by (owner, or the IP when
   nobody owned it) on each end, before any name is joined, which shrinks
   the rows by orders of magnitude on real clusters.
2. `classified`: unowned IPs named from the ranges table (UnknownPod on a
   node, UnknownService, External with a tag).
3. `named`: owner attributes joined onto the (few) pairs.

`querying` puts the level projection, filters, order and paging on top.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

# The ends of a connection as `named` exposes them: client, backend, service address.
ENDS = ("src", "dst", "svc")

# Columns each end has in `named`, prefixed with the end: src_kind, src_ns, ...
END_COLUMNS = ("kind", "ns", "name", "wk", "wn", "app", "node", "ip", "tag")

# Order in which ranges name an unowned IP: cluster ranges, then user, then well-known.
_RANGE_ORDER = """CASE r.kind WHEN 'pod_cidr' THEN 0 WHEN 'service_range' THEN 1 ELSE 2 END,
            CASE r.source WHEN 'user' THEN 0 WHEN 'cluster' THEN 1 ELSE 2 END,
            r.prefix_len DESC"""


def named_cte(conn_where: str) -> str:
    """The CTEs up to `named`; `conn_where` filters the merged connections `c`."""
    return f"""
pairs AS MATERIALIZED (
    SELECT proto,
           src_owner AS src_uid, CASE WHEN src_owner IS NULL THEN src_id END AS src_ip_id,
           dst_owner AS dst_uid, CASE WHEN dst_owner IS NULL THEN b_id END AS dst_ip_id, b_port,
           svc_owner AS svc_uid, CASE WHEN svc_owner IS NULL THEN svc_id END AS svc_ip_id,
           svc_port, node_a, node_b, client_process, server_process,
           count(*) AS connections,
           sum(bytes_sent) AS bytes_sent,
           sum(bytes_received) AS bytes_received,
           min(first_seen) AS first_seen,
           max(last_seen) AS last_seen
    FROM ns_conns c
    WHERE {conn_where}
    GROUP BY ALL
),
unowned AS (
    SELECT a.id, a.ip FROM ns_addr a
    WHERE a.id IN (SELECT src_ip_id FROM pairs UNION SELECT dst_ip_id FROM pairs
                   UNION SELECT svc_ip_id FROM pairs)
),
classified AS (
    SELECT u.id, u.ip, r.kind AS range_kind, r.node, r.tag
    FROM unowned u
    LEFT JOIN ranges r ON ns_ip_num(u.ip) BETWEEN r.lo AND r.hi
    QUALIFY row_number() OVER (PARTITION BY u.id ORDER BY {_RANGE_ORDER}) = 1
),
named AS (
    SELECT p.proto, p.b_port, p.svc_port, p.connections, p.bytes_sent, p.bytes_received,
           p.first_seen, p.last_seen, p.node_a, p.node_b, p.client_process, p.server_process,
           (p.svc_uid IS NOT NULL OR p.svc_ip_id IS NOT NULL) AS has_svc,
           {_end_columns("src")},
           {_end_columns("dst")},
           {_end_columns("svc")}
    FROM pairs p
    {_end_joins("src")}
    {_end_joins("dst")}
    {_end_joins("svc")}
)"""


def _end_columns(end: str) -> str:
    o, c = f"{end}_o", f"{end}_c"
    return f"""CASE WHEN p.{end}_uid IS NOT NULL THEN coalesce({o}.kind, 'Unknown')
                WHEN p.{end}_ip_id IS NULL THEN NULL
                WHEN {c}.range_kind = 'pod_cidr' THEN 'UnknownPod'
                WHEN {c}.range_kind = 'service_range' THEN 'UnknownService'
                ELSE 'External' END AS {end}_kind,
           {o}.namespace AS {end}_ns,
           coalesce({o}.name, {o}.uid, {c}.ip) AS {end}_name,
           {o}.workload_kind AS {end}_wk,
           {o}.workload_name AS {end}_wn,
           {o}.app AS {end}_app,
           coalesce({o}.node, {c}.node) AS {end}_node,
           {c}.ip AS {end}_ip,
           CASE WHEN p.{end}_ip_id IS NOT NULL AND coalesce({c}.range_kind, 'external') = 'external'
                THEN coalesce({c}.tag, 'public') END AS {end}_tag"""


def _end_joins(end: str) -> str:
    return f"""LEFT JOIN ns_owner_names {end}_o ON {end}_o.id = p.{end}_uid
    LEFT JOIN classified {end}_c ON {end}_c.id = p.{end}_ip_id"""
