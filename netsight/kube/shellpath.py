"""The PATH that credential plugins are looked up and run with.

A desktop program started from a dock or menu inherits a bare PATH
(`/usr/bin:/bin`), while the user installed `aws`, `gke-gcloud-auth-plugin` or
`kubelogin` into directories that only their login shell adds. kubectl works
in their terminal, so NetSight must find the same binaries: ask the login shell
for its PATH once, and put its entries after the ones we already have.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading

logger = logging.getLogger(__name__)

# Login shells may run slow profile scripts; past this we give up and keep our PATH.
LOGIN_SHELL_TIMEOUT_S = 3.0
# Profile scripts may print banners to stdout; the PATH follows this marker.
_MARKER = "__NETSIGHT_LOGIN_PATH__="

_lock = threading.Lock()
_cache: dict[tuple[str, str], str] = {}


def login_shell_path() -> str | None:
    """The PATH of the user's login shell (`$SHELL -lc`), or None if it cannot be had.

    Computed once per (shell, current PATH); later calls are free.
    """
    shell = os.environ.get("SHELL") or ""
    key = (shell, os.environ.get("PATH", ""))
    with _lock:
        if key in _cache:
            return _cache[key] or None
        value = _ask_shell(shell)
        _cache[key] = value or ""
        return value


def merged_path() -> str:
    """Our PATH, followed by the login shell's entries that it lacks."""
    current = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    extra = (login_shell_path() or "").split(os.pathsep)
    seen = set(current)
    for entry in extra:
        if entry and entry not in seen:
            current.append(entry)
            seen.add(entry)
    return os.pathsep.join(current)


def _ask_shell(shell: str) -> str | None:
    if not shell or not os.path.isabs(shell) or not os.access(shell, os.X_OK):
        logger.debug("No usable login shell in $SHELL (%r); keeping the current PATH.", shell)
        return None
    try:
        done = subprocess.run(
            [shell, "-lc", f"printf '%s%s' '{_MARKER}' \"$PATH\""],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=LOGIN_SHELL_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        logger.warning(
            "Could not ask the login shell %s for its PATH (%s); "
            "credential plugins are looked up on the current PATH only.",
            shell,
            exc,
        )
        return None
    out = done.stdout.decode("utf-8", "replace")
    if _MARKER not in out:
        logger.warning(
            "The login shell %s did not report its PATH (exit %s); "
            "credential plugins are looked up on the current PATH only.",
            shell,
            done.returncode,
        )
        return None
    return out.rsplit(_MARKER, 1)[1].strip()
