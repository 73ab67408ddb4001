"""The graph the topology view draws, built from the store's aggregated connections.

The store already aggregates flows per level in SQL; what is left is pure
data shaping that the UI should not do on its own thread and that must be
testable without Qt or DuckDB: stable node ids (so the layout can keep a
node's place across refreshes), external addresses folded into groups, an
automatic step up to a coarser level when a picture would be a hairball,
and drill-down specs plus a breadcrumb to walk back up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NewType

import networkx as nx

from netsight.identity.ranges import normalize_ip
from netsight.topology.external import ExternalGrouping, group_label

logger = logging.getLogger(__name__)

NodeId = NewType("NodeId", str)
Row = Mapping[str, Any]
# A pyarrow.Table (anything with to_pylist) or a sequence of row dicts.
Rows = Any

POD = "pod"
SERVICE = "service"
WORKLOAD = "workload"
APP = "app"
NAMESPACE = "namespace"
LEVELS = (POD, SERVICE, WORKLOAD, APP, NAMESPACE)

# The level a view steps up to when it has too many nodes.
PARENT_LEVEL: Mapping[str, str | None] = {
    POD: WORKLOAD,
    SERVICE: APP,
    WORKLOAD: APP,
    APP: NAMESPACE,
    NAMESPACE: None,
}
# The level that shows the members of a node at a given level.
MEMBER_LEVEL: Mapping[str, str] = {NAMESPACE: APP, APP: WORKLOAD, WORKLOAD: POD}
_PLURAL = {
    POD: "pods",
    SERVICE: "services",
    WORKLOAD: "workloads",
    APP: "applications",
    NAMESPACE: "namespaces",
}

EXTERNAL = "External"
# Kinds the store gives aggregated nodes at application and namespace level.
APP_KIND = "App"
NAMESPACE_KIND = "Namespace"
# Kinds that are single things even at a coarse level: nothing to drill into.
_LEAF_KINDS = frozenset(
    {"Pod", "Service", "Node", "ApiServer", "UnknownPod", "UnknownService", EXTERNAL}
)

# A view above this many nodes stops being readable; the UI lets the user
# change it.
DEFAULT_MAX_VISIBLE_NODES = 500


@dataclass(frozen=True, slots=True)
class TopologySettings:
    """How the graph is shaped; `user_ranges` are (name, CIDRs) pairs for external groups."""

    max_visible_nodes: int = DEFAULT_MAX_VISIBLE_NODES
    user_ranges: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def grouping(self) -> ExternalGrouping:
        return ExternalGrouping(dict(self.user_ranges))


def node_id(kind: str, namespace: str | None, name: str | None) -> NodeId:
    """The stable id of a node: `Kind/namespace/name`, or `Kind/name` outside namespaces."""
    if namespace:
        return NodeId(f"{kind}/{namespace}/{name or ''}")
    return NodeId(f"{kind}/{name or ''}")


def external_group_id(group: str) -> NodeId:
    return NodeId(f"{EXTERNAL}/{group}")


def _iter_rows(rows: Rows) -> Iterator[Row]:
    if hasattr(rows, "to_pylist"):
        yield from rows.to_pylist()
    else:
        yield from rows


# --- building ----------------------------------------------------------------


def build_graph(
    rows: Rows,
    level: str,
    *,
    expanded_groups: Collection[str] = frozenset(),
    grouping: ExternalGrouping | None = None,
) -> nx.DiGraph:
    """One node per endpoint and one edge per (client, server) pair, from aggregated rows.

    Edges point from client to server and sum every row between the two
    (ports and protocols listed in `ports`). External addresses become one
    node per group unless the group is in `expanded_groups`.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")
    grouping = grouping or ExternalGrouping()
    graph = nx.DiGraph(level=level)

    for row in _iter_rows(rows):
        src = _add_endpoint(graph, row, "src", level, expanded_groups, grouping)
        dst = _add_endpoint(graph, row, "dst", level, expanded_groups, grouping)
        sent = int(row.get("bytes_sent") or 0)
        received = int(row.get("bytes_received") or 0)
        connections = int(row.get("connections") or 0)
        port = row.get("dst_port")
        proto = row.get("proto") or ""
        label = f"{port}/{proto}" if port is not None else proto

        if graph.has_edge(src, dst):
            edge = graph.edges[src, dst]
            edge["bytes_sent"] += sent
            edge["bytes_received"] += received
            edge["connections"] += connections
            edge["_ports"].add(label)
        else:
            graph.add_edge(
                src,
                dst,
                bytes_sent=sent,
                bytes_received=received,
                connections=connections,
                _ports={label} if label else set(),
            )
        for end in (src, dst):
            graph.nodes[end]["bytes"] += sent + received
            graph.nodes[end]["connections"] += connections

    # Finish: totals and port lists in a stable order; member counts of groups.
    for _, _, data in graph.edges(data=True):
        data["bytes"] = data["bytes_sent"] + data["bytes_received"]
        data["ports"] = tuple(sorted(data.pop("_ports"), key=_port_sort_key))
    for _, data in graph.nodes(data=True):
        addresses = data.pop("_addresses", None)
        if addresses:
            data["members"] = len(addresses)
    return graph


