"""Which group an address outside the cluster belongs to on the map.

Thousands of external addresses would bury the cluster, so the map shows
one node per group until the user expands it: first the ranges the user
named ("corporate VPN" = 10.8.0.0/16), most specific first, then the
well-known ranges (private, CGNAT, link-local, ...), and everything else
is "Internet".
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping, Sequence

logger = logging.getLogger(__name__)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

INTERNET = "Internet"

# Well-known ranges in the order they are tried; the first match names the
# group. Private comes after the narrower special ranges it does not
# overlap with, so the order only matters for readability.
WELL_KNOWN_RANGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Loopback", ("127.0.0.0/8", "::1/128")),
    ("Link-local", ("169.254.0.0/16", "fe80::/10")),
    ("Carrier-grade NAT", ("100.64.0.0/10",)),
    ("Documentation", ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")),
    ("Private network", ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")),
    ("Multicast", ("224.0.0.0/4", "ff00::/8")),
)


class ExternalGrouping:
    """Maps an external address to its group name; cheap to call many times."""

    def __init__(self, user_ranges: Mapping[str, Sequence[str]] | None = None) -> None:
        named: list[tuple[IPNetwork, str]] = []
        for name, cidrs in (user_ranges or {}).items():
            for cidr in cidrs:
                try:
                    named.append((ipaddress.ip_network(cidr, strict=False), name))
                except ValueError:
                    logger.warning("Ignoring range %r of %r: not a CIDR.", cidr, name)
        # Most specific first, so a /24 inside a named /16 wins.
        named.sort(key=lambda item: -item[0].prefixlen)
        self._user = named
        self._known = [
            (ipaddress.ip_network(cidr), name)
            for name, cidrs in WELL_KNOWN_RANGES
            for cidr in cidrs
        ]
        self._cache: dict[str, str] = {}

    def group_of(self, address: str) -> str:
        """The group for `address`; a value that is not an IP is taken as a group name."""
        cached = self._cache.get(address)
        if cached is not None:
            return cached
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            group = address or INTERNET
        else:
            group = self._match(ip)
        self._cache[address] = group
        return group

    def _match(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        for network, name in self._user:
            if ip.version == network.version and ip in network:
                return name
        for network, name in self._known:
            if ip.version == network.version and ip in network:
                return name
        return INTERNET
