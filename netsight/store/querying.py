"""Connections at a level, filtered, ordered and paged, all in one SQL query.

The level decides how each end of a resolved connection is named
(`LEVELS`); filters, sorting and paging are SQL too, so the UI can page
through a million rows without Python touching each one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from netsight.store import addresses, resolution
from netsight.store.errors import StoreInputError

logger = logging.getLogger(__name__)

POD = "pod"
WORKLOAD = "workload"
SERVICE = "service"
APP = "app"
NAMESPACE = "namespace"
LEVELS = (POD, WORKLOAD, SERVICE, APP, NAMESPACE)

COLUMNS = (
    "src_kind",
    "src_namespace",
    "src_name",
    "dst_kind",
    "dst_namespace",
    "dst_name",
    "dst_port",
    "proto",
    "connections",
    "bytes_sent",
    "bytes_received",
    "first_seen",
    "last_seen",
    "nodes",
    "processes",
    "via_service",
    "src_tag",
    "dst_tag",
)
BACKEND_COLUMNS = ("backend_kind", "backend_namespace", "backend_name")

DEFAULT_ORDER = ("connections DESC",)
# Appended to every order so that equal rows come back in the same order each time.
_TIEBREAK = ("src_namespace", "src_name", "dst_namespace", "dst_name", "dst_port", "proto")
_ORDER_TERM = re.compile(r"^\s*([a-z_]+)\s*(asc|desc)?\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Filter:
    """Which connections to keep; fields combine with AND, the ends of one with OR.

    `cidrs` takes IPs or CIDRs matched against the client, backend and service
    address; `name` is a case-insensitive substring of a name, workload, app
    or IP; `external_only` keeps connections with an external end.
    """

    namespaces: tuple[str, ...] = ()
    apps: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    cidrs: tuple[str, ...] = ()
    name: str | None = None
    external_only: bool = False
    protos: tuple[str, ...] = ()


def connections_sql(
    level: str,
    since: float | None,
    until: float | None,
    filter: Filter | None,
    order_by: str | Iterable[str] | None,
    limit: int | None,
    offset: int | None,
) -> tuple[str, dict[str, Any]]:
    """The SQL and parameters of `Store.connections`."""
    if level not in LEVELS:
        raise StoreInputError(f"Unknown level {level!r}; choose one of {', '.join(LEVELS)}.")
    filter = filter or Filter()
    params: dict[str, Any] = {}

    # Merged connections: the time window, protocols and addresses.
    conn_where = ["TRUE"]
    if since is not None:
        conn_where.append("c.last_seen >= $since")
        params["since"] = float(since)
    if until is not None:
        conn_where.append("c.first_seen <= $until")
        params["until"] = float(until)
    if filter.protos:
        conn_where.append("list_contains($f_protos, c.proto)")
        params["f_protos"] = [p.lower() for p in filter.protos]
    if filter.cidrs:
        conn_where.append(_cidr_condition(filter.cidrs, params))

    # Named connections: names, namespaces, apps, ports.
    named_where = _named_conditions(filter, params)

    src = _level_identity("src", level)
    if level == SERVICE:
        svc, backend = _level_identity("svc", POD), _level_identity("dst", POD)
        dst = tuple(
            f"CASE WHEN has_svc THEN {s} ELSE {b} END" for s, b in zip(svc, backend, strict=True)
        )
        dst_port = "CASE WHEN has_svc THEN svc_port ELSE b_port END"
        extra = [
            f"CASE WHEN has_svc THEN {expr} END AS {column}"
            for expr, column in zip(backend, BACKEND_COLUMNS, strict=True)
        ]
    else:
        dst = _level_identity("dst", level)
        dst_port = "b_port"
        extra = []
    via = "CASE WHEN has_svc THEN concat_ws('/', svc_ns, svc_name) END"
    keys = [
        f"{src[0]} AS src_kind",
        f"{src[1]} AS src_namespace",
        f"{src[2]} AS src_name",
        f"{dst[0]} AS dst_kind",
        f"{dst[1]} AS dst_namespace",
        f"{dst[2]} AS dst_name",
        f"{dst_port} AS dst_port",
        "proto",
        f"{via} AS via_service",
        "src_tag",
        "CASE WHEN has_svc AND svc_kind = 'External' THEN svc_tag ELSE dst_tag END AS dst_tag"
        if level == SERVICE
        else "dst_tag",
        *extra,
    ]
    key_names = [k.rsplit(" AS ", 1)[-1] for k in keys]
    columns = COLUMNS + (BACKEND_COLUMNS if level == SERVICE else ())
    order = _order_clause(order_by, columns)
    paging = ""
    if limit is not None:
        paging += "\nLIMIT $limit"
        params["limit"] = int(limit)
    if offset is not None:
        paging += "\nOFFSET $offset"
        params["offset"] = int(offset)

    # Scalar sums first, ordered and paged; the node and process lists (costly
    # list aggregates) only for the rows of the page.
    ctes = resolution.named_cte(" AND ".join(conn_where))
    same = " AND ".join(f"p.{k} IS NOT DISTINCT FROM l.{k}" for k in key_names)
    final = ", ".join(
        f"coalesce(x.{c}, []) AS {c}" if c in ("nodes", "processes") else f"p.{c}" for c in columns
    )
    sql = f"""WITH {ctes},
