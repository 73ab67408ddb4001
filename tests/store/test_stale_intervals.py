"""Intervals left open by an earlier run never make a connection match two owners.

A pod deleted while nothing watched keeps an open interval in the file; the
next run adds the pod that reused its address. The later start wins.
"""

from __future__ import annotations

from pathlib import Path

from netsight.identity.model import Interval, Owner, OwnerUid
from netsight.store import open_store

T0 = 1_764_835_200.0


def _owner(uid: str, name: str) -> Owner:
    return Owner(OwnerUid(uid), "Pod", "shop", name, node="worker-1")


def test_a_later_start_closes_an_interval_an_earlier_run_left_open(tmp_path: Path) -> None:
    with open_store(tmp_path / "runs.duckdb") as store:
        # First run: qux owns the address, and the run ends before qux is deleted.
        store.upsert_ownership(
            [Interval("10.244.1.23", None, OwnerUid("u-qux"), T0)],
            [_owner("u-qux", "qux"), _owner("u-client", "client")],
        )
        store.upsert_ownership([Interval("10.244.1.9", None, OwnerUid("u-client"), T0)], [])
        # Second run: foo has the address from T0+600 on.
        store.upsert_ownership(
            [Interval("10.244.1.23", None, OwnerUid("u-foo"), T0 + 600)], [_owner("u-foo", "foo")]
        )
        records = [
            {
                "seq": seq,
                "conn_id": f"tcp:10.244.1.9:{port}>10.244.1.23:80",
                "node": "worker-1",
                "generation": "g",
                "proto": "tcp",
                "family": 4,
                "src_ip": "10.244.1.9",
                "src_port": port,
                "dst_ip": "10.244.1.23",
                "dst_port": 80,
                "observer": "client",
                "bytes_sent": 10,
                "bytes_received": 20,
                "first_seen": at,
                "last_seen": at + 1,
            }
            for seq, (port, at) in enumerate([(40001, T0 + 10), (40002, T0 + 900)], start=1)
        ]
        store.append_records(records)

        rows = store.connections("pod").to_pylist()

    by_name = {}
    for row in rows:
        by_name.setdefault(row["dst_name"], 0)
        by_name[row["dst_name"]] += row["connections"]
    assert by_name == {"qux": 1, "foo": 1}
