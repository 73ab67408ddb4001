"""Raw Kubernetes JSON for identity tests, shaped as the API server returns it."""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from datetime import UTC, datetime
from typing import Any

T0 = 1_700_000_000.0


def ts(t: float) -> str:
    """Epoch seconds as the API server writes timestamps."""
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def uid() -> str:
    return str(uuid.uuid4())


def owner_ref(kind: str, name: str, ref_uid: str, controller: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "name": name,
        "uid": ref_uid,
        "controller": controller,
    }


def pod(
    name: str,
    ip: str | list[str] | None,
    *,
    namespace: str = "default",
    node: str = "node-1",
    host_ip: str = "192.168.0.11",
    started: float = T0,
    pod_uid: str | None = None,
    phase: str = "Running",
    finished: float | None = None,
    deleted_at: float | None = None,
    host_network: bool = False,
    ports: list[dict[str, Any]] | None = None,
    owner: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    ips = [ip] if isinstance(ip, str) else list(ip or [])
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": pod_uid or uid(),
        "creationTimestamp": ts(started - 2),
    }
    if owner:
        meta["ownerReferences"] = [owner]
    if labels:
        meta["labels"] = labels
    if deleted_at is not None:
        meta["deletionTimestamp"] = ts(deleted_at)
    status: dict[str, Any] = {"phase": phase, "hostIP": host_ip, "startTime": ts(started)}
    if ips:
        status["podIP"] = ips[0]
        status["podIPs"] = [{"ip": i} for i in ips]
    state: dict[str, Any] = {"running": {"startedAt": ts(started + 1)}}
    if finished is not None:
        state = {"terminated": {"exitCode": 0, "finishedAt": ts(finished), "reason": "Completed"}}
    status["containerStatuses"] = [{"name": "main", "state": state}]
    spec: dict[str, Any] = {
        "nodeName": node,
        "containers": [{"name": "main", "image": "busybox", "ports": ports or []}],
    }
    if host_network:
        spec["hostNetwork"] = True
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def node(
    name: str,
    internal: str | list[str],
    *,
    external: str | None = None,
    pod_cidrs: list[str] | None = None,
    created: float = T0 - 86400,
) -> dict[str, Any]:
    addrs = [internal] if isinstance(internal, str) else internal
    addresses = [{"type": "InternalIP", "address": a} for a in addrs]
    if external:
        addresses.append({"type": "ExternalIP", "address": external})
    addresses.append({"type": "Hostname", "address": name})
    spec: dict[str, Any] = {}
    if pod_cidrs:
        spec = {"podCIDR": pod_cidrs[0], "podCIDRs": pod_cidrs}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "uid": uid(), "creationTimestamp": ts(created)},
        "spec": spec,
        "status": {"addresses": addresses},
    }


def service(
    name: str,
    cluster_ips: list[str] | str | None,
    *,
    namespace: str = "default",
    svc_type: str = "ClusterIP",
    external_ips: list[str] | None = None,
    ingress: list[dict[str, str]] | None = None,
    ports: list[int] | None = None,
    created: float = T0 - 3600,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": svc_type, "ports": [{"port": p} for p in ports or [80]]}
    if cluster_ips is not None:
        ips = [cluster_ips] if isinstance(cluster_ips, str) else cluster_ips
        spec["clusterIP"] = ips[0]
        spec["clusterIPs"] = ips
    if external_ips:
        spec["externalIPs"] = external_ips
    if svc_type == "ExternalName":
        spec = {"type": "ExternalName", "externalName": "db.example.com"}
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": uid(),
        "creationTimestamp": ts(created),
    }
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": spec,
        "status": {"loadBalancer": {"ingress": ingress} if ingress else {}},
    }


def workload(
    kind: str,
    name: str,
    *,
    namespace: str = "default",
    owner: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "uid": uid()}
    if owner:
        meta["ownerReferences"] = [owner]
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": meta, "spec": {}}


def ref_to(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    return owner_ref(obj["kind"], meta["name"], meta["uid"])


def helm_secret(
    release: str,
    namespace: str,
    revision: int,
    status: str,
    manifest: str,
    *,
    gzipped: bool = True,
    chart: str = "demo",
) -> dict[str, Any]:
    payload = json.dumps(
        {
            "name": release,
            "namespace": namespace,
            "version": revision,
            "info": {"status": status},
            "chart": {"metadata": {"name": chart, "version": "1.0.0", "appVersion": "2.0"}},
            "manifest": manifest,
        }
    ).encode()
    body = gzip.compress(payload) if gzipped else payload
    helm_value = base64.b64encode(body)
    return secret_with_release(
        release, namespace, revision, status, base64.b64encode(helm_value).decode()
    )


def secret_with_release(
    release: str, namespace: str, revision: int, status: str, value: str | None
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "helm.sh/release.v1",
        "metadata": {
            "name": f"sh.helm.release.v1.{release}.v{revision}",
            "namespace": namespace,
            "uid": uid(),
            "labels": {
                "name": release,
                "owner": "helm",
                "status": status,
                "version": str(revision),
            },
        },
        "data": {"release": value},
    }
