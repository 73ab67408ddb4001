"""DaemonSet controller, pod proxy and RBAC denials of the simulated cluster."""

from __future__ import annotations

import ipaddress
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException
from sim_helpers import client_for, pod, raw, run_kubectl

from netsight.sim.rbac import RbacRules

COLLECTOR_LABELS = {"app.kubernetes.io/name": "netsight-collector"}


def node(
    name: str, cidr: str, ip: str, taints: list | None = None, labels: dict | None = None
) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr], "taints": taints or []},
        "status": {"addresses": [{"type": "InternalIP", "address": ip}]},
    }


def daemonset(name: str, labels: dict | None = None, **pod_spec: object) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": "netsight", "labels": labels or COLLECTOR_LABELS},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [{"name": "agent", "image": "python:3.12-slim"}],
                    **pod_spec,
                },
            },
        },
    }


def namespace(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


MASTER_TAINT = {"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"}


def cluster() -> list[dict]:
    busy = pod(
        "busy", status={"phase": "Running", "podIP": "10.244.1.2", "podIPs": [{"ip": "10.244.1.2"}]}
    )
    busy["spec"]["nodeName"] = "w1"
    done = pod(
        "done",
        status={"phase": "Succeeded", "podIP": "10.244.1.3", "podIPs": [{"ip": "10.244.1.3"}]},
    )
    done["spec"]["nodeName"] = "w1"
    return [
        namespace("netsight"),
        node("w1", "10.244.1.0/24", "192.168.0.11", labels={"disk": "ssd"}),
        node("w2", "10.244.2.0/24", "192.168.0.12"),
        node("m1", "10.244.0.0/24", "192.168.0.10", taints=[MASTER_TAINT]),
        busy,
        done,
    ]


def collector_pods(v1: kubernetes.client.CoreV1Api) -> dict[str, dict]:
    pods = v1.list_namespaced_pod("netsight", _preload_content=False)
    return {p["spec"]["nodeName"]: p for p in json.loads(pods.data)["items"]}


def test_daemonset_gets_one_running_pod_per_eligible_node(make_sim) -> None:  # type: ignore[no-untyped-def]
    sim, kubeconfig = make_sim(cluster())
    api = client_for(kubeconfig)
    v1, apps = kubernetes.client.CoreV1Api(api), kubernetes.client.AppsV1Api(api)
    ds = apps.create_namespaced_daemon_set("netsight", daemonset("agent"))

    pods = collector_pods(v1)
    assert set(pods) == {"w1", "w2"}  # the master's taint is not tolerated
    cidrs = {"w1": "10.244.1.0/24", "w2": "10.244.2.0/24"}
    for node_name, p in pods.items():
        ip = p["status"]["podIP"]
        assert ipaddress.ip_address(ip) in ipaddress.ip_network(cidrs[node_name])
        assert p["status"]["phase"] == "Running"
        assert {"type": "Ready", "status": "True"}.items() <= next(
            c for c in p["status"]["conditions"] if c["type"] == "Ready"
        ).items()
        owner = p["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["uid"]) == (
            "DaemonSet",
            "agent",
            ds.metadata.uid,
        )
    assert pods["w1"]["status"]["podIP"] != "10.244.1.2"  # held by a running pod
    # The Succeeded pod gave its address back, so it is the first free one.
    assert pods["w1"]["status"]["podIP"] == "10.244.1.3"

    status = apps.read_namespaced_daemon_set("agent", "netsight").status
    assert (status.desired_number_scheduled, status.number_ready) == (2, 2)

    apps.delete_namespaced_daemon_set("agent", "netsight")
    assert collector_pods(v1) == {}


def test_tolerations_node_selector_new_nodes_and_deleted_pods(make_sim) -> None:  # type: ignore[no-untyped-def]
    sim, kubeconfig = make_sim(cluster())
    api = client_for(kubeconfig)
    v1, apps = kubernetes.client.CoreV1Api(api), kubernetes.client.AppsV1Api(api)
    apps.create_namespaced_daemon_set(
        "netsight", daemonset("agent", tolerations=[{"operator": "Exists"}])
    )
    assert set(collector_pods(v1)) == {"w1", "w2", "m1"}

    apps.create_namespaced_daemon_set(
        "netsight", daemonset("ssd", labels={"app": "ssd"}, nodeSelector={"disk": "ssd"})
    )
    ssd_pods = v1.list_namespaced_pod("netsight", label_selector="app=ssd").items
    assert [p.spec.node_name for p in ssd_pods] == ["w1"]

    v1.create_node(node("w3", "10.244.3.0/24", "192.168.0.13"))
    assert set(collector_pods(v1)) == {"w1", "w2", "m1", "w3"}
    ips = [p["status"]["podIP"] for p in collector_pods(v1).values()]
    all_ips = [p.status.pod_ip for p in v1.list_namespaced_pod("netsight").items]
    assert len(set(all_ips)) == len(all_ips) and set(ips) <= set(all_ips)

    victim = collector_pods(v1)["w2"]["metadata"]["name"]
    v1.delete_namespaced_pod(victim, "netsight")
    replacement = collector_pods(v1)["w2"]
    assert replacement["metadata"]["name"] != victim

    v1.delete_node("w3")
    assert set(collector_pods(v1)) == {"w1", "w2", "m1"}


class _Agent(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"path": self.path, "node": self.server.node}).encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def agent() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Agent)
    server.node = "w1"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_pod_proxy_forwards_to_the_agent_of_the_pods_node(make_sim, agent: str) -> None:  # type: ignore[no-untyped-def]
    sim, kubeconfig = make_sim(cluster(), agents={"w1": agent})
    api = client_for(kubeconfig)
    v1, apps = kubernetes.client.CoreV1Api(api), kubernetes.client.AppsV1Api(api)
    apps.create_namespaced_daemon_set("netsight", daemonset("agent"))
    pods = collector_pods(v1)
    on_w1, on_w2 = pods["w1"]["metadata"]["name"], pods["w2"]["metadata"]["name"]

    client = raw(sim)
    code, body = client.call(
        "GET", f"/api/v1/namespaces/netsight/pods/{on_w1}:8080/proxy/v1/records?after=5&limit=2"
    )
    assert code == 200
    assert body == {"path": "/v1/records?after=5&limit=2", "node": "w1"}

    # The official client's proxy call reaches it too.
    answer = v1.connect_get_namespaced_pod_proxy_with_path(
        on_w1, "netsight", "v1/status", _preload_content=False
    )
    assert json.loads(answer.data)["path"] == "/v1/status"

    code, body = client.call("GET", f"/api/v1/namespaces/netsight/pods/{on_w2}/proxy/v1/status")
    assert (code, body["reason"]) == (503, "ServiceUnavailable")
    assert "no agent is registered" in body["message"]
    sim.set_agent("w2", agent)
    code, body = client.call("GET", f"/api/v1/namespaces/netsight/pods/{on_w2}/proxy/v1/status")
    assert code == 200

    code, body = client.call("GET", "/api/v1/namespaces/default/pods/busy/proxy/v1/status")
    assert code == 503 and "not a netsight collector pod" in body["message"]
    code, body = client.call("GET", "/api/v1/namespaces/netsight/pods/nope/proxy/v1/status")
    assert code == 404