def _port_sort_key(label: str) -> tuple[int, str]:
    port, _, proto = label.partition("/")
    return (int(port), proto) if port.isdigit() else (1 << 20, label)


def _add_endpoint(
    graph: nx.DiGraph,
    row: Row,
    side: str,
    level: str,
    expanded_groups: Collection[str],
    grouping: ExternalGrouping,
) -> NodeId:
    kind = row.get(f"{side}_kind") or "Unknown"
    namespace = row.get(f"{side}_namespace") or None
    name = row.get(f"{side}_name")
    address = None

    if kind == EXTERNAL:
        # Pod level names the address; coarser levels name only its group.
        address = str(name or "")
        group = row.get(f"{side}_tag") or grouping.group_of(address)
        if group in expanded_groups and normalize_ip(address) is not None:
            nid = NodeId(f"{EXTERNAL}/{group}/{address}")
            attrs: dict[str, Any] = {"name": address, "label": address, "group": group}
        else:
            nid = external_group_id(group)
            attrs = {"name": group, "label": group_label(group), "group": group}
        namespace = None
    else:
        nid = node_id(kind, namespace, name)
        attrs = {"name": name or "", "label": name or kind}

    if nid not in graph:
        graph.add_node(
            nid,
            kind=kind,
            namespace=namespace or "",
            level=level,
            members=1,
            bytes=0,
            connections=0,
            **attrs,
        )
        # Optional hierarchy columns let drill-down tell members apart here.
        for extra in ("app", "workload_kind", "workload_name"):
            value = row.get(f"{side}_{extra}")
            if value:
                graph.nodes[nid][extra] = value
    if kind == EXTERNAL and nid == external_group_id(graph.nodes[nid]["group"]):
        if normalize_ip(address or "") is not None:
            graph.nodes[nid].setdefault("_addresses", set()).add(address)
    return nid


# --- collapsing ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopologyView:
    """A graph ready to draw: the level it ended up at and, if that changed, why."""

    graph: nx.DiGraph
    level: str
    requested_level: str
    note: str | None = None


def build_view(
    fetch: Callable[[str], Rows],
    level: str,
    *,
    settings: TopologySettings | None = None,
    expanded_groups: Collection[str] = frozenset(),
) -> TopologyView:
    """Build the graph at `level`, stepping up a level while it has too many nodes.

    `fetch(level)` returns the aggregated rows at a level (the caller binds
    the time range and filters, e.g. the store's `connections`).
    """
    settings = settings or TopologySettings()
    grouping = settings.grouping()
    limit = settings.max_visible_nodes
    current = level
    graph = build_graph(fetch(current), current, expanded_groups=expanded_groups, grouping=grouping)
    first_count = graph.number_of_nodes()

    while graph.number_of_nodes() > limit:
        parent = PARENT_LEVEL[current]
        if parent is None:
            break
        logger.info(
            "%d %s are more than the %d that stay readable; stepping up to %s.",
            graph.number_of_nodes(),
            _PLURAL[current],
            limit,
            _PLURAL[parent],
        )
        current = parent
        graph = build_graph(
            fetch(current), current, expanded_groups=expanded_groups, grouping=grouping
        )

    note = None
    if current != level:
        note = (
            f"{first_count:,} {_PLURAL[level]} are more than the {limit:,} that stay "
            f"readable; showing {_PLURAL[current]} instead. Double-click one to see its members."
        )
    elif graph.number_of_nodes() > limit:
        note = (
            f"{graph.number_of_nodes():,} {_PLURAL[current]} are more than the {limit:,} "
            "that stay readable; filter or drill down to see fewer."
        )
    return TopologyView(graph, current, level, note)


# --- drill-down ------------------------------------------------------------------


class NotDrillableError(ValueError):
    """The selected node has no members to show (a pod, an address, ...)."""


@dataclass(frozen=True, slots=True)
class DrillSpec:
    """What to fetch to show a node's members: the member level and the owner to match.

    The store applies it as a filter (either end belongs to the owner), so
    the members' peers stay visible; `search_text` is the same filter in
    the search box's syntax.
    """

    level: str
    label: str
    namespace: str | None = None
    app: str | None = None
    workload_kind: str | None = None
    workload_name: str | None = None

    def search_text(self) -> str:
        parts = []
        if self.namespace:
            parts.append(f"ns:{self.namespace}")
        if self.app:
            parts.append(f"app:{self.app}")
        if self.workload_name:
            parts.append(f"workload:{self.workload_name}")
        return " ".join(parts)

    def filter_fields(self) -> dict[str, Any]:
        """Keyword arguments for the store's `Filter` that fetch these members.

        The store's filter has no workload field yet, so a workload is asked
        for by namespace plus its name as a name match (which also catches
        other names containing it; `matches` tells them apart when the rows
        carry workload columns).
        """
        fields: dict[str, Any] = {}
        if self.namespace:
            fields["namespaces"] = (self.namespace,)
        if self.app:
            fields["apps"] = (self.app,)
        if self.workload_name:
            fields["name"] = self.workload_name
        return fields

    def matches(self, attrs: Mapping[str, Any]) -> bool:
        """Whether a member-level node belongs to the drilled owner.

        The namespace is always known; app and workload only when the rows
        carried the optional `*_app` / `*_workload_*` columns, and a node
        without them is taken as matching (the store filtered already).
        """
        if attrs.get("kind") == EXTERNAL:
            return False
        if self.namespace and attrs.get("namespace") != self.namespace:
            return False
        if self.app and attrs.get("app", self.app) != self.app:
            return False
        if self.workload_name:
            if attrs.get("workload_name", self.workload_name) != self.workload_name:
                return False
            if attrs.get("workload_kind", self.workload_kind) != self.workload_kind:
                return False
        return True


