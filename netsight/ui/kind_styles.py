"""Symbol, colour and size per kind, shared by the graph view and its legend.

Kept apart from the view so the legend (built with the window) does not pull
in pyqtgraph: that import costs a quarter of a second and waits until the
topology view is first built, after the window is on screen.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

# Symbol (pyqtgraph's names), fill colour and pixel size per kind. Anything
# unlisted is drawn as a pod.
KIND_STYLE: dict[str, tuple[str, str, float]] = {
    "Pod": ("o", "#3b82c4", 9),
    "UnknownPod": ("o", "#a0aab4", 8),
    "Workload": ("s", "#2a9d8f", 12),
    "Deployment": ("s", "#2a9d8f", 12),
    "StatefulSet": ("s", "#1f7a8c", 12),
    "DaemonSet": ("s", "#5a8f29", 12),
    "Job": ("s", "#8d6cab", 11),
    "CronJob": ("s", "#8d6cab", 11),
    "ReplicaSet": ("s", "#2a9d8f", 11),
    "Service": ("d", "#7b5ea7", 12),
    "UnknownService": ("d", "#a0aab4", 10),
    "App": ("h", "#e07a1f", 16),
    "Application": ("h", "#e07a1f", 16),
    "Namespace": ("p", "#d4a017", 18),
    "Node": ("t", "#6c757d", 13),
    "ApiServer": ("star", "#343a40", 14),
    "External": ("star", "#d1495b", 14),
    "ExternalGroup": ("star", "#d1495b", 18),
    "Group": ("h", "#9c6644", 18),
}


def style_for(kind: str) -> tuple[str, str, float]:
    return KIND_STYLE.get(kind, KIND_STYLE["Pod"])
