"""The collector's least-privilege promises, read off the manifests it deploys."""

from __future__ import annotations

import ast

from netsight.collector import manifests
from netsight.collector.manifests import CollectorSettings


def _pod_spec() -> dict:
    return manifests.daemon_set_manifest()["spec"]["template"]["spec"]


def test_every_object_is_labelled_for_removal():
    for manifest in manifests.all_manifests():
        labels = manifest["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "netsight", manifest["kind"]
        assert labels["app.kubernetes.io/name"] == "netsight-collector", manifest["kind"]


def test_own_namespace_and_service_account_without_token():
    kinds = [m["kind"] for m in manifests.all_manifests()]
    assert kinds == ["Namespace", "ServiceAccount", "ConfigMap", "DaemonSet"]
    assert manifests.service_account_manifest()["automountServiceAccountToken"] is False
    spec = _pod_spec()
    assert spec["serviceAccountName"] == manifests.NAME
    assert spec["automountServiceAccountToken"] is False
    for manifest in manifests.all_manifests()[1:]:
        assert manifest["metadata"]["namespace"] == "netsight-collector"


def test_host_pid_only_no_host_network_no_host_port():
    spec = _pod_spec()
    assert spec["hostPID"] is True
    assert spec["hostNetwork"] is False
    assert "hostIPC" not in spec
    for container in spec["containers"]:
        for port in container.get("ports", []):
            assert "hostPort" not in port
    assert all("hostPath" not in volume for volume in spec["volumes"])


def test_only_the_capabilities_the_agent_uses_read_only_and_unprivileged():
    (container,) = _pod_spec()["containers"]
    context = container["securityContext"]
    assert context["privileged"] is False
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"]["drop"] == ["ALL"]
    assert set(context["capabilities"]["add"]) == {
        "SYS_ADMIN",
        "SYS_PTRACE",
        "NET_ADMIN",
        "DAC_READ_SEARCH",
    }
    assert all(mount["readOnly"] for mount in container["volumeMounts"])


def test_cpu_and_memory_are_limited():
    (container,) = _pod_spec()["containers"]
    limits = container["resources"]["limits"]
    assert limits["cpu"] and limits["memory"]
    assert container["resources"]["requests"]["memory"]


def test_tolerates_every_taint():
    assert {"operator": "Exists"} in _pod_spec()["tolerations"]


def test_agent_runs_from_the_config_map_in_a_stock_image():
    settings = CollectorSettings(image="registry.example.com/python:3.12-alpine")
    (container,) = manifests.daemon_set_manifest(settings)["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example.com/python:3.12-alpine"
    assert container["command"][:2] == ["python3", "/agent/agent.py"]
    source = manifests.config_map_manifest()["data"]["agent.py"]
    # A reviewer can read it: plain Python using nothing but the standard library.
    tree = ast.parse(source)
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    import sys

    assert imported <= set(sys.stdlib_module_names) | {"__future__"}
