"""Owner chains: which workload a pod belongs to.

People name pods by their workload (Deployment `checkout`, CronJob
`report`), but a pod's ownerReference points one step down the chain (a
ReplicaSet, a Job). The chain is followed through the controllers the
informers have seen; a ReplicaSet or Job whose parent is unknown stands for
itself, and a pod owned by its Node (a static pod) or by nothing is bare.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger(__name__)

WORKLOAD_KINDS = frozenset(
    {"ReplicaSet", "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}
)
# Kinds whose controller is followed one more step (ReplicaSet -> Deployment,
# Job -> CronJob); every other workload is the end of the chain.
_PARENT_KIND = {"ReplicaSet": "Deployment", "Job": "CronJob"}
# An ownerReference to these kinds does not make a workload: a mirror pod of
# a static pod is owned by its Node.
_NOT_WORKLOADS = frozenset({"Node"})


class Ref:
    """An ownerReference, reduced to what the chain needs."""

    __slots__ = ("kind", "name", "uid")

    def __init__(self, kind: str, name: str, uid: str) -> None:
        self.kind = kind
        self.name = name
        self.uid = uid

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ref) and (self.kind, self.name, self.uid) == (
            other.kind,
            other.name,
            other.uid,
        )

    def __hash__(self) -> int:
        return hash((self.kind, self.name, self.uid))


class Workload:
    """The latest version of a workload object, as far as chains need it."""

    __slots__ = ("kind", "namespace", "name", "controller", "labels", "annotations")

    def __init__(
        self,
        kind: str,
        namespace: str | None,
        name: str,
        controller: Ref | None,
        labels: Mapping[str, str],
        annotations: Mapping[str, str],
    ) -> None:
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.controller = controller
        self.labels = labels
        self.annotations = annotations

    def same_as(self, other: Workload) -> bool:
        return (
            self.controller == other.controller
            and self.labels == other.labels
            and self.annotations == other.annotations
            and self.name == other.name
        )


def controller_of(meta: Mapping[str, Any]) -> Ref | None:
    """The ownerReference that controls an object: the one marked controller,
    else the first that names a workload kind."""
    refs = meta.get("ownerReferences")
    if not refs:
        return None
    chosen = None
    for ref in refs:
        if ref.get("controller"):
            chosen = ref
            break
    if chosen is None:
        chosen = next((r for r in refs if r.get("kind") in WORKLOAD_KINDS), None)
    if chosen is None or not chosen.get("kind") or not chosen.get("name"):
        return None
    return Ref(chosen["kind"], chosen["name"], chosen.get("uid") or "")


class WorkloadIndex:
    """Workload objects by uid, to walk owner chains."""

    def __init__(self) -> None:
        self._by_uid: dict[str, Workload] = {}

    def apply(self, kind: str, event_type: str, obj: Mapping[str, Any]) -> bool:
        """Take a workload event; True if anything a chain reads changed."""
        meta = obj.get("metadata") or {}
        uid = meta.get("uid")
        if not uid:
            return False
        if event_type == "DELETED":
            # NB: a deleted ReplicaSet still names the workload of the pods it
            # had, which history keeps; so it stays.
            return False
        new = Workload(
            kind,
            meta.get("namespace"),
            meta.get("name") or "",
            controller_of(meta),
            meta.get("labels") or {},
            meta.get("annotations") or {},
        )
        old = self._by_uid.get(uid)
        self._by_uid[uid] = new
        return old is None or not old.same_as(new)

    def get(self, uid: str) -> Workload | None:
        return self._by_uid.get(uid)

    def workload_of(self, ref: Ref | None) -> tuple[str | None, str | None]:
        """(kind, name) of the workload at the top of a pod's chain."""
        if ref is None or ref.kind in _NOT_WORKLOADS:
            return None, None
        parent_kind = _PARENT_KIND.get(ref.kind)
        if parent_kind is not None:
            known = self._by_uid.get(ref.uid)
            if known is not None and known.controller is not None:
                if known.controller.kind == parent_kind:
                    return parent_kind, known.controller.name
        return ref.kind, ref.name

    def chain(self, ref: Ref | None, namespace: str | None) -> list[Workload]:
        """The workloads above an object, nearest first (unknown ones named only)."""
        found: list[Workload] = []
        seen: set[str] = set()
        while ref is not None and ref.kind not in _NOT_WORKLOADS and ref.uid not in seen:
            seen.add(ref.uid)
            known = self._by_uid.get(ref.uid)
            if known is None:
                found.append(Workload(ref.kind, namespace, ref.name, None, {}, {}))
                break
            found.append(known)
            ref = known.controller
        return found

    def __len__(self) -> int:
        return len(self._by_uid)
