"""`netsight agent` runs the same agent file and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest
from netlab import NetLab, lab_available

_REASON = lab_available()


@pytest.mark.netns
@pytest.mark.skipif(_REASON is not None, reason=_REASON or "")
def test_netsight_agent_serves_status_and_stops_on_sigterm() -> None:
    with NetLab([]) as lab:
        process = subprocess.Popen(
            [sys.executable, "-m", "netsight", "agent", "--listen", "127.0.0.1:0",
             "--node", "cli-node", "--host-netns", lab.node_netns_path],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            ready = process.stdout.readline().split()
            assert ready[0] == "ready", ready
            with urllib.request.urlopen(ready[1] + "/v1/status", timeout=10) as response:
                status = json.load(response)
            assert status["node"] == "cli-node"
            assert status["conntrack"] is True and status["generation"] == ready[3]
            process.terminate()
            assert process.wait(timeout=15) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdout.close()  # type: ignore[union-attr]
            process.stderr.close()  # type: ignore[union-attr]
