"""Answers the views' questions from one context's DuckDB store.

This is the only UI module that knows the store's API: it turns the search
filter into the store's Filter, connection rows into graphs and details, and
ownership history into lookup results. Every method runs on a worker thread;
the store serialises its own connection.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable
from typing import Any

import networkx as nx
import pyarrow as pa

from netsight.store.querying import Filter
from netsight.ui.details import Details, IpOwnership, Peer
from netsight.ui.queries import (
    LEVEL_UP,
    ConnectionQuery,
    GraphQuery,
    GraphResult,
    LookupResult,
    OwnerSpan,
)
from netsight.ui.search import SearchFilter, Vocabulary

logger = logging.getLogger(__name__)

# Kinds the store reports per level, drawn with the matching symbol.
LEVEL_KIND = {"workload": "Workload", "app": "App", "namespace": "Namespace"}
# Rows read to build one graph; more than this is beyond any readable map.
GRAPH_ROW_LIMIT = 50_000


def store_filter(search: SearchFilter, focus: tuple[str, str | None, str] | None = None) -> Filter:
    """The store's Filter for a search; names beyond the first narrow nothing further."""
    namespaces = search.namespaces
    name = search.names[0] if search.names else None
    apps = search.apps
    if focus is not None:
        kind, namespace, focus_name = focus
        if kind == "Namespace":
            namespaces = (focus_name,)
        elif kind in ("App", "Application"):
            apps = (focus_name,)
        else:
            name = focus_name
            if namespace:
                namespaces = (namespace,)
    return Filter(
        namespaces=namespaces,
        apps=apps,
        ports=search.ports,
        cidrs=search.ips + search.cidrs,
        name=name,
        external_only=search.external,
        protos=search.protos,
    )


def _node_key(kind: Any, namespace: Any, name: Any) -> str:
    return f"{kind or '?'}:{namespace or ''}/{name or ''}"


def graph_from_rows(table: pa.Table, level: str) -> nx.DiGraph:
    """A directed graph with one node per end and one edge per (src, dst), summing traffic."""
    graph = nx.DiGraph()
    for row in table.to_pylist():
        ends = []
        for end in ("src", "dst"):
            kind = row.get(f"{end}_kind") or "?"
            if kind in ("Pod", "Workload", "App", "Namespace") or kind not in (
                "Service",
                "External",
                "Node",
                "ApiServer",
                "UnknownPod",
                "UnknownService",
            ):
                kind = LEVEL_KIND.get(level, kind)
            namespace, name = row.get(f"{end}_namespace"), row.get(f"{end}_name")
            key = _node_key(kind, namespace, name)
            if key not in graph:
                graph.add_node(key, kind=kind, namespace=namespace, name=name, label=name or key)
            ends.append(key)
        src, dst = ends
        if graph.has_edge(src, dst):
            edge = graph.edges[src, dst]
            edge["bytes"] += int(row.get("bytes_sent") or 0) + int(row.get("bytes_received") or 0)
            edge["connections"] += int(row.get("connections") or 0)
        else:
            graph.add_edge(
                src,
                dst,
                bytes=int(row.get("bytes_sent") or 0) + int(row.get("bytes_received") or 0),
                connections=int(row.get("connections") or 0),
            )
    return graph


class _RetryingStore:
    """Forwards to the Store, retrying a call that met another call's unfinished result.

    TODO: drop once Store no longer leaves a DuckDB result open after
    `execute(...).fetchone()` (cursor, record_count, identity_at); until then
    a query that runs right after one of those fails with "unfinished result".
    """

    ATTEMPTS = 6
    PAUSE_S = 0.15

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._store, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            for attempt in range(self.ATTEMPTS):
                try:
                    return target(*args, **kwargs)
                except Exception as error:
                    if "unfinished result" not in str(error) or attempt == self.ATTEMPTS - 1:
                        raise
                    logger.debug("Store call %s met an unfinished result; retrying.", name)
                    time.sleep(self.PAUSE_S)
            raise AssertionError("unreachable")

        return call


