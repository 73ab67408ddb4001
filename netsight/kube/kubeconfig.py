"""Read and merge kubeconfig files the way kubectl does, one file's failure at a time.

The official client's merger stops at the first unreadable file and lets the
*last* file's current-context win; kubectl lets the *first* file that sets a
value win and skips missing files in `KUBECONFIG`. We want kubectl's answer,
and we want a broken file to cost only its own contexts, so the merge lives
here. Each merged entry remembers the file it came from, because relative
paths in it (certificates, token files, plugin commands) are relative to that
file.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import yaml

from netsight.kube.errors import truncate

logger = logging.getLogger(__name__)

DEFAULT_KUBECONFIG = os.path.join("~", ".kube", "config")
_SECTIONS = {"clusters": "cluster", "contexts": "context", "users": "user"}


@dataclass(frozen=True, slots=True)
class Entry:
    """One named cluster, user or context, and the file that defined it."""

    name: str
    value: dict[str, Any]
    source: str


@dataclass(slots=True)
class MergedConfig:
    """All kubeconfig files merged; `file_errors` maps a file to why it was skipped."""

    files: list[str] = field(default_factory=list)
    file_errors: dict[str, str] = field(default_factory=dict)
    current_context: str | None = None
    clusters: dict[str, Entry] = field(default_factory=dict)
    users: dict[str, Entry] = field(default_factory=dict)
    contexts: dict[str, Entry] = field(default_factory=dict)
    # Entries that exist by name but whose body is not a mapping: name -> problem.
    broken_contexts: dict[str, tuple[str, str]] = field(default_factory=dict)


def kubeconfig_paths(kubeconfig: str | None) -> tuple[list[str], bool]:
    """The files to read, and whether they were named explicitly (missing is then an error).

    An explicit path (`--kubeconfig`) wins; else `KUBECONFIG` (a PATH-style list);
    else `~/.kube/config`.
    """
    if kubeconfig:
        return [os.path.expanduser(kubeconfig)], True
    env = os.environ.get("KUBECONFIG", "")
    if env.strip():
        paths: list[str] = []
        for part in env.split(os.pathsep):
            path = os.path.expanduser(part.strip())
            if path and path not in paths:
                paths.append(path)
        return paths, False
    return [os.path.expanduser(DEFAULT_KUBECONFIG)], False


def load_merged(kubeconfig: str | None) -> MergedConfig:
    """Read every kubeconfig file and merge them; never raises for a bad file."""
    paths, explicit = kubeconfig_paths(kubeconfig)
    merged = MergedConfig()
    for path in paths:
        if not explicit and not os.path.exists(path):
            # kubectl silently skips missing files in KUBECONFIG.
            logger.debug("Kubeconfig file %s does not exist; skipping it.", path)
            continue
        doc, error = _read(path)
        if error is not None:
            logger.warning("Skipping kubeconfig file %s: %s", path, error)
            merged.file_errors[path] = error
            continue
        merged.files.append(path)
        _merge_into(merged, doc or {}, path)
    return merged


def _read(path: str) -> tuple[dict[str, Any] | None, str | None]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return None, f"kubeconfig file {path} does not exist"
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"cannot read kubeconfig file {path}: {exc.__class__.__name__}: {exc}"
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return None, f"kubeconfig file {path} is not valid YAML: {truncate(str(exc), 200)}"
    if doc is None:
        return {}, None
    if not isinstance(doc, dict):
        return None, f"kubeconfig file {path} is not a kubeconfig (top level is not a mapping)"
    return doc, None


def _merge_into(merged: MergedConfig, doc: dict[str, Any], path: str) -> None:
    # The first file that names an entry (or the current context) wins.
    current = doc.get("current-context")
    if merged.current_context is None and isinstance(current, str) and current:
        merged.current_context = current

    for section, body_key in _SECTIONS.items():
        items = doc.get(section) or []
        if not isinstance(items, list):
            merged.file_errors.setdefault(path, f"{section} in {path} is not a list; ignored")
            continue
        target: dict[str, Entry] = getattr(merged, section)
        for item in items:
            name = item.get("name") if isinstance(item, dict) else None
            if not isinstance(name, str) or not name:
                logger.warning("Ignoring an unnamed entry in %s of kubeconfig %s.", section, path)
                continue
            if name in target or (section == "contexts" and name in merged.broken_contexts):
                continue
            body = item.get(body_key)
            if not isinstance(body, dict):
                if section == "contexts":
                    problem = f"context {name} in {path} has no '{body_key}' mapping"
                    merged.broken_contexts[name] = (problem, path)
                else:
                    logger.warning(
                        "Ignoring %s %s in %s: no '%s' mapping.", body_key, name, path, body_key
                    )
                continue
            target[name] = Entry(name, body, path)
