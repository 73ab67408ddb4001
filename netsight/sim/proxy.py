"""The pod proxy subresource: `/api/v1/namespaces/N/pods/NAME[:PORT]/proxy/PATH`.

NetSight pulls collector records through the API server's pod proxy, so the
simulation forwards such GETs for collector pods (pods of a DaemonSet
labelled `app.kubernetes.io/name: netsight-collector`) to the address
registered for the pod's node with `set_agent(node, url)`: usually an agent
running for real on loopback or in a test's network namespace. The port in
the path is accepted and ignored (the registered URL has its own).
"""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request

from netsight.sim import status
from netsight.sim.objects import ObjectStore, meta
from netsight.sim.resources import ResourceRegistry

logger = logging.getLogger(__name__)

COLLECTOR_LABEL = ("app.kubernetes.io/name", "netsight-collector")
# The agent answers from memory; anything slower than this is broken.
FORWARD_TIMEOUT_S = 30.0
# Content type assumed when the agent does not name one.
JSON = "application/json"
# Agents live on loopback or in test namespaces: never go through an
# http_proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class PodProxy:
    """Forwards pod-proxy GETs for collector pods to registered agent URLs."""

    def __init__(self, store: ObjectStore, registry: ResourceRegistry) -> None:
        self.store = store
        self.registry = registry
        self._agents: dict[str, str] = {}
        self._lock = threading.Lock()

    def set_agent(self, node: str, url: str | None) -> None:
        with self._lock:
            if url:
                self._agents[node] = url.rstrip("/")
            else:
                self._agents.pop(node, None)

    def agents(self) -> dict[str, str]:
        with self._lock:
            return dict(self._agents)

    def _is_collector(self, pod: dict) -> bool:
        key, value = COLLECTOR_LABEL
        daemonsets = self.registry.by_path("apps", "v1", "daemonsets")
        namespace = str(meta(pod).get("namespace") or "")
        for owner in meta(pod).get("ownerReferences") or []:
            if owner.get("kind") != "DaemonSet" or daemonsets is None:
                continue
            ds = self.store.get(daemonsets, namespace, str(owner.get("name")))
            if ds is None or (owner.get("uid") and meta(ds).get("uid") != owner.get("uid")):
                continue
            if (meta(ds).get("labels") or {}).get(key) == value:
                return True
        return False

    def forward(
        self, namespace: str, name_and_port: str, subpath: str, raw_query: str
    ) -> tuple[int, str, bytes]:
        """(status code, content type, body) of the agent's answer."""
        name = name_and_port.split(":")[0]
        pods = self.registry.by_path("", "v1", "pods")
        pod = self.store.get(pods, namespace, name) if pods else None
        if pod is None:
            raise status.not_found("pods", name)
        phase = (pod.get("status") or {}).get("phase")
        if phase != "Running":
            raise status.unavailable(f'pod "{name}" is not running (phase {phase or "unknown"})')
        if not self._is_collector(pod):
            raise status.unavailable(
                f'pod "{name}" is not a netsight collector pod; the simulation proxies only those'
            )
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        with self._lock:
            base = self._agents.get(node)
        if not base:
            raise status.unavailable(f'no agent is registered for node "{node}" of pod "{name}"')

        url = f"{base}/{subpath}" + (f"?{raw_query}" if raw_query else "")
        try:
            with _OPENER.open(url, timeout=FORWARD_TIMEOUT_S) as answer:
                return answer.status, answer.headers.get("Content-Type", JSON), answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Content-Type", JSON), error.read()
        except (urllib.error.URLError, OSError) as error:
            logger.warning("Pod proxy to %s for %s/%s failed: %s", url, namespace, name, error)
            raise status.unavailable(
                f"error trying to reach service: {getattr(error, 'reason', error)}"
            ) from None
