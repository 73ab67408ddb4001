"""Controllers of the simulated cluster: DaemonSet pods and deletion cascades.

Deploying the collector creates a DaemonSet and waits for its pods, so the
simulation runs a DaemonSet controller: one pod per eligible node (node
selector and taints against tolerations, roughly as the scheduler checks
them), with a pod IP from the node's podCIDR that no live pod uses, Running
and Ready at once. Deleting through the API cascades: objects whose owner
reference names the deleted uid go too, and so does everything in a deleted
namespace.

What the controllers act on:
- DaemonSets written through the API (create/update/patch). DaemonSets that
  come from a dump or from `apply()` are history to replay as given: their
  pods are whatever the dump or timeline says.
- Node changes of any origin (a node joining gets a pod of each managed
  DaemonSet), pod deletions of managed pods (the pod comes back).
- Cascading deletion only for deletes through the API.
"""

from __future__ import annotations

import copy
import ipaddress
import logging
import secrets
import string
import threading

from netsight.sim import status
from netsight.sim.objects import Event, ObjectStore, iso_time, meta
from netsight.sim.resources import Resource, ResourceRegistry

logger = logging.getLogger(__name__)

# Taints the real DaemonSet controller tolerates on every DaemonSet pod.
DAEMON_TOLERATED_KEYS = frozenset(
    {
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
        "node.kubernetes.io/disk-pressure",
        "node.kubernetes.io/memory-pressure",
        "node.kubernetes.io/pid-pressure",
        "node.kubernetes.io/unschedulable",
        "node.kubernetes.io/network-unavailable",
    }
)
# Taint effects that keep a pod off a node.
BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")
FINISHED_PHASES = ("Succeeded", "Failed")
TEMPLATE_GENERATION_LABEL = "pod-template-generation"


def _suffix(length: int = 5) -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def tolerates(tolerations: list[dict], taint: dict) -> bool:
    """Whether a pod with these tolerations may run on a node with this taint."""
    if taint.get("effect") not in BLOCKING_EFFECTS:
        return True
    if taint.get("key") in DAEMON_TOLERATED_KEYS:
        return True
    for toleration in tolerations:
        if toleration.get("effect") and toleration.get("effect") != taint.get("effect"):
            continue
        if toleration.get("operator") == "Exists":
            if not toleration.get("key") or toleration.get("key") == taint.get("key"):
                return True
        elif toleration.get("key") == taint.get("key") and str(
            toleration.get("value") or ""
        ) == str(taint.get("value") or ""):
            return True
    return False


