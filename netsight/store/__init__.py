"""The local DuckDB database: agent records, ownership history, resolved connections."""

from netsight.store.database import Cursor, Store, open_store
from netsight.store.errors import (
    CorruptStoreError,
    NewerFormatError,
    NotAStoreError,
    StoreAccessError,
    StoreBugError,
    StoreError,
    StoreInputError,
    StoreLockedError,
    StoreUserError,
)
from netsight.store.paths import default_db_path
from netsight.store.querying import LEVELS, Filter
from netsight.store.ranges import NetRange

__all__ = [
    "LEVELS",
    "CorruptStoreError",
    "Cursor",
    "Filter",
    "NetRange",
    "NewerFormatError",
    "NotAStoreError",
    "Store",
    "StoreAccessError",
    "StoreBugError",
    "StoreError",
    "StoreInputError",
    "StoreLockedError",
    "StoreUserError",
    "default_db_path",
    "open_store",
]
