"""Exec credential plugins: found on the login shell's PATH, refreshed before expiry."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kube_helpers import kubeconfig, write_script, write_yaml

from netsight.kube.client import api_client_for, invalidate_credentials
from netsight.kube.contexts import load_contexts
from netsight.kube.errors import AuthError, ConfigError

pytestmark = pytest.mark.usefixtures("isolated_env")

# Prints an ExecCredential whose token counts the runs and expires LIFETIME s from now.
PLUGIN = """\
count_file="$(dirname "$0")/runs"
n=$(( $(cat "$count_file" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$count_file"
exp=$(date -u -d "@$(( $(date +%s) + ${LIFETIME:-3600} ))" +%Y-%m-%dT%H:%M:%SZ)
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",'
printf '"status":{"token":"tok-%s-%s","expirationTimestamp":"%s"}}' "$n" "$GREETING" "$exp"
"""


def _exec_user(command: str, lifetime: int = 3600, hint: str | None = None) -> dict:
    cfg: dict = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": command,
        "args": [],
        "env": [{"name": "LIFETIME", "value": str(lifetime)}, {"name": "GREETING", "value": "hi"}],
        "interactiveMode": "Never",
    }
    if hint:
        cfg["installHint"] = hint
    return {"exec": cfg}


def _config(tmp_path: Path, users: dict) -> Path:
    contexts = [(f"ctx-{u}", "c", u, None) for u in users]
    return write_yaml(
        tmp_path / "kubeconfig",
        kubeconfig(contexts, {"c": {"server": "https://127.0.0.1:1"}}, users),
    )


def test_plugin_found_only_through_login_shell_path(tmp_path: Path, monkeypatch) -> None:
    plugin_dir = tmp_path / "only-in-login-shell"
    plugin_dir.mkdir()
    write_script(plugin_dir / "my-auth-plugin", PLUGIN)
    # A "login shell" whose profile adds plugin_dir to PATH, as ~/.profile would.
    shell = write_script(
        tmp_path / "fakesh",
        f'echo "banner from a noisy profile"\n'
        f'PATH="{plugin_dir}:$PATH"; export PATH\nexec /bin/sh -c "$2"\n',
    )
    monkeypatch.setenv("SHELL", str(shell))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    path = _config(tmp_path, {"plug": _exec_user("my-auth-plugin")})

    [info] = load_contexts(str(path))
    assert info.error is None
    client = api_client_for("ctx-plug", str(path))
    assert client.configuration.get_api_key_with_prefix("BearerToken") == "Bearer tok-1-hi"
    client.close()


def test_missing_plugin_is_reported_with_install_hint(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SHELL", "")
    hint = "Install it with: brew install nowhere-auth"
    path = _config(
        tmp_path,
        {"gone": _exec_user("nowhere-auth-plugin", hint=hint), "fine": {"token": "static"}},
    )
    by = {i.name: i for i in load_contexts(str(path))}
    assert by["ctx-fine"].error is None
    error = by["ctx-gone"].error or ""
    assert "nowhere-auth-plugin" in error and "not found" in error and hint in error
    with pytest.raises(ConfigError, match="brew install nowhere-auth"):
        api_client_for("ctx-gone", str(path))


def test_token_is_refreshed_before_it_expires(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SHELL", "")
    plugin = write_script(tmp_path / "plugin", PLUGIN)
    # A relative command with a slash resolves against the kubeconfig's folder.
    path = _config(tmp_path, {"short": _exec_user("./plugin", lifetime=2)})
    assert plugin.exists()
    client = api_client_for("ctx-short", str(path))
    cfg = client.configuration

    assert cfg.get_api_key_with_prefix("BearerToken") == "Bearer tok-1-hi"
    assert cfg.get_api_key_with_prefix("BearerToken") == "Bearer tok-1-hi"  # cached
    # Lifetime 2 s: a new token is fetched in the last second, before it expires.
    time.sleep(1.2)
    assert cfg.get_api_key_with_prefix("BearerToken") == "Bearer tok-2-hi"
    # After a 401 the next request runs the plugin again.
    invalidate_credentials(client)
    assert cfg.get_api_key_with_prefix("BearerToken") == "Bearer tok-3-hi"
    client.close()


def test_failing_plugin_gives_auth_error_with_its_message(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SHELL", "")
    write_script(tmp_path / "failing", 'echo "session expired, run: login" >&2\nexit 3\n')
    write_script(tmp_path / "garbage", 'echo "not json"\n')
    path = _config(tmp_path, {"bad": _exec_user("./failing"), "junk": _exec_user("./garbage")})
    with pytest.raises(AuthError, match=r"exit 3.*session expired"):
        api_client_for("ctx-bad", str(path))
    with pytest.raises(AuthError, match="not JSON"):
        api_client_for("ctx-junk", str(path))
