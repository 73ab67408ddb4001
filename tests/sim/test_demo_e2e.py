"""The whole demo through the official client: API server, collector pods, simulated agents."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from netsight.sim.demo import DemoCluster, start_demo

COLLECTOR_NS = "netsight"
COLLECTOR_LABELS = {"app.kubernetes.io/name": "netsight-collector"}


@pytest.fixture()
def demo(tmp_path: Path) -> Iterator[DemoCluster]:
    before = set(threading.enumerate())
    running = start_demo(tmp_path, change_interval_s=0.2, collector_rate=10)
    try:
        yield running
    finally:
        running.stop()
    # Give the server's finished request threads a moment to leave.
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert set(threading.enumerate()) - before == set()


def collector_daemonset() -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "netsight-collector", "labels": COLLECTOR_LABELS},
        "spec": {
            "selector": {"matchLabels": COLLECTOR_LABELS},
            "template": {
                "metadata": {"labels": COLLECTOR_LABELS},
                "spec": {
                    "hostPID": True,
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [
                        {
                            "name": "agent",
                            "image": "python:3.12-slim",
                            "ports": [{"containerPort": 9655, "name": "agent"}],
                        }
                    ],
                },
            },
        },
    }


def proxy_get(api: client.ApiClient, pod: str, path: str, query: list[tuple[str, str]]) -> dict:
    """GET through the pod proxy, as the desktop pulls records (raw JSON, not a model)."""
    method, url, headers, body, _ = api.param_serialize(
        "GET",
        "/api/v1/namespaces/{namespace}/pods/{name}/proxy/" + path,
        path_params={"namespace": COLLECTOR_NS, "name": f"{pod}:9655"},
        query_params=query,
        header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"],
    )
    answer = api.call_api(method, url, header_params=headers, body=body, _request_timeout=10)
    assert answer.status == 200
    return json.loads(answer.read())


def test_demo_serves_inventory_and_records_through_pod_proxy(demo: DemoCluster) -> None:
    api = config.new_client_from_config(config_file=str(demo.kubeconfig), context=demo.context)
    try:
        core = client.CoreV1Api(api)
        pods = core.list_pod_for_all_namespaces().items
        names = {p.metadata.name for p in pods}
        assert "postgres-0" in names
        assert any(n.startswith("frontend-") for n in names)
        assert {n.metadata.name for n in core.list_node().items} == {
            "worker-1",
            "worker-2",
            "worker-3",
        }

        # The user deploys the collector; the simulation's controller makes its pods.
        core.create_namespace({"metadata": {"name": COLLECTOR_NS}})
        client.AppsV1Api(api).create_namespaced_daemon_set(COLLECTOR_NS, collector_daemonset())
        deadline = time.monotonic() + 10
        agents: dict[str, str] = {}
        while len(agents) < 3 and time.monotonic() < deadline:
            agents = {
                p.spec.node_name: p.metadata.name
                for p in core.list_namespaced_pod(COLLECTOR_NS).items
                if p.status.phase == "Running"
            }
            time.sleep(0.05)
        assert sorted(agents) == ["worker-1", "worker-2", "worker-3"]

        for node, pod in agents.items():
            status = proxy_get(api, pod, "v1/status", [])
            assert status["node"] == node
            page = proxy_get(api, pod, "v1/records", [("after", "0"), ("limit", "50")])
            assert page["node"] == node and page["generation"] == status["generation"]
            assert len(page["records"]) == 50
            assert [r["seq"] for r in page["records"]] == list(range(1, 51))
            following = proxy_get(api, pod, "v1/records", [("after", "50"), ("limit", "10")])
            assert following["records"][0]["seq"] == 51

        # The live changes reach the inventory: report runs appear as new Jobs.
        jobs_before = {
            j.metadata.name for j in client.BatchV1Api(api).list_job_for_all_namespaces().items
        }
        deadline = time.monotonic() + 5
        jobs = jobs_before
        while jobs == jobs_before and time.monotonic() < deadline:
            time.sleep(0.1)
            jobs = {
                j.metadata.name for j in client.BatchV1Api(api).list_job_for_all_namespaces().items
            }
        assert jobs - jobs_before
    finally:
        api.close()
