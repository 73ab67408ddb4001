"""The headless commands meet bad input with one clear message, and `collect` loses nothing.

Each test runs the real `netsight` program in a subprocess against the real
simulated API server (HTTPS, RBAC, pod proxy) and, where an agent is needed,
a small HTTP server on 127.0.0.1 that answers the agent protocol badly on
purpose; the database is a real DuckDB file read back afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_fakes import NODE, PEER_IP, POD_IP, FakeAgent, agent_record, cluster_objects, record_page

from netsight.collector import manifests
from netsight.kube import rawapi
from netsight.kube.client import api_client_for
from netsight.sim.rbac import RbacRules
from netsight.sim.server import SimServer
from netsight.store import open_store


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[tuple[SimServer, str]]:
    server = SimServer(cluster_objects(), rbac=RbacRules.parse(["create:daemonsets"])).start()
    kubeconfig = str(server.write_kubeconfig(tmp_path / "kubeconfig"))
    yield server, kubeconfig
    server.stop()


@pytest.fixture
def agent_factory(sim: tuple[SimServer, str]) -> Iterator[Any]:
    agents: list[FakeAgent] = []

    def start(page: Any) -> FakeAgent:
        agent = FakeAgent(page)
        agents.append(agent)
        sim[0].set_agent(NODE, agent.url)
        return agent

    yield start
    for agent in agents:
        agent.stop()


def _collect(
    kubeconfig: str, db: Path, duration: str = "0", context: str = "sim"
) -> subprocess.CompletedProcess[str]:
    """`netsight collect` against the test cluster, as a user runs it."""
    return _netsight(
        "collect",
        "--kubeconfig",
        kubeconfig,
        "--context",
        context,
        "--duration",
        duration,
        "--db",
        str(db),
    )


def _netsight(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netsight", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "HOME": os.environ.get("HOME", "/tmp")},
    )


def _leftovers(kubeconfig: str) -> list[str]:
    api = api_client_for("sim", kubeconfig)
    found = []
    for path in ("/api/v1/namespaces", "/api/v1/serviceaccounts", "/api/v1/configmaps"):
        body = rawapi.request_json(
            api, "GET", path, query={"labelSelector": manifests.LABEL_SELECTOR}
        )
        found += [f"{path}:{o['metadata']['name']}" for o in body["items"]]
    body = rawapi.request_json(api, "GET", "/apis/apps/v1/daemonsets")
    found += [o["metadata"]["name"] for o in body["items"]]
    return found


def _count(db: Path, table: str) -> int:
    with open_store(str(db), read_only=True) as store:
        return int(store.query_arrow(f"SELECT count(*) AS n FROM {table}", []).column(0)[0].as_py())


# -- kubeconfig problems ------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("this: is: not: yaml: [\n", "is not valid YAML"),
        ("", "defines no contexts"),
        ("- a\n- list\n", "top level is not a mapping"),
    ],
)
def test_unusable_kubeconfig_says_what_is_wrong_with_the_file(
    tmp_path: Path, content: str, expected: str
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(content)
    result = _netsight("collector", "status", "--kubeconfig", str(kubeconfig))
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("netsight: ") and expected in last, result.stderr
    assert "Nothing was done" in last
    assert "Traceback" not in result.stderr


def test_missing_kubeconfig_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "kubeconfig"
    result = _netsight("collector", "status", "--kubeconfig", str(missing))
    assert result.returncode == 1
    assert f"kubeconfig file {missing} does not exist" in result.stderr
    assert "names no current context" not in result.stderr


def test_kubeconfig_without_current_context_lists_the_contexts(
    sim: tuple[SimServer, str], tmp_path: Path
) -> None:
    _, kubeconfig = sim
    text = Path(kubeconfig).read_text()
    lines = [line for line in text.splitlines() if not line.startswith("current-context")]
    stripped = tmp_path / "no-current"
    stripped.write_text("\n".join(lines) + "\n")
    result = _netsight("collector", "status", "--kubeconfig", str(stripped))
    assert result.returncode == 1
    assert "sets no current context" in result.stderr
    assert "sim, sim-restricted" in result.stderr and "--context" in result.stderr


# -- collect against a misbehaving agent --------------------------------------------


def test_collect_keeps_good_records_and_names_the_malformed_ones(
    sim: tuple[SimServer, str], agent_factory: Any, tmp_path: Path
) -> None:
    _, kubeconfig = sim
    records = [
        agent_record(1),
        agent_record(2, src_ip=None),
        agent_record(3, dst_port="eighty"),
        agent_record(4, first_seen=1e300),
        agent_record(5, bytes_sent=10**30),
        agent_record(6, src_ip="not-an-ip"),
        "not an object",
        None,
        {**agent_record(9), "seq": 10**30},
        agent_record(10),
    ]
    agent_factory(lambda after: record_page(records, after))
    db = tmp_path / "c.duckdb"
    result = _collect(kubeconfig, db, duration="0")
    assert result.returncode == 0, result.stderr
    assert "Collected 2 records" in result.stdout, result.stdout
    assert f"{NODE}: skipped 8 malformed records" in result.stderr, result.stderr
    assert "has no src_ip" in result.stderr
    assert "Traceback" not in result.stderr
    assert _count(db, "records") == 2
    # The good records are named: identity was saved alongside them.
    with open_store(str(db), read_only=True) as store:
        assert store.identity_at(POD_IP).name == "web"
    assert _leftovers(kubeconfig) == []


def test_agent_that_ignores_after_is_not_stored_twice(
    sim: tuple[SimServer, str], agent_factory: Any, tmp_path: Path
) -> None:
    _, kubeconfig = sim
    records = [agent_record(seq) for seq in range(1, 4)]
    agent = agent_factory(lambda after: record_page(records, 0))
    db = tmp_path / "c.duckdb"
    result = _collect(kubeconfig, db, duration="3")
    assert result.returncode == 0, result.stderr
    assert agent.requests >= 2
    assert _count(db, "records") == 3


@pytest.mark.parametrize(
    "answer",
    [
        b"<html>not json</html>",
        {"node": NODE, "generation": "gen-1"},
        {"records": [agent_record(1)]},
        [1, 2, 3],
    ],
    ids=["not-json", "no-records", "no-generation", "a-list"],
)
def test_collect_says_when_no_agent_gave_a_record_page(
    sim: tuple[SimServer, str], agent_factory: Any, tmp_path: Path, answer: Any
) -> None:
    _, kubeconfig = sim
    agent_factory(lambda after: answer)
    db = tmp_path / "c.duckdb"
    result = _collect(kubeconfig, db, duration="0")
    assert result.returncode == 1, result.stderr
    assert f"{NODE}: could not be pulled" in result.stderr, result.stderr
    assert "no agent answered, so nothing was collected" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert _leftovers(kubeconfig) == []


# -- cleaning up ---------------------------------------------------------------------


def test_forbidden_deploy_leaves_nothing_behind(sim: tuple[SimServer, str], tmp_path: Path) -> None:
    _, kubeconfig = sim
    result = _collect(kubeconfig, tmp_path / "c.duckdb", duration="0", context="sim-restricted")
    assert result.returncode == 1
    assert "not allowed to create daemonsets.apps" in result.stderr
    assert _leftovers(kubeconfig) == []


def test_interrupted_collect_keeps_records_and_names_and_removes_the_collector(
    sim: tuple[SimServer, str], agent_factory: Any, tmp_path: Path
) -> None:
    _, kubeconfig = sim
    records = [agent_record(seq) for seq in range(1, 6)]
    agent = agent_factory(lambda after: record_page(records, after))
    db = tmp_path / "c.duckdb"
    process = subprocess.Popen(
        [sys.executable, "-m", "netsight", "collect", "--kubeconfig", kubeconfig]
        + ["--context", "sim", "--duration", "120", "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while agent.requests < 2 and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            time.sleep(0.1)
        assert agent.requests >= 2, "collect never pulled the agent"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    assert "kept the 5 records pulled so far" in err, err
    assert "Removed the collector this run deployed." in out
    assert _count(db, "records") == 5
    assert _count(db, "ownership") > 0
    with open_store(str(db), read_only=True) as store:
        assert store.identity_at(PEER_IP).name == "db"
    assert _leftovers(kubeconfig) == []


@pytest.mark.parametrize("duration", ["nan", "inf", "-5", "soon"])
def test_collect_refuses_a_duration_that_is_not_seconds(tmp_path: Path, duration: str) -> None:
    # `nan` used to make collect pull in a busy loop forever, without sleeping.
    result = _netsight(
        "collect", "--kubeconfig", str(tmp_path / "none"), f"--duration={duration}", timeout=30
    )
    assert result.returncode == 2
    assert f"argument --duration: {duration!r} is not a number of seconds" in result.stderr


def test_mistyped_command_is_named_instead_of_opening_the_desktop() -> None:
    result = _netsight("colect", "--duration", "5", timeout=30)
    assert result.returncode == 2
    assert "'colect' is not a netsight command" in result.stderr
    assert "did you mean 'collect'?" in result.stderr


def test_desktop_without_a_display_says_so_instead_of_aborting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("QT_QPA_PLATFORM", None)
    result = subprocess.run(
        [sys.executable, "-m", "netsight", "--demo"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert result.returncode == 1, result.stderr
    assert "the desktop needs a display" in result.stderr
    assert "QT_QPA_PLATFORM=offscreen" in result.stderr


def test_refused_credentials_are_one_message_naming_the_cause(
    sim: tuple[SimServer, str], tmp_path: Path
) -> None:
    _, kubeconfig = sim
    text = Path(kubeconfig).read_text()
    wrong = tmp_path / "wrong-token"
    wrong.write_text(
        "\n".join(
            "    token: not-the-token" if line.strip().startswith("token:") else line
            for line in text.splitlines()
        )
        + "\n"
    )
    result = _netsight(
        "collect", "--kubeconfig", str(wrong), "--duration", "0", "--db", str(tmp_path / "c.duckdb")
    )
    assert result.returncode == 1
    assert "HTTP 401" in result.stderr
    assert "did not accept the credentials of the current context" in result.stderr
    # No informer was started, so no warning per kind.
    assert "netsight.kube.watching" not in result.stderr
    assert _leftovers(kubeconfig) == []


@pytest.mark.parametrize(
    ("flag", "value", "said"),
    [("--port", "99999", "not a port number"), ("--history-limit", "-1", "must be at least 1")],
    ids=["port-out-of-range", "negative-history"],
)
def test_sim_serve_refuses_impossible_numbers(tmp_path, flag, value, said):
    objects = tmp_path / "objects.json"
    objects.write_text('{"kind": "List", "items": []}')
    result = _netsight(
        "sim",
        "serve",
        "--objects",
        str(objects),
        "--kubeconfig",
        str(tmp_path / "kc"),
        flag,
        value,
        timeout=60,
    )
    assert result.returncode == 2
    assert said in result.stderr and "Traceback" not in result.stderr
