"""Listing, discovery, auth and selectors of the simulated API server, over real HTTPS."""

from __future__ import annotations

import json
import subprocess
from collections import Counter

import kubernetes
import pytest
from sim_helpers import client_for, raw, run_kubectl

from netsight.sim.server import SimServer


def kubectl(sim: SimServer, *args: str) -> subprocess.CompletedProcess[str]:
    return run_kubectl(sim.write_kubeconfig(sim_kubeconfig_path(sim)), *args)


def sim_kubeconfig_path(sim: SimServer) -> str:
    return f"/tmp/netsight-test-sim-{sim.port}.kubeconfig"


def pods_of(objects: list[dict]) -> list[dict]:
    return [o for o in objects if o["kind"] == "Pod"]


def test_kubectl_lists_every_pod_of_the_dump(real_sim: SimServer, real_objects: list[dict]) -> None:
    done = kubectl(real_sim, "get", "pods", "-A", "--no-headers", "-o", "wide")
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()]
    expected = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in pods_of(real_objects)}
    assert {(r[0], r[1]) for r in rows} == expected
    by_name = {p["metadata"]["name"]: p for p in pods_of(real_objects)}
    for row in rows:
        assert row[3] == by_name[row[1]]["status"]["phase"]  # STATUS column


def test_kubectl_short_names_raw_and_version(real_sim: SimServer, real_objects: list[dict]) -> None:
    done = kubectl(real_sim, "get", "ds", "-A", "-o", "json")
    assert done.returncode == 0, done.stderr
    daemonsets = json.loads(done.stdout)["items"]
    assert len(daemonsets) == sum(1 for o in real_objects if o["kind"] == "DaemonSet")

    done = kubectl(real_sim, "get", "--raw", "/apis/discovery.k8s.io/v1")
    assert done.returncode == 0, done.stderr
    names = {r["name"] for r in json.loads(done.stdout)["resources"]}
    assert "endpointslices" in names

    done = kubectl(real_sim, "version", "-o", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["serverVersion"]["major"] == "1"


def test_missing_or_wrong_token_is_401_with_a_status(real_sim: SimServer) -> None:
    for token in (None, "not-a-token"):
        code, body = raw(real_sim, token or "").call("GET", "/api/v1/pods")
        assert code == 401
        assert body["kind"] == "Status" and body["reason"] == "Unauthorized"
        assert body["code"] == 401


def test_official_client_lists_nodes_and_discovers_groups(real_sim: SimServer) -> None:
    api = client_for(sim_kubeconfig(real_sim))
    nodes = kubernetes.client.CoreV1Api(api).list_node()
    assert len(nodes.items) == 6
    groups = {g.name for g in kubernetes.client.ApisApi(api).get_api_versions().groups}
    assert {"apps", "batch", "discovery.k8s.io", "networking.k8s.io"} <= groups
    assert "rbac.authorization.k8s.io" in groups


def sim_kubeconfig(sim: SimServer):  # type: ignore[no-untyped-def]
    return sim.write_kubeconfig(sim_kubeconfig_path(sim))


def test_pagination_is_complete_and_consistent(
    real_sim: SimServer, real_objects: list[dict]
) -> None:
    client = raw(real_sim)
    names: list[str] = []
    token = ""
    versions = set()
    pages = 0
    while True:
        path = "/api/v1/pods?limit=50" + (f"&continue={token}" if token else "")
        code, body = client.call("GET", path)
        assert code == 200, body
        pages += 1
        names += [f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in body["items"]]
        versions.add(body["metadata"]["resourceVersion"])
        token = body["metadata"].get("continue", "")
        if not token:
            break
        assert body["metadata"]["remainingItemCount"] == len(pods_of(real_objects)) - len(names)
    assert pages == -(-len(pods_of(real_objects)) // 50)
    assert len(names) == len(set(names)) == len(pods_of(real_objects))
    assert len(versions) == 1


def test_a_used_or_unknown_continue_token_is_410(real_sim: SimServer) -> None:
    code, body = raw(real_sim).call("GET", "/api/v1/pods?limit=5&continue=nonsense")
    assert code == 410 and body["reason"] == "Expired"


@pytest.mark.parametrize(
    "selector_kind,selector,predicate",
    [
        ("fieldSelector", "status.phase=Succeeded", lambda p: p["status"]["phase"] == "Succeeded"),
        ("fieldSelector", "status.phase!=Running", lambda p: p["status"]["phase"] != "Running"),
        (
            "fieldSelector",
            "spec.nodeName=ip-10-0-195-177.ec2.internal",
            lambda p: p["spec"].get("nodeName") == "ip-10-0-195-177.ec2.internal",
        ),
        (
            "fieldSelector",
            "metadata.namespace=openshift-dns,status.phase=Running",
            lambda p: (
                p["metadata"]["namespace"] == "openshift-dns" and p["status"]["phase"] == "Running"
            ),
        ),
        (
            "fieldSelector",
            "metadata.name=apiserver-5647477f76-2zz4k",
            lambda p: p["metadata"]["name"] == "apiserver-5647477f76-2zz4k",
        ),
        (
            "labelSelector",
            "app=pruner",
            lambda p: p["metadata"].get("labels", {}).get("app") == "pruner",
        ),
        (
            "labelSelector",
            "app in (pruner,installer),!pod-template-hash",
            lambda p: (
                p["metadata"].get("labels", {}).get("app") in ("pruner", "installer")
                and "pod-template-hash" not in p["metadata"].get("labels", {})
            ),
        ),
        ("labelSelector", "app", lambda p: "app" in p["metadata"].get("labels", {})),
        (
            "labelSelector",
            "app notin (pruner)",
            lambda p: p["metadata"].get("labels", {}).get("app") != "pruner",
        ),
    ],
    ids=[
        "phase",
        "phase-not",
        "node",
        "ns-and-phase",
        "name",
        "label-eq",
        "label-set",
        "exists",
        "notin",
    ],
)
def test_selectors_select_what_the_dump_says(
    real_sim: SimServer, real_objects: list[dict], selector_kind: str, selector: str, predicate
) -> None:  # type: ignore[no-untyped-def]
    from urllib.parse import quote

    code, body = raw(real_sim).call("GET", f"/api/v1/pods?{selector_kind}={quote(selector)}")
    assert code == 200, body
    got = Counter(p["metadata"]["uid"] for p in body["items"])
    expected = Counter(p["metadata"]["uid"] for p in pods_of(real_objects) if predicate(p))
    assert got == expected
    assert got  # every case selects something in this dump


def test_a_bad_selector_is_400(real_sim: SimServer) -> None:
    code, body = raw(real_sim).call("GET", "/api/v1/pods?labelSelector=a%20in%20(b")
    assert code == 400 and body["reason"] == "BadRequest"


def test_namespaces_are_synthesised_for_a_dump_without_them(real_sim: SimServer) -> None:
    code, body = raw(real_sim).call("GET", "/api/v1/namespaces")
    assert code == 200
    names = {n["metadata"]["name"] for n in body["items"]}
    assert {"default", "openshift-dns", "openshift-apiserver"} <= names


def test_namespaced_list_and_cluster_scoped_get(
    real_sim: SimServer, real_objects: list[dict]
) -> None:
    client = raw(real_sim)
    code, body = client.call("GET", "/apis/apps/v1/namespaces/openshift-dns/daemonsets")
    assert code == 200
    expected = {
        o["metadata"]["name"]
        for o in real_objects
        if o["kind"] == "DaemonSet" and o["metadata"]["namespace"] == "openshift-dns"
    }
    assert {d["metadata"]["name"] for d in body["items"]} == expected
    node = next(o for o in real_objects if o["kind"] == "Node")
    code, body = client.call("GET", f"/api/v1/nodes/{node['metadata']['name']}")
    assert code == 200 and body["metadata"]["uid"] == node["metadata"]["uid"]
    code, body = client.call("GET", "/api/v1/nodes/no-such-node")
    assert code == 404 and body["reason"] == "NotFound"
    assert body["message"] == 'nodes "no-such-node" not found'


def test_a_stopped_server_cuts_kept_alive_connections(make_sim) -> None:  # type: ignore[no-untyped-def]
    import urllib3

    sim, kubeconfig = make_sim([])
    api = client_for(kubeconfig)
    api.configuration.retries = 0
    v1 = kubernetes.client.CoreV1Api(api)
    v1.list_namespace()  # leaves a pooled keep-alive connection
    sim.stop()
    with pytest.raises((urllib3.exceptions.HTTPError, OSError)):
        v1.list_namespace(_request_timeout=5)
