"""The Kubernetes objects that put the node agent on every node.

The agent is one standard-library file mounted from a ConfigMap into a stock
Python image, so there is no custom image to build or trust: a reviewer reads
`agent.py` and this module and has seen everything that runs. The pod gets
only what the agent uses (see `AGENT_CAPABILITIES`), and every object carries
`MANAGED_BY_LABELS` so that removal can find all of them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources
from typing import Any

logger = logging.getLogger(__name__)

NAMESPACE = "netsight-collector"
NAME = "netsight-collector"
AGENT_PORT = 9100
AGENT_FILE = "agent.py"
DEFAULT_IMAGE = "python:3.12-alpine"

# The label pair the simulated cluster and the puller use to find agent pods.
APP_LABELS = {"app.kubernetes.io/name": NAME}
MANAGED_BY_LABELS = {**APP_LABELS, "app.kubernetes.io/managed-by": "netsight"}
LABEL_SELECTOR = ",".join(f"{key}={value}" for key, value in MANAGED_BY_LABELS.items())

# SYS_ADMIN: setns() into each pod's network namespace.
# SYS_PTRACE: read /proc/<pid>/ns/net and /proc/<pid>/fd of other users' processes.
# NET_ADMIN: dump and subscribe to the host's conntrack table over netlink.
# DAC_READ_SEARCH: walk /proc/<pid>/fd of processes owned by other users.
AGENT_CAPABILITIES = ("SYS_ADMIN", "SYS_PTRACE", "NET_ADMIN", "DAC_READ_SEARCH")

# The agent measured under 60 MiB with 20,000 sockets; the limit leaves room
# for a burst of conntrack events without letting it crowd out workloads.
MEMORY_LIMIT = "128Mi"
MEMORY_REQUEST = "48Mi"
CPU_LIMIT = "200m"
CPU_REQUEST = "20m"


@dataclass(frozen=True, slots=True)
class CollectorSettings:
    """What a user may change about the deployed collector."""

    image: str = DEFAULT_IMAGE
    poll_interval_s: float = 5.0
    buffer_records: int = 200_000


def agent_source() -> str:
    """The agent's source text, exactly as it will run on the nodes."""
    return resources.files("netsight.collector").joinpath(AGENT_FILE).read_text("utf-8")


def _metadata(name: str, namespace: str | None = NAMESPACE) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": dict(MANAGED_BY_LABELS)}
    if namespace is not None:
        metadata["namespace"] = namespace
    return metadata


def namespace_manifest() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": _metadata(NAMESPACE, None)}


def service_account_manifest() -> dict[str, Any]:
    # The agent never talks to the API server, so it gets no token.
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _metadata(NAME),
        "automountServiceAccountToken": False,
    }


def config_map_manifest(source: str | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(f"{NAME}-agent"),
        "data": {AGENT_FILE: source if source is not None else agent_source()},
    }


def daemon_set_manifest(settings: CollectorSettings = CollectorSettings()) -> dict[str, Any]:
    container = {
        "name": "agent",
        "image": settings.image,
        "imagePullPolicy": "IfNotPresent",
        "command": [
            "python3",
            f"/agent/{AGENT_FILE}",
            "--listen",
            f"0.0.0.0:{AGENT_PORT}",
            "--node",
            "$(NODE_NAME)",
            "--poll-interval",
            str(settings.poll_interval_s),
            "--buffer",
            str(settings.buffer_records),
        ],
        "env": [
            {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            # Nothing may be written: the root filesystem is read-only.
            {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
        ],
        "ports": [{"name": "http", "containerPort": AGENT_PORT, "protocol": "TCP"}],
        "readinessProbe": {
            "httpGet": {"path": "/v1/status", "port": AGENT_PORT},
            "periodSeconds": 5,
        },
        "resources": {
            "limits": {"cpu": CPU_LIMIT, "memory": MEMORY_LIMIT},
            "requests": {"cpu": CPU_REQUEST, "memory": MEMORY_REQUEST},
        },
        "securityContext": {
            # Root inside the container is needed for setns and netlink; the
            # capability set below, not privileged mode, is what it may do.
            "runAsUser": 0,
            "privileged": False,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"], "add": list(AGENT_CAPABILITIES)},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "agent", "mountPath": "/agent", "readOnly": True}],
    }
    pod_spec = {
        "serviceAccountName": NAME,
        "automountServiceAccountToken": False,
        # The host PID namespace is how the agent finds every pod's network
        # namespace; the host network is deliberately not shared.
        "hostPID": True,
        "hostNetwork": False,
        "containers": [container],
        "volumes": [
            {"name": "agent", "configMap": {"name": f"{NAME}-agent", "defaultMode": 0o444}}
        ],
        # Reach every node, control planes and tainted pools included.
        "tolerations": [{"operator": "Exists"}],
        "terminationGracePeriodSeconds": 5,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": _metadata(NAME),
        "spec": {
            "selector": {"matchLabels": dict(APP_LABELS)},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {"metadata": {"labels": dict(MANAGED_BY_LABELS)}, "spec": pod_spec},
        },
    }


def all_manifests(settings: CollectorSettings = CollectorSettings()) -> list[dict[str, Any]]:
    """Every object deploy creates, in the order it creates them."""
    return [
        namespace_manifest(),
        service_account_manifest(),
        config_map_manifest(),
        daemon_set_manifest(settings),
    ]
