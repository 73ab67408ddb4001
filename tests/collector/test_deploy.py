"""Deploying and removing the collector against the simulated cluster, over HTTPS.

The simulated API server runs a DaemonSet controller, so a deploy really
waits for one pod per node, and removal is checked by listing the cluster.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from netsight.collector import manifests
from netsight.collector.deploy import CollectorDeployer, DeployCancelled, DeployError
from netsight.kube import rawapi
from netsight.kube.client import api_client_for
from netsight.sim.rbac import RbacRules
from netsight.sim.server import SimServer


def _node(name: str, cidr: str, *, unschedulable: bool = False) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "uid": f"uid-{name}", "labels": {}},
        "spec": {
            "podCIDR": cidr,
            "unschedulable": unschedulable,
            "taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
            if name == "cp-1"
            else [],
        },
        "status": {"addresses": [{"type": "InternalIP", "address": f"10.0.0.{cidr[7]}"}]},
    }


NODES = [
    _node("cp-1", "10.244.1.0/24"),
    _node("worker-2", "10.244.2.0/24"),
    _node("worker-3", "10.244.3.0/24"),
]


@pytest.fixture
def cluster(tmp_path: Path):
    sim = SimServer(NODES, rbac=RbacRules.parse(["create:daemonsets"])).start()
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
    yield sim, str(kubeconfig)
    sim.stop()


def _leftovers(api) -> list[str]:
    """Every object in the cluster that carries the collector's labels."""
    found = []
    for path in (
        "/api/v1/namespaces",
        "/api/v1/pods",
        "/api/v1/serviceaccounts",
        "/api/v1/configmaps",
        "/apis/apps/v1/daemonsets",
    ):
        body = rawapi.request_json(
            api, "GET", path, query={"labelSelector": manifests.LABEL_SELECTOR}
        )
        found += [f"{path}:{o['metadata']['name']}" for o in body["items"]]
    return found


def test_deploy_waits_for_every_node_then_remove_leaves_nothing(cluster):
    sim, kubeconfig = cluster
    api = api_client_for("sim", kubeconfig)
    deployer = CollectorDeployer(api)
    seen = []

    state = deployer.deploy(progress=seen.append, timeout_s=30)

    assert state.complete and state.summary == "3/3 nodes ready"
    assert sorted(p.node for p in deployer.agent_pods()) == ["cp-1", "worker-2", "worker-3"]
    assert seen[-1].summary == "3/3 nodes ready"
    assert _leftovers(api)
    deployer.remove(timeout_s=10)
    assert _leftovers(api) == []
    assert not deployer.state().deployed


def test_deploy_twice_keeps_one_set_of_objects(cluster):
    sim, kubeconfig = cluster
    deployer = CollectorDeployer(api_client_for("sim", kubeconfig))
    deployer.deploy(timeout_s=30)
    state = deployer.deploy(timeout_s=30)
    assert state.summary == "3/3 nodes ready"
    assert len(deployer.agent_pods()) == 3
    deployer.remove(timeout_s=10)


def test_cancel_removes_everything_created(cluster):
    sim, kubeconfig = cluster
    api = api_client_for("sim", kubeconfig)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(DeployCancelled):
        CollectorDeployer(api).deploy(cancel=cancel, timeout_s=30)
    assert _leftovers(api) == []


def test_missing_permission_is_named(cluster):
    sim, kubeconfig = cluster
    api = api_client_for("sim-restricted", kubeconfig)
    with pytest.raises(DeployError) as raised:
        CollectorDeployer(api).deploy(timeout_s=30)
    message = str(raised.value)
    assert "not allowed to create daemonsets.apps in namespace netsight-collector" in message
    assert "Traceback" not in message


def test_timeout_names_the_nodes_that_did_not_come_up(cluster):
    sim, kubeconfig = cluster
    api = api_client_for("sim", kubeconfig)
    deployer = CollectorDeployer(api)
    deployer.deploy(timeout_s=30)
    # The kubelet on worker-3 cannot pull the image.
    pod = next(p for p in deployer.agent_pods() if p.node == "worker-3")
    obj = rawapi.request_json(
        api, "GET", f"/api/v1/namespaces/{manifests.NAMESPACE}/pods/{pod.name}"
    )
    obj["status"] = {
        "phase": "Pending",
        "containerStatuses": [
            {
                "name": "agent",
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": "image not found"}},
            }
        ],
    }
    sim.apply("MODIFIED", obj)

    with pytest.raises(DeployError) as raised:
        deployer.deploy(timeout_s=3)
    message = str(raised.value)
    assert "2/3 nodes ready" in message
    assert "worker-3: ImagePullBackOff: image not found" in message
    deployer.remove(timeout_s=10)
