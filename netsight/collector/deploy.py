"""Deploy, watch over and remove the collector, and nothing else.

NetSight writes to a cluster only here, and only when the user asks. Deploy
creates the objects of `manifests.all_manifests` (skipping those that already
exist), then waits until every schedulable node runs a ready agent, reporting
progress as it goes. Removal deletes every object carrying the collector's
labels, so a cancelled or half-finished deploy leaves nothing behind.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from netsight.collector import manifests
from netsight.collector.manifests import CollectorSettings
from netsight.kube import rawapi
from netsight.kube.errors import ConflictError, ForbiddenError, KubeError, NotFoundError

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 300.0
POLL_INTERVAL_S = 1.0

# Container waiting reasons that will not fix themselves while we wait.
STUCK_REASONS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)


class DeployError(Exception):
    """A deploy or removal that did not finish; the message is for the user."""


class DeployCancelled(DeployError):
    pass


@dataclass(frozen=True, slots=True)
class CollectorState:
    """How far the collector is on each schedulable node."""

    nodes: tuple[str, ...]
    ready_nodes: tuple[str, ...]
    problems: dict[str, str] = field(default_factory=dict)
    deployed: bool = True

    @property
    def summary(self) -> str:
        if not self.deployed:
            return "collector not deployed"
        return f"{len(self.ready_nodes)}/{len(self.nodes)} nodes ready"

    @property
    def complete(self) -> bool:
        return self.deployed and bool(self.nodes) and len(self.ready_nodes) == len(self.nodes)


@dataclass(frozen=True, slots=True)
class AgentPod:
    """A running agent pod that can be reached through the API server's pod proxy."""

    name: str
    node: str
    ready: bool


ProgressCallback = Callable[[CollectorState], None]

_COLLECTION_PATHS = {
    "Namespace": "/api/v1/namespaces",
    "ServiceAccount": f"/api/v1/namespaces/{manifests.NAMESPACE}/serviceaccounts",
    "ConfigMap": f"/api/v1/namespaces/{manifests.NAMESPACE}/configmaps",
    "DaemonSet": f"/apis/apps/v1/namespaces/{manifests.NAMESPACE}/daemonsets",
}
_RESOURCE_NAMES = {
    "Namespace": "namespaces",
    "ServiceAccount": "serviceaccounts",
    "ConfigMap": "configmaps",
    "DaemonSet": "daemonsets.apps",
}


def _object_path(manifest: dict[str, Any]) -> str:
    return f"{_COLLECTION_PATHS[manifest['kind']]}/{manifest['metadata']['name']}"


def _permission_message(verb: str, kind: str, error: KubeError) -> str:
    where = "" if kind == "Namespace" else f" in namespace {manifests.NAMESPACE}"
    return (
        f"You are not allowed to {verb} {_RESOURCE_NAMES[kind]}{where}, which deploying "
        f"the collector needs ({error}). Nothing more was created; ask a cluster admin "
        "for that permission or to deploy the collector for you."
    )


