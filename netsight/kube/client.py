"""An official `ApiClient` for one kubeconfig context, with credentials that stay fresh.

The official loader does TLS, static tokens, client certificates and auth
providers well, so it configures the client; but it merges files differently
from kubectl and handles exec plugins poorly (see `credentials`). So we pick
the context from our own merge, hand the official loader a one-context config
with absolute paths, and install the exec credential ourselves, refreshed
before it expires through the client's `refresh_api_key_hook`.
"""

from __future__ import annotations

import atexit
import base64
import logging
import os
import shutil
import tempfile
import threading
import weakref
from dataclasses import dataclass
from typing import Any

from kubernetes.client import ApiClient, Configuration
from kubernetes.client.rest import RESTClientObject
from kubernetes.config.kube_config import KubeConfigLoader

from netsight.kube.contexts import ResolvedContext, resolve
from netsight.kube.credentials import Credential, ExecCredentialSource, resolve_command
from netsight.kube.errors import KubeError, translate
from netsight.kube.kubeconfig import Entry, load_merged

logger = logging.getLogger(__name__)

# One connection per informer plus a few for one-off calls; urllib3's default
# (5 per CPU) is below the 13 concurrent watches on a 2-core machine.
CONNECTION_POOL_SIZE = 32
# Keys whose values are file paths, relative to the kubeconfig that holds them.
_CLUSTER_PATH_KEYS = ("certificate-authority",)
_USER_PATH_KEYS = ("client-certificate", "client-key", "tokenFile")


@dataclass(slots=True)
class _Binding:
    context: str
    namespace: str
    exec_source: ExecCredentialSource | None
    token_file: str | None


_bindings: weakref.WeakKeyDictionary[ApiClient, _Binding] = weakref.WeakKeyDictionary()
_bindings_lock = threading.Lock()


def api_client_for(context: str | None, kubeconfig: str | None = None) -> ApiClient:
    """An ApiClient for `context` (None: the current one); raises a KubeError subclass.

    ConfigError when the context or its plugin is missing or the config is
    incomplete; AuthError when the credential plugin fails.
    """
    merged = load_merged(kubeconfig)
    resolved = resolve(merged, context)
    name = resolved.context.name

    # The official loader configures TLS and non-exec auth from a one-context config.
    configuration = Configuration()
    configuration.connection_pool_maxsize = CONNECTION_POOL_SIZE
    user_body = dict(resolved.user.value) if resolved.user else {}
    exec_cfg = user_body.pop("exec", None)
    try:
        loader = KubeConfigLoader(
            config_dict=_single_context(resolved, user_body),
            active_context=name,
            config_base_path=None,
        )
        loader.load_and_set(configuration)
    except Exception as exc:  # the loader raises ConfigException, KeyError, OSError...
        raise translate(exc, f"loading context {name}") from exc

    # Exec plugin credentials: ours, cached and refreshed.
    source = None
    if isinstance(exec_cfg, dict) and resolved.user is not None:
        exec_cfg = dict(exec_cfg)
        exec_cfg["command"] = resolve_command(exec_cfg, resolved.user.source)
        source = ExecCredentialSource(
            exec_cfg, resolved.user.source, resolved.user.name, resolved.cluster.value
        )
        _apply_credential(configuration, source.get())

    api_client = ApiClient(configuration)
    token_file = user_body.get("tokenFile") if "token" not in user_body else None
    binding = _Binding(
        name, resolved.namespace, source, str(token_file) if isinstance(token_file, str) else None
    )
    with _bindings_lock:
        _bindings[api_client] = binding
    if source is not None:
        configuration.refresh_api_key_hook = _exec_refresh_hook(api_client, source)
    elif binding.token_file and configuration.refresh_api_key_hook is None:
        configuration.refresh_api_key_hook = _token_file_hook(binding.token_file)
    logger.debug("Prepared an API client for context %s (%s).", name, configuration.host)
    return api_client


def context_namespace(api_client: ApiClient) -> str | None:
    """The namespace of the context `api_client` was made for, if it came from here."""
    with _bindings_lock:
        binding = _bindings.get(api_client)
    return binding.namespace if binding else None


def context_name(api_client: ApiClient) -> str | None:
    """The context name `api_client` was made for, if it came from here."""
    with _bindings_lock:
        binding = _bindings.get(api_client)
    return binding.context if binding else None


