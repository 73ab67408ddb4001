"""Helpers for kube tests: kubeconfig files on disk, scripts, closed ports."""

from __future__ import annotations

import socket
import stat
from pathlib import Path
from typing import Any

import yaml


def write_yaml(path: Path, doc: Any) -> Path:
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def write_script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def kubeconfig(
    contexts: list[tuple[str, str, str, str | None]],
    clusters: dict[str, dict],
    users: dict[str, dict],
    current: str | None = None,
) -> dict:
    """A kubeconfig doc; contexts are (name, cluster, user, namespace)."""
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": c} for n, c in clusters.items()],
        "users": [{"name": n, "user": u} for n, u in users.items()],
        "contexts": [
            {"name": n, "context": {"cluster": c, "user": u, **({"namespace": ns} if ns else {})}}
            for n, c, u, ns in contexts
        ],
    }
    if current:
        doc["current-context"] = current
    return doc


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
