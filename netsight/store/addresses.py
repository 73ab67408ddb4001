"""IP addresses as numbers, in Python and as DuckDB macros, for CIDR tests in SQL.

Every address maps into the 128-bit IPv6 space (IPv4 as `::ffff:a.b.c.d`), so
a CIDR of either family is one [lo, hi] range and one BETWEEN answers
"is this IP in that range". The macros parse the normalised text NetSight
stores (`ipaddress.ip_address(x).compressed`).
"""

from __future__ import annotations

import ipaddress
import logging

import pyarrow as pa
import pyarrow.compute as pc

from netsight.identity.ranges import normalize_ip

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


def normalised_ip(ip: str) -> str | None:
    """The spelling NetSight stores (IPv4-mapped IPv6 as plain IPv4), or None if not an IP."""
    return normalize_ip(ip) if isinstance(ip, str) else None


def normalised_column(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A string column of IPs with IPv6 spellings normalised (IPv4-mapped ones to IPv4).

    Only values with a colon can be IPv6, so an IPv4 column costs one scan;
    each distinct IPv6 value is normalised once, and values that are not IPs
    stay as they are.
    """
    colon = pc.match_substring(column, ":")
    if not pc.any(colon).as_py():
        return column
    distinct = pc.unique(column.filter(colon))
    before = distinct.to_pylist()
    after = [normalize_ip(value) or value for value in before]
    if after == before:
        return column
    positions = pc.index_in(column, value_set=distinct)
    replaced = pc.take(pa.array(after, type=column.type), positions)
    return pa.chunked_array([pc.if_else(pc.is_null(positions), column, replaced)])
