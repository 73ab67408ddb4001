"""The contexts a user can pick, each with the reason it cannot be used (if any).

A context picker must show every context even when some are broken: a context
naming a cluster nobody defines, a plugin that is not installed, or a whole
kubeconfig file that does not parse must cost only that entry. Nothing here
contacts a server or runs a plugin; it only reads files and looks for binaries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from netsight.kube.credentials import plugin_problem
from netsight.kube.errors import ConfigError
from netsight.kube.kubeconfig import DEFAULT_KUBECONFIG, Entry, MergedConfig, load_merged

logger = logging.getLogger(__name__)

# kubectl's namespace when a context names none.
DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True, slots=True)
class ContextInfo:
    """One kubeconfig context; `error` says why it cannot be used, None if it can.

    A kubeconfig file that cannot be read at all appears as an entry whose
    `name` is the file's path, with empty cluster and user and the file's error.
    `source` is the file the entry came from.
    """

    name: str
    cluster: str
    user: str
    namespace: str
    is_current: bool
    error: str | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class ResolvedContext:
    """A usable context: its entries, each with the file it came from."""

    context: Entry
    cluster: Entry
    user: Entry | None
    namespace: str


def load_contexts(kubeconfig: str | None = None) -> list[ContextInfo]:
    """Every context of the kubeconfig (explicit path, else KUBECONFIG, else ~/.kube/config).

    The current context comes first, then the others in file order; files that
    could not be read follow as error entries.
    """
    merged = load_merged(kubeconfig)
    infos: list[ContextInfo] = []
    for name, entry in merged.contexts.items():
        ctx = entry.value
        error = None
        try:
            resolve(merged, name)
        except ConfigError as exc:
            error = exc.message
        infos.append(
            ContextInfo(
                name=name,
                cluster=str(ctx.get("cluster") or ""),
                user=str(ctx.get("user") or ""),
                namespace=str(ctx.get("namespace") or DEFAULT_NAMESPACE),
                is_current=name == merged.current_context,
                error=error,
                source=entry.source,
            )
        )
    for name, (problem, source) in merged.broken_contexts.items():
        infos.append(
            ContextInfo(
                name, "", "", DEFAULT_NAMESPACE, name == merged.current_context, problem, source
            )
        )
    infos.sort(key=lambda info: not info.is_current)

    for path, problem in merged.file_errors.items():
        infos.append(ContextInfo(path, "", "", "", False, problem, path))
    if not merged.files and not merged.file_errors:
        infos.append(
            ContextInfo(
                DEFAULT_KUBECONFIG,
                "",
                "",
                "",
                False,
                "no kubeconfig found (KUBECONFIG is unset and ~/.kube/config is missing)",
            )
        )
    return infos


def resolve(merged: MergedConfig, name: str | None) -> ResolvedContext:
    """Context `name` (None: the current one) with its cluster and user; ConfigError if absent."""
    if name is None:
        name = merged.current_context
        if name is None:
            raise ConfigError(_no_config_message(merged, "no current context is set"))
    if name in merged.broken_contexts:
        raise ConfigError(merged.broken_contexts[name][0])
    entry = merged.contexts.get(name)
    if entry is None:
        raise ConfigError(_no_config_message(merged, f"context {name} is not in the kubeconfig"))

    ctx = entry.value
    cluster_name = ctx.get("cluster")
    cluster = merged.clusters.get(str(cluster_name)) if cluster_name else None
    if cluster is None:
        raise ConfigError(
            f"context {name} names cluster {cluster_name!r}, which no kubeconfig file defines"
        )
    if not cluster.value.get("server"):
        raise ConfigError(f"cluster {cluster.name} of context {name} has no server address")

    user_name = ctx.get("user")
    user = None
    if user_name:
        user = merged.users.get(str(user_name))
        if user is None:
            raise ConfigError(
                f"context {name} names user {user_name!r}, which no kubeconfig file defines"
            )
        exec_cfg = user.value.get("exec")
        if isinstance(exec_cfg, dict):
            problem = plugin_problem(exec_cfg, user.source)
            if problem:
                raise ConfigError(f"context {name}: {problem}")
    return ResolvedContext(entry, cluster, user, str(ctx.get("namespace") or DEFAULT_NAMESPACE))


def _no_config_message(merged: MergedConfig, problem: str) -> str:
    if merged.file_errors and not merged.files:
        return f"{problem}; " + "; ".join(merged.file_errors.values())
    return problem
