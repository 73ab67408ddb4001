"""The demo cluster's objects and the simulated collector that serves its traffic."""

from __future__ import annotations

import base64
import calendar
import gzip
import ipaddress
import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest
import yaml
from kubernetes.client import ApiClient

from netsight.sim.demo import DemoChanges, DemoCollector, demo_objects
from netsight.sim.demo import cluster as demo

NOW = 1_764_835_200.0  # a fixed "now" so every run builds the same cluster
CONTRACT_FIELDS = {
    "seq", "conn_id", "node", "generation", "proto", "family", "src_ip", "src_port",
    "dst_ip", "dst_port", "nat_dst_ip", "nat_dst_port", "nat_src_ip", "nat_src_port",
    "observer", "source", "state", "bytes_sent", "bytes_received", "process", "pid",
    "netns", "first_seen", "last_seen",
}  # fmt: skip
# Fields the real agent adds when one node holds both ends of a connection.
PEER_FIELDS = {"peer_process", "peer_pid", "peer_netns"}
NAMESPACED_KINDS = {
    "Pod", "Service", "EndpointSlice", "Endpoints", "Deployment", "ReplicaSet",
    "StatefulSet", "DaemonSet", "Job", "CronJob", "Secret", "NetworkPolicy",
}  # fmt: skip


@pytest.fixture(scope="module")
def objects() -> list[dict]:
    return demo_objects(NOW)


def of_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


def epoch(stamp: str) -> float:
    return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))


def node_ips(objects: list[dict]) -> dict[str, str]:
    return {
        n["metadata"]["name"]: a["address"]
        for n in of_kind(objects, "Node")
        for a in n["status"]["addresses"]
        if a["type"] == "InternalIP"
    }


def decode_release(secret: dict) -> dict:
    inner = base64.b64decode(secret["data"]["release"])
    return json.loads(gzip.decompress(base64.b64decode(inner)))


# -- the objects -------------------------------------------------------------------


