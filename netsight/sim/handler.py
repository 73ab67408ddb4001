"""HTTP handling of the simulated API server: auth, RBAC, verbs, Status answers.

One handler instance per connection, each on its own thread (the server is
a ThreadingHTTPServer), so a long watch never holds up other requests. The
TLS handshake runs on the connection's thread too, not in accept().
"""

from __future__ import annotations

import json
import logging
import secrets
import select
import socket
import ssl
import string
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import yaml

from netsight.sim import patching, routing, status
from netsight.sim.discovery import discovery_document, version_document
from netsight.sim.loading import load_yaml_documents
from netsight.sim.objects import ObjectStore, meta
from netsight.sim.rbac import RbacRules, Tokens
from netsight.sim.resources import ResourceRegistry
from netsight.sim.selectors import SelectorError, combine, field_matcher, label_matcher
from netsight.sim.tables import table_for, wants_table
from netsight.sim.watch import DEFAULT_TIMEOUT_S, WatchRequest, WatchStream

if TYPE_CHECKING:
    from netsight.sim.proxy import PodProxy

logger = logging.getLogger(__name__)

# A client that opens a connection and never finishes the TLS handshake
# must not hold a thread forever.
HANDSHAKE_TIMEOUT_S = 10.0
# A kept-alive connection idle this long is closed (clients reconnect).
IDLE_TIMEOUT_S = 300.0
# Largest request body accepted (a big ConfigMap fits; a runaway does not).
MAX_BODY_BYTES = 16 * 1024 * 1024
# Paths any client may read without a token, as on a real cluster.
PUBLIC_PATHS = ("/healthz", "/livez", "/readyz")
NOT_FOUND_MESSAGE = "the server could not find the requested resource"


@dataclass
class ApiState:
    """Everything the handler needs, shared by all connections."""

    store: ObjectStore
    registry: ResourceRegistry
    tokens: Tokens
    rbac: RbacRules
    proxy: PodProxy
    response_delay_s: float = 0.0
    bookmark_interval_s: float = 1.0
    requests: dict[str, int] = field(default_factory=dict)


