"""Read object dumps: `kubectl get -o json|yaml` lists and YAML streams.

`kind: List` (and typed lists such as `PodList`) in JSON or YAML, several
files merged, and multi-document YAML streams of single objects (manifests),
where a document may itself be a list. Bad input is a `LoadError` naming the
file and what is wrong with it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

import yaml

logger = logging.getLogger(__name__)

# libyaml's loader is ~10x faster on big dumps; fall back when it is missing.
_BASE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class JsonSafeLoader(_BASE_LOADER):  # type: ignore[misc, valid-type]
    """Safe YAML loading that keeps unquoted timestamps as strings.

    Kubernetes objects are JSON: `creationTimestamp: 2025-01-01T00:00:00Z`
    written by hand must stay the string the API would serve, not a datetime.
    """


JsonSafeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _BASE_LOADER.yaml_implicit_resolvers.items()
}


def load_yaml_documents(text: str) -> list[object]:
    """All documents of a YAML stream, as JSON-compatible data."""
    return list(yaml.load_all(text, Loader=JsonSafeLoader))  # noqa: S506 - a safe loader


class LoadError(ValueError):
    """A dump file that cannot be read or holds no Kubernetes objects."""


def _objects_in(document: object, source: str) -> list[dict]:
    if document is None:
        return []
    if not isinstance(document, dict):
        raise LoadError(
            f"{source}: expected a Kubernetes object or list, found {type(document).__name__}"
        )
    kind = str(document.get("kind") or "")
    if "items" in document and (kind == "List" or kind.endswith("List")):
        items = document.get("items")
        items = [] if items is None else items
        if not isinstance(items, list):
            raise LoadError(f"{source}: 'items' is not a list")
        item_kind = kind[: -len("List")] if kind != "List" else ""
        api_version = document.get("apiVersion")
        objects = []
        for item in items:
            if not isinstance(item, dict):
                raise LoadError(f"{source}: a list item is not an object")
            # Typed lists (PodList) may leave kind/apiVersion out of items.
            if item_kind and not item.get("kind"):
                item = {**item, "kind": item_kind}
            if api_version and not item.get("apiVersion"):
                item = {**item, "apiVersion": api_version}
            objects.extend(_objects_in(item, source))
        return objects
    if not document.get("kind") or not document.get("apiVersion"):
        raise LoadError(f"{source}: an object has no kind or apiVersion")
    if not (document.get("metadata") or {}).get("name"):
        raise LoadError(f"{source}: a {kind} has no metadata.name")
    return [document]


def parse_text(text: str, source: str = "<text>") -> list[dict]:
    """Objects in a JSON or YAML (stream) text."""
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise LoadError(f"{source}: not valid JSON: {error}") from None
        documents: Iterable[object] = document if isinstance(document, list) else [document]
    else:
        try:
            documents = load_yaml_documents(text)
        except yaml.YAMLError as error:
            raise LoadError(f"{source}: not valid YAML: {error}") from None
    objects: list[dict] = []
    for document in documents:
        objects.extend(_objects_in(document, source))
    return objects


def load_objects(paths: Iterable[str | Path]) -> list[dict]:
    """Objects of all files, in order; a later object replaces an earlier same one."""
    merged: dict[tuple[str, str, str, str], dict] = {}
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise LoadError(f"{path}: cannot read: {error}") from None
        objects = parse_text(text, str(path))
        if not objects:
            logger.warning("%s holds no Kubernetes objects.", path)
        for obj in objects:
            metadata = obj.get("metadata") or {}
            key = (
                str(obj.get("apiVersion")),
                str(obj.get("kind")),
                str(metadata.get("namespace") or ""),
                str(metadata.get("name")),
            )
            merged[key] = obj
        logger.debug("Loaded %d objects from %s.", len(objects), path)
    return list(merged.values())
