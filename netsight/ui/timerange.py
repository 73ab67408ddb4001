"""The time window every view shows, independent of Qt.

"Last hour" must mean the same instant in the topology, the connection list
and the IP lookup, so the window is one immutable value resolved against one
clock reading per query.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

logger = logging.getLogger(__name__)

# Presets offered in the selector: (key, label, length in seconds or None for all).
PRESETS: tuple[tuple[str, str, float | None], ...] = (
    ("5m", "Last 5 min", 300.0),
    ("1h", "Last hour", 3600.0),
    ("24h", "Last 24 h", 86400.0),
    ("all", "All time", None),
)
CUSTOM = "custom"


@dataclass(frozen=True, slots=True)
class TimeRange:
    """A preset key, or CUSTOM with explicit bounds in epoch seconds."""

    preset: str = "1h"
    since_s: float | None = None
    until_s: float | None = None

    def resolve(self, now_s: float | None = None) -> tuple[float | None, float | None]:
        """(since, until) in epoch seconds; None means unbounded."""
        if self.preset == CUSTOM:
            return self.since_s, self.until_s
        now = time.time() if now_s is None else now_s
        for key, _label, length in PRESETS:
            if key == self.preset:
                return (None if length is None else now - length), None
        logger.warning("Unknown time range %r; showing all time.", self.preset)
        return None, None

    @property
    def label(self) -> str:
        for key, label, _length in PRESETS:
            if key == self.preset:
                return label
        return "Custom"
