"""NetSight's main job on real traffic, every part a separate program as a user runs it.

A node built from network namespaces (pods on veths, kube-proxy-like DNAT
for a ClusterIP with conntrack accounting, masquerade to an "internet"
namespace) carries real TCP and UDP traffic. `netsight agent` watches it,
`netsight sim serve` serves matching Kubernetes objects and proxies the
collector pod of the node to that agent, `netsight collect` deploys,
pulls and stores, and `netsight connections --json` must name every
connection with the pods, workloads and Service it really involved, with
the bytes the peers really sent, once each.

Needs root (it builds namespaces); skipped with the reason otherwise. The
agent sees every namespace on the machine, so rows that involve nobody of
this cluster (the host's own loopback traffic, another test's lab) are left
out; every row that does involve it must be one of the expected rows.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from e2e_cluster import (
    PodSpec,
    Program,
    cluster_objects,
    netsight_command,
    subprocess_env,
)
from netlab import LabAddresses, NetLab, lab_available

_REASON = lab_available()
pytestmark = [pytest.mark.netns, pytest.mark.skipif(_REASON is not None, reason=_REASON or "")]

NODE = "lab-node-1"
NAMESPACES = ("shop", "kube-system")
PODS = [
    PodSpec("web-client", "shop", "Deployment", "storefront"),
    PodSpec("web", "shop", "Deployment", "web", ((8080, "TCP"),)),
    PodSpec("report", "shop", "Job", "report-1"),
    PodSpec("probe", "shop", "StatefulSet", "probe"),
    PodSpec("dns", "kube-system", "Deployment", "coredns", ((53, "UDP"),)),
    PodSpec("egress", "shop", "Deployment", "mailer"),
]
SERVICE_PORT, WEB_PORT, DNS_PORT, EXTERNAL_PORT = 80, 8080, 53, 80
# Payload each way; different per exchange, so a byte count shows where it came from.
WEB_REQUEST, WEB_RESPONSE = 3000, 20000
DNS_QUERY, DNS_ANSWER = 64, 512
EXT_REQUEST, EXT_RESPONSE = 200, 900
# Long-lived clients keep their connection open past the end of the test.
HOLD_S = 50.0
# Polls every 2 s see the long-lived connections; the short one lasts a few ms.
POLL_INTERVAL_S = 2.0
COLLECT_S = 8.0
# A TCP connection seen by conntrack alone counts IP packets: at most 60 bytes
# of IP and TCP header on each. Either direction carries at most one packet per
# 1000 bytes of its own payload (segments on a 1500-byte MTU veth are larger),
# one ACK per 1000 bytes of the other's, and six for handshake and close.
TCP_HEADER_MAX = 60


def tcp_ip_bytes_max(payload: int, other: int) -> int:
    return payload + TCP_HEADER_MAX * (-(-payload // 1000) + -(-other // 1000) + 6)


def agent_get(url: str, path: str) -> Any:
    with urllib.request.urlopen(url + path, timeout=10) as response:
        return json.load(response)


def wait_until(predicate: Any, timeout: float, what: str, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(interval)


def connections(db: Path, level: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        netsight_command("connections", "--db", str(db), "--level", level, "--json"),
        capture_output=True,
        text=True,
        timeout=60,
        env=subprocess_env(),
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def end_key(end: dict[str, Any] | None) -> tuple[str, str | None, str] | None:
    return None if end is None else (end["kind"], end["namespace"], end["name"])


def involves_us(row: dict[str, Any], external_ip: str) -> bool:
    """Whether a row names anything of this cluster (or this lab's internet address)."""
    for end in (row["src"], row["dst"], row.get("backend")):
        if end is None:
            continue
        if end["kind"] in ("Node", "UnknownPod", "UnknownService"):
            return True
        if end["namespace"] in NAMESPACES or end["name"] == external_ip:
            return True
    return False


def our_netns(prefix: str) -> list[str]:
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    names = [line.split()[0] for line in listing.stdout.splitlines() if line.strip()]
    return [name for name in names if name.startswith(f"{prefix}-")]


def agent_records(url: str) -> dict[str, dict[str, Any]]:
    """The newest record of each connection the agent holds."""
    latest: dict[str, dict[str, Any]] = {}
    after = 0
    while True:
        page = agent_get(url, f"/v1/records?after={after}&limit=5000")
        for record in page["records"]:
            latest[record["conn_id"]] = record
        if not page["records"]:
            return latest
        after = page["records"][-1]["seq"]


@dataclass
class Run:
    """What one collection over the lab produced, read after everything was torn down."""

    started: float
    finished: float
    addresses: LabAddresses
    pod_names: dict[str, str]  # lab name -> Kubernetes pod name
    pod_ips: dict[str, str]
    polls_during_short: int  # agent polls that ran while the short connection lived
    collect_output: list[str]
    agent_status: dict[str, Any]
    records: dict[str, dict[str, Any]]  # the agent's newest record per connection
    rows: dict[str, list[dict[str, Any]]]  # level -> rows of `netsight connections --json`
    leftover_netns: list[str]

    def ours(self, level: str) -> list[dict[str, Any]]:
        return [r for r in self.rows[level] if involves_us(r, self.addresses.external_ip)]

    def pod(self, lab_name: str) -> tuple[str, str, str]:
        spec = next(p for p in PODS if p.lab_name == lab_name)
        return ("Pod", spec.namespace, self.pod_names[lab_name])


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """Build the lab, run agent, simulated API server and collect, query, tear down."""
    tmp_path = tmp_path_factory.mktemp("e2e")
    started = time.time()
    lab = NetLab([spec.lab_name for spec in PODS])
    programs: list[Program] = []
    try:
        try:
            lab.__enter__()
        except (RuntimeError, subprocess.CalledProcessError) as error:
            pytest.skip(f"the network lab cannot be built here: {error}")
        addr = lab.addresses
        cluster_ip = addr.cluster_ip(0)
        lab.add_service(cluster_ip, SERVICE_PORT, "tcp", [(lab.pod_ips["web"], WEB_PORT)])
        lab.server("web", "tcp", WEB_PORT, "web-server", WEB_REQUEST, WEB_RESPONSE)
        lab.server("dns", "udp", DNS_PORT, "dns-server", 0, DNS_ANSWER)
        lab.server("internet", "tcp", EXTERNAL_PORT, "ext-server", EXT_REQUEST, EXT_RESPONSE)
        cluster = cluster_objects(
            lab, NODE, PODS, [("shop", "web", "web", SERVICE_PORT, WEB_PORT, "tcp")]
        )
        objects = cluster.write(tmp_path / "cluster.json")

        # The agent first: everything after this is seen, also what lasts less than a poll.
        agent = Program(
            "agent",
            netsight_command(
                "agent",
                "--listen",
                "127.0.0.1:0",
                "--node",
                NODE,
                "--host-netns",
                lab.node_netns_path,
                "--poll-interval",
                str(POLL_INTERVAL_S),
            ),
            tmp_path,
        )
        programs.append(agent)
        agent_url = agent.wait_for_line("ready ").split()[1]
        kubeconfig = tmp_path / "kubeconfig"
        sim = Program(
            "sim",
            netsight_command(
                "sim",
                "serve",
                "--objects",
                str(objects),
                "--kubeconfig",
                str(kubeconfig),
                "--agent",
                f"{NODE}={agent_url}",
            ),
            tmp_path,
        )
        programs.append(sim)

        def polls() -> int:
            return int(agent_get(agent_url, "/v1/status")["polls"])

        wait_until(lambda: polls() >= 1, 15, "the agent's first poll")
        assert agent_get(agent_url, "/v1/status")["conntrack"] is True

        # A connection that opens and closes between two polls: only conntrack sees it.
        before = polls()
        wait_until(lambda: polls() > before, 2 * POLL_INTERVAL_S + 5, "the next poll")
        poll_at_start = polls()
        report, _ = lab.client(
            "report", "tcp", cluster_ip, SERVICE_PORT, "report", WEB_REQUEST, WEB_RESPONSE, 0
        )
        assert report.wait() == 0
        polls_during_short = polls() - poll_at_start

        # One that calls the ClusterIP and stays connected.
        lab.client(
            "web-client",
            "tcp",
            cluster_ip,
            SERVICE_PORT,
            "storefront",
            WEB_REQUEST,
            WEB_RESPONSE,
            HOLD_S,
        )

        # Collect, and make the rest of the traffic while it runs.
        sim.wait_for_line("ready ")
        db = tmp_path / "lab.duckdb"
        collect = Program(
            "collect",
            netsight_command(
                "collect",
                "--kubeconfig",
                str(kubeconfig),
                "--context",
                "sim",
                "--db",
                str(db),
                "--duration",
                str(COLLECT_S),
            ),
            tmp_path,
        )
        programs.append(collect)
        collect.wait_for_line("1/1 nodes ready")
        lab.client(
            "probe", "udp", lab.pod_ips["dns"], DNS_PORT, "probe", DNS_QUERY, DNS_ANSWER, HOLD_S
        )
        lab.client(
            "egress",
            "tcp",
            addr.external_ip,
            EXTERNAL_PORT,
            "mailer",
            EXT_REQUEST,
            EXT_RESPONSE,
            HOLD_S,
        )
        after_traffic = polls()
        wait_until(
            lambda: polls() >= after_traffic + 2,
            3 * POLL_INTERVAL_S + 5,
            "two polls after the last traffic",
        )
        assert collect.process.poll() is None, collect.describe("ended before the traffic polls")
        assert collect.wait(timeout=COLLECT_S + 30) == 0, collect.describe("failed")
        status = agent_get(agent_url, "/v1/status")
        records = agent_records(agent_url)

        rows = {level: connections(db, level) for level in ("pod", "service", "workload")}
    finally:
        for program in reversed(programs):
            program.stop()
        lab.close()
    yield Run(
        started=started,
        finished=time.time(),
        addresses=addr,
        pod_names=cluster.pod_names,
        pod_ips=dict(lab.pod_ips),
        polls_during_short=polls_during_short,
        collect_output=collect.output,
        agent_status=status,
        records=records,
        rows=rows,
        leftover_netns=our_netns(lab.prefix),
    )


def row_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (end_key(row["src"]), end_key(row["dst"]), row["dst_port"], row["proto"])


def pod_row(
    run: Run, client: str, server: tuple[str, str | None, str], port: int, proto: str = "tcp"
) -> dict[str, Any]:
    matches = [r for r in run.ours("pod") if row_key(r) == (run.pod(client), server, port, proto)]
    assert len(matches) == 1, json.dumps(run.ours("pod"), indent=1)
    return matches[0]


def external(run: Run) -> tuple[str, None, str]:
    return ("External", None, run.addresses.external_ip)


# -- the whole run


def test_collect_pulls_everything_and_leaves_no_namespace_behind(run: Run) -> None:
    assert any(line.startswith("Collected ") for line in run.collect_output), run.collect_output
    assert "Removed the collector this run deployed." in run.collect_output
    assert run.agent_status["dropped"] == 0
    assert run.leftover_netns == []


def test_every_row_of_this_cluster_is_one_expected_connection(run: Run) -> None:
    """Nothing attributed to the wrong pod, port or protocol; nothing counted twice."""
    web, dns = run.pod("web"), run.pod("dns")
    ours = run.ours("pod")
    assert sorted(map(row_key, ours)) == sorted(
        [
            (run.pod("web-client"), web, WEB_PORT, "tcp"),
            (run.pod("report"), web, WEB_PORT, "tcp"),
            (run.pod("probe"), dns, DNS_PORT, "udp"),
            (run.pod("egress"), external(run), EXTERNAL_PORT, "tcp"),
        ]
    ), json.dumps(ours, indent=1)
    for row in ours:
        assert row["connections"] == 1, row
        assert row["nodes"] == [NODE], row
        first, last = (
            datetime.fromisoformat(row[k].replace("Z", "+00:00")).timestamp()
            for k in ("first_seen", "last_seen")
        )
        assert run.started - 1 <= first <= last <= run.finished, row


# -- each kind of traffic


def test_clusterip_call_seen_on_both_ends_is_one_row_with_the_bytes_sent(run: Run) -> None:
    # The agent saw the client's and the server's socket (and conntrack) ...
    conn_id = next(
        c
        for c, r in run.records.items()
        if r["src_ip"] == run.pod_ips["web-client"] and r["proto"] == "tcp"
    )
    record = run.records[conn_id]
    assert (record["process"], record["peer_process"]) == ("storefront", "web-server"), record
    assert (record["nat_dst_ip"], record["nat_dst_port"]) == (run.pod_ips["web"], WEB_PORT)

    # ... and the store made one connection of it, from the client to the backend pod.
    row = pod_row(run, "web-client", run.pod("web"), WEB_PORT)
    assert (row["bytes_sent"], row["bytes_received"]) == (WEB_REQUEST, WEB_RESPONSE)
    assert "storefront" in row["processes"], row
    assert set(row["processes"]) <= {"storefront", "web-server"}, row
    assert not [r for r in run.ours("pod") if end_key(r["src"]) == run.pod("web")]


def test_udp_exchange_with_the_dns_pod(run: Run) -> None:
    row = pod_row(run, "probe", run.pod("dns"), DNS_PORT, "udp")
    assert (row["bytes_sent"], row["bytes_received"]) == (DNS_QUERY, DNS_ANSWER)
    assert "probe" in row["processes"] and set(row["processes"]) <= {"probe", "dns-server"}
    # The agent named the server end from the socket bound where the query went.
    record = next(r for r in run.records.values() if r["src_ip"] == run.pod_ips["probe"])
    assert (record["process"], record["peer_process"]) == ("probe", "dns-server"), record


def test_connection_shorter_than_a_poll_is_seen_through_conntrack(run: Run) -> None:
    assert run.polls_during_short == 0, "a poll ran while the short connection lived"
    row = pod_row(run, "report", run.pod("web"), WEB_PORT)
    assert row["connections"] == 1
    assert set(row["processes"]) <= {"report", "web-server"}, row
    record = next(r for r in run.records.values() if r["src_ip"] == run.pod_ips["report"])
    assert (record["observer"], record["source"]) == ("conntrack", "conntrack"), record


def test_connection_shorter_than_a_poll_has_its_bytes(run: Run) -> None:
    row = pod_row(run, "report", run.pod("web"), WEB_PORT)
    # Conntrack counts IP packets: the payload plus the headers of a few packets.
    assert row["bytes_sent"] is not None and row["bytes_received"] is not None, row
    assert WEB_REQUEST <= row["bytes_sent"] <= tcp_ip_bytes_max(WEB_REQUEST, WEB_RESPONSE), row
    assert WEB_RESPONSE <= row["bytes_received"] <= tcp_ip_bytes_max(WEB_RESPONSE, WEB_REQUEST)


def test_connection_leaving_the_cluster_is_external_and_tagged(run: Run) -> None:
    row = pod_row(run, "egress", external(run), EXTERNAL_PORT)
    assert row["dst"]["tag"] == "documentation", row
    assert (row["bytes_sent"], row["bytes_received"]) == (EXT_REQUEST, EXT_RESPONSE)
    assert "mailer" in row["processes"] and set(row["processes"]) <= {"mailer", "ext-server"}
    # The internet's end saw the node's address (masquerade): still the same connection.
    record = next(r for r in run.records.values() if r["src_ip"] == run.pod_ips["egress"])
    assert record["nat_src_ip"] == run.addresses.node_ip, record
    assert not [r for r in run.ours("pod") if r["src"]["kind"] == "Node"]


# -- other levels


def test_service_level_names_the_service_and_carries_the_backend(run: Run) -> None:
    ours = run.ours("service")
    service, web = ("Service", "shop", "web"), run.pod("web")
    seen = {
        row_key(r) + (end_key(r["backend"]),): (r["connections"], r["via_service"]) for r in ours
    }
    assert len(seen) == len(ours), json.dumps(ours, indent=1)
    assert seen == {
        (run.pod("web-client"), service, SERVICE_PORT, "tcp", web): (1, "shop/web"),
        (run.pod("report"), service, SERVICE_PORT, "tcp", web): (1, "shop/web"),
        (run.pod("probe"), run.pod("dns"), DNS_PORT, "udp", None): (1, None),
        (run.pod("egress"), external(run), EXTERNAL_PORT, "tcp", None): (1, None),
    }, json.dumps(ours, indent=1)
    # The same bytes as the pod-level rows of the same connections.
    for row in ours:
        pod_rows = [r for r in run.ours("pod") if end_key(r["src"]) == end_key(row["src"])]
        assert [(r["bytes_sent"], r["bytes_received"]) for r in pod_rows] == [
            (row["bytes_sent"], row["bytes_received"])
        ]


def test_workload_level_names_what_owns_the_pods(run: Run) -> None:
    ours = run.ours("workload")
    seen = {row_key(r): r["connections"] for r in ours}
    assert len(seen) == len(ours), json.dumps(ours, indent=1)
    web = ("Deployment", "shop", "web")
    assert seen == {
        (("Deployment", "shop", "storefront"), web, WEB_PORT, "tcp"): 1,
        (("Job", "shop", "report-1"), web, WEB_PORT, "tcp"): 1,
        (
            ("StatefulSet", "shop", "probe"),
            ("Deployment", "kube-system", "coredns"),
            DNS_PORT,
            "udp",
        ): 1,
        (
            ("Deployment", "shop", "mailer"),
            ("External", None, "documentation"),
            EXTERNAL_PORT,
            "tcp",
        ): 1,
    }, json.dumps(ours, indent=1)
