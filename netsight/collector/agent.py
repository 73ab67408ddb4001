"""NetSight node agent: every TCP and UDP connection on one node, served over HTTP.

This file runs on cluster nodes in a stock Python image (3.11 or newer),
mounted from a ConfigMap, so it uses the standard library only and imports
nothing from NetSight: a security reviewer can read all of it here.

What it does, each poll (default every 5 s):

- finds every network namespace on the node through the host PID namespace
  (``/proc/<pid>/ns/net``, one pid per namespace inode);
- reads each namespace's sockets with netlink sock_diag. A netlink socket
  belongs to the namespace it was created in, so a short-lived thread enters
  the namespace with ``setns`` (which only ever affects the calling thread),
  creates the socket there and goes back; the poll and HTTP threads never
  change namespace. ``/proc/<pid>/net/{tcp,udp}{,6}`` is the fallback where
  sock_diag is refused;
- names the owning process of each socket from the socket inodes in
  ``/proc/<pid>/fd`` of that namespace's processes;
- reads the node's conntrack table over ctnetlink (a dump at start, then
  NEW/UPDATE/DESTROY events), so connections shorter than a poll are seen,
  a connection to a Service ClusterIP is tied to the backend it was
  translated to, and source NAT is recognised.

One record per connection, re-emitted with a new sequence number whenever it
changes (and every ``--refresh-interval`` while it lives), into a bounded
buffer served at ``GET /v1/records?after=SEQ&limit=N``; ``GET /v1/status``
says what works. What the buffer had to drop is counted, never silent.

Privileges it uses (for the DaemonSet): host PID namespace; CAP_SYS_ADMIN
(``setns`` into other network namespaces), CAP_SYS_PTRACE (read other
processes' ``ns/net`` and ``fd`` links), CAP_NET_ADMIN (ctnetlink). It writes
no files.

Bytes: TCP bytes are payload bytes from ``tcp_info`` (``bytes_acked``,
``bytes_received``). UDP sockets carry no byte counters in the kernel, so
UDP bytes come from conntrack (payload: the fixed headers are taken out),
only where the node counts them (``nf_conntrack_acct=1``), else they are
null. TCP connections seen by conntrack alone carry IP-level bytes.
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import errno
import ipaddress
import itertools
import json
import logging
import os
import secrets
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

logger = logging.getLogger("netsight.agent")

AGENT_VERSION = "0.1.0"

# Five seconds keeps 20,000 sockets under 2 % of one core; shorter
# connections are still seen through conntrack events.
DEFAULT_POLL_INTERVAL_S = 5.0
# A record is ~500 bytes of JSON; 50,000 of them stay well inside 60 MiB.
DEFAULT_BUFFER_RECORDS = 50_000
# An idle connection is re-emitted this often so the desktop's last_seen moves.
DEFAULT_REFRESH_INTERVAL_S = 120.0
# Conntrack is read once at start and then through events; a full re-dump
# this often catches anything the events missed (and after every overrun).
DEFAULT_CONNTRACK_RESYNC_S = 300.0
# A page of /v1/records is capped so one request cannot build a huge reply.
MAX_PAGE_RECORDS = 10_000
DEFAULT_PAGE_RECORDS = 1_000

# --- kernel constants (linux/netlink.h, sock_diag.h, inet_diag.h, nfnetlink*.h)

CLONE_NEWNET = 0x40000000
NETLINK_SOCK_DIAG = 4
NETLINK_NETFILTER = 12
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
SOCK_DIAG_BY_FAMILY = 20
INET_DIAG_INFO = 2
NLA_TYPE_MASK = 0x3FFF
# Netlink dump messages are at most 32 KiB; a 64 KiB buffer is never short.
RECV_BUFFER_BYTES = 65536
# tcp_info: bytes_acked and bytes_received are u64 at these offsets.
TCPI_BYTES_OFFSET = 120
TCPI_MIN_LEN = 136

NFNL_SUBSYS_CTNETLINK = 1
IPCTNL_MSG_CT_NEW = 0
IPCTNL_MSG_CT_GET = 1
IPCTNL_MSG_CT_DELETE = 2
# NFNLGRP_CONNTRACK_NEW, _UPDATE, _DESTROY are groups 1, 2, 3.
CONNTRACK_EVENT_GROUPS = 0b111
CTA_TUPLE_ORIG = 1
CTA_TUPLE_REPLY = 2
CTA_STATUS = 3
CTA_PROTOINFO = 4
CTA_COUNTERS_ORIG = 9
CTA_COUNTERS_REPLY = 10
CTA_ID = 12
CTA_TUPLE_IP = 1
CTA_TUPLE_PROTO = 2
CTA_IP_V4_SRC, CTA_IP_V4_DST, CTA_IP_V6_SRC, CTA_IP_V6_DST = 1, 2, 3, 4
CTA_PROTO_NUM, CTA_PROTO_SRC_PORT, CTA_PROTO_DST_PORT = 1, 2, 3
CTA_COUNTERS_PACKETS = 1
CTA_COUNTERS_BYTES = 2
CTA_PROTOINFO_TCP = 1
CTA_PROTOINFO_TCP_STATE = 1
IPS_SEEN_REPLY = 1 << 1
# Live UDP connections whose conntrack bytes are read each poll, at most.
MAX_UDP_COUNTER_QUERIES = 2000
# Conntrack events are turned into records at most this often (seconds).
CONNTRACK_FLUSH_INTERVAL_S = 1.0
# Conntrack event sockets get a large buffer so bursts do not overrun it.
CONNTRACK_RCVBUF_BYTES = 8 * 1024 * 1024

TCP_STATES = {
    1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
    6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
    11: "CLOSING", 12: "SYN_RECV",
}  # fmt: skip
TCP_LISTEN = 10
FIN_ACKED_STATES = frozenset({5, 6})  # FIN_WAIT2, TIME_WAIT
FIN_RECEIVED_STATES = frozenset({6, 8, 9, 11})  # TIME_WAIT, CLOSE_WAIT, LAST_ACK, CLOSING
UDP_UNCONNECTED = 7
CT_TCP_STATES = {
    0: "NONE", 1: "SYN_SENT", 2: "SYN_RECV", 3: "ESTABLISHED", 4: "FIN_WAIT",
    5: "CLOSE_WAIT", 6: "LAST_ACK", 7: "TIME_WAIT", 8: "CLOSE", 9: "SYN_SENT",
}  # fmt: skip
PROTO_NAMES = {socket.IPPROTO_TCP: "tcp", socket.IPPROTO_UDP: "udp"}
CLOSED = "CLOSED"

_NLMSGHDR = struct.Struct("=IHHII")
_NLATTR = struct.Struct("=HH")
_DIAG_REQ = struct.Struct("=BBBBI48x")
_DIAG_MSG = struct.Struct("=BBBBHH16s16sI8xIIIII")
_TCPI_BYTES = struct.Struct("=QQ")
_NFGENMSG = struct.Struct("=BBH")
_BE16 = struct.Struct("!H")
_BE32 = struct.Struct("!I")
_BE64 = struct.Struct("!Q")


# --- namespaces ---------------------------------------------------------------

_libc: Any = None


def setns(fd: int) -> None:
    """Move the calling thread (only it) into the network namespace open at fd."""
    if hasattr(os, "setns"):  # Python 3.12+
        os.setns(fd, CLONE_NEWNET)
        return
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def open_sockets_in_namespaces(
    paths: Iterable[str], proto: int, groups: int = 0
) -> dict[str, socket.socket | OSError]:
    """Create one netlink socket inside each namespace file in paths.

    Runs in a fresh thread that enters each namespace and returns to its own
    before the next, so no other thread ever changes namespace. A socket keeps
    the namespace it was created in, so it can be used from any thread.
    """
    wanted = list(paths)
    results: dict[str, socket.socket | OSError] = {}

    def work() -> None:
        try:
            home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as error:
            for path in wanted:
                results[path] = error
            return
        try:
            for path in wanted:
                try:
                    target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                except OSError as error:
                    results[path] = error
                    continue
                try:
                    setns(target)
                except OSError as error:
                    results[path] = error
                    continue
                finally:
                    os.close(target)
                try:
                    sock = socket.socket(
                        socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, proto
                    )
                    sock.bind((0, groups))
                    results[path] = sock
                except OSError as error:
                    results[path] = error
                finally:
                    # If going home fails this thread ends here, in the wrong
                    # namespace, harming nothing else.
                    setns(home)
        finally:
            os.close(home)

    thread = threading.Thread(target=work, name="netsight-setns", daemon=True)
    thread.start()
    thread.join()
    for path in wanted:
        results.setdefault(path, OSError(errno.EIO, "could not return to the agent's namespace"))
    return results


@dataclass
class Namespace:
    """One network namespace found through /proc and the processes inside it."""

    inode: int
    pids: list[int] = field(default_factory=list)


def find_namespaces(proc_root: str) -> dict[int, Namespace]:
    """Map each network namespace inode to the pids that live in it."""
    found: dict[int, Namespace] = {}
    try:
        entries = os.listdir(proc_root)
    except OSError as error:
        raise OSError(error.errno, f"cannot list {proc_root}: {error.strerror}") from None
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            inode = os.stat(f"{proc_root}/{entry}/ns/net").st_ino
        except OSError:
            continue  # exited, or a kernel thread we may not inspect
        namespace = found.get(inode)
        if namespace is None:
            namespace = found[inode] = Namespace(inode)
        namespace.pids.append(int(entry))
    for namespace in found.values():
        namespace.pids.sort()
    return found


def socket_owners(proc_root: str, pids: Iterable[int], wanted: set[int]) -> dict[int, int]:
    """Map socket inodes in wanted to the pid holding them, from /proc/<pid>/fd."""
    owners: dict[int, int] = {}
    for pid in pids:
        fd_dir = f"{proc_root}/{pid}/fd"
        try:
            names = os.listdir(fd_dir)
        except OSError:
            continue
        for name in names:
            try:
                target = os.readlink(f"{fd_dir}/{name}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inode = int(target[8:-1])
                if inode in wanted and inode not in owners:
                    owners[inode] = pid
        if len(owners) == len(wanted):
            break
    return owners


def process_name(proc_root: str, pid: int) -> str | None:
    try:
        with open(f"{proc_root}/{pid}/comm", encoding="utf-8", errors="replace") as file:
            return file.read().strip() or None
    except OSError:
        return None


# --- netlink plumbing -------------------------------------------------------------


class NetlinkError(OSError):
    """The kernel answered a netlink request with an error."""


def netlink_dump(
    sock: socket.socket, msg_type: int, payload: bytes
) -> Iterator[tuple[int, bytes, int, int]]:
    """Send a dump request; yield (type, buffer, payload offset, end) per message."""
    sock.send(
        _NLMSGHDR.pack(16 + len(payload), msg_type, NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + payload
    )
    while True:
        data = sock.recv(RECV_BUFFER_BYTES)
        if not data:
            return
        for mtype, start, end in iter_messages(data):
            if mtype == NLMSG_DONE:
                return
            if mtype == NLMSG_ERROR:
                code = struct.unpack_from("=i", data, start)[0]
                if code:
                    raise NetlinkError(-code, os.strerror(-code))
                continue
            yield mtype, data, start, end


def iter_messages(data: bytes) -> Iterator[tuple[int, int, int]]:
    """Yield (type, payload start, message end) for each netlink message in data."""
    offset, size = 0, len(data)
    while offset + 16 <= size:
        length, mtype = _NLMSGHDR.unpack_from(data, offset)[:2]
        if length < 16 or offset + length > size:
            return
        yield mtype, offset + 16, offset + length
        offset += (length + 3) & ~3


def parse_attrs(data: bytes, offset: int, end: int) -> dict[int, tuple[int, int]]:
    """Map attribute type to (value start, value end) for the attributes in data."""
    attrs: dict[int, tuple[int, int]] = {}
    while offset + 4 <= end:
        length, atype = _NLATTR.unpack_from(data, offset)
        if length < 4 or offset + length > end:
            break
        attrs[atype & NLA_TYPE_MASK] = (offset + 4, offset + length)
        offset += (length + 3) & ~3
    return attrs


def _address(family: int, raw: bytes) -> str:
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, raw[:4])
    return normalise_ip(socket.inet_ntop(socket.AF_INET6, raw[:16]))


def normalise_ip(text: str) -> str:
    """Compressed form; IPv4-mapped IPv6 addresses become plain IPv4."""
    address = ipaddress.ip_address(text)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return address.compressed


# --- sockets ----------------------------------------------------------------------


@dataclass(slots=True)
class SocketEntry:
    """One socket as the kernel reports it."""

    proto: int
    local_ip: str
    local_port: int
    remote_ip: str
    remote_port: int
    state: int
    inode: int | None
    bytes_acked: int | None = None
    bytes_received: int | None = None
    uid: int | None = None
    tx_queue: int | None = None
    rx_queue: int | None = None


def read_sock_diag(sock: socket.socket, family: int, proto: int) -> list[SocketEntry]:
    """Dump all sockets of one family and protocol through sock_diag."""
    ext = 1 << (INET_DIAG_INFO - 1) if proto == socket.IPPROTO_TCP else 0
    request = _DIAG_REQ.pack(family, proto, ext, 0, 0xFFFFFFFF)
    entries: list[SocketEntry] = []
    append = entries.append
    unpack = _DIAG_MSG.unpack_from
    ntohs = socket.ntohs
    names: dict[bytes, str] = {}
    for _mtype, data, start, end in netlink_dump(sock, SOCK_DIAG_BY_FAMILY, request):
        fam, state, _t, _r, sport, dport, src, dst, _if, _exp, _rq, _wq, uid, inode = unpack(
            data, start
        )
        acked = received = None
        if ext and end - start > 72:
            span = parse_attrs(data, start + 72, end).get(INET_DIAG_INFO)
            if span is not None and span[1] - span[0] >= TCPI_MIN_LEN:
                acked, received = _TCPI_BYTES.unpack_from(data, span[0] + TCPI_BYTES_OFFSET)
        local = names.get(src)
        if local is None:
            local = names[src] = _address(fam, src)
        remote = names.get(dst)
        if remote is None:
            remote = names[dst] = _address(fam, dst)
        append(
            SocketEntry(
                proto,
                local,
                ntohs(sport),
                remote,
                ntohs(dport),
                state,
                inode or None,
                acked,
                received,
                uid,
            )
        )
    return entries


def _proc_address(text: str) -> tuple[str, int]:
    host, _, port = text.partition(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        address = socket.inet_ntop(socket.AF_INET, raw[::-1])
    elif len(raw) == 16:
        # Four 32-bit words, each in the kernel's (little-endian) byte order.
        words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
        address = socket.inet_ntop(socket.AF_INET6, words)
    else:
        raise ValueError(f"address of {len(raw)} bytes")
    return address, int(port, 16)


def parse_proc_net(text: str, proto: int) -> tuple[list[SocketEntry], int]:
    """Parse a /proc/net/{tcp,udp}{,6} table; return (entries, lines skipped).

    Takes the real thing: headers with extra columns, several tables pasted
    together, and a truncated file (rows short of fields keep what they have).
    """
    entries: list[SocketEntry] = []
    skipped = 0
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0] == "sl":
            continue
        if len(fields) < 4 or not fields[0].endswith(":"):
            skipped += 1
            continue
        try:
            local_ip, local_port = _proc_address(fields[1])
            remote_ip, remote_port = _proc_address(fields[2])
            state = int(fields[3], 16)
            tx_queue = rx_queue = uid = inode = None
            if len(fields) > 4:
                tx, _, rx = fields[4].partition(":")
                tx_queue, rx_queue = int(tx, 16), int(rx, 16)
            if len(fields) > 7:
                uid = int(fields[7])
            if len(fields) > 9:
                inode = int(fields[9])
        except ValueError:
            skipped += 1
            continue
        entries.append(
            SocketEntry(
                proto,
                local_ip,
                local_port,
                remote_ip,
                remote_port,
                state,
                inode,
                uid=uid,
                tx_queue=tx_queue,
                rx_queue=rx_queue,
            )
        )
    return entries, skipped


def read_proc_net(proc_root: str, pid: int, family: int, proto: int) -> list[SocketEntry]:
    name = PROTO_NAMES[proto] + ("6" if family == socket.AF_INET6 else "")
    with open(f"{proc_root}/{pid}/net/{name}", encoding="ascii", errors="replace") as file:
        entries, skipped = parse_proc_net(file.read(), proto)
    if skipped:
        logger.debug("Skipped %d unreadable lines of %s/%d/net/%s.", skipped, proc_root, pid, name)
    for entry in entries:
        entry.local_ip = normalise_ip(entry.local_ip)
        entry.remote_ip = normalise_ip(entry.remote_ip)
    return entries


# --- conntrack ----------------------------------------------------------------------


@dataclass(slots=True)
class CtEntry:
    """One conntrack entry: original and reply tuples, state, counters."""

    proto: int
    src_ip: str
    src_port: int
    dst_ip: str
    dst_port: int
    reply_src_ip: str
    reply_src_port: int
    reply_dst_ip: str
    reply_dst_port: int
    state: str
    bytes_orig: int | None = None
    bytes_reply: int | None = None
    ct_id: int | None = None
    destroyed: bool = False


def _ct_tuple(data: bytes, start: int, end: int) -> tuple[int, str, int, str, int] | None:
    attrs = parse_attrs(data, start, end)
    ip_span, proto_span = attrs.get(CTA_TUPLE_IP), attrs.get(CTA_TUPLE_PROTO)
    if ip_span is None or proto_span is None:
        return None
    ips = parse_attrs(data, *ip_span)
    if CTA_IP_V4_SRC in ips and CTA_IP_V4_DST in ips:
        src = socket.inet_ntop(socket.AF_INET, data[ips[CTA_IP_V4_SRC][0] :][:4])
        dst = socket.inet_ntop(socket.AF_INET, data[ips[CTA_IP_V4_DST][0] :][:4])
    elif CTA_IP_V6_SRC in ips and CTA_IP_V6_DST in ips:
        src = normalise_ip(socket.inet_ntop(socket.AF_INET6, data[ips[CTA_IP_V6_SRC][0] :][:16]))
        dst = normalise_ip(socket.inet_ntop(socket.AF_INET6, data[ips[CTA_IP_V6_DST][0] :][:16]))
    else:
        return None
    protos = parse_attrs(data, *proto_span)
    if CTA_PROTO_NUM not in protos:
        return None
    number = data[protos[CTA_PROTO_NUM][0]]
    sport = (
        _BE16.unpack_from(data, protos[CTA_PROTO_SRC_PORT][0])[0]
        if CTA_PROTO_SRC_PORT in protos
        else 0
    )
    dport = (
        _BE16.unpack_from(data, protos[CTA_PROTO_DST_PORT][0])[0]
        if CTA_PROTO_DST_PORT in protos
        else 0
    )
    return number, src, sport, dst, dport


def parse_ct_message(data: bytes, start: int, end: int, destroyed: bool = False) -> CtEntry | None:
    """Decode one ctnetlink message payload (after nlmsghdr); None if not TCP/UDP."""
    attrs = parse_attrs(data, start + _NFGENMSG.size, end)
    if CTA_TUPLE_ORIG not in attrs or CTA_TUPLE_REPLY not in attrs:
        return None
    orig = _ct_tuple(data, *attrs[CTA_TUPLE_ORIG])
    reply = _ct_tuple(data, *attrs[CTA_TUPLE_REPLY])
    if orig is None or reply is None or orig[0] not in PROTO_NAMES:
        return None
    proto = orig[0]
    state = ""
    if proto == socket.IPPROTO_TCP and CTA_PROTOINFO in attrs:
        tcp = parse_attrs(data, *attrs[CTA_PROTOINFO]).get(CTA_PROTOINFO_TCP)
        if tcp is not None:
            span = parse_attrs(data, *tcp).get(CTA_PROTOINFO_TCP_STATE)
            if span is not None:
                state = CT_TCP_STATES.get(data[span[0]], "UNKNOWN")
    if not state and CTA_STATUS in attrs:
        status = _BE32.unpack_from(data, attrs[CTA_STATUS][0])[0]
        state = "REPLIED" if status & IPS_SEEN_REPLY else "UNREPLIED"
    counters: list[int | None] = []
    for kind in (CTA_COUNTERS_ORIG, CTA_COUNTERS_REPLY):
        value = None
        if kind in attrs:
            nested = parse_attrs(data, *attrs[kind])
            span = nested.get(CTA_COUNTERS_BYTES)
            if span is not None:
                value = _BE64.unpack_from(data, span[0])[0]
                packets = nested.get(CTA_COUNTERS_PACKETS)
                if proto == socket.IPPROTO_UDP and packets is not None:
                    # UDP headers are fixed: count payload, as sockets do for TCP.
                    header = 48 if ":" in orig[1] else 28
                    value = max(0, value - header * _BE64.unpack_from(data, packets[0])[0])
        counters.append(value)
    ct_id = _BE32.unpack_from(data, attrs[CTA_ID][0])[0] if CTA_ID in attrs else None
    return CtEntry(
        proto,
        orig[1],
        orig[2],
        orig[3],
        orig[4],
        reply[1],
        reply[2],
        reply[3],
        reply[4],
        CLOSED if destroyed else (state or "UNKNOWN"),
        counters[0],
        counters[1],
        ct_id,
        destroyed,
    )


def conntrack_dump_request() -> bytes:
    return _NFGENMSG.pack(socket.AF_UNSPEC, 0, 0)


def _nla(atype: int, payload: bytes) -> bytes:
    data = _NLATTR.pack(4 + len(payload), atype) + payload
    return data + b"\0" * (-len(data) % 4)


NLA_F_NESTED = 0x8000


def conntrack_get_request(
    proto: int, src_ip: str, src_port: int, dst_ip: str, dst_port: int
) -> bytes:
    """A ctnetlink GET for one entry by its original tuple."""
    if ":" in src_ip:
        family, src_type, dst_type = socket.AF_INET6, CTA_IP_V6_SRC, CTA_IP_V6_DST
    else:
        family, src_type, dst_type = socket.AF_INET, CTA_IP_V4_SRC, CTA_IP_V4_DST
    ips = _nla(src_type, socket.inet_pton(family, src_ip)) + _nla(
        dst_type, socket.inet_pton(family, dst_ip)
    )
    ports = (
        _nla(CTA_PROTO_NUM, bytes([proto]))
        + _nla(CTA_PROTO_SRC_PORT, _BE16.pack(src_port))
        + _nla(CTA_PROTO_DST_PORT, _BE16.pack(dst_port))
    )
    tuple_attr = _nla(CTA_TUPLE_IP | NLA_F_NESTED, ips) + _nla(
        CTA_TUPLE_PROTO | NLA_F_NESTED, ports
    )
    return _NFGENMSG.pack(family, 0, 0) + _nla(CTA_TUPLE_ORIG | NLA_F_NESTED, tuple_attr)


# --- connections and the record buffer ------------------------------------------------


@dataclass(slots=True)
class Side:
    """What one observer (client socket, server socket, conntrack) last saw."""

    state: str
    bytes_sent: int | None  # client to server
    bytes_received: int | None
    source: str
    process: str | None = None
    pid: int | None = None
    netns: int | None = None
    seen_poll: int = 0
    alive: bool = True


@dataclass(slots=True)
class Connection:
    """Everything known about one connection, merged from its observers."""

    conn_id: str
    proto: str
    family: int
    src_ip: str
    src_port: int
    dst_ip: str
    dst_port: int
    first_seen: float
    last_seen: float
    client: Side | None = None
    server: Side | None = None
    conntrack: Side | None = None
    nat_dst: tuple[str, int] | None = None
    nat_src: tuple[str, int] | None = None
    reply_key: tuple[str, str, int, str, int] | None = None
    emitted: tuple[Any, ...] | None = None
    last_emit: float = 0.0


def is_loopback(ip: str) -> bool:
    return ip.startswith("127.") or ip == "::1"


def connection_id(
    proto: str, src_ip: str, src_port: int, dst_ip: str, dst_port: int, netns: int | None
) -> str:
    """The id both ends and conntrack agree on; loopback ids are per namespace."""
    fmt_src = f"[{src_ip}]" if ":" in src_ip else src_ip
    fmt_dst = f"[{dst_ip}]" if ":" in dst_ip else dst_ip
    conn_id = f"{proto}:{fmt_src}:{src_port}>{fmt_dst}:{dst_port}"
    if netns is not None and (is_loopback(src_ip) or is_loopback(dst_ip)):
        conn_id += f"@{netns}"
    return conn_id


class RecordBuffer:
    """Bounded, numbered records; the oldest are dropped and counted when full."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: collections.deque[bytes] = collections.deque(maxlen=capacity)
        self.last_seq = 0
        self.dropped = 0

    def next_seq(self) -> int:
        return self.last_seq + 1

    def append(self, encoded: bytes) -> None:
        if len(self._items) == self.capacity:
            self.dropped += 1
        self._items.append(encoded)
        self.last_seq += 1

    @property
    def used(self) -> int:
        return len(self._items)

    @property
    def oldest_seq(self) -> int:
        return self.last_seq - len(self._items) + 1

    def page(self, after: int, limit: int) -> list[bytes]:
        start = max(0, after + 1 - self.oldest_seq)
        return list(itertools.islice(self._items, start, start + limit))