class StoreDataSource:
    """DataSource over an open Store."""

    def __init__(self, store: Any) -> None:
        self.store = _RetryingStore(store)

    def close(self) -> None:
        return None

    def connections(self, query: ConnectionQuery) -> pa.Table:
        order = f"{query.order_by} {'DESC' if query.descending else 'ASC'}"
        return self.store.connections(
            query.level,
            since=query.since,
            until=query.until,
            filter=store_filter(query.filter),
            order_by=order,
            limit=query.limit,
            offset=query.offset,
        )

    def graph(self, query: GraphQuery) -> GraphResult:
        level, note = query.level, ""
        while True:
            table = self.store.connections(
                level,
                since=query.since,
                until=query.until,
                filter=store_filter(query.filter, query.focus),
                order_by="bytes_sent DESC",
                limit=GRAPH_ROW_LIMIT,
            )
            graph = graph_from_rows(table, level)
            up = LEVEL_UP.get(level)
            if graph.number_of_nodes() <= query.max_nodes or up is None or query.focus:
                break
            note = (
                f"{graph.number_of_nodes():,} nodes at {level} level is more than "
                f"{query.max_nodes:,} can be read; showing the {up} level instead. "
                "Double-click a node or narrow the search to see its members."
            )
            level = up
        return GraphResult(graph, level, note)

    def lookup(self, ip: str, at: float | None, since: float | None) -> LookupResult:
        connections = self.store.connections(
            "pod", since=since, filter=Filter(cidrs=(ip,)), order_by="last_seen DESC", limit=500
        )
        history = tuple(
            OwnerSpan(
                owner=str(row.get("name") or row.get("uid")),
                kind=str(row.get("kind") or "?"),
                namespace=row.get("namespace"),
                workload=(
                    f"{row['workload_kind']}/{row['workload_name']}"
                    if row.get("workload_name")
                    else None
                ),
                app=row.get("app"),
                node=row.get("node"),
                valid_from=row.get("valid_from"),
                valid_to=row.get("valid_to"),
            )
            for row in self.store.ip_history(ip).to_pylist()
        )
        identity = self.store.identity_at(ip, at)
        facts = [
            (label, str(value))
            for label, value in (
                ("Namespace", identity.namespace),
                (
                    "Workload",
                    f"{identity.workload_kind}/{identity.workload_name}"
                    if identity.workload_name
                    else None,
                ),
                ("Application", identity.app),
                ("Node", identity.node),
            )
            if value
        ]
        note = ""
        if identity.kind == "External":
            note = "Outside the cluster; grouped by the address ranges it falls in."
        elif identity.kind == "UnknownPod":
            note = f"Inside the pod range of node {identity.node}, but no known pod had it then."
        elif identity.kind == "UnknownService":
            note = "Inside the service range, but no known Service had it then."
        return LookupResult(
            ip=ip,
            at=at,
            kind=identity.kind,
            title=str(identity.name or ip),
            facts=tuple(facts),
            tags=tuple(identity.tags),
            history=history,
            connections=connections,
            note=note,
        )

    def details(
        self, node: Hashable, attrs: dict[str, Any], since: float | None, until: float | None
    ) -> Details:
        kind = str(attrs.get("kind", "?"))
        name = str(attrs.get("name") or node)
        namespace = attrs.get("namespace")
        level = {"Namespace": "namespace", "App": "app", "Workload": "workload"}.get(kind, "pod")
        if kind == "Service":
            level = "service"
        rows = self.store.connections(
            level,
            since=since,
            until=until,
            filter=Filter(name=name, namespaces=(namespace,) if namespace else ()),
            order_by="bytes_sent DESC",
            limit=2000,
        ).to_pylist()
        incoming, outgoing = [], []
        for row in rows:
            total = int(row.get("bytes_sent") or 0) + int(row.get("bytes_received") or 0)
            if row.get("dst_name") == name and row.get("dst_namespace") == namespace:
                peer = f"{row.get('src_namespace') or ''}/{row.get('src_name')}".lstrip("/")
                incoming.append(
                    Peer(
                        peer,
                        row.get("dst_port"),
                        str(row.get("proto")),
                        int(row.get("connections") or 0),
                        total,
                    )
                )
            elif row.get("src_name") == name and row.get("src_namespace") == namespace:
                peer = f"{row.get('dst_namespace') or ''}/{row.get('dst_name')}".lstrip("/")
                outgoing.append(
                    Peer(
                        peer,
                        row.get("dst_port"),
                        str(row.get("proto")),
                        int(row.get("connections") or 0),
                        total,
                    )
                )
        facts: list[tuple[str, str]] = [("Kind", kind)]
        if namespace:
            facts.append(("Namespace", str(namespace)))
        owners = self._owner_rows(kind, namespace, name)
        labels: tuple[tuple[str, str], ...] = ()
        chain: tuple[str, ...] = ()
        helm = ""
        ips: list[IpOwnership] = []
        if owners:
            first = owners[0]
            if first.get("node"):
                facts.append(("Node", str(first["node"])))
            if first.get("workload_name"):
                chain = (f"{kind} {name}", f"{first['workload_kind']} {first['workload_name']}")
            if first.get("app"):
                helm = f"release {first['app']}"
                chain = (*chain, f"App {first['app']}") if chain else ()
            labels = tuple(_parse_labels(first.get("labels")))
            for owner in owners[:20]:
                ips += [
                    IpOwnership(r["ip"], str(owner.get("name")), r["valid_from"], r["valid_to"])
                    for r in self.store.query_arrow(
                        "SELECT ip, valid_from, valid_to FROM ownership WHERE owner_uid = $uid "
                        "ORDER BY valid_from",
                        {"uid": owner["uid"]},
                    ).to_pylist()
                ]
        return Details(
            title=name,
            kind=kind,
            facts=tuple(facts),
            labels=labels,
            owner_chain=chain,
            helm=helm,
            ips=tuple(ips[:30]),
            incoming=tuple(incoming),
            outgoing=tuple(outgoing),
        )

    def _owner_rows(self, kind: str, namespace: Any, name: str) -> list[dict[str, Any]]:
        column = {"Workload": "workload_name", "App": "app", "Namespace": "namespace"}.get(
            kind, "name"
        )
        sql = f"SELECT * FROM owners WHERE {column} = $name"
        params: dict[str, Any] = {"name": name}
        if namespace and kind != "Namespace":
            sql += " AND namespace = $ns"
            params["ns"] = namespace
        try:
            return self.store.query_arrow(sql + " LIMIT 50", params).to_pylist()
        except Exception:  # noqa: BLE001 - details are best effort; the rest still shows
            logger.debug("Reading owners of %s/%s failed.", namespace, name, exc_info=True)
            return []

    def vocabulary(self) -> Vocabulary:
        def column(sql: str) -> tuple[str, ...]:
            try:
                return tuple(str(v) for v in self.store.query_arrow(sql).column(0).to_pylist() if v)
            except Exception:  # noqa: BLE001 - completion is a convenience
                logger.debug("Reading completion words failed.", exc_info=True)
                return ()

        return Vocabulary(
            namespaces=column("SELECT DISTINCT namespace FROM owners ORDER BY 1"),
            apps=column("SELECT DISTINCT app FROM owners ORDER BY 1"),
            nodes=column("SELECT DISTINCT node FROM owners ORDER BY 1"),
            names=column("SELECT DISTINCT name FROM owners ORDER BY 1 LIMIT 5000"),
        )


def _parse_labels(raw: Any) -> list[tuple[str, str]]:
    if not raw:
        return []
    if isinstance(raw, dict):
        return sorted((str(k), str(v)) for k, v in raw.items())
    try:
        import json

        parsed = json.loads(raw)
        return sorted((str(k), str(v)) for k, v in parsed.items())
    except (ValueError, AttributeError):
        return []