def node_eligible(pod_spec: dict, node: dict) -> bool:
    labels = meta(node).get("labels") or {}
    for key, value in (pod_spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    tolerations = pod_spec.get("tolerations") or []
    return all(tolerates(tolerations, t) for t in (node.get("spec") or {}).get("taints") or [])


def node_address(node: dict, kind: str = "InternalIP") -> str | None:
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == kind:
            return str(address.get("address"))
    return None


class Controllers:
    """Reacts to store events: DaemonSet pods, garbage collection, namespaces."""

    def __init__(self, store: ObjectStore, registry: ResourceRegistry) -> None:
        self.store = store
        self.registry = registry
        self._lock = threading.RLock()
        self._managed: dict[str, tuple[str, str]] = {}  # DS uid -> (namespace, name)
        self._busy = threading.local()

    def _resource(self, group: str, version: str, plural: str) -> Resource:
        resource = self.registry.by_path(group, version, plural)
        assert resource is not None
        return resource

    @property
    def pods(self) -> Resource:
        return self._resource("", "v1", "pods")

    @property
    def daemonsets(self) -> Resource:
        return self._resource("apps", "v1", "daemonsets")

    def on_event(self, event: Event) -> None:
        kind = event.resource.kind
        if event.type == "DELETED":
            self._on_delete(event)
        if getattr(self._busy, "active", False):
            return
        if kind == "DaemonSet" and event.type != "DELETED" and event.origin == "api":
            uid = str(meta(event.obj).get("uid"))
            with self._lock:
                self._managed[uid] = (
                    str(meta(event.obj).get("namespace")),
                    meta(event.obj)["name"],
                )
            self.reconcile(uid)
        elif kind == "Node":
            for uid in list(self._managed):
                self.reconcile(uid)
        elif kind == "Pod" and event.type == "DELETED":
            for owner in meta(event.obj).get("ownerReferences") or []:
                if owner.get("uid") in self._managed:
                    self.reconcile(str(owner.get("uid")))

    # -- deletion ------------------------------------------------------------------

    def _on_delete(self, event: Event) -> None:
        uid = str(meta(event.obj).get("uid"))
        if event.resource.kind == "DaemonSet":
            with self._lock:
                managed = self._managed.pop(uid, None)
            if managed is not None:
                self._delete_dependents(uid, [self.pods])
                return
        if event.origin != "api":
            return
        if event.resource.kind == "Namespace":
            self._delete_namespace_contents(str(meta(event.obj).get("name")))
        else:
            self._delete_dependents(uid, self.registry.all())

    def _delete_quietly(self, resource: Resource, namespace: str, name: str) -> None:
        try:
            self.store.delete(resource, namespace, name)
        except status.ApiError as error:
            if error.code != 404:
                raise

    def _delete_dependents(self, owner_uid: str, resources: list[Resource]) -> None:
        for resource in resources:
            for obj in self.store.objects(resource):
                owners = meta(obj).get("ownerReferences") or []
                if any(o.get("uid") == owner_uid for o in owners):
                    logger.debug(
                        "Deleting %s %s: its owner %s is gone.",
                        resource.kind,
                        meta(obj).get("name"),
                        owner_uid,
                    )
                    self._delete_quietly(
                        resource, str(meta(obj).get("namespace") or ""), str(meta(obj).get("name"))
                    )

    def _delete_namespace_contents(self, namespace: str) -> None:
        logger.info("Namespace %s deleted; deleting the objects in it.", namespace)
        for resource in self.registry.all():
            if not resource.namespaced:
                continue
            for obj in self.store.objects(resource, namespace):
                self._delete_quietly(resource, namespace, str(meta(obj).get("name")))

    # -- DaemonSets ------------------------------------------------------------------

    def reconcile(self, ds_uid: str) -> None:
        """Make the pods of one managed DaemonSet match the eligible nodes."""
        with self._lock:
            where = self._managed.get(ds_uid)
            if where is None:
                return
            ds = self.store.get(self.daemonsets, *where)
            if ds is None or meta(ds).get("uid") != ds_uid:
                self._managed.pop(ds_uid, None)
                return
            self._busy.active = True
            try:
                self._reconcile(ds)
            finally:
                self._busy.active = False

    def _reconcile(self, ds: dict) -> None:
        namespace = str(meta(ds).get("namespace"))
        uid = meta(ds).get("uid")
        generation = str(meta(ds).get("generation") or 1)
        template = ((ds.get("spec") or {}).get("template")) or {}
        pod_spec = template.get("spec") or {}
        nodes = {meta(n)["name"]: n for n in self.store.objects(self._resource("", "v1", "nodes"))}
        eligible = {name for name, node in nodes.items() if node_eligible(pod_spec, node)}

        # Pods of this DaemonSet by node; stale (old template, ineligible node) ones go.
        owned: dict[str, dict] = {}
        for pod in self.store.objects(self.pods, namespace):
            if not any(o.get("uid") == uid for o in meta(pod).get("ownerReferences") or []):
                continue
            node = str((pod.get("spec") or {}).get("nodeName") or "")
            labels = meta(pod).get("labels") or {}
            current = labels.get(TEMPLATE_GENERATION_LABEL) == generation
            if node in eligible and node not in owned and current:
                owned[node] = pod
            else:
                self._delete_quietly(self.pods, namespace, meta(pod)["name"])

        missing = sorted(eligible - set(owned))
        used = self._used_ips() if missing else set()
        for node_name in missing:
            owned[node_name] = self._create_pod(ds, nodes[node_name], generation, used)
        self._write_status(ds, len(eligible), owned)

    def _create_pod(self, ds: dict, node: dict, generation: str, used: set[str]) -> dict:
        template = copy.deepcopy(((ds.get("spec") or {}).get("template")) or {})
        spec = template.get("spec") or {}
        ds_meta = meta(ds)
        node_name = meta(node)["name"]
        now = iso_time(self.store.clock())
        labels = dict((template.get("metadata") or {}).get("labels") or {})
        labels[TEMPLATE_GENERATION_LABEL] = generation
        host_ip = node_address(node)
        pod_ip = host_ip if spec.get("hostNetwork") else self._free_ip(node, used)
        if pod_ip:
            used.add(pod_ip)
        spec["nodeName"] = node_name
        spec.setdefault("serviceAccountName", "default")
        containers = spec.get("containers") or []
        pod: dict = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{ds_meta['name']}-{_suffix()}",
                "namespace": ds_meta.get("namespace"),
                "labels": labels,
                "annotations": dict((template.get("metadata") or {}).get("annotations") or {}),
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "DaemonSet",
                        "name": ds_meta["name"],
                        "uid": ds_meta.get("uid"),
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": spec,
            "status": {
                "phase": "Running",
                "conditions": [
                    {"type": t, "status": "True", "lastTransitionTime": now}
                    for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
                ],
                "hostIP": host_ip,
                "startTime": now,
                "qosClass": "Burstable",
                "containerStatuses": [
                    {
                        "name": c.get("name"),
                        "image": c.get("image"),
                        "imageID": "",
                        "containerID": f"containerd://{secrets.token_hex(32)}",
                        "ready": True,
                        "started": True,
                        "restartCount": 0,
                        "state": {"running": {"startedAt": now}},
                    }
                    for c in containers
                ],
            },
        }
        if host_ip:
            pod["status"]["hostIPs"] = [{"ip": host_ip}]
        if pod_ip:
            pod["status"]["podIP"] = pod_ip
            pod["status"]["podIPs"] = [{"ip": pod_ip}]
        else:
            logger.warning(
                "Node %s has no podCIDR; pod of DaemonSet %s/%s runs without a pod IP.",
                node_name,
                ds_meta.get("namespace"),
                ds_meta["name"],
            )
        created = self.store.create(self.pods, pod)
        logger.info(
            "DaemonSet %s/%s: pod %s on node %s (%s).",
            ds_meta.get("namespace"),
            ds_meta["name"],
            created["metadata"]["name"],
            node_name,
            pod_ip,
        )
        return created

    def _used_ips(self) -> set[str]:
        """Pod IPs held by live pods (finished pods have given theirs back)."""
        used: set[str] = set()
        for pod in self.store.objects(self.pods):
            pod_status = pod.get("status") or {}
            if pod_status.get("phase") in FINISHED_PHASES:
                continue
            for entry in pod_status.get("podIPs") or []:
                used.add(str(entry.get("ip")))
            if pod_status.get("podIP"):
                used.add(str(pod_status["podIP"]))
        return used

    def _free_ip(self, node: dict, used: set[str]) -> str | None:
        spec = node.get("spec") or {}
        cidrs = list(spec.get("podCIDRs") or [])
        if not cidrs and spec.get("podCIDR"):
            cidrs = [spec["podCIDR"]]
        if not cidrs:
            return None
        network = ipaddress.ip_network(str(cidrs[0]), strict=False)
        for index, address in enumerate(network.hosts()):
            if index == 0:
                continue  # the first address is the node's bridge/gateway
            if str(address) not in used:
                return str(address)
        logger.warning("podCIDR %s of node %s is full.", cidrs[0], meta(node).get("name"))
        return None

    def _write_status(self, ds: dict, desired: int, pods: dict[str, dict]) -> None:
        ready = sum(1 for p in pods.values() if (p.get("status") or {}).get("phase") == "Running")
        generation = meta(ds).get("generation") or 1
        new_status = {
            "currentNumberScheduled": len(pods),
            "desiredNumberScheduled": desired,
            "numberMisscheduled": 0,
            "numberReady": ready,
            "numberAvailable": ready,
            "updatedNumberScheduled": len(pods),
            "observedGeneration": generation,
        }
        current = self.store.get(self.daemonsets, str(meta(ds).get("namespace")), meta(ds)["name"])
        if current is None or current.get("status") == new_status:
            return
        updated = copy.deepcopy(current)
        updated["status"] = new_status
        self.store.apply("MODIFIED", updated)