def test_objects_have_kubernetes_shape_and_unique_uids(objects: list[dict]) -> None:
    uids = [o["metadata"]["uid"] for o in objects]
    assert len(uids) == len(set(uids))
    names = Counter(
        (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects
    )
    assert max(names.values()) == 1
    namespaces = {n["metadata"]["name"] for n in of_kind(objects, "Namespace")}
    assert {"shop", "payments", "monitoring", "data", "kube-system", "default"} <= namespaces
    for obj in objects:
        assert obj["apiVersion"] and obj["kind"]
        meta = obj["metadata"]
        epoch(meta["creationTimestamp"])
        if obj["kind"] in NAMESPACED_KINDS:
            assert meta["namespace"] in namespaces, meta
        else:
            assert "namespace" not in meta
    for slice_ in of_kind(objects, "EndpointSlice"):
        assert slice_["apiVersion"] == "discovery.k8s.io/v1"
        assert slice_["addressType"] == "IPv4"


def test_objects_deserialize_into_the_official_clients_models(objects: list[dict]) -> None:
    api = ApiClient()
    for obj in objects:
        model = api._ApiClient__deserialize(obj, f"V1{obj['kind']}")  # type: ignore[attr-defined]
        assert model.metadata.name == obj["metadata"]["name"]


def test_timestamps_are_recent_relative_to_now(objects: list[dict]) -> None:
    stamps = [epoch(o["metadata"]["creationTimestamp"]) for o in objects]
    assert min(stamps) >= NOW - 8 * 86400
    assert max(stamps) <= NOW
    later = demo_objects(NOW + 86400)
    assert min(epoch(o["metadata"]["creationTimestamp"]) for o in later) == min(stamps) + 86400


def test_pod_ips_lie_in_their_nodes_pod_cidr_unless_host_network(objects: list[dict]) -> None:
    nodes = {n["metadata"]["name"]: n for n in of_kind(objects, "Node")}
    ips = node_ips(objects)
    host_network = 0
    for pod in of_kind(objects, "Pod"):
        node = nodes[pod["spec"]["nodeName"]]
        ip = pod["status"]["podIP"]
        assert pod["status"]["podIPs"] == [{"ip": ip}]
        assert pod["status"]["hostIP"] == ips[node["metadata"]["name"]]
        if pod["spec"].get("hostNetwork"):
            host_network += 1
            assert ip == ips[node["metadata"]["name"]]
        else:
            assert ipaddress.ip_address(ip) in ipaddress.ip_network(node["spec"]["podCIDR"])
    assert host_network >= len(nodes)
    running = [
        p["status"]["podIP"]
        for p in of_kind(objects, "Pod")
        if p["status"]["phase"] == "Running" and not p["spec"].get("hostNetwork")
    ]
    assert len(running) == len(set(running)), "two running pods share an IP"
    externals = [a for n in nodes.values() for a in n["status"]["addresses"]
                 if a["type"] == "ExternalIP"]  # fmt: skip
    assert len(externals) == 1


def test_owner_references_point_at_existing_objects(objects: list[dict]) -> None:
    by_uid = {o["metadata"]["uid"]: o for o in objects}
    chains = Counter()
    for obj in objects:
        for ref in obj["metadata"].get("ownerReferences", []):
            owner = by_uid[ref["uid"]]
            assert (owner["kind"], owner["metadata"]["name"]) == (ref["kind"], ref["name"])
            assert owner["metadata"]["namespace"] == obj["metadata"]["namespace"]
            chains[(obj["kind"], owner["kind"])] += 1
    assert {("Pod", "ReplicaSet"), ("ReplicaSet", "Deployment"), ("Pod", "StatefulSet"),
            ("Pod", "DaemonSet"), ("Pod", "Job"), ("Job", "CronJob"),
            ("EndpointSlice", "Service")} <= set(chains)  # fmt: skip


def test_helm_releases_decode_with_revisions_and_owned_objects(objects: list[dict]) -> None:
    secrets = [s for s in of_kind(objects, "Secret") if s["type"] == "helm.sh/release.v1"]
    releases: dict[str, list[dict]] = {}
    for secret in secrets:
        release = decode_release(secret)
        assert secret["metadata"]["name"] == (
            f"sh.helm.release.v1.{release['name']}.v{release['version']}"
        )
        assert secret["metadata"]["labels"]["status"] == release["info"]["status"]
        releases.setdefault(release["name"], []).append(release)
    assert len(releases) >= 2
    live = {(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]): o
            for o in objects if "namespace" in o["metadata"]}  # fmt: skip
    for name, revisions in releases.items():
        revisions.sort(key=lambda r: r["version"])
        assert len(revisions) >= 2
        assert [r["version"] for r in revisions] == list(range(1, len(revisions) + 1))
        assert [r["info"]["status"] for r in revisions] == (
            ["superseded"] * (len(revisions) - 1) + ["deployed"]
        )
        latest = revisions[-1]
        assert latest["chart"]["metadata"]["name"] and latest["chart"]["metadata"]["version"]
        docs = [d for d in yaml.safe_load_all(latest["manifest"]) if d]
        assert docs
        for doc in docs:
            ns = doc["metadata"].get("namespace", latest["namespace"])
            obj = live[(doc["kind"], ns, doc["metadata"]["name"])]
            assert obj["metadata"]["annotations"]["meta.helm.sh/release-name"] == name
            assert obj["metadata"]["labels"]["app.kubernetes.io/instance"] == name
    # An upgrade added a component: the first shop revision lacks checkout.
    shop = sorted(releases["shop"], key=lambda r: r["version"])
    assert "name: checkout" not in shop[0]["manifest"]
    assert "name: checkout" in shop[-1]["manifest"]


def test_finished_job_pod_keeps_the_ip_a_later_pod_reuses(objects: list[dict]) -> None:
    pods = [p for p in of_kind(objects, "Pod") if p["metadata"]["name"].startswith("report-")]
    done = [p for p in pods if p["status"]["phase"] == "Succeeded"]
    running = [p for p in pods if p["status"]["phase"] == "Running"]
    assert len(running) == 1 and len(done) >= 2
    reused = [p for p in done if p["status"]["podIP"] == running[0]["status"]["podIP"]]
    assert len(reused) == 1
    finished = reused[0]["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"]
    assert epoch(finished) < epoch(running[0]["status"]["startTime"])


