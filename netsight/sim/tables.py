"""Server-side printing: the `Table` form kubectl asks for when it prints `get`.

kubectl sends `Accept: application/json;as=Table;...` and prints the columns
the server chooses. Pods get kubectl's familiar columns; other kinds get
name and age (kubectl adds NAMESPACE itself from each row's metadata).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from netsight.sim.resources import Resource

logger = logging.getLogger(__name__)


def wants_table(accept: str | None) -> bool:
    return bool(accept) and "as=Table" in (accept or "")


def _age(timestamp: str | None) -> str:
    if not timestamp:
        return "<unknown>"
    try:
        created = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").timestamp()
    except ValueError:
        return "<unknown>"
    seconds = max(0, int(time.time() - created))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _pod_cells(obj: dict) -> list:
    statuses = (obj.get("status") or {}).get("containerStatuses") or []
    containers = (obj.get("spec") or {}).get("containers") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(int(s.get("restartCount") or 0) for s in statuses)
    phase = (obj.get("status") or {}).get("phase") or "Unknown"
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        phase = "Terminating"
    return [
        f"{ready}/{len(containers) or len(statuses)}",
        phase,
        restarts,
        _age((obj.get("metadata") or {}).get("creationTimestamp")),
        (obj.get("status") or {}).get("podIP") or "<none>",
        (obj.get("spec") or {}).get("nodeName") or "<none>",
    ]


def table_for(
    resource: Resource,
    objects: list[dict],
    rv: int,
    token: str | None = None,
    remaining: int | None = None,
) -> dict:
    name_col = {
        "name": "Name",
        "type": "string",
        "format": "name",
        "description": "",
        "priority": 0,
    }
    if resource.plural == "pods":
        extra = [
            ("Ready", "string"),
            ("Status", "string"),
            ("Restarts", "integer"),
            ("Age", "string"),
            ("IP", "string"),
            ("Node", "string"),
        ]
    else:
        extra = [("Age", "string")]
    columns = [name_col] + [
        {"name": n, "type": t, "format": "", "description": "", "priority": 0} for n, t in extra
    ]
    rows = []
    for obj in objects:
        metadata = obj.get("metadata") or {}
        if resource.plural == "pods":
            cells = [metadata.get("name"), *_pod_cells(obj)]
        else:
            cells = [metadata.get("name"), _age(metadata.get("creationTimestamp"))]
        rows.append(
            {
                "cells": cells,
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": metadata,
                },
            }
        )
    list_meta: dict[str, object] = {"resourceVersion": str(rv)}
    if token:
        list_meta["continue"] = token
        list_meta["remainingItemCount"] = remaining
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": columns,
        "rows": rows,
    }
