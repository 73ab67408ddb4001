"""A simulated cluster's pieces and a fake agent on 127.0.0.1, for pulling tests.

The fake agent answers `/v1/records` with whatever page a test builds, so
tests can send what a broken or busy agent would.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

NODE = "worker-1"
POD_IP = "10.244.1.7"
PEER_IP = "10.244.1.8"


def cluster_objects() -> list[dict[str, Any]]:
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": NODE, "uid": "uid-node", "labels": {}},
        "spec": {"podCIDR": "10.244.1.0/24"},
        "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.11"}]},
    }
    pods = [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "shop", "uid": f"uid-{name}"},
            "spec": {"nodeName": NODE},
            "status": {
                "phase": "Running",
                "podIP": ip,
                "podIPs": [{"ip": ip}],
                "startTime": "2024-01-01T00:00:00Z",
            },
        }
        for name, ip in (("web", POD_IP), ("db", PEER_IP))
    ]
    return [node, *pods]


def agent_record(seq: int, **changes: Any) -> dict[str, Any]:
    now = time.time()
    record = {
        "seq": seq,
        "conn_id": f"tcp:{POD_IP}:{40000 + seq}>{PEER_IP}:5432",
        "node": NODE,
        "generation": "gen-1",
        "proto": "tcp",
        "family": 4,
        "src_ip": POD_IP,
        "src_port": 40000 + seq,
        "dst_ip": PEER_IP,
        "dst_port": 5432,
        "observer": "client",
        "source": "sockdiag",
        "state": "ESTABLISHED",
        "bytes_sent": 100,
        "bytes_received": 200,
        "process": "psql",
        "pid": 42,
        "netns": 4026531840,
        "first_seen": now - 10,
        "last_seen": now,
    }
    record.update(changes)
    return record


class FakeAgent:
    """Answers /v1/records on 127.0.0.1 with a page built by `page(after)`."""

    def __init__(self, page: Any) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server name)
                query = parse_qs(urlparse(self.path).query)
                after = int(query.get("after", ["0"])[0])
                outer.requests += 1
                body = page(after)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.requests = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def record_page(records: list[Any], after: int, **changes: Any) -> dict[str, Any]:
    """A record page as the agent sends it: everything on the first ask, nothing new after."""
    page = {"node": NODE, "generation": "gen-1", "oldest_seq": 1, "last_seq": len(records)}
    page.update(records=[] if after else records, dropped=0)
    page.update(changes)
    return page