lvl AS MATERIALIZED (
    SELECT {", ".join(keys)}, connections, bytes_sent, bytes_received, first_seen, last_seen,
           node_a, node_b, client_process, server_process
    FROM named
    WHERE {" AND ".join(named_where)}
),
page AS MATERIALIZED (
    SELECT {", ".join(key_names)},
           sum(connections)::BIGINT AS connections,
           sum(bytes_sent)::BIGINT AS bytes_sent,
           sum(bytes_received)::BIGINT AS bytes_received,
           min(first_seen) AS first_seen,
           max(last_seen) AS last_seen
    FROM lvl
    GROUP BY {", ".join(key_names)}
    ORDER BY {order}{paging}
),
lists AS (
    SELECT {", ".join(f"p.{k}" for k in key_names)},
           list_sort(list_distinct(list(l.node_a) || list(l.node_b))) AS nodes,
           list_sort(list_distinct(
               coalesce(list(l.client_process) FILTER (WHERE l.client_process IS NOT NULL), [])
               || coalesce(list(l.server_process) FILTER (WHERE l.server_process IS NOT NULL), [])
           )) AS processes
    FROM page p JOIN lvl l ON {same}
    GROUP BY ALL
)
SELECT {final}
FROM page p
LEFT JOIN lists x ON {same.replace("l.", "x.")}
ORDER BY {order}"""
    return sql, params


def _level_identity(end: str, level: str) -> tuple[str, str, str]:
    """(kind, namespace, name) SQL expressions naming one end at `level`."""
    kind, ns, name = f"{end}_kind", f"{end}_ns", f"{end}_name"
    wn, wk, app, node, tag = f"{end}_wn", f"{end}_wk", f"{end}_app", f"{end}_node", f"{end}_tag"
    if level in (POD, SERVICE):
        return kind, ns, name

    in_workload = f"({kind} = 'Pod' AND {wn} IS NOT NULL)"
    workload = (
        f"CASE WHEN {in_workload} THEN coalesce({wk}, 'Workload') ELSE {kind} END",
        ns,
        f"""CASE WHEN {in_workload} THEN {wn}
             WHEN {kind} = 'UnknownPod' THEN coalesce({node}, 'unknown node')
             WHEN {kind} = 'UnknownService' THEN 'service range'
             WHEN {kind} = 'External' THEN {tag}
             ELSE {name} END""",
    )
    if level == WORKLOAD:
        return workload
    if level == APP:
        return (
            f"CASE WHEN {app} IS NOT NULL THEN 'App' ELSE {workload[0]} END",
            ns,
            f"CASE WHEN {app} IS NOT NULL THEN {app} ELSE {workload[2]} END",
        )
    return (
        f"CASE WHEN {ns} IS NOT NULL THEN 'Namespace' ELSE {workload[0]} END",
        "NULL::VARCHAR",
        f"coalesce({ns}, {workload[2]})",
    )


def _named_conditions(filter: Filter, params: dict[str, Any]) -> list[str]:
    where = ["TRUE"]
    ends = resolution.ENDS
    if filter.namespaces:
        params["f_ns"] = list(filter.namespaces)
        where.append("(" + " OR ".join(f"list_contains($f_ns, {e}_ns)" for e in ends) + ")")
    if filter.apps:
        params["f_apps"] = list(filter.apps)
        where.append("(" + " OR ".join(f"list_contains($f_apps, {e}_app)" for e in ends) + ")")
    if filter.ports:
        params["f_ports"] = [int(p) for p in filter.ports]
        where.append("(list_contains($f_ports, b_port) OR list_contains($f_ports, svc_port))")
    if filter.name:
        params["f_name"] = filter.name.lower()
        fields = ", ".join(f"{e}_{c}" for e in ends for c in ("name", "wn", "app", "ip"))
        where.append(f"contains(lower(concat_ws(' ', {fields})), $f_name)")
    if filter.external_only:
        where.append("(src_kind = 'External' OR dst_kind = 'External' OR svc_kind = 'External')")
    return where


def _cidr_condition(cidrs: Iterable[str], params: dict[str, Any]) -> str:
    """Client, backend or service address inside one of `cidrs` (IP ids from ns_addr)."""
    terms: list[str] = []
    for index, cidr in enumerate(cidrs):
        try:
            lo, hi, _ = addresses.cidr_bounds(cidr)
        except ValueError as error:
            raise StoreInputError(f"{cidr!r} is neither an IP nor a CIDR: {error}") from None
        params[f"lo{index}"], params[f"hi{index}"] = str(lo), str(hi)
        terms.append(f"ns_ip_num(ip) BETWEEN $lo{index}::UHUGEINT AND $hi{index}::UHUGEINT")
    inside = f"(SELECT id FROM ns_addr WHERE {' OR '.join(terms)})"
    return f"(c.src_id IN {inside} OR c.b_id IN {inside} OR c.svc_id IN {inside})"


def _order_clause(order_by: str | Iterable[str] | None, columns: tuple[str, ...]) -> str:
    if order_by is None:
        terms: list[str] = list(DEFAULT_ORDER)
    elif isinstance(order_by, str):
        terms = [order_by]
    else:
        terms = list(order_by)
    clause = []
    for term in terms:
        match = _ORDER_TERM.match(term)
        if not match or match.group(1) not in columns:
            raise StoreInputError(
                f"Cannot order by {term!r}; use a column name and optional asc/desc."
            )
        clause.append(f"{match.group(1)} {(match.group(2) or 'asc').upper()} NULLS LAST")
    named = {term.split()[0] for term in clause}
    clause.extend(f"{column} ASC NULLS FIRST" for column in _TIEBREAK if column not in named)
    return ", ".join(clause)
