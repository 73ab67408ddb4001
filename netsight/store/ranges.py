"""Address ranges that name IPs nobody owns: pod CIDRs, the service range, external tags.

An IP with no owner at the time of a connection is still worth a name:
inside a node's podCIDR it was "an unknown pod on node X", inside the
service range "an unknown service", and anything else is external, tagged
by the most specific user-named CIDR ("corporate-vpn") or well-known range
("private", "cgnat", ...). The store keeps these ranges beside the flows so a
saved file names unknowns the same way with no cluster.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)

POD_CIDR = "pod_cidr"
SERVICE_RANGE = "service_range"
EXTERNAL = "external"
RANGE_KINDS = (POD_CIDR, SERVICE_RANGE, EXTERNAL)

# Where a range came from; `replace_ranges(source, ...)` swaps one source at a time.
WELL_KNOWN = "well_known"
CLUSTER = "cluster"
USER = "user"

# Tag of an external address that no narrower range names.
PUBLIC_TAG = "public"


@dataclass(frozen=True, slots=True)
class NetRange:
    """`cidr` is a pod CIDR of `node`, the service range, or an external range named `tag`."""

    cidr: str
    kind: str
    node: str | None = None
    tag: str | None = None


WELL_KNOWN_RANGES: tuple[NetRange, ...] = tuple(
    NetRange(cidr, EXTERNAL, tag=tag)
    for tag, cidrs in (
        ("private", ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")),
        ("cgnat", ("100.64.0.0/10",)),
        ("link-local", ("169.254.0.0/16", "fe80::/10")),
        ("loopback", ("127.0.0.0/8", "::1/128")),
        ("documentation", ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")),
        ("multicast", ("224.0.0.0/4", "ff00::/8")),
    )
    for cidr in cidrs
)
