"""Search filters the store cannot apply yet, applied to its Arrow results instead.

The search box understands `kind:` and `node:`, but the store's `Filter`
has no field for either. Until it does, the rows the store returns are
narrowed here with pyarrow.compute (vectorised, no Python loop per row).
Because that happens after the query, paging cannot be left to the store
when one of these filters is set: the caller fetches unpaged and slices.

TODO: drop this module once `netsight.store.querying.Filter` has
`kinds: tuple[str, ...]` (either end's kind at the asked level, case-
insensitive) and `nodes: tuple[str, ...]` (a node in the row's `nodes`
list, i.e. a node that observed the connection).
"""

from __future__ import annotations

import logging

import pyarrow as pa
import pyarrow.compute as pc

from netsight.ui.search import SearchFilter

logger = logging.getLogger(__name__)


def needs_client_filter(search: SearchFilter) -> bool:
    """Whether `search` has parts that only `apply_client_filters` applies."""
    return bool(search.kinds or search.nodes)


def apply_client_filters(table: pa.Table, search: SearchFilter) -> pa.Table:
    """The rows of `table` whose ends match `kind:` and whose observers match `node:`."""
    if table.num_rows == 0 or not needs_client_filter(search):
        return table
    keep = pa.array([True] * table.num_rows)

    # kind: either end, case-insensitive; values are alternatives.
    if search.kinds and {"src_kind", "dst_kind"} <= set(table.column_names):
        wanted = pa.array(sorted({k.lower() for k in search.kinds}))
        src = pc.is_in(pc.utf8_lower(table["src_kind"]), value_set=wanted)
        dst = pc.is_in(pc.utf8_lower(table["dst_kind"]), value_set=wanted)
        keep = pc.and_(keep, pc.fill_null(pc.or_(src, dst), False))

    # node: any of the nodes that observed the connection.
    if search.nodes and "nodes" in table.column_names:
        nodes = table["nodes"].combine_chunks()
        flat = pc.list_flatten(nodes)
        hits = pc.is_in(flat, value_set=pa.array(list(search.nodes)))
        parents = pc.list_parent_indices(nodes)
        matched = pc.unique(pc.filter(parents, hits))
        row_hit = pc.is_in(pa.array(range(table.num_rows), pa.int64()), value_set=matched)
        keep = pc.and_(keep, row_hit)

    return table.filter(keep)
