"""The demo's live changes: CronJob runs that hand their IP on, a Deployment that scales."""

from __future__ import annotations

import calendar
import threading
import time

from netsight.sim.demo import DemoChanges, demo_objects
from netsight.sim.demo.live import JOB_HISTORY

NOW = 1_764_835_200.0


def epoch(stamp: str) -> float:
    return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))


def report_pods(objects: list[dict]) -> list[dict]:
    return [
        o for o in objects if o["kind"] == "Pod" and o["metadata"]["name"].startswith("report-")
    ]


def test_each_report_run_finishes_the_last_and_reuses_its_ip() -> None:
    clock = [NOW]
    events: list[tuple[str, dict]] = []
    changes = DemoChanges(
        demo_objects(NOW), [lambda t, o: events.append((t, o))], now_fn=lambda: clock[0]
    )
    ip = next(
        p["status"]["podIP"]
        for p in report_pods(changes.objects())
        if p["status"]["phase"] == "Running"
    )
    job_names: set[str] = set()
    for _ in range(4):  # two report runs, two scale changes
        clock[0] += 15
        changes.step()
        pods = report_pods(changes.objects())
        running = [p for p in pods if p["status"]["phase"] == "Running"]
        assert len(running) == 1
        assert running[0]["status"]["podIP"] == ip
        for done in (p for p in pods if p["status"]["phase"] == "Succeeded"):
            state = done["status"]["containerStatuses"][0]["state"]["terminated"]
            assert epoch(state["finishedAt"]) <= epoch(running[0]["status"]["startTime"])
        jobs = [o for o in changes.objects() if o["kind"] == "Job"]
        assert len(jobs) <= JOB_HISTORY + 1
        job_names |= {j["metadata"]["name"] for j in jobs}
        owners = {j["metadata"]["uid"] for j in jobs}
        assert all(p["metadata"]["ownerReferences"][0]["uid"] in owners for p in pods)
    assert len(job_names) == 5  # three at start, two new runs
    kinds = [(t, o["kind"]) for t, o in events]
    assert ("MODIFIED", "Pod") in kinds and ("ADDED", "Job") in kinds
    assert ("DELETED", "Job") in kinds and ("DELETED", "Pod") in kinds


def test_cart_scales_up_and_back_down_with_its_endpoint_slice() -> None:
    clock = [NOW]
    changes = DemoChanges(demo_objects(NOW), [], now_fn=lambda: clock[0])

    def cart_state() -> tuple[int, set[str], set[str]]:
        objects = changes.objects()
        deployment = next(
            o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "cart"
        )
        pods = {
            o["status"]["podIP"]
            for o in objects
            if o["kind"] == "Pod" and o["metadata"]["name"].startswith("cart-")
        }
        endpoint_slice = next(
            o
            for o in objects
            if o["kind"] == "EndpointSlice"
            and o["metadata"]["labels"]["kubernetes.io/service-name"] == "cart"
        )
        listed = {a for e in endpoint_slice["endpoints"] for a in e["addresses"]}
        return deployment["spec"]["replicas"], pods, listed

    replicas, pods, listed = cart_state()
    assert replicas == 2 and pods == listed
    changes.step()
    assert "scaled up" in changes.step()
    replicas, more, listed = cart_state()
    assert replicas == 3 and len(more) == 3 and more == listed
    changes.step()
    assert "scaled down" in changes.step()
    replicas, fewer, listed = cart_state()
    assert replicas == 2 and fewer == pods == listed


def test_live_changes_run_in_a_thread_until_stopped() -> None:
    before = set(threading.enumerate())
    seen = threading.Event()
    changes = DemoChanges(demo_objects(time.time()), [lambda t, o: seen.set()], interval_s=0.05)
    changes.start()
    assert seen.wait(5)
    changes.stop()
    assert set(threading.enumerate()) == before