def test_services_cover_headless_loadbalancer_and_api_server(objects: list[dict]) -> None:
    services = {(s["metadata"]["namespace"], s["metadata"]["name"]): s
                for s in of_kind(objects, "Service")}  # fmt: skip
    postgres = services[("data", "postgres")]
    assert postgres["spec"]["clusterIP"] == "None"
    assert any(s["spec"]["serviceName"] == "postgres" for s in of_kind(objects, "StatefulSet"))
    frontend = services[("shop", "frontend")]
    assert frontend["spec"]["type"] == "LoadBalancer"
    assert frontend["status"]["loadBalancer"]["ingress"][0]["ip"] == demo.LOAD_BALANCER_IP
    assert services[("default", "kubernetes")]["spec"]["clusterIP"] == "10.96.0.1"
    endpoints = of_kind(objects, "Endpoints")[0]
    assert endpoints["subsets"][0]["addresses"][0]["ip"] == demo.API_SERVER_IP
    assert len(of_kind(objects, "NetworkPolicy")) >= 2
    service_net = ipaddress.ip_network(demo.SERVICE_CIDR)
    for svc in services.values():
        if svc["spec"]["clusterIP"] != "None":
            assert ipaddress.ip_address(svc["spec"]["clusterIP"]) in service_net


def test_endpoint_slices_list_the_running_pods_a_service_selects(objects: list[dict]) -> None:
    pods = of_kind(objects, "Pod")
    for svc in of_kind(objects, "Service"):
        selector = svc["spec"].get("selector")
        if not selector:
            continue
        ns = svc["metadata"]["namespace"]
        expected = sorted(
            p["status"]["podIP"] for p in pods
            if p["metadata"]["namespace"] == ns and p["status"]["phase"] == "Running"
            and all(p["metadata"]["labels"].get(k) == v for k, v in selector.items())
        )  # fmt: skip
        slices = [
            s
            for s in of_kind(objects, "EndpointSlice")
            if s["metadata"]["labels"]["kubernetes.io/service-name"] == svc["metadata"]["name"]
            and s["metadata"]["namespace"] == ns
        ]
        assert len(slices) == 1
        listed = sorted(a for e in slices[0]["endpoints"] for a in e["addresses"])
        assert listed == expected and expected, svc["metadata"]["name"]


def test_generation_is_deterministic_for_a_seed(objects: list[dict]) -> None:
    assert demo_objects(NOW) == objects
    other = demo_objects(NOW, seed=1)
    assert {p["metadata"]["name"] for p in of_kind(other, "Pod")} != {
        p["metadata"]["name"] for p in of_kind(objects, "Pod")
    }


# -- the simulated collector -----------------------------------------------------------


def known_addresses(objects: list[dict]) -> set[str]:
    known = set(node_ips(objects).values())
    known |= {p["status"]["podIP"] for p in of_kind(objects, "Pod")}
    for svc in of_kind(objects, "Service"):
        known |= {ip for ip in svc["spec"].get("clusterIPs", []) if ip != "None"}
        known |= {i["ip"] for i in svc["status"].get("loadBalancer", {}).get("ingress", [])}
    return known | {demo.API_SERVER_IP, *demo.EXTERNAL_ADDRESSES}


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.load(answer)


def test_agents_serve_pages_with_increasing_seq(objects: list[dict]) -> None:
    collector = DemoCollector(objects, now_fn=lambda: NOW, history_s=600)
    collector.start()
    try:
        urls = collector.urls()
        assert sorted(urls) == ["worker-1", "worker-2", "worker-3"]
        for node, url in urls.items():
            status = get_json(f"{url}/v1/status")
            assert status["node"] == node and status["conntrack"] and status["sock_diag"]
            seqs: list[int] = []
            after, pages = 0, 0
            while True:
                page = get_json(f"{url}/v1/records?after={after}&limit=97")
                assert page["node"] == node
                assert page["generation"] == status["generation"]
                if not page["records"]:
                    break
                assert len(page["records"]) <= 97
                seqs += [r["seq"] for r in page["records"]]
                assert {r["generation"] for r in page["records"]} == {status["generation"]}
                after, pages = page["records"][-1]["seq"], pages + 1
            assert pages > 2
            assert seqs == list(range(page["oldest_seq"], page["last_seq"] + 1))
            assert status["buffer_used"] == len(seqs)
        generations = {get_json(f"{u}/v1/status")["generation"] for u in urls.values()}
        assert len(generations) == 3
    finally:
        collector.stop()


