"""Turn an API path into what it addresses: resource, namespace, name, subresource.

Paths look like `/api/v1/pods`, `/api/v1/namespaces/N/pods/NAME/status`,
`/apis/apps/v1/namespaces/N/daemonsets`, `/api/v1/nodes/NAME`, and the old
`/api/v1/watch/...` form. `namespaces/NAME` is the Namespace object itself
unless a resource follows it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import unquote

from netsight.sim import status
from netsight.sim.resources import Resource, ResourceRegistry

logger = logging.getLogger(__name__)

# Subresources of a Namespace that are not a resource inside it.
_NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass(frozen=True)
class Target:
    """What a resource path names."""

    resource: Resource
    namespace: str | None  # None: all namespaces (or a cluster-scoped kind)
    name: str | None
    subresource: str | None  # "status", "proxy", ...
    subpath: str  # what follows "proxy/" (without leading slash)
    watch_path: bool  # the deprecated /watch/ form


@dataclass(frozen=True)
class Discovery:
    """A discovery path: kind is "api", "apis", "group" or "groupversion"."""

    kind: str
    group: str = ""
    version: str = ""


def parse(path: str, registry: ResourceRegistry) -> Target | Discovery | None:
    """What path addresses, None when it is not an API path at all.

    Raises ApiError 404 for an API path naming an unknown resource.
    """
    parts = [unquote(p) for p in path.strip("/").split("/")]
    if parts[:1] == ["api"]:
        if len(parts) == 1:
            return Discovery("api")
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"]:
        if len(parts) == 1:
            return Discovery("apis")
        if len(parts) == 2:
            return Discovery("group", parts[1])
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return Discovery("groupversion", group, version)

    watch_path = rest[0] == "watch"
    if watch_path:
        rest = rest[1:]
    namespace: str | None = None
    if (
        len(rest) >= 3
        and rest[0] == "namespaces"
        and not (len(rest) == 3 and rest[2] in _NAMESPACE_SUBRESOURCES)
    ):
        namespace, rest = rest[1], rest[2:]
    if not rest:
        raise status.ApiError(404, "NotFound", "the server could not find the requested resource")
    plural, name = rest[0], rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    subpath = "/".join(rest[3:]) if len(rest) > 3 else ""
    resource = registry.by_path(group, version, plural)
    if resource is None:
        raise status.ApiError(404, "NotFound", "the server could not find the requested resource")
    if namespace is not None and not resource.namespaced:
        raise status.ApiError(404, "NotFound", "the server could not find the requested resource")
    if name is not None and resource.namespaced and namespace is None:
        raise status.ApiError(404, "NotFound", "the server could not find the requested resource")
    return Target(resource, namespace, name, subresource, subpath, watch_path)
