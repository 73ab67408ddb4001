"""Resolution as SQL: agent records to connections named at the time they happened.

The steps, each a CTE of one query so DuckDB plans them together:

1. `recs`: records in the time window. Versions of one connection
   (same node, generation, conn_id) need no separate pass: counters only
   grow, so the latest version is the one with the largest counters and
   step 3 takes maxima anyway.
2. `ends`: each record's backend, the address the connection really
   reached: its own translated destination, else one a conntrack record
   of the same original tuple knows (a client socket record the agent
   could not tie to conntrack), else its destination.
3. `conns`: one row per connection, merging the client end, the server end
   and conntrack on any node by (proto, src ip/port, backend ip/port):
   bytes are the maximum per direction, first_seen the minimum, last_seen
   the maximum; the service address is the destination that differs from
   the backend.
4. `resolved`: owners at first_seen, by hash joins on the IP with the time
   range as residual (intervals of one (ip, port) never overlap, so at most
   one matches): src by IP; backend by (IP, port) for hostNetwork-declared
   ports, then by IP; service address by IP. An IP's first known interval
   is stretched back in time, because inventory often starts after the
   connection did.
   NB: this measured about 3x faster than ASOF joins on strings here; both
   are exact under the non-overlap rule.
5. `pairs`: connections grouped by (owner or unowned IP) on each end before
   any owner attributes are joined, which shrinks the rows by orders of
   magnitude.
6. `named`: owner attributes, and unowned IPs named from the ranges table
   (UnknownPod on a node, UnknownService, External with a tag).

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


def named_cte(record_where: str, conn_where: str) -> str:
    """The CTEs up to `named`; the WHERE parts filter records and merged connections."""
    return f"""
