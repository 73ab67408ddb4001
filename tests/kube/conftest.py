"""Fixtures for kube tests: an isolated kubeconfig environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def no_login_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plugins are looked up on the process PATH only (no $SHELL to ask)."""
    monkeypatch.setenv("SHELL", "")


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No KUBECONFIG, HOME in tmp (so ~/.kube/config is absent)."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    os.makedirs(tmp_path / "home", exist_ok=True)
    return tmp_path