@dataclass
class AgentConfig:
    node: str
    proc_root: str = "/proc"
    host_netns: str = "/proc/1/ns/net"
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S
    buffer_records: int = DEFAULT_BUFFER_RECORDS
    refresh_interval_s: float = DEFAULT_REFRESH_INTERVAL_S
    conntrack_resync_s: float = DEFAULT_CONNTRACK_RESYNC_S
    use_conntrack: bool = True
    use_sock_diag: bool = True


@dataclass
class NamespaceState:
    """Per-namespace cache kept between polls."""

    inode: int
    sock: socket.socket | None = None
    sock_error: str | None = None
    owners: dict[int, tuple[int, str | None]] = field(default_factory=dict)


class Agent:
    """Collects connections from sockets and conntrack into numbered records."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.generation = secrets.token_hex(8)
        self.started_at = time.time()
        self.lock = threading.Lock()
        self.buffer = RecordBuffer(config.buffer_records)
        self.connections: dict[str, Connection] = {}
        self.reply_index: dict[tuple[str, str, int, str, int], str] = {}
        self.namespaces: dict[int, NamespaceState] = {}
        self.poll_count = 0
        self.last_error: str | None = None
        self.sock_diag_ok: bool | None = None
        self.procfs_namespaces = 0
        self.conntrack_ok = False
        self.conntrack_error: str | None = None
        self.conntrack_events = 0
        self.conntrack_overruns = 0
        self.host_netns_inode: int | None = None
        self.stop_event = threading.Event()
        self._ct_dump_sock: socket.socket | None = None
        self._ct_event_sock: socket.socket | None = None
        self._ct_resync_due = 0.0
        self._threads: list[threading.Thread] = []

    # -- lifecycle

    def start(self) -> None:
        if self.config.use_conntrack:
            self._open_conntrack()
        else:
            self.conntrack_error = "conntrack disabled by --conntrack off"
        poller = threading.Thread(target=self._poll_loop, name="netsight-poll", daemon=True)
        self._threads.append(poller)
        poller.start()

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self._threads:
            thread.join(timeout=10)
        for sock in (self._ct_dump_sock, self._ct_event_sock):
            if sock is not None:
                sock.close()
        for state in self.namespaces.values():
            if state.sock is not None:
                state.sock.close()

    def _poll_loop(self) -> None:
        while not self.stop_event.is_set():
            started = time.monotonic()
            try:
                self.poll()
            except Exception as error:  # noqa: BLE001 - one bad poll must not end the agent
                logger.exception("Poll failed; trying again next interval.")
                self.last_error = f"poll failed: {error}"
            elapsed = time.monotonic() - started
            self.stop_event.wait(max(0.0, self.config.poll_interval_s - elapsed))

    # -- conntrack

    def _open_conntrack(self) -> None:
        path = self.config.host_netns
        try:
            self.host_netns_inode = os.stat(path).st_ino
        except OSError as error:
            self._conntrack_unavailable(
                f"cannot open the host network namespace {path}: {error.strerror}"
            )
            return
        events = open_sockets_in_namespaces([path], NETLINK_NETFILTER, CONNTRACK_EVENT_GROUPS)[path]
        dump = open_sockets_in_namespaces([path], NETLINK_NETFILTER)[path]
        if isinstance(events, OSError) or isinstance(dump, OSError):
            failure = events if isinstance(events, OSError) else dump
            assert isinstance(failure, OSError)
            for sock in (events, dump):
                if isinstance(sock, socket.socket):
                    sock.close()
            self._conntrack_unavailable(
                f"cannot open ctnetlink in {path}: {failure.strerror or failure}"
            )
            return
        try:
            events.setsockopt(socket.SOL_SOCKET, 33, CONNTRACK_RCVBUF_BYTES)  # SO_RCVBUFFORCE
        except OSError:
            events.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CONNTRACK_RCVBUF_BYTES)
        events.settimeout(0.5)
        self._ct_dump_sock, self._ct_event_sock = dump, events
        try:
            self._conntrack_dump()
        except OSError as error:
            self._ct_dump_sock = self._ct_event_sock = None
            dump.close()
            events.close()
            self._conntrack_unavailable(
                f"conntrack dump in {path} failed: {error.strerror or error}"
            )
            return
        self.conntrack_ok = True
        thread = threading.Thread(
            target=self._conntrack_events, name="netsight-conntrack", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _conntrack_unavailable(self, reason: str) -> None:
        self.conntrack_ok = False
        self.conntrack_error = reason
        self.last_error = reason
        logger.warning("%s; going on with sockets only.", reason)

    def _conntrack_dump(self) -> None:
        sock = self._ct_dump_sock
        if sock is None:
            return
        msg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET
        entries = []
        for _mtype, data, start, end in netlink_dump(sock, msg_type, conntrack_dump_request()):
            entry = parse_ct_message(data, start, end)
            if entry is not None:
                entries.append(entry)
        now = time.time()
        with self.lock:
            live = set()
            for entry in entries:
                live.add(self._apply_ct(entry, now))
            # Entries gone from the table without a DESTROY we heard of.
            for conn in self.connections.values():
                side = conn.conntrack
                if side is not None and side.alive and conn.conn_id not in live:
                    side.alive = False
                    side.state = CLOSED
        self._ct_resync_due = time.monotonic() + self.config.conntrack_resync_s

    def _conntrack_events(self) -> None:
        sock = self._ct_event_sock
        assert sock is not None
        touched: set[str] = set()
        last_flush = 0.0
        while not self.stop_event.is_set():
            try:
                data = sock.recv(RECV_BUFFER_BYTES)
            except TimeoutError:
                data = b""
            except OSError as error:
                if error.errno == errno.ENOBUFS:
                    # The kernel dropped events: resync from a full dump.
                    self.conntrack_overruns += 1
                    self._ct_resync_due = 0.0
                    continue
                if self.stop_event.is_set():
                    return
                self._conntrack_unavailable(f"conntrack events stopped: {error}")
                return
            now = time.time()
            entries: list[CtEntry] = []
            for mtype, start, end in iter_messages(data):
                if mtype >> 8 != NFNL_SUBSYS_CTNETLINK:
                    continue
                kind = mtype & 0xFF
                if kind not in (IPCTNL_MSG_CT_NEW, IPCTNL_MSG_CT_DELETE):
                    continue
                entry = parse_ct_message(data, start, end, destroyed=kind == IPCTNL_MSG_CT_DELETE)
                if entry is not None:
                    entries.append(entry)
            with self.lock:
                self.conntrack_events += len(entries)
                for entry in entries:
                    touched.add(self._apply_ct(entry, now))
                # Coalesced: a connection's NEW, UPDATEs and DESTROY within
                # one flush interval become one record, not four.
                if touched and now - last_flush >= CONNTRACK_FLUSH_INTERVAL_S:
                    conns = [self.connections[c] for c in touched if c in self.connections]
                    self._flush(now, conns, None)
                    touched.clear()
                    last_flush = now

    def _refresh_udp_counters(self) -> None:
        """Ask conntrack for the bytes of live UDP connections (sockets have none).

        Conntrack sends no event when counters move, so each UDP connection
        whose socket is still open, or whose bytes are still unknown, is read
        by its tuple; the rest get their final bytes with the DESTROY event.
        """
        sock = self._ct_dump_sock
        if sock is None:
            return
        with self.lock:
            wanted = [
                (conn.src_ip, conn.src_port, conn.dst_ip, conn.dst_port)
                for conn in self.connections.values()
                if conn.proto == "udp"
                and conn.conntrack is not None
                and conn.conntrack.alive
                and (
                    conn.conntrack.bytes_sent is None
                    or any(s is not None and s.alive for s in (conn.client, conn.server))
                )
            ][:MAX_UDP_COUNTER_QUERIES]
        msg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET
        entries = []
        for tup in wanted:
            request = conntrack_get_request(socket.IPPROTO_UDP, *tup)
            sock.send(_NLMSGHDR.pack(16 + len(request), msg_type, NLM_F_REQUEST, 2, 0) + request)
            data = sock.recv(RECV_BUFFER_BYTES)
            for mtype, start, end in iter_messages(data):
                if mtype >> 8 == NFNL_SUBSYS_CTNETLINK:
                    entry = parse_ct_message(data, start, end)
                    if entry is not None:
                        entries.append(entry)
        now = time.time()
        with self.lock:
            for entry in entries:
                self._apply_ct(entry, now)

    def _apply_ct(self, entry: CtEntry, now: float) -> str:
        """Fold one conntrack entry into its connection; caller holds the lock."""
        proto = PROTO_NAMES[entry.proto]
        family = 6 if ":" in entry.src_ip else 4
        conn_id = connection_id(
            proto, entry.src_ip, entry.src_port, entry.dst_ip, entry.dst_port, self.host_netns_inode
        )
        conn = self.connections.get(conn_id)
        if conn is None:
            conn = self.connections[conn_id] = Connection(
                conn_id,
                proto,
                family,
                entry.src_ip,
                entry.src_port,
                entry.dst_ip,
                entry.dst_port,
                now,
                now,
            )
        conn.last_seen = now
        side = conn.conntrack
        if side is None:
            side = conn.conntrack = Side(
                entry.state, None, None, "conntrack", netns=self.host_netns_inode
            )
        side.state = entry.state
        side.alive = not entry.destroyed
        if entry.bytes_orig is not None:
            side.bytes_sent = entry.bytes_orig
        if entry.bytes_reply is not None:
            side.bytes_received = entry.bytes_reply
        # Reply tuple: where the packets really went (DNAT) and came from (SNAT).
        if (entry.reply_src_ip, entry.reply_src_port) != (entry.dst_ip, entry.dst_port):
            conn.nat_dst = (entry.reply_src_ip, entry.reply_src_port)
        if (entry.reply_dst_ip, entry.reply_dst_port) != (entry.src_ip, entry.src_port):
            conn.nat_src = (entry.reply_dst_ip, entry.reply_dst_port)
        key = (
            proto,
            entry.reply_src_ip,
            entry.reply_src_port,
            entry.reply_dst_ip,
            entry.reply_dst_port,
        )
        if conn.reply_key is None:
            conn.reply_key = key
            self.reply_index[key] = conn_id
        return conn_id

    # -- sockets

    def poll(self) -> None:
        """Read every namespace's sockets once and emit what changed."""
        config = self.config
        if self.conntrack_ok and time.monotonic() >= self._ct_resync_due:
            try:
                self._conntrack_dump()
            except OSError as error:
                self.last_error = f"conntrack resync failed: {error}"
                logger.warning("Conntrack resync failed: %s; trying again next poll.", error)

        if self.conntrack_ok:
            self._refresh_udp_counters()

        found = find_namespaces(config.proc_root)
        self._sync_namespace_sockets(found)

        observations: list[tuple[Namespace, list[SocketEntry], str]] = []
        failed: set[int] = set()
        diag_ok = diag_tried = 0
        procfs = 0
        for inode, namespace in found.items():
            try:
                entries, source = self._read_namespace(namespace)
            except OSError as error:
                failed.add(inode)
                logger.debug("Reading sockets of namespace %d failed: %s", inode, error)
                continue
            if source == "sockdiag":
                diag_ok += 1
            else:
                procfs += 1
            diag_tried += 1
            observations.append((namespace, entries, source))
        if config.use_sock_diag and diag_tried:
            self.sock_diag_ok = diag_ok > 0
        elif not config.use_sock_diag:
            self.sock_diag_ok = False
        self.procfs_namespaces = procfs

        now = time.time()
        with self.lock:
            self.poll_count += 1
            for namespace, entries, source in observations:
                self._apply_sockets(namespace, entries, source, now)
            self._flush(now, list(self.connections.values()), failed)

    def _sync_namespace_sockets(self, found: dict[int, Namespace]) -> None:
        for inode in list(self.namespaces):
            if inode not in found:
                state = self.namespaces.pop(inode)
                if state.sock is not None:
                    state.sock.close()  # lets a deleted namespace go
        new = [inode for inode in found if inode not in self.namespaces]
        for inode in new:
            self.namespaces[inode] = NamespaceState(inode)
        if not new or not self.config.use_sock_diag:
            return
        paths = {f"{self.config.proc_root}/{found[inode].pids[0]}/ns/net": inode for inode in new}
        for path, result in open_sockets_in_namespaces(paths, NETLINK_SOCK_DIAG).items():
            state = self.namespaces[paths[path]]
            if isinstance(result, OSError):
                state.sock_error = f"{path}: {result.strerror or result}"
                logger.info(
                    "sock_diag unavailable in namespace %d (%s); reading /proc instead.",
                    state.inode,
                    state.sock_error,
                )
            else:
                state.sock = result

    def _read_namespace(self, namespace: Namespace) -> tuple[list[SocketEntry], str]:
        state = self.namespaces[namespace.inode]
        entries: list[SocketEntry] = []
        if state.sock is not None:
            try:
                for family in (socket.AF_INET, socket.AF_INET6):
                    for proto in (socket.IPPROTO_TCP, socket.IPPROTO_UDP):
                        entries.extend(read_sock_diag(state.sock, family, proto))
                return entries, "sockdiag"
            except OSError as error:
                state.sock_error = f"sock_diag failed: {error}"
                logger.info(
                    "sock_diag refused in namespace %d (%s); reading /proc instead.",
                    namespace.inode,
                    error,
                )
                state.sock.close()
                state.sock = None
                entries = []
        last_error: OSError | None = None
        for pid in namespace.pids[:3]:  # the first may have exited since the scan
            try:
                for family in (socket.AF_INET, socket.AF_INET6):
                    for proto in (socket.IPPROTO_TCP, socket.IPPROTO_UDP):
                        entries.extend(read_proc_net(self.config.proc_root, pid, family, proto))
                return entries, "procfs"
            except OSError as error:
                last_error, entries = error, []
        raise last_error or OSError(errno.ENOENT, "no process left in namespace")

    def _apply_sockets(
        self, namespace: Namespace, entries: list[SocketEntry], source: str, now: float
    ) -> None:
        """Fold one namespace's sockets into connections; caller holds the lock."""
        listening: set[tuple[int, str, int]] = set()
        connected: list[SocketEntry] = []
        for entry in entries:
            if entry.proto == socket.IPPROTO_TCP:
                if entry.state == TCP_LISTEN:
                    listening.add((entry.proto, entry.local_ip, entry.local_port))
                    continue
            elif entry.remote_port == 0:  # UDP bound, not connected: a server port
                listening.add((entry.proto, entry.local_ip, entry.local_port))
                continue
            if entry.remote_port == 0:
                continue
            connected.append(entry)

        owners = self._owners(namespace, connected)
        for entry in connected:
            proto = PROTO_NAMES[entry.proto]
            is_server = (entry.proto, entry.local_ip, entry.local_port) in listening or (
                (entry.proto, "0.0.0.0", entry.local_port) in listening
                or (entry.proto, "::", entry.local_port) in listening
            )
            acked, received = entry.bytes_acked, entry.bytes_received
            # tcp_info counts the SYN an active opener sent and each FIN
            # (ours once acked, the peer's once received); take them out.
            if acked is not None and received is not None:
                if not is_server and acked:
                    acked -= 1
                if entry.state in FIN_ACKED_STATES and acked:
                    acked -= 1
                if entry.state in FIN_RECEIVED_STATES and received:
                    received -= 1
            if is_server:
                key = (proto, entry.local_ip, entry.local_port, entry.remote_ip, entry.remote_port)
                conn_id = self.reply_index.get(key)
                src_ip, src_port = entry.remote_ip, entry.remote_port
                dst_ip, dst_port = entry.local_ip, entry.local_port
                sent, received = received, acked
            else:
                conn_id = None
                src_ip, src_port = entry.local_ip, entry.local_port
                dst_ip, dst_port = entry.remote_ip, entry.remote_port
                sent = acked
            if conn_id is None:
                conn_id = connection_id(proto, src_ip, src_port, dst_ip, dst_port, namespace.inode)
            conn = self.connections.get(conn_id)
            if conn is None:
                family = 6 if ":" in src_ip else 4
                conn = self.connections[conn_id] = Connection(
                    conn_id, proto, family, src_ip, src_port, dst_ip, dst_port, now, now
                )
            conn.last_seen = now
            if entry.proto == socket.IPPROTO_TCP:
                state = TCP_STATES.get(entry.state, str(entry.state))
            else:
                state = "CONNECTED"
            side = conn.server if is_server else conn.client
            if side is None:
                side = Side(state, sent, received, source, netns=namespace.inode)
                if is_server:
                    conn.server = side
                else:
                    conn.client = side
            side.state, side.source, side.alive = state, source, True
            side.seen_poll = self.poll_count
            side.netns = namespace.inode
            # TIME_WAIT sockets have no counters: keep the last ones seen.
            if sent is not None:
                side.bytes_sent = sent
            if received is not None:
                side.bytes_received = received
            owner = owners.get(entry.inode) if entry.inode else None
            if owner is not None:
                side.pid, side.process = owner

    def _owners(
        self, namespace: Namespace, entries: list[SocketEntry]
    ) -> dict[int, tuple[int, str | None]]:
        """Socket inode to (pid, process name), scanning fds only for new inodes."""
        state = self.namespaces[namespace.inode]
        live = {entry.inode for entry in entries if entry.inode}
        cached = state.owners
        for inode in [inode for inode in cached if inode not in live]:
            del cached[inode]
        unknown = live.difference(cached)
        if unknown:
            names: dict[int, str | None] = {}
            for inode, pid in socket_owners(self.config.proc_root, namespace.pids, unknown).items():
                if pid not in names:
                    names[pid] = process_name(self.config.proc_root, pid)
                cached[inode] = (pid, names[pid])
        return cached

    # -- records

    def _flush(
        self, now: float, conns: list[Connection], failed_namespaces: set[int] | None
    ) -> None:
        """Emit changed connections and close those no observer sees any more.

        After a poll (failed_namespaces given) sockets not seen in it are
        gone; between polls (conntrack events) only conntrack changed.
        Caller holds the lock.
        """
        poll = self.poll_count
        refresh = self.config.refresh_interval_s
        finished = []
        for conn in conns:
            for side in (conn.client, conn.server):
                if (
                    failed_namespaces is not None
                    and side is not None
                    and side.alive
                    and side.seen_poll != poll
                    and side.netns not in failed_namespaces
                ):
                    side.alive = False
                    side.state = CLOSED
            alive = any(
                s is not None and s.alive for s in (conn.client, conn.server, conn.conntrack)
            )
            if not alive:
                finished.append(conn)
            snapshot = self._snapshot(conn)
            if snapshot != conn.emitted or (alive and now - conn.last_emit >= refresh):
                self._emit(conn, snapshot, now)
        for conn in finished:
            del self.connections[conn.conn_id]
            if conn.reply_key is not None and self.reply_index.get(conn.reply_key) == conn.conn_id:
                del self.reply_index[conn.reply_key]

    def _snapshot(self, conn: Connection) -> tuple[Any, ...]:
        client, server, ct = conn.client, conn.server, conn.conntrack
        observer = (
            "client" if client is not None else "server" if server is not None else "conntrack"
        )
        main = client or server or ct
        assert main is not None
        peer = server if client is not None else None
        sent, received = main.bytes_sent, main.bytes_received
        for other in (server, ct):
            if sent is None and other is not None:
                sent, received = other.bytes_sent, other.bytes_received
        alive = any(s is not None and s.alive for s in (client, server, ct))
        state = main.state if alive or main.state == CLOSED else CLOSED
        if not main.alive and alive:
            # The observer's socket is gone but another still sees it.
            state = next(s.state for s in (client, server, ct) if s is not None and s.alive)
        nat_dst = conn.nat_dst or (None, None)
        nat_src = conn.nat_src or (None, None)
        return (
            observer,
            main.source,
            state,
            sent,
            received,
            main.process,
            main.pid,
            main.netns,
            peer.process if peer else None,
            peer.pid if peer else None,
            peer.netns if peer else None,
            *nat_dst,
            *nat_src,
        )

    def _emit(self, conn: Connection, snapshot: tuple[Any, ...], now: float) -> None:
        (
            observer,
            source,
            state,
            sent,
            received,
            process,
            pid,
            netns,
            peer_process,
            peer_pid,
            peer_netns,
            nat_dst_ip,
            nat_dst_port,
            nat_src_ip,
            nat_src_port,
        ) = snapshot
        record = {
            "seq": self.buffer.next_seq(), "conn_id": conn.conn_id, "node": self.config.node,
            "generation": self.generation, "proto": conn.proto, "family": conn.family,
            "src_ip": conn.src_ip, "src_port": conn.src_port,
            "dst_ip": conn.dst_ip, "dst_port": conn.dst_port,
            "nat_dst_ip": nat_dst_ip, "nat_dst_port": nat_dst_port,
            "nat_src_ip": nat_src_ip, "nat_src_port": nat_src_port,
            "observer": observer, "source": source, "state": state,
            "bytes_sent": sent, "bytes_received": received,
            "process": process, "pid": pid, "netns": netns,
            "peer_process": peer_process, "peer_pid": peer_pid, "peer_netns": peer_netns,
            "first_seen": round(conn.first_seen, 3), "last_seen": round(conn.last_seen, 3),
        }  # fmt: skip
        self.buffer.append(json.dumps(record, separators=(",", ":")).encode())
        conn.emitted = snapshot
        conn.last_emit = now

    # -- views for HTTP

    def records_page(self, after: int, limit: int) -> bytes:
        with self.lock:
            items = self.buffer.page(after, limit)
            head = {
                "node": self.config.node, "generation": self.generation,
                "oldest_seq": self.buffer.oldest_seq, "last_seq": self.buffer.last_seq,
                "dropped": self.buffer.dropped,
            }  # fmt: skip
        prefix = json.dumps(head, separators=(",", ":"))[:-1].encode()
        return prefix + b',"records":[' + b",".join(items) + b"]}"

    def status(self) -> dict[str, Any]:
        with self.lock:
            return {
                "version": AGENT_VERSION,
                "generation": self.generation,
                "node": self.config.node,
                "buffer_used": self.buffer.used,
                "buffer_capacity": self.buffer.capacity,
                "dropped": self.buffer.dropped,
                "last_seq": self.buffer.last_seq,
                "conntrack": self.conntrack_ok,
                "conntrack_error": self.conntrack_error,
                "conntrack_events": self.conntrack_events,
                "conntrack_overruns": self.conntrack_overruns,
                "sock_diag": bool(self.sock_diag_ok),
                "procfs_namespaces": self.procfs_namespaces,
                "namespaces": len(self.namespaces),
                "connections": len(self.connections),
                "polls": self.poll_count,
                "last_error": self.last_error,
                "poll_interval_s": self.config.poll_interval_s,
                "started_at": self.started_at,
            }


