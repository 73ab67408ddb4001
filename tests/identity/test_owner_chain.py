"""OwnershipHistory.owner_chain: the owners above a pod or workload, up to its Helm release."""

from __future__ import annotations

from typing import Any

import yaml
from identity_builders import T0, helm_secret, pod, ref_to, workload

from netsight.identity.ownership import HELM_RELEASE, OwnershipHistory


def deployment_manifest(name: str, namespace: str) -> str:
    return "---\n" + yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
        }
    )


def shop(history: OwnershipHistory) -> dict[str, dict[str, Any]]:
    deploy = workload("Deployment", "web", namespace="shop")
    rs = workload("ReplicaSet", "web-5d8f", namespace="shop", owner=ref_to(deploy))
    p = pod("web-5d8f-abcde", "10.244.1.5", namespace="shop", owner=ref_to(rs))
    for kind, obj in (("Deployment", deploy), ("ReplicaSet", rs), ("Pod", p)):
        history.apply(kind, "ADDED", obj, T0)
    return {"deploy": deploy, "rs": rs, "pod": p}


def test_a_pod_chain_runs_through_its_replicaset_and_deployment_to_the_release() -> None:
    history = OwnershipHistory()
    shop(history)
    assert history.owner_chain("Pod", "shop", "web-5d8f-abcde") == [
        ("ReplicaSet", "web-5d8f"),
        ("Deployment", "web"),
    ]
    history.apply(
        "Secret",
        "ADDED",
        helm_secret("storefront", "shop", 4, "deployed", deployment_manifest("web", "shop")),
        T0,
    )
    assert history.owner_chain("Pod", "shop", "web-5d8f-abcde") == [
        ("ReplicaSet", "web-5d8f"),
        ("Deployment", "web"),
        (HELM_RELEASE, "storefront"),
    ]


def test_a_workload_chain_starts_above_it_and_any_workload_kind_matches() -> None:
    history = OwnershipHistory()
    shop(history)
    assert history.owner_chain("ReplicaSet", "shop", "web-5d8f") == [("Deployment", "web")]
    assert history.owner_chain("Deployment", "shop", "web") == []
    history.apply(
        "Secret",
        "ADDED",
        helm_secret("storefront", "shop", 1, "deployed", deployment_manifest("web", "shop")),
        T0,
    )
    assert history.owner_chain("Deployment", "shop", "web") == [(HELM_RELEASE, "storefront")]
    assert history.owner_chain("Workload", "shop", "web") == [(HELM_RELEASE, "storefront")]


def test_the_release_annotation_names_the_release_without_a_manifest() -> None:
    history = OwnershipHistory()
    cron = workload(
        "CronJob",
        "report",
        namespace="ops",
        annotations={"meta.helm.sh/release-name": "reports"},
    )
    job = workload("Job", "report-28712", namespace="ops", owner=ref_to(cron))
    p = pod("report-28712-x1", "10.244.2.9", namespace="ops", owner=ref_to(job))
    for kind, obj in (("CronJob", cron), ("Job", job), ("Pod", p)):
        history.apply(kind, "ADDED", obj, T0)
    assert history.owner_chain("Pod", "ops", "report-28712-x1") == [
        ("Job", "report-28712"),
        ("CronJob", "report"),
        (HELM_RELEASE, "reports"),
    ]


def test_unknown_objects_and_wrong_namespaces_have_no_chain() -> None:
    history = OwnershipHistory()
    shop(history)
    assert history.owner_chain("Pod", "shop", "no-such-pod") == []
    assert history.owner_chain("Pod", "default", "web-5d8f-abcde") == []
    assert history.owner_chain("Deployment", "default", "web") == []


def test_a_recreated_pod_name_follows_the_live_pod() -> None:
    history = OwnershipHistory()
    old_set = workload("StatefulSet", "db-old", namespace="data")
    new_set = workload("StatefulSet", "db", namespace="data")
    old = pod("db-0", "10.244.3.1", namespace="data", owner=ref_to(old_set))
    history.apply("StatefulSet", "ADDED", old_set, T0)
    history.apply("StatefulSet", "ADDED", new_set, T0)
    history.apply("Pod", "ADDED", old, T0)
    history.apply("Pod", "DELETED", old, T0 + 10)
    assert history.owner_chain("Pod", "data", "db-0") == [("StatefulSet", "db-old")]
    new = pod("db-0", "10.244.3.2", namespace="data", owner=ref_to(new_set), started=T0 + 20)
    history.apply("Pod", "ADDED", new, T0 + 20)
    assert history.owner_chain("Pod", "data", "db-0") == [("StatefulSet", "db")]
