"""Kill -9 in the middle of ingest loses at most the batch in flight."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from netsight.store import open_store

BATCH_ROWS = 5000

INGEST_FOREVER = """
import sys
import numpy as np
import pyarrow as pa
from netsight.store import Cursor, open_store

store = open_store(sys.argv[1])
rows = int(sys.argv[2])
batch = 0
while True:
    seq = np.arange(batch * rows, (batch + 1) * rows, dtype=np.int64)
    table = pa.table({
        "seq": seq,
        "conn_id": pa.array([f"c{batch}"] * rows),
        "node": pa.array(["worker-1"] * rows),
        "generation": pa.array(["g"] * rows),
        "proto": pa.array(["tcp"] * rows),
        "src_ip": pa.array(["10.0.0.1"] * rows),
        "src_port": (seq % 60000).astype(np.int32),
        "dst_ip": pa.array(["10.0.0.2"] * rows),
        "dst_port": np.full(rows, 80, dtype=np.int32),
        "first_seen": seq.astype(np.float64),
        "last_seen": seq.astype(np.float64),
    })
    store.append_records(table, cursor=Cursor("worker-1", "g", int(seq[-1])))
    batch += 1
    print(batch, flush=True)
"""


def test_kill_9_during_ingest_leaves_a_file_missing_at_most_the_last_batch(
    tmp_path: Path,
) -> None:
    path = tmp_path / "crash.duckdb"
    ingest = subprocess.Popen(
        [sys.executable, "-c", INGEST_FOREVER, str(path), str(BATCH_ROWS)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert ingest.stdout is not None
    committed = 0
    try:
        while committed < 15:
            line = ingest.stdout.readline()
            assert line, "the ingest process ended early"
            committed = int(line)
    finally:
        ingest.send_signal(signal.SIGKILL)
        ingest.wait()
        ingest.stdout.close()
    assert ingest.returncode == -signal.SIGKILL

    with open_store(path) as store:
        count = store.record_count()
        batches = store.query_arrow(
            "SELECT conn_id, count(*) AS n FROM records GROUP BY conn_id"
        ).to_pylist()
        cursor = store.cursor("worker-1")

    # Every committed batch is there, whole; at most one more batch made it.
    assert committed * BATCH_ROWS <= count <= (committed + 1) * BATCH_ROWS
    assert all(batch["n"] == BATCH_ROWS for batch in batches)
    # The cursor moved with its batch, never ahead of the records.
    assert cursor is not None and cursor.last_seq == count - 1