class ApiHandler(BaseHTTPRequestHandler):
    """Answers one connection's requests against the shared ApiState."""

    protocol_version = "HTTP/1.1"
    server_version = "netsight-sim"

    @property
    def api(self) -> ApiState:
        return self.server.api  # type: ignore[attr-defined, no-any-return]

    def setup(self) -> None:
        super().setup()
        connection = self.connection
        # Headers and body go out in separate writes; without this, delayed
        # ACKs add ~40 ms to every answer.
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if isinstance(connection, ssl.SSLSocket):
            connection.settimeout(HANDSHAKE_TIMEOUT_S)
            connection.do_handshake()
        connection.settimeout(IDLE_TIMEOUT_S)
        track = getattr(self.server, "track", None)
        if track is not None:
            track(connection, True)

    def finish(self) -> None:
        track = getattr(self.server, "track", None)
        if track is not None:
            track(self.connection, False)
        try:
            super().finish()
        except OSError:
            pass

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionError, ssl.SSLError, TimeoutError, OSError) as error:
            logger.debug("Connection from %s ended: %s", self.client_address, error)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        logger.debug("%s %s", self.client_address[0], format % args)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # -- answering -------------------------------------------------------------

    def _send_bytes(self, code: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, code: int, obj: object) -> None:
        self._send_bytes(code, json.dumps(obj, separators=(",", ":")).encode())

    def _send_error(self, error: status.ApiError) -> None:
        self._send_json(error.code, error.status())

    def _handle(self, method: str) -> None:
        if self.api.response_delay_s > 0:
            time.sleep(self.api.response_delay_s)
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        # NB: read the body before any answer; a refusal (401, 403, 404) that
        # left it unread would have it parsed as the next request on this
        # kept-alive connection.
        self._body: bytes | None = None
        try:
            self._body = self._read_body()
            self._dispatch(method, url.path, url.query, query)
        except status.ApiError as error:
            self._send_error(error)
        except (ConnectionError, ssl.SSLError, TimeoutError):
            raise
        except Exception as error:
            logger.exception("Request %s %s failed inside the simulation.", method, self.path)
            self._send_error(status.ApiError(500, "InternalError", f"internal error: {error}"))

    def _dispatch(self, method: str, path: str, raw_query: str, query: dict[str, str]) -> None:
        if path in PUBLIC_PATHS:
            self._send_bytes(200, b"ok", "text/plain")
            return
        user = self.api.tokens.user_for(self.headers.get("Authorization"))
        if user is None:
            raise status.unauthorized()
        if path == "/version":
            self._send_json(200, version_document())
            return
        parsed = routing.parse(path, self.api.registry)
        if parsed is None:
            raise status.ApiError(
                404, "NotFound", "the server could not find the requested resource"
            )
        if isinstance(parsed, routing.Discovery):
            if method != "GET":
                raise status.ApiError(
                    405, "MethodNotAllowed", "the server does not allow this method"
                )
            self._send_json(200, discovery_document(parsed, self.api.registry))
            return
        self._serve_resource(method, user, parsed, raw_query, query)

    # -- resources ----------------------------------------------------------------

    def _serve_resource(
        self,
        method: str,
        user: str,
        target: routing.Target,
        raw_query: str,
        query: dict[str, str],
    ) -> None:
        resource = target.resource
        watching = target.watch_path or query.get("watch") in ("true", "1")
        verb = _verb(method, target, watching)
        rbac_resource = resource.plural + (f"/{target.subresource}" if target.subresource else "")
        if not self.api.rbac.allows(user, verb, rbac_resource, target.namespace):
            name = target.name.split(":")[0] if target.name else None
            raise status.forbidden(
                user, verb, rbac_resource, resource.group, target.namespace, name
            )

        if target.subresource == "proxy":
            if resource.plural != "pods" or target.namespace is None or target.name is None:
                raise status.ApiError(404, "NotFound", "proxying is offered for pods only")
            if method != "GET":
                raise status.ApiError(405, "MethodNotAllowed", "the pod proxy forwards GET only")
            code, content_type, body = self.api.proxy.forward(
                target.namespace, target.name, target.subpath, raw_query
            )
            self._send_bytes(code, body, content_type)
            return
        if target.subresource not in (None, "status"):
            raise status.ApiError(
                404, "NotFound", f"subresource {target.subresource!r} is not simulated"
            )

        store = self.api.store
        if verb == "watch":
            self._watch(target, query)
        elif verb == "list":
            self._list(target, query)
        elif verb == "get":
            assert target.name is not None
            encoded = store.get_encoded(resource, target.namespace or "", target.name)
            if encoded is None:
                raise status.not_found(resource.plural, target.name, resource.group)
            if wants_table(self.headers.get("Accept")):
                obj = store.get(resource, target.namespace or "", target.name) or {}
                self._send_json(200, table_for(resource, [obj], store.resource_version))
            else:
                self._send_bytes(200, encoded)
        elif verb == "create":
            created = self._read_object()
            self._send_json(201, store.create(resource, self._for_create(target, created)))
        elif verb == "update":
            replacement = self._read_object()
            self._send_json(200, store.update(resource, self._for_update(target, replacement)))
        elif verb == "patch":
            self._send_json(200, self._patch(target))
        elif verb == "delete":
            assert target.name is not None
            self._send_json(200, store.delete(resource, target.namespace or "", target.name))
        else:
            raise status.ApiError(405, "MethodNotAllowed", f"{verb} is not simulated")

    def _matcher(self, query: dict[str, str]):  # type: ignore[no-untyped-def]
        try:
            return combine(
                label_matcher(query.get("labelSelector")),
                field_matcher(query.get("fieldSelector")),
            )
        except SelectorError as error:
            raise status.bad_request(str(error)) from None

    def _list(self, target: routing.Target, query: dict[str, str]) -> None:
        resource = target.resource
        limit_text = query.get("limit") or "0"
        try:
            limit = int(limit_text)
        except ValueError:
            raise status.bad_request(f"invalid limit {limit_text!r}") from None
        rv, items, token, remaining = self.api.store.list_page(
            resource, target.namespace, self._matcher(query), limit, query.get("continue")
        )
        if wants_table(self.headers.get("Accept")):
            objs = [json.loads(item) for item in items]
            table = table_for(resource, objs, rv, token, remaining)
            self._send_json(200, table)
            return
        list_meta: dict[str, object] = {"resourceVersion": str(rv)}
        if token:
            list_meta["continue"] = token
            list_meta["remainingItemCount"] = remaining
        head = json.dumps(
            {
                "kind": f"{resource.kind}List",
                "apiVersion": resource.api_version,
                "metadata": list_meta,
            }
        ).encode()
        body = head[:-1] + b',"items":[' + b",".join(items) + b"]}"
        self._send_bytes(200, body)

    def _watch(self, target: routing.Target, query: dict[str, str]) -> None:
        timeout_text = query.get("timeoutSeconds")
        try:
            timeout_s = float(timeout_text) if timeout_text else DEFAULT_TIMEOUT_S
        except ValueError:
            raise status.bad_request(f"invalid timeoutSeconds {timeout_text!r}") from None
        matcher = self._matcher(query)
        if target.name:
            by_name = field_matcher(f"metadata.name={target.name}")
            matcher = combine(matcher, by_name)
        request = WatchRequest(
            resource=target.resource,
            namespace=target.namespace,
            matcher=matcher,
            resource_version=query.get("resourceVersion"),
            timeout_s=timeout_s,
            bookmarks=query.get("allowWatchBookmarks") in ("true", "1"),
            send_initial_events=query.get("sendInitialEvents") in ("true", "1"),
            as_table=wants_table(self.headers.get("Accept")),
        )
        stream = WatchStream(
            self.api.store, request, self.api.bookmark_interval_s, self._client_gone
        )
        stream.check()

        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.close_connection = True
        try:
            stream.run(self._send_chunk)
            self.wfile.write(b"0\r\n\r\n")
        except (ConnectionError, ssl.SSLError, OSError) as error:
            logger.debug("Watch of %s closed by the client: %s", target.resource.plural, error)

    def _send_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _client_gone(self) -> bool:
        """True when the watching client has closed its end of the connection."""
        connection = self.connection
        try:
            readable, _, _ = select.select([connection], [], [], 0)
            if not readable:
                return False
            connection.settimeout(0.05)
            try:
                return connection.recv(1) == b""
            finally:
                connection.settimeout(IDLE_TIMEOUT_S)
        except (ssl.SSLWantReadError, TimeoutError):
            return False
        except (OSError, ValueError):
            return True

    # -- bodies --------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if getattr(self, "_body", None) is not None:
            return self._body  # type: ignore[return-value]
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            raise status.ApiError(400, "BadRequest", "Content-Length is not a number") from None
        if length > MAX_BODY_BYTES:
            # The body stays unread, so this connection cannot carry another request.
            self.close_connection = True
            raise status.ApiError(413, "RequestEntityTooLarge", "request body too large")
        return self.rfile.read(length) if length > 0 else b""

    def _read_object(self) -> dict:
        raw = self._read_body()
        try:
            if "yaml" in (self.headers.get("Content-Type") or ""):
                documents = load_yaml_documents(raw.decode("utf-8"))
                body = documents[0] if len(documents) == 1 else None
            else:
                body = json.loads(raw or b"null")
        except (ValueError, yaml.YAMLError, UnicodeDecodeError) as error:
            raise status.bad_request(f"request body is not valid JSON or YAML: {error}") from None
        if not isinstance(body, dict):
            raise status.bad_request("request body must be an object")
        return body

    def _for_create(self, target: routing.Target, body: dict) -> dict:
        resource = target.resource
        metadata = body.setdefault("metadata", {})
        if resource.namespaced:
            if target.namespace is None:
                raise status.bad_request("the namespace of the object must be given in the path")
            if metadata.get("namespace") not in (None, "", target.namespace):
                raise status.bad_request(
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request"
                )
            metadata["namespace"] = target.namespace
            namespaces = self.api.registry.by_path("", "v1", "namespaces")
            if namespaces and self.api.store.get(namespaces, "", target.namespace) is None:
                raise status.not_found("namespaces", target.namespace)
        if not metadata.get("name"):
            prefix = metadata.get("generateName")
            if not prefix:
                raise status.ApiError(422, "Invalid", "metadata.name: Required value")
            alphabet = string.ascii_lowercase + string.digits
            metadata["name"] = prefix + "".join(secrets.choice(alphabet) for _ in range(5))
        body.setdefault("apiVersion", resource.api_version)
        body.setdefault("kind", resource.kind)
        return body

    def _for_update(self, target: routing.Target, body: dict) -> dict:
        metadata = body.setdefault("metadata", {})
        if metadata.get("name") not in (None, target.name):
            raise status.bad_request("the name of the object does not match the name on the URL")
        metadata["name"] = target.name
        if target.resource.namespaced:
            metadata["namespace"] = target.namespace
        return body

    def _patch(self, target: routing.Target) -> dict:
        resource = target.resource
        assert target.name is not None
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        raw = self._read_body()
        try:
            patch = json.loads(raw or b"null")
        except ValueError as error:
            raise status.bad_request(f"patch body is not valid JSON: {error}") from None
        current = self.api.store.get(resource, target.namespace or "", target.name)
        if current is None:
            raise status.not_found(resource.plural, target.name, resource.group)
        if content_type in patching.MERGE_TYPES:
            patched = patching.merge_patch(current, patch)
        elif content_type == patching.JSON_PATCH_TYPE:
            patched = patching.json_patch(current, patch)
        else:
            raise status.ApiError(
                415, "UnsupportedMediaType", f"the patch type {content_type!r} is not supported"
            )
        if not isinstance(patched, dict):
            raise status.bad_request("a patch must leave an object")
        patched.setdefault("metadata", {})
        # A patch without a resourceVersion applies to whatever is current.
        if not (isinstance(patch, dict) and meta(patch).get("resourceVersion")):
            patched["metadata"]["resourceVersion"] = meta(current).get("resourceVersion")
        return self.api.store.update(resource, self._for_update(target, patched))


def _verb(method: str, target: routing.Target, watching: bool) -> str:
    """The RBAC verb of a request, as the real authorizer names it."""
    if method == "GET":
        if watching:
            return "watch"
        return "get" if target.name else "list"
    verbs = {"POST": "create", "PUT": "update", "PATCH": "patch"}
    if method in verbs:
        if method != "POST" and not target.name:
            raise status.ApiError(405, "MethodNotAllowed", f"{method} needs an object name")
        return verbs[method]
    if method == "DELETE":
        return "delete" if target.name else "deletecollection"
    raise status.ApiError(405, "MethodNotAllowed", f"method {method} is not supported")
