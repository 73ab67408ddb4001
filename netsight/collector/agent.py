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
  ``/proc/<pid>/fd`` of that namespace's processes, and the server process
  of a UDP exchange from the socket bound where it went (a UDP server
  socket has no peer of its own);
- leaves a namespace's TCP sockets unread while its TCP counters
  (``/proc/<pid>/net/snmp``) show no segment in or out since the last read,
  so idle sockets cost next to nothing (a full read still comes every
  ``QUIET_POLLS_MAX + 1`` polls);
- reads the node's conntrack table over ctnetlink (a dump at start, then
  NEW/UPDATE/DESTROY events), so connections shorter than a poll are seen,
  a connection to a Service ClusterIP is tied to the backend it was
  translated to, and source NAT is recognised.

One record per connection, re-emitted with a new sequence number whenever it
changes (and every ``--refresh-interval`` while it lives), into a bounded
buffer (kept compressed) served at ``GET /v1/records?after=SEQ&limit=N``;
``GET /v1/status`` says what works. What the buffer had to drop is counted,
never silent.

Privileges it uses (for the DaemonSet): host PID namespace; CAP_SYS_ADMIN
(``setns`` into other network namespaces), CAP_SYS_PTRACE (read other
processes' ``ns/net`` and ``fd`` links), CAP_NET_ADMIN (ctnetlink). It writes
no files.

Bytes: TCP bytes are payload bytes from ``tcp_info`` (``bytes_acked``,
``bytes_received``). UDP sockets carry no byte counters in the kernel, so
UDP bytes come from conntrack (payload: the fixed headers are taken out),
only where the node counts them (``nf_conntrack_acct=1``), else they are
null. TCP connections seen by conntrack alone carry IP-level bytes, read
once they end (events carry counters only on DESTROY, minutes later).
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
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

logger = logging.getLogger("netsight.agent")

AGENT_VERSION = "0.1.0"

# Five seconds keeps 20,000 sockets under 2 % of one core; shorter
# connections are still seen through conntrack events.
DEFAULT_POLL_INTERVAL_S = 5.0
# A record is ~500 bytes of JSON, kept compressed (RecordBuffer): 50,000 take ~5 MiB.
DEFAULT_BUFFER_RECORDS = 50_000
# An idle connection is re-emitted this often so the desktop's last_seen moves.
DEFAULT_REFRESH_INTERVAL_S = 120.0
# Conntrack is read once at start and then through events; a full re-dump
# this often catches anything the events missed (and after every overrun).
DEFAULT_CONNTRACK_RESYNC_S = 300.0
# Records are compressed this many at a time in the buffer (zlib level 1: fast,
# and JSON records that repeat each other's keys shrink about tenfold anyway).
CHUNK_RECORDS = 256
CHUNK_COMPRESSION = 1
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
# A namespace whose TCP counters did not move keeps its TCP sockets unread for
# at most this many polls in a row: a full read now and then, whatever happens.
QUIET_POLLS_MAX = 11
# A namespace no process is in is remembered this long (TIME_WAIT lasts 60 s).
DORMANT_KEEP_S = 120.0
# Polls in which a socket's owning process is looked for before giving up.
OWNER_TRIES = 3
# Connections whose conntrack bytes are read by tuple each poll, at most.
MAX_COUNTER_QUERIES = 2000
# Conntrack-only TCP connections that just ended, read at once, per event batch.
MAX_PROMPT_COUNTER_QUERIES = 256
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
# Conntrack TCP states after which no more payload flows: counters are final.
CT_FINAL_STATES = frozenset({"TIME_WAIT", "CLOSE"})

_NLMSGHDR = struct.Struct("=IHHII")
_NLATTR = struct.Struct("=HH")
_DIAG_REQ = struct.Struct("=BBBBI48x")
_DIAG_MSG = struct.Struct("=BBBBHH16s16sI8xIIIII")
_TCPI_BYTES = struct.Struct("=QQ")
_NFGENMSG = struct.Struct("=BBH")
_BE16 = struct.Struct("!H")
_BE32 = struct.Struct("!I")
_U32 = struct.Struct("=I")
_NL_LEN_TYPE = struct.Struct("=IH")
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


def socket_owners(
    proc_root: str, pids: Iterable[int], wanted: set[int], cache: dict[int, dict[str, int]]
) -> dict[int, int]:
    """Map socket inodes in wanted to the pid holding them, from /proc/<pid>/fd.

    cache remembers each pid's fd -> socket inode so only new fds are read
    (a readlink each); if a wanted inode is still missing, fds may have been
    reused, so the cached ones are read again once.
    """
    pids = list(pids)
    owners = _scan_fds(proc_root, pids, wanted, cache, trust_cache=True)
    if len(owners) < len(wanted):
        owners.update(_scan_fds(proc_root, pids, wanted - owners.keys(), cache, trust_cache=False))
    for pid in [pid for pid in cache if pid not in pids]:
        del cache[pid]
    return owners


def _scan_fds(
    proc_root: str,
    pids: list[int],
    wanted: set[int],
    cache: dict[int, dict[str, int]],
    trust_cache: bool,
) -> dict[int, int]:
    owners: dict[int, int] = {}
    for pid in pids:
        fd_dir = f"{proc_root}/{pid}/fd"
        try:
            names = os.listdir(fd_dir)
        except OSError:
            continue
        known = cache.get(pid, {}) if trust_cache else {}
        fresh: dict[str, int] = {}
        for name in names:
            inode = known.get(name)
            if inode is None:
                try:
                    target = os.readlink(f"{fd_dir}/{name}")
                except OSError:
                    continue
                inode = int(target[8:-1]) if target.startswith("socket:[") else 0
            fresh[name] = inode
            if inode in wanted and inode not in owners:
                owners[inode] = pid
        cache[pid] = fresh
    return owners


def socket_stats(proc_root: str, pid: int) -> tuple[dict[tuple[int, int], int], str | None]:
    """Open sockets per (family, protocol) in pid's namespace, and its TCP activity.

    The counts come from net/sockstat{,6}. NB: a sock_diag dump walks the
    kernel's established-socket hash, which is shared by all namespaces
    (milliseconds each, even for an empty one), so dumps of protocols a
    namespace does not use are skipped. TIME_WAIT sockets are not counted
    there, so they go unseen where nothing else is open.

    The activity is the namespace's own TCP counters (net/snmp: segments in
    and out, opens, resets, ...) with its TCP socket and TIME_WAIT counts:
    while it stays the same, no TCP socket there changed state or moved a
    byte (both take a segment; a TIME_WAIT that ends changes its count), so
    the namespace's TCP sockets need not be read again. None if unreadable.
    A namespace whose counts cannot be read is dumped in full.
    """
    counts: dict[tuple[int, int], int] = {}
    names = {
        "TCP:": (socket.AF_INET, socket.IPPROTO_TCP), "UDP:": (socket.AF_INET, socket.IPPROTO_UDP),
        "TCP6:": (socket.AF_INET6, socket.IPPROTO_TCP),
        "UDP6:": (socket.AF_INET6, socket.IPPROTO_UDP),
    }  # fmt: skip
    activity: list[str] | None = []
    for name in ("sockstat", "sockstat6", "snmp"):
        try:
            with open(f"{proc_root}/{pid}/net/{name}", encoding="ascii") as file:
                for line in file:
                    words = line.split()
                    if len(words) >= 3 and words[0] in names and words[1] == "inuse":
                        counts[names[words[0]]] = int(words[2])
                        if words[0].startswith("TCP") and activity is not None:
                            # inuse and tw are this namespace's; orphan, alloc, mem the host's.
                            tw = words[words.index("tw") + 1] if "tw" in words else ""
                            activity += (words[0], words[2], tw)
                    elif words and words[0] == "Tcp:" and words[1].isdigit():
                        if activity is not None:
                            activity.append(line)
        except (OSError, ValueError):
            if name == "snmp":
                activity = None
            continue
    return counts, " ".join(activity) if activity and activity[-1].startswith("Tcp:") else None


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
                raise_for_error(data, start)
                continue
            yield mtype, data, start, end


def raise_for_error(data: bytes, start: int) -> None:
    """Raise the error an NLMSG_ERROR message at start carries (none: an acknowledgement)."""
    code = struct.unpack_from("=i", data, start)[0]
    if code:
        raise NetlinkError(-code, os.strerror(-code))


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


_ADDRESS_CACHE: dict[bytes, str] = {}
# Addresses are shared between sockets and connections; one string each.
ADDRESS_CACHE_LIMIT = 65536


def _address(family: int, raw: bytes) -> str:
    if family == socket.AF_INET:
        raw = raw[:4]
    text = _ADDRESS_CACHE.get(raw)
    if text is None:
        if family == socket.AF_INET:
            text = socket.inet_ntop(socket.AF_INET, raw[:4])
        else:
            text = normalise_ip(socket.inet_ntop(socket.AF_INET6, raw[:16]))
        if len(_ADDRESS_CACHE) >= ADDRESS_CACHE_LIMIT:
            _ADDRESS_CACHE.clear()
        _ADDRESS_CACHE[raw] = text
    return text


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


@dataclass(slots=True)
class Tracked:
    """A socket remembered between polls, so an unchanged one costs one lookup."""

    sig: bytes  # state and byte counters (as the kernel sent them): what moves when it does
    listen: tuple[int, str, int] | None = None
    is_server: bool = False
    side: Side | None = None
    conn: Connection | None = None
    inode: int = 0
    owner_tries: int = 0
    # Closed by the agent while it could not see the socket (see _retire); kept
    # so the socket's TIME_WAIT does not start a connection of its own.
    retired: bool = False
    # A UDP server socket's owner (pid, process name), once looked up.
    owner: tuple[int, str | None] | None = None


# (table key, socket key, signature, decoded socket, what was tracked before)
Changed = tuple[tuple[int, int], Any, Any, SocketEntry, Tracked | None]


@dataclass(slots=True)
class Scan:
    """One namespace's sockets as read this poll, before they are folded in."""

    namespace: Namespace
    tables: dict[tuple[int, int], dict[Any, Tracked]]
    changed: list[Changed]
    source: str  # "sockdiag" or "procfs"
    skipped: list[tuple[int, int]]  # tables not read: the namespace had no such socket open


def _decode_diag(data: bytes, start: int, proto: int, info: int) -> SocketEntry:
    fam, state, _t, _r, sport, dport, src, dst, _if, _exp, _rq, _wq, uid, inode = (
        _DIAG_MSG.unpack_from(data, start)
    )
    acked = received = None
    if info:
        acked, received = _TCPI_BYTES.unpack_from(data, info)
    return SocketEntry(proto, _address(fam, src), socket.ntohs(sport), _address(fam, dst),
                       socket.ntohs(dport), state, inode or None, acked, received, uid)  # fmt: skip


def scan_sock_diag(
    sock: socket.socket,
    family: int,
    proto: int,
    old: dict[Any, Tracked],
    new: dict[Any, Tracked],
    changed: list[Changed],
) -> None:
    """Dump one family and protocol through sock_diag.

    Sockets whose state and byte counters did not move since the last poll
    are carried over from old to new untouched (most of them, on a busy
    node); only new or changed ones are decoded and listed in changed.
    """
    ext = 1 << (INET_DIAG_INFO - 1) if proto == socket.IPPROTO_TCP else 0
    request = _DIAG_REQ.pack(family, proto, ext, 0, 0xFFFFFFFF)
    sock.send(_NLMSGHDR.pack(16 + len(request), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP,
                             1, 0) + request)  # fmt: skip
    # The hot loop of a poll (once per socket): only what tells whether a
    # socket moved is read here; only new or changed sockets are decoded.
    header, attr, word = _NL_LEN_TYPE.unpack_from, _NLATTR.unpack_from, _U32.unpack_from
    table = (family, proto)
    get = old.get
    # The attributes before INET_DIAG_INFO are the same for every socket of
    # a kind, so where it was last time (and its attribute header) is tried first.
    guess, expected = 72, -1
    while True:
        data = sock.recv(RECV_BUFFER_BYTES)
        if not data:
            return
        offset, size = 0, len(data)
        while offset + 16 <= size:
            length, mtype = header(data, offset)
            if length < 16 or offset + length > size:
                break
            start = offset + 16
            offset += (length + 3) & ~3
            if mtype != SOCK_DIAG_BY_FAMILY:
                if mtype == NLMSG_DONE:
                    return
                if mtype == NLMSG_ERROR:
                    raise_for_error(data, start)
                continue
            info = 0
            if ext:
                position = start + guess
                end = start + length - 16
                if position + 4 <= end and word(data, position)[0] == expected:
                    info = position + 4 + TCPI_BYTES_OFFSET
                else:
                    position = start + 72
                    while position + 4 <= end:
                        alen, atype = attr(data, position)
                        if alen < 4:
                            break
                        if atype & NLA_TYPE_MASK == INET_DIAG_INFO:
                            if alen - 4 >= TCPI_MIN_LEN:
                                info = position + 4 + TCPI_BYTES_OFFSET
                                guess, expected = position - start, word(data, position)[0]
                            break
                        position += (alen + 3) & ~3
            key = data[start + 4 : start + 40]
            counters = data[info : info + 16] if info else b""
            tracked = get(key)
            if tracked is not None:
                sig = tracked.sig
                if sig[0] == data[start + 1] and sig.endswith(counters):
                    new[key] = tracked
                    continue
            changed.append((table, key, data[start + 1 : start + 2] + counters,
                            _decode_diag(data, start, proto, info), tracked))  # fmt: skip


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
    alive: bool = True
    # Conntrack only: the bytes were read once the connection had ended.
    bytes_final: bool = False


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
    # UDP: (pid, process, netns) of the bound server socket the client addressed
    # (a UDP server socket has no peer, so it is never a side of its own).
    udp_server: tuple[int, str | None, int] | None = None
    hold_until_poll: int = 0
    # hash() of what the last record said (the tuple itself would cost ~160 bytes a
    # connection; a collision, which would skip one update, is a 1 in 2**64 chance).
    emitted: int = 0
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
    """Bounded, numbered records; the oldest are dropped and counted when full.

    Records are JSON. Every CHUNK_RECORDS of them are compressed together
    (records repeat each other's keys and most values, so a chunk keeps a
    fraction of its size): a full buffer of 50,000 records then takes a
    few MiB instead of about 30. Dropped records leave memory a chunk at a
    time; the last chunk read is kept decompressed for the next page.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.last_seq = 0
        self.dropped = 0
        self._used = 0
        # (first seq, records, compressed "\n"-joined records), oldest first.
        self._sealed: collections.deque[tuple[int, int, bytes]] = collections.deque()
        self._open: collections.deque[bytes] = collections.deque()  # the newest, as they came
        self._sealed_bytes = 0
        self._cache: tuple[int, list[bytes]] = (0, [])  # (first seq, records) of the last read

    def next_seq(self) -> int:
        return self.last_seq + 1

    def append(self, encoded: bytes) -> None:
        self._open.append(encoded)
        self.last_seq += 1
        self._used += 1
        if len(self._open) >= CHUNK_RECORDS:
            packed = zlib.compress(b"\n".join(self._open), CHUNK_COMPRESSION)
            self._sealed.append((self.last_seq - len(self._open) + 1, len(self._open), packed))
            self._sealed_bytes += len(packed)
            self._open.clear()
        if self._used > self.capacity:
            self._used -= 1
            self.dropped += 1
            if self._sealed:
                first, count, packed = self._sealed[0]
                if self.oldest_seq >= first + count:  # nothing left of the oldest chunk
                    self._sealed.popleft()
                    self._sealed_bytes -= len(packed)
            else:
                self._open.popleft()

    @property
    def used(self) -> int:
        return self._used

    @property
    def stored_bytes(self) -> int:
        """Memory the records take (compressed chunks plus the open one), roughly."""
        return self._sealed_bytes + sum(map(len, self._open))

    @property
    def oldest_seq(self) -> int:
        return self.last_seq - self._used + 1

    def page(self, after: int, limit: int) -> list[bytes]:
        seq = max(after + 1, self.oldest_seq)
        items: list[bytes] = []
        for first, count, packed in self._sealed:
            if len(items) >= limit:
                return items
            if seq >= first + count:
                continue
            if self._cache[0] != first:
                self._cache = (first, zlib.decompress(packed).split(b"\n"))
            records = self._cache[1]
            items += records[seq - first : seq - first + limit - len(items)]
            seq = first + count
        open_first = self.last_seq - len(self._open) + 1
        start = max(0, seq - open_first)
        items += itertools.islice(self._open, start, start + limit - len(items))
        return items


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
    tables: dict[tuple[int, int], dict[Any, Tracked]] = field(default_factory=dict)
    fd_cache: dict[int, dict[str, int]] = field(default_factory=dict)
    unowned: list[Tracked] = field(default_factory=list)
    listening: set[tuple[int, str, int]] = field(default_factory=set)
    # Bound, unconnected UDP sockets by (local ip, port), and the namespace's own
    # addresses (read only where such a socket is, and again when they change).
    udp_servers: dict[tuple[str, int], Tracked] = field(default_factory=dict)
    addresses: frozenset[str] = frozenset()
    pids: list[int] = field(default_factory=list)
    # TCP activity when its sockets were last read (see socket_stats), and the
    # polls since that found it quiet and did not read them.
    tcp_activity: str | None = None
    quiet_polls: int = 0


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
        # Connections changed since records were last emitted.
        self.dirty: set[str] = set()
        # (when, connection) per record emitted, oldest first: what is due for a refresh.
        self.emit_log: collections.deque[tuple[float, Connection]] = collections.deque()
        # Connections whose conntrack byte counters may be wanted (see _counters_wanted).
        self.counter_watch: set[str] = set()
        # UDP connections whose server process is not known yet (see _attribute_udp_servers),
        # and which namespaces with UDP server sockets hold each address.
        self.udp_unattributed: set[str] = set()
        self.address_namespaces: dict[str, list[int]] = {}
        # Server sockets waiting one poll for their conntrack entry.
        self.pending: list[tuple[Tracked, tuple[str, str, int, str, int]]] = []
        self._last_poll_at = time.time()
        self.namespaces: dict[int, NamespaceState] = {}
        # Namespaces no process is in any more, with when they went, whose TCP
        # sockets may linger in TIME_WAIT (see _retire).
        self.dormant: dict[int, tuple[NamespaceState, float]] = {}
        self.poll_count = 0
        # Namespace reads that found TCP quiet and kept its sockets as they were.
        self.quiet_reads = 0
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
        # The dump socket serves the poll thread and the event thread, one exchange at a time.
        self._ct_query_lock = threading.Lock()
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
        with self._ct_query_lock:
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
                    self.dirty.add(conn.conn_id)
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
                ended = []
                for entry in entries:
                    conn_id = self._apply_ct(entry, now)
                    touched.add(conn_id)
                    if entry.state in CT_FINAL_STATES:
                        ended.append(conn_id)
                wanted = self._counters_wanted(ended)[:MAX_PROMPT_COUNTER_QUERIES]
            if wanted:
                # A conntrack-only TCP connection just ended: its counters are
                # final now, but events carry them only on DESTROY (after
                # TIME_WAIT, minutes later), so read them by tuple.
                counted = self._query_counters(wanted)
                now = time.time()
            with self.lock:
                if wanted:
                    for entry in counted:
                        touched.add(self._apply_ct(entry, now))
                # Coalesced: a connection's NEW, UPDATEs and DESTROY within
                # one flush interval become one record, not four.
                if touched and now - last_flush >= CONNTRACK_FLUSH_INTERVAL_S:
                    self._flush(now)
                    touched.clear()
                    last_flush = now

    def _counters_wanted(self, conn_ids: Iterable[str]) -> list[tuple[int, str, int, str, int]]:
        """Original tuples of the connections among conn_ids whose conntrack bytes are wanted.

        Conntrack sends no event when counters move (only DESTROY carries
        them), so these are read by tuple: UDP connections whose socket is
        still open or whose bytes are unknown (sockets count no UDP bytes),
        and TCP connections no socket gave bytes for (conntrack alone saw
        them) until their bytes were read after the connection ended.
        Caller holds the lock.
        """
        wanted = []
        for conn_id in conn_ids:
            conn = self.connections.get(conn_id)
            ct = conn.conntrack if conn is not None else None
            if conn is None or ct is None or not ct.alive:
                self.counter_watch.discard(conn_id)  # a live conntrack entry adds it again
                continue
            client, server = conn.client, conn.server
            if conn.proto == "udp":
                open_socket = (client is not None and client.alive) or (
                    server is not None and server.alive
                )
                if ct.bytes_sent is not None and not open_socket:
                    continue
                number = socket.IPPROTO_UDP
            else:
                # /proc/net sockets have no counters: leave their bytes unknown.
                if ct.bytes_final or any(
                    s is not None and (s.bytes_sent is not None or s.source == "procfs")
                    for s in (client, server)
                ):
                    self.counter_watch.discard(conn_id)  # for good: none of this goes back
                    continue
                number = socket.IPPROTO_TCP
            wanted.append((number, conn.src_ip, conn.src_port, conn.dst_ip, conn.dst_port))
        return wanted

    def _query_counters(self, wanted: list[tuple[int, str, int, str, int]]) -> list[CtEntry]:
        """Read the conntrack entries of these original tuples (with their counters)."""
        sock = self._ct_dump_sock
        if sock is None:
            return []
        msg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET
        entries = []
        with self._ct_query_lock:
            for tup in wanted:
                request = conntrack_get_request(*tup)
                try:
                    sock.send(
                        _NLMSGHDR.pack(16 + len(request), msg_type, NLM_F_REQUEST, 2, 0) + request
                    )
                    data = sock.recv(RECV_BUFFER_BYTES)
                except OSError as error:
                    logger.warning(
                        "Reading conntrack counters failed: %s; next poll retries.", error
                    )
                    self.last_error = f"conntrack counters: {error}"
                    break
                for mtype, start, end in iter_messages(data):
                    if mtype >> 8 == NFNL_SUBSYS_CTNETLINK:
                        entry = parse_ct_message(data, start, end)
                        if entry is not None:
                            entries.append(entry)
        return entries

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
            if proto == "udp":
                self.udp_unattributed.add(conn_id)
        conn.last_seen = now
        self.dirty.add(conn_id)
        side = conn.conntrack
        if side is None:
            side = conn.conntrack = Side(
                entry.state, None, None, "conntrack", netns=self.host_netns_inode
            )
        side.state = entry.state
        side.alive = not entry.destroyed
        if side.alive:
            self.counter_watch.add(conn_id)
        if entry.bytes_orig is not None:
            side.bytes_sent = entry.bytes_orig
        if entry.bytes_reply is not None:
            side.bytes_received = entry.bytes_reply
            side.bytes_final = entry.destroyed or entry.state in CT_FINAL_STATES
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

        found = find_namespaces(config.proc_root)
        gone = self._sync_namespace_sockets(found)

        scans = []
        diag_ok = procfs = 0
        for inode, namespace in found.items():
            try:
                scan = self._scan_namespace(namespace)
            except OSError as error:
                # Its sockets stay as they were; they are not closed by a failed read.
                logger.debug("Reading sockets of namespace %d failed: %s", inode, error)
                continue
            if scan.source == "sockdiag":
                diag_ok += 1
            else:
                procfs += 1
            scans.append(scan)
        if diag_ok or procfs:
            self.sock_diag_ok = config.use_sock_diag and diag_ok > 0
        self.procfs_namespaces = procfs

        now = time.time()
        with self.lock:
            self.poll_count += 1
            for state in gone:
                self._go_dormant(state, now)
            for inode, (_state, since) in list(self.dormant.items()):
                if now - since > DORMANT_KEEP_S:
                    del self.dormant[inode]
            pending, self.pending = self.pending, []
            for scan in scans:
                self._apply_namespace(scan, now)
            self._rematch(pending)
            if gone:
                self._index_addresses()
            self._attribute_udp_servers()
            # After the sockets: only what no socket counts is read from conntrack.
            wanted = self._counters_wanted(list(self.counter_watch)) if self.conntrack_ok else []
        counted = self._query_counters(wanted[:MAX_COUNTER_QUERIES]) if wanted else []
        with self.lock:
            for entry in counted:
                self._apply_ct(entry, now)
            self._flush(now, self._due_for_refresh(now))
            self._last_poll_at = now

    def _local_addresses(self, namespace: Namespace) -> frozenset[str]:
        """The namespace's own addresses, from /proc/<pid>/net (fib_trie, if_inet6)."""
        found: set[str] = set()
        base = f"{self.config.proc_root}/{namespace.pids[0]}/net"
        try:
            with open(f"{base}/fib_trie", encoding="ascii", errors="replace") as file:
                last = ""
                for line in file:
                    text = line.strip()
                    if text.startswith("|-- "):
                        last = text[4:]
                    elif text.startswith("/32 host LOCAL") and last:
                        found.add(last)
        except OSError as error:
            logger.debug("No IPv4 addresses of namespace %d: %s", namespace.inode, error)
        try:
            with open(f"{base}/if_inet6", encoding="ascii", errors="replace") as file:
                for line in file:
                    words = line.split()
                    if words and len(words[0]) == 32:
                        raw = bytes.fromhex(words[0])
                        found.add(normalise_ip(socket.inet_ntop(socket.AF_INET6, raw)))
        except (OSError, ValueError) as error:
            logger.debug("No IPv6 addresses of namespace %d: %s", namespace.inode, error)
        return frozenset(found)

    def _index_addresses(self) -> None:
        """Which namespaces with UDP server sockets hold each address; caller holds the lock."""
        index: dict[str, list[int]] = {}
        for inode, state in self.namespaces.items():
            for address in state.addresses:
                index.setdefault(address, []).append(inode)
        self.address_namespaces = index

    def _attribute_udp_servers(self) -> None:
        """Name the server process of UDP connections from the socket bound where they went.

        A UDP server socket has no peer, so it never becomes a side of the
        connection. The socket bound to the connection's destination (the
        translated one, past a ClusterIP) in the namespace holding that
        address is the server end. Caller holds the lock.
        """
        for conn_id in list(self.udp_unattributed):
            conn = self.connections.get(conn_id)
            if conn is None or conn.server is not None:
                self.udp_unattributed.discard(conn_id)
                continue
            ip, port = conn.nat_dst or (conn.dst_ip, conn.dst_port)
            if is_loopback(ip):
                side = conn.client or conn.conntrack
                inodes = [side.netns] if side is not None and side.netns is not None else []
            else:
                inodes = self.address_namespaces.get(ip, [])
            for inode in inodes:
                state = self.namespaces.get(inode)
                if state is None:
                    continue
                servers = state.udp_servers
                tracked = (
                    servers.get((ip, port))
                    or servers.get(("0.0.0.0" if ":" not in ip else "::", port))
                    or servers.get(("::", port))
                )
                if tracked is None:
                    continue
                if tracked.owner is None and tracked.inode and state.pids:
                    found = self._owners(Namespace(inode, state.pids), {tracked.inode})
                    tracked.owner = found.get(tracked.inode)
                if tracked.owner is None:
                    break  # not named yet: tried again next poll
                conn.udp_server = (*tracked.owner, inode)
                self.udp_unattributed.discard(conn_id)
                self.dirty.add(conn_id)
                break

    def _due_for_refresh(self, now: float) -> list[Connection]:
        """Live connections last emitted a refresh interval ago or more; caller holds the lock."""
        log, since = self.emit_log, now - self.config.refresh_interval_s
        due = []
        while log and log[0][0] <= since:
            emitted_at, conn = log.popleft()
            # Emitted again since, or forgotten: a later entry speaks for it.
            if conn.last_emit == emitted_at and self.connections.get(conn.conn_id) is conn:
                due.append(conn)
        return due

    def _sync_namespace_sockets(self, found: dict[int, Namespace]) -> list[NamespaceState]:
        """Open a sock_diag socket in each new namespace; return the states of vanished ones."""
        gone = []
        for inode in list(self.namespaces):
            if inode not in found:
                state = self.namespaces.pop(inode)
                if state.sock is not None:
                    state.sock.close()  # lets a deleted namespace go
                    state.sock = None
                gone.append(state)
        new = [inode for inode in found if inode not in self.namespaces]
        for inode in new:
            dormant = self.dormant.pop(inode, None)
            self.namespaces[inode] = dormant[0] if dormant else NamespaceState(inode)
        if not new or not self.config.use_sock_diag:
            return gone
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
        return gone

    def _scan_namespace(self, namespace: Namespace) -> Scan:
        state = self.namespaces[namespace.inode]
        combos = [(f, p) for f in (socket.AF_INET, socket.AF_INET6)
                  for p in (socket.IPPROTO_TCP, socket.IPPROTO_UDP)]  # fmt: skip
        if state.sock is not None:
            tables: dict[tuple[int, int], dict[Any, Tracked]] = {}
            changed: list[Changed] = []
            skipped: list[tuple[int, int]] = []
            in_use, activity = socket_stats(self.config.proc_root, namespace.pids[0])
            # No TCP segment in or out since the last read: its TCP sockets are as they were.
            quiet = (
                activity is not None
                and activity == state.tcp_activity
                and state.quiet_polls < QUIET_POLLS_MAX
            )
            state.quiet_polls = state.quiet_polls + 1 if quiet else 0
            state.tcp_activity = activity
            try:
                for family, proto in combos:
                    if in_use.get((family, proto)) == 0:
                        # Nothing to dump (a dump walks the kernel's global hash),
                        # though TIME_WAIT sockets are not counted: see _retire.
                        tables[family, proto] = {}
                        skipped.append((family, proto))
                        continue
                    old = state.tables.get((family, proto))
                    if quiet and proto == socket.IPPROTO_TCP and old is not None:
                        tables[family, proto] = old
                        continue
                    table = tables[family, proto] = {}
                    scan_sock_diag(state.sock, family, proto, old or {}, table, changed)
                self.quiet_reads += quiet
                return Scan(namespace, tables, changed, "sockdiag", skipped)
            except OSError as error:
                state.sock_error = f"sock_diag failed: {error}"
                logger.info(
                    "sock_diag refused in namespace %d (%s); reading /proc instead.",
                    namespace.inode,
                    error,
                )
                state.sock.close()
                state.sock = None
        last_error: OSError | None = None
        for pid in namespace.pids[:3]:  # the first may have exited since the scan
            tables, changed = {}, []
            try:
                for family, proto in combos:
                    table = tables[family, proto] = {}
                    old = state.tables.get((family, proto), {})
                    for entry in read_proc_net(self.config.proc_root, pid, family, proto):
                        key = (entry.local_ip, entry.local_port, entry.remote_ip, entry.remote_port)
                        tracked = old.get(key)
                        sig = bytes([entry.state & 0xFF])
                        if tracked is not None and tracked.sig == sig:
                            table[key] = tracked
                        else:
                            changed.append(((family, proto), key, sig, entry, tracked))
                return Scan(namespace, tables, changed, "procfs", [])
            except OSError as error:
                last_error = error
        raise last_error or OSError(errno.ENOENT, "no process left in namespace")

    def _rematch(self, pending: list[tuple[Tracked, tuple[str, str, int, str, int]]]) -> None:
        """Move server sockets held back last poll onto the connection conntrack names."""
        for tracked, key in pending:
            split, side = tracked.conn, tracked.side
            target_id = self.reply_index.get(key)
            if split is None or side is None:
                continue
            split.hold_until_poll = 0
            self.dirty.add(split.conn_id)
            target = self.connections.get(target_id) if target_id else None
            if target is None or target is split or target.server is not None:
                continue
            target.server, split.server = side, None
            tracked.conn = target
            self.dirty.add(target.conn_id)
            if split.client is None and split.conntrack is None:
                del self.connections[split.conn_id]  # never emitted: it was held back

    def _close_sockets(self, gone: Iterable[Tracked]) -> None:
        """Sockets no longer there: their side of the connection is closed."""
        for tracked in gone:
            side, conn = tracked.side, tracked.conn
            if side is not None and conn is not None and side.alive:
                side.alive = False
                side.state = CLOSED
                conn.last_seen = max(conn.last_seen, self._last_poll_at)
                self.dirty.add(conn.conn_id)

    def _retire(
        self, state: NamespaceState, table_keys: Iterable[tuple[int, int]]
    ) -> dict[tuple[int, int], dict[Any, Tracked]]:
        """Close the connected TCP sockets of tables that cannot be read, but keep them.

        Such a table is one sockstat counts empty (TIME_WAIT sockets are not
        counted) or one of a namespace no process is left in (a pod's
        namespace outlives its processes for a moment). Either way the
        namespace's TCP sockets may still be there in TIME_WAIT, and be read
        again once something opens a socket there. Kept and marked retired,
        such a socket then updates its connection while the connection
        lives, and is ignored once the connection was closed and forgotten,
        rather than starting a connection of its own with no bytes or owner
        and a later first_seen. The next read drops those that are gone.
        Returns the tables of what was kept.
        """
        kept_tables = {}
        retired: list[Tracked] = []
        for table_key in table_keys:
            old = state.tables.get(table_key)
            if table_key[1] != socket.IPPROTO_TCP or not old:
                continue
            kept = {k: t for k, t in old.items() if t.conn is not None and t.listen is None}
            if kept:
                kept_tables[table_key] = kept
                retired += (t for t in kept.values() if not t.retired)
        for tracked in retired:
            tracked.retired = True
        self._close_sockets(retired)
        return kept_tables

    def _go_dormant(self, state: NamespaceState, now: float) -> None:
        """A namespace with no process left: close its sockets, remember those that may linger."""
        kept = self._retire(state, list(state.tables))
        for table_key, old in state.tables.items():
            still = kept.get(table_key, {})
            self._close_sockets(t for k, t in old.items() if k not in still)
        state.tables = kept
        state.listening = set()
        state.udp_servers, state.addresses = {}, frozenset()
        state.tcp_activity = None
        state.unowned = []
        state.fd_cache = {}
        if kept:
            self.dormant[state.inode] = (state, now)

    def _apply_namespace(self, scan: Scan, now: float) -> None:
        """Fold one namespace's new and changed sockets into connections; caller holds the lock."""
        namespace, tables, source = scan.namespace, scan.tables, scan.source
        state = self.namespaces[namespace.inode]
        tables.update(self._retire(state, scan.skipped))
        listeners_moved = False
        connected: list[tuple[SocketEntry, Tracked]] = []
        for table_key, key, sig, entry, tracked in scan.changed:
            if tracked is None:
                tracked = Tracked(sig)
            tracked.sig = sig
            tables[table_key][key] = tracked
            if tracked.retired:
                conn = tracked.conn
                if conn is None or self.connections.get(conn.conn_id) is not conn:
                    continue  # its connection was closed and forgotten: stays so
                tracked.retired = False
            is_listener = (
                entry.state == TCP_LISTEN
                if entry.proto == socket.IPPROTO_TCP
                else entry.remote_port == 0  # UDP bound, not connected: a server port
            )
            if is_listener:
                tracked.listen = (entry.proto, entry.local_ip, entry.local_port)
                tracked.inode = entry.inode or 0
                listeners_moved = True
            elif entry.remote_port != 0:
                connected.append((entry, tracked))

        # Sockets that were there last poll and are not now.
        for table_key, old in state.tables.items():
            table = tables.get(table_key, {})
            vanished = [old[k] for k in old.keys() - table.keys()]
            if vanished:
                listeners_moved |= any(t.listen is not None for t in vanished)
                self._close_sockets(vanished)
        state.tables = tables
        state.pids = namespace.pids
        if listeners_moved:
            state.listening = {t.listen for tb in tables.values() for t in tb.values() if t.listen}
            udp_servers = {
                (t.listen[1], t.listen[2]): t
                for (_family, proto), table in tables.items()
                if proto == socket.IPPROTO_UDP
                for t in table.values()
                if t.listen is not None
            }
            if udp_servers.keys() != state.udp_servers.keys():
                addresses = self._local_addresses(namespace) if udp_servers else frozenset()
                if addresses != state.addresses:
                    state.addresses = addresses
                    self._index_addresses()
            state.udp_servers = udp_servers
        listening = state.listening

        # A process that started after the namespace scan owns sockets we
        # cannot name yet: such sockets are tried again on the next polls.
        retry = [t for t in state.unowned if t.side is not None and t.side.alive
                 and t.side.pid is None and t.owner_tries < OWNER_TRIES]  # fmt: skip
        unknown = {
            e.inode for e, t in connected if e.inode and (t.side is None or t.side.pid is None)
        }
        unknown.update(t.inode for t in retry)
        owners = self._owners(namespace, unknown) if unknown else {}
        for tracked in retry:
            owner = owners.get(tracked.inode)
            if owner is not None and tracked.side is not None and tracked.conn is not None:
                tracked.side.pid, tracked.side.process = owner
                self.dirty.add(tracked.conn.conn_id)
        for entry, tracked in connected:
            if tracked.side is None:
                proto_number = entry.proto
                tracked.is_server = (
                    (proto_number, entry.local_ip, entry.local_port) in listening
                    or (proto_number, "0.0.0.0", entry.local_port) in listening
                    or (proto_number, "::", entry.local_port) in listening
                )
            tracked.inode = entry.inode or 0
            self._apply_socket(namespace.inode, entry, tracked, source, owners, now)
        for tracked in retry:
            tracked.owner_tries += 1
        state.unowned = [
            t for t in itertools.chain(retry, (t for _e, t in connected))
            if t.inode and t.side is not None and t.side.pid is None and t.owner_tries < OWNER_TRIES
        ]  # fmt: skip

    def _apply_socket(
        self,
        netns: int,
        entry: SocketEntry,
        tracked: Tracked,
        source: str,
        owners: dict[int, tuple[int, str | None]],
        now: float,
    ) -> None:
        is_server = tracked.is_server
        proto = PROTO_NAMES[entry.proto]
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
            sent, received = received, acked
        else:
            sent = acked

        conn = tracked.conn
        if conn is None or conn.conn_id not in self.connections:
            if is_server:
                key = (proto, entry.local_ip, entry.local_port, entry.remote_ip, entry.remote_port)
                conn_id = self.reply_index.get(key)
                unmatched = conn_id is None
                src_ip, src_port = entry.remote_ip, entry.remote_port
                dst_ip, dst_port = entry.local_ip, entry.local_port
            else:
                conn_id, unmatched = None, False
                src_ip, src_port = entry.local_ip, entry.local_port
                dst_ip, dst_port = entry.remote_ip, entry.remote_port
            if conn_id is None:
                conn_id = connection_id(proto, src_ip, src_port, dst_ip, dst_port, netns)
            conn = self.connections.get(conn_id)
            if conn is None:
                family = 6 if ":" in src_ip else 4
                conn = self.connections[conn_id] = Connection(
                    conn_id, proto, family, src_ip, src_port, dst_ip, dst_port, now, now
                )
                if proto == "udp":
                    self.udp_unattributed.add(conn_id)
            tracked.conn = conn
            if unmatched and self.conntrack_ok:
                # Conntrack may not have told us about it yet (events lag a
                # poll by a moment): hold the record back one poll and look
                # again, rather than split one connection in two.
                if conn.client is None and conn.conntrack is None:
                    conn.hold_until_poll = self.poll_count + 1
                    self.pending.append((tracked, key))
        conn.last_seen = now
        self.dirty.add(conn.conn_id)

        if entry.proto == socket.IPPROTO_TCP:
            state = TCP_STATES.get(entry.state, str(entry.state))
        else:
            state = "CONNECTED"
        side = conn.server if is_server else conn.client
        if side is None:
            side = Side(state, sent, received, source, netns=netns)
            if is_server:
                conn.server = side
            else:
                conn.client = side
        tracked.side = side
        side.state, side.source, side.alive, side.netns = state, source, True, netns
        # TIME_WAIT sockets have no counters: keep the last ones seen.
        if sent is not None:
            side.bytes_sent = sent
        if received is not None:
            side.bytes_received = received
        owner = owners.get(entry.inode) if entry.inode else None
        if owner is not None:
            side.pid, side.process = owner

    def _owners(self, namespace: Namespace, wanted: set[int]) -> dict[int, tuple[int, str | None]]:
        """Socket inode to (pid, process name) for the wanted inodes."""
        state = self.namespaces[namespace.inode]
        found = socket_owners(self.config.proc_root, namespace.pids, wanted, state.fd_cache)
        names: dict[int, str | None] = {}
        owners = {}
        for inode, pid in found.items():
            if pid not in names:
                names[pid] = process_name(self.config.proc_root, pid)
            owners[inode] = (pid, names[pid])
        return owners

    # -- records

    def _flush(self, now: float, extra: Iterable[Connection] = ()) -> None:
        """Emit changed connections and forget those no observer sees any more.

        Candidates are the connections marked dirty plus extra (those due
        for a refresh). Caller holds the lock.
        """
        refresh = self.config.refresh_interval_s
        candidates = {conn.conn_id: conn for conn in extra}
        for conn_id in self.dirty:
            conn = self.connections.get(conn_id)
            if conn is not None:
                candidates[conn_id] = conn
        self.dirty.clear()
        for conn in candidates.values():
            if conn.hold_until_poll > self.poll_count:
                self.dirty.add(conn.conn_id)
                continue
            alive = any(
                s is not None and s.alive for s in (conn.client, conn.server, conn.conntrack)
            )
            snapshot = self._snapshot(conn)
            if hash(snapshot) != conn.emitted or (alive and now - conn.last_emit >= refresh):
                if alive:
                    conn.last_seen = now
                self._emit(conn, snapshot, now)
            if not alive:
                del self.connections[conn.conn_id]
                key = conn.reply_key
                if key is not None and self.reply_index.get(key) == conn.conn_id:
                    del self.reply_index[key]

    def _snapshot(self, conn: Connection) -> tuple[Any, ...]:
        client, server, ct = conn.client, conn.server, conn.conntrack
        observer = (
            "client" if client is not None else "server" if server is not None else "conntrack"
        )
        main = client or server or ct
        assert main is not None
        peer: Side | tuple[int, str | None, int] | None = server if client is not None else None
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
            *self._peer(peer if peer is not None else conn.udp_server if server is None else None),
            *nat_dst,
            *nat_src,
        )

    @staticmethod
    def _peer(
        peer: Side | tuple[int, str | None, int] | None,
    ) -> tuple[str | None, int | None, int | None]:
        """(process, pid, netns) of the end that is not the observer."""
        if peer is None:
            return None, None, None
        if isinstance(peer, tuple):
            pid, process, netns = peer
            return process, pid, netns
        return peer.process, peer.pid, peer.netns

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
        conn.emitted = hash(snapshot)
        conn.last_emit = now
        self.emit_log.append((now, conn))

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
                "buffer_bytes": self.buffer.stored_bytes,
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
                "quiet_reads": self.quiet_reads,
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
