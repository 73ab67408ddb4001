"""The built-in demo cluster's Kubernetes objects.

`netsight --demo` has no cluster to read, so this module writes one: three
nodes, a handful of namespaces, Helm applications with several revisions,
and the cases that make IP identity hard (hostNetwork pods sharing node IPs,
finished Job pods that still list the IP a later pod reuses, a headless
StatefulSet, a LoadBalancer address). Everything is generated from a seed so
runs are repeatable, and timestamps are relative to `now` so the history
looks recent whenever the demo starts.

The objects are raw JSON dicts shaped as `kubectl get -o json` prints them.
"""

from __future__ import annotations

import base64
import copy
import gzip
import ipaddress
import json
import logging
import random
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

logger = logging.getLogger(__name__)

Obj = dict[str, Any]

DEFAULT_SEED = 20240607
# libyaml's dumper when present: the demo starts noticeably faster with it.
_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
# Namespace for uuid5 so uids depend only on the seed and the object's name.
_UID_NAMESPACE = uuid.UUID("6f1c7a52-8d0e-4c1b-9a57-3d2e61b0c4aa")
MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0

API_SERVER_IP = "10.0.0.5"
API_SERVER_PORT = 6443
SERVICE_CIDR = "10.96.0.0/16"
# Addresses outside the cluster that demo pods talk to. Only strings in
# records: nothing is ever sent to them. Two are documentation ranges.
EXTERNAL_PAYMENT_GATEWAY = "203.0.113.10"
EXTERNAL_CDN = "198.51.100.7"
EXTERNAL_DNS = "8.8.8.8"
# A visitor on the Internet who reaches the shop through its load balancer.
EXTERNAL_VISITOR = "203.0.113.77"
EXTERNAL_ADDRESSES = (EXTERNAL_PAYMENT_GATEWAY, EXTERNAL_CDN, EXTERNAL_DNS, EXTERNAL_VISITOR)
LOAD_BALANCER_IP = "192.0.2.80"


@dataclass(frozen=True)
class NodeSpec:
    """One demo node: its name, addresses and pod range."""

    name: str
    internal_ip: str
    pod_cidr: str
    external_ip: str | None = None


NODES = (
    NodeSpec("worker-1", "10.0.0.11", "10.244.1.0/24", external_ip="192.0.2.11"),
    NodeSpec("worker-2", "10.0.0.12", "10.244.2.0/24"),
    NodeSpec("worker-3", "10.0.0.13", "10.244.3.0/24"),
)
NAMESPACES = ("default", "kube-system", "shop", "payments", "monitoring", "data")

# Labels and annotations that tie an object to its Helm release.
HELM_RELEASE_ANNOTATION = "meta.helm.sh/release-name"
HELM_NAMESPACE_ANNOTATION = "meta.helm.sh/release-namespace"
INSTANCE_LABEL = "app.kubernetes.io/instance"
NAME_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"
HELM_SECRET_TYPE = "helm.sh/release.v1"


