"""The resource kinds NetSight watches, and where each lives in the API.

Kind names are the objects' own `kind` values ("Pod", "Service", ...), which
is also the `kind` of every `InventoryEvent`. Helm releases are Secrets of
type `helm.sh/release.v1`; we watch only those (never every Secret in the
cluster), so the kind "Secret" always means a Helm release Secret here.
"""

from __future__ import annotations

from dataclasses import dataclass

POD = "Pod"
SERVICE = "Service"
ENDPOINT_SLICE = "EndpointSlice"
NODE = "Node"
NAMESPACE = "Namespace"
REPLICA_SET = "ReplicaSet"
DEPLOYMENT = "Deployment"
STATEFUL_SET = "StatefulSet"
DAEMON_SET = "DaemonSet"
JOB = "Job"
CRON_JOB = "CronJob"
NETWORK_POLICY = "NetworkPolicy"
HELM_RELEASE_SECRET = "Secret"

HELM_RELEASE_TYPE = "helm.sh/release.v1"
# Servers that refuse the `type` field selector still label Helm's Secrets.
HELM_RELEASE_LABEL = "owner=helm"


@dataclass(frozen=True, slots=True)
class KindSpec:
    """How to list and watch one kind."""

    kind: str
    group: str
    version: str
    plural: str
    namespaced: bool
    field_selector: str | None = None
    label_selector: str | None = None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None) -> str:
        """The collection URL path, cluster-wide or in one namespace."""
        prefix = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace is not None and self.namespaced:
            return f"{prefix}/namespaces/{namespace}/{self.plural}"
        return f"{prefix}/{self.plural}"


SPECS: dict[str, KindSpec] = {
    spec.kind: spec
    for spec in (
        KindSpec(POD, "", "v1", "pods", True),
        KindSpec(SERVICE, "", "v1", "services", True),
        KindSpec(ENDPOINT_SLICE, "discovery.k8s.io", "v1", "endpointslices", True),
        KindSpec(NODE, "", "v1", "nodes", False),
        KindSpec(NAMESPACE, "", "v1", "namespaces", False),
        KindSpec(REPLICA_SET, "apps", "v1", "replicasets", True),
        KindSpec(DEPLOYMENT, "apps", "v1", "deployments", True),
        KindSpec(STATEFUL_SET, "apps", "v1", "statefulsets", True),
        KindSpec(DAEMON_SET, "apps", "v1", "daemonsets", True),
        KindSpec(JOB, "batch", "v1", "jobs", True),
        KindSpec(CRON_JOB, "batch", "v1", "cronjobs", True),
        KindSpec(NETWORK_POLICY, "networking.k8s.io", "v1", "networkpolicies", True),
        KindSpec(
            HELM_RELEASE_SECRET,
            "",
            "v1",
            "secrets",
            True,
            field_selector=f"type={HELM_RELEASE_TYPE}",
        ),
    )
}

ALL_KINDS: tuple[str, ...] = tuple(SPECS)
