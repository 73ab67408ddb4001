"""Agent cost on a node with 20,000 sockets: CPU % of one core and RSS, beside the targets.

Builds a network namespace holding 10,000 established loopback TCP
connections (20,000 sockets plus the listener, split over two processes to
stay under the per-process open-file limit), runs the real agent file at its
default poll interval against it, and reads the agent's CPU time and memory
from /proc. Needs root; everything is removed at the end.

    sudo .venv/bin/python bench/bench_agent.py [--duration 60] [--connections 10000] [--busy]

The sockets are idle unless ``--busy``: the agent then leaves them unread
most polls (their namespace's TCP counters do not move), which is the
common case on a node but not the worst; ``--busy`` is the worst case.

The buffer is measured full too: a second agent run re-emits every connection
each poll until its buffer is full and its peak RSS is read (a long-running
agent gets there through its periodic refresh). ``--agent-file`` measures
another version of the agent, ``--baseline FILE`` a second one side by side
(before/after figures on a machine that is not quiet); ``--profile N``
runs N polls of the agent in this process under cProfile instead and prints
where the time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import json
import os
import pstats
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import ModuleType

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
port, count, busy = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "busy"
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
held = []
for _ in range(count):
    conn = socket.create_connection(("127.0.0.1", port))
    conn.send(b"y" * 10)
    held.append(conn)
print("connected", flush=True)
while busy:  # a byte twice a second: the namespace is never quiet
    held[0].send(b"z")
    time.sleep(0.5)
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


def load_agent(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_agent_module", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def start_agent(agent_file: Path, ns: str, *extra: str) -> tuple[subprocess.Popen[str], str]:
    agent = subprocess.Popen(
        [sys.executable, str(agent_file), "--listen", "127.0.0.1:0", "--node", "bench",
         "--host-netns", f"/run/netns/{ns}", "--log-level", "WARNING", *extra],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert agent.stdout is not None
    return agent, agent.stdout.readline().split()[1]


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


def wait_for_connections(url: str, count: int) -> None:
    while status(url)["connections"] < count:
        time.sleep(0.2)


def measure(agent_files: list[Path], ns: str, duration: float, connections: int) -> None:
    """CPU and memory at the default poll interval, then memory with a full buffer.

    Several agent files are measured side by side over the same seconds, so
    whatever else the machine does weighs on each alike.
    """
    agents = [start_agent(agent_file, ns) for agent_file in agent_files]
    try:
        started = time.monotonic()
        for _agent, url in agents:
            wait_for_connections(url, connections)
        first = time.monotonic() - started
        before = [(cpu_seconds(agent.pid), time.monotonic()) for agent, _url in agents]
        time.sleep(duration)
        results = []
        for (agent, url), (cpu_before, wall_before) in zip(agents, before, strict=True):
            cpu = cpu_seconds(agent.pid) - cpu_before
            wall = time.monotonic() - wall_before
            rss = memory_kib(agent.pid, "VmRSS") / 1024
            peak = memory_kib(agent.pid, "VmHWM") / 1024
            results.append((100 * cpu / wall, wall, rss, peak, status(url)))
    finally:
        for agent, _url in agents:
            stop(agent)
    sockets = 2 * connections + 1
    print(f"first poll of {sockets:,} sockets: {first:.2f} s wall (start-up, not steady state)")
    for agent_file, (percent, wall, rss, peak, final) in zip(agent_files, results, strict=True):
        print(f"{agent_file}: steady state over {wall:.0f} s at poll interval "
              f"{final['poll_interval_s']} s ({final['polls']} polls, "
              f"{final['connections']:,} connections, {final['last_seq']:,} records):")  # fmt: skip
        verdict = "ok" if percent < TARGET_CPU_PERCENT else "OVER"
        print(f"  CPU  {percent:6.2f} % of one core   target < {TARGET_CPU_PERCENT} %   {verdict}")
        verdict = "ok" if peak < TARGET_RSS_MIB else "OVER"
        print(f"  RSS  {rss:6.1f} MiB (peak {peak:.1f})   target < {TARGET_RSS_MIB:.0f} MiB   "
              f"{verdict}")  # fmt: skip

    for agent_file in agent_files:
        # Every connection re-emitted each poll until the buffer is full.
        agent, url = start_agent(agent_file, ns, "--poll-interval", "1", "--refresh-interval", "0")
        try:
            wait_for_connections(url, connections)
            while True:
                now = status(url)
                if now["buffer_used"] >= now["buffer_capacity"] and now["dropped"] > connections:
                    break
                time.sleep(0.5)
            peak = memory_kib(agent.pid, "VmHWM") / 1024
        finally:
            stop(agent)
        verdict = "ok" if peak < TARGET_RSS_MIB else "OVER"
        print(f"{agent_file}: RSS {peak:6.1f} MiB peak with the buffer full "
              f"({now['buffer_capacity']:,} records)   target < {TARGET_RSS_MIB:.0f} MiB   "
              f"{verdict}")  # fmt: skip


def profile(agent_file: Path, ns: str, polls: int, connections: int) -> None:
    """Run polls of the agent in this process under cProfile; print the costliest calls."""
    module = load_agent(agent_file)
    config = module.AgentConfig(node="bench", host_netns=f"/run/netns/{ns}")
    agent = module.Agent(config)
    agent._open_conntrack()
    try:
        for _ in range(3):  # reading everything and emitting it: start-up, not steady state
            agent.poll()
        assert len(agent.connections) >= connections, len(agent.connections)
        profiler = cProfile.Profile()
        started = time.process_time()
        profiler.enable()
        for _ in range(polls):
            agent.poll()
        profiler.disable()
        each = (time.process_time() - started) / polls
    finally:
        agent.stop()
    print(f"{each * 1000:.1f} ms CPU per poll (under the profiler), {polls} polls:")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds measured")
    parser.add_argument("--connections", type=int, default=10_000, help="TCP connections held")
    parser.add_argument("--agent-file", type=Path, default=AGENT_FILE, help="agent to measure")
    parser.add_argument(
        "--baseline", type=Path, help="another agent file, measured side by side with it"
    )
    parser.add_argument("--profile", type=int, metavar="POLLS", help="profile POLLS polls")
    parser.add_argument(
        "--busy",
        action="store_true",
        help="a byte every 0.5 s on one connection, so the agent reads every socket every poll",
    )
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
        traffic = "busy" if args.busy else "quiet"
        client = subprocess.Popen([*inside, CLIENT, port, str(args.connections), traffic],
                                  stdout=subprocess.PIPE, text=True)  # fmt: skip
        processes.append(client)
        assert client.stdout is not None
        client.stdout.readline()
        server.stdout.readline()
        print(f"namespace {ns}: {2 * args.connections + 1:,} TCP sockets held "
              f"({traffic}); agent {args.agent_file}")  # fmt: skip
        if args.profile:
            profile(args.agent_file, ns, args.profile, args.connections)
        else:
            files = [args.agent_file] + ([args.baseline] if args.baseline else [])
            measure(files, ns, args.duration, args.connections)
        return 0
    finally:
        for process in reversed(processes):
            stop(process)
        for pid in subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                                  text=True).stdout.split():  # fmt: skip
            os.kill(int(pid), 9)
        subprocess.run(["ip", "netns", "del", ns], check=False)


if __name__ == "__main__":
    sys.exit(main())
