"""Connection exports: CSV, JSON lines and Parquet, written by DuckDB's COPY.

The query result is already Arrow; DuckDB reads it in place and writes the
file, so large exports never pass through Python row by row.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import pyarrow as pa

from netsight.store.errors import StoreInputError

logger = logging.getLogger(__name__)

FORMATS = {
    "csv": "FORMAT csv, HEADER true",
    "json": "FORMAT json",
    "parquet": "FORMAT parquet",
}


def write_table(
    connection: duckdb.DuckDBPyConnection, table: pa.Table, path: Path, fmt: str
) -> None:
    """Write `table` to `path` in `fmt` (csv, json as one object per line, parquet)."""
    options = FORMATS.get(fmt.lower())
    if options is None:
        raise StoreInputError(f"Cannot export as {fmt!r}; choose one of {', '.join(FORMATS)}.")
    quoted = str(path).replace("'", "''")
    connection.register("_ns_export", table)
    try:
        connection.execute(f"COPY (SELECT * FROM _ns_export) TO '{quoted}' ({options})")
    finally:
        connection.unregister("_ns_export")
    logger.info("Exported %d connections to %s.", table.num_rows, path)
