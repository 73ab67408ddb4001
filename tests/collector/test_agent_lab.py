"""The real agent against real TCP and UDP traffic between network namespaces.

Needs root (it builds namespaces with ip/nft); skipped with the reason
otherwise. The agent sees every namespace on the machine, so each test picks
its connections out by the client's port.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from agentproc import AgentProcess
from netlab import NetLab, lab_available

_REASON = lab_available()
pytestmark = [pytest.mark.netns, pytest.mark.skipif(_REASON is not None, reason=_REASON or "")]

REQUEST, RESPONSE = 1000, 5000
FAST_POLL = "0.3"
# How a pod's socket gets out of the agent's sight: no process left in the pod, or only
# UDP sockets open there (the agent reads no TCP table then); with and without conntrack.
CLOSER_CASES = ["no-process-without-ct", "udp-only-without-ct", "no-process-with-ct"]


@pytest.fixture(scope="module")
def lab() -> Iterator[NetLab]:
    pods = ["client", "backend", "dns", "quick", "idler"]
    pods += [f"closer-{case}" for case in CLOSER_CASES]
    with NetLab(pods) as lab:
        lab.add_service(cluster_ip(lab), 80, "tcp", [(lab.pod_ips["backend"], 8080)])
        lab.add_service(dns_cluster_ip(lab), 53, "udp", [(lab.pod_ips["dns"], 53)])
        lab.server("backend", "tcp", 8080, "web-server", REQUEST, RESPONSE)
        lab.server("dns", "udp", 53, "dns-server", 0, 300)
        lab.server("internet", "tcp", 80, "ext-server", 10, 20)
        yield lab


@pytest.fixture
def start_agent() -> Iterator:
    started: list[AgentProcess] = []

    def start(*args: str, python: str = sys.executable) -> AgentProcess:
        agent = AgentProcess(*args, python=python)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.kill()


def cluster_ip(lab: NetLab) -> str:
    """The Service's ClusterIP (it DNATs port 80 to the backend pod's 8080)."""
    return lab.addresses.cluster_ip(0)


def dns_cluster_ip(lab: NetLab) -> str:
    """A Service's ClusterIP that DNATs UDP port 53 to the dns pod."""
    return lab.addresses.cluster_ip(1)


def from_client(lab: NetLab, pod: str, port: int) -> Callable[[dict[str, Any]], bool]:
    """Whether a record is the connection the client in pod opened from port."""
    end = (lab.pod_ips[pod], port)
    return lambda record: (record["src_ip"], record["src_port"]) == end


def netns_inode(name: str) -> int:
    return os.stat(f"/run/netns/{name}").st_ino


def pythons() -> list[str]:
    """This interpreter plus any other 3.11/3.12 on the machine (the agent must run on both)."""
    found = [sys.executable]
    candidates = [shutil.which(f"python3.{minor}") for minor in (11, 12)]
    candidates += glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[12].*/bin/python3"))
    seen = {sys.version_info[:2]}
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[1])"],
                               capture_output=True, text=True)  # fmt: skip
        if probe.returncode == 0 and (3, int(probe.stdout)) not in seen:
            seen.add((3, int(probe.stdout)))
            found.append(candidate)
    return found


@pytest.mark.parametrize("python", pythons(), ids=lambda p: os.path.basename(os.path.dirname(
    os.path.dirname(p))) or p)  # fmt: skip
def test_clusterip_call_is_one_record_with_both_ends_and_the_backend(
    lab: NetLab, start_agent, python: str
) -> None:
    agent = start_agent("--host-netns", lab.node_netns_path, "--poll-interval", FAST_POLL,
                        python=python)  # fmt: skip
    client, port = lab.client(
        "client", "tcp", cluster_ip(lab), 80, "web-client", REQUEST, RESPONSE, 3
    )
    mine = from_client(lab, "client", port)

    record = agent.wait_for(lambda r: mine(r) and r["peer_process"] == "web-server")

    assert record["conn_id"] == f"tcp:{lab.pod_ips['client']}:{port}>{cluster_ip(lab)}:80"
    assert (record["proto"], record["family"]) == ("tcp", 4)
    assert (record["dst_ip"], record["dst_port"]) == (cluster_ip(lab), 80)
    assert (record["nat_dst_ip"], record["nat_dst_port"]) == (lab.pod_ips["backend"], 8080)
    assert record["nat_src_ip"] is None
    assert (record["observer"], record["source"], record["state"]) == (
        "client", "sockdiag", "ESTABLISHED")  # fmt: skip
    assert (record["bytes_sent"], record["bytes_received"]) == (REQUEST, RESPONSE)
    assert (record["process"], record["pid"]) == ("web-client", client.pid)
    assert record["netns"] == netns_inode(lab.pod_ns("client"))
    assert record["peer_netns"] == netns_inode(lab.pod_ns("backend"))
    assert record["node"] == "lab-node" and record["generation"] == agent.generation
    assert record["first_seen"] <= record["last_seen"]
    # The server's socket and conntrack merged into it: no second connection.
    client_end = (lab.pod_ips["client"], port)
    others = [r for r in agent.latest().values()
              if mine(r) or (r["dst_ip"], r["dst_port"]) == client_end]  # fmt: skip
    assert [r["conn_id"] for r in others] == [record["conn_id"]]

    client.wait()
    closed = agent.wait_for(lambda r: mine(r) and r["state"] in (
        "TIME_WAIT", "FIN_WAIT2", "CLOSED", "CLOSE_WAIT"))  # fmt: skip
    assert closed["bytes_sent"] == REQUEST
    assert agent.stop() == 0


