"""Discovery documents: how kubectl and the client learn what the server serves.

`/api` and `/apis` list groups and versions; `/api/v1` and
`/apis/<group>/<version>` list resources with their kind, scope, verbs and
short names (so `kubectl get po` works). Newer kubectl first asks for the
aggregated discovery format and falls back to these plain documents.
"""

from __future__ import annotations

import logging

from netsight.sim import status
from netsight.sim.resources import ResourceRegistry
from netsight.sim.routing import Discovery

logger = logging.getLogger(__name__)

# What `/version` reports: a recent Kubernetes minor that kubectl accepts
# without skew warnings.
SIM_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-netsight-sim",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}


NOT_FOUND_MESSAGE = "the server could not find the requested resource"


def version_document() -> dict:
    return dict(SIM_VERSION)


def _group_entry(name: str, versions: list[str]) -> dict:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def discovery_document(target: Discovery, registry: ResourceRegistry) -> dict:
    groups = registry.group_versions()
    if target.kind == "api":
        return {
            "kind": "APIVersions",
            "versions": groups.get("", ["v1"]),
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
        }
    if target.kind == "apis":
        named = [_group_entry(name, versions) for name, versions in sorted(groups.items()) if name]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": named}
    if target.kind == "group":
        if target.group not in groups or not target.group:
            raise status.ApiError(
                404, "NotFound", "the server could not find the requested resource"
            )
        entry = _group_entry(target.group, groups[target.group])
        return {"kind": "APIGroup", "apiVersion": "v1", **entry}
    resources = registry.in_group_version(target.group, target.version)
    if not resources:
        raise status.ApiError(404, "NotFound", NOT_FOUND_MESSAGE)
    group_version = f"{target.group}/{target.version}" if target.group else target.version
    entries = []
    for resource in sorted(resources, key=lambda r: r.plural):
        entries.append(resource.discovery())
        entries.append(
            {
                "name": f"{resource.plural}/status",
                "singularName": "",
                "namespaced": resource.namespaced,
                "kind": resource.kind,
                "verbs": ["get", "patch", "update"],
            }
        )
        if resource.plural == "pods":
            entries.append(
                {
                    "name": "pods/proxy",
                    "singularName": "",
                    "namespaced": True,
                    "kind": "PodProxyOptions",
                    "verbs": ["get"],
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": entries,
    }
