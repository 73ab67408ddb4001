"""The demo as `netsight --demo` uses it: deploy the collector, pull, name the traffic.

This runs the product's own deployer, puller, identity and store against
the demo, so it checks that the demo tells the stories it is meant to tell
(a shop calling its backends, Prometheus scraping hostNetwork exporters, a
CronJob talking to its database, egress) once everything is named.
"""

from __future__ import annotations

import calendar
import queue
import time
from pathlib import Path

from kubernetes import config

from netsight.collector.deploy import CollectorDeployer
from netsight.collector.pulling import AgentPuller
from netsight.identity.ownership import OwnershipHistory
from netsight.kube.watching import Inventory
from netsight.sim.demo import start_demo
from netsight.store.database import open_store


def epoch(stamp: str) -> float:
    return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))


def test_demo_traffic_is_named_by_workload_after_deploy_and_pull(tmp_path: Path) -> None:
    demo = start_demo(tmp_path, change_interval_s=None)
    try:
        api = config.new_client_from_config(config_file=str(demo.kubeconfig), context="sim")
        state = CollectorDeployer(api).deploy(timeout_s=20)
        assert state.complete
        store = open_store(tmp_path / "demo.duckdb")
        pulled = AgentPuller(api, store).pull_all()
        assert pulled.agents == 3 and not pulled.errors and pulled.records > 1000

        # Ownership from the inventory, watched as the desktop watches it.
        history = OwnershipHistory()
        with Inventory(api) as inventory:
            assert inventory.wait_synced(timeout=20)
            assert inventory.unavailable == {}
            while True:
                try:
                    event = inventory.events.get_nowait()
                except queue.Empty:
                    break
                history.apply(event.kind, event.type, event.obj, event.observed_at)
            pods = inventory.snapshot("Pod")
        store.replace_ownership(history.intervals(), history.owners())

        # The IP a finished CronJob run handed on names each run at its own time.
        runs = sorted(
            (p for p in pods if p["metadata"]["name"].startswith("report-")),
            key=lambda p: p["status"]["startTime"],
        )
        running = runs[-1]
        earlier = [p for p in runs[:-1] if p["status"]["podIP"] == running["status"]["podIP"]]
        assert earlier
        during = epoch(earlier[0]["status"]["startTime"]) + 30
        ip = running["status"]["podIP"]
        assert history.resolve(ip, during).name == earlier[0]["metadata"]["name"]
        assert history.resolve(ip, time.time()).name == running["metadata"]["name"]

        rows = store.connections("workload").to_pylist()
        edges = {
            (r["src_kind"], r["src_name"], r["dst_kind"], r["dst_name"], r["dst_port"])
            for r in rows
        }
        expected = {
            ("Deployment", "frontend", "Deployment", "cart", 7070),
            ("Deployment", "cart", "Deployment", "redis", 6379),
            ("Deployment", "checkout", "Deployment", "payments-api", 8443),
            ("Deployment", "prometheus", "DaemonSet", "node-exporter", 9100),
            ("CronJob", "report", "StatefulSet", "postgres", 5432),
            ("Deployment", "frontend", "Deployment", "coredns", 53),
        }
        assert expected <= edges
        kinds = {(r["src_kind"], r["dst_kind"]) for r in rows}
        assert ("Deployment", "External") in kinds and ("Deployment", "ApiServer") in kinds
        visits = [r for r in rows if r["dst_name"] == "frontend" and r["src_kind"] == "External"]
        assert visits and visits[0]["connections"] > 10
    finally:
        demo.stop()
