"""The lab itself: labs alive at once never share addresses; servers serve clients at once.

Needs root (it builds namespaces); skipped with the reason otherwise.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from netlab import CLAIMS_DIR, NetLab, lab_available

_REASON = lab_available()
pytestmark = [pytest.mark.netns, pytest.mark.skipif(_REASON is not None, reason=_REASON or "")]

# Tries the lock of a block the way another test process would.
OTHER_PROCESS_CLAIM = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    print("held")
else:
    print("free")
"""


def claim_seen_by_another_process(block: int) -> str:
    result = subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS_CLAIM, f"{CLAIMS_DIR}/{block}.lock"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout.strip()


def test_labs_alive_at_once_have_addresses_of_their_own() -> None:
    with NetLab(["a"]) as first, NetLab(["a"]) as second:
        assert first.addresses != second.addresses
        assert first.pod_ips["a"] != second.pod_ips["a"]
        assert first.addresses.external_ip != second.addresses.external_ip
        assert first.addresses.cluster_ip(0) != second.addresses.cluster_ip(0)
        assert claim_seen_by_another_process(first.addresses.block) == "held"
    # Given back on close: another process may take it now.
    assert claim_seen_by_another_process(first.addresses.block) == "free"


def test_tcp_server_serves_clients_at_the_same_time() -> None:
    with NetLab(["server", "client"]) as lab:
        server_ip = lab.pod_ips["server"]
        lab.server("server", "tcp", 8080, "srv", request=10, response=20)
        started = time.monotonic()
        # The first client stays connected; the second must not wait for it.
        first, _ = lab.client("client", "tcp", server_ip, 8080, "first", 10, 20, hold=30)
        second, _ = lab.client("client", "tcp", server_ip, 8080, "second", 10, 20, hold=0)
        assert second.wait() == 0
        assert time.monotonic() - started < 10
        assert first.process.poll() is None  # still holding its connection