# --- HTTP ----------------------------------------------------------------------------


class AgentHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    agent: Agent


class AgentRequestHandler(BaseHTTPRequestHandler):
    server: AgentHTTPServer
    server_version = f"netsight-agent/{AGENT_VERSION}"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        url = urllib.parse.urlsplit(self.path)
        agent = self.server.agent
        if url.path == "/v1/status":
            self._send(200, json.dumps(agent.status()).encode())
        elif url.path == "/v1/records":
            query = urllib.parse.parse_qs(url.query)
            try:
                after = int(query.get("after", ["0"])[-1])
                limit = int(query.get("limit", [str(DEFAULT_PAGE_RECORDS)])[-1])
            except ValueError:
                self._error(400, "after and limit must be integers")
                return
            if after < 0 or limit < 1:
                self._error(400, "after must be >= 0 and limit >= 1")
                return
            self._send(200, agent.records_page(after, min(limit, MAX_PAGE_RECORDS)))
        elif url.path == "/healthz":
            self._send(200, b'{"ok":true}')
        else:
            self._error(404, f"no such path {url.path}; try /v1/records or /v1/status")

    def _error(self, code: int, message: str) -> None:
        self._send(code, json.dumps({"error": message}).encode())

    def _send(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        logger.debug("%s %s", self.address_string(), format % args)


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--listen wants HOST:PORT, got {text!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def make_server(agent: Agent, listen: str) -> AgentHTTPServer:
    host, port = parse_listen(listen)
    server_class: type[AgentHTTPServer] = AgentHTTPServer
    if ":" in host:
        server_class = type(
            "AgentHTTPServer6", (AgentHTTPServer,), {"address_family": socket.AF_INET6}
        )
    server = server_class((host, port), AgentRequestHandler)
    server.agent = agent
    return server


# --- command line ----------------------------------------------------------------------


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agent.py", description="NetSight node agent.")
    parser.add_argument(
        "--listen",
        default=os.environ.get("NETSIGHT_LISTEN", "0.0.0.0:9100"),
        help="HOST:PORT to serve /v1/records and /v1/status on",
    )
    parser.add_argument(
        "--node",
        default=os.environ.get("NODE_NAME") or socket.gethostname(),
        help="node name put on every record (default: $NODE_NAME or hostname)",
    )
    parser.add_argument(
        "--host-netns",
        default=os.environ.get("NETSIGHT_HOST_NETNS", "/proc/1/ns/net"),
        help="network namespace file whose conntrack table is the node's",
    )
    parser.add_argument(
        "--proc-root",
        default=os.environ.get("NETSIGHT_PROC_ROOT", "/proc"),
        help="procfs of the host PID namespace",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=_env_float("NETSIGHT_POLL_INTERVAL", DEFAULT_POLL_INTERVAL_S),
        help="seconds between socket polls (env NETSIGHT_POLL_INTERVAL)",
    )
    parser.add_argument(
        "--buffer",
        type=int,
        default=int(_env_float("NETSIGHT_BUFFER", DEFAULT_BUFFER_RECORDS)),
        help="records kept for pulling; older ones are dropped and counted",
    )
    parser.add_argument(
        "--refresh-interval",
        type=float,
        default=DEFAULT_REFRESH_INTERVAL_S,
        help="seconds after which an unchanged live connection is re-emitted",
    )
    parser.add_argument(
        "--conntrack-resync",
        type=float,
        default=DEFAULT_CONNTRACK_RESYNC_S,
        help="seconds between full conntrack dumps (events fill the gaps)",
    )
    parser.add_argument("--conntrack", choices=("auto", "off"), default="auto")
    parser.add_argument(
        "--sockets",
        choices=("auto", "procfs"),
        default="auto",
        help="procfs: read /proc/<pid>/net instead of sock_diag",
    )
    parser.add_argument("--log-level", default=os.environ.get("NETSIGHT_LOG_LEVEL", "INFO"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.poll_interval <= 0 or args.buffer < 1:
        print("agent: --poll-interval must be > 0 and --buffer >= 1", file=sys.stderr)
        return 2
    config = AgentConfig(
        node=args.node,
        proc_root=args.proc_root,
        host_netns=args.host_netns,
        poll_interval_s=args.poll_interval,
        buffer_records=args.buffer,
        refresh_interval_s=args.refresh_interval,
        conntrack_resync_s=args.conntrack_resync,
        use_conntrack=args.conntrack == "auto",
        use_sock_diag=args.sockets == "auto",
    )
    agent = Agent(config)
    try:
        server = make_server(agent, args.listen)
    except (OSError, ValueError) as error:
        print(f"agent: cannot listen on {args.listen}: {error}", file=sys.stderr)
        return 2

    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        logger.info("Got signal %d; shutting down.", signum)
        stop.set()

    previous: dict[signal.Signals, Callable[..., Any] | int | None] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, on_signal)

    agent.start()
    serving = threading.Thread(target=server.serve_forever, name="netsight-http", daemon=True)
    serving.start()
    host, port = str(server.server_address[0]), int(server.server_address[1])
    shown = f"[{host}]" if ":" in host else host
    print(f"ready http://{shown}:{port} generation {agent.generation}", flush=True)
    logger.info(
        "Agent %s for node %s serving on %s:%s (poll every %.1f s, conntrack %s).",
        agent.generation,
        config.node,
        host,
        port,
        config.poll_interval_s,
        "on" if agent.conntrack_ok else f"off: {agent.conntrack_error}",
    )
    try:
        while not stop.wait(1.0):
            pass
    finally:
        server.shutdown()
        server.server_close()
        agent.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    logger.info("Agent stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
