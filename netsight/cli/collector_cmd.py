"""`netsight collector deploy|status|remove` and `netsight collect`.

These are the headless forms of the desktop's collector actions, for scripts
and for the end-to-end test: the same deployer, puller and store run here.
"""

from __future__ import annotations

import argparse
import logging
import math
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
    collect.add_argument(
        "--duration", type=_seconds, required=True, help="seconds to collect (0: pull once)"
    )
    collect.add_argument(
        "--keep-collector", action="store_true", help="leave a collector this run deployed"
    )
    collect.add_argument("--image", help="agent image (a stock Python image)")
    collect.set_defaults(func=_run_collect)


def _seconds(text: str) -> float:
    """A duration for argparse: a finite number of seconds, zero or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds, 0 or more")
    return value


def _add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube)")
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")


def _fail(message: str) -> int:
    print(f"netsight: {message}", file=sys.stderr)
    return 1


def _kube_message(error: Exception, args: argparse.Namespace) -> str:
    """A Kubernetes error with what it means for the user: whose credentials, which server."""
    from netsight.kube.errors import AuthError, UnavailableError

    context = f"context {args.context}" if args.context else "the current context"
    if isinstance(error, AuthError):
        return (
            f"{error}. The API server did not accept the credentials of {context} (a wrong "
            "or expired token or certificate); log in again or fix the kubeconfig, then retry."
        )
    if isinstance(error, UnavailableError):
        return (
            f"{error}. The API server of {context} cannot be reached; check that the cluster "
            "is up and its address in the kubeconfig, then retry."
        )
    return str(error)


def _settings(args: argparse.Namespace) -> Any:
    from netsight.collector.manifests import CollectorSettings

    return (
        CollectorSettings(image=args.image)
        if getattr(args, "image", None)
        else (CollectorSettings())
    )


def _connect(args: argparse.Namespace) -> tuple[Any, str]:
    from netsight.kube.client import api_client_for, context_name
    from netsight.kube.kubeconfig import kubeconfig_paths, load_merged

    if args.context is None:
        merged = load_merged(args.kubeconfig)
        if merged.current_context is None:
            raise LookupError(_no_context_message(merged, kubeconfig_paths(args.kubeconfig)[0]))
    api = api_client_for(args.context, args.kubeconfig)
    return api, context_name(api) or args.context or ""


def _no_context_message(merged: Any, paths: list[str]) -> str:
    """Why no context can be chosen, naming the files' problems or the contexts to pick from."""
    where = ", ".join(paths) or "the kubeconfig"
    if merged.contexts or merged.broken_contexts:
        names = ", ".join(sorted([*merged.contexts, *merged.broken_contexts]))
        return (
            f"{where} sets no current context; name one of its contexts ({names}) "
            "with --context. Nothing was done."
        )
    problems = list(merged.file_errors.values())
    if not problems:
        problems = [f"{where} defines no contexts"]
    return f"no kubeconfig context can be used: {'; '.join(problems)}. Nothing was done."


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
            for pod in deployer.agent_pods() if state.deployed else []:
                print(f"  {pod.node}: {pod.name} {'ready' if pod.ready else 'not ready'}")
        else:
            deployer.remove()
            print("Collector removed; nothing it created is left.")
        return 0
    except (KubeError, DeployError, LookupError) as error:
        return _fail(_kube_message(error, args))


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
    except (KubeError, LookupError) as error:
        return _fail(_kube_message(error, args))
    deployer = CollectorDeployer(api, _settings(args))
    try:
        # One request first, before any file is made: an unreachable server or
        # refused credentials is one message, not one warning per informer.
        already_deployed = deployer.state().deployed
    except KubeError as error:
        return _fail(f"{_kube_message(error, args)} Nothing was done.")
    try:
        store = open_store(args.db or default_db_path(context))
    except StoreError as error:
        return _fail(str(error))

    # The inventory's events are applied between pulls, on this thread.
    history = OwnershipHistory()
    inventory = Inventory(api)
    deployed_here = False
    tally = _Tally()
    try:
        if not already_deployed:
            print("Deploying the collector...", flush=True)
            # Set before deploying: a deploy that fails or is interrupted half-way is removed.
            deployed_here = True
            deployer.deploy(progress=_print_progress)
        puller = AgentPuller(api, store)
        deadline = time.monotonic() + args.duration
        while True:
            tally.add(puller.pull_all())
            _drain(inventory, history)
            if time.monotonic() >= deadline:
                break
            time.sleep(min(PULL_INTERVAL_S, max(0.0, deadline - time.monotonic())))
        tally.add(puller.pull_all())
        if not inventory.wait_synced(timeout=INVENTORY_SYNC_TIMEOUT_S):
            print("The inventory did not finish listing; names may be missing.", file=sys.stderr)
        _drain(inventory, history)
        save_identity(store, history)
        # Resolve now, so the first look at the file does not have to.
        store.refresh()
        print(f"Collected {tally.records} records into {store.path}.")
        tally.report()
        for kind, reason in sorted(inventory.unavailable.items()):
            print(f"  {kind} not watched: {reason}", file=sys.stderr)
        if tally.records == 0 and tally.failed_nodes and not tally.answered_nodes:
            return _fail(
                "no agent answered, so nothing was collected; see the reasons above. "
                "The names of the cluster's objects were saved."
            )
        return 0
    except (KubeError, DeployError, StoreError) as error:
        return _fail(_kube_message(error, args))
    except (KeyboardInterrupt, RuntimeError) as error:
        # DuckDB turns a Ctrl-C during a statement into RuntimeError("Query interrupted");
        # its transaction was rolled back, so the store holds whole batches only.
        if isinstance(error, RuntimeError) and "interrupted" not in str(error).lower():
            raise
        # Keep what was pulled, and the names known so far, so the records can be read.
        _drain(inventory, history)
        try:
            save_identity(store, history)
        except StoreError as error:
            print(f"netsight: {error}", file=sys.stderr)
        print(
            f"Interrupted; kept the {tally.records} records pulled so far in {store.path}; "
            "cleaning up.",
            file=sys.stderr,
        )
        tally.report()
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


class _Tally:
    """What every pull of one `collect` brought in, for the summary at its end."""

    def __init__(self) -> None:
        self.records = 0
        self.skipped: dict[str, int] = {}
        self.skip_reasons: dict[str, list[str]] = {}
        self.last_errors: dict[str, str] = {}
        self.failed_nodes: set[str] = set()
        self.answered_nodes: set[str] = set()

    def add(self, result: Any) -> None:
        self.records += result.records
        for node, count in result.skipped.items():
            self.skipped[node] = self.skipped.get(node, 0) + count
            reasons = self.skip_reasons.setdefault(node, [])
            reasons += [r for r in result.skip_reasons.get(node, []) if r not in reasons][
                : max(0, 3 - len(reasons))
            ]
        self.failed_nodes |= set(result.errors)
        self.last_errors.update(result.errors)
        for node in result.answered:
            self.answered_nodes.add(node)
            self.last_errors.pop(node, None)

    def report(self) -> None:
        for node, count in sorted(self.skipped.items()):
            print(
                f"  {node}: skipped {count} malformed records from its agent "
                f"({'; '.join(self.skip_reasons.get(node, []))}); the others were kept.",
                file=sys.stderr,
            )
        for node, error in sorted(self.last_errors.items()):
            print(f"  {node}: could not be pulled: {error}", file=sys.stderr)


def _drain(inventory: Any, history: Any) -> None:
    import queue

    while True:
        try:
            event = inventory.events.get_nowait()
        except queue.Empty:
            return
        history.apply(event.kind, event.type, event.obj, event.observed_at)