def test_udp_exchange_gets_bytes_from_conntrack(lab: NetLab, start_agent) -> None:
    agent = start_agent("--host-netns", lab.node_netns_path, "--poll-interval", FAST_POLL)
    dns_ip = lab.pod_ips["dns"]
    client, port = lab.client("client", "udp", dns_ip, 53, "dns-client", 40, 300, 2)
    mine = from_client(lab, "client", port)

    record = agent.wait_for(
        lambda r: mine(r) and r["proto"] == "udp" and r["bytes_sent"] is not None
    )

    assert record["conn_id"] == f"udp:{lab.pod_ips['client']}:{port}>{dns_ip}:53"
    assert (record["observer"], record["process"], record["pid"]) == (
        "client", "dns-client", client.pid)  # fmt: skip
    assert (record["bytes_sent"], record["bytes_received"]) == (40, 300)
    assert agent.stop() == 0


def test_udp_exchange_names_the_server_process_bound_where_it_went(
    lab: NetLab, start_agent
) -> None:
    agent = start_agent("--host-netns", lab.node_netns_path, "--poll-interval", FAST_POLL)
    dns_ip = lab.pod_ips["dns"]
    # Straight to the pod, and through a ClusterIP that DNATs to it.
    _client, port = lab.client("client", "udp", dns_ip, 53, "dns-client", 40, 300, 2)
    mine = from_client(lab, "client", port)
    _client, via_port = lab.client("client", "udp", dns_cluster_ip(lab), 53, "resolver", 40, 300, 2)
    via_service = from_client(lab, "client", via_port)

    def named(record: dict[str, Any]) -> bool:
        # Conntrack may report it, and the client's process be named, a poll later.
        return record["observer"] == "client" and None not in (
            record["process"],
            record["peer_process"],
        )

    direct = agent.wait_for(lambda r: mine(r) and named(r))
    natted = agent.wait_for(lambda r: via_service(r) and named(r))

    dns_server = next(peer for peer in lab.peers if peer.name == "dns-server")
    for record in (direct, natted):
        assert (record["peer_process"], record["peer_pid"]) == ("dns-server", dns_server.pid)
        assert record["peer_netns"] == netns_inode(lab.pod_ns("dns"))
    assert (direct["process"], natted["process"]) == ("dns-client", "resolver")
    assert (natted["nat_dst_ip"], natted["nat_dst_port"]) == (dns_ip, 53)
    assert agent.stop() == 0


def test_connection_shorter_than_a_poll_is_seen_through_conntrack_with_its_bytes(
    lab: NetLab, start_agent
) -> None:
    # Its own pod: after the client exits, only its TIME_WAIT socket is left
    # there, so no socket of this connection ever gives bytes.
    agent = start_agent("--host-netns", lab.node_netns_path, "--poll-interval", "60")
    agent.wait_until(lambda: agent.status()["polls"] >= 1)

    client, port = lab.client("quick", "tcp", cluster_ip(lab), 80, "quick-client", REQUEST,
                              RESPONSE, 0)  # fmt: skip
    mine = from_client(lab, "quick", port)
    client.wait()

    record = agent.wait_for(lambda r: mine(r) and r["bytes_sent"] is not None,
                            timeout=5)  # fmt: skip
    assert agent.status()["polls"] == 1  # it came with the conntrack events, not a poll
    assert (record["observer"], record["source"]) == ("conntrack", "conntrack")
    assert (record["nat_dst_ip"], record["nat_dst_port"]) == (lab.pod_ips["backend"], 8080)
    assert record["state"] in ("TIME_WAIT", "CLOSE"), record
    # IP-level: the payload plus 20-60 bytes of headers per packet.
    assert REQUEST + 20 * 3 <= record["bytes_sent"] <= REQUEST + 60 * 12, record
    assert RESPONSE + 20 * 3 <= record["bytes_received"] <= RESPONSE + 60 * 12, record
    assert agent.stop() == 0