def test_agent_rejects_bad_queries_with_json_errors(objects: list[dict]) -> None:
    with DemoCollector(objects, history_s=0) as collector:
        url = collector.urls()["worker-1"]
        for path, code in (("/v1/records?after=x", 400), ("/v1/records?limit=0", 400),
                           ("/v2/records", 404)):  # fmt: skip
            with pytest.raises(urllib.error.HTTPError) as caught:
                get_json(url + path)
            assert caught.value.code == code
            assert "error" in json.loads(caught.value.read())


def test_records_carry_the_contract_fields_and_demo_addresses(objects: list[dict]) -> None:
    collector = DemoCollector(objects, now_fn=lambda: NOW, history_s=1800)
    collector.backfill(NOW)
    known = known_addresses(objects)
    records = [r for n in collector.nodes for r in collector.page(n, 0, 5000)["records"]]
    assert len(records) > 1000
    for record in records:
        assert set(record) == CONTRACT_FIELDS | PEER_FIELDS
        for field in ("src_ip", "dst_ip", "nat_dst_ip", "nat_src_ip"):
            assert record[field] is None or record[field] in known, (field, record)
        assert record["conn_id"] == (
            f"{record['proto']}:{record['src_ip']}:{record['src_port']}"
            f">{record['dst_ip']}:{record['dst_port']}"
        )
        assert NOW - 1800 <= record["first_seen"] <= record["last_seen"] <= NOW
        assert record["observer"] in ("client", "server", "conntrack")

    # The stories the demo tells, each seen at least once.
    pods = {p["metadata"]["name"]: p for p in of_kind(objects, "Pod")}
    coredns = {p["status"]["podIP"] for n, p in pods.items() if n.startswith("coredns")}
    dns = [r for r in records if r["dst_ip"] == "10.96.0.10"]
    assert dns and all(r["proto"] == "udp" and r["nat_dst_ip"] in coredns for r in dns)
    cart = {p["status"]["podIP"] for n, p in pods.items() if n.startswith("cart-")}
    assert {r["nat_dst_ip"] for r in records if r["dst_ip"] == "10.96.12.41"} == cart
    # Scrapes of node IPs reach the hostNetwork exporter: its node reports it as
    # the server, or as the peer when Prometheus runs on that node too.
    scrapes = [r for r in records if r["dst_port"] == 9100]
    seen_by_exporter = {(r["node"], r["dst_ip"]) for r in scrapes
                        if "node_exporter" in (r["process"], r["peer_process"])}  # fmt: skip
    assert seen_by_exporter == set(node_ips(objects).items())
    assert {r["process"] for r in scrapes if r["observer"] == "server"} == {"node_exporter"}
    egress = [r for r in records if r["dst_ip"] in demo.EXTERNAL_ADDRESSES]
    assert {r["dst_ip"] for r in egress} == {demo.EXTERNAL_PAYMENT_GATEWAY, demo.EXTERNAL_CDN,
                                             demo.EXTERNAL_DNS}  # fmt: skip
    assert all(r["nat_src_ip"] in node_ips(objects).values() for r in egress)
    frontend = {p["status"]["podIP"]: p for n, p in pods.items() if n.startswith("frontend-")}
    visits = [r for r in records if r["src_ip"] == demo.EXTERNAL_VISITOR]
    assert visits
    for visit in visits:
        assert (visit["dst_ip"], visit["dst_port"]) == (demo.LOAD_BALANCER_IP, 80)
        assert visit["observer"] == "server" and visit["process"] == "node"
        assert visit["node"] == frontend[visit["nat_dst_ip"]]["spec"]["nodeName"]
    api = [r for r in records if r["dst_ip"] == "10.96.0.1"]
    assert api and {r["nat_dst_ip"] for r in api} == {demo.API_SERVER_IP}


def test_report_runs_talk_to_postgres_only_while_running(objects: list[dict]) -> None:
    collector = DemoCollector(objects, now_fn=lambda: NOW, history_s=1800)
    collector.backfill(NOW)
    postgres0 = next(p for p in of_kind(objects, "Pod") if p["metadata"]["name"] == "postgres-0")
    records = [
        r
        for n in collector.nodes
        for r in collector.page(n, 0, 5000)["records"]
        if r["dst_ip"] == postgres0["status"]["podIP"] and r["observer"] == "client"
    ]
    assert records
    windows = []
    for pod in of_kind(objects, "Pod"):
        if pod["metadata"]["name"].startswith("report-"):
            start = epoch(pod["status"]["startTime"])
            state = pod["status"]["containerStatuses"][0]["state"]
            end = epoch(state["terminated"]["finishedAt"]) if "terminated" in state else NOW + 1
            windows.append((pod["status"]["podIP"], start, end))
    for record in records:
        assert any(ip == record["src_ip"] and start <= record["first_seen"] and
                   record["last_seen"] <= end for ip, start, end in windows), record  # fmt: skip


