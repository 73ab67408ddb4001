"""The values that identity work produces and every later layer consumes.

They live apart from the code that computes them so that the store, the
topology and the UI can share them without importing the ownership logic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NewType

OwnerUid = NewType("OwnerUid", str)

# Kinds an owner of an IP can have.
POD = "Pod"
SERVICE = "Service"
NODE = "Node"
API_SERVER = "ApiServer"
# Kinds of an identity that no owner claims.
UNKNOWN_POD = "UnknownPod"
UNKNOWN_SERVICE = "UnknownService"
EXTERNAL = "External"


@dataclass(frozen=True, slots=True)
class Interval:
    """`owner_uid` owned `ip` (and, for hostNetwork pods, `port`) in [valid_from, valid_to).

    Times are epoch seconds; `valid_to` is None while the ownership lasts.
    """

    ip: str
    port: int | None
    owner_uid: OwnerUid
    valid_from: float
    valid_to: float | None = None


@dataclass(frozen=True, slots=True)
class Owner:
    """What is known of an object that owns IPs, as of its latest version."""

    uid: OwnerUid
    kind: str
    namespace: str | None
    name: str
    node: str | None = None
    workload_kind: str | None = None
    workload_name: str | None = None
    app: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    # Load-balancer ingress given only as a DNS name (no address is invented).
    hostnames: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Identity:
    """Who an IP was at one moment: an owner, or what is known of an unowned address."""

    ip: str
    kind: str
    namespace: str | None = None
    name: str | None = None
    uid: OwnerUid | None = None
    workload_kind: str | None = None
    workload_name: str | None = None
    app: str | None = None
    node: str | None = None
    tags: tuple[str, ...] = ()

    def describe(self) -> str:
        """A short phrase for people: `payments/checkout-x2kq`, "an unknown pod on node w-2"."""
        if self.kind == UNKNOWN_POD:
            return f"an unknown pod on node {self.node}" if self.node else "an unknown pod"
        if self.kind == UNKNOWN_SERVICE:
            return "an unknown service address"
        if self.kind == EXTERNAL:
            return f"external ({', '.join(self.tags)})" if self.tags else "external"
        if self.namespace:
            return f"{self.namespace}/{self.name}"
        return self.name or self.ip
