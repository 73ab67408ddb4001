"""What callers hand the store: paging bounds, and IPv4 addresses spelled as IPv4-mapped IPv6.

A dual-stack socket reports an IPv4 peer as `::ffff:a.b.c.d`; the store keeps
one spelling (plain IPv4, as identity does) so every lookup, filter and
record names the pod that owns the IPv4 address.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from store_scenario import (
    API_IP,
    FRONTEND_IP,
    INTERVALS,
    OWNERS,
    REUSED_IP,
    T0,
    fill,
    find,
    record,
)

from netsight.store import Filter, Store, StoreInputError, open_store


def mapped(ip: str) -> str:
    return f"::ffff:{ip}"


@pytest.mark.parametrize(
    "paging", [{"limit": -1}, {"offset": -5}, {"limit": True}, {"limit": 1.5}, {"offset": "3"}]
)
def test_negative_or_non_integer_paging_is_an_input_error(
    scenario: Store, paging: dict[str, object]
) -> None:
    with pytest.raises(StoreInputError, match="0 or more"):
        scenario.connections("pod", **paging)  # type: ignore[arg-type]


def test_zero_limit_and_offset_are_fine(scenario: Store) -> None:
    assert scenario.connections("pod", limit=0).num_rows == 0
    assert scenario.connections("pod", offset=0).num_rows == scenario.connections("pod").num_rows


def test_negative_limit_at_the_cli_is_refused_in_a_sentence(db_path: Path) -> None:
    with open_store(db_path) as store:
        fill(store)
    result = subprocess.run(
        [sys.executable, "-m", "netsight", "connections", "--db", str(db_path), "--limit", "-1"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--limit: must be 0 or more rows, not -1" in result.stderr


def test_identity_and_history_of_a_mapped_address_are_the_ipv4_owner(scenario: Store) -> None:
    identity = scenario.identity_at(mapped(FRONTEND_IP), T0)

    assert (identity.ip, identity.kind, identity.name) == (FRONTEND_IP, "Pod", "frontend-abc")
    names = scenario.ip_history(mapped(REUSED_IP)).column("name").to_pylist()
    assert names == ["report-1", "cache-0"]


def test_lookup_of_a_mapped_address_at_the_cli_names_the_pod(db_path: Path) -> None:
    with open_store(db_path) as store:
        fill(store)
    at = datetime.fromtimestamp(T0 + 50, UTC).isoformat()
    result = subprocess.run(
        [sys.executable, "-m", "netsight", "lookup", mapped(REUSED_IP), "--at", at]
        + ["--db", str(db_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"{REUSED_IP} at ") and first.endswith("Pod batch/report-1")


def test_records_with_mapped_addresses_resolve_to_the_pods(store: Store) -> None:
    fill(store)
    store.append_records(
        [
            record(
                "worker-1",
                "client",
                (mapped(FRONTEND_IP), 51000),
                (mapped(API_IP), 9999),
                nat_dst=(mapped(API_IP), 9999),
                first=T0 + 20,
            )
        ]
    )

    stored = store.query_arrow("SELECT DISTINCT src_ip, dst_ip, nat_dst_ip FROM records")
    assert not any(
        value.startswith("::ffff:") for row in stored.to_pylist() for value in row.values() if value
    )
    [row] = find(store.connections("pod"), dst_port=9999)
    assert (row["src_name"], row["dst_name"]) == ("frontend-abc", "api-xyz")


def test_a_mapped_address_filters_like_its_ipv4_address(scenario: Store) -> None:
    plain = scenario.connections("pod", filter=Filter(cidrs=(REUSED_IP,)))
    spelled = scenario.connections("pod", filter=Filter(cidrs=(mapped(REUSED_IP),)))

    assert plain.num_rows > 0 and spelled.to_pylist() == plain.to_pylist()


def test_mapped_interval_addresses_are_stored_as_ipv4(store: Store) -> None:
    store.replace_ownership([replace(i, ip=mapped(i.ip)) for i in INTERVALS], OWNERS)

    assert store.identity_at(FRONTEND_IP, T0).name == "frontend-abc"
    assert store.ip_history(FRONTEND_IP).num_rows == 1
