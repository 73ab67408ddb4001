"""Every UI test must leave no thread behind: workers and sessions stop on close."""

import threading
import time

import pytest

# Threads that exist for the whole run (Qt's own, the test runner's) are not counted.
GRACE_S = 5.0


@pytest.fixture(autouse=True)
def no_leftover_threads():
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + GRACE_S
    while True:
        extra = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not extra or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not extra, f"threads left running: {[t.name for t in extra]}"