def invalidate_credentials(api_client: ApiClient) -> None:
    """After a 401: make the next request fetch a fresh credential (plugin or token file)."""
    with _bindings_lock:
        binding = _bindings.get(api_client)
    if binding is None:
        return
    if binding.exec_source is not None:
        binding.exec_source.invalidate()
    elif binding.token_file:
        hook = api_client.configuration.refresh_api_key_hook
        if hook is not None:
            hook(api_client.configuration)


def _single_context(resolved: ResolvedContext, user_body: dict[str, Any]) -> dict[str, Any]:
    cluster = _absolute(resolved.cluster.value, _CLUSTER_PATH_KEYS, resolved.cluster)
    user = _absolute(user_body, _USER_PATH_KEYS, resolved.user) if resolved.user else {}
    ctx = dict(resolved.context.value)
    ctx["user"] = "user"
    ctx["cluster"] = "cluster"
    return {
        "current-context": resolved.context.name,
        "contexts": [{"name": resolved.context.name, "context": ctx}],
        "clusters": [{"name": "cluster", "cluster": cluster}],
        "users": [{"name": "user", "user": user}],
    }


def _absolute(body: dict[str, Any], keys: tuple[str, ...], entry: Entry | None) -> dict[str, Any]:
    out = dict(body)
    base = os.path.dirname(os.path.abspath(entry.source)) if entry else os.getcwd()
    for key in keys:
        value = out.get(key)
        if isinstance(value, str) and value:
            out[key] = os.path.join(base, os.path.expanduser(value))
    return out


def _apply_credential(configuration: Configuration, cred: Credential) -> bool:
    """Put `cred` into `configuration`; True when the client certificate changed."""
    if cred.token:
        configuration.api_key["BearerToken"] = f"Bearer {cred.token}"
    if cred.cert_data and cred.key_data:
        cert, key = _CertFiles.write(cred.cert_data, cred.key_data)
        changed = (cert, key) != (configuration.cert_file, configuration.key_file)
        configuration.cert_file, configuration.key_file = cert, key
        return changed
    return False


def _exec_refresh_hook(api_client: ApiClient, source: ExecCredentialSource):  # type: ignore[no-untyped-def]
    client_ref = weakref.ref(api_client)

    def refresh(configuration: Configuration) -> None:
        # Called by the client before every request; cheap while the credential is fresh.
        try:
            cred = source.get()
        except KubeError:
            raise
        except Exception as exc:
            raise translate(exc, "refreshing credentials") from exc
        if _apply_credential(configuration, cred):
            client = client_ref()
            if client is not None:
                # A new client certificate needs new TLS connections.
                client.rest_client = RESTClientObject(configuration)

    return refresh


def _token_file_hook(path: str):  # type: ignore[no-untyped-def]
    state: dict[str, float] = {}

    def refresh(configuration: Configuration) -> None:
        # Projected service-account tokens rotate in place; reread when the file changes.
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            return
        if state.get("mtime") == mtime:
            return
        try:
            with open(path, encoding="utf-8") as f:
                token = f.read().strip()
        except OSError:
            return
        state["mtime"] = mtime
        if token:
            configuration.api_key["BearerToken"] = f"Bearer {token}"

    return refresh


class _CertFiles:
    """Client certificates from plugins, written to a private folder removed at exit."""

    _lock = threading.Lock()
    _dir: str | None = None
    _files: dict[tuple[str, str], tuple[str, str]] = {}

    @classmethod
    def write(cls, cert_data: str, key_data: str) -> tuple[str, str]:
        with cls._lock:
            known = cls._files.get((cert_data, key_data))
            if known:
                return known
            if cls._dir is None:
                cls._dir = tempfile.mkdtemp(prefix="netsight-cred-")
                atexit.register(shutil.rmtree, cls._dir, True)
            stem = base64.urlsafe_b64encode(os.urandom(9)).decode()
            paths = []
            for suffix, data in (("crt", cert_data), ("key", key_data)):
                path = os.path.join(cls._dir, f"{stem}.{suffix}")
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(data)
                paths.append(path)
            cls._files[(cert_data, key_data)] = (paths[0], paths[1])
            return paths[0], paths[1]
