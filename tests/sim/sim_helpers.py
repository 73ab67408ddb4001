"""Helpers for the simulated cluster's tests (plain module: conftest is not importable)."""

from __future__ import annotations

import json
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import kubernetes

from netsight.sim.server import SimServer

# The real clusters' dumps shared by every package's tests.
REAL = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "real"
if not REAL.is_dir():
    REAL = Path("/work/shared/fixtures/real")
PODS_JSON = REAL / "mg-aws-ocp-pods.json"
CLUSTER_JSON = REAL / "mg-aws-ocp-nodes-services-endpointslices-workloads.json"


def client_for(kubeconfig: Path, context: str = "sim") -> kubernetes.client.ApiClient:
    return kubernetes.config.new_client_from_config(config_file=str(kubeconfig), context=context)


class Raw:
    """Plain HTTPS calls to a SimServer (status code and decoded JSON body)."""

    def __init__(self, sim: SimServer, token: str | None) -> None:
        self.sim = sim
        self.token = token
        context = ssl.create_default_context(cadata=sim.ca_pem.decode())
        # Never through an http(s)_proxy from the environment: the sim is on loopback.
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
        )

    def call(
        self,
        method: str,
        path: str,
        body: object = None,
        content_type: str = "application/json",
        timeout: float = 10,
    ) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.sim.url + path, data=data, method=method)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with self.opener.open(request, timeout=timeout) as answer:
                return answer.status, _decode(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, _decode(error.read())


def _decode(body: bytes):  # type: ignore[no-untyped-def]
    """One JSON document, or the list of a watch stream's JSON lines."""
    try:
        return json.loads(body or b"null")
    except json.JSONDecodeError:
        return [json.loads(line) for line in body.splitlines() if line.strip()]


def raw(sim: SimServer, user: str = "admin") -> Raw:
    token = {"admin": sim.tokens.admin, "restricted": sim.tokens.restricted}.get(user, user)
    return Raw(sim, token or None)


def pod(name: str, namespace: str = "default", **extra: object) -> dict:
    obj: dict = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    }
    obj.update(extra)
    return obj


KUBECTL = "/usr/bin/kubectl"


def run_kubectl(kubeconfig: Path | str, *args: str) -> subprocess.CompletedProcess[str]:
    """kubectl with this kubeconfig, as a user would run it (output captured, not checked)."""
    return subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