def drill_down(graph: nx.Graph, nid: NodeId) -> DrillSpec:
    """The spec that shows the members of `nid` (a namespace, application or workload).

    The node's kind decides, not the level: at application level a workload
    that belongs to no application keeps its workload kind, and its members
    are pods.
    """
    if nid not in graph:
        raise NotDrillableError(f"{nid} is not in the graph")
    attrs = graph.nodes[nid]
    level = attrs.get("level") or graph.graph.get("level")
    kind = attrs.get("kind", "")
    name = attrs.get("name") or None
    namespace = attrs.get("namespace") or None
    label = attrs.get("label") or str(nid)
    if kind == NAMESPACE_KIND:
        return DrillSpec(APP, label, namespace=name)
    if kind == APP_KIND:
        return DrillSpec(WORKLOAD, label, namespace=namespace, app=name)
    if level in (POD, SERVICE) or kind in _LEAF_KINDS:
        raise NotDrillableError(f"{label} ({kind}) has no members to show")
    return DrillSpec(POD, label, namespace=namespace, workload_kind=kind, workload_name=name)


def member_subgraph(graph: nx.DiGraph, spec: DrillSpec) -> nx.DiGraph:
    """The members matching `spec` and their direct peers; members get `in_focus=True`."""
    members = {n for n, attrs in graph.nodes(data=True) if spec.matches(attrs)}
    keep = set(members)
    for member in members:
        keep.update(graph.successors(member))
        keep.update(graph.predecessors(member))
    sub = graph.subgraph(keep).copy()
    for n, attrs in sub.nodes(data=True):
        attrs["in_focus"] = n in members
    return sub


@dataclass(frozen=True, slots=True)
class Crumb:
    """One step of the breadcrumb: the level shown and the drill that led there."""

    label: str
    level: str
    spec: DrillSpec | None = None


@dataclass(frozen=True, slots=True)
class Breadcrumb:
    """An immutable stack of crumbs, root first; every change returns a new one."""

    crumbs: tuple[Crumb, ...] = field(default_factory=tuple)

    @classmethod
    def root(cls, level: str, label: str | None = None) -> Breadcrumb:
        return cls((Crumb(label or _PLURAL.get(level, level).capitalize(), level),))

    @property
    def current(self) -> Crumb:
        if not self.crumbs:
            raise IndexError("empty breadcrumb")
        return self.crumbs[-1]

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(c.label for c in self.crumbs)

    def push(self, spec: DrillSpec) -> Breadcrumb:
        return replace(self, crumbs=(*self.crumbs, Crumb(spec.label, spec.level, spec)))

    def pop(self) -> Breadcrumb:
        """Back up one step; the root stays."""
        return self if len(self.crumbs) <= 1 else replace(self, crumbs=self.crumbs[:-1])

    def up_to(self, index: int) -> Breadcrumb:
        """Back to the crumb at `index` (a click on it in the bar)."""
        if not 0 <= index < len(self.crumbs):
            raise IndexError(f"no crumb {index} in a breadcrumb of {len(self.crumbs)}")
        return replace(self, crumbs=self.crumbs[: index + 1])

    def __len__(self) -> int:
        return len(self.crumbs)

    def __iter__(self) -> Iterator[Crumb]:
        return iter(self.crumbs)


def expand_group(expanded: Collection[str], group: str) -> frozenset[str]:
    """The expanded-groups set after toggling `group` (expand, or fold back)."""
    current = frozenset(expanded)
    return current - {group} if group in current else current | {group}


def groups_in(graph: nx.Graph) -> list[str]:
    """External groups present in the graph, folded or expanded, sorted."""
    return sorted({a["group"] for _, a in graph.nodes(data=True) if a.get("kind") == EXTERNAL})


__all__ = [
    "APP",
    "LEVELS",
    "MEMBER_LEVEL",
    "NAMESPACE",
    "PARENT_LEVEL",
    "POD",
    "SERVICE",
    "WORKLOAD",
    "Breadcrumb",
    "Crumb",
    "DrillSpec",
    "NodeId",
    "NotDrillableError",
    "TopologySettings",
    "TopologyView",
    "build_graph",
    "build_view",
    "drill_down",
    "expand_group",
    "groups_in",
    "member_subgraph",
    "node_id",
]