class CollectorDeployer:
    """Deploys and removes the collector through one API client."""

    def __init__(self, api_client: Any, settings: CollectorSettings = CollectorSettings()):
        self._api = api_client
        self._settings = settings

    # -- reading state -------------------------------------------------------

    def schedulable_nodes(self) -> list[str]:
        body = rawapi.request_json(self._api, "GET", "/api/v1/nodes")
        return sorted(
            node["metadata"]["name"]
            for node in body.get("items", [])
            if not node.get("spec", {}).get("unschedulable")
        )

    def _collector_pods(self) -> list[dict[str, Any]]:
        """The collector's pod objects that are not being deleted."""
        try:
            body = rawapi.request_json(
                self._api,
                "GET",
                f"/api/v1/namespaces/{manifests.NAMESPACE}/pods",
                query={"labelSelector": manifests.LABEL_SELECTOR},
            )
        except NotFoundError:
            return []
        return [p for p in body.get("items", []) if not p["metadata"].get("deletionTimestamp")]

    def agent_pods(self) -> list[AgentPod]:
        """Collector pods that are scheduled, ready or not."""
        return [
            AgentPod(pod["metadata"]["name"], pod["spec"]["nodeName"], _pod_ready(pod))
            for pod in self._collector_pods()
            if pod.get("spec", {}).get("nodeName")
        ]

    def state(self) -> CollectorState:
        """Where the collector stands now; `deployed` is False when its DaemonSet is absent."""
        try:
            rawapi.request_json(self._api, "GET", _object_path(manifests.daemon_set_manifest()))
        except NotFoundError:
            return CollectorState(tuple(self.schedulable_nodes()), (), {}, deployed=False)
        return self._observe_pods(self.schedulable_nodes())

    def _observe_pods(self, nodes: list[str]) -> CollectorState:
        pods_by_node = {pod.get("spec", {}).get("nodeName"): pod for pod in self._collector_pods()}
        ready, problems = [], {}
        for node in nodes:
            pod = pods_by_node.get(node)
            if pod is None:
                problems[node] = "no collector pod scheduled yet"
            elif _pod_ready(pod):
                ready.append(node)
            else:
                problems[node] = _pod_problem(pod)
        return CollectorState(tuple(nodes), tuple(ready), problems)

    # -- deploy --------------------------------------------------------------

    def deploy(
        self,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> CollectorState:
        """Create what is missing and wait for one ready agent per schedulable node.

        Raises DeployError naming the missing permission, or on timeout the
        nodes that did not come up and why; DeployCancelled after removing
        what was created when `cancel` is set.
        """
        cancel = cancel or threading.Event()
        created: list[dict[str, Any]] = []
        for manifest in manifests.all_manifests(self._settings):
            try:
                if self._create_if_missing(manifest):
                    created.append(manifest)
            except DeployError as error:
                raise DeployError(f"{error} {self._undo(created)}") from error
            if cancel.is_set():
                self._cancel()
        logger.info("Collector objects are in place; waiting for agents on every node.")

        deadline = time.monotonic() + timeout_s
        while True:
            state = self._observe_pods(self.schedulable_nodes())
            if progress is not None:
                progress(state)
            if state.complete:
                logger.info("Collector ready: %s.", state.summary)
                return state
            stuck = {n: p for n, p in state.problems.items() if p.split(":")[0] in STUCK_REASONS}
            if time.monotonic() >= deadline or (stuck and len(stuck) == len(state.problems)):
                raise DeployError(_timeout_message(state, timeout_s, stuck_only=bool(stuck)))
            if cancel.wait(POLL_INTERVAL_S):
                self._cancel()

    def _create_if_missing(self, manifest: dict[str, Any]) -> bool:
        """Create `manifest`'s object; False when it already existed (and was kept or updated)."""
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        try:
            rawapi.request_json(self._api, "POST", _COLLECTION_PATHS[kind], body=manifest)
            logger.info("Created %s %s.", kind, name)
            return True
        except ConflictError:
            if kind in ("ConfigMap", "DaemonSet"):
                # An older deploy may carry an older agent or settings.
                self._replace(manifest)
            else:
                logger.info("%s %s already exists; keeping it.", kind, name)
            return False
        except ForbiddenError as error:
            raise DeployError(_permission_message("create", kind, error)) from error

    def _undo(self, created: list[dict[str, Any]]) -> str:
        """Delete what this deploy created, newest first; says how that went, for the user."""
        if not created:
            return ""
        left = []
        for manifest in reversed(created):
            kind, name = manifest["kind"], manifest["metadata"]["name"]
            try:
                rawapi.request_json(self._api, "DELETE", _object_path(manifest))
                logger.info("Deleted %s %s, created by the failed deploy.", kind, name)
            except NotFoundError:
                continue
            except KubeError as error:
                logger.warning("Could not delete %s %s: %s", kind, name, error)
                left.append(f"{kind} {name}")
        if left:
            return (
                f"What this deploy created could not all be deleted ({', '.join(left)} "
                "remain); `netsight collector remove` deletes them."
            )
        return "What this deploy had created was deleted again."

    def _replace(self, manifest: dict[str, Any]) -> None:
        kind = manifest["kind"]
        try:
            rawapi.request_json(
                self._api,
                "PATCH",
                _object_path(manifest),
                body=manifest,
                content_type="application/merge-patch+json",
            )
            logger.info("Updated existing %s %s.", kind, manifest["metadata"]["name"])
        except ForbiddenError as error:
            raise DeployError(_permission_message("patch", kind, error)) from error

    def _cancel(self) -> None:
        logger.info("Deploy cancelled by the user; removing what it created.")
        self.remove()
        raise DeployCancelled("Deploy cancelled; every collector object was removed.")

    # -- remove --------------------------------------------------------------

    def remove(self, timeout_s: float = 60.0) -> None:
        """Delete every collector object, then wait until the namespace is gone."""
        for manifest in reversed(manifests.all_manifests(self._settings)):
            try:
                rawapi.request_json(self._api, "DELETE", _object_path(manifest))
                logger.info("Deleted %s %s.", manifest["kind"], manifest["metadata"]["name"])
            except NotFoundError:
                continue
            except ForbiddenError as error:
                raise DeployError(
                    _permission_message("delete", manifest["kind"], error).replace(
                        "deploying", "removing"
                    )
                ) from error

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                rawapi.request_json(self._api, "GET", _object_path(manifests.namespace_manifest()))
            except NotFoundError:
                return
            time.sleep(POLL_INTERVAL_S / 2)
        raise DeployError(
            f"Namespace {manifests.NAMESPACE} was asked to go but still exists after "
            f"{timeout_s:.0f} s; the cluster will finish deleting it on its own."
        )


def _pod_ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status", {})
    if status.get("phase") != "Running":
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", [])
    )


def _pod_problem(pod: dict[str, Any]) -> str:
    """Why a collector pod is not ready, in the kubelet's words where it gave any."""
    status = pod.get("status", {})
    for container in status.get("containerStatuses", []):
        state = container.get("state", {})
        for phase in ("waiting", "terminated"):
            if phase in state:
                reason = state[phase].get("reason") or phase
                message = state[phase].get("message")
                return f"{reason}: {message}" if message else reason
    for condition in status.get("conditions", []):
        if condition.get("status") == "False" and condition.get("reason"):
            message = condition.get("message") or condition["reason"]
            return f"{condition['reason']}: {message}"
    return status.get("phase", "Pending").lower()


def _timeout_message(state: CollectorState, timeout_s: float, stuck_only: bool) -> str:
    problems = "; ".join(f"{node}: {why}" for node, why in sorted(state.problems.items()))
    if stuck_only:
        head = "The collector cannot start on every node"
    else:
        head = f"The collector did not become ready on every node within {timeout_s:.0f} s"
    return (
        f"{head} ({state.summary}). {problems}. The collector stays deployed on the "
        "nodes where it runs; remove it or fix the problem and deploy again."
    )
