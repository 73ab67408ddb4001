"""Which group an address outside the cluster belongs to on the map.

Thousands of external addresses would bury the cluster, so the map shows
one node per group until the user expands it. Groups are the tags the
identity layer gives unowned addresses: the most specific range the user
named ("corporate-vpn" = 10.8.0.0/16), else the well-known range
("private", "cgnat", ...), else "public" (the Internet). The store already
tags each end (`src_tag`/`dst_tag`); this module is the fallback for rows
without tags and the source of the labels people read.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from netsight.identity.ranges import CidrIndex, normalize_ip, range_tags

logger = logging.getLogger(__name__)

PUBLIC = "public"

# What the map calls the well-known tags; user-named ranges keep their name.
GROUP_LABELS: Mapping[str, str] = {
    PUBLIC: "Internet",
    "private": "Private network",
    "cgnat": "Carrier-grade NAT",
    "link-local": "Link-local",
    "loopback": "Loopback",
    "documentation": "Documentation",
    "multicast": "Multicast",
    "broadcast": "Broadcast",
    "unspecified": "Unspecified",
    "reserved": "Reserved",
}


def group_label(group: str) -> str:
    """The name a person reads for a group tag ("public" -> "Internet")."""
    return GROUP_LABELS.get(group, group)


class ExternalGrouping:
    """Maps an external address to its group tag; cheap to call many times."""

    def __init__(self, user_ranges: Mapping[str, Sequence[str]] | None = None) -> None:
        self._user = CidrIndex()
        for name, cidrs in (user_ranges or {}).items():
            for cidr in cidrs:
                self._user.add(cidr, name)

    def group_of(self, address: str) -> str:
        """The group of `address`; a value that is not an IP is taken as a group already."""
        ip = normalize_ip(address) if address else None
        if ip is None:
            return address or PUBLIC
        named = self._user.lookup(ip)
        return named[0] if named else range_tags(ip)[0]