def iso(t: float) -> str:
    """Kubernetes' RFC 3339 form of an epoch time, second precision, UTC."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def encode_helm_release(release: dict[str, Any]) -> str:
    """The `data.release` value of a Helm 3 release Secret.

    Helm stores base64(gzip(JSON)); the Secret's data adds its own base64.
    """
    inner = base64.b64encode(gzip.compress(json.dumps(release).encode(), mtime=0))
    return base64.b64encode(inner).decode()


@dataclass(frozen=True)
class Port:
    """A container port: number, protocol and name."""

    port: int
    name: str
    protocol: str = "TCP"


@dataclass(frozen=True)
class Component:
    """One workload of a demo application and the Service in front of it."""

    name: str
    image: str
    ports: tuple[Port, ...]
    replicas: int = 1
    kind: str = "Deployment"  # Deployment, StatefulSet or DaemonSet
    host_network: bool = False
    # Service: None for no Service, "ClusterIP", "LoadBalancer" or "Headless".
    service: str | None = "ClusterIP"
    service_ip: str | None = None
    service_ports: tuple[tuple[str, int, int, str], ...] = ()  # name, port, target, proto
    service_name: str | None = None
    # Revisions of the release that include this component (None: all).
    since_revision: int = 1
    extra_labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Application:
    """A group of components: a Helm release, or labels alone when `chart` is None."""

    name: str
    namespace: str
    components: tuple[Component, ...]
    chart: str | None = None
    # (chart version, age in seconds) per revision, oldest first.
    revisions: tuple[tuple[str, float], ...] = ()
    app_version: str = "1.0.0"
    # Cluster add-ons (kube-system): no application labels at all.
    system: bool = False


APPLICATIONS = (
    Application(
        name="shop",
        namespace="shop",
        chart="shop",
        revisions=(("1.2.0", 3 * DAY), ("1.3.0", 2 * DAY), ("1.4.1", 3 * HOUR)),
        app_version="2.7.3",
        components=(
            Component(
                "frontend",
                "ghcr.io/example/shop-frontend:2.7.3",
                (Port(8080, "http"),),
                replicas=2,
                service="LoadBalancer",
                service_ip="10.96.12.40",
                service_ports=(("http", 80, 8080, "TCP"),),
            ),
            Component(
                "cart",
                "ghcr.io/example/shop-cart:2.7.3",
                (Port(7070, "grpc"),),
                replicas=2,
                service_ip="10.96.12.41",
                service_ports=(("grpc", 7070, 7070, "TCP"),),
            ),
            Component(
                "checkout",
                "ghcr.io/example/shop-checkout:2.7.3",
                (Port(5050, "grpc"),),
                replicas=1,
                service_ip="10.96.12.42",
                service_ports=(("grpc", 5050, 5050, "TCP"),),
                since_revision=2,
            ),
            Component(
                "redis",
                "docker.io/library/redis:7.2",
                (Port(6379, "redis"),),
                replicas=1,
                service_ip="10.96.12.43",
                service_ports=(("redis", 6379, 6379, "TCP"),),
            ),
        ),
    ),
    Application(
        name="payments",
        namespace="payments",
        chart="payments-api",
        revisions=(("0.9.0", 5 * DAY), ("0.9.2", 1 * DAY)),
        app_version="0.9.2",
        components=(
            Component(
                "payments-api",
                "ghcr.io/example/payments-api:0.9.2",
                (Port(8443, "https"),),
                replicas=2,
                service_ip="10.96.20.10",
                service_name="payments",
                service_ports=(("https", 443, 8443, "TCP"),),
            ),
        ),
    ),
    Application(
        name="monitoring",
        namespace="monitoring",
        chart="kube-prometheus-stack",
        revisions=(
            ("57.0.1", 6 * DAY),
            ("57.2.0", 4 * DAY),
            ("58.1.0", 2 * DAY),
            ("58.1.3", 5 * HOUR),
        ),
        app_version="2.51.2",
        components=(
            Component(
                "prometheus",
                "quay.io/prometheus/prometheus:v2.51.2",
                (Port(9090, "web"),),
                replicas=1,
                service_ip="10.96.30.10",
                service_ports=(("web", 9090, 9090, "TCP"),),
            ),
            Component(
                "node-exporter",
                "quay.io/prometheus/node-exporter:v1.8.0",
                (Port(9100, "metrics"),),
                kind="DaemonSet",
                host_network=True,
                service_ip="10.96.30.11",
                service_ports=(("metrics", 9100, 9100, "TCP"),),
            ),
        ),
    ),
    # No Helm release: the application is only named by labels.
    Application(
        name="warehouse",
        namespace="data",
        components=(
            Component(
                "postgres",
                "docker.io/library/postgres:16.2",
                (Port(5432, "postgres"),),
                replicas=2,
                kind="StatefulSet",
                service="Headless",
                service_ports=(("postgres", 5432, 5432, "TCP"),),
            ),
        ),
    ),
    Application(
        name="kube-system",
        namespace="kube-system",
        system=True,
        components=(
            Component(
                "coredns",
                "registry.k8s.io/coredns/coredns:v1.11.1",
                (Port(53, "dns", "UDP"), Port(53, "dns-tcp"), Port(9153, "metrics")),
                replicas=2,
                service_ip="10.96.0.10",
                service_name="kube-dns",
                service_ports=(
                    ("dns", 53, 53, "UDP"),
                    ("dns-tcp", 53, 53, "TCP"),
                    ("metrics", 9153, 9153, "TCP"),
                ),
                extra_labels={"k8s-app": "kube-dns"},
            ),
            Component(
                "kube-proxy",
                "registry.k8s.io/kube-proxy:v1.29.4",
                (Port(10249, "metrics"),),
                kind="DaemonSet",
                host_network=True,
                service=None,
                extra_labels={"k8s-app": "kube-proxy"},
            ),
        ),
    ),
)

# The CronJob whose pods hand their IP on to the next run.
REPORT_NAMESPACE = "data"
REPORT_CRONJOB = "report"
REPORT_NODE = "worker-2"
REPORT_IMAGE = "ghcr.io/example/warehouse-report:1.3"
# Start age and run length of the demo's Job runs, oldest first; the last
# one is still running. Runs 2 and 3 share one IP.
REPORT_RUNS = ((50 * MINUTE, 2 * MINUTE), (20 * MINUTE, 2 * MINUTE), (4 * MINUTE, None))
REPORT_RUN_LENGTH_S = 2 * MINUTE


class Builder:
    """Holds what object generation shares: the clock, the rng and address pools."""

    def __init__(self, now: float, seed: int) -> None:
        self.now = now
        self.seed = seed
        self.rng = random.Random(seed)
        self.objects: list[Obj] = []
        self.nodes = {n.name: n for n in NODES}
        self._next_host: dict[str, int] = {n.name: 2 for n in NODES}
        self._node_cycle = 0

    # -- identities ---------------------------------------------------

    def uid(self, kind: str, namespace: str | None, name: str) -> str:
        return str(uuid.uuid5(_UID_NAMESPACE, f"{self.seed}/{kind}/{namespace}/{name}"))

    def suffix(self, length: int) -> str:
        """A random name suffix in the alphabet Kubernetes uses for generated names."""
        alphabet = "bcdfghjklmnpqrstvwxz2456789"
        return "".join(self.rng.choice(alphabet) for _ in range(length))

    def pod_ip(self, node: str) -> str:
        network = ipaddress.ip_network(self.nodes[node].pod_cidr)
        host = self._next_host[node]
        self._next_host[node] = host + 1 + self.rng.randrange(3)
        return str(network[host])

    def next_node(self) -> str:
        node = NODES[self._node_cycle % len(NODES)].name
        self._node_cycle += 1
        return node

    def metadata(
        self,
        kind: str,
        name: str,
        namespace: str | None,
        created: float,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
        owner: Obj | None = None,
    ) -> Obj:
        meta: Obj = {
            "name": name,
            "uid": self.uid(kind, namespace, name),
            "creationTimestamp": iso(created),
        }
        if namespace is not None:
            meta["namespace"] = namespace
        if labels:
            meta["labels"] = dict(labels)
        if annotations:
            meta["annotations"] = dict(annotations)
        if owner is not None:
            meta["ownerReferences"] = [owner_reference(owner)]
        return meta

    def add(self, obj: Obj) -> Obj:
        self.objects.append(obj)
        return obj


def owner_reference(owner: Obj) -> Obj:
    """A controller ownerReference pointing at `owner`."""
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def demo_objects(now: float, seed: int = DEFAULT_SEED) -> list[Obj]:
    """Every object of the demo cluster as it stands at `now` (epoch seconds)."""
    b = Builder(now, seed)
    cluster_born = now - 7 * DAY

    for spec in NODES:
        b.add(_node(b, spec, cluster_born))
    for ns in NAMESPACES:
        b.add(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": b.metadata(
                    "Namespace",
                    ns,
                    None,
                    cluster_born,
                    labels={"kubernetes.io/metadata.name": ns},
                ),
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            }
        )
    _api_server(b, cluster_born)
    for app in APPLICATIONS:
        _application(b, app, cluster_born)
    _report_cronjob(b)
    _network_policies(b, cluster_born)
    logger.debug("Generated %d demo objects (seed %d).", len(b.objects), seed)
    return b.objects


# -- nodes and the API server --------------------------------------------


def _node(b: Builder, spec: NodeSpec, born: float) -> Obj:
    addresses = [{"type": "InternalIP", "address": spec.internal_ip}]
    if spec.external_ip:
        addresses.append({"type": "ExternalIP", "address": spec.external_ip})
    addresses.append({"type": "Hostname", "address": spec.name})
    machine_id = b.uid("Machine", None, spec.name).replace("-", "")
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": b.metadata(
            "Node",
            spec.name,
            None,
            born,
            labels={
                "kubernetes.io/hostname": spec.name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/worker": "",
            },
        ),
        "spec": {"podCIDR": spec.pod_cidr, "podCIDRs": [spec.pod_cidr]},
        "status": {
            "addresses": addresses,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "lastTransitionTime": iso(born + 60),
                }
            ],
            "nodeInfo": {
                "machineID": machine_id,
                "systemUUID": str(uuid.uuid5(_UID_NAMESPACE, machine_id)),
                "bootID": str(uuid.uuid5(_UID_NAMESPACE, f"boot/{machine_id}")),
                "kernelVersion": "6.1.0-21-cloud-amd64",
                "kubeProxyVersion": "v1.29.4",
                "kubeletVersion": "v1.29.4",
                "containerRuntimeVersion": "containerd://1.7.15",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "architecture": "amd64",
                "operatingSystem": "linux",
            },
            "capacity": {"cpu": "4", "memory": "16374324Ki", "pods": "110"},
        },
    }


def _api_server(b: Builder, born: float) -> None:
    """default/kubernetes: the Service, its Endpoints and its EndpointSlice."""
    labels = {"component": "apiserver", "provider": "kubernetes"}
    service = b.add(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": b.metadata("Service", "kubernetes", "default", born, labels=labels),
            "spec": {
                "type": "ClusterIP",
                "clusterIP": "10.96.0.1",
                "clusterIPs": ["10.96.0.1"],
                "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack",
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
                "sessionAffinity": "None",
            },
            "status": {"loadBalancer": {}},
        }
    )
    del service  # referenced by name only, as the real one is
    b.add(
        {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": b.metadata("Endpoints", "kubernetes", "default", born, labels=labels),
            "subsets": [
                {
                    "addresses": [{"ip": API_SERVER_IP}],
                    "ports": [{"name": "https", "port": API_SERVER_PORT, "protocol": "TCP"}],
                }
            ],
        }
    )
    b.add(
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": b.metadata(
                "EndpointSlice",
                "kubernetes",
                "default",
                born,
                labels={"kubernetes.io/service-name": "kubernetes"},
            ),
            "addressType": "IPv4",
            "endpoints": [{"addresses": [API_SERVER_IP], "conditions": {"ready": True}}],
            "ports": [{"name": "https", "port": API_SERVER_PORT, "protocol": "TCP"}],
        }
    )


# -- applications ---------------------------------------------------------


def _app_labels(app: Application, comp: Component, chart_version: str | None) -> dict[str, str]:
    if app.system:
        # Cluster add-ons carry their own labels and belong to no application.
        return {NAME_LABEL: comp.name, **comp.extra_labels}
    labels = {
        NAME_LABEL: comp.name,
        INSTANCE_LABEL: app.name,
        "app": comp.name,
    }
    if app.chart:
        labels["app.kubernetes.io/managed-by"] = "Helm"
        labels["helm.sh/chart"] = f"{app.chart}-{chart_version}"
        labels["app.kubernetes.io/version"] = app.app_version
    else:
        labels["app.kubernetes.io/part-of"] = app.name
    labels.update(comp.extra_labels)
    return labels


def _selector(app: Application, comp: Component) -> dict[str, str]:
    if app.system:
        return dict(comp.extra_labels)
    return {NAME_LABEL: comp.name, INSTANCE_LABEL: app.name}


def _helm_annotations(app: Application) -> dict[str, str]:
    if not app.chart:
        return {}
    return {HELM_RELEASE_ANNOTATION: app.name, HELM_NAMESPACE_ANNOTATION: app.namespace}


def _containers(comp: Component, image: str | None = None) -> list[Obj]:
    ports = [
        {"name": p.name, "containerPort": p.port, "protocol": p.protocol}
        | ({"hostPort": p.port} if comp.host_network else {})
        for p in comp.ports
    ]
    return [
        {
            "name": comp.name,
            "image": image or comp.image,
            "imagePullPolicy": "IfNotPresent",
            "ports": ports,
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
        }
    ]


def _pod_template(app: Application, comp: Component, chart_version: str | None) -> Obj:
    spec: Obj = {
        "containers": _containers(comp),
        "restartPolicy": "Always",
        "serviceAccountName": comp.name,
        "dnsPolicy": "ClusterFirstWithHostNet" if comp.host_network else "ClusterFirst",
    }
    if comp.host_network:
        spec["hostNetwork"] = True
        spec["tolerations"] = [{"operator": "Exists"}]
    return {"metadata": {"labels": _app_labels(app, comp, chart_version)}, "spec": spec}


def _workload(app: Application, comp: Component, chart_version: str | None) -> Obj:
    """The workload object as its chart renders it (no uid, no status)."""
    api = "apps/v1"
    labels = _app_labels(app, comp, chart_version)
    spec: Obj = {
        "selector": {"matchLabels": _selector(app, comp)},
        "template": _pod_template(app, comp, chart_version),
    }
    if comp.kind != "DaemonSet":
        spec["replicas"] = comp.replicas
    if comp.kind == "StatefulSet":
        spec["serviceName"] = comp.service_name or comp.name
    meta: Obj = {"name": comp.name, "labels": labels}
    return {"apiVersion": api, "kind": comp.kind, "metadata": meta, "spec": spec}


def _service_manifest(app: Application, comp: Component, chart_version: str | None) -> Obj:
    ports = [
        {"name": name, "port": port, "targetPort": target, "protocol": proto}
        for name, port, target, proto in comp.service_ports
    ]
    spec: Obj = {"selector": _selector(app, comp), "ports": ports}
    if comp.service == "Headless":
        spec["clusterIP"] = "None"
        spec["type"] = "ClusterIP"
    else:
        spec["type"] = comp.service
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": comp.service_name or comp.name,
            "labels": _app_labels(app, comp, chart_version),
        },
        "spec": spec,
    }


def _application(b: Builder, app: Application, born: float) -> None:
    if app.chart:
        _helm_secrets(b, app)
        deployed_at = b.now - app.revisions[-1][1]
        chart_version: str | None = app.revisions[-1][0]
        first_at = b.now - app.revisions[0][1]
    else:
        deployed_at = first_at = born + HOUR
        chart_version = None
    for comp in app.components:
        created = first_at if comp.since_revision == 1 else b.now - app.revisions[1][1]
        workload = _workload(app, comp, chart_version)
        workload["metadata"] = b.metadata(
            comp.kind,
            comp.name,
            app.namespace,
            created,
            labels=workload["metadata"]["labels"],
            annotations=_helm_annotations(app),
        )
        workload["metadata"]["generation"] = len(app.revisions) or 1
        b.add(workload)
        pods = _workload_pods(b, app, comp, workload, created, deployed_at)
        if comp.service:
            _service(b, app, comp, chart_version, created, pods)


def _workload_pods(
    b: Builder, app: Application, comp: Component, workload: Obj, created: float, rolled: float
) -> list[Obj]:
    """Pods (and ReplicaSets for Deployments) of one workload, with workload status."""
    ns = app.namespace
    pods: list[Obj] = []
    if comp.kind == "Deployment":
        # An older ReplicaSet scaled to zero by the latest rollout, then the live one.
        old_hash, new_hash = b.suffix(10), b.suffix(10)
        b.add(_replica_set(b, workload, old_hash, 0, created))
        rs = b.add(_replica_set(b, workload, new_hash, comp.replicas, rolled))
        for _ in range(comp.replicas):
            name = f"{comp.name}-{new_hash}-{b.suffix(5)}"
            node = b.next_node()
            labels = dict(workload["spec"]["template"]["metadata"]["labels"])
            labels["pod-template-hash"] = new_hash
            pods.append(b.add(make_pod(b, name, ns, node, labels, rs, comp, rolled + 20)))
        workload["status"] = _replica_status(comp.replicas, len(app.revisions) or 1)
    elif comp.kind == "StatefulSet":
        revision = f"{comp.name}-{b.suffix(10)}"
        for i in range(comp.replicas):
            name = f"{comp.name}-{i}"
            node = b.next_node()
            labels = dict(workload["spec"]["template"]["metadata"]["labels"])
            labels["statefulset.kubernetes.io/pod-name"] = name
            labels["controller-revision-hash"] = revision
            pod = make_pod(b, name, ns, node, labels, workload, comp, rolled + 30 * (i + 1))
            pod["spec"]["hostname"] = name
            pod["spec"]["subdomain"] = comp.service_name or comp.name
            pods.append(b.add(pod))
        workload["status"] = _replica_status(comp.replicas, 1) | {
            "currentRevision": revision,
            "updateRevision": revision,
        }
    else:  # DaemonSet: one pod per node
        revision = b.suffix(10)
        for spec in NODES:
            name = f"{comp.name}-{b.suffix(5)}"
            labels = dict(workload["spec"]["template"]["metadata"]["labels"])
            labels["controller-revision-hash"] = revision
            labels["pod-template-generation"] = "1"
            pods.append(
                b.add(make_pod(b, name, ns, spec.name, labels, workload, comp, rolled + 10))
            )
        workload["status"] = {
            "currentNumberScheduled": len(NODES),
            "desiredNumberScheduled": len(NODES),
            "numberAvailable": len(NODES),
            "numberReady": len(NODES),
            "updatedNumberScheduled": len(NODES),
            "numberMisscheduled": 0,
            "observedGeneration": 1,
        }
    return pods


def _replica_status(replicas: int, generation: int) -> Obj:
    return {
        "replicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "updatedReplicas": replicas,
        "observedGeneration": generation,
    }


def _replica_set(b: Builder, deployment: Obj, pod_hash: str, replicas: int, t: float) -> Obj:
    meta = deployment["metadata"]
    name = f"{meta['name']}-{pod_hash}"
    template = copy.deepcopy(deployment["spec"]["template"])
    template["metadata"]["labels"]["pod-template-hash"] = pod_hash
    selector = dict(
        deployment["spec"]["selector"]["matchLabels"], **{"pod-template-hash": pod_hash}
    )
    labels = dict(template["metadata"]["labels"])
    rs_meta = b.metadata(
        "ReplicaSet",
        name,
        meta["namespace"],
        t,
        labels=labels,
        annotations={"deployment.kubernetes.io/desired-replicas": str(replicas)}
        | {k: v for k, v in meta.get("annotations", {}).items()},
        owner=deployment,
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": rs_meta,
        "spec": {"replicas": replicas, "selector": {"matchLabels": selector}, "template": template},
        "status": {
            "replicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "fullyLabeledReplicas": replicas,
            "observedGeneration": 1,
        },
    }


def make_pod(
    b: Builder,
    name: str,
    namespace: str,
    node: str,
    labels: dict[str, str],
    owner: Obj,
    comp: Component,
    started: float,
    *,
    ip: str | None = None,
    image: str | None = None,
    restart_policy: str = "Always",
) -> Obj:
    """A Running pod on `node`; a hostNetwork component's pod takes the node's IP."""
    node_spec = b.nodes[node]
    if comp.host_network:
        ip = node_spec.internal_ip
    elif ip is None:
        ip = b.pod_ip(node)
    spec: Obj = {
        "nodeName": node,
        "containers": _containers(comp, image),
        "restartPolicy": restart_policy,
        "serviceAccountName": comp.name,
        "dnsPolicy": "ClusterFirstWithHostNet" if comp.host_network else "ClusterFirst",
        "schedulerName": "default-scheduler",
    }
    if comp.host_network:
        spec["hostNetwork"] = True
        spec["tolerations"] = [{"operator": "Exists"}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": b.metadata("Pod", name, namespace, started - 5, labels=labels, owner=owner),
        "spec": spec,
        "status": running_status(
            comp.name, image or comp.image, node_spec.internal_ip, ip, started
        ),
    }


def running_status(container: str, image: str, host_ip: str, ip: str, started: float) -> Obj:
    """The status of a pod whose single container runs since `started`."""
    return {
        "phase": "Running",
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": iso(started),
        "qosClass": "Burstable",
        "conditions": [
            {"type": t, "status": "True", "lastTransitionTime": iso(started + 3)}
            for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
        ],
        "containerStatuses": [
            {
                "name": container,
                "image": image,
                "imageID": "",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": iso(started + 2)}},
            }
        ],
    }


def finish_pod(pod: Obj, finished: float) -> Obj:
    """A copy of a Running pod that completed at `finished` (it keeps its podIP)."""
    done = copy.deepcopy(pod)
    status = done["status"]
    status["phase"] = "Succeeded"
    started = status["containerStatuses"][0]["state"]["running"]["startedAt"]
    status["conditions"] = [
        {"type": t, "status": "False" if t in ("Ready", "ContainersReady") else "True",
         "reason": "PodCompleted", "lastTransitionTime": iso(finished)}
        for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
    ]  # fmt: skip
    for cs in status["containerStatuses"]:
        cs["ready"] = False
        cs["started"] = False
        cs["state"] = {
            "terminated": {
                "exitCode": 0,
                "reason": "Completed",
                "startedAt": started,
                "finishedAt": iso(finished),
            }
        }
    return done


def _service(
    b: Builder,
    app: Application,
    comp: Component,
    chart_version: str | None,
    created: float,
    pods: list[Obj],
) -> None:
    service = _service_manifest(app, comp, chart_version)
    service["metadata"] = b.metadata(
        "Service",
        service["metadata"]["name"],
        app.namespace,
        created,
        labels=service["metadata"]["labels"],
        annotations=_helm_annotations(app),
    )
    spec = service["spec"]
    spec["ipFamilies"] = ["IPv4"]
    spec["ipFamilyPolicy"] = "SingleStack"
    spec["sessionAffinity"] = "None"
    if comp.service == "Headless":
        spec["clusterIPs"] = ["None"]
    else:
        assert comp.service_ip is not None
        spec["clusterIP"] = comp.service_ip
        spec["clusterIPs"] = [comp.service_ip]
    status: Obj = {"loadBalancer": {}}
    if comp.service == "LoadBalancer":
        for port in spec["ports"]:
            port["nodePort"] = 30000 + b.rng.randrange(2768)
        # Local keeps the visitor's address (no SNAT to a node) and sends it
        # only to nodes that run a backend.
        spec["externalTrafficPolicy"] = "Local"
        spec["healthCheckNodePort"] = 30000 + b.rng.randrange(2768)
        status = {"loadBalancer": {"ingress": [{"ip": LOAD_BALANCER_IP, "ipMode": "VIP"}]}}
    service["status"] = status
    b.add(service)
    b.add(endpoint_slice(b, service, pods, created))


def endpoint_slice(b: Builder, service: Obj, pods: list[Obj], t: float) -> Obj:
    """The EndpointSlice the controller keeps for `service`, listing `pods`."""
    meta = service["metadata"]
    name = f"{meta['name']}-{b.suffix(5)}"
    endpoints = []
    for pod in pods:
        endpoint: Obj = {
            "addresses": [pod["status"]["podIP"]],
            "conditions": {"ready": True, "serving": True, "terminating": False},
            "nodeName": pod["spec"]["nodeName"],
            "targetRef": {
                "kind": "Pod",
                "name": pod["metadata"]["name"],
                "namespace": pod["metadata"]["namespace"],
                "uid": pod["metadata"]["uid"],
            },
        }
        if pod["spec"].get("hostname"):
            endpoint["hostname"] = pod["spec"]["hostname"]
        endpoints.append(endpoint)
    ports = [
        {"name": p["name"], "port": p["targetPort"], "protocol": p["protocol"]}
        for p in service["spec"]["ports"]
    ]
    labels = {
        "kubernetes.io/service-name": meta["name"],
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
    }
    if service["spec"].get("clusterIP") == "None":
        labels["service.kubernetes.io/headless"] = ""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": b.metadata(
            "EndpointSlice", name, meta["namespace"], t, labels=labels, owner=service
        ),
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": ports,
    }


# -- Helm releases ----------------------------------------------------------


def _manifest(app: Application, revision: int, chart_version: str) -> str:
    """The multi-document YAML Helm rendered for one revision of `app`."""
    docs: list[str] = []
    for comp in app.components:
        if comp.since_revision > revision:
            continue
        rendered: list[tuple[str, Obj]] = []
        if comp.service:
            rendered.append(("service.yaml", _service_manifest(app, comp, chart_version)))
        workload = _workload(app, comp, chart_version)
        rendered.append((f"{comp.kind.lower()}.yaml", workload))
        for template, obj in rendered:
            obj = copy.deepcopy(obj)
            # Most charts leave the namespace to Helm; shop's templates set it.
            if app.name == "shop":
                obj["metadata"]["namespace"] = app.namespace
            body = yaml.dump(obj, Dumper=_YAML_DUMPER, sort_keys=False)
            docs.append(f"---\n# Source: {app.chart}/templates/{comp.name}/{template}\n{body}")
    return "".join(docs)


def _helm_secrets(b: Builder, app: Application) -> None:
    assert app.chart is not None
    first = b.now - app.revisions[0][1]
    for revision, (chart_version, age) in enumerate(app.revisions, start=1):
        latest = revision == len(app.revisions)
        status = "deployed" if latest else "superseded"
        deployed = b.now - age
        # A superseded revision was last modified when the next one replaced it.
        modified = deployed if latest else b.now - app.revisions[revision][1]
        release = {
            "name": app.name,
            "namespace": app.namespace,
            "version": revision,
            "info": {
                "first_deployed": iso(first),
                "last_deployed": iso(deployed),
                "deleted": "",
                "description": "Install complete" if revision == 1 else "Upgrade complete",
                "status": status,
            },
            "chart": {
                "metadata": {
                    "apiVersion": "v2",
                    "name": app.chart,
                    "version": chart_version,
                    "appVersion": app.app_version,
                    "type": "application",
                },
                "values": {},
            },
            "config": {},
            "manifest": _manifest(app, revision, chart_version),
        }
        name = f"sh.helm.release.v1.{app.name}.v{revision}"
        b.add(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": HELM_SECRET_TYPE,
                "metadata": b.metadata(
                    "Secret",
                    name,
                    app.namespace,
                    deployed,
                    labels={
                        "name": app.name,
                        "owner": "helm",
                        "status": status,
                        "version": str(revision),
                        "modifiedAt": str(int(modified)),
                    },
                ),
                "data": {"release": encode_helm_release(release)},
            }
        )


# -- the CronJob whose pods reuse an IP ---------------------------------------

REPORT_COMPONENT = Component(REPORT_CRONJOB, REPORT_IMAGE, (), service=None, extra_labels={})


def report_labels(job_name: str, job_uid: str) -> dict[str, str]:
    return {
        "app": REPORT_CRONJOB,
        INSTANCE_LABEL: "warehouse",
        "app.kubernetes.io/part-of": "warehouse",
        "batch.kubernetes.io/job-name": job_name,
        "job-name": job_name,
        "batch.kubernetes.io/controller-uid": job_uid,
        "controller-uid": job_uid,
    }


def make_report_run(
    b: Builder, cronjob: Obj, started: float, ip: str, minute: int | None = None
) -> tuple[Obj, Obj]:
    """A Job started at `started` by the report CronJob and its running pod on `ip`.

    The CronJob controller names Jobs after the scheduled time in minutes
    since the epoch; `minute` overrides that when it must differ from `started`.
    """
    job_name = f"{REPORT_CRONJOB}-{int(started // 60) if minute is None else minute}"
    job_uid = b.uid("Job", REPORT_NAMESPACE, job_name)
    labels = report_labels(job_name, job_uid)
    job: Obj = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": b.metadata(
            "Job", job_name, REPORT_NAMESPACE, started, labels=labels, owner=cronjob
        ),
        "spec": {
            "backoffLimit": 1,
            "completions": 1,
            "parallelism": 1,
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": job_uid}},
            "template": cronjob["spec"]["jobTemplate"]["spec"]["template"],
        },
        "status": {"active": 1, "startTime": iso(started), "ready": 1},
    }
    pod = make_pod(
        b,
        f"{job_name}-{b.suffix(5)}",
        REPORT_NAMESPACE,
        REPORT_NODE,
        labels,
        job,
        REPORT_COMPONENT,
        started + 2,
        ip=ip,
        restart_policy="Never",
    )
    pod["spec"]["serviceAccountName"] = "report"
    return job, pod


def finish_job(job: Obj, finished: float) -> Obj:
    done = copy.deepcopy(job)
    done["status"] = {
        "startTime": job["status"]["startTime"],
        "completionTime": iso(finished),
        "succeeded": 1,
        "ready": 0,
        "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": iso(finished)}],
    }
    return done


def _report_cronjob(b: Builder) -> None:
    created = b.now - 6 * DAY
    labels = {"app": REPORT_CRONJOB, INSTANCE_LABEL: "warehouse",
              "app.kubernetes.io/part-of": "warehouse"}  # fmt: skip
    cronjob = b.add(
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": b.metadata(
                "CronJob", REPORT_CRONJOB, REPORT_NAMESPACE, created, labels=labels
            ),
            "spec": {
                "schedule": "*/15 * * * *",
                "concurrencyPolicy": "Forbid",
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 1,
                "suspend": False,
                "jobTemplate": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "backoffLimit": 1,
                        "template": {
                            "metadata": {"labels": labels},
                            "spec": {
                                "restartPolicy": "Never",
                                "serviceAccountName": "report",
                                "containers": _containers(REPORT_COMPONENT),
                            },
                        },
                    },
                },
            },
            "status": {},
        }
    )
    shared_ip = b.pod_ip(REPORT_NODE)
    last_scheduled = b.now
    for index, (age, length) in enumerate(REPORT_RUNS):
        started = b.now - age
        ip = b.pod_ip(REPORT_NODE) if index == 0 else shared_ip
        job, pod = make_report_run(b, cronjob, started, ip)
        if length is not None:
            job = finish_job(job, started + length)
            pod = finish_pod(pod, started + length)
        b.add(job)
        b.add(pod)
        last_scheduled = started
    cronjob["status"] = {
        "lastScheduleTime": iso(last_scheduled),
        "lastSuccessfulTime": iso(b.now - REPORT_RUNS[-2][0] + (REPORT_RUNS[-2][1] or 0)),
    }


# -- network policies ---------------------------------------------------------


def _network_policies(b: Builder, born: float) -> None:
    policies = [
        (
            "payments",
            "payments-api-ingress",
            {NAME_LABEL: "payments-api"},
            [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": "shop"}
                            },
                            "podSelector": {"matchLabels": {NAME_LABEL: "checkout"}},
                        }
                    ],
                    "ports": [{"port": 8443, "protocol": "TCP"}],
                }
            ],
        ),
        (
            "data",
            "postgres-ingress",
            {NAME_LABEL: "postgres"},
            [
                {
                    "from": [{"podSelector": {"matchLabels": {"app": REPORT_CRONJOB}}}],
                    "ports": [{"port": 5432, "protocol": "TCP"}],
                }
            ],
        ),
    ]
    for ns, name, selector, ingress in policies:
        b.add(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": b.metadata("NetworkPolicy", name, ns, born + DAY),
                "spec": {
                    "podSelector": {"matchLabels": selector},
                    "policyTypes": ["Ingress"],
                    "ingress": ingress,
                },
            }
        )


def by_kind(objects: Iterable[Obj], kind: str) -> list[Obj]:
    """The objects of one kind, in generation order."""
    return [o for o in objects if o.get("kind") == kind]


def find_component(namespace: str, name: str) -> Component:
    """The demo component `name` of the application living in `namespace`."""
    for app in APPLICATIONS:
        for comp in app.components:
            if app.namespace == namespace and comp.name == name:
                return comp
    raise KeyError(f"no demo component {namespace}/{name}")
