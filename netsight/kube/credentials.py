"""Exec credential plugins (`users[].user.exec`), run the way kubectl runs them.

The official client runs the plugin once, logs and swallows its failures, looks
it up on the process PATH only, and ignores `installHint`. For a desktop
program that holds watches open for hours this is not enough: the plugin is
found on the login shell's PATH too, a missing plugin is reported with its
install hint, and the credential is cached and fetched again shortly before
`status.expirationTimestamp` (or at once after a 401).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from netsight.kube import shellpath
from netsight.kube.errors import AuthError, ConfigError, truncate

logger = logging.getLogger(__name__)

# A plugin may open a browser or call a cloud API; past this it has hung.
PLUGIN_TIMEOUT_S = 60.0
# Fetch a new credential this long before it expires (less for short-lived
# ones: at most half their lifetime), so no request goes out with a dead token.
REFRESH_MARGIN_S = 60.0


@dataclass(frozen=True, slots=True)
class Credential:
    """What a plugin gave: a bearer token or a client certificate, and when it expires."""

    token: str | None
    cert_data: str | None
    key_data: str | None
    expires_at: float | None
    obtained_at: float

    def needs_refresh(self, now: float) -> bool:
        """True once `now` is within the refresh margin of the expiry."""
        if self.expires_at is None:
            return False
        margin = min(REFRESH_MARGIN_S, max(0.0, self.expires_at - self.obtained_at) / 2)
        return now >= self.expires_at - margin


def plugin_problem(exec_cfg: dict[str, Any], source: str) -> str | None:
    """Why the plugin of this `exec` section cannot run (missing binary...), or None."""
    try:
        resolve_command(exec_cfg, source)
    except ConfigError as exc:
        return exc.message
    return None


def resolve_command(exec_cfg: dict[str, Any], source: str) -> str:
    """The absolute path of the plugin binary; ConfigError (with the install hint) if missing."""
    command = exec_cfg.get("command")
    if not isinstance(command, str) or not command:
        raise ConfigError(f"the exec credential plugin in {source} names no command")
    if os.sep in command:
        # kubectl resolves a relative command with a slash against the kubeconfig's folder.
        path = command if os.path.isabs(command) else os.path.join(os.path.dirname(source), command)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return os.path.abspath(path)
        found = None
    else:
        found = shutil.which(command, path=shellpath.merged_path())
    if found:
        return found
    message = (
        f"credential plugin '{command}' was not found (looked on PATH and the login "
        "shell's PATH); the context cannot authenticate until it is installed"
    )
    hint = exec_cfg.get("installHint")
    if isinstance(hint, str) and hint.strip():
        message += f". Install hint: {hint.strip()}"
    raise ConfigError(message)


class ExecCredentialSource:
    """Runs one user's plugin on demand and caches its credential until near expiry."""

    def __init__(
        self,
        exec_cfg: dict[str, Any],
        source: str,
        user: str,
        cluster: dict[str, Any] | None = None,
    ) -> None:
        self._cfg = exec_cfg
        self._source = source
        self._user = user
        self._cluster = cluster
        self._lock = threading.Lock()
        self._credential: Credential | None = None

    def get(self) -> Credential:
        """The current credential, running the plugin if there is none or it is about to expire."""
        with self._lock:
            cred = self._credential
            if cred is None or cred.needs_refresh(time.time()):
                if cred is not None:
                    logger.info(
                        "Credential of user %s expires soon; running its plugin again.", self._user
                    )
                cred = self._credential = self._run()
            return cred

    def invalidate(self) -> None:
        """Forget the cached credential (after a 401): the next `get` runs the plugin."""
        with self._lock:
            self._credential = None

    def _run(self) -> Credential:
        command = resolve_command(self._cfg, self._source)
        api_version = str(self._cfg.get("apiVersion") or "")
        if not api_version:
            raise ConfigError(f"the exec credential plugin of user {self._user} has no apiVersion")
        if self._cfg.get("interactiveMode") == "Always":
            raise AuthError(
                f"credential plugin of user {self._user} needs an interactive terminal "
                "(interactiveMode: Always); run kubectl once in a terminal, then retry"
            )

        # Environment: ours, the merged PATH, the config's env, and the exec info.
        env = dict(os.environ)
        env["PATH"] = shellpath.merged_path()
        for item in self._cfg.get("env") or []:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                env[item["name"]] = str(item.get("value", ""))
        spec: dict[str, Any] = {"interactive": False}
        if self._cfg.get("provideClusterInfo") and self._cluster is not None:
            spec["cluster"] = _cluster_info(self._cluster)
        env["KUBERNETES_EXEC_INFO"] = json.dumps(
            {"apiVersion": api_version, "kind": "ExecCredential", "spec": spec}
        )
        args = [command, *[str(a) for a in (self._cfg.get("args") or [])]]

        logger.debug("Running credential plugin %s for user %s.", command, self._user)
        try:
            done = subprocess.run(
                args,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                env=env,
                cwd=os.path.dirname(os.path.abspath(self._source)),
                timeout=PLUGIN_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise AuthError(
                f"credential plugin {command} of user {self._user} did not answer within "
                f"{PLUGIN_TIMEOUT_S:.0f} s"
            ) from exc
        except OSError as exc:
            raise AuthError(
                f"credential plugin {command} of user {self._user} could not start: {exc}"
            ) from exc
        if done.returncode != 0:
            stderr = truncate(done.stderr.decode("utf-8", "replace"))
            raise AuthError(
                f"credential plugin {command} of user {self._user} failed "
                f"(exit {done.returncode}){': ' + stderr if stderr else ''}"
            )
        return _parse_output(done.stdout, api_version, command, self._user)


def _parse_output(stdout: bytes, api_version: str, command: str, user: str) -> Credential:
    what = f"credential plugin {command} of user {user}"
    try:
        data = json.loads(stdout)
    except ValueError as exc:
        raise AuthError(f"{what} printed something that is not JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("kind") != "ExecCredential":
        raise AuthError(f"{what} did not print an ExecCredential")
    if data.get("apiVersion") != api_version:
        raise AuthError(
            f"{what} answered with apiVersion {data.get('apiVersion')}, expected {api_version}"
        )
    status = data.get("status")
    if not isinstance(status, dict):
        raise AuthError(f"{what} printed an ExecCredential without a status")
    token = status.get("token") or None
    cert = status.get("clientCertificateData") or None
    key = status.get("clientKeyData") or None
    if token is None and (cert is None or key is None):
        raise AuthError(f"{what} gave neither a token nor a client certificate and key")
    expires_at = None
    stamp = status.get("expirationTimestamp")
    if stamp:
        try:
            expires_at = datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
        except ValueError as exc:
            raise AuthError(f"{what} gave an unreadable expirationTimestamp {stamp!r}") from exc
    return Credential(token, cert, key, expires_at, time.time())


def _cluster_info(cluster: dict[str, Any]) -> dict[str, Any]:
    info: dict[str, Any] = {"server": cluster.get("server", "")}
    for src, dst in (
        ("certificate-authority-data", "certificate-authority-data"),
        ("tls-server-name", "tls-server-name"),
        ("insecure-skip-tls-verify", "insecure-skip-tls-verify"),
        ("proxy-url", "proxy-url"),
    ):
        if src in cluster:
            info[dst] = cluster[src]
    for ext in cluster.get("extensions") or []:
        if isinstance(ext, dict) and ext.get("name") == "client.authentication.k8s.io/exec":
            info["config"] = ext.get("extension")
    return info
