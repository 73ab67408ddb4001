"""The puller stores several pages in one append, and keeps what it fetched when a page fails.

Runs the real puller through the simulated API server's pod proxy against a
fake agent on 127.0.0.1, into a real DuckDB file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_fakes import NODE, FakeAgent, agent_record, cluster_objects

from netsight.collector import pulling
from netsight.collector.deploy import CollectorDeployer
from netsight.collector.pulling import PAGE_SIZE, AgentPuller
from netsight.kube.client import api_client_for
from netsight.sim.server import SimServer
from netsight.store import open_store

TOTAL = 3 * PAGE_SIZE + 123


class PagingAgent:
    """Serves TOTAL records in pages of `limit`; fails on the page after `fail_after` records."""

    def __init__(self) -> None:
        self.fail_after: int | None = None
        self.records = [agent_record(seq) for seq in range(1, TOTAL + 1)]

    def page(self, after: int) -> Any:
        if self.fail_after is not None and after >= self.fail_after:
            return b"<html>bad gateway</html>"
        chunk = self.records[after : after + PAGE_SIZE]
        return {
            "node": NODE,
            "generation": "gen-1",
            "oldest_seq": 1,
            "last_seq": TOTAL,
            "dropped": 0,
            "records": chunk,
        }


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Any, PagingAgent]]:
    sim = SimServer(cluster_objects()).start()
    agent = PagingAgent()
    fake = FakeAgent(agent.page)
    sim.set_agent(NODE, fake.url)
    api = api_client_for("sim", str(sim.write_kubeconfig(tmp_path / "kubeconfig")))
    CollectorDeployer(api).deploy(timeout_s=30)
    yield api, agent
    fake.stop()
    sim.stop()


def _count_appends(store: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the store's appends from now on (the real append still runs)."""
    appends: list[int] = []
    original = store.append_records
    monkeypatch.setattr(
        store,
        "append_records",
        lambda records, cursor=None: (
            appends.append(len(records)) or original(records, cursor=cursor)
        ),
    )
    return appends


def test_a_pull_stores_its_pages_in_one_append(cluster, tmp_path, monkeypatch):
    api, _ = cluster
    with open_store(tmp_path / "pulled.duckdb") as store:
        appends = _count_appends(store, monkeypatch)
        result = AgentPuller(api, store).pull_all()
        assert result.records == TOTAL and not result.errors
        assert appends == [TOTAL]
        assert store.cursor(NODE).last_seq == TOTAL
        assert store.record_count() == TOTAL


def test_a_batch_is_stored_once_it_is_full(cluster, tmp_path, monkeypatch):
    api, _ = cluster
    monkeypatch.setattr(pulling, "APPEND_BATCH_RECORDS", 2 * PAGE_SIZE)
    with open_store(tmp_path / "pulled.duckdb") as store:
        appends = _count_appends(store, monkeypatch)
        AgentPuller(api, store).pull_all()
        assert appends == [2 * PAGE_SIZE, TOTAL - 2 * PAGE_SIZE]
        assert store.record_count() == TOTAL
        assert store.cursor(NODE).last_seq == TOTAL


def test_pages_fetched_before_a_failing_page_are_kept(cluster, tmp_path):
    api, agent = cluster
    agent.fail_after = 2 * PAGE_SIZE
    with open_store(tmp_path / "pulled.duckdb") as store:
        result = AgentPuller(api, store).pull_all()
        assert NODE in result.errors
        assert store.record_count() == 2 * PAGE_SIZE
        assert store.cursor(NODE).last_seq == 2 * PAGE_SIZE

        # The next pull resumes after what was stored, and stores nothing twice.
        agent.fail_after = None
        AgentPuller(api, store).pull_all()
        assert store.record_count() == TOTAL
        assert store.cursor(NODE).last_seq == TOTAL
