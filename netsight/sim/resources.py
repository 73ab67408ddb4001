"""Which API resources the simulated cluster serves, and how each is named.

kubectl and the official client find resources through discovery
(`/api/v1`, `/apis/<group>/<version>`), so every kind the simulation holds
needs a plural, a scope and a group/version. Well-known kinds come from a
table; kinds met only in a dump are added on the fly with a guessed plural.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

# Verbs every served resource supports (all kinds are writable in the sim).
VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Resource:
    """One API resource: `pods` in group "" version v1, say."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = field(default=())

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> tuple[str, str]:
        return (self.group, self.version)

    @property
    def key(self) -> tuple[str, str]:
        """Identity of the resource in the store: (group, plural)."""
        return (self.group, self.plural)

    @property
    def singular(self) -> str:
        return self.kind.lower()

    def discovery(self) -> dict:
        entry = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(VERBS),
        }
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        return entry


def _r(gv: str, plural: str, kind: str, namespaced: bool = True, *short: str) -> Resource:
    group, _, version = gv.rpartition("/")
    return Resource(group, version, plural, kind, namespaced, tuple(short))


WELL_KNOWN: tuple[Resource, ...] = (
    _r("v1", "pods", "Pod", True, "po"),
    _r("v1", "services", "Service", True, "svc"),
    _r("v1", "endpoints", "Endpoints", True, "ep"),
    _r("v1", "namespaces", "Namespace", False, "ns"),
    _r("v1", "nodes", "Node", False, "no"),
    _r("v1", "configmaps", "ConfigMap", True, "cm"),
    _r("v1", "secrets", "Secret", True),
    _r("v1", "serviceaccounts", "ServiceAccount", True, "sa"),
    _r("v1", "events", "Event", True, "ev"),
    _r("v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, "pvc"),
    _r("v1", "persistentvolumes", "PersistentVolume", False, "pv"),
    _r("v1", "replicationcontrollers", "ReplicationController", True, "rc"),
    _r("v1", "resourcequotas", "ResourceQuota", True, "quota"),
    _r("v1", "limitranges", "LimitRange", True, "limits"),
    _r("apps/v1", "deployments", "Deployment", True, "deploy"),
    _r("apps/v1", "replicasets", "ReplicaSet", True, "rs"),
    _r("apps/v1", "statefulsets", "StatefulSet", True, "sts"),
    _r("apps/v1", "daemonsets", "DaemonSet", True, "ds"),
    _r("apps/v1", "controllerrevisions", "ControllerRevision", True),
    _r("batch/v1", "jobs", "Job", True),
    _r("batch/v1", "cronjobs", "CronJob", True, "cj"),
    _r("discovery.k8s.io/v1", "endpointslices", "EndpointSlice", True),
    _r("networking.k8s.io/v1", "networkpolicies", "NetworkPolicy", True, "netpol"),
    _r("networking.k8s.io/v1", "ingresses", "Ingress", True, "ing"),
    _r("networking.k8s.io/v1", "ingressclasses", "IngressClass", False),
    _r("rbac.authorization.k8s.io/v1", "roles", "Role", True),
    _r("rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding", True),
    _r("rbac.authorization.k8s.io/v1", "clusterroles", "ClusterRole", False),
    _r("rbac.authorization.k8s.io/v1", "clusterrolebindings", "ClusterRoleBinding", False),
    _r("policy/v1", "poddisruptionbudgets", "PodDisruptionBudget", True, "pdb"),
    _r("autoscaling/v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True, "hpa"),
    _r("storage.k8s.io/v1", "storageclasses", "StorageClass", False, "sc"),
)


def guess_plural(kind: str) -> str:
    """English-ish plural the way Kubernetes names resources (lowercase)."""
    lower = kind.lower()
    if lower.endswith("y") and lower[-2:-1] not in ("a", "e", "i", "o", "u"):
        return lower[:-1] + "ies"
    if lower.endswith(("s", "x", "ch", "sh")):
        return lower + "es"
    return lower + "s"


class ResourceRegistry:
    """Resources served, looked up by (group, version, plural) or by kind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_path: dict[tuple[str, str, str], Resource] = {}
        self._by_kind: dict[tuple[str, str], Resource] = {}
        for resource in WELL_KNOWN:
            self._add(resource)

    def _add(self, resource: Resource) -> None:
        self._by_path[(resource.group, resource.version, resource.plural)] = resource
        self._by_kind[(resource.api_version, resource.kind)] = resource

    def by_path(self, group: str, version: str, plural: str) -> Resource | None:
        return self._by_path.get((group, version, plural))

    def for_object(self, obj: dict) -> Resource:
        """The resource an object belongs to, registering an unknown kind."""
        api_version = str(obj.get("apiVersion") or "")
        kind = str(obj.get("kind") or "")
        if not api_version or not kind:
            raise ValueError("object has no apiVersion or kind")
        with self._lock:
            found = self._by_kind.get((api_version, kind))
            if found is not None:
                return found
            group, _, version = api_version.rpartition("/")
            namespaced = bool((obj.get("metadata") or {}).get("namespace"))
            resource = Resource(group, version, guess_plural(kind), kind, namespaced)
            logger.info(
                "Serving unknown kind %s (%s) as resource %s, namespaced=%s.",
                kind,
                api_version,
                resource.plural,
                namespaced,
            )
            self._add(resource)
            return resource

    def by_kind(self, api_version: str, kind: str) -> Resource | None:
        return self._by_kind.get((api_version, kind))

    def find_kind(self, kind: str) -> Resource | None:
        """A resource by kind alone (the first group that serves it)."""
        for resource in self.all():
            if resource.kind == kind:
                return resource
        return None

    def all(self) -> list[Resource]:
        with self._lock:
            return list(self._by_path.values())

    def group_versions(self) -> dict[str, list[str]]:
        """Group name -> versions served (the core group is "")."""
        result: dict[str, list[str]] = {}
        for resource in self.all():
            versions = result.setdefault(resource.group, [])
            if resource.version not in versions:
                versions.append(resource.version)
        return result

    def in_group_version(self, group: str, version: str) -> list[Resource]:
        return [r for r in self.all() if r.group == group and r.version == version]