def test_connections_grow_and_new_ones_appear_over_time(objects: list[dict]) -> None:
    collector = DemoCollector(objects, history_s=0)
    for i in range(40):
        collector.step(NOW + i)
    records = collector.page("worker-1", 0, 5000)["records"]
    by_conn: dict[str, list[dict]] = {}
    for record in records:
        by_conn.setdefault(record["conn_id"] + record["observer"], []).append(record)
    repeated = [rs for rs in by_conn.values() if len(rs) >= 5]
    assert repeated
    for rs in repeated:
        assert [r["bytes_received"] for r in rs] == sorted(r["bytes_received"] for r in rs)
        assert rs[-1]["last_seen"] > rs[0]["last_seen"]
        assert rs[-1]["bytes_sent"] > rs[0]["bytes_sent"]
    early = {r["conn_id"] for r in records if r["last_seen"] < NOW + 10}
    late = {r["conn_id"] for r in records if r["first_seen"] > NOW + 30}
    assert late - early


def test_same_seed_and_steps_give_the_same_records(objects: list[dict]) -> None:
    def run(seed: int) -> list[dict]:
        collector = DemoCollector(objects, now_fn=lambda: NOW, seed=seed, history_s=300)
        collector.backfill(NOW)
        return [r for n in collector.nodes for r in collector.page(n, 0, 5000)["records"]]

    first = run(3)
    assert first == run(3)
    assert [r["conn_id"] for r in first] != [r["conn_id"] for r in run(4)]


def test_a_full_buffer_drops_the_oldest_records_and_drops_are_counted(
    objects: list[dict],
) -> None:
    collector = DemoCollector(objects, history_s=0, buffer_capacity=100)
    for i in range(600):
        collector.step(NOW + i)
    page = collector.page("worker-2", 0, 5000)
    assert len(page["records"]) == 100
    assert page["oldest_seq"] == page["last_seq"] - 99 == page["records"][0]["seq"]
    statuses = [collector.status(n) for n in collector.nodes]
    # Evicted records and (simulated) lost conntrack events are both counted.
    assert all(s["dropped"] == s["last_seq"] - 100 + s["conntrack_overruns"] for s in statuses)
    assert sum(s["conntrack_overruns"] for s in statuses) > 0


def test_traffic_follows_the_live_changes(objects: list[dict]) -> None:
    clock = [NOW]
    collector = DemoCollector(objects, now_fn=lambda: clock[0], history_s=0)
    changes = DemoChanges(objects, [collector.apply], now_fn=lambda: clock[0])
    changes.step()  # a report run
    clock[0] += 10
    scaled = changes.step()  # cart scales up
    new_ip = scaled.rsplit(" ", 1)[1]
    for _ in range(60):
        clock[0] += 1
        collector.step()
    records = [r for n in collector.nodes for r in collector.page(n, 0, 5000)["records"]]
    assert new_ip in {r["nat_dst_ip"] for r in records if r["dst_ip"] == "10.96.12.41"}

    changes.step()  # another report run
    changes.step()  # cart scales down: nothing reaches the deleted pod afterwards
    gone_at = clock[0]
    for _ in range(30):
        clock[0] += 1
        collector.step()
    later = [r for n in collector.nodes for r in collector.page(n, 0, 5000)["records"]
             if r["last_seen"] > gone_at]  # fmt: skip
    assert later
    assert new_ip not in {r["nat_dst_ip"] for r in later}
    assert new_ip not in {r["dst_ip"] for r in later}


def test_stop_leaves_no_thread_running(objects: list[dict]) -> None:
    before = set(threading.enumerate())
    collector = DemoCollector(objects, rate=20, history_s=60)
    collector.start()
    time.sleep(0.3)
    last = collector.page("worker-1")["last_seq"]
    time.sleep(0.3)
    assert collector.page("worker-1")["last_seq"] > last
    collector.stop()
    assert set(threading.enumerate()) == before
