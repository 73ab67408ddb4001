"""A damaged database file or a directory given as --db is the user's problem, said in a sentence.

The damaged file is a real NetSight database cut in half (as an interrupted
copy leaves it); `collect` runs against the real simulated API server.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_scenario import FRONTEND_IP, fill

from netsight.sim.rbac import RbacRules
from netsight.sim.server import SimServer
from netsight.store import CorruptStoreError, StoreAccessError, open_store


def netsight(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netsight", *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def truncated(tmp_path: Path) -> Path:
    whole = tmp_path / "whole.duckdb"
    with open_store(whole) as store:
        fill(store)
    data = whole.read_bytes()
    cut = tmp_path / "cut.duckdb"
    cut.write_bytes(data[: len(data) // 2])
    return cut


def _says_damaged(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "NetSight bug" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "damaged or incomplete" in line and "restore it from a copy" in line


def test_a_truncated_file_is_damaged_not_a_bug(truncated: Path) -> None:
    with open_store(truncated, read_only=True) as store, pytest.raises(CorruptStoreError):
        store.connections("pod")


@pytest.mark.parametrize(
    "command", [("connections",), ("lookup", FRONTEND_IP)], ids=["connections", "lookup"]
)
def test_commands_on_a_truncated_file_say_it_is_damaged(
    truncated: Path, command: tuple[str, ...]
) -> None:
    _says_damaged(netsight(*command, "--db", str(truncated)))


@pytest.mark.parametrize(
    "command", [("connections",), ("lookup", FRONTEND_IP)], ids=["connections", "lookup"]
)
def test_a_directory_as_db_is_named(tmp_path: Path, command: tuple[str, ...]) -> None:
    result = netsight(*command, "--db", str(tmp_path))

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "NetSight bug" not in result.stderr
    assert f"{tmp_path} is a directory, not a NetSight database file" in result.stderr


def test_opening_a_directory_for_writing_is_an_access_error(tmp_path: Path) -> None:
    with pytest.raises(StoreAccessError, match="is a directory"):
        open_store(tmp_path)


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Iterator[str]:
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "worker-1", "uid": "uid-node", "labels": {}},
        "spec": {"podCIDR": "10.244.1.0/24"},
        "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.11"}]},
    }
    server = SimServer([node], rbac=RbacRules.parse(["create:daemonsets"])).start()
    yield str(server.write_kubeconfig(tmp_path / "kubeconfig"))
    server.stop()


def test_collect_into_a_damaged_file_or_a_directory_says_so(
    kubeconfig: str, truncated: Path, tmp_path: Path
) -> None:
    for db, expected in ((truncated, "damaged or incomplete"), (tmp_path, "is a directory")):
        result = netsight(
            "collect", "--kubeconfig", kubeconfig, "--context", "sim", "--duration", "0",
            "--db", str(db),
        )  # fmt: skip

        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr and "NetSight bug" not in result.stderr
        assert expected in result.stderr.strip().splitlines()[-1]
