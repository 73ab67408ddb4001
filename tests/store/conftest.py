"""Fixtures of the store tests: a fresh database, and one holding the scenario."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from store_scenario import fill

from netsight.store import Store, open_store


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "cluster.duckdb"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    with open_store(db_path) as opened:
        yield opened


@pytest.fixture
def scenario(db_path: Path) -> Iterator[Store]:
    """An open store holding the scenario."""
    with open_store(db_path) as opened:
        fill(opened)
        yield opened
