"""Writes through the simulated API: create/get/update/patch/delete and their errors."""

from __future__ import annotations

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException
from sim_helpers import client_for, pod, raw


def test_create_get_update_patch_delete_with_the_official_client(make_sim) -> None:  # type: ignore[no-untyped-def]
    sim, kubeconfig = make_sim([])
    v1 = kubernetes.client.CoreV1Api(client_for(kubeconfig))
    before = sim.store.resource_version

    created = v1.create_namespaced_config_map(
        "default", {"metadata": {"name": "cm"}, "data": {"a": "1"}}
    )
    assert created.metadata.uid and created.metadata.creation_timestamp
    assert int(created.metadata.resource_version) == before + 1
    assert created.metadata.generation == 1

    got = v1.read_namespaced_config_map("cm", "default")
    assert got.data == {"a": "1"} and got.metadata.uid == created.metadata.uid

    got.data = {"a": "2"}
    updated = v1.replace_namespaced_config_map("cm", "default", got)
    assert updated.data == {"a": "2"}
    assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)
    assert updated.metadata.uid == created.metadata.uid

    patched = v1.patch_namespaced_config_map("cm", "default", {"data": {"b": "3"}})
    assert patched.data == {"a": "2", "b": "3"}

    v1.delete_namespaced_config_map("cm", "default")
    with pytest.raises(ApiException) as caught:
        v1.read_namespaced_config_map("cm", "default")
    assert caught.value.status == 404


def test_errors_are_real_status_bodies(make_sim) -> None:  # type: ignore[no-untyped-def]
    sim, _ = make_sim([pod("p")])
    client = raw(sim)

    code, body = client.call("POST", "/api/v1/namespaces/default/pods", pod("p"))
    assert (code, body["reason"]) == (409, "AlreadyExists")
    assert body["message"] == 'pods "p" already exists'
    assert body["details"] == {"name": "p", "kind": "pods", "group": ""}

    code, current = client.call("GET", "/api/v1/namespaces/default/pods/p")
    assert code == 200
    stale = dict(current, metadata={**current["metadata"], "resourceVersion": "1"})
    code, body = client.call("PUT", "/api/v1/namespaces/default/pods/p", stale)
    assert (code, body["reason"]) == (409, "Conflict")
    assert "the object has been modified" in body["message"]

    code, body = client.call("PUT", "/api/v1/namespaces/default/pods/p", current)
    assert code == 200 and body["metadata"]["uid"] == current["metadata"]["uid"]

    for method in ("GET", "DELETE"):
        code, body = client.call(method, "/api/v1/namespaces/default/pods/nope")
        assert (code, body["kind"], body["reason"]) == (404, "Status", "NotFound")
    code, body = client.call(
        "PATCH", "/api/v1/namespaces/default/pods/nope", {"a": 1}, "application/merge-patch+json"
    )
    assert code == 404
    code, body = client.call("POST", "/api/v1/namespaces/missing/pods", pod("q", "missing"))
    assert code == 404 and body["message"] == 'namespaces "missing" not found'
    code, body = client.call("GET", "/apis/apps/v1/namespaces/default/nosuchthings")
    assert code == 404


def test_merge_and_json_patch(make_sim) -> None:  # type: ignore[no-untyped-def]
    sim, _ = make_sim([pod("p")])
    client = raw(sim)
    code, body = client.call(
        "PATCH",
        "/api/v1/namespaces/default/pods/p",
        {"metadata": {"labels": {"app": None, "tier": "web"}}},
        "application/merge-patch+json",
    )
    assert code == 200 and body["metadata"]["labels"] == {"tier": "web"}
    code, body = client.call(
        "PATCH",
        "/api/v1/namespaces/default/pods/p",
        [{"op": "add", "path": "/metadata/annotations", "value": {"k": "v"}}],
        "application/json-patch+json",
    )
    assert code == 200 and body["metadata"]["annotations"] == {"k": "v"}
    code, body = client.call(
        "PATCH",
        "/api/v1/namespaces/default/pods/p",
        {"metadata": {"resourceVersion": "1", "labels": {"x": "y"}}},
        "application/merge-patch+json",
    )
    assert (code, body["reason"]) == (409, "Conflict")


