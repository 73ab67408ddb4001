"""Answers the views' questions from one context's DuckDB store.

This is the only UI module that knows the store's API: it turns the search
filter into the store's Filter, lets `netsight.topology` shape the rows into
the graph (external groups, collapse, drill-down), and reads details and
ownership history. Every method runs on a worker thread; the store
serialises its own connection. What only the live cluster knows (Helm
revisions, the full owner chain) comes from an optional LiveFacts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Hashable
from typing import Any, Protocol

import pyarrow as pa

from netsight.identity.ownership import HELM_RELEASE
from netsight.identity.ranges import normalize_ip
from netsight.store.querying import Filter
from netsight.topology.graph import (
    APP_KIND,
    EXTERNAL,
    NAMESPACE_KIND,
    DrillSpec,
    TopologySettings,
    build_graph,
    build_view,
    member_subgraph,
)
from netsight.ui.details import Details, IpOwnership, Peer
from netsight.ui.queries import (
    ConnectionQuery,
    GraphQuery,
    GraphResult,
    LookupResult,
    OwnerSpan,
)
from netsight.ui.search import SearchFilter, Vocabulary

logger = logging.getLogger(__name__)

# Rows read to build one graph; more than this is beyond any readable map.
GRAPH_ROW_LIMIT = 50_000
# Rows read for one details panel; the Connections tab has the rest.
DETAILS_ROW_LIMIT = 2000
# Kinds that name one workload (a node at workload level, or a drilled owner).
WORKLOAD_KINDS = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "Workload"}
)


class LiveFacts(Protocol):
    """What the live session knows beyond the store (see session.py)."""

    def owner_chain(self, kind: str, namespace: str | None, name: str) -> list[tuple[str, str]]:
        """Owners above an object, nearest first, as (kind, name), the Helm release
        last as ("HelmRelease", name); empty when unknown (OwnershipHistory.owner_chain)."""
        ...

    def release(self, namespace: str | None, name: str) -> Any | None:
        """The live revision of a Helm release (identity.apps.HelmRelease), if seen."""
        ...


def store_filter(search: SearchFilter, drill: DrillSpec | None = None) -> Filter:
    """The store's Filter for a search, narrowed to a drill-down's owner when given.

    Names beyond the first narrow nothing further (the store takes one).
    """
    fields: dict[str, Any] = {
        "namespaces": search.namespaces,
        "apps": search.apps,
        "ports": search.ports,
        "cidrs": search.ips + search.cidrs,
        "name": search.names[0] if search.names else None,
        "external_only": search.external,
        "protos": search.protos,
        "kinds": search.kinds,
        "nodes": search.nodes,
    }
    if drill is not None:
        fields.update(drill.filter_fields())
    return Filter(**fields)


class StoreDataSource:
    """DataSource over an open Store."""

    def __init__(self, store: Any, live: LiveFacts | None = None) -> None:
        self.store = store
        self.live = live

    def close(self) -> None:
        return None

    # -- connections and graph -------------------------------------------------------------

    def _rows(
        self,
        level: str,
        search: SearchFilter,
        *,
        since: float | None,
        until: float | None,
        drill: DrillSpec | None = None,
        order_by: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> pa.Table:
        """Connections at `level`, filtered, ordered and paged by the store."""
        return self.store.connections(
            level,
            since=since,
            until=until,
            filter=store_filter(search, drill),
            order_by=order_by,
            limit=limit,
            offset=offset,
        )

    def connections(self, query: ConnectionQuery) -> pa.Table:
        return self._rows(
            query.level,
            query.filter,
            since=query.since,
            until=query.until,
            order_by=f"{query.order_by} {'DESC' if query.descending else 'ASC'}",
            limit=query.limit,
            offset=query.offset,
        )

    def graph(self, query: GraphQuery) -> GraphResult:
        """The graph for a level (collapsing when too big) or for a drill-down's members."""
        settings = (
            TopologySettings()
            if query.max_nodes is None
            else TopologySettings(max_visible_nodes=query.max_nodes)
        )

        def fetch(level: str) -> pa.Table:
            return self._rows(
                level,
                query.filter,
                since=query.since,
                until=query.until,
                drill=query.drill,
                order_by="bytes_sent DESC",
                limit=GRAPH_ROW_LIMIT,
            )

        if query.drill is None:
            view = build_view(
                fetch, query.level, settings=settings, expanded_groups=query.expanded_groups
            )
            return GraphResult(view.graph, view.level, view.note or "")
        level = query.drill.level
        graph = build_graph(
            fetch(level),
            level,
            expanded_groups=query.expanded_groups,
            grouping=settings.grouping(),
        )
        return GraphResult(member_subgraph(graph, query.drill), level, "")

    # -- IP lookup -------------------------------------------------------------------------

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

    # -- details ---------------------------------------------------------------------------

    def details(
        self, node: Hashable, attrs: dict[str, Any], since: float | None, until: float | None
    ) -> Details:
        kind = str(attrs.get("kind", "?"))
        name = str(attrs.get("name") or node)
        namespace = attrs.get("namespace") or None
        level = str(attrs.get("level") or "pod")

        # Its connections, split by direction.
        group = str(attrs["group"]) if kind == EXTERNAL and attrs.get("group") else None
        # A folded external group is named by its tag; its rows name addresses at pod level.
        is_group = group is not None and name == group
        rows = self.store.connections(
            level,
            since=since,
            until=until,
            filter=_details_filter(kind, namespace, name, is_group),
            order_by="bytes_sent DESC",
            limit=DETAILS_ROW_LIMIT,
        ).to_pylist()
        matches = _end_matcher(kind, namespace, name, group if is_group else None)
        incoming = tuple(_peers(rows, "dst", "src", matches))
        outgoing = tuple(_peers(rows, "src", "dst", matches))

        # What the store knows of its owners (pods, or the pods of a workload, ...).
        facts: list[tuple[str, str]] = [("Kind", kind)]
        if namespace:
            facts.append(("Namespace", str(namespace)))
        if kind == EXTERNAL:
            facts.append(("Group", str(attrs.get("label") or name)))
            if attrs.get("members"):
                facts.append(("Addresses", f"{int(attrs['members']):,}"))
        owners = self._owner_rows(kind, namespace, name)
        labels: tuple[tuple[str, str], ...] = ()
        ips: list[IpOwnership] = []
        app = name if kind == APP_KIND else None
        if owners:
            first = owners[0]
            app = app or first.get("app")
            if kind == "Pod" and first.get("workload_name"):
                facts.append(("Workload", f"{first['workload_kind']} {first['workload_name']}"))
            if kind in WORKLOAD_KINDS | {APP_KIND, NAMESPACE_KIND}:
                pods = [o for o in owners if o.get("kind") == "Pod"]
                facts.append(("Pods with addresses", f"{len(pods):,}"))
            nodes = sorted({str(o["node"]) for o in owners if o.get("node")})
            if nodes:
                facts.append(("Node" if len(nodes) == 1 else "Nodes", ", ".join(nodes[:6])))
            if kind not in (APP_KIND, NAMESPACE_KIND):
                labels = tuple(_parse_labels(first.get("labels")))
            ips = self._ips_of(owners)
        if app and kind != APP_KIND:
            facts.append(("Application", str(app)))

        return Details(
            title=name if kind != EXTERNAL else str(attrs.get("label") or name),
            kind=kind,
            facts=tuple(facts),
            labels=labels,
            owner_chain=self._owner_chain(kind, namespace, name, owners),
            helm=self._helm(namespace, app) if app else (),
            ips=tuple(ips[:30]),
            incoming=incoming,
            outgoing=outgoing,
        )

    def _owner_chain(
        self, kind: str, namespace: str | None, name: str, owners: list[dict[str, Any]]
    ) -> tuple[str, ...]:
        """The object, the owners above it and its application: live when known, else stored."""
        if kind in (APP_KIND, NAMESPACE_KIND, EXTERNAL):
            return ()
        live: list[tuple[str, str]] = []
        if self.live is not None:
            try:
                live = list(self.live.owner_chain(kind, namespace, name))
            except Exception:  # noqa: BLE001 - the stored chain below still shows
                logger.debug("Live owner chain of %s/%s failed.", namespace, name, exc_info=True)
        chain = [f"{k} {n}" for k, n in live if k != HELM_RELEASE]
        release = next((n for k, n in live if k == HELM_RELEASE), None)
        first = owners[0] if owners else {}
        if not chain and kind == "Pod" and first.get("workload_name"):
            chain = [f"{first['workload_kind']} {first['workload_name']}"]
        # The stored application stands in for a release the live cluster did not name.
        app = release or first.get("app")
        tail = [f"Helm release {app}"] if app else []
        if not chain and not tail:
            return ()
        return (f"{kind} {name}", *chain, *tail)

    def _helm(self, namespace: str | None, app: str) -> tuple[tuple[str, str], ...]:
        release = None
        if self.live is not None:
            try:
                release = self.live.release(namespace, app)
            except Exception:  # noqa: BLE001 - the name alone still shows
                logger.debug("Live Helm release %s failed.", app, exc_info=True)
        if release is None:
            return (("Release", app), ("Revision", "not known (no live Helm data)"))
        chart = release.chart or "?"
        if release.chart_version:
            chart += f"-{release.chart_version}"
        facts = [
            ("Release", f"{release.name} (namespace {release.namespace})"),
            ("Revision", str(release.revision)),
            ("Status", str(release.status)),
            ("Chart", chart),
        ]
        if release.app_version:
            facts.append(("App version", str(release.app_version)))
        return tuple(facts)

    def _ips_of(self, owners: list[dict[str, Any]]) -> list[IpOwnership]:
        names = {o["uid"]: str(o.get("name")) for o in owners[:20]}
        table = self.store.query_arrow(
            "SELECT owner_uid, ip, valid_from, valid_to FROM ownership "
            "WHERE list_contains($uids, owner_uid) ORDER BY valid_from LIMIT 60",
            {"uids": list(names)},
        )
        return [
            IpOwnership(r["ip"], names[r["owner_uid"]], r["valid_from"], r["valid_to"])
            for r in table.to_pylist()
        ]

    def _owner_rows(self, kind: str, namespace: Any, name: str) -> list[dict[str, Any]]:
        if kind == EXTERNAL:
            return []
        if kind == NAMESPACE_KIND:
            column = "namespace"
        elif kind == APP_KIND:
            column = "app"
        elif kind in WORKLOAD_KINDS:
            column = "workload_name"
        else:
            column = "name"
        sql = f"SELECT * FROM owners WHERE {column} = $name"
        params: dict[str, Any] = {"name": name}
        if kind in WORKLOAD_KINDS and kind != "Workload":
            sql += " AND workload_kind = $kind"
            params["kind"] = kind
        elif kind in ("Pod", "Service", "Node"):
            sql += " AND kind = $kind"
            params["kind"] = kind
        if namespace and kind != NAMESPACE_KIND:
            sql += " AND namespace = $ns"
            params["ns"] = namespace
        try:
            return self.store.query_arrow(sql + " LIMIT 200", params).to_pylist()
        except Exception:  # noqa: BLE001 - details are best effort; the rest still shows
            logger.debug("Reading owners of %s/%s failed.", namespace, name, exc_info=True)
            return []

    # -- completion ------------------------------------------------------------------------

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
            kinds=(
                "Pod",
                "Service",
                *column("SELECT DISTINCT workload_kind FROM owners ORDER BY 1"),
                "App",
                "Namespace",
                "Node",
                "External",
            ),
            names=column("SELECT DISTINCT name FROM owners ORDER BY 1 LIMIT 5000"),
        )


