"""IP addresses as numbers, in Python and as DuckDB macros, for CIDR tests in SQL.

Every address maps into the 128-bit IPv6 space (IPv4 as `::ffff:a.b.c.d`), so
a CIDR of either family is one [lo, hi] range and one BETWEEN answers
"is this IP in that range". The macros parse the normalised text NetSight
stores (`ipaddress.ip_address(x).compressed`).
"""

from __future__ import annotations

import ipaddress
import logging

logger = logging.getLogger(__name__)

# ::ffff:0.0.0.0, where IPv4 addresses live in IPv6 space.
IPV4_MAPPED_BASE = 0xFFFF_0000_0000
IPV4_PREFIX_OFFSET = 96

MACROS = [
    """CREATE OR REPLACE TEMP MACRO ns_ip4_num(ip) AS (
        (split_part(ip, '.', 1)::UHUGEINT << 24::UHUGEINT)
        + (split_part(ip, '.', 2)::UHUGEINT << 16::UHUGEINT)
        + (split_part(ip, '.', 3)::UHUGEINT << 8::UHUGEINT)
        + split_part(ip, '.', 4)::UHUGEINT)""",
    # The 8 hex groups of an IPv6 address, '::' expanded to zeros.
    """CREATE OR REPLACE TEMP MACRO ns_ip6_groups(ip) AS (
        CASE WHEN contains(ip, '::') THEN
            list_filter(string_split(split_part(ip, '::', 1), ':'), lambda g: g <> '')
            || list_resize([]::VARCHAR[],
                           8 - len(list_filter(string_split(ip, ':'), lambda g: g <> '')), '0')
            || list_filter(string_split(split_part(ip, '::', 2), ':'), lambda g: g <> '')
        ELSE string_split(ip, ':') END)""",
    """CREATE OR REPLACE TEMP MACRO ns_ip6_num(ip) AS (
        list_reduce(list_transform(ns_ip6_groups(ip),
            lambda g, i: (('0x' || g)::INTEGER)::UHUGEINT << (16 * (8 - i))::UHUGEINT),
            lambda a, b: a + b))""",
    f"""CREATE OR REPLACE TEMP MACRO ns_ip_num(ip) AS (
        CASE WHEN contains(ip, ':') THEN ns_ip6_num(ip)
        ELSE ns_ip4_num(ip) + {IPV4_MAPPED_BASE}::UHUGEINT END)""",
]


def ip_number(ip: str) -> int:
    """The address as an integer in IPv6 space (IPv4 mapped)."""
    address = ipaddress.ip_address(ip)
    if address.version == 4:
        return IPV4_MAPPED_BASE + int(address)
    return int(address)


def cidr_bounds(cidr: str) -> tuple[int, int, int]:
    """(lo, hi, prefix length in IPv6 space) of a CIDR; host bits are ignored."""
    network = ipaddress.ip_network(cidr, strict=False)
    lo = int(network.network_address)
    hi = int(network.broadcast_address)
    prefix = network.prefixlen
    if network.version == 4:
        return IPV4_MAPPED_BASE + lo, IPV4_MAPPED_BASE + hi, prefix + IPV4_PREFIX_OFFSET
    return lo, hi, prefix


def normalise_ip(ip: str) -> str:
    return ipaddress.ip_address(ip).compressed
