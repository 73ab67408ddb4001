"""Patch documents the simulated API server accepts: merge patch and JSON patch.

Strategic merge patch (kubectl's default for built-in kinds) is applied as a
JSON merge patch: lists are replaced rather than merged by key. That is close
enough for what NetSight and its tests send; say so if a test needs more.
"""

from __future__ import annotations

import copy
import logging

from netsight.sim import status

logger = logging.getLogger(__name__)

MERGE_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json")
JSON_PATCH_TYPE = "application/json-patch+json"


def merge_patch(target: object, patch: object) -> object:
    """RFC 7386: objects merge recursively, null removes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise status.bad_request(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: object, parts: list[str]) -> object:
    node = doc
    for part in parts[:-1]:
        if isinstance(node, list):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise status.ApiError(422, "Invalid", f"JSON patch path /{'/'.join(parts)} missing")
    return node


def json_patch(target: dict, operations: object) -> dict:
    """RFC 6902 add, remove, replace and test (enough for clients we know)."""
    if not isinstance(operations, list):
        raise status.bad_request("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, dict):
            raise status.bad_request("a JSON patch operation must be an object")
        op = operation.get("op")
        parts = _pointer(str(operation.get("path", "")))
        if not parts:
            raise status.bad_request("JSON patch on the whole object is not supported")
        parent = _parent(doc, parts)
        last = parts[-1]
        try:
            if op in ("add", "replace"):
                value = copy.deepcopy(operation.get("value"))
                if isinstance(parent, list):
                    index = len(parent) if last == "-" else int(last)
                    if op == "add":
                        parent.insert(index, value)
                    else:
                        parent[index] = value
                elif isinstance(parent, dict):
                    if op == "replace" and last not in parent:
                        raise KeyError(last)
                    parent[last] = value
            elif op == "remove":
                if isinstance(parent, list):
                    del parent[int(last)]
                elif isinstance(parent, dict):
                    del parent[last]
            elif op == "test":
                current = parent[int(last)] if isinstance(parent, list) else parent[last]  # type: ignore[index]
                if current != operation.get("value"):
                    raise status.ApiError(422, "Invalid", f"JSON patch test failed at {parts}")
            else:
                raise status.bad_request(f"unsupported JSON patch operation {op!r}")
        except (KeyError, IndexError, ValueError) as error:
            raise status.ApiError(
                422, "Invalid", f"JSON patch {op} at /{'/'.join(parts)} failed: {error}"
            ) from None
    return doc
