"""What each kind of raw Kubernetes object claims, read straight from its JSON.

This is the hot path of every watch event, so it reads dicts directly (no
client models, no validation beyond what the rules need) and reuses cached
normalised addresses and parsed timestamps.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from netsight.identity.claims import RANK_APISERVER, RANK_NODE, RANK_OBJECT, Key
from netsight.identity.ranges import normalize_ip
from netsight.identity.times import parse_time
from netsight.identity.workloads import Ref, controller_of

logger = logging.getLogger(__name__)

FINISHED_PHASES = frozenset({"Succeeded", "Failed"})
NODE_ADDRESS_TYPES = frozenset({"InternalIP", "ExternalIP"})
# OVN-Kubernetes (OpenShift's default network) leaves spec.podCIDR empty and
# records each node's pod subnet in this annotation instead.
OVN_SUBNETS_ANNOTATION = "k8s.ovn.org/node-subnets"
APISERVER_UID = "apiserver/default/kubernetes"
_SERVICE_NAME_LABEL = "kubernetes.io/service-name"


class Facts:
    """One object's claims and the owner it describes, from one version of it."""

    __slots__ = (
        "uid",
        "owner_uid",
        "kind",
        "namespace",
        "name",
        "node",
        "rank",
        "keys",
        "start",
        "end",
        "controller",
        "labels",
        "annotations",
        "host_network",
        "host_ips",
        "hostnames",
        "cluster_ips",
        "pod_cidrs",
    )

    def __init__(self, uid: str, kind: str, meta: Mapping[str, Any], rank: int) -> None:
        self.uid = uid
        self.owner_uid = uid
        self.kind = kind
        self.namespace: str | None = meta.get("namespace")
        self.name: str = meta.get("name") or ""
        self.node: str | None = None
        self.rank = rank
        self.keys: list[Key] = []
        # When the object began to own (first sight only) and stopped (if it has).
        self.start: float | None = parse_time(meta.get("creationTimestamp"))
        self.end: float | None = None
        self.controller: Ref | None = None
        self.labels: Mapping[str, str] = meta.get("labels") or {}
        self.annotations: Mapping[str, str] = meta.get("annotations") or {}
        self.host_network = False
        self.host_ips: tuple[str, ...] = ()
        self.hostnames: tuple[str, ...] = ()
        self.cluster_ips: tuple[str, ...] = ()
        self.pod_cidrs: tuple[str, ...] = ()


def _ips(values: Any) -> list[str]:
    found: list[str] = []
    for value in values or ():
        ip = value.get("ip") if isinstance(value, dict) else value
        if isinstance(ip, str):
            norm = normalize_ip(ip)
            if norm is not None and norm not in found:
                found.append(norm)
    return found


def _declared_ports(spec: Mapping[str, Any]) -> list[int]:
    """containerPort and hostPort of every long-running container."""
    ports: list[int] = []
    containers = list(spec.get("containers") or ())
    # Sidecars (init containers that keep running) serve ports too.
    containers += [
        c for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"
    ]
    for container in containers:
        for port in container.get("ports") or ():
            for field in ("containerPort", "hostPort"):
                value = port.get(field)
                if isinstance(value, int) and value > 0 and value not in ports:
                    ports.append(value)
    return ports


def _host_ports(spec: Mapping[str, Any]) -> list[int]:
    ports: list[int] = []
    for container in spec.get("containers") or ():
        for port in container.get("ports") or ():
            value = port.get("hostPort")
            if isinstance(value, int) and value > 0 and value not in ports:
                ports.append(value)
    return ports


def _finished_at(status: Mapping[str, Any]) -> float | None:
    """When the last container of a pod stopped, if every one has stopped."""
    latest: float | None = None
    statuses = status.get("containerStatuses") or ()
    if not statuses:
        return None
    for cs in statuses:
        terminated = (cs.get("state") or {}).get("terminated")
        if not terminated:
            return None
        t = parse_time(terminated.get("finishedAt"))
        if t is None:
            return None
        latest = t if latest is None else max(latest, t)
    return latest


def pod_facts(obj: Mapping[str, Any], deleted: bool, observed_at: float) -> Facts | None:
    meta = obj.get("metadata") or {}
    uid = meta.get("uid")
    if not uid:
        return None
    facts = Facts(uid, "Pod", meta, RANK_OBJECT)
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    facts.node = spec.get("nodeName")
    facts.controller = controller_of(meta)
    facts.start = parse_time(status.get("startTime")) or facts.start
    facts.host_network = bool(spec.get("hostNetwork"))
    pod_ips = _ips(status.get("podIPs")) or _ips([status.get("podIP")])
    facts.host_ips = tuple(_ips(status.get("hostIPs")) or _ips([status.get("hostIP")]))

    # Which keys it claims: its own addresses, or ports on its node's.
    if facts.host_network:
        addresses = list(dict.fromkeys(pod_ips + list(facts.host_ips)))
        facts.keys = [(ip, port) for ip in addresses for port in _declared_ports(spec)]
    else:
        facts.keys = [(ip, None) for ip in pod_ips]
        if facts.host_ips:
            facts.keys += [(ip, port) for ip in facts.host_ips for port in _host_ports(spec)]

    # When it stops: its containers finished, or it was deleted.
    if status.get("phase") in FINISHED_PHASES:
        facts.end = _finished_at(status) or parse_time(meta.get("deletionTimestamp"))
        if facts.end is None:
            facts.end = observed_at
    elif deleted:
        facts.end = _finished_at(status) or parse_time(meta.get("deletionTimestamp"))
        if facts.end is None:
            facts.end = observed_at
    return facts


