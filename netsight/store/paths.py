"""Where a cluster context's database lives when the user does not say.

Context names come from kubeconfig and may hold characters a file name
cannot (`arn:aws:eks:...:cluster/prod`), so the name is sanitised, and a
short hash of the original keeps two contexts that sanitise alike apart.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path

logger = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# Long enough for any context name people type, short enough for every file system.
_MAX_STEM = 120


def data_dir() -> Path:
    """The user's data directory for NetSight ($XDG_DATA_HOME, else ~/.local/share)."""
    base = os.environ.get("XDG_DATA_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / "netsight"


def sanitise_context(context: str) -> str:
    """A file-name stem for `context`; a hash suffix is added when characters were replaced."""
    stem = _UNSAFE.sub("_", context).strip("._") or "default"
    stem = stem[:_MAX_STEM]
    if stem != context:
        digest = hashlib.sha1(context.encode("utf-8")).hexdigest()[:8]
        stem = f"{stem}-{digest}"
    return stem


def default_db_path(context: str) -> Path:
    """$XDG_DATA_HOME/netsight/<sanitised context>.duckdb (the directory is not created)."""
    return data_dir() / f"{sanitise_context(context)}.duckdb"