def test_server_sets_metadata_on_service_accounts_and_bumps_generation(make_sim) -> None:  # type: ignore[no-untyped-def]
    sim, kubeconfig = make_sim([])
    api = client_for(kubeconfig)
    v1 = kubernetes.client.CoreV1Api(api)
    v1.create_namespace({"metadata": {"name": "netsight"}})
    sa = v1.create_namespaced_service_account(
        "netsight", {"metadata": {"name": "collector", "uid": "mine", "resourceVersion": "7"}}
    )
    assert sa.metadata.uid != "mine" and sa.metadata.creation_timestamp is not None
    assert sa.metadata.resource_version == str(sim.store.resource_version)

    rbac = kubernetes.client.RbacAuthorizationV1Api(api)
    role = {
        "metadata": {"name": "reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
    }
    rbac.create_cluster_role(role)
    rbac.create_namespaced_role("netsight", role)
    binding = {
        "metadata": {"name": "reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "collector", "namespace": "netsight"}],
    }
    rbac.create_namespaced_role_binding("netsight", binding)
    rbac.create_cluster_role_binding(
        {**binding, "roleRef": {**binding["roleRef"], "kind": "ClusterRole"}}
    )
    assert [r.metadata.name for r in rbac.list_cluster_role().items] == ["reader"]

    apps = kubernetes.client.AppsV1Api(api)
    ds = apps.create_namespaced_daemon_set("netsight", daemonset("ds"))
    assert ds.metadata.generation == 1
    ds = apps.read_namespaced_daemon_set("ds", "netsight")  # the controller wrote its status
    ds.spec.template.metadata.labels["v"] = "2"
    assert apps.replace_namespaced_daemon_set("ds", "netsight", ds).metadata.generation == 2
    patched = apps.patch_namespaced_daemon_set(
        "ds", "netsight", {"metadata": {"labels": {"l": "1"}}}
    )
    assert patched.metadata.generation == 2  # metadata only: no new generation


def test_deleting_a_namespace_deletes_what_is_in_it(make_sim) -> None:  # type: ignore[no-untyped-def]
    sim, kubeconfig = make_sim([pod("keep")])
    v1 = kubernetes.client.CoreV1Api(client_for(kubeconfig))
    v1.create_namespace({"metadata": {"name": "gone"}})
    v1.create_namespaced_config_map("gone", {"metadata": {"name": "cm"}})
    v1.create_namespaced_pod("gone", pod("p", "gone"))
    v1.delete_namespace("gone")
    assert v1.list_namespaced_pod("gone").items == []
    assert v1.list_namespaced_config_map("gone").items == []
    assert [p.metadata.name for p in v1.list_pod_for_all_namespaces().items] == ["keep"]


def daemonset(name: str, **pod_spec: object) -> dict:
    return {
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "netsight-collector"}},
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


def test_apply_keeps_identity_unless_a_new_uid_is_given(make_sim) -> None:  # type: ignore[no-untyped-def]
    sim, _ = make_sim([pod("p")])
    pods = sim.registry.by_kind("v1", "Pod")
    original = sim.store.get(pods, "default", "p")
    changed = sim.apply("MODIFIED", pod("p", status={"phase": "Running"}))
    assert changed["metadata"]["uid"] == original["metadata"]["uid"]
    assert changed["metadata"]["creationTimestamp"] == original["metadata"]["creationTimestamp"]
    assert (
        int(changed["metadata"]["resourceVersion"])
        == int(original["metadata"]["resourceVersion"]) + 1
    )

    replacement = pod("p")
    replacement["metadata"]["uid"] = "second"
    sim.apply("ADDED", replacement)
    assert sim.store.get(pods, "default", "p")["metadata"]["uid"] == "second"
    # The delete of the first uid arrives late: the second pod stays.
    sim.apply(
        "DELETED",
        {**pod("p"), "metadata": {**pod("p")["metadata"], "uid": original["metadata"]["uid"]}},
    )
    assert sim.store.get(pods, "default", "p")["metadata"]["uid"] == "second"
    sim.apply("DELETED", pod("p"))
    assert sim.store.get(pods, "default", "p") is None


def test_a_refused_write_does_not_spoil_the_next_request_on_the_connection(make_sim):
    """The body of a refused POST is read, not parsed as the next request."""
    import http.client
    import json
    import ssl

    from netsight.sim.rbac import RbacRules

    sim, _ = make_sim([], rbac=RbacRules.parse(["create:configmaps"]))
    context = ssl.create_default_context(cadata=sim.ca_pem.decode())
    connection = http.client.HTTPSConnection("127.0.0.1", sim.port, context=context, timeout=10)
    headers = {
        "Authorization": f"Bearer {sim.tokens.restricted}",
        "Content-Type": "application/json",
    }
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
    try:
        connection.request("POST", "/api/v1/namespaces/default/configmaps", body, headers)
        refused = connection.getresponse()
        refused.read()
        connection.request("GET", "/api/v1/namespaces", headers=headers)
        answer = connection.getresponse()
        listed = json.loads(answer.read())
    finally:
        connection.close()
    assert refused.status == 403
    assert answer.status == 200 and listed["kind"] == "NamespaceList"
