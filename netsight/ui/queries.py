"""Immutable questions the views ask, and the protocol that answers them.

Every view builds one of these on the GUI thread and hands it to a worker;
the worker calls the matching DataSource method, which is where DuckDB,
topology and identity code run. Because the requests are frozen values, a
worker can never see a question change under it, and a result can always be
matched to the question it answers.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from netsight.ui.details import Details
from netsight.ui.search import SearchFilter, Vocabulary

if TYPE_CHECKING:
    # NB: only for annotations; networkx and pyarrow load off the GUI thread
    # with the first query, not with the window.
    import networkx as nx
    import pyarrow as pa

    from netsight.topology.graph import DrillSpec

logger = logging.getLogger(__name__)

LEVELS: tuple[str, ...] = ("pod", "workload", "service", "app", "namespace")
LEVEL_TITLES = {
    "pod": "Pods",
    "workload": "Workloads",
    "service": "Services",
    "app": "Applications",
    "namespace": "Namespaces",
}


@dataclass(frozen=True, slots=True)
class ConnectionQuery:
    level: str
    since: float | None
    until: float | None
    filter: SearchFilter = SearchFilter()
    order_by: str = "bytes_sent"
    descending: bool = True
    limit: int | None = 500
    offset: int = 0


@dataclass(frozen=True, slots=True)
class GraphQuery:
    level: str
    since: float | None
    until: float | None
    filter: SearchFilter = SearchFilter()
    # Drill-down: the members of one namespace, application or workload (topology's spec).
    drill: DrillSpec | None = None
    # External groups drawn address by address instead of as one node ("public", ...).
    expanded_groups: frozenset[str] = frozenset()
    # Above this many nodes the view steps up a level; None: topology's default.
    max_nodes: int | None = None


@dataclass(frozen=True)
class GraphResult:
    graph: nx.Graph
    level: str  # the level actually shown (may be higher than asked when collapsed)
    note: str = ""  # said to the user, e.g. why the view collapsed


@dataclass(frozen=True, slots=True)
class OwnerSpan:
    owner: str
    kind: str
    namespace: str | None
    workload: str | None
    app: str | None
    node: str | None
    valid_from: float | None
    valid_to: float | None


@dataclass(frozen=True)
class LookupResult:
    ip: str
    at: float | None
    kind: str
    title: str
    facts: tuple[tuple[str, str], ...] = ()
    tags: tuple[str, ...] = ()
    history: tuple[OwnerSpan, ...] = ()
    connections: pa.Table | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class StatusSample:
    db_bytes: int = 0
    flows_total: int = 0
    dropped_records: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class DataSource(Protocol):
    """Answers the views' questions; every method runs on a worker thread."""

    def connections(self, query: ConnectionQuery) -> pa.Table: ...

    def graph(self, query: GraphQuery) -> GraphResult: ...

    def lookup(self, ip: str, at: float | None, since: float | None) -> LookupResult: ...

    def details(
        self, node: Hashable, attrs: dict[str, Any], since: float | None, until: float | None
    ) -> Details: ...

    def vocabulary(self) -> Vocabulary: ...

    def close(self) -> None: ...
