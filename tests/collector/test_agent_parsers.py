"""The agent's parsers and bookkeeping on real samples (no root needed)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import ctfixtures
import pytest

from netsight.collector import agent

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "real"


def fixture(name: str) -> Path:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"real sample {path} is not on this machine")
    return path


@pytest.mark.parametrize("name", ["jc-proc-net_tcp", "jc-proc-net_tcp6"])
def test_proc_net_parser_agrees_with_an_independent_decoder(name: str) -> None:
    text = fixture(f"{name}.txt").read_text()
    expected = json.loads(fixture(f"{name}.expected.json").read_text())

    entries, skipped = agent.parse_proc_net(text, socket.IPPROTO_TCP)

    assert skipped == 0
    assert len(entries) == len(expected)
    for entry, want in zip(entries, expected, strict=True):
        assert entry.local_ip == want["local_address"]
        assert entry.local_port == want["local_port"]
        assert entry.remote_ip == want["remote_address"]
        assert entry.remote_port == want["remote_port"]
        assert entry.state == int(want["state"], 16)
        assert entry.tx_queue == int(want["tx_queue"], 16)
        assert entry.rx_queue == int(want["rx_queue"], 16)
        assert entry.uid == want["uid"]
        assert entry.inode == want["inode"]


def test_proc_net_parser_reads_a_header_with_extra_columns() -> None:
    entries, skipped = agent.parse_proc_net(
        fixture("procfs-fixture-proc-net-tcp6.txt").read_text(), socket.IPPROTO_TCP
    )
    assert skipped == 0
    assert [(e.local_ip, e.local_port, e.uid, e.inode) for e in entries] == [
        ("::", 5355, 981, 21040),
        ("fe80::56e1:adff:fe7c:6609", 51073, 1000, 11337031),
    ]


def test_proc_net_parser_keeps_what_a_truncated_file_has() -> None:
    entries, skipped = agent.parse_proc_net(
        fixture("procfs-fixture-proc-net-udp_broken.txt").read_text(), socket.IPPROTO_UDP
    )
    assert skipped == 0
    assert len(entries) == 1
    assert (entries[0].local_ip, entries[0].local_port, entries[0].state) == ("0.0.0.0", 22, 0x0A)
    assert entries[0].inode is None


@pytest.mark.parametrize(
    "text",
    ["", "garbage\n", "  sl  local_address\n   0: zz:0016 00000000:0000 0A\n", "   0: 0100007F"],
    ids=["empty", "garbage", "bad-hex", "cut-mid-line"],
)
def test_proc_net_parser_skips_broken_lines_without_crashing(text: str) -> None:
    entries, _skipped = agent.parse_proc_net(text, socket.IPPROTO_TCP)
    assert entries == []


def _agent(capacity: int = 100) -> agent.Agent:
    config = agent.AgentConfig(node="worker-1", buffer_records=capacity, host_netns="/dev/null")
    a = agent.Agent(config)
    a.host_netns_inode = 4026531840
    return a


def _feed(a: agent.Agent, lines: list[str]) -> None:
    now = 1764835200.0
    for line in lines:
        fields = ctfixtures.parse_line(line)
        if fields is None:
            continue
        data = ctfixtures.encode(fields)
        for mtype, start, end in agent.iter_messages(data):
            entry = agent.parse_ct_message(data, start, end, destroyed=mtype & 0xFF == 2)
            assert entry is not None, line
            with a.lock:
                a._apply_ct(entry, now)
                a._flush(now)


def _latest(a: agent.Agent) -> dict[str, dict]:
    page = json.loads(a.records_page(0, 1000))
    return {record["conn_id"]: record for record in page["records"]}


def test_conntrack_ties_a_clusterip_call_to_its_backend_and_sees_snat() -> None:
    text = fixture("aks-kubenet-dns-and-egress-snat-conntrack.txt").read_text()
    node2 = text.split("vmss000002:/# conntrack -L")[1].split("vmss000001:/#")[0]
    a = _agent()

    _feed(a, node2.splitlines())
    records = _latest(a)

    dns = records["udp:10.244.0.11:35637>10.0.0.10:53"]
    assert (dns["nat_dst_ip"], dns["nat_dst_port"]) == ("10.244.2.3", 53)
    assert dns["nat_src_ip"] is None
    assert dns["observer"] == "conntrack"
    other = records["udp:10.244.0.11:33258>10.0.0.10:53"]
    assert other["nat_dst_ip"] == "10.244.1.4"
    egress = records["tcp:10.244.0.11:53830>172.64.154.211:80"]
    assert egress["nat_dst_ip"] is None
    assert (egress["nat_src_ip"], egress["nat_src_port"]) == ("10.224.0.4", 53830)
    assert egress["state"] == "TIME_WAIT"
    # The summary line pasted into the listing is not an entry.
    assert len(records) == 6


def test_conntrack_events_make_one_connection_that_ends_on_destroy() -> None:
    lines = fixture("weave-scope-conntrack-E-events.txt").read_text().splitlines()
    a = _agent()

    _feed(a, lines)
    records = json.loads(a.records_page(0, 1000))["records"]

    ids = {record["conn_id"] for record in records}
    assert ids == {
        "tcp:10.0.0.1:36826>127.0.0.1:28106@4026531840",
        "tcp:10.0.0.1:36898>127.0.0.1:28107@4026531840",
    }
    first = [r for r in records if r["src_port"] == 36826]
    assert first[-1]["state"] == "CLOSED"
    assert "tcp:10.0.0.1:36826>127.0.0.1:28106@4026531840" not in a.connections
    second = [r for r in records if r["src_port"] == 36898]
    assert [r["state"] for r in second] == ["SYN_SENT", "SYN_RECV", "ESTABLISHED"]
    assert second[-1]["nat_dst_ip"] == "10.0.0.2" and second[-1]["nat_src_ip"] == "127.0.0.2"


def test_record_buffer_drops_oldest_and_counts_them() -> None:
    buffer = agent.RecordBuffer(3)
    for number in range(1, 6):
        buffer.append(b'{"n":%d}' % number)

    assert (buffer.used, buffer.dropped, buffer.oldest_seq, buffer.last_seq) == (3, 2, 3, 5)
    assert buffer.page(0, 10) == [b'{"n":3}', b'{"n":4}', b'{"n":5}']
    assert buffer.page(3, 1) == [b'{"n":4}']
    assert buffer.page(5, 10) == []


def test_record_buffer_pages_across_compressed_chunks_and_drops_whole_ones() -> None:
    chunk = agent.CHUNK_RECORDS
    buffer = agent.RecordBuffer(3 * chunk)
    records = [
        json.dumps({"seq": n, "conn_id": f"tcp:10.244.1.5:{n}>10.96.0.10:80",
                    "state": "ESTABLISHED", "bytes_sent": n * 7, "process": "curl"}).encode()
        for n in range(1, 5 * chunk + 11)
    ]  # fmt: skip
    for record in records:
        buffer.append(record)

    last = len(records)
    assert (buffer.used, buffer.dropped, buffer.last_seq) == (3 * chunk, last - 3 * chunk, last)
    assert buffer.oldest_seq == last - 3 * chunk + 1
    assert buffer.page(0, 5) == records[buffer.oldest_seq - 1 : buffer.oldest_seq + 4]
    # A page that starts in one compressed chunk and ends in the records not yet compressed.
    after = last - chunk - 20
    assert buffer.page(after, 2 * chunk) == records[after:]
    assert buffer.page(after, 25) == records[after : after + 25]
    assert buffer.page(last, 10) == []
    # Every page in turn gives every record kept, once.
    paged, after = [], 0
    while page := buffer.page(after, 100):
        paged += page
        after = json.loads(page[-1])["seq"]
    assert paged == records[buffer.oldest_seq - 1 :]
    # Kept compressed: far less than the records themselves.
    assert buffer.stored_bytes < sum(map(len, records[-3 * chunk :])) / 4


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("tcp", "10.0.0.1", 1, "10.0.0.2", 80, 7), "tcp:10.0.0.1:1>10.0.0.2:80"),
        (("udp", "fd00::1", 1, "fd00::2", 53, 7), "udp:[fd00::1]:1>[fd00::2]:53"),
        (("tcp", "127.0.0.1", 1, "127.0.0.1", 80, 7), "tcp:127.0.0.1:1>127.0.0.1:80@7"),
    ],
    ids=["v4", "v6", "loopback-per-namespace"],
)
def test_connection_id(args: tuple, expected: str) -> None:
    assert agent.connection_id(*args) == expected


def test_ipv4_mapped_addresses_become_ipv4() -> None:
    assert agent.normalise_ip("::ffff:10.1.2.3") == "10.1.2.3"
    assert agent.normalise_ip("2001:db8:0:0::1") == "2001:db8::1"
