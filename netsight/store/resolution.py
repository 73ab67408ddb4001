"""Naming the ends of resolved connections once, as small integer tables.

`merging` keeps one row per connection with the owner ids of its client,
backend and service address (`ns_conns`). Every end is an *entity*: an
owner (its positive owner id) or, when nobody owned the address, the IP
itself (minus its ip id). This module builds, from the owners and the
ranges only (never from the connections' own rows beyond listing the
unowned ids):

- `ns_ent`: one row per entity with its pod-level attributes (kind,
  namespace, name, workload, app, node, ip, tag) and its level id at each
  level (`lid_pod`, `lid_workload`, `lid_app`, `lid_namespace`) and its
  `via` id (the "namespace/name" a connection through it shows);
- `ns_lvl_<level>` and `ns_via`: level id -> (kind, namespace, name, tag).

A level id is the dense rank of the end's identity at that level, ordered
by (namespace, name, kind, tag), so equal identities share an id (a pod
recreated under its name is one row, as before) and ordering by ids orders
by namespace and name. Level queries (`querying`) group connections on
these integers and join names only onto the rows they return.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

# Levels with their own ids; `service` names its ends at pod level.
ID_LEVELS = ("pod", "workload", "app", "namespace")

# Order in which ranges name an unowned IP: cluster ranges, then user, then well-known.
_RANGE_ORDER = """CASE r.kind WHEN 'pod_cidr' THEN 0 WHEN 'service_range' THEN 1 ELSE 2 END,
            CASE r.source WHEN 'user' THEN 0 WHEN 'cluster' THEN 1 ELSE 2 END,
            r.prefix_len DESC"""

# Pod-level attributes of every entity: owners, then the unowned ids the connections use.
_BASE = f"""CREATE OR REPLACE TEMP TABLE ns_ent_base AS
WITH unowned AS (
    SELECT DISTINCT id FROM (
        SELECT src_id AS id FROM ns_conns WHERE src_owner IS NULL
        UNION ALL SELECT b_id FROM ns_conns WHERE dst_owner IS NULL
        UNION ALL SELECT svc_id FROM ns_conns WHERE svc_owner IS NULL AND svc_id IS NOT NULL)
    WHERE id IS NOT NULL
),
classified AS (
    SELECT a.id, a.ip, r.kind AS range_kind, r.node, r.tag
    FROM ns_addr a
    JOIN unowned u ON u.id = a.id
    LEFT JOIN ranges r ON ns_ip_num(a.ip) BETWEEN r.lo AND r.hi
    QUALIFY row_number() OVER (PARTITION BY a.id ORDER BY {_RANGE_ORDER}) = 1
)
SELECT id AS ent, coalesce(kind, 'Unknown') AS e_kind, namespace AS e_ns,
       coalesce(name, uid) AS e_name, workload_kind AS e_wk, workload_name AS e_wn,
       app AS e_app, node AS e_node, NULL::VARCHAR AS e_ip, NULL::VARCHAR AS e_tag
FROM ns_owner_names
UNION ALL
SELECT -id,
       CASE range_kind WHEN 'pod_cidr' THEN 'UnknownPod' WHEN 'service_range' THEN 'UnknownService'
            ELSE 'External' END,
       NULL, ip, NULL, NULL, NULL, node, ip,
       CASE WHEN coalesce(range_kind, 'external') = 'external' THEN coalesce(tag, 'public') END
FROM classified"""

# A digest of the unowned ids the connections use: when it changes, entities are rebuilt.
UNOWNED_SET = """SELECT count(DISTINCT id), sum(DISTINCT id) FROM (
    SELECT src_id AS id FROM ns_conns WHERE src_owner IS NULL
    UNION ALL SELECT b_id FROM ns_conns WHERE dst_owner IS NULL
    UNION ALL SELECT svc_id FROM ns_conns WHERE svc_owner IS NULL AND svc_id IS NOT NULL)"""


def level_identity(level: str, prefix: str = "e") -> tuple[str, str, str]:
    """(kind, namespace, name) SQL naming an entity (its `{prefix}_*` columns) at `level`."""
    kind, ns, name = f"{prefix}_kind", f"{prefix}_ns", f"{prefix}_name"
    wn, wk, app = f"{prefix}_wn", f"{prefix}_wk", f"{prefix}_app"
    node, tag = f"{prefix}_node", f"{prefix}_tag"
    if level in ("pod", "service"):
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
    if level == "workload":
        return workload
    if level == "app":
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


def _entity_sql() -> list[str]:
    named = []
    ranks = []
    for level in ID_LEVELS:
        kind, ns, name = level_identity(level)
        named.append(f"{kind} AS {level}_kind, {ns} AS {level}_ns, {name} AS {level}_name")
        order = (
            f"{level}_ns ASC NULLS FIRST, {level}_name ASC NULLS FIRST, "
            f"{level}_kind ASC NULLS FIRST, e_tag ASC NULLS FIRST"
        )
        ranks.append(f"(dense_rank() OVER (ORDER BY {order}))::INTEGER AS lid_{level}")
    statements = [
        f"""CREATE OR REPLACE TEMP TABLE ns_ent_named AS
        SELECT *, {", ".join(named)}, concat_ws('/', e_ns, e_name) AS via_name
        FROM ns_ent_base""",
        f"""CREATE OR REPLACE TEMP TABLE ns_ent AS
        SELECT *, {", ".join(ranks)},
               (dense_rank() OVER (ORDER BY via_name))::INTEGER AS via
        FROM ns_ent_named""",
    ]
    for level in ID_LEVELS:
        statements.append(
            f"""CREATE OR REPLACE TEMP TABLE ns_lvl_{level} AS
            SELECT DISTINCT lid_{level} AS lid, {level}_kind AS kind, {level}_ns AS namespace,
                   {level}_name AS name, e_tag AS tag
            FROM ns_ent"""
        )
    statements.append(
        "CREATE OR REPLACE TEMP TABLE ns_via AS SELECT DISTINCT via AS lid, via_name FROM ns_ent"
    )
    statements += ["DROP TABLE ns_ent_base", "DROP TABLE ns_ent_named"]
    return statements


ENTITY_STATEMENTS = [_BASE, *_entity_sql()]