def _details_filter(kind: str, namespace: str | None, name: str, is_group: bool) -> Filter:
    if kind == NAMESPACE_KIND:
        return Filter(namespaces=(name,))
    if kind == APP_KIND:
        return Filter(apps=(name,), namespaces=(namespace,) if namespace else ())
    if kind == EXTERNAL:
        # One address is found by address; a group by the tags of its rows.
        is_address = not is_group and normalize_ip(name) is not None
        return Filter(external_only=True, cidrs=(name,) if is_address else ())
    return Filter(name=name, namespaces=(namespace,) if namespace else ())


EndMatcher = Callable[[dict[str, Any], str], bool]


def _end_matcher(kind: str, namespace: str | None, name: str, group: str | None) -> EndMatcher:
    """Whether a row's end (`src` or `dst`) is the object (or, for a group, in it)."""
    grouping = TopologySettings().grouping()

    def matches(row: dict[str, Any], end: str) -> bool:
        if row.get(f"{end}_kind") != kind:
            return False
        if group is not None:
            # Coarse levels name the end by its tag already; pod level by address
            # (grouped as the graph groups it when the store gave no tag).
            tag = row.get(f"{end}_tag") or grouping.group_of(str(row.get(f"{end}_name") or ""))
            return group in (tag, row.get(f"{end}_name"))
        return row.get(f"{end}_name") == name and (row.get(f"{end}_namespace") or None) == namespace

    return matches