@pytest.mark.parametrize("case", CLOSER_CASES)
def test_a_closed_connection_is_not_born_again_from_its_time_wait_socket(
    lab: NetLab, start_agent, case: str
) -> None:
    with_ct = case.endswith("-with-ct")
    host_netns = lab.node_netns_path if with_ct else "/nonexistent"
    agent = start_agent("--host-netns", host_netns, "--poll-interval", FAST_POLL)
    pod, backend = f"closer-{case}", lab.pod_ips["backend"]
    if case.startswith("udp-only"):
        lab.server(pod, "udp", 5353, "keeper")
    # The client closes first, so its socket lingers in TIME_WAIT (no counters, no owner).
    client, port = lab.client(pod, "tcp", backend, 8080, "closer", REQUEST, RESPONSE, 1)
    mine = from_client(lab, pod, port)
    agent.wait_for(lambda r: mine(r) and r["process"] == "closer")
    client.wait()
    # Nothing else is open in the pod, so the agent sees no socket there: it is closed
    # (conntrack still sees the connection in TIME_WAIT).
    closed = "TIME_WAIT" if with_ct else "CLOSED"
    agent.wait_for(lambda r: mine(r) and r["state"] == closed)
    # Then the pod opens a socket again, and the TIME_WAIT socket is seen.
    lab.server(pod, "tcp", 9090, "listener")
    polls = agent.status()["polls"]
    agent.wait_until(lambda: agent.status()["polls"] >= polls + 3)

    records = [r for r in agent.records()["records"] if mine(r)]
    first = records[0]
    assert {(r["conn_id"], r["first_seen"]) for r in records} == {
        (first["conn_id"], first["first_seen"])
    }, records
    # Once the client's socket named them, the process and bytes stay (conntrack may
    # have reported the connection before that).
    named = next(i for i, r in enumerate(records) if r["process"] == "closer")
    for record in records[named:]:
        assert (record["process"], record["bytes_sent"]) == ("closer", REQUEST), record
    states = [r["state"] for r in records]
    if not with_ct:
        assert states[-1] == "CLOSED" and states.count("CLOSED") == 1, records


def test_a_quiet_namespace_is_not_read_again_yet_its_changes_are_seen(
    lab: NetLab, start_agent
) -> None:
    agent = start_agent("--host-netns", lab.node_netns_path, "--poll-interval", FAST_POLL)
    backend = lab.pod_ips["backend"]
    client, port = lab.client("idler", "tcp", backend, 8080, "idler", REQUEST, RESPONSE, 4)
    mine = from_client(lab, "idler", port)
    agent.wait_for(lambda r: mine(r) and r["bytes_received"] == RESPONSE)
    quiet_before = agent.status()["quiet_reads"]
    polls = agent.status()["polls"]
    agent.wait_until(lambda: agent.status()["polls"] >= polls + 4)
    # Idle connections: the pods' TCP sockets were left unread (and nothing was lost).
    assert agent.status()["quiet_reads"] > quiet_before
    assert agent.wait_for(mine)["state"] == "ESTABLISHED"

    client.wait()  # it closes: a FIN goes out, so the namespace is read again at once
    closed_at = agent.status()["polls"]
    record = agent.wait_for(lambda r: mine(r) and r["state"] != "ESTABLISHED")
    assert record["state"] in ("TIME_WAIT", "FIN_WAIT2", "CLOSED"), record
    assert agent.status()["polls"] <= closed_at + 3
    assert (record["bytes_sent"], record["bytes_received"]) == (REQUEST, RESPONSE)


def test_external_connection_is_source_natted_to_the_node(lab: NetLab, start_agent) -> None:
    agent = start_agent("--host-netns", lab.node_netns_path, "--poll-interval", FAST_POLL)
    _client, port = lab.client(
        "client", "tcp", lab.addresses.external_ip, 80, "ext-client", 10, 20, 2
    )
    mine = from_client(lab, "client", port)

    record = agent.wait_for(lambda r: mine(r) and r["peer_process"] is not None)

    assert (record["dst_ip"], record["dst_port"]) == (lab.addresses.external_ip, 80)
    assert record["nat_src_ip"] == lab.addresses.node_ip and record["nat_dst_ip"] is None
    assert (record["process"], record["peer_process"]) == ("ext-client", "ext-server")
    assert (record["bytes_sent"], record["bytes_received"]) == (10, 20)


