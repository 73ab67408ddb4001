"""Watch semantics of the simulated API server, through the official client's Watch."""

from __future__ import annotations

import json
import threading
import time

import kubernetes
import pytest
from kubernetes import watch
from kubernetes.client.exceptions import ApiException
from sim_helpers import client_for, pod, raw


def node(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": {}}


def test_watch_from_a_list_version_sees_changes_in_order_and_bookmarks(make_sim) -> None:  # type: ignore[no-untyped-def]
    sim, kubeconfig = make_sim([pod("old")], bookmark_interval_s=0.2)
    v1 = kubernetes.client.CoreV1Api(client_for(kubeconfig))
    listed = v1.list_namespaced_pod("default")
    assert [p.metadata.name for p in listed.items] == ["old"]
    start_rv = int(listed.metadata.resource_version)

    def change() -> None:
        time.sleep(0.3)
        created = sim.store.create(sim.registry.by_kind("v1", "Pod"), pod("new"))  # type: ignore[arg-type]
        modified = dict(created, metadata={**created["metadata"], "labels": {"x": "y"}})
        sim.apply("MODIFIED", modified)
        sim.apply("DELETED", pod("old"))

    writer = threading.Thread(target=change)
    writer.start()
    seen = []
    stream = watch.Watch().stream(
        v1.list_namespaced_pod,
        "default",
        resource_version=str(start_rv),
        allow_watch_bookmarks=True,
        timeout_seconds=2,
    )
    for event in stream:
        raw_obj = event["raw_object"]
        seen.append(
            (
                event["type"],
                raw_obj["metadata"].get("name"),
                int(raw_obj["metadata"]["resourceVersion"]),
            )
        )
    writer.join()

    changes = [s for s in seen if s[0] != "BOOKMARK"]
    assert [(t, n) for t, n, _ in changes] == [
        ("ADDED", "new"),
        ("MODIFIED", "new"),
        ("DELETED", "old"),
    ]
    versions = [rv for _, _, rv in changes]
    assert versions == sorted(versions) and versions[0] > start_rv
    bookmarks = [rv for t, _, rv in seen if t == "BOOKMARK"]
    assert bookmarks, "a quiet watch asked for bookmarks must get some"
    assert bookmarks[-1] == sim.store.resource_version


def test_watch_without_a_version_starts_with_the_current_state(make_sim) -> None:  # type: ignore[no-untyped-def]
    sim, kubeconfig = make_sim([pod("a"), pod("b"), pod("c", namespace="other")])
    v1 = kubernetes.client.CoreV1Api(client_for(kubeconfig))
    events = list(watch.Watch().stream(v1.list_pod_for_all_namespaces, timeout_seconds=1))
    assert sorted((e["type"], e["raw_object"]["metadata"]["name"]) for e in events) == [
        ("ADDED", "a"),
        ("ADDED", "b"),
        ("ADDED", "c"),
    ]


def test_a_watch_ends_after_timeout_seconds(make_sim) -> None:  # type: ignore[no-untyped-def]
    sim, kubeconfig = make_sim([])
    v1 = kubernetes.client.CoreV1Api(client_for(kubeconfig))
    rv = v1.list_namespaced_pod("default").metadata.resource_version
    began = time.monotonic()
    events = list(
        watch.Watch().stream(
            v1.list_namespaced_pod, "default", resource_version=rv, timeout_seconds=1
        )
    )
    elapsed = time.monotonic() - began
    assert events == []
    assert 0.9 <= elapsed < 3


def test_filtered_watch_sees_objects_leave_and_enter_its_selector(make_sim) -> None:  # type: ignore[no-untyped-def]
    sim, kubeconfig = make_sim([pod("p", status={"phase": "Running"})])
    v1 = kubernetes.client.CoreV1Api(client_for(kubeconfig))
    rv = v1.list_namespaced_pod("default").metadata.resource_version
    current = sim.store.objects(sim.registry.by_kind("v1", "Pod"))[0]  # type: ignore[arg-type]
    sim.apply("MODIFIED", {**current, "status": {"phase": "Succeeded"}})
    sim.apply("MODIFIED", {**current, "status": {"phase": "Running"}})
    events = list(
        watch.Watch().stream(
            v1.list_namespaced_pod,
            "default",
            resource_version=rv,
            field_selector="status.phase=Running",
            timeout_seconds=1,
        )
    )
    assert [e["type"] for e in events] == ["DELETED", "ADDED"]


def test_a_too_old_version_is_answered_with_http_410(make_sim) -> None:  # type: ignore[no-untyped-def]
    sim, kubeconfig = make_sim([], history_limit=5)
    first_rv = sim.store.resource_version
    for index in range(8):
        sim.apply("ADDED", pod(f"p{index}"))
    code, body = raw(sim).call("GET", f"/api/v1/pods?watch=true&resourceVersion={first_rv}")
    assert code == 410
    assert body["kind"] == "Status" and body["reason"] == "Expired" and body["code"] == 410

    # The official client surfaces it as an ApiException with status 410.
    v1 = kubernetes.client.CoreV1Api(client_for(kubeconfig))
    with pytest.raises(ApiException) as caught:
        list(
            watch.Watch().stream(
                v1.list_pod_for_all_namespaces, resource_version=str(first_rv), timeout_seconds=1
            )
        )
    assert caught.value.status == 410

    # Still inside the history: fine.
    code, _ = raw(sim).call(
        "GET", f"/api/v1/pods?watch=true&resourceVersion={first_rv + 3}&timeoutSeconds=1"
    )
    assert code == 200


def test_compaction_ends_open_watches_with_an_in_stream_410(make_sim) -> None:  # type: ignore[no-untyped-def]
    sim, kubeconfig = make_sim([pod("a")])
    v1 = kubernetes.client.CoreV1Api(client_for(kubeconfig))
    rv = v1.list_namespaced_pod("default").metadata.resource_version
    response = v1.list_namespaced_pod(
        "default", watch=True, resource_version=rv, timeout_seconds=10, _preload_content=False
    )
    sim.apply("ADDED", pod("b"))
    lines = response.stream(amt=None, decode_content=False)
    buffer = b""
    events = []
    began = time.monotonic()
    compacted = False
    for chunk in lines:
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            events.append(json.loads(line))
        if events and not compacted:
            sim.compact()
            compacted = True
    response.release_conn()
    assert time.monotonic() - began < 5, "the stream must end right after the 410"
    assert [e["type"] for e in events] == ["ADDED", "ERROR"]
    error = events[-1]["object"]
    assert error["kind"] == "Status" and error["code"] == 410 and error["reason"] == "Expired"

    # A new watch from the version before the compaction is told 410 over HTTP.
    code, _ = raw(sim).call("GET", f"/api/v1/pods?watch=true&resourceVersion={rv}")
    assert code == 410


def test_a_slow_watcher_that_falls_out_of_the_history_gets_an_in_stream_410(make_sim) -> None:  # type: ignore[no-untyped-def]
    sim, kubeconfig = make_sim([], history_limit=3)
    v1 = kubernetes.client.CoreV1Api(client_for(kubeconfig))
    rv = v1.list_namespaced_pod("default").metadata.resource_version
    response = v1.list_namespaced_pod(
        "default", watch=True, resource_version=rv, timeout_seconds=10, _preload_content=False
    )
    # Writes faster than anyone reads: hold readers off while ten land.
    with sim.store.atomically():
        for index in range(10):
            sim.apply("ADDED", pod(f"p{index}"))
    body = b"".join(response.stream(amt=None, decode_content=False))
    events = [json.loads(line) for line in body.splitlines() if line.strip()]
    assert events[-1]["type"] == "ERROR" and events[-1]["object"]["code"] == 410
    assert all(e["type"] == "ADDED" for e in events[:-1])


def test_bookmarks_only_when_asked(make_sim) -> None:  # type: ignore[no-untyped-def]
    sim, kubeconfig = make_sim([node("n1")], bookmark_interval_s=0.2)
    v1 = kubernetes.client.CoreV1Api(client_for(kubeconfig))
    rv = v1.list_node().metadata.resource_version
    plain = list(watch.Watch().stream(v1.list_node, resource_version=rv, timeout_seconds=1))
    assert plain == []
    marked = list(
        watch.Watch().stream(
            v1.list_node, resource_version=rv, timeout_seconds=1, allow_watch_bookmarks=True
        )
    )
    assert marked and all(e["type"] == "BOOKMARK" for e in marked)
    assert marked[0]["raw_object"]["kind"] == "Node"


def test_send_initial_events_ends_with_a_marked_bookmark(make_sim) -> None:  # type: ignore[no-untyped-def]
    sim, _ = make_sim([pod("a"), pod("b")])
    code, events = raw(sim).call(
        "GET",
        "/api/v1/namespaces/default/pods?watch=true&sendInitialEvents=true"
        "&allowWatchBookmarks=true&timeoutSeconds=1&resourceVersionMatch=NotOlderThan",
    )
    assert code == 200
    assert [e["type"] for e in events[:3]] == ["ADDED", "ADDED", "BOOKMARK"]
    marker = events[2]["object"]["metadata"]
    assert marker["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert marker["resourceVersion"] == str(sim.store.resource_version)


def test_response_delay_slows_every_answer(make_sim) -> None:  # type: ignore[no-untyped-def]
    sim, _ = make_sim([], response_delay_s=0.4)
    client = raw(sim)
    for path in ("/version", "/api/v1/pods", "/api/v1/namespaces/default/pods/missing"):
        began = time.monotonic()
        client.call("GET", path)
        assert time.monotonic() - began >= 0.4
    sim.response_delay_s = 0.0
    began = time.monotonic()
    client.call("GET", "/api/v1/pods")
    assert time.monotonic() - began < 0.4
