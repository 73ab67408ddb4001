"""Applications from Helm release Secrets, annotations and labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from identity_builders import T0, helm_secret, pod, ref_to, secret_with_release, service, workload

from netsight.identity.apps import decode_payload, release_from_secret
from netsight.identity.ownership import OwnershipHistory

REAL = Path("/work/shared/fixtures/real")
if not REAL.is_dir():
    REAL = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "real"


def real_secret(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((REAL / name).read_text())
    assert isinstance(loaded, dict)
    return loaded


def deployment_pod(deploy_name: str, namespace: str, ip: str) -> list[tuple[str, dict[str, Any]]]:
    deploy = workload("Deployment", deploy_name, namespace=namespace)
    rs = workload("ReplicaSet", f"{deploy_name}-5d8f", namespace=namespace, owner=ref_to(deploy))
    p = pod(f"{deploy_name}-5d8f-abcde", ip, namespace=namespace, owner=ref_to(rs))
    return [("Deployment", deploy), ("ReplicaSet", rs), ("Pod", p)]


def test_real_helm_secret_decodes_through_both_base64_layers_and_gzip() -> None:
    release = release_from_secret(real_secret("kubectl-status-secret-helm-release-deployed.yaml"))
    assert release is not None
    assert (release.name, release.namespace, release.revision, release.status) == (
        "my-release",
        "default",
        3,
        "deployed",
    )
    assert (release.chart, release.chart_version, release.app_version) == (
        "mychart",
        "1.2.3",
        "2.0.0",
    )
    assert ("Deployment", "default", "my-release-mychart") in release.objects
    assert ("ConfigMap", "default", "my-release-mychart-config") in release.objects


def test_manifest_objects_keep_their_own_namespace() -> None:
    secret = real_secret("kots-helm_test-sh.helm.release.v1.namespace-test.v1-multidoc.yaml")
    release = release_from_secret(secret)
    assert release is not None and release.namespace == "test-two"
    assert release.objects == {
        ("Deployment", "test-one", "deploy-1"),
        ("Deployment", "test-two", "deploy-2"),
    }
    history = OwnershipHistory()
    history.apply("Secret", "ADDED", secret, T0)
    for kind, obj in deployment_pod("deploy-1", "test-one", "10.244.3.1") + deployment_pod(
        "deploy-2", "test-two", "10.244.3.2"
    ):
        history.apply(kind, "ADDED", obj, T0)
    assert history.resolve("10.244.3.1", T0 + 1).app == "namespace-test"
    assert history.resolve("10.244.3.2", T0 + 1).app == "namespace-test"


def test_pods_join_their_release_through_the_owner_chain() -> None:
    history = OwnershipHistory()
    for kind, obj in deployment_pod("my-release-mychart", "default", "10.244.3.3"):
        history.apply(kind, "ADDED", obj, T0)
    assert history.resolve("10.244.3.3", T0 + 1).app is None
    # The Secret arrives last; the pod's application follows.
    history.apply(
        "Secret", "ADDED", real_secret("kubectl-status-secret-helm-release-deployed.yaml"), T0
    )
    identity = history.resolve("10.244.3.3", T0 + 1)
    assert (identity.app, identity.workload_kind, identity.workload_name) == (
        "my-release",
        "Deployment",
        "my-release-mychart",
    )
    [release] = history.releases()
    assert (release.name, release.revision, release.status, release.chart) == (
        "my-release",
        3,
        "deployed",
        "mychart",
    )


def manifest(*names: str, namespace: str | None = None) -> str:
    docs = []
    for name in names:
        meta: dict[str, Any] = {"name": name}
        if namespace:
            meta["namespace"] = namespace
        docs.append(yaml.safe_dump({"apiVersion": "v1", "kind": "Service", "metadata": meta}))
    return "---\n" + "---\n".join(docs)


def test_latest_deployed_revision_wins() -> None:
    history = OwnershipHistory()
    history.apply("Service", "ADDED", service("old-svc", "10.96.1.1"), T0)
    history.apply("Service", "ADDED", service("new-svc", "10.96.1.2"), T0)
    history.apply("Service", "ADDED", service("broken-svc", "10.96.1.3"), T0)
    for revision, status, name in [
        (1, "superseded", "old-svc"),
        (2, "deployed", "new-svc"),
        (3, "failed", "broken-svc"),
    ]:
        history.apply(
            "Secret", "ADDED", helm_secret("shop", "default", revision, status, manifest(name)), T0
        )
    assert history.resolve("10.96.1.2", T0).app == "shop"
    assert history.resolve("10.96.1.1", T0).app is None
    assert history.resolve("10.96.1.3", T0).app is None
    assert [(r.name, r.revision, r.status) for r in history.releases()] == [("shop", 2, "deployed")]


def test_un_gzipped_payload_is_accepted() -> None:
    secret = helm_secret("plain", "web", 1, "deployed", manifest("front"), gzipped=False)
    release = release_from_secret(secret)
    assert release is not None and release.decoded
    assert release.objects == {("Service", "web", "front")}


@pytest.mark.parametrize("value", [None, "", "bm90IGhlbG0=", "!!!not base64!!!", "H4sI"])
def test_unreadable_payload_falls_back_to_the_secret_labels(value: str | None) -> None:
    secret = secret_with_release("legacy", "ops", 7, "deployed", value)
    assert decode_payload(value) is None
    release = release_from_secret(secret)
    assert release is not None
    assert (release.name, release.namespace, release.revision, release.status, release.decoded) == (
        "legacy",
        "ops",
        7,
        "deployed",
        False,
    )
    history = OwnershipHistory()
    history.apply("Secret", "ADDED", secret, T0)
    assert [r.name for r in history.releases()] == ["legacy"]


def test_deleting_the_release_secrets_forgets_the_release() -> None:
    history = OwnershipHistory()
    secret = helm_secret("gone", "default", 1, "deployed", manifest("svc-a"))
    history.apply("Service", "ADDED", service("svc-a", "10.96.2.1"), T0)
    history.apply("Secret", "ADDED", secret, T0)
    assert history.resolve("10.96.2.1", T0).app == "gone"
    history.apply("Secret", "DELETED", secret, T0 + 5)
    assert history.releases() == []
    assert history.resolve("10.96.2.1", T0).app is None


def test_other_secrets_are_ignored() -> None:
    history = OwnershipHistory()
    opaque = {"kind": "Secret", "type": "Opaque", "metadata": {"name": "x", "uid": "s"}, "data": {}}
    history.apply("Secret", "ADDED", opaque, T0)
    assert history.releases() == []


def test_without_a_secret_annotation_then_labels_name_the_app() -> None:
    annotated = workload(
        "Deployment",
        "api",
        annotations={"meta.helm.sh/release-name": "backend"},
        labels={"app.kubernetes.io/instance": "ignored"},
    )
    rs = workload("ReplicaSet", "api-1", owner=ref_to(annotated))
    cases = {
        "10.244.4.1": (pod("api-1-x", "10.244.4.1", owner=ref_to(rs)), "backend"),
        "10.244.4.2": (
            pod("a", "10.244.4.2", labels={"app.kubernetes.io/instance": "blog"}),
            "blog",
        ),
        "10.244.4.3": (
            pod("b", "10.244.4.3", labels={"app.kubernetes.io/part-of": "shop"}),
            "shop",
        ),
        "10.244.4.4": (
            pod("c", "10.244.4.4", labels={"release": "old", "heritage": "Tiller"}),
            "old",
        ),
        "10.244.4.5": (pod("d", "10.244.4.5", labels={"release": "canary"}), None),
    }
    history = OwnershipHistory()
    history.apply("Deployment", "ADDED", annotated, T0)
    history.apply("ReplicaSet", "ADDED", rs, T0)
    for p, _ in cases.values():
        history.apply("Pod", "ADDED", p, T0)
    for ip, (_, app) in cases.items():
        assert history.resolve(ip, T0 + 1).app == app, ip
