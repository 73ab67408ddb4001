"""Every UI test must leave no thread behind: workers and sessions stop on close."""

import threading
import time

import pytest

GRACE_S = 5.0
# Threads the desktop starts (sessions, informers, deploys) carry these names.
OUR_PREFIXES = ("session-", "inventory-", "collector-")


def _ours(thread: threading.Thread) -> bool:
    # NB: Qt pool threads that ran Python show up as _DummyThread and never
    # leave threading's table; QueryRunner.close() waits for them instead.
    if isinstance(thread, threading._DummyThread):
        return False
    return not thread.daemon or thread.name.startswith(OUR_PREFIXES)


@pytest.fixture(autouse=True)
def no_leftover_threads():
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + GRACE_S
    while True:
        extra = [t for t in threading.enumerate() if t not in before and t.is_alive() and _ours(t)]
        if not extra or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not extra, f"threads left running: {[t.name for t in extra]}"
