"""Run the real agent file as a subprocess and talk to it over HTTP, for tests and bench."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

AGENT_FILE = Path(__file__).resolve().parents[2] / "netsight" / "collector" / "agent.py"


class AgentProcess:
    """One agent process listening on a free loopback port."""

    def __init__(self, *args: str, python: str = sys.executable, node: str = "lab-node") -> None:
        command = [python, str(AGENT_FILE), "--listen", "127.0.0.1:0", "--node", node, *args]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("ready "):
            self.process.kill()
            _out, err = self.process.communicate(timeout=10)
            self._close_pipes()
            raise RuntimeError(f"agent did not start: {line!r} {err}")
        self.url = line.split()[1]
        self.generation = line.split()[3]

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return json.load(response)

    def get_error(self, path: str) -> int:
        try:
            urllib.request.urlopen(self.url + path, timeout=10).close()
        except urllib.error.HTTPError as error:
            error.close()
            return error.code
        return 200

    def status(self) -> dict[str, Any]:
        return self.get("/v1/status")

    def records(self, after: int = 0, limit: int = 10_000) -> dict[str, Any]:
        return self.get(f"/v1/records?after={after}&limit={limit}")

    def latest(self) -> dict[str, dict[str, Any]]:
        """The newest record of each connection."""
        latest: dict[str, dict[str, Any]] = {}
        after = 0
        while True:
            page = self.records(after)
            for record in page["records"]:
                latest[record["conn_id"]] = record
            if not page["records"]:
                return latest
            after = page["records"][-1]["seq"]

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        """The newest record matching predicate, waiting for it to appear."""
        deadline = time.monotonic() + timeout
        while True:
            matches = [r for r in self.latest().values() if predicate(r)]
            if matches:
                return max(matches, key=lambda r: r["seq"])
            if time.monotonic() > deadline:
                latest = sorted(self.latest().values(), key=lambda r: r["seq"])
                shown = "\n".join(json.dumps(r) for r in latest[-5:])
                raise AssertionError(
                    f"no matching record within {timeout} s among the {len(latest)} "
                    f"connections; the last few:\n{shown}"
                )
            time.sleep(0.2)

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout} s")
            time.sleep(0.1)

    def stop(self) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(timeout=15)
        finally:
            self._close_pipes()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._close_pipes()

    def _close_pipes(self) -> None:
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