def test_records_page_with_after_and_limit(lab: NetLab, start_agent) -> None:
    agent = start_agent("--host-netns", lab.node_netns_path, "--poll-interval", FAST_POLL)
    ports = [lab.client("client", "tcp", cluster_ip(lab), 80, "pager", REQUEST, RESPONSE, 0)[1]
             for _ in range(3)]  # fmt: skip
    client_ip = lab.pod_ips["client"]
    agent.wait_until(lambda: {r["src_port"] for r in agent.latest().values()
                              if r["src_ip"] == client_ip} >= set(ports))  # fmt: skip

    everything = agent.records(0, 10_000)
    seqs = [r["seq"] for r in everything["records"]]
    assert seqs == list(range(everything["oldest_seq"], everything["last_seq"] + 1))[: len(seqs)]
    paged, after = [], 0
    while after < seqs[-1]:
        page = agent.records(after, 2)
        assert 1 <= len(page["records"]) <= 2
        paged += [r["seq"] for r in page["records"]]
        after = page["records"][-1]["seq"]
    assert paged[: len(seqs)] == seqs
    assert agent.records(10**9, 5)["records"] == []
    assert agent.get_error("/v1/records?after=x") == 400
    assert agent.get_error("/v1/records?limit=0") == 400
    assert agent.get_error("/v1/nothing") == 404


def test_generation_changes_on_restart(lab: NetLab, start_agent) -> None:
    first = start_agent("--host-netns", lab.node_netns_path)
    status = first.status()
    assert status["generation"] == first.generation
    assert first.stop() == 0

    second = start_agent("--host-netns", lab.node_netns_path)
    assert second.status()["generation"] not in ("", first.generation)


def test_full_buffer_drops_oldest_and_says_how_many(lab: NetLab, start_agent) -> None:
    agent = start_agent("--host-netns", lab.node_netns_path, "--poll-interval", FAST_POLL,
                        "--buffer", "3")  # fmt: skip
    for _ in range(4):
        lab.client("client", "tcp", cluster_ip(lab), 80, "filler", REQUEST, RESPONSE, 0)

    agent.wait_until(lambda: agent.status()["dropped"] > 0)
    status = agent.status()
    page = agent.records(0)
    assert status["buffer_capacity"] == 3 and status["buffer_used"] == 3
    assert page["dropped"] >= status["dropped"] > 0
    assert page["oldest_seq"] == page["last_seq"] - 2 == page["records"][0]["seq"]
    assert page["last_seq"] - page["dropped"] == 3


def test_without_conntrack_it_says_so_and_goes_on_with_sockets(lab: NetLab, start_agent) -> None:
    agent = start_agent("--host-netns", "/nonexistent/netns", "--poll-interval", FAST_POLL)
    backend = lab.pod_ips["backend"]
    _client, port = lab.client("client", "tcp", backend, 8080, "direct", REQUEST, RESPONSE, 2)
    mine = from_client(lab, "client", port)

    record = agent.wait_for(lambda r: mine(r) and r["peer_process"] is not None)

    status = agent.status()
    assert status["conntrack"] is False and status["sock_diag"] is True
    assert "/nonexistent/netns" in status["conntrack_error"]
    assert status["last_error"]
    assert (record["dst_ip"], record["observer"], record["nat_dst_ip"]) == (backend, "client", None)
    assert (record["bytes_sent"], record["bytes_received"]) == (REQUEST, RESPONSE)


def test_procfs_fallback_sees_roles_and_processes(lab: NetLab, start_agent) -> None:
    agent = start_agent("--host-netns", lab.node_netns_path, "--poll-interval", FAST_POLL,
                        "--sockets", "procfs")  # fmt: skip
    client, port = lab.client(
        "client", "tcp", cluster_ip(lab), 80, "proc-client", REQUEST, RESPONSE, 2
    )
    mine = from_client(lab, "client", port)

    record = agent.wait_for(
        lambda r: mine(r) and r["process"] is not None and r["peer_netns"] is not None
    )

    assert (record["observer"], record["source"]) == ("client", "procfs")
    assert (record["process"], record["pid"]) == ("proc-client", client.pid)
    # The server socket was recognised as the server end of the same connection.
    assert record["peer_netns"] == netns_inode(lab.pod_ns("backend"))
    assert record["nat_dst_ip"] == lab.pod_ips["backend"]
    assert record["bytes_sent"] is None  # /proc/net has no byte counters
    status = agent.status()
    assert status["sock_diag"] is False and status["procfs_namespaces"] > 0
