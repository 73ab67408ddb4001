"""Agent cost on a node with 20,000 sockets: CPU % of one core and RSS, beside the targets.

Builds a network namespace holding 10,000 established loopback TCP
connections (20,000 sockets plus the listener, split over two processes to
stay under the per-process open-file limit), runs the real agent file at its
default poll interval against it, and reads the agent's CPU time and memory
from /proc. Needs root; everything is removed at the end.

    sudo .venv/bin/python bench/bench_agent.py [--duration 60] [--connections 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

AGENT_FILE = Path(__file__).resolve().parents[1] / "netsight" / "collector" / "agent.py"
TARGET_CPU_PERCENT = 2.0
TARGET_RSS_MIB = 60.0

SERVER = r"""
import resource, socket, sys, time
count = int(sys.argv[1])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(4096)
print(srv.getsockname()[1], flush=True)
held = [srv.accept()[0] for _ in range(count)]
for conn in held:
    conn.send(b"x" * 100)
print("accepted", flush=True)
time.sleep(3600)
"""
CLIENT = r"""
import resource, socket, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
held = []
for _ in range(count):
    conn = socket.create_connection(("127.0.0.1", port))
    conn.send(b"y" * 10)
    held.append(conn)
print("connected", flush=True)
time.sleep(3600)
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def status(url: str) -> dict:
    with urllib.request.urlopen(url + "/v1/status", timeout=10) as response:
        return json.load(response)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds measured")
    parser.add_argument("--connections", type=int, default=10_000, help="TCP connections held")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_agent: needs root (network namespaces); nothing measured.")
        return 2

    ns = f"ns-{os.getpid()}-bench"
    processes: list[subprocess.Popen[str]] = []
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        inside = ["ip", "netns", "exec", ns, sys.executable, "-c"]
        server = subprocess.Popen([*inside, SERVER, str(args.connections)],
                                  stdout=subprocess.PIPE, text=True)  # fmt: skip
        processes.append(server)
        assert server.stdout is not None
        port = server.stdout.readline().strip()
        client = subprocess.Popen([*inside, CLIENT, port, str(args.connections)],
                                  stdout=subprocess.PIPE, text=True)  # fmt: skip
        processes.append(client)
        assert client.stdout is not None
        client.stdout.readline()
        server.stdout.readline()
        sockets = 2 * args.connections + 1
        print(f"namespace {ns}: {sockets:,} TCP sockets held")

        agent = subprocess.Popen(
            [sys.executable, str(AGENT_FILE), "--listen", "127.0.0.1:0", "--node", "bench",
             "--host-netns", f"/run/netns/{ns}", "--log-level", "WARNING"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        processes.append(agent)
        assert agent.stdout is not None
        url = agent.stdout.readline().split()[1]
        started = time.monotonic()
        while status(url)["connections"] < args.connections:
            time.sleep(0.2)
        first = time.monotonic() - started
        first_cpu = cpu_seconds(agent.pid)

        cpu_before, wall_before = cpu_seconds(agent.pid), time.monotonic()
        time.sleep(args.duration)
        cpu = cpu_seconds(agent.pid) - cpu_before
        wall = time.monotonic() - wall_before
        final = status(url)
        rss = memory_kib(agent.pid, "VmRSS") / 1024
        peak = memory_kib(agent.pid, "VmHWM") / 1024
        percent = 100 * cpu / wall

        print(f"first poll of {sockets:,} sockets: {first:.2f} s wall, {first_cpu:.2f} s CPU "
              f"(start-up, not steady state)")  # fmt: skip
        print(f"steady state over {wall:.0f} s at poll interval {final['poll_interval_s']} s "
              f"({final['polls']} polls, {final['connections']:,} connections, "
              f"{final['last_seq']:,} records):")  # fmt: skip
        verdict = "ok" if percent < TARGET_CPU_PERCENT else "OVER"
        print(f"  CPU  {percent:6.2f} % of one core   target < {TARGET_CPU_PERCENT} %   {verdict}")
        verdict = "ok" if peak < TARGET_RSS_MIB else "OVER"
        print(f"  RSS  {rss:6.1f} MiB (peak {peak:.1f})   target < {TARGET_RSS_MIB:.0f} MiB   "
              f"{verdict}")  # fmt: skip
        return 0
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        for pid in subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                                  text=True).stdout.split():  # fmt: skip
            os.kill(int(pid), 9)
        subprocess.run(["ip", "netns", "del", ns], check=False)


if __name__ == "__main__":
    sys.exit(main())
