"""The status bar: is the API reachable, is the collector running, how much flows in.

The live session produces an immutable SessionStatus a few times a second at
most; the status bar only renders it, with the reasons behind each state in
tooltips so that the bar stays short.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from netsight.ui.connection_model import human_bytes

logger = logging.getLogger(__name__)

API_CONNECTING = "connecting"
API_CONNECTED = "connected"
API_RECONNECTING = "reconnecting"
API_OFFLINE = "offline"  # a saved database with no cluster behind it

_API_COLOURS = {
    API_CONNECTED: "#2e7d32",
    API_CONNECTING: "#8a6d00",
    API_RECONNECTING: "#b26a00",
    API_OFFLINE: "#6c757d",
}


@dataclass(frozen=True, slots=True)
class SessionStatus:
    """What the live session knows about its cluster and database right now."""

    context: str = ""
    api_state: str = API_CONNECTING
    api_reason: str = ""
    forbidden_kinds: dict[str, str] = field(default_factory=dict)
    collector_nodes: int = 0
    collector_ready: int = 0
    collector_deployed: bool = False
    collector_problems: dict[str, str] = field(default_factory=dict)
    flows_per_s: float = 0.0
    db_bytes: int = 0
    dropped_records: int = 0


def _dot(colour: str) -> str:
    return f"<span style='color:{colour}'>●</span>"


class StatusPanel:
    """Owns the permanent widgets of a QStatusBar and keeps them in step with SessionStatus."""

    def __init__(self, bar: QStatusBar) -> None:
        self.api = QLabel()
        self.collector = QLabel()
        self.flows = QLabel()
        self.db = QLabel()
        self.dropped = QLabel()
        widgets: list[QWidget] = [self.api, self.collector, self.flows, self.db, self.dropped]
        for widget in widgets:
            widget.setContentsMargins(8, 0, 8, 0)
            bar.addPermanentWidget(widget)
        self.show(SessionStatus(api_state=API_OFFLINE))

    def show(self, status: SessionStatus) -> None:
        # API: its state, plus a warning when some kinds cannot be watched.
        state = status.api_state
        text = f"{_dot(_API_COLOURS.get(state, '#6c757d'))} API {state}"
        tip = status.api_reason or f"Kubernetes API of {status.context or 'no context'}: {state}"
        if status.forbidden_kinds:
            text += " · forbidden for some kinds"
            tip += f"\n\nNot watched ({len(status.forbidden_kinds)} kinds):\n" + "\n".join(
                f"• {kind}: {reason}" for kind, reason in sorted(status.forbidden_kinds.items())
            )
        self.api.setText(text)
        self.api.setToolTip(tip)

        # Collector: ready agents over schedulable nodes.
        if not status.collector_deployed:
            self.collector.setText("Collector not deployed")
            self.collector.setToolTip("Use Cluster → Deploy collector to start collecting.")
        else:
            colour = "#2e7d32" if status.collector_ready == status.collector_nodes else "#b26a00"
            self.collector.setText(
                f"{_dot(colour)} {status.collector_ready}/{status.collector_nodes} nodes"
            )
            problems = "\n".join(
                f"• {n}: {p}" for n, p in sorted(status.collector_problems.items())
            )
            self.collector.setToolTip(problems or "Every schedulable node runs a ready collector.")

        self.flows.setText(f"{status.flows_per_s:,.1f} flows/s")
        self.db.setText(f"DB {human_bytes(status.db_bytes)}")
        self.dropped.setVisible(status.dropped_records > 0)
        self.dropped.setText(
            f"<span style='color:#b00020'>{status.dropped_records:,} records dropped</span>"
        )
        self.dropped.setToolTip(
            "Collectors had to drop these records before NetSight could pull them; "
            "the gaps are stored and counted."
        )
