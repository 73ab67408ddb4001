"""Errors of the store, split by whose problem they are.

A user who sees "the file is locked by another NetSight" can act on it; a
user who sees a SQL binder error cannot. So every DuckDB error is translated
at this boundary: `StoreUserError` and its subclasses name a problem with
the file, the disk or the input that the user can fix, and `StoreBugError`
means NetSight itself is wrong (a broken query, an unexpected state) and
belongs in a bug report. Nothing from `duckdb` escapes `netsight.store`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
from collections.abc import Iterator

import duckdb

logger = logging.getLogger(__name__)


class StoreError(Exception):
    """Anything that went wrong in the store; `user_fault` says whose problem it is."""

    user_fault = False


class StoreUserError(StoreError):
    """A problem the user can fix: the file, the disk, permissions or the input."""

    user_fault = True


class StoreLockedError(StoreUserError):
    """Another process has the database file open for writing."""


class NotAStoreError(StoreUserError):
    """The file is not a DuckDB database, or a DuckDB database NetSight did not write."""


class CorruptStoreError(StoreUserError):
    """The file is damaged (checksum failures, truncated blocks)."""


class NewerFormatError(StoreUserError):
    """The file was written by a newer NetSight (schema) or a newer DuckDB (storage)."""


class StoreAccessError(StoreUserError):
    """The operating system refused: permission denied, disk full, read-only file system."""


class StoreInputError(StoreUserError):
    """Records or arguments handed to the store do not have the agreed shape."""


class StoreBugError(StoreError):
    """NetSight's own mistake (a query or schema bug); report it with the log."""


# Substrings of DuckDB messages that identify a problem outside NetSight.
_LOCK_MARKERS = ("could not set lock", "conflicting lock")
_NOT_DUCKDB_MARKERS = ("not a valid duckdb database", "not a duckdb database")
# A truncated file reads short ("could not read enough bytes"); a damaged one fails checksums.
_CORRUPT_MARKERS = (
    "corrupt",
    "checksum",
    "failed to read",
    "invalid block",
    "could not read enough bytes",
)
_NEWER_MARKERS = ("newer version", "we can only read version", "version number")
_ACCESS_MARKERS = (
    "permission denied",
    "no space left",
    "read-only file system",
    "disk quota",
    "cannot open file",
    "could not open file",
    "no such file",
    "is a directory",
)


def classify(error: Exception, action: str) -> StoreError:
    """Turn a DuckDB or OS error raised while doing `action` into a StoreError."""
    text = str(error)
    lowered = text.lower()
    if isinstance(error, OSError):
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            return StoreAccessError(f"Could not {action}: the disk is full ({text}).")
        if error.errno == errno.EISDIR:
            return StoreAccessError(_directory_message(action))
        return StoreAccessError(f"Could not {action}: {text}")
    if any(marker in lowered for marker in _LOCK_MARKERS):
        return StoreLockedError(
            f"Could not {action}: another process has the database open ({first_line(text)}). "
            "Close the other NetSight or pass a different --db."
        )
    if any(marker in lowered for marker in _NOT_DUCKDB_MARKERS):
        return NotAStoreError(f"Could not {action}: the file is not a NetSight database.")
    if any(marker in lowered for marker in _CORRUPT_MARKERS):
        return CorruptStoreError(
            f"Could not {action}: the database file is damaged or incomplete "
            f"({first_line(text)}). NetSight stops using it; restore it from a copy "
            "or use a new database file."
        )
    if isinstance(error, duckdb.SerializationException | duckdb.IOException) and any(
        marker in lowered for marker in _NEWER_MARKERS
    ):
        return NewerFormatError(
            f"Could not {action}: the file was written by a newer version ({first_line(text)}). "
            "Upgrade NetSight to open it."
        )
    if "is a directory" in lowered:
        return StoreAccessError(_directory_message(action))
    if any(marker in lowered for marker in _ACCESS_MARKERS):
        return StoreAccessError(f"Could not {action}: {first_line(text)}")
    if isinstance(error, duckdb.ConversionException | duckdb.InvalidInputException):
        return StoreInputError(f"Could not {action}: {first_line(text)}")
    return StoreBugError(f"Could not {action} (a NetSight bug): {first_line(text)}")


def _directory_message(action: str) -> str:
    return (
        f"Could not {action}: the path is a directory, not a database file. "
        "Give the path of a file (it is created if it does not exist)."
    )


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


@contextlib.contextmanager
def translated(action: str) -> Iterator[None]:
    """Run a block whose DuckDB and OS errors become StoreErrors naming `action`."""
    try:
        yield
    except StoreError:
        raise
    except (duckdb.Error, OSError) as error:
        converted = classify(error, action)
        if converted.user_fault:
            # The caller tells the user; a warning here would say it twice.
            logger.info("Store: %s", converted)
        else:
            logger.exception("Store: %s", converted)
        raise converted from error
