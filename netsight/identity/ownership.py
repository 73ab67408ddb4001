"""IP ownership over time, built from inventory events.

The inventory says what the cluster looks like now; flows happened in the
past. `OwnershipHistory` turns every watch event into claims on addresses
(see `claims` for the one rule that settles overlapping claims) and keeps
them, so an address resolves to who held it *when the traffic happened*.
`intervals()` hands the same answer to the store as non-overlapping
`(ip, port, owner, valid_from, valid_to)` rows for an ASOF join.

Times come from the objects wherever they carry one (creationTimestamp,
status.startTime, a container's finishedAt, metadata.deletionTimestamp) and
from `observed_at` only where they do not, so a replayed timeline always
gives the same history. An object's claims start at its own start time the
first time it claims anything; addresses it gains later start when the
change is observed.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Mapping
from ipaddress import ip_address
from typing import Any

from netsight.identity.apps import RELEASE_NAME_ANNOTATION as _RELEASE_ANNOTATION
from netsight.identity.apps import HelmRelease, ReleaseIndex, app_from_labels
from netsight.identity.claims import Claim, Key, segments, winner_at
from netsight.identity.extract import (
    APISERVER_UID,
    Facts,
    apiserver_facts,
    node_facts,
    pod_facts,
    service_facts,
)
from netsight.identity.model import (
    API_SERVER,
    EXTERNAL,
    NODE,
    UNKNOWN_POD,
    UNKNOWN_SERVICE,
    Identity,
    Interval,
    Owner,
    OwnerUid,
)
from netsight.identity.ranges import (
    CidrIndex,
    IPNetwork,
    learn_service_ranges,
    normalize_ip,
    parse_network,
    range_tags,
)
from netsight.identity.settings import IdentitySettings
from netsight.identity.workloads import WORKLOAD_KINDS, Ref, WorkloadIndex

logger = logging.getLogger(__name__)

KINDS = frozenset(
    {"Pod", "Service", "EndpointSlice", "Endpoints", "Node", "Namespace", "Secret"} | WORKLOAD_KINDS
)
HOST_NETWORK_TAG = "host-network"
IN_CLUSTER_TAG = "in-cluster"
# The kind owner_chain gives the Helm release at the end of a chain.
HELM_RELEASE = "HelmRelease"
# What the store calls a workload whose controller kind is not known.
ANY_WORKLOAD = "Workload"

FactsReader = Callable[[Mapping[str, Any], bool, float], "Facts | None"]


class _OwnerInfo:
    """The latest version of an owner, kept small: 150,000 pods hold one each."""

    __slots__ = (
        "kind",
        "namespace",
        "name",
        "node",
        "controller",
        "labels",
        "annotations",
        "host_network",
        "hostnames",
    )

    def __init__(self, facts: Facts) -> None:
        self.kind = facts.kind
        # Interned: 150,000 pods share a few hundred namespaces and nodes.
        self.namespace = sys.intern(facts.namespace) if facts.namespace else facts.namespace
        self.name = facts.name
        self.node = sys.intern(facts.node) if facts.node else facts.node
        self.controller: Ref | None = facts.controller
        self.labels = facts.labels
        self.annotations = facts.annotations
        self.host_network = facts.host_network
        self.hostnames = facts.hostnames


class _Source:
    """What one object currently claims (its open and closed claims by key)."""

    __slots__ = ("held", "claimed_before", "gone", "signature", "labels")

    def __init__(self) -> None:
        self.held: dict[Key, Claim] = {}
        self.claimed_before = False
        self.gone = False
        # For pods: what the last event said that claims depend on, to skip
        # events that change none of it.
        self.signature: tuple[Any, ...] | None = None
        self.labels: Any = None


class OwnershipHistory:
    """Who owned which address when; fed by `apply`, read by `resolve` and `intervals`."""

    def __init__(self, settings: IdentitySettings | None = None) -> None:
        self.settings = settings or IdentitySettings()
        self._claims: dict[Key, list[Claim]] = {}
        self._ports: dict[str, set[int]] = {}
        self._sources: dict[str, _Source] = {}
        self._info: dict[str, _OwnerInfo] = {}
        self._owner_cache: dict[str, Owner] = {}
        # controller uid -> (workload kind, workload name, app by manifest,
        # by annotation, by labels) of the chain above it; pods of one
        # ReplicaSet share it.
        self._chain_cache: dict[str, tuple[str | None, ...]] = {}
        self._changed: set[Key] = set()
        self._workloads = WorkloadIndex()
        # (kind, namespace, name) -> uid of the latest workload of that name
        # (a few thousand at most), for owner_chain.
        self._workload_uids: dict[tuple[str, str | None, str], str] = {}
        self._releases = ReleaseIndex()
        self._namespaces: dict[str, Mapping[str, str]] = {}

        # What unowned addresses are measured against.
        self._pod_cidrs = CidrIndex()
        self._node_cidrs: dict[str, tuple[str, ...]] = {}
        self._host_ips: dict[str, str] = {}
        # Addresses some pod held, with that pod's node: once a pod network
        # address, it stays one (the CNI hands it to the next pod), even on
        # clusters whose nodes publish no podCIDR (OVN-Kubernetes, VPC CNIs).
        self._pod_ip_nodes: dict[str, str | None] = {}
        self._cluster_ips: set[str] = set()
        self._kubernetes_ips: set[str] = set()
        self._service_ranges: list[IPNetwork] | None = None
        self._named = CidrIndex()
        for name, cidr in self.settings.named_cidrs:
            self._named.add(cidr, name)
        self._cluster_pod_nets = CidrIndex()
        for cidr in self.settings.pod_cidrs:
            self._cluster_pod_nets.add(cidr, "")
        self._configured_service_ranges = [
            net for net in (parse_network(c) for c in self.settings.service_cidrs) if net
        ]

        self._readers: dict[str, FactsReader] = {
            "Pod": pod_facts,
            "Service": service_facts,
            "Node": node_facts,
            "EndpointSlice": lambda o, d, t: apiserver_facts("EndpointSlice", o, d, t),
            "Endpoints": lambda o, d, t: apiserver_facts("Endpoints", o, d, t),
        }

    # -- feeding -----------------------------------------------------------------

    def apply(self, kind: str, type: str, obj: dict[str, Any], observed_at: float) -> None:
        """Take one inventory event (ADDED, MODIFIED or DELETED of a raw object)."""
        if type not in ("ADDED", "MODIFIED", "DELETED"):
            return
        if kind == "Pod":
            self._apply_pod(type, obj, observed_at)
            return
        reader = self._readers.get(kind)
        if reader is not None:
            facts = reader(obj, type == "DELETED", observed_at)
            if facts is not None:
                self._take(facts, type == "DELETED", observed_at)
            return
        if kind in WORKLOAD_KINDS:
            if self._workloads.apply(kind, type, obj):
                self._invalidate_owners()
            meta = obj.get("metadata") or {}
            if type != "DELETED" and meta.get("uid"):
                key = (kind, meta.get("namespace"), meta.get("name") or "")
                self._workload_uids[key] = meta["uid"]
        elif kind == "Secret":
            if self._releases.apply(type, obj):
                self._invalidate_owners()
        elif kind == "Namespace":
            meta = obj.get("metadata") or {}
            if type == "DELETED":
                self._namespaces.pop(meta.get("name") or "", None)
            else:
                self._namespaces[meta.get("name") or ""] = meta.get("labels") or {}
        else:
            logger.debug("Ignoring a %s event: identity does not use %s objects.", type, kind)

    def _apply_pod(self, event_type: str, obj: dict[str, Any], observed_at: float) -> None:
        # Most pod events are status updates that change nothing identity
        # reads (readiness, restarts, conditions); they stop here, cheaply.
        meta = obj.get("metadata") or {}
        status = obj.get("status") or {}
        spec = obj.get("spec") or {}
        pod_ips: list[dict[str, Any]] = status.get("podIPs") or []
        signature = (
            status.get("podIP"),
            status.get("phase"),
            status.get("hostIP"),
            spec.get("nodeName"),
            meta.get("deletionTimestamp"),
            # A second address (dual stack) and the owners, kept small.
            pod_ips[1].get("ip") if len(pod_ips) > 1 else None,
            tuple(r.get("uid") for r in meta.get("ownerReferences") or ()),
        )
        source = self._sources.get(meta.get("uid") or "")
        if (
            event_type != "DELETED"
            and source is not None
            and source.signature == signature
            and source.labels == meta.get("labels")
        ):
            return
        facts = pod_facts(obj, event_type == "DELETED", observed_at)
        if facts is None:
            return
        source = self._take(facts, event_type == "DELETED", observed_at)
        if source is not None:
            source.signature = signature
            source.labels = meta.get("labels")

    def _invalidate_owners(self) -> None:
        self._owner_cache.clear()
        self._chain_cache.clear()

    def apply_all(self, events: Iterable[tuple[str, str, dict[str, Any], float]]) -> None:
        for kind, event_type, obj, observed_at in events:
            self.apply(kind, event_type, obj, observed_at)

    def _take(self, facts: Facts, deleted: bool, observed_at: float) -> _Source | None:
        source = self._sources.get(facts.uid)
        if source is None:
            source = self._sources[facts.uid] = _Source()
        elif source.gone:
            # A stale event after the object's DELETED must not bring it back.
            return None

        # Remember the owner as of this version.
        if facts.owner_uid == facts.uid:
            self._info[facts.uid] = _OwnerInfo(facts)
            self._owner_cache.pop(facts.uid, None)
        elif facts.owner_uid not in self._info:
            self._info[facts.owner_uid] = _OwnerInfo(facts)
        self._note_context(facts, deleted)

        # Close what it no longer claims; claim what is new; end what stopped.
        stop = facts.end
        wanted = facts.keys
        held = source.held
        if held:
            wanted_set = set(wanted)
            for key in [k for k in held if k not in wanted_set]:
                self._close(key, held.pop(key), stop if stop is not None else observed_at)
        start = facts.start if not source.claimed_before and facts.start is not None else None
        for key in wanted:
            claim = held.get(key)
            if claim is None or (claim.end is not None and stop is None):
                begin = start if start is not None else observed_at
                new = Claim(facts.owner_uid, begin, stop, facts.rank)
                if new.is_empty():
                    continue
                held[key] = new
                self._open(key, new)
            elif stop is not None and (claim.end is None or claim.end > stop):
                self._close(key, claim, stop)
        if wanted:
            source.claimed_before = True
        if deleted:
            source.gone = True
            source.held = {}
        return source

    def _open(self, key: Key, claim: Claim) -> None:
        claims = self._claims.get(key)
        if claims is None:
            self._claims[key] = [claim]
            if key[1] is not None:
                self._ports.setdefault(key[0], set()).add(key[1])
        else:
            claims.append(claim)
        self._changed.add(key)

    def _close(self, key: Key, claim: Claim, at: float) -> None:
        if claim.end is not None and claim.end <= at:
            return
        claim.end = at
        if claim.is_empty():
            claims = self._claims.get(key)
            if claims is not None and claim in claims:
                claims.remove(claim)
        self._changed.add(key)

    def _note_context(self, facts: Facts, deleted: bool) -> None:
        """Keep what classifies unowned addresses: node pod CIDRs, host IPs, ClusterIPs."""
        if facts.kind == "Node":
            old = self._node_cidrs.get(facts.name, ())
            if old != facts.pod_cidrs:
                for cidr in old:
                    self._pod_cidrs.remove(cidr, facts.name)
                for cidr in facts.pod_cidrs:
                    self._pod_cidrs.add(cidr, facts.name)
                self._node_cidrs[facts.name] = facts.pod_cidrs
        elif facts.kind == "Pod":
            if not facts.host_network:
                for ip, port in facts.keys:
                    if port is None:
                        self._pod_ip_nodes[ip] = facts.node
            if facts.node:
                for ip in facts.host_ips:
                    if ip not in self._host_ips:
                        self._host_ips[ip] = facts.node
        elif facts.kind == "Service":
            new = [ip for ip in facts.cluster_ips if ip not in self._cluster_ips]
            if new:
                self._cluster_ips.update(new)
                if facts.namespace == "default" and facts.name == "kubernetes":
                    self._kubernetes_ips.update(new)
                self._service_ranges = None

    # -- reading -----------------------------------------------------------------

    def resolve(self, ip: str, at: float, port: int | None = None) -> Identity:
        """Who `ip` (reached on `port`, if given) was at time `at`.

        Same answer as an ASOF join of `intervals()` on (ip, port) falling
        back to (ip, None), then `classify_unowned`.
        """
        norm = normalize_ip(ip)
        if norm is None:
            raise ValueError(f"{ip!r} is not an IP address")
        if port is not None:
            claims = self._claims.get((norm, port))
            if claims:
                claim = winner_at(claims, at)
                if claim is not None:
                    return self._identity(norm, claim.uid)
        claims = self._claims.get((norm, None))
        if claims:
            claim = winner_at(claims, at)
            if claim is not None:
                return self._identity(norm, claim.uid)
        return self.classify_unowned(norm)

    def classify_unowned(self, ip: str) -> Identity:
        """What is known of an address nobody owns (at the time asked)."""
        norm = normalize_ip(ip)
        if norm is None:
            raise ValueError(f"{ip!r} is not an IP address")
        named = tuple(self._named.lookup(norm))
        nodes = self._pod_cidrs.lookup(norm)
        if nodes:
            return Identity(norm, UNKNOWN_POD, node=nodes[0], tags=(IN_CLUSTER_TAG, *named))
        host_node = self._host_ips.get(norm)
        if host_node is not None:
            # A pod ran on this node with this hostIP but the Node object is
            # not visible (no permission to list nodes, say).
            return Identity(
                norm, NODE, name=host_node, node=host_node, tags=(IN_CLUSTER_TAG, *named)
            )
        if norm in self._pod_ip_nodes:
            node = self._pod_ip_nodes[norm]
            return Identity(norm, UNKNOWN_POD, node=node, tags=(IN_CLUSTER_TAG, *named))
        if self._cluster_pod_nets.lookup(norm):
            return Identity(norm, UNKNOWN_POD, tags=(IN_CLUSTER_TAG, *named))
        if self._in_service_range(norm):
            return Identity(norm, UNKNOWN_SERVICE, tags=(IN_CLUSTER_TAG, *named))
        return Identity(norm, EXTERNAL, tags=(*range_tags(norm), *named))

    def node_pod_cidrs(self) -> dict[str, tuple[str, ...]]:
        """Each known node's pod CIDRs (spec.podCIDRs, or OVN's node-subnets)."""
        return {node: cidrs for node, cidrs in self._node_cidrs.items() if cidrs}

    def pod_ip_nodes(self) -> dict[str, str | None]:
        """Addresses some pod held, with that pod's node: they stay pod addresses."""
        return dict(self._pod_ip_nodes)

    def service_ranges(self) -> list[IPNetwork]:
        """The Service ranges in use: configured ones, else learned from ClusterIPs."""
        if self._configured_service_ranges:
            return list(self._configured_service_ranges)
        if self._service_ranges is None:
            self._service_ranges = learn_service_ranges(self._cluster_ips, self._kubernetes_ips)
        return list(self._service_ranges)

    def _in_service_range(self, ip: str) -> bool:
        ranges = self.service_ranges()
        if not ranges:
            return False
        addr = ip_address(ip)
        return any(addr.version == net.version and addr in net for net in ranges)

    def _identity(self, ip: str, uid: str) -> Identity:
        owner = self.owner(uid)
        if owner is None:
            return Identity(ip, EXTERNAL, uid=OwnerUid(uid), tags=range_tags(ip))
        tags: tuple[str, ...] = ()
        info = self._info.get(uid)
        if info is not None and info.host_network:
            tags = (HOST_NETWORK_TAG,)
        named = tuple(self._named.lookup(ip))
        return Identity(
            ip,
            owner.kind,
            namespace=owner.namespace,
            name=owner.name,
            uid=owner.uid,
            workload_kind=owner.workload_kind,
            workload_name=owner.workload_name,
            app=owner.app,
            node=owner.node,
            tags=tags + named,
        )

    def owner(self, uid: str) -> Owner | None:
        """The owner with this uid, as of its latest version."""
        cached = self._owner_cache.get(uid)
        if cached is not None:
            return cached
        info = self._info.get(uid)
        if info is None:
            return None
        workload_kind: str | None = None
        workload_name: str | None = None
        app: str | None = None
        if info.kind in ("Pod", "Service"):
            chain = self._chain_facts(info.controller, info.namespace)
            if info.kind == "Pod":
                workload_kind, workload_name = chain[0], chain[1]
            # Helm manifest, then annotation, then labels: each on the object
            # itself first, then up its owner chain.
            app = (
                self._releases.owner_of(info.kind, info.namespace, info.name)
                or chain[2]
                or info.annotations.get(_RELEASE_ANNOTATION)
                or chain[3]
                or app_from_labels(info.labels)
                or chain[4]
            )
        owner = Owner(
            uid=OwnerUid(uid),
            kind=API_SERVER if uid == APISERVER_UID else info.kind,
            namespace=info.namespace,
            name=info.name,
            node=info.node,
            workload_kind=workload_kind,
            workload_name=workload_name,
            app=app,
            # NB: shared with the owner info, not copied; nobody mutates it.
            labels=info.labels,  # type: ignore[arg-type]
            hostnames=info.hostnames,
        )
        self._owner_cache[uid] = owner
        return owner

    def _chain_facts(self, ref: Ref | None, namespace: str | None) -> tuple[str | None, ...]:
        if ref is None:
            return (None, None, None, None, None)
        key = ref.uid or f"{namespace}/{ref.kind}/{ref.name}"
        cached = self._chain_cache.get(key)
        if cached is not None:
            return cached
        chain = self._workloads.chain(ref, namespace)
        found = (
            *self._workloads.workload_of(ref),
            next(
                (
                    r
                    for r in (self._releases.owner_of(w.kind, w.namespace, w.name) for w in chain)
                    if r
                ),
                None,
            ),
            next(
                (
                    w.annotations.get(_RELEASE_ANNOTATION)
                    for w in chain
                    if w.annotations.get(_RELEASE_ANNOTATION)
                ),
                None,
            ),
            next((a for a in (app_from_labels(w.labels) for w in chain) if a), None),
        )
        self._chain_cache[key] = found
        return found

    def owner_chain(self, kind: str, namespace: str | None, name: str) -> list[tuple[str, str]]:
        """The owners above a pod or workload, nearest first, as (kind, name).

        A pod of a Deployment gives `[("ReplicaSet", rs), ("Deployment", d),
        ("HelmRelease", r)]`; the Helm release ends the chain when the object
        or one above it belongs to one (by manifest, else by annotation). A
        workload's chain starts above it. Unknown objects give `[]`; so does
        an object with neither owners nor release. Kind `Workload` matches a
        workload of any kind.
        """
        found = self._find_object(kind, namespace, name)
        if found is None:
            return []
        own_kind, controller, annotations = found
        chain = self._workloads.chain(controller, namespace)
        result = [(w.kind, w.name) for w in chain]
        release = (
            self._releases.owner_of(own_kind, namespace, name)
            or next(
                (
                    r
                    for r in (self._releases.owner_of(w.kind, w.namespace, w.name) for w in chain)
                    if r
                ),
                None,
            )
            or annotations.get(_RELEASE_ANNOTATION)
            or next(
                (
                    w.annotations[_RELEASE_ANNOTATION]
                    for w in chain
                    if w.annotations.get(_RELEASE_ANNOTATION)
                ),
                None,
            )
        )
        if release:
            result.append((HELM_RELEASE, release))
        return result

    def _find_object(
        self, kind: str, namespace: str | None, name: str
    ) -> tuple[str, Ref | None, Mapping[str, str]] | None:
        """(kind, controller, annotations) of the latest object of that name, if seen."""
        if kind in WORKLOAD_KINDS or kind == ANY_WORKLOAD:
            kinds = sorted(WORKLOAD_KINDS) if kind == ANY_WORKLOAD else [kind]
            for candidate in kinds:
                uid = self._workload_uids.get((candidate, namespace, name))
                workload = self._workloads.get(uid) if uid else None
                if workload is not None:
                    return workload.kind, workload.controller, workload.annotations
            return None
        # Pods and services: the newest one still present, else the newest one
        # that ever had the name (a StatefulSet pod is recreated under it).
        # NB: a scan from the newest end; details ask once per click.
        fallback: _OwnerInfo | None = None
        for uid, info in reversed(self._info.items()):
            if info.kind != kind or info.name != name or info.namespace != namespace:
                continue
            source = self._sources.get(uid)
            if source is None or not source.gone:
                fallback = info
                break
            fallback = fallback or info
        if fallback is None:
            return None
        return fallback.kind, fallback.controller, fallback.annotations

    def owners(self) -> dict[OwnerUid, Owner]:
        """Every owner that has (or had) an address."""
        result: dict[OwnerUid, Owner] = {}
        for uid in self._info:
            owner = self.owner(uid)
            if owner is not None:
                result[owner.uid] = owner
        return result

    def intervals(self, keys: Iterable[Key] | None = None) -> list[Interval]:
        """Ownership intervals, never overlapping per (ip, port); all, or of some keys."""
        result: list[Interval] = []
        if keys is None:
            for key, claims in self._claims.items():
                result.extend(segments(key, claims))
        else:
            for key in keys:
                result.extend(segments(key, self._claims.get(key, [])))
        return result

    def take_changes(self) -> set[Key]:
        """Keys whose intervals changed since the last call (for incremental store updates)."""
        changed, self._changed = self._changed, set()
        return changed

    def history(self, ip: str) -> list[Interval]:
        """Every interval of an address, on any port, by start time."""
        norm = normalize_ip(ip)
        if norm is None:
            raise ValueError(f"{ip!r} is not an IP address")
        keys: list[Key] = [(norm, None)]
        keys += [(norm, port) for port in sorted(self._ports.get(norm, ()))]
        found = self.intervals(keys)
        found.sort(key=lambda i: (i.valid_from, -1 if i.port is None else i.port))
        return found

    def releases(self) -> list[HelmRelease]:
        """The live revision of every Helm release seen (for the details panel)."""
        return self._releases.releases()

    def namespaces(self) -> dict[str, Mapping[str, str]]:
        """Namespaces seen, with their labels."""
        return dict(self._namespaces)

    def stats(self) -> dict[str, int]:
        return {
            "keys": len(self._claims),
            "claims": sum(len(c) for c in self._claims.values()),
            "owners": len(self._info),
            "workloads": len(self._workloads),
        }
