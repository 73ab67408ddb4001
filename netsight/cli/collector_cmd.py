"""`netsight collector deploy|status|remove` and `netsight collect`.

These are the headless forms of the desktop's collector actions, for scripts
and for the end-to-end test: the same deployer, puller and store run here.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Any

logger = logging.getLogger(__name__)

# How often `collect` pulls the agents while it runs.
PULL_INTERVAL_S = 2.0
# How long `collect` waits, at its end, for the inventory's first full listing.
INVENTORY_SYNC_TIMEOUT_S = 60.0


def register(subparsers: Any) -> None:
    collector = subparsers.add_parser("collector", help="deploy, inspect or remove the collector")
    actions = collector.add_subparsers(dest="action", required=True)
    for action, help_text in (
        ("deploy", "deploy the collector DaemonSet and wait for every node"),
        ("status", "show the collector's state on every node"),
        ("remove", "delete every object the collector deploy created"),
    ):
        parser = actions.add_parser(action, help=help_text)
        _add_cluster_arguments(parser)
        if action == "deploy":
            parser.add_argument("--image", help="agent image (a stock Python image)")
            parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait")
        parser.set_defaults(func=_run_collector_action)

    collect = subparsers.add_parser(
        "collect", help="deploy if needed, pull connections into the database, then clean up"
    )
    _add_cluster_arguments(collect)
    collect.add_argument("--db", help="DuckDB file (default: one per context in the data dir)")
    collect.add_argument("--duration", type=float, required=True, help="seconds to collect")
    collect.add_argument(
        "--keep-collector", action="store_true", help="leave a collector this run deployed"
    )
    collect.add_argument("--image", help="agent image (a stock Python image)")
    collect.set_defaults(func=_run_collect)


def _add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube)")
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")


def _fail(message: str) -> int:
    print(f"netsight: {message}", file=sys.stderr)
    return 1


def _settings(args: argparse.Namespace) -> Any:
    from netsight.collector.manifests import CollectorSettings

    return (
        CollectorSettings(image=args.image)
        if getattr(args, "image", None)
        else (CollectorSettings())
    )


def _connect(args: argparse.Namespace) -> tuple[Any, str]:
    from netsight.kube.client import api_client_for
    from netsight.kube.contexts import load_contexts

    contexts = load_contexts(args.kubeconfig)
    name = args.context or next((c.name for c in contexts if c.is_current), None)
    if name is None:
        raise LookupError("no context given and the kubeconfig names no current context")
    return api_client_for(name, args.kubeconfig), name


def _print_progress(state: Any) -> None:
    problems = "; ".join(f"{n}: {p}" for n, p in sorted(state.problems.items()))
    print(f"{state.summary}" + (f" ({problems})" if problems else ""), flush=True)


def _run_collector_action(args: argparse.Namespace) -> int:
    from netsight.collector.deploy import CollectorDeployer, DeployError
    from netsight.kube.errors import KubeError

    try:
        api, _ = _connect(args)
        deployer = CollectorDeployer(api, _settings(args))
        if args.action == "deploy":
            state = deployer.deploy(progress=_print_progress, timeout_s=args.timeout)
            print(f"Collector deployed: {state.summary}.")
        elif args.action == "status":
            state = deployer.state()
            _print_progress(state)
            for pod in deployer.agent_pods():
                print(f"  {pod.node}: {pod.name} {'ready' if pod.ready else 'not ready'}")
        else:
            deployer.remove()
            print("Collector removed; nothing it created is left.")
        return 0
    except (KubeError, DeployError, LookupError) as error:
        return _fail(str(error))


def _run_collect(args: argparse.Namespace) -> int:
    from netsight.collector.deploy import CollectorDeployer, DeployError
    from netsight.collector.pulling import AgentPuller
    from netsight.identity.ownership import OwnershipHistory
    from netsight.kube.errors import KubeError
    from netsight.kube.watching import Inventory
    from netsight.store.database import open_store
    from netsight.store.errors import StoreError
    from netsight.store.paths import default_db_path
    from netsight.store.syncing import save_identity

    try:
        api, context = _connect(args)
        store = open_store(args.db or default_db_path(context))
    except (KubeError, LookupError, StoreError) as error:
        return _fail(str(error))

    # The inventory's events are applied between pulls, on this thread.
    history = OwnershipHistory()
    inventory = Inventory(api)
    deployer = CollectorDeployer(api, _settings(args))
    deployed_here = False
    try:
        if not deployer.state().deployed:
            print("Deploying the collector...", flush=True)
            deployer.deploy(progress=_print_progress)
            deployed_here = True
        puller = AgentPuller(api, store)
        deadline = time.monotonic() + args.duration
        total = 0
        while True:
            result = puller.pull_all()
            total += result.records
            _drain(inventory, history)
            for node, problem in result.errors.items():
                print(f"  {node}: {problem}", file=sys.stderr)
            if time.monotonic() >= deadline:
                break
            time.sleep(min(PULL_INTERVAL_S, max(0.0, deadline - time.monotonic())))
        total += puller.pull_all().records
        if not inventory.wait_synced(timeout=INVENTORY_SYNC_TIMEOUT_S):
            print("The inventory did not finish listing; names may be missing.", file=sys.stderr)
        _drain(inventory, history)
        save_identity(store, history)
        print(f"Collected {total} records into {store.path}.")
        for kind, reason in sorted(inventory.unavailable.items()):
            print(f"  {kind} not watched: {reason}", file=sys.stderr)
        return 0
    except (KubeError, DeployError, StoreError) as error:
        return _fail(str(error))
    except KeyboardInterrupt:
        print("Interrupted; cleaning up.", file=sys.stderr)
        return 130
    finally:
        inventory.stop()
        if deployed_here and not args.keep_collector:
            try:
                deployer.remove()
                print("Removed the collector this run deployed.")
            except (KubeError, DeployError) as cleanup_error:
                print(f"netsight: {cleanup_error}", file=sys.stderr)
        store.close()


def _drain(inventory: Any, history: Any) -> None:
    import queue

    while True:
        try:
            event = inventory.events.get_nowait()
        except queue.Empty:
            return
        history.apply(event.kind, event.type, event.obj, event.observed_at)
