"""Who an IP was: its whole ownership history, and its identity at one moment.

Both answer from the ownership intervals and ranges stored in the file, so
the IP-lookup panel works on a saved file with no cluster. Unlike connection
resolution, a lookup does not stretch an IP's first interval back in time:
before the first owner NetSight saw, the honest answer is the address range.
"""

from __future__ import annotations

import json
import logging

import duckdb
import pyarrow as pa

from netsight.identity.model import EXTERNAL, UNKNOWN_POD, UNKNOWN_SERVICE, Identity, OwnerUid
from netsight.store import addresses
from netsight.store.errors import StoreInputError
from netsight.store.ranges import PUBLIC_TAG

logger = logging.getLogger(__name__)

_HISTORY_SQL = """
SELECT i.port, i.valid_from, i.valid_to, i.owner_uid AS uid,
       o.kind, o.namespace, o.name, o.workload_kind, o.workload_name, o.app, o.node, o.labels
FROM ownership i LEFT JOIN owners o ON o.uid = i.owner_uid
WHERE i.ip = $ip
ORDER BY i.valid_from, i.port NULLS FIRST
"""

_AT_SQL = """
SELECT i.owner_uid, o.kind, o.namespace, o.name, o.workload_kind, o.workload_name, o.app, o.node
FROM ownership i LEFT JOIN owners o ON o.uid = i.owner_uid
WHERE i.ip = $ip AND (i.port IS NULL OR i.port = $port)
  AND i.valid_from <= $at AND $at < coalesce(i.valid_to, 'infinity'::DOUBLE)
ORDER BY i.port NULLS LAST
LIMIT 1
"""

_RANGE_SQL = """
SELECT kind, node, tag, cidr FROM ranges
WHERE $num::UHUGEINT BETWEEN lo AND hi
ORDER BY CASE kind WHEN 'pod_cidr' THEN 0 WHEN 'service_range' THEN 1 ELSE 2 END,
         CASE source WHEN 'user' THEN 0 WHEN 'cluster' THEN 1 ELSE 2 END,
         prefix_len DESC
LIMIT 1
"""


def _normalised(ip: str) -> str:
    """`ip` as stored (an IPv4-mapped IPv6 address is its IPv4 address)."""
    normal = addresses.normalised_ip(ip)
    if normal is None:
        raise StoreInputError(f"{ip!r} is not an IP address.")
    return normal


def ip_history(connection: duckdb.DuckDBPyConnection, ip: str) -> pa.Table:
    """Every interval of `ip` with its owner's attributes, oldest first."""
    return connection.sql(_HISTORY_SQL, params={"ip": _normalised(ip)}).to_arrow_table()


def identity_at(
    connection: duckdb.DuckDBPyConnection, ip: str, at: float, port: int | None
) -> Identity:
    """The owner of `ip` (and `port`) at `at`, else what its address range says."""
    ip = _normalised(ip)
    owned = connection.execute(_AT_SQL, {"ip": ip, "port": port, "at": float(at)}).fetchall()
    if owned:
        uid, kind, namespace, name, workload_kind, workload_name, app, node = owned[0]
        return Identity(
            ip=ip,
            kind=kind or "Unknown",
            namespace=namespace,
            name=name or uid,
            uid=OwnerUid(uid),
            workload_kind=workload_kind,
            workload_name=workload_name,
            app=app,
            node=node,
        )

    matches = connection.execute(_RANGE_SQL, {"num": str(addresses.ip_number(ip))}).fetchall()
    if not matches:
        return Identity(ip=ip, kind=EXTERNAL, name=ip, tags=(PUBLIC_TAG,))
    kind, node, tag, _cidr = matches[0]
    # Tags name external ranges only: an unknown pod is "on node X" (a pod's old
    # address is kept as a /32 pod range with its node), not tagged with a CIDR.
    if kind == "pod_cidr":
        return Identity(ip=ip, kind=UNKNOWN_POD, name=ip, node=node)
    if kind == "service_range":
        return Identity(ip=ip, kind=UNKNOWN_SERVICE, name=ip)
    return Identity(ip=ip, kind=EXTERNAL, name=ip, tags=(tag or PUBLIC_TAG,))


def labels_of(history: pa.Table) -> list[dict[str, str]]:
    """The labels column of an `ip_history` table, decoded."""
    return [json.loads(text) if text else {} for text in history.column("labels").to_pylist()]
