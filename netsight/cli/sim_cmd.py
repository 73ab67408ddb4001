"""`netsight sim serve`: run the simulated cluster from object dumps.

Prints exactly one line `ready <url>` once the server answers, writes the
kubeconfig, and serves until SIGTERM or SIGINT. Bad input (a dump that is not
a list, an unreadable timeline, a malformed --agent or --deny) is one line on
stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

logger = logging.getLogger(__name__)

# Exit codes: 0 clean stop, 2 bad input, 1 the server could not start.
EXIT_BAD_INPUT = 2
EXIT_START_FAILED = 1


def _port(text: str) -> int:
    """A TCP port number, 0 meaning any free port."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0 to 65535)")
    return port


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    sim = subparsers.add_parser("sim", help="the simulated Kubernetes cluster")
    sim_sub = sim.add_subparsers(dest="sim_command", required=True)
    serve = sim_sub.add_parser(
        "serve",
        help="serve object dumps as a local HTTPS Kubernetes API",
        description="Serve kubectl dumps (kind: List JSON/YAML, YAML streams) as a local "
        "Kubernetes API server on 127.0.0.1 and write a kubeconfig with contexts "
        "'sim' and 'sim-restricted'.",
    )
    serve.add_argument(
        "--objects",
        nargs="+",
        required=True,
        metavar="FILE",
        help="object dumps to serve (several files merge)",
    )
    serve.add_argument(
        "--kubeconfig", required=True, metavar="OUT", help="where to write the kubeconfig"
    )
    serve.add_argument(
        "--port", type=_port, default=0, help="port on 127.0.0.1 (default: any free one)"
    )
    serve.add_argument("--timeline", metavar="FILE", help="timeline YAML to play in real time")
    serve.add_argument(
        "--agent",
        action="append",
        default=[],
        metavar="NODE=URL",
        help="forward pod-proxy calls for the collector pod on NODE to URL",
    )
    serve.add_argument(
        "--deny",
        action="append",
        default=[],
        metavar="VERB:RESOURCE[:NS]",
        help="deny the sim-restricted user a verb on a resource "
        "(':NS' one namespace, a trailing ':' the cluster scope only)",
    )
    serve.add_argument(
        "--history-limit",
        type=_positive_int,
        default=1000,
        help="watch events kept for resuming (older: 410 Gone)",
    )
    serve.set_defaults(func=run_serve)


def _fail(message: str) -> int:
    print(f"netsight sim: {message}", file=sys.stderr, flush=True)
    return EXIT_BAD_INPUT


def run_serve(args: argparse.Namespace) -> int:
    from netsight.sim.loading import LoadError, load_objects
    from netsight.sim.rbac import RbacRules
    from netsight.sim.server import SimServer
    from netsight.sim.timeline import Timeline, TimelineError

    # Read and check all input before anything listens.
    agents: dict[str, str] = {}
    for entry in args.agent:
        node, sep, url = entry.partition("=")
        if not sep or not node or not url.startswith(("http://", "https://")):
            return _fail(f"--agent {entry!r} is not NODE=http(s)://HOST:PORT; nothing is served.")
        agents[node] = url
    try:
        rbac = RbacRules.parse(args.deny)
    except ValueError as error:
        return _fail(f"--deny: {error}; nothing is served.")
    try:
        objects = load_objects(args.objects)
    except LoadError as error:
        return _fail(f"{error}; nothing is served.")
    timeline = None
    if args.timeline:
        try:
            timeline = Timeline.load(args.timeline)
        except TimelineError as error:
            return _fail(f"{error}; nothing is served.")

    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        logger.info("Signal %d received; stopping the simulated cluster.", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    sim = SimServer(
        objects,
        port=args.port,
        agents=agents,
        timeline=timeline,
        rbac=rbac,
        history_limit=args.history_limit,
    )
    try:
        sim.start()
        sim.write_kubeconfig(args.kubeconfig)
    except OSError as error:
        sim.stop()
        print(f"netsight sim: cannot serve: {error}", file=sys.stderr, flush=True)
        return EXIT_START_FAILED
    if timeline is not None:
        timeline.play()
    print(f"ready {sim.url}", flush=True)
    logger.info(
        "Serving %d objects; kubeconfig in %s (contexts sim, sim-restricted).",
        len(objects),
        args.kubeconfig,
    )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sim.stop()
    return 0
