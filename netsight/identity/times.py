"""Kubernetes timestamps as epoch seconds.

Ownership times come from the objects themselves wherever they carry one
(creationTimestamp, startTime, deletionTimestamp, a container's finishedAt)
so that replaying a recorded timeline gives the same history every time.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

logger = logging.getLogger(__name__)

_cache: dict[str, float | None] = {}
# Timestamps repeat a lot (every container of a pod, every pod of a rollout);
# the cache is dropped when it grows past this many entries.
_CACHE_LIMIT = 200_000


def parse_time(value: object) -> float | None:
    """RFC 3339 text (as the API server writes it) to epoch seconds; None if absent or bad."""
    if not isinstance(value, str) or not value:
        return None
    hit = _cache.get(value, False)
    if hit is not False:
        return hit  # type: ignore[return-value]
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        logger.debug("Ignoring unreadable timestamp %r.", value)
        result = None
    else:
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        result = parsed.timestamp()
    if len(_cache) >= _CACHE_LIMIT:
        _cache.clear()
    _cache[value] = result
    return result
