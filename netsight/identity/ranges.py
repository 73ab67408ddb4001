"""Address normalisation, well-known range tags, and CIDR lookups.

Every address is compared in one spelling (`ipaddress` compressed form,
IPv4-mapped IPv6 unwrapped to IPv4 because dual-stack sockets report IPv4
peers that way), and every address nobody owns is tagged by the ranges it
falls in, so external traffic can be grouped without a lookup service.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from functools import lru_cache

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Tags of well-known ranges, most specific meaning first. An address that is
# in none of them and is globally routable is "public".
WELL_KNOWN_RANGES: tuple[tuple[str, str], ...] = (
    ("loopback", "127.0.0.0/8"),
    ("loopback", "::1/128"),
    ("unspecified", "0.0.0.0/8"),
    ("unspecified", "::/128"),
    ("link-local", "169.254.0.0/16"),
    ("link-local", "fe80::/10"),
    ("cgnat", "100.64.0.0/10"),
    ("documentation", "192.0.2.0/24"),
    ("documentation", "198.51.100.0/24"),
    ("documentation", "203.0.113.0/24"),
    ("documentation", "2001:db8::/32"),
    ("documentation", "3fff::/20"),
    ("private", "10.0.0.0/8"),
    ("private", "172.16.0.0/12"),
    ("private", "192.168.0.0/16"),
    # IPv6 unique local addresses play the part of RFC 1918 ranges.
    ("private", "fc00::/7"),
    ("multicast", "224.0.0.0/4"),
    ("multicast", "ff00::/8"),
    ("broadcast", "255.255.255.255/32"),
    ("reserved", "240.0.0.0/4"),
)
_WELL_KNOWN = tuple((tag, ipaddress.ip_network(cidr)) for tag, cidr in WELL_KNOWN_RANGES)

# Kubernetes refuses Service ranges larger than these (kube-apiserver's
# --service-cluster-ip-range: at most /12 for IPv4, 20 host bits for IPv6),
# so a learned range is never wider.
SERVICE_RANGE_MAX_V4 = 12
SERVICE_RANGE_MAX_V6 = 108
# A learned range is never narrower than this either: with only a handful of
# ClusterIPs known, the covering prefix would be tiny and the next new
# Service would read as external. /20 (4096 addresses) is the smallest range
# managed clusters hand out by default (GKE).
SERVICE_RANGE_MIN_V4 = 20
SERVICE_RANGE_MIN_V6 = 116

_normalised: dict[str, str | None] = {}
# Cache bound: flows repeat the same addresses; the cache is dropped past it.
_NORMALISED_LIMIT = 500_000


def normalize_ip(value: str) -> str | None:
    """The canonical spelling of an address, or None if it is not one."""
    hit = _normalised.get(value, False)
    if hit is not False:
        return hit  # type: ignore[return-value]
    if _is_canonical_ipv4(value):
        # The common case, already in canonical form; skips ipaddress (10x slower).
        result: str | None = value
    else:
        result = _normalise_slow(value)
    if len(_normalised) >= _NORMALISED_LIMIT:
        _normalised.clear()
    _normalised[value] = result
    return result


def _is_canonical_ipv4(value: str) -> bool:
    parts = value.split(".")
    if len(parts) != 4:
        return False
    for part in parts:
        if not part.isdigit() or not part.isascii() or len(part) > 3:
            return False
        if (len(part) > 1 and part[0] == "0") or int(part) > 255:
            return False
    return True


def _normalise_slow(value: str) -> str | None:
    try:
        addr = ipaddress.ip_address(value.strip())
    except (ValueError, AttributeError):
        return None
    else:
        if isinstance(addr, ipaddress.IPv6Address):
            if addr.ipv4_mapped is not None:
                addr = addr.ipv4_mapped
            elif addr.scope_id:
                addr = ipaddress.IPv6Address(str(addr).split("%", 1)[0])
        result = addr.compressed
    return result


def parse_network(value: str) -> IPNetwork | None:
    """A CIDR (host bits allowed) as a network, or None if it is not one."""
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except (ValueError, AttributeError):
        return None


@lru_cache(maxsize=65536)
def range_tags(ip: str) -> tuple[str, ...]:
    """Well-known range tags of a normalised address; ('public',) if it has none."""
    addr = ipaddress.ip_address(ip)
    tags = [tag for tag, net in _WELL_KNOWN if addr.version == net.version and addr in net]
    if not tags:
        tags.append("public" if addr.is_global else "reserved")
    return tuple(dict.fromkeys(tags))


class CidrIndex:
    """Which named networks contain an address, bucketed by prefix length.

    A cluster of 5,000 nodes has 5,000 podCIDRs of (nearly always) one prefix
    length; a lookup masks the address once per length and hits a dict.
    """

    def __init__(self) -> None:
        # (version, prefixlen) -> {network int -> names in insertion order}
        self._buckets: dict[tuple[int, int], dict[int, list[str]]] = {}

    def add(self, cidr: str | IPNetwork, name: str) -> bool:
        net = parse_network(cidr) if isinstance(cidr, str) else cidr
        if net is None:
            logger.warning("Ignoring %r for %s: it is not a CIDR.", cidr, name)
            return False
        bucket = self._buckets.setdefault((net.version, net.prefixlen), {})
        names = bucket.setdefault(int(net.network_address), [])
        if name not in names:
            names.append(name)
        return True

    def remove(self, cidr: str | IPNetwork, name: str) -> None:
        net = parse_network(cidr) if isinstance(cidr, str) else cidr
        if net is None:
            return
        bucket = self._buckets.get((net.version, net.prefixlen))
        if not bucket:
            return
        names = bucket.get(int(net.network_address))
        if names and name in names:
            names.remove(name)
            if not names:
                del bucket[int(net.network_address)]

    def lookup(self, ip: str) -> list[str]:
        """Names of every network containing `ip`, most specific first."""
        if not self._buckets:
            return []
        addr = ipaddress.ip_address(ip)
        bits = addr.max_prefixlen
        value = int(addr)
        found: list[str] = []
        for (version, plen), bucket in sorted(self._buckets.items(), key=lambda kv: -kv[0][1]):
            if version != addr.version:
                continue
            mask = ((1 << plen) - 1) << (bits - plen) if plen else 0
            found.extend(bucket.get(value & mask, ()))
        return found

    def __bool__(self) -> bool:
        return any(self._buckets.values())


def learn_service_ranges(
    cluster_ips: Iterable[str], kubernetes_ips: Iterable[str] = ()
) -> list[IPNetwork]:
    """Guess the Service ranges from the ClusterIPs seen so far.

    The `default/kubernetes` Service always takes the first address of its
    range, so its ClusterIP minus one is where a range starts. Per family,
    the result is the smallest prefix that starts there (or anywhere, when
    that Service is unknown) and covers every ClusterIP of the family,
    widened to SERVICE_RANGE_MIN_* and never wider than SERVICE_RANGE_MAX_*;
    ClusterIPs that such a range cannot hold start a range of their own.
    """
    addrs = sorted(
        {ipaddress.ip_address(ip) for ip in cluster_ips},
        key=lambda a: (a.version, int(a)),
    )
    anchors = [ipaddress.ip_address(ip) for ip in kubernetes_ips]
    ranges: list[IPNetwork] = []
    for addr in addrs:
        if any(addr in net for net in ranges):
            continue
        v4 = addr.version == 4
        widest = SERVICE_RANGE_MAX_V4 if v4 else SERVICE_RANGE_MAX_V6
        narrowest = SERVICE_RANGE_MIN_V4 if v4 else SERVICE_RANGE_MIN_V6
        cap = ipaddress.ip_network(f"{addr}/{widest}", strict=False)
        members = [a for a in addrs if a in cap]
        starts = [int(a) - 1 for a in anchors if a in cap and int(a) > int(cap.network_address)]
        low = min([int(a) for a in members] + starts)
        high = max(int(a) for a in members)
        prefix = narrowest
        # Narrow down from the cap while the prefix still covers low..high.
        for candidate in range(narrowest, widest - 1, -1):
            net = ipaddress.ip_network((low, candidate), strict=False)
            prefix = candidate
            if int(net.network_address) <= low and int(net.broadcast_address) >= high:
                break
        ranges.append(ipaddress.ip_network((low, prefix), strict=False))
    return ranges