recs AS (
    SELECT proto, src_ip, src_port, dst_ip, dst_port, nat_dst_ip, nat_dst_port,
           node, observer, process, bytes_sent, bytes_received, first_seen, last_seen
    FROM records
    WHERE {record_where}
),
natmap AS (
    SELECT proto, src_ip, src_port, dst_ip, dst_port,
           max(nat_dst_ip) AS map_ip, max(nat_dst_port) AS map_port
    FROM recs
    WHERE nat_dst_ip IS NOT NULL AND nat_dst_ip <> dst_ip
    GROUP BY proto, src_ip, src_port, dst_ip, dst_port
),
ends AS (
    SELECT r.*,
           coalesce(r.nat_dst_ip, m.map_ip, r.dst_ip) AS b_ip,
           coalesce(r.nat_dst_port, m.map_port, r.dst_port) AS b_port
    FROM recs r
    LEFT JOIN natmap m
      ON m.proto = r.proto AND m.src_ip = r.src_ip AND m.src_port = r.src_port
     AND m.dst_ip = r.dst_ip AND m.dst_port = r.dst_port
),
conns AS (
    SELECT proto, src_ip, src_port, b_ip, b_port,
           max(dst_ip) FILTER (WHERE dst_ip <> b_ip) AS svc_ip,
           max(dst_port) FILTER (WHERE dst_ip <> b_ip) AS svc_port,
           max(bytes_sent) AS bytes_sent,
           max(bytes_received) AS bytes_received,
           min(first_seen) AS first_seen,
           max(last_seen) AS last_seen,
           min(node) AS node_a,
           max(node) AS node_b,
           max(process) FILTER (WHERE observer = 'client') AS client_process,
           max(process) FILTER (WHERE observer = 'server') AS server_process
    FROM ends
    GROUP BY proto, src_ip, src_port, b_ip, b_port
),
own_ip AS MATERIALIZED (
    SELECT ip, owner_uid,
           CASE WHEN valid_from = min(valid_from) OVER (PARTITION BY ip)
                THEN '-infinity'::DOUBLE ELSE valid_from END AS valid_from,
           coalesce(valid_to, 'infinity'::DOUBLE) AS valid_to
    FROM ownership
    WHERE port IS NULL
),
own_port AS (
    SELECT ip, port, owner_uid, valid_from, coalesce(valid_to, 'infinity'::DOUBLE) AS valid_to
    FROM ownership
    WHERE port IS NOT NULL
),
resolved AS (
    SELECT c.*,
           s.owner_uid AS src_uid,
           coalesce(hp.owner_uid, d.owner_uid) AS dst_uid,
           v.owner_uid AS svc_uid
    FROM conns c
    LEFT JOIN own_ip s
      ON s.ip = c.src_ip AND c.first_seen >= s.valid_from AND c.first_seen < s.valid_to
    LEFT JOIN own_port hp
      ON hp.ip = c.b_ip AND hp.port = c.b_port
     AND c.first_seen >= hp.valid_from AND c.first_seen < hp.valid_to
    LEFT JOIN own_ip d
      ON d.ip = c.b_ip AND c.first_seen >= d.valid_from AND c.first_seen < d.valid_to
    LEFT JOIN own_ip v
      ON v.ip = c.svc_ip AND c.first_seen >= v.valid_from AND c.first_seen < v.valid_to
    WHERE {conn_where}
),
pairs AS MATERIALIZED (
    SELECT proto,
           src_uid, CASE WHEN src_uid IS NULL THEN src_ip END AS src_ip,
           dst_uid, CASE WHEN dst_uid IS NULL THEN b_ip END AS dst_ip, b_port,
           svc_uid, CASE WHEN svc_uid IS NULL THEN svc_ip END AS svc_ip, svc_port,
           count(*) AS connections,
           sum(bytes_sent) AS bytes_sent,
           sum(bytes_received) AS bytes_received,
           min(first_seen) AS first_seen,
           max(last_seen) AS last_seen,
           list_distinct(list(node_a) || list(node_b)) AS nodes,
           list_distinct(
               coalesce(list(client_process) FILTER (WHERE client_process IS NOT NULL), [])
               || coalesce(list(server_process) FILTER (WHERE server_process IS NOT NULL), [])
           ) AS processes
    FROM resolved
    GROUP BY ALL
),
unowned AS (
    SELECT DISTINCT ip FROM (
        SELECT src_ip AS ip FROM pairs
        UNION ALL SELECT dst_ip FROM pairs
        UNION ALL SELECT svc_ip FROM pairs
    ) WHERE ip IS NOT NULL
),
classified AS (
    SELECT u.ip, r.kind AS range_kind, r.node, r.tag
    FROM unowned u
    LEFT JOIN ranges r ON ns_ip_num(u.ip) BETWEEN r.lo AND r.hi
    QUALIFY row_number() OVER (PARTITION BY u.ip ORDER BY {_RANGE_ORDER}) = 1
),
named AS (
    SELECT p.proto, p.b_port, p.svc_port, p.connections, p.bytes_sent, p.bytes_received,
           p.first_seen, p.last_seen, p.nodes, p.processes,
           (p.svc_uid IS NOT NULL OR p.svc_ip IS NOT NULL) AS has_svc,
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
                WHEN p.{end}_ip IS NULL THEN NULL
                WHEN {c}.range_kind = 'pod_cidr' THEN 'UnknownPod'
                WHEN {c}.range_kind = 'service_range' THEN 'UnknownService'
                ELSE 'External' END AS {end}_kind,
           {o}.namespace AS {end}_ns,
           coalesce({o}.name, p.{end}_uid, p.{end}_ip) AS {end}_name,
           {o}.workload_kind AS {end}_wk,
           {o}.workload_name AS {end}_wn,
           {o}.app AS {end}_app,
           coalesce({o}.node, {c}.node) AS {end}_node,
           p.{end}_ip AS {end}_ip,
           CASE WHEN p.{end}_ip IS NOT NULL AND coalesce({c}.range_kind, 'external') = 'external'
                THEN coalesce({c}.tag, 'public') END AS {end}_tag"""


def _end_joins(end: str) -> str:
    return f"""LEFT JOIN owners {end}_o ON {end}_o.uid = p.{end}_uid
    LEFT JOIN classified {end}_c ON {end}_c.ip = p.{end}_ip"""
