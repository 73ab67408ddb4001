"""`netsight connections` and `netsight lookup` on a saved database, run as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from store_scenario import REUSED_IP, T0, fill

from netsight.cli.connections_cmd import parse_time
from netsight.identity.ownership import OwnershipHistory
from netsight.store import open_store
from netsight.store.syncing import save_identity


def netsight(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netsight.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def saved(db_path: Path) -> Path:
    with open_store(db_path) as store:
        fill(store)
    return db_path


def test_service_level_json_names_the_service_and_its_backend(saved: Path) -> None:
    result = netsight("connections", "--db", str(saved), "--level", "service", "--json")

    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    [api] = [r for r in rows if r["dst"]["name"] == "api"]
    assert api["src"] == {"kind": "Pod", "namespace": "web", "name": "frontend-abc"}
    assert api["dst"] == {"kind": "Service", "namespace": "shop", "name": "api"}
    assert api["backend"] == {"kind": "Pod", "namespace": "shop", "name": "api-xyz"}
    assert (api["dst_port"], api["proto"], api["connections"]) == (80, "tcp", 1)
    assert (api["bytes_sent"], api["bytes_received"]) == (150, 2100)
    assert api["first_seen"] == datetime.fromtimestamp(T0 + 9, UTC).isoformat().replace(
        "+00:00", "Z"
    )


def test_since_limits_the_connections(saved: Path) -> None:
    since = datetime.fromtimestamp(T0 + 200, UTC).isoformat()
    result = netsight(
        "connections", "--db", str(saved), "--level", "pod", "--since", since, "--json"
    )

    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["src"]["name"], r["dst"]["name"]) for r in rows] == [("cache-0", "api-xyz")]


def test_the_table_is_aligned(saved: Path) -> None:
    result = netsight("connections", "--db", str(saved), "--level", "namespace")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("SOURCE")
    column = lines[0].index("DESTINATION")
    assert all(line[column - 2 : column] == "  " for line in lines[1:])
    assert any("External corporate-vpn" in line for line in lines)


def test_lookup_prints_identity_and_history(saved: Path) -> None:
    at = datetime.fromtimestamp(T0 + 50, UTC).isoformat()
    result = netsight("lookup", REUSED_IP, "--at", at, "--db", str(saved))

    assert result.returncode == 0, result.stderr
    first, *rest = result.stdout.splitlines()
    assert first.endswith("Pod batch/report-1")
    assert any("Pod shop/cache-0" in line for line in rest)


def test_a_missing_database_is_a_sentence_not_a_traceback(tmp_path: Path) -> None:
    result = netsight("connections", "--db", str(tmp_path / "none.duckdb"))

    assert result.returncode == 1
    assert "no NetSight database" in result.stderr
    assert "Traceback" not in result.stderr


def test_relative_and_iso_times() -> None:
    assert parse_time("15m", now=1000.0) == 100.0
    assert parse_time("2h", now=10_000.0) == 2800.0
    assert parse_time("2025-12-04T08:00:00Z") == 1764835200.0
    with pytest.raises(ValueError):
        parse_time("yesterday")


def test_connections_mention_records_the_agents_dropped(saved: Path) -> None:
    with open_store(saved) as store:
        store.record_gap("worker-2", "gen-1", 100, 1333, 1234, at=T0)
        store.record_gap("worker-2", "gen-2", 5, 5, 1, at=T0 + 10)
        store.record_gap("worker-1", "gen-1", 7, 7, 1, at=T0)

    result = netsight("connections", "--db", str(saved), "--json")

    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "Note: 1 record was dropped by the agent on worker-1 before it could be pulled (gaps); "
        "connections from that time may be missing.",
        "Note: 1,235 records were dropped by the agent on worker-2 before they could be pulled "
        "(gaps); connections from that time may be missing.",
    ]
    # Standard output stays pure JSON lines.
    assert all(json.loads(line) for line in result.stdout.splitlines())


def test_connections_say_nothing_of_gaps_when_there_are_none(saved: Path) -> None:
    result = netsight("connections", "--db", str(saved))

    assert result.returncode == 0 and "gaps" not in result.stderr


# -- argument errors: one sentence, exit 2 (as argparse's own) ---------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("connections", "--since", "5m", "--until", "1h"), "the time window is empty"),
        (("connections", "--since", "0001-01-01"), "too far in the past or the future"),
        (("connections", "--until", "99999999999w"), "too far in the past or the future"),
        (("connections", "--since", "yesterday"), "neither an ISO time nor a span"),
        (("lookup", "10.244.1.5", "--port", "70000"), "70000 is not a port"),
        (("lookup", "10.244.1.5", "--port", "-1"), "-1 is not a port"),
        (("lookup", "10.244.1.999"), "'10.244.1.999' is not an IP address"),
        (("lookup", "10.244.1.5", "--at", "0001-01-01"), "too far in the past or the future"),
    ],
    ids=[
        "inverted-window",
        "year-1",
        "huge-span",
        "bad-time",
        "port-too-big",
        "negative-port",
        "bad-ip",
        "lookup-year-1",
    ],
)
def test_argument_errors_exit_2_with_a_sentence(
    saved: Path, args: tuple[str, ...], expected: str
) -> None:
    result = netsight(*args, "--db", str(saved))

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert expected in result.stderr.strip().splitlines()[-1]


def test_an_inverted_window_names_both_ends(saved: Path) -> None:
    result = netsight("connections", "--db", str(saved), "--since", "5m", "--until", "1h")

    assert "--since 5m" in result.stderr and "is after --until 1h" in result.stderr
    assert "(no connections)" not in result.stdout


def test_a_window_of_one_moment_is_not_inverted(saved: Path) -> None:
    moment = datetime.fromtimestamp(T0 + 250, UTC).isoformat()
    result = netsight(
        "connections", "--db", str(saved), "--since", moment, "--until", moment, "--json"
    )

    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["src"]["name"], r["dst"]["name"]) for r in rows] == [("cache-0", "api-xyz")]


def test_lookup_of_a_pods_old_address_says_unknown_pod_on_its_node(tmp_path: Path) -> None:
    # A CNI whose nodes publish no podCIDR: the pod's old address is all that
    # places it, saved as a /32 pod range with the pod's node.
    history = OwnershipHistory()
    node = {"metadata": {"name": "worker-1", "uid": "n1"}, "spec": {}, "status": {}}
    pod = {
        "metadata": {"name": "batch-1", "namespace": "jobs", "uid": "p1"},
        "spec": {"nodeName": "worker-1"},
        "status": {"phase": "Running", "podIP": "10.244.1.8", "podIPs": [{"ip": "10.244.1.8"}]},
    }
    history.apply("Node", "ADDED", node, T0)
    history.apply("Pod", "ADDED", pod, T0)
    history.apply("Pod", "DELETED", pod, T0 + 100)
    db = tmp_path / "c.duckdb"
    with open_store(db) as store:
        save_identity(store, history)
    later = datetime.fromtimestamp(T0 + 200, UTC).isoformat()

    result = netsight("lookup", "10.244.1.8", "--at", later, "--db", str(db))

    assert result.returncode == 0, result.stderr
    first, *rest = result.stdout.splitlines()
    assert first.endswith(": an unknown pod on node worker-1")
    assert not any("tags" in line or "/32" in line for line in rest)
    assert any("Pod jobs/batch-1" in line for line in rest)
