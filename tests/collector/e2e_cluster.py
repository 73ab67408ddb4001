"""A one-node cluster that is real underneath, for the collector's end-to-end test.

The end-to-end test runs NetSight's main job the way a user does, as separate
programs: the real agent (`netsight agent`) watching real namespaces, the
simulated API server (`netsight sim serve`) that names them and proxies to
that agent, `netsight collect` and `netsight connections`. This module holds
the parts of that which are not assertions:

- `cluster_objects`: the `kind: List` the simulated API server serves for it.
- `Program`: one NetSight command as a subprocess in its own process group,
  its stdout read line by line in a thread, its stderr in a file, killed
  with all its children on stop.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netlab import NetLab

from netsight.sim.demo.cluster import owner_reference

# Every program gets this long to print its ready line.
READY_TIMEOUT_S = 30.0
# Environment variables that would send loopback HTTPS through a proxy.
_PROXY_VARIABLES = (
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
)


# -- the objects the simulated API server serves -------------------------------------------


@dataclass(frozen=True)
class PodSpec:
    """A lab pod as Kubernetes knows it."""

    lab_name: str  # the pod's namespace in the lab
    namespace: str
    workload_kind: str  # Deployment, StatefulSet or Job
    workload_name: str
    ports: tuple[tuple[int, str], ...] = ()  # (containerPort, protocol)


@dataclass
class ClusterObjects:
    objects: list[dict[str, Any]]
    pod_names: dict[str, str]  # lab name -> Kubernetes pod name

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": self.objects}))
        return path


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _meta(namespace: str | None, name: str, created: float, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "uid": str(uuid.uuid4()),
        "creationTimestamp": _iso(created),
        "resourceVersion": "1",
    }
    if namespace is not None:
        meta["namespace"] = namespace
    meta.update(extra)
    return meta


def cluster_objects(
    lab: NetLab,
    node_name: str,
    pods: list[PodSpec],
    services: list[tuple[str, str, str, int, int, str]],
) -> ClusterObjects:
    """Node, namespaces, workloads, pods, Services and EndpointSlices matching the lab.

    `services` holds (namespace, name, backend lab pod, port, target port,
    protocol); each Service gets the lab's ClusterIP of the same index.
    """
    addr, created = lab.addresses, time.time() - 3600
    objects: list[dict[str, Any]] = []
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": _meta(None, node_name, created, labels={"kubernetes.io/hostname": node_name}),
        "spec": {"podCIDR": addr.pod_cidr, "podCIDRs": [addr.pod_cidr]},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": addr.node_ip},
                {"type": "Hostname", "address": node_name},
            ],
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    objects.append(node)
    for namespace in sorted({p.namespace for p in pods} | {s[0] for s in services}):
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": _meta(None, namespace, created),
                "status": {"phase": "Active"},
            }
        )

    pod_objects: dict[str, dict[str, Any]] = {}
    for spec in pods:
        labels = {"app": spec.workload_name}
        owner = _workload_chain(objects, spec, labels, created)
        suffix = uuid.uuid4().hex[:5]
        name = {
            "Deployment": f"{owner['metadata']['name']}-{suffix}",
            "StatefulSet": f"{spec.workload_name}-0",
            "Job": f"{spec.workload_name}-{suffix}",
        }[spec.workload_kind]
        ip = lab.pod_ips[spec.lab_name]
        container = {
            "name": spec.workload_name,
            "image": "registry.example/lab:1",
            "ports": [{"containerPort": p, "protocol": proto} for p, proto in spec.ports],
        }
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": _meta(
                spec.namespace,
                name,
                created,
                labels=labels,
                ownerReferences=[owner_reference(owner)],
            ),
            "spec": {"nodeName": node_name, "containers": [container]},
            "status": {
                "phase": "Running",
                "hostIP": addr.node_ip,
                "hostIPs": [{"ip": addr.node_ip}],
                "podIP": ip,
                "podIPs": [{"ip": ip}],
                "startTime": _iso(created),
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [
                    {
                        "name": spec.workload_name,
                        "ready": True,
                        "restartCount": 0,
                        "image": container["image"],
                        "state": {"running": {"startedAt": _iso(created)}},
                    }
                ],
            },
        }
        objects.append(pod)
        pod_objects[spec.lab_name] = pod

    for index, (namespace, name, backend, port, target, proto) in enumerate(services):
        cluster_ip = addr.cluster_ip(index)
        pod = pod_objects[backend]
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(namespace, name, created),
            "spec": {
                "type": "ClusterIP",
                "clusterIP": cluster_ip,
                "clusterIPs": [cluster_ip],
                "ipFamilies": ["IPv4"],
                "selector": pod["metadata"]["labels"],
                "ports": [
                    {"name": "main", "port": port, "targetPort": target, "protocol": proto.upper()}
                ],
            },
        }
        objects.append(service)
        objects.append(
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": _meta(
                    namespace,
                    f"{name}-{uuid.uuid4().hex[:5]}",
                    created,
                    labels={"kubernetes.io/service-name": name},
                    ownerReferences=[owner_reference(service)],
                ),
                "addressType": "IPv4",
                "endpoints": [
                    {
                        "addresses": [pod["status"]["podIP"]],
                        "conditions": {"ready": True, "serving": True, "terminating": False},
                        "nodeName": node_name,
                        "targetRef": {
                            "kind": "Pod",
                            "namespace": namespace,
                            "name": pod["metadata"]["name"],
                            "uid": pod["metadata"]["uid"],
                        },
                    }
                ],
                "ports": [{"name": "main", "port": target, "protocol": proto.upper()}],
            }
        )
    names = {lab_name: pod["metadata"]["name"] for lab_name, pod in pod_objects.items()}
    return ClusterObjects(objects, names)


def _workload_chain(
    objects: list[dict[str, Any]], spec: PodSpec, labels: dict[str, str], created: float
) -> dict[str, Any]:
    """Add the pod's workload (and ReplicaSet for a Deployment); return the pod's owner."""
    template = {"metadata": {"labels": labels}, "spec": {"containers": []}}
    selector = {"matchLabels": labels}
    if spec.workload_kind == "Job":
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": _meta(spec.namespace, spec.workload_name, created, labels=labels),
            "spec": {"template": template},
            "status": {"active": 1},
        }
        objects.append(job)
        return job
    api_kind = {"Deployment": "Deployment", "StatefulSet": "StatefulSet"}[spec.workload_kind]
    workload = {
        "apiVersion": "apps/v1",
        "kind": api_kind,
        "metadata": _meta(spec.namespace, spec.workload_name, created, labels=labels),
        "spec": {"replicas": 1, "selector": selector, "template": template},
        "status": {"replicas": 1, "readyReplicas": 1},
    }
    objects.append(workload)
    if api_kind == "StatefulSet":
        return workload
    pod_hash = uuid.uuid4().hex[:10]
    replica_set = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": _meta(
            spec.namespace,
            f"{spec.workload_name}-{pod_hash}",
            created,
            labels={**labels, "pod-template-hash": pod_hash},
            ownerReferences=[owner_reference(workload)],
        ),
        "spec": {"replicas": 1, "selector": selector, "template": template},
        "status": {"replicas": 1, "readyReplicas": 1},
    }
    objects.append(replica_set)
    return replica_set


# -- NetSight programs as subprocesses ----------------------------------------------------


def netsight_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "netsight", *args]


def subprocess_env() -> dict[str, str]:
    """This environment without proxies (everything talks over loopback)."""
    env = {k: v for k, v in os.environ.items() if k not in _PROXY_VARIABLES}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Program:
    """A NetSight command running in its own process group."""

    def __init__(self, name: str, args: list[str], log_dir: Path) -> None:
        self.name = name
        self.stderr_path = log_dir / f"{name}.stderr"
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        with open(self.stderr_path, "w") as stderr:
            self.process = subprocess.Popen(
                args,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=subprocess_env(),
                start_new_session=True,
            )
        self._reader = threading.Thread(target=self._read, name=f"{name}-stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line.rstrip("\n"))
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_for_line(self, prefix: str, timeout: float = READY_TIMEOUT_S) -> str:
        """The first line (from now on) starting with prefix; fails with the program's output."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                message = self.describe(f"printed no {prefix!r} line in {timeout} s")
                raise AssertionError(message) from None
            if line is None:
                raise AssertionError(self.describe(f"ended before printing {prefix!r}"))
            if line.startswith(prefix):
                return line

    def wait(self, timeout: float) -> int:
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(self.describe(f"still running after {timeout} s")) from None
        self._reader.join(timeout=5)
        return code

    def describe(self, what: str) -> str:
        return (
            f"{self.name} {what}; exit code {self.process.poll()}\n"
            f"stdout:\n" + "\n".join(self.output) + f"\nstderr:\n{self.stderr()[-4000:]}"
        )

    def stop(self) -> None:
        """SIGTERM the group, then SIGKILL whatever is left of it after a grace period."""
        for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            if not self._group_alive():
                break
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + grace
            while self._group_alive() and time.monotonic() < deadline:
                time.sleep(0.05)
        self._reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def _group_alive(self) -> bool:
        self.process.poll()  # reap the leader, or its zombie keeps the group id alive
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True
