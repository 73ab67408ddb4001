"""Turn `conntrack -L` / `conntrack -E` text into the ctnetlink messages the kernel sends.

The agent reads conntrack only over netlink, but the real samples we hold
are text. Encoding them here, independently of the agent's decoder, lets the
agent's NAT and merging logic run on real clusters' entries.
"""

from __future__ import annotations

import ipaddress
import re
import struct

_STATE_NUMBERS = {
    "NONE": 0, "SYN_SENT": 1, "SYN_RECV": 2, "ESTABLISHED": 3, "FIN_WAIT": 4,
    "CLOSE_WAIT": 5, "LAST_ACK": 6, "TIME_WAIT": 7, "CLOSE": 8,
}  # fmt: skip
_EVENT_TYPES = {"NEW": 0, "UPDATE": 0, "DESTROY": 2}
_LINE = re.compile(
    r"^\s*(?:\[(?P<event>NEW|UPDATE|DESTROY)\]\s+)?(?P<proto>tcp|udp)\s+\d+\s+(?P<rest>.*)$"
)


def _attr(kind: int, payload: bytes, nested: bool = False) -> bytes:
    data = struct.pack("=HH", 4 + len(payload), kind | (0x8000 if nested else 0)) + payload
    return data + b"\0" * (-len(data) % 4)


def _tuple(proto: int, src: str, dst: str, sport: int, dport: int) -> bytes:
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    kinds = (1, 2) if a.version == 4 else (3, 4)
    ips = _attr(kinds[0], a.packed) + _attr(kinds[1], b.packed)
    ports = _attr(1, bytes([proto])) + _attr(2, struct.pack("!H", sport))
    ports += _attr(3, struct.pack("!H", dport))
    return _attr(1, ips, True) + _attr(2, ports, True)


def parse_line(line: str) -> dict | None:
    """Fields of one conntrack text line, or None for lines that are not entries."""
    match = _LINE.match(line)
    if not match:
        return None
    rest = match["rest"]
    pairs = re.findall(r"(src|dst|sport|dport|bytes|packets|id)=(\S+)", rest)
    values: dict[str, list[str]] = {}
    for key, value in pairs:
        values.setdefault(key, []).append(value)
    if len(values.get("src", [])) != 2:
        return None
    state = next((word for word in rest.split() if word in _STATE_NUMBERS), None)
    return {"event": match["event"], "proto": match["proto"], "state": state, **values}


def encode(fields: dict) -> bytes:
    """One ctnetlink message (nlmsghdr included) for a parsed line."""
    proto = 6 if fields["proto"] == "tcp" else 17
    src, dst, sport, dport = fields["src"], fields["dst"], fields["sport"], fields["dport"]
    body = _attr(1, _tuple(proto, src[0], dst[0], int(sport[0]), int(dport[0])), True)
    body += _attr(2, _tuple(proto, src[1], dst[1], int(sport[1]), int(dport[1])), True)
    body += _attr(3, struct.pack("!I", 1 << 1))  # seen reply
    if fields["state"] is not None and proto == 6:
        tcp = _attr(1, bytes([_STATE_NUMBERS[fields["state"]]]))
        body += _attr(4, _attr(1, tcp, True), True)
    for index, kind in enumerate((9, 10)):
        if "bytes" in fields:
            counters = _attr(1, struct.pack("!Q", int(fields["packets"][index])))
            counters += _attr(2, struct.pack("!Q", int(fields["bytes"][index])))
            body += _attr(kind, counters, True)
    if "id" in fields:
        body += _attr(12, struct.pack("!I", int(fields["id"][0])))
    family = 2 if ":" not in src[0] else 10
    payload = struct.pack("=BBH", family, 0, 0) + body
    msg_type = (1 << 8) | _EVENT_TYPES.get(fields["event"] or "NEW", 0)
    return struct.pack("=IHHII", 16 + len(payload), msg_type, 0, 0, 0) + payload