def _peers(rows: list[dict[str, Any]], mine: str, theirs: str, matches: EndMatcher) -> list[Peer]:
    """Rows whose `mine` end is the object, as peers named by their `theirs` end."""
    peers = []
    for row in rows:
        if not matches(row, mine):
            continue
        peer_kind = str(row.get(f"{theirs}_kind") or "")
        peer_ns = row.get(f"{theirs}_namespace") or None
        peer_name = str(row.get(f"{theirs}_name") or "")
        tag = row.get(f"{theirs}_tag") if peer_kind == EXTERNAL else None
        label = f"{peer_ns}/{peer_name}" if peer_ns else peer_name
        if tag and tag != peer_name:
            label = f"{peer_name} ({tag})"
        total = int(row.get("bytes_sent") or 0) + int(row.get("bytes_received") or 0)
        peers.append(
            Peer(
                label,
                row.get("dst_port"),
                str(row.get("proto")),
                int(row.get("connections") or 0),
                total,
                kind=peer_kind,
                namespace=peer_ns,
                name=peer_name,
                group=str(tag) if tag else None,
            )
        )
    return peers


def _parse_labels(raw: Any) -> list[tuple[str, str]]:
    if not raw:
        return []
    if isinstance(raw, dict):
        return sorted((str(k), str(v)) for k, v in raw.items())
    try:
        parsed = json.loads(raw)
        return sorted((str(k), str(v)) for k, v in parsed.items())
    except (ValueError, AttributeError):
        return []
