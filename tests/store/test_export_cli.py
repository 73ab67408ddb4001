"""`netsight export` writes what `netsight connections` shows, in files other tools read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import networkx as nx
import pytest
from store_scenario import fill

from netsight.store import open_store


def netsight(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netsight", *args], capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def saved(db_path: Path) -> Path:
    with open_store(db_path) as store:
        fill(store)
    return db_path


def _connections(saved: Path) -> list[dict]:
    result = netsight("connections", "--db", str(saved), "--level", "workload", "--json")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_connection_files_hold_every_row(saved: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"connections.{fmt}"
    result = netsight("export", "--db", str(saved), "--format", fmt, str(out))
    assert result.returncode == 0, result.stderr
    reader = {"csv": "read_csv_auto", "json": "read_json_auto", "parquet": "read_parquet"}[fmt]
    ((count,),) = duckdb.sql(f"SELECT count(*) FROM {reader}('{out}')").fetchall()
    assert count == len(_connections(saved)) > 0


def test_graphml_has_one_edge_per_client_server_pair(saved: Path, tmp_path: Path) -> None:
    out = tmp_path / "graph.graphml"
    result = netsight("export", "--db", str(saved), "--format", "graphml", str(out))
    assert result.returncode == 0, result.stderr
    graph = nx.read_graphml(out)
    pairs = {
        (
            f"{r['src']['namespace']}/{r['src']['name']}",
            f"{r['dst']['namespace']}/{r['dst']['name']}",
        )
        for r in _connections(saved)
    }
    assert graph.number_of_edges() == len(pairs)
    labels = {data.get("name") for _, data in graph.nodes(data=True)}
    assert {pair[0].split("/")[1] for pair in pairs} <= labels | {"None"}


def test_an_unwritable_output_is_a_sentence(saved: Path) -> None:
    result = netsight("export", "--db", str(saved), "--format", "csv", "/nonexistent/dir/x.csv")
    assert result.returncode == 1
    assert "netsight export:" in result.stderr and "Traceback" not in result.stderr