def test_restricted_user_is_denied_with_a_kubectl_like_status(make_sim) -> None:  # type: ignore[no-untyped-def]
    rules = RbacRules.parse(["list:secrets:", "list:pods:kube-system", "get:pods/proxy"])
    sim, kubeconfig = make_sim(cluster() + [pod("p", "kube-system")], rbac=rules)
    restricted = raw(sim, "restricted")

    code, body = restricted.call("GET", "/api/v1/secrets")
    assert code == 403
    assert body["kind"] == "Status" and body["reason"] == "Forbidden" and body["code"] == 403
    assert body["message"] == (
        'secrets is forbidden: User "restricted" cannot list resource "secrets" in API group "" '
        "at the cluster scope"
    )
    assert restricted.call("GET", "/api/v1/namespaces/default/secrets")[0] == 200

    code, body = restricted.call("GET", "/api/v1/namespaces/kube-system/pods")
    assert code == 403
    assert body["message"].endswith('in API group "" in the namespace "kube-system"')
    assert restricted.call("GET", "/api/v1/namespaces/default/pods")[0] == 200
    assert raw(sim).call("GET", "/api/v1/secrets")[0] == 200  # the admin is never denied

    v1 = kubernetes.client.CoreV1Api(client_for(kubeconfig, "sim-restricted"))
    with pytest.raises(ApiException) as caught:
        v1.list_secret_for_all_namespaces()
    assert caught.value.status == 403

    done = run_kubectl(kubeconfig, "--context", "sim-restricted", "get", "secrets", "-A")
    assert done.returncode != 0
    assert 'User "restricted" cannot list resource "secrets"' in done.stderr
