"""`netsight agent`: run the node agent file here, as the DaemonSet runs it on a node.

The agent is one standard-library file meant to be read and run on its own,
so this command runs that same file with this interpreter instead of
importing it as part of NetSight: what a user tries locally is exactly what
a node runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

AGENT_FILE = Path(__file__).resolve().parent.parent / "collector" / "agent.py"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "agent",
        help="run the node agent on this machine (as root)",
        description="Run the NetSight node agent locally: it reads every network namespace's "
        "sockets and the conntrack table of --host-netns, and serves /v1/records and /v1/status.",
    )
    parser.add_argument("--listen", required=True, help="HOST:PORT to serve on")
    parser.add_argument("--node", default=None, help="node name for records (default: hostname)")
    parser.add_argument(
        "--host-netns",
        default=None,
        help="network namespace file whose conntrack table is the node's (default /proc/1/ns/net)",
    )
    parser.add_argument("--poll-interval", type=float, default=None, help="seconds between polls")
    parser.add_argument("--buffer", type=int, default=None, help="records kept for pulling")
    parser.set_defaults(func=run)


def agent_command(args: argparse.Namespace) -> list[str]:
    command = [sys.executable, str(AGENT_FILE), "--listen", args.listen]
    for flag, value in (
        ("--node", args.node),
        ("--host-netns", args.host_netns),
        ("--poll-interval", args.poll_interval),
        ("--buffer", args.buffer),
    ):
        if value is not None:
            command += [flag, str(value)]
    if getattr(args, "verbose", False):
        command += ["--log-level", "DEBUG"]
    return command


def run(args: argparse.Namespace) -> int:
    if os.geteuid() != 0:
        logger.warning(
            "Not running as root: the agent will only see this user's processes and "
            "cannot enter other network namespaces or read conntrack."
        )
    process = subprocess.Popen(agent_command(args))
    # A SIGTERM to this command (a service manager, a test) stops the agent cleanly too.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: process.terminate())
    try:
        return process.wait()
    except KeyboardInterrupt:
        # The agent got the same Ctrl-C (same process group) and shuts down by itself.
        return process.wait()
