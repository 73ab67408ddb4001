"""Scripted timelines: identity scenarios replayed with deterministic timestamps."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import kubernetes
import pytest
from kubernetes import watch
from sim_helpers import client_for

from netsight.sim.timeline import Timeline, TimelineError, parse_time

START = "2025-03-01T09:00:00Z"


def running_pod(name: str, namespace: str, ip: str, uid: str, **meta: object) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": uid, **meta},
        "spec": {"nodeName": "w1", "containers": [{"name": "main", "image": "busybox"}]},
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]},
    }


def initial() -> list[dict]:
    return [
        running_pod("qux", "shop", "10.244.1.23", "uid-qux"),
        running_pod("report-1", "batch", "10.244.1.40", "uid-report"),
        running_pod(
            "pg-0",
            "db",
            "10.244.1.30",
            "uid-pg-1",
            ownerReferences=[
                {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "pg", "uid": "sts"}
            ],
        ),
    ]


TIMELINE = f"""
start: "{START}"
steps:
  - at: 0
    time: 600
    delete: {{kind: Pod, namespace: shop, name: qux}}
  - at: 0.1
    time: 660
    add:
      apiVersion: v1
      kind: Pod
      metadata: {{name: foo, namespace: shop, uid: uid-foo}}
      spec: {{nodeName: w1, containers: [{{name: app, image: nginx}}]}}
      status: {{phase: Running, podIP: 10.244.1.23, podIPs: [{{ip: 10.244.1.23}}]}}
  - at: 0.2
    time: 700
    patch: {{kind: Pod, namespace: batch, name: report-1}}
    with:
      status:
        phase: Succeeded
        containerStatuses:
          - name: main
            image: busybox
            imageID: ""
            restartCount: 0
            ready: false
            state: {{terminated: {{exitCode: 0, reason: Completed, finishedAt: $time-1}}}}
  - time: 800
    add:
      apiVersion: v1
      kind: Pod
      metadata:
        name: pg-0
        namespace: db
        uid: uid-pg-2
        ownerReferences: [{{apiVersion: apps/v1, kind: StatefulSet, name: pg, uid: sts}}]
      spec: {{nodeName: w2, containers: [{{name: pg, image: postgres}}]}}
      status: {{phase: Running, podIP: 10.244.2.31, podIPs: [{{ip: 10.244.2.31}}]}}
  - time: 801
    delete: {{kind: Pod, namespace: db, name: pg-0, uid: uid-pg-1}}
"""


@pytest.fixture()
def timeline_file(tmp_path: Path) -> Path:
    path = tmp_path / "history.yaml"
    path.write_text(TIMELINE)
    return path


def collect(kubeconfig: Path, rv: str, into: list[dict], ready: threading.Event) -> None:
    v1 = kubernetes.client.CoreV1Api(client_for(kubeconfig))
    stream = watch.Watch().stream(
        v1.list_pod_for_all_namespaces, resource_version=rv, timeout_seconds=2
    )
    ready.set()
    for event in stream:
        into.append(event)


def test_step_by_step_replay_delivers_the_scripted_history(make_sim, timeline_file: Path) -> None:  # type: ignore[no-untyped-def]
    timeline = Timeline.load(timeline_file)
    sim, kubeconfig = make_sim(initial(), timeline=timeline)
    v1 = kubernetes.client.CoreV1Api(client_for(kubeconfig))
    rv = v1.list_pod_for_all_namespaces().metadata.resource_version
    events: list[dict] = []
    ready = threading.Event()
    watcher = threading.Thread(target=collect, args=(kubeconfig, rv, events, ready))
    watcher.start()
    ready.wait(5)

    step = timeline.advance()
    assert step is not None and step.action == "delete" and timeline.position == 1
    assert [p.metadata.name for p in v1.list_namespaced_pod("shop").items] == []
    assert timeline.run_all() == 4
    assert timeline.done and timeline.advance() is None
    watcher.join()

    seen = [
        (e["type"], e["raw_object"]["metadata"]["name"], e["raw_object"]["metadata"]["uid"])
        for e in events
    ]
    assert seen == [
        ("DELETED", "qux", "uid-qux"),
        ("ADDED", "foo", "uid-foo"),
        ("MODIFIED", "report-1", "uid-report"),
        ("ADDED", "pg-0", "uid-pg-2"),
        ("DELETED", "pg-0", "uid-pg-1"),  # the late delete of the old uid
    ]
    t0 = parse_time(START)
    objs = [e["raw_object"] for e in events]
    assert parse_time(objs[0]["metadata"]["deletionTimestamp"]) == t0 + 600
    assert parse_time(objs[1]["metadata"]["creationTimestamp"]) == t0 + 660
    assert parse_time(objs[1]["status"]["startTime"]) == t0 + 660
    finished = objs[2]["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"]
    assert parse_time(finished) == t0 + 699
    assert objs[2]["status"]["phase"] == "Succeeded" and objs[2]["status"]["podIP"] == "10.244.1.40"
    assert parse_time(objs[4]["metadata"]["deletionTimestamp"]) == t0 + 801
    assert objs[4]["status"]["podIP"] == "10.244.1.30"  # the old object, as it was

    # The late delete left the new pod in place.
    current = v1.read_namespaced_pod("pg-0", "db")
    assert (current.metadata.uid, current.status.pod_ip) == ("uid-pg-2", "10.244.2.31")


def test_play_applies_steps_at_their_offsets(make_sim, timeline_file: Path) -> None:  # type: ignore[no-untyped-def]
    timeline = Timeline.load(timeline_file)
    sim, _ = make_sim(initial(), timeline=timeline)
    began = time.monotonic()
    timeline.play()
    assert timeline.wait(5)
    assert 0.18 <= time.monotonic() - began < 3
    assert timeline.position == 5


@pytest.mark.parametrize(
    "text,complaint",
    [
        ("steps: 3", "'steps' list"),
        ("steps: [{at: 0}]", "exactly one of"),
        ("steps: [{add: {kind: Pod}, delete: {kind: Pod}}]", "exactly one of"),
        (
            "steps: [{at: 2, delete: {kind: Pod, name: a}}, {at: 1, delete: {kind: Pod, name: b}}]",
            "back in time",
        ),
        ("steps: [{patch: {kind: Pod, name: a}}]", "'with'"),
        ("start: yesterday\nsteps: []", "ISO 8601"),
        ("steps: [\n", "not valid YAML"),
    ],
)
def test_bad_timelines_say_what_is_wrong(tmp_path: Path, text: str, complaint: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(TimelineError) as caught:
        Timeline.load(path)
    assert complaint in str(caught.value) and str(path) in str(caught.value)
