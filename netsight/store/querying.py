"""Connections at a level, filtered, ordered and paged, all in one SQL query.

The level decides how each end of a resolved connection is named
(`LEVELS`); filters, sorting and paging are SQL too, so the UI can page
through a million rows without Python touching each one.
"""

from __future__ import annotations

import logging
import operator
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from netsight.store import addresses
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
    or IP; `external_only` keeps connections with an external end; `kinds`
    keeps rows whose source or destination kind at the asked level is one of
    them (case-insensitive); `nodes` keeps rows that one of the nodes observed
    (a node in the row's `nodes` list; the row keeps all its connections).
    """

    namespaces: tuple[str, ...] = ()
    apps: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    cidrs: tuple[str, ...] = ()
    name: str | None = None
    external_only: bool = False
    protos: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    nodes: tuple[str, ...] = ()


# Order columns that exist before names are joined (the fast path orders on ids).
_NUMERIC_ORDER = frozenset(
    {"connections", "bytes_sent", "bytes_received", "first_seen", "last_seen", "dst_port", "proto"}
)


def connections_sql(
    level: str,
    since: float | None,
    until: float | None,
    filter: Filter | None,
    order_by: str | Iterable[str] | None,
    limit: int | None,
    offset: int | None,
) -> tuple[str, dict[str, Any]]:
    """The SQL and parameters of `Store.connections`.

    Connections are grouped on integer level ids (`resolution`); names are
    joined onto the page only, unless the order needs them first.
    """
    if level not in LEVELS:
        raise StoreInputError(f"Unknown level {level!r}; choose one of {', '.join(LEVELS)}.")
    filter = filter or Filter()
    params: dict[str, Any] = {}
    service = level == SERVICE
    ids = POD if service else level

    # Merged connections: the time window, protocols, ports and addresses.
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
    if filter.ports:
        params["f_ports"] = [int(p) for p in filter.ports]
        conn_where.append(
            "(list_contains($f_ports, c.b_port) OR list_contains($f_ports, c.svc_port))"
        )
    if filter.cidrs:
        conn_where.append(_cidr_condition(filter.cidrs, params))

    flags, row_where = _entity_conditions(filter, params, service)

    dst_lid = "CASE WHEN c.svc_ent IS NOT NULL THEN v.lid ELSE d.lid END" if service else "d.lid"
    dst_port = "CASE WHEN c.svc_ent IS NOT NULL THEN c.svc_port ELSE c.b_port END"
    keys = [
        ("src_lid", "s.lid"),
        ("dst_lid", dst_lid),
        ("dst_port", dst_port if service else "c.b_port"),
        ("proto", "c.proto"),
        ("via_lid", "v.via"),
    ]
    if service:
        keys.append(("backend_lid", "CASE WHEN c.svc_ent IS NOT NULL THEN d.lid END"))
    key_names = [name for name, _ in keys]
    node_hit = ""
    having = ""
    if filter.nodes:
        params["f_nodes"] = list(filter.nodes)
        node_hit = (
            ", bool_or(list_contains($f_nodes, node_a) OR list_contains($f_nodes, node_b))"
            " AS node_hit"
        )
        having = "\n    HAVING node_hit"

    columns = COLUMNS + (BACKEND_COLUMNS if service else ())
    fast, order = _order_clause(order_by, columns)
    paging = ""
    for name, value in (("limit", limit), ("offset", offset)):
        if value is not None:
            paging += f"\n{name.upper()} ${name}"
            params[name] = _row_count(name, value)

    names = [
        "sl.kind AS src_kind",
        "sl.namespace AS src_namespace",
        "sl.name AS src_name",
        "dl.kind AS dst_kind",
        "dl.namespace AS dst_namespace",
        "dl.name AS dst_name",
        "w.via_name AS via_service",
        "sl.tag AS src_tag",
    ]
    joins = [
        f"LEFT JOIN ns_lvl_{ids} sl ON sl.lid = a.src_lid",
        f"LEFT JOIN ns_lvl_{ids} dl ON dl.lid = a.dst_lid",
        "LEFT JOIN ns_via w ON w.lid = a.via_lid",
    ]
    if service:
        names += [
            """CASE WHEN a.backend_lid IS NULL OR dl.kind = 'External' THEN dl.tag
                    ELSE bl.tag END AS dst_tag""",
            "bl.kind AS backend_kind",
            "bl.namespace AS backend_namespace",
            "bl.name AS backend_name",
        ]
        joins.append("LEFT JOIN ns_lvl_pod bl ON bl.lid = a.backend_lid")
    else:
        names.append("dl.tag AS dst_tag")
    join_sql = "\n    ".join(joins)
    same = " AND ".join(f"p.{k} IS NOT DISTINCT FROM k.{k}" for k in key_names)
    sums = """count(*)::BIGINT AS connections,
           sum(bytes_sent)::BIGINT AS bytes_sent,
           sum(bytes_received)::BIGINT AS bytes_received,
           min(first_seen) AS first_seen,
           max(last_seen) AS last_seen"""
    if fast:
        # Order and page on numbers and ids; name the page only.
        ranked = f"""page AS MATERIALIZED (
    SELECT * FROM agg a
    ORDER BY {order}{paging}
),
named AS (
    SELECT a.*, {", ".join(names)}
    FROM page a
    {join_sql}
)"""
    else:
        ranked = f"""named AS MATERIALIZED (
    SELECT * FROM (
        SELECT a.*, {", ".join(names)}
        FROM agg a
        {join_sql}
    ) a
    ORDER BY {order}{paging}
),
page AS (SELECT * FROM named)"""
    kind_join = f"LEFT JOIN ns_lvl_{ids} l ON l.lid = e.lid_{ids}" if filter.kinds else ""
    keyed_body = f"""    SELECT {", ".join(f"{expr} AS {name}" for name, expr in keys)},
           c.bytes_sent, c.bytes_received, c.first_seen, c.last_seen,
           c.node_a, c.node_b, c.client_process, c.server_process
    FROM c
    LEFT JOIN fe s ON s.ent = c.src_ent
    LEFT JOIN fe d ON d.ent = c.dst_ent
    LEFT JOIN fe v ON v.ent = c.svc_ent
    WHERE {" AND ".join(row_where)}"""
    # The page's connections only: clients whose level id is on the page (a cheap
    # semi-join on the client entity before the other ends are joined).
    page_keyed = keyed_body.replace(
        "FROM c\n",
        "FROM c\n    SEMI JOIN (SELECT ent FROM fe WHERE lid IN (SELECT src_lid FROM page)) pe"
        " ON pe.ent = c.src_ent\n",
        1,
    )
    sql = f"""WITH c AS NOT MATERIALIZED (
    SELECT *, coalesce(src_owner, -src_id) AS src_ent, coalesce(dst_owner, -b_id) AS dst_ent,
           CASE WHEN svc_id IS NOT NULL THEN coalesce(svc_owner, -svc_id) END AS svc_ent
    FROM ns_conns c
    WHERE {" AND ".join(conn_where)}
),
fe AS (
    SELECT e.ent, e.lid_{ids} AS lid, e.via{flags}
    FROM ns_ent e
    {kind_join}
),
keyed AS NOT MATERIALIZED (
{keyed_body}
),
agg AS MATERIALIZED (
    SELECT {", ".join(key_names)}, {sums}{node_hit}
    FROM keyed
    GROUP BY {", ".join(key_names)}{having}
),
{ranked},
lists AS (
    SELECT {", ".join(f"p.{k}" for k in key_names)},
           list_sort(list_distinct(list(k.node_a) || list(k.node_b))) AS nodes,
           list_sort(list_distinct(
               coalesce(list(k.client_process) FILTER (WHERE k.client_process IS NOT NULL), [])
               || coalesce(list(k.server_process) FILTER (WHERE k.server_process IS NOT NULL), [])
           )) AS processes
    FROM (SELECT DISTINCT {", ".join(key_names)} FROM page) p
    JOIN (
    {page_keyed}
    ) k ON {same}
    GROUP BY ALL
)
SELECT {", ".join(columns)}
FROM (
    SELECT p.*, coalesce(x.nodes, []) AS nodes, coalesce(x.processes, []) AS processes
    FROM named p
    LEFT JOIN lists x ON {same.replace("k.", "x.")}
)
ORDER BY {order}"""
    return sql, params


def _entity_conditions(
    filter: Filter, params: dict[str, Any], service: bool
) -> tuple[str, list[str]]:
    """Per-entity match flags (columns of `fe`) and the row conditions over the ends s, d, v."""
    flags: list[str] = []
    where = ["TRUE"]

    def any_end(flag: str) -> str:
        return (
            f"(coalesce(s.{flag}, FALSE) OR coalesce(d.{flag}, FALSE) OR coalesce(v.{flag}, FALSE))"
        )

    if filter.namespaces:
        params["f_ns"] = list(filter.namespaces)
        flags.append("coalesce(list_contains($f_ns, e.e_ns), FALSE) AS m_ns")
        where.append(any_end("m_ns"))
    if filter.apps:
        params["f_apps"] = list(filter.apps)
        flags.append("coalesce(list_contains($f_apps, e.e_app), FALSE) AS m_app")
        where.append(any_end("m_app"))
    if filter.name:
        params["f_name"] = filter.name.lower()
        flags.append(
            "contains(lower(concat_ws(' ', e.e_name, e.e_wn, e.e_app, e.e_ip)), $f_name) AS m_name"
        )
        where.append(any_end("m_name"))
    if filter.external_only:
        flags.append("e.e_kind = 'External' AS m_ext")
        where.append(any_end("m_ext"))
    if filter.kinds:
        params["f_kinds"] = sorted({k.lower() for k in filter.kinds})
        flags.append("coalesce(list_contains($f_kinds, lower(l.kind)), FALSE) AS m_kind")
        dst = (
            "CASE WHEN c.svc_ent IS NOT NULL THEN v.m_kind ELSE d.m_kind END"
            if service
            else ("d.m_kind")
        )
        where.append(f"coalesce(s.m_kind OR {dst}, FALSE)")
    return "".join(f", {flag}" for flag in flags), where


def _row_count(name: str, value: object) -> int:
    """A limit or offset as an int; DuckDB would fail on a negative one mid-query."""
    try:
        count = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        count = -1
    if isinstance(value, bool) or count < 0:
        raise StoreInputError(
            f"The {name} must be a whole number of rows, 0 or more, not {value!r}."
        )
    return count


def _cidr_condition(cidrs: Iterable[str], params: dict[str, Any]) -> str:
    """Client, backend or service address inside one of `cidrs` (IP ids from ns_addr)."""
    terms: list[str] = []
    for index, cidr in enumerate(cidrs):
        # A single IPv4-mapped address names the IPv4 address NetSight stored.
        cidr = (addresses.normalised_ip(cidr) or cidr) if "/" not in cidr else cidr
        try:
            lo, hi, _ = addresses.cidr_bounds(cidr)
        except ValueError as error:
            raise StoreInputError(f"{cidr!r} is neither an IP nor a CIDR: {error}") from None
        params[f"lo{index}"], params[f"hi{index}"] = str(lo), str(hi)
        terms.append(f"ns_ip_num(ip) BETWEEN $lo{index}::UHUGEINT AND $hi{index}::UHUGEINT")
    inside = f"(SELECT id FROM ns_addr WHERE {' OR '.join(terms)})"
    return f"(c.src_id IN {inside} OR c.b_id IN {inside} OR c.svc_id IN {inside})"


def _order_clause(
    order_by: str | Iterable[str] | None, columns: tuple[str, ...]
) -> tuple[bool, str]:
    """(fast, clause): fast when the order needs no names (ties broken by level ids).

    Level ids are ranked by namespace then name, so they order like the
    names they stand for.
    """
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
    if named <= _NUMERIC_ORDER:
        ties = [
            "src_lid"
            if column == "src_namespace"
            else "dst_lid"
            if column == "dst_namespace"
            else column
            for column in _TIEBREAK
            if column not in named and column not in ("src_name", "dst_name")
        ]
        extra = ["via_lid", "backend_lid"] if "backend_kind" in columns else ["via_lid"]
        clause.extend(f"{column} ASC NULLS FIRST" for column in ties + extra)
        return True, ", ".join(clause)
    clause.extend(f"{column} ASC NULLS FIRST" for column in _TIEBREAK if column not in named)
    clause.extend(
        f"{column} ASC NULLS FIRST"
        for column in ("via_service", "src_kind", "dst_kind", "src_tag", "dst_tag")
        if column not in named
    )
    return False, ", ".join(clause)