def service_facts(obj: Mapping[str, Any], deleted: bool, observed_at: float) -> Facts | None:
    meta = obj.get("metadata") or {}
    uid = meta.get("uid")
    if not uid:
        return None
    facts = Facts(uid, "Service", meta, RANK_OBJECT)
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    facts.controller = controller_of(meta)
    ingress = (status.get("loadBalancer") or {}).get("ingress") or ()
    facts.hostnames = tuple(i["hostname"] for i in ingress if i.get("hostname"))

    if spec.get("type") != "ExternalName":
        raw = list(spec.get("clusterIPs") or ()) or [spec.get("clusterIP")]
        # Headless is spelled "None"; any letter case is accepted by clients.
        cluster = [ip for ip in raw if isinstance(ip, str) and ip.lower() != "none"]
        facts.cluster_ips = tuple(_ips(cluster))
        outside = _ips(spec.get("externalIPs")) + _ips([i.get("ip") for i in ingress])
        outside = [ip for ip in dict.fromkeys(outside) if ip not in facts.cluster_ips]
        facts.keys = [(ip, None) for ip in facts.cluster_ips]
        facts.keys += [(ip, None) for ip in outside]
        # An external or load-balancer address can be a node's own (bare
        # metal, k3s): the node keeps the address, the Service its ports.
        ports = [p.get("port") for p in spec.get("ports") or () if isinstance(p.get("port"), int)]
        facts.keys += [(ip, port) for ip in outside for port in dict.fromkeys(ports)]

    if deleted:
        facts.end = parse_time(meta.get("deletionTimestamp")) or observed_at
    return facts


def node_facts(obj: Mapping[str, Any], deleted: bool, observed_at: float) -> Facts | None:
    meta = obj.get("metadata") or {}
    uid = meta.get("uid")
    if not uid:
        return None
    facts = Facts(uid, "Node", meta, RANK_NODE)
    facts.namespace = None
    facts.node = facts.name
    spec = obj.get("spec") or {}
    addresses = (obj.get("status") or {}).get("addresses") or ()
    ips = _ips(a.get("address") for a in addresses if a.get("type") in NODE_ADDRESS_TYPES)
    facts.keys = [(ip, None) for ip in ips]
    cidrs = list(spec.get("podCIDRs") or ()) or [spec.get("podCIDR")]
    cidrs += _ovn_subnets(facts.annotations.get(OVN_SUBNETS_ANNOTATION))
    facts.pod_cidrs = tuple(dict.fromkeys(c for c in cidrs if isinstance(c, str) and c))
    if deleted:
        facts.end = parse_time(meta.get("deletionTimestamp")) or observed_at
    return facts


def _ovn_subnets(value: object) -> list[str]:
    if not isinstance(value, str):
        return []
    try:
        parsed = json.loads(value)
    except ValueError:
        return []
    found: list[str] = []
    if isinstance(parsed, dict):
        for subnet in parsed.values():
            if isinstance(subnet, str):
                found.append(subnet)
            elif isinstance(subnet, list):
                found += [s for s in subnet if isinstance(s, str)]
    return found


def apiserver_facts(
    kind: str, obj: Mapping[str, Any], deleted: bool, observed_at: float
) -> Facts | None:
    """Claims of the API server, from the endpoints of `default/kubernetes`.

    Only those endpoints count; every other EndpointSlice adds nothing the
    pods and Services do not already say.
    """
    meta = obj.get("metadata") or {}
    uid = meta.get("uid")
    if not uid or meta.get("namespace") != "default":
        return None
    if kind == "EndpointSlice":
        if (meta.get("labels") or {}).get(_SERVICE_NAME_LABEL) != "kubernetes":
            return None
        ips = _ips(a for ep in obj.get("endpoints") or () for a in ep.get("addresses") or ())
        ports = [p.get("port") for p in obj.get("ports") or ()]
    else:
        if meta.get("name") != "kubernetes":
            return None
        subsets = obj.get("subsets") or ()
        ips = _ips(a.get("ip") for s in subsets for a in s.get("addresses") or ())
        ports = [p.get("port") for s in subsets for p in s.get("ports") or ()]
    facts = Facts(uid, "ApiServer", meta, RANK_APISERVER)
    facts.owner_uid = APISERVER_UID
    facts.namespace = "default"
    facts.name = "kubernetes"
    facts.keys = [(ip, None) for ip in ips]
    facts.keys += [(ip, p) for ip in ips for p in dict.fromkeys(ports) if isinstance(p, int)]
    if deleted:
        facts.end = parse_time(meta.get("deletionTimestamp")) or observed_at
    return facts
