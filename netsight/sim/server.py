"""`SimServer`: the simulated Kubernetes API server, put together and run.

It serves HTTPS on 127.0.0.1 with a CA made at start, writes a kubeconfig
for the official client and kubectl, and runs the controllers (DaemonSet
pods, garbage collection, namespace deletion) and an optional timeline.
"""

from __future__ import annotations

import logging
import socket
import ssl
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from netsight.sim.certs import ServerCertificates, make_certificates
from netsight.sim.controllers import Controllers
from netsight.sim.handler import ApiHandler, ApiState
from netsight.sim.objects import ObjectStore, meta
from netsight.sim.proxy import PodProxy
from netsight.sim.rbac import ADMIN_USER, RESTRICTED_USER, RbacRules, Tokens
from netsight.sim.resources import ResourceRegistry

if TYPE_CHECKING:
    from netsight.sim.timeline import Timeline

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
CONTEXT = "sim"
RESTRICTED_CONTEXT = "sim-restricted"
CLUSTER = "netsight-sim"


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = True
    # Many informers and watches connect at once; do not refuse them.
    request_queue_size = 128
    api: ApiState

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def drop_connections(self) -> None:
        """Cut every open connection, so pooled keep-alive clients see the server gone."""
        with self._connections_lock:
            connections = list(self._connections)
            self._connections.clear()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that drops during the TLS handshake is not our error.
        logger.debug("Connection from %s failed: %s", client_address, sys.exc_info()[1])


class SimServer:
    """A local HTTPS Kubernetes API server with list/watch semantics."""

    def __init__(
        self,
        objects: list[dict],
        *,
        port: int = 0,
        agents: dict[str, str] | None = None,
        timeline: Timeline | None = None,
        rbac: RbacRules | None = None,
        history_limit: int = 1000,
        response_delay_s: float = 0.0,
        bookmark_interval_s: float = 1.0,
    ) -> None:
        self.registry = ResourceRegistry()
        self.store = ObjectStore(self.registry, history_limit=history_limit)
        self.store.load(_with_namespaces(objects, self.registry))
        self.rbac = rbac if rbac is not None else RbacRules()
        self.tokens = Tokens()
        self.proxy = PodProxy(self.store, self.registry)
        for node, url in (agents or {}).items():
            self.proxy.set_agent(node, url)
        self.controllers = Controllers(self.store, self.registry)
        self.store.add_hook(self.controllers.on_event)
        self.timeline = timeline
        if timeline is not None:
            timeline.bind(self.store)
        self._port = port
        self._state = ApiState(
            store=self.store,
            registry=self.registry,
            tokens=self.tokens,
            rbac=self.rbac,
            proxy=self.proxy,
            response_delay_s=response_delay_s,
            bookmark_interval_s=bookmark_interval_s,
        )
        self._httpd: _TlsServer | None = None
        self._thread: threading.Thread | None = None
        self._certs: ServerCertificates | None = None

    @property
    def response_delay_s(self) -> float:
        return self._state.response_delay_s

    @response_delay_s.setter
    def response_delay_s(self, value: float) -> None:
        self._state.response_delay_s = value

    def start(self) -> SimServer:
        """Serve in a background thread; returns self once the port listens."""
        if self._httpd is not None:
            return self
        self._certs = make_certificates()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self._certs.cert_file, self._certs.key_file)
        httpd = _TlsServer((HOST, self._port), ApiHandler, bind_and_activate=True)
        httpd.api = self._state
        httpd.socket = context.wrap_socket(
            httpd.socket, server_side=True, do_handshake_on_connect=False
        )
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="sim-apiserver",
            daemon=True,
        )
        self._thread.start()
        logger.info("Simulated API server serves %s.", self.url)
        return self

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the simulated API server is not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.port}"

    @property
    def ca_pem(self) -> bytes:
        if self._certs is None:
            raise RuntimeError("the simulated API server is not started")
        return self._certs.ca_pem

    def kubeconfig(self) -> dict:
        """The kubeconfig document: contexts `sim` (admin) and `sim-restricted`."""
        import base64

        ca = base64.b64encode(self.ca_pem).decode()
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [
                {"name": CLUSTER, "cluster": {"server": self.url, "certificate-authority-data": ca}}
            ],
            "users": [
                {"name": f"sim-{ADMIN_USER}", "user": {"token": self.tokens.admin}},
                {"name": f"sim-{RESTRICTED_USER}", "user": {"token": self.tokens.restricted}},
            ],
            "contexts": [
                {"name": CONTEXT, "context": {"cluster": CLUSTER, "user": f"sim-{ADMIN_USER}"}},
                {
                    "name": RESTRICTED_CONTEXT,
                    "context": {"cluster": CLUSTER, "user": f"sim-{RESTRICTED_USER}"},
                },
            ],
            "current-context": CONTEXT,
        }

    def write_kubeconfig(self, path: str | Path) -> Path:
        """Write the kubeconfig (mode 0600: it holds tokens) and return its path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(self.kubeconfig(), sort_keys=False)
        target.touch(mode=0o600, exist_ok=True)
        target.chmod(0o600)
        target.write_text(text, encoding="utf-8")
        return target

    def apply(self, event_type: str, obj: dict) -> dict:
        """Make an ADDED / MODIFIED / DELETED happen as if the cluster did it."""
        return self.store.apply(event_type, obj)

    def set_agent(self, node: str, url: str | None) -> None:
        """Pod-proxy calls to the collector pod on node go to url (None unsets)."""
        self.proxy.set_agent(node, url)

    def compact(self) -> None:
        """Forget the event history (watches from older versions get 410)."""
        self.store.compact()

    def stop(self) -> None:
        """Stop serving, end open watches, stop the timeline, remove the keys."""
        if self.timeline is not None:
            self.timeline.stop()
        self.store.close()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd.drop_connections()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._certs is not None:
            self._certs.remove()
        logger.info("Simulated API server stopped.")

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _with_namespaces(objects: list[dict], registry: ResourceRegistry) -> list[dict]:
    """The objects plus a Namespace for every namespace they use and none defines.

    Dumps rarely include Namespace objects, but clients list namespaces
    (and creating into a namespace needs it to exist).
    """
    defined = {str(meta(o).get("name")) for o in objects if o.get("kind") == "Namespace"}
    used = {"default"}
    for obj in objects:
        namespace = meta(obj).get("namespace")
        if namespace:
            used.add(str(namespace))
    extra = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }
        for name in sorted(used - defined)
    ]
    return extra + list(objects)
