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

from netsight.identity import ranges as identity_ranges

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


# The identity package's well-known ranges, so a lookup in the store and in
# memory tag an address alike. Copied into each new file at creation.
WELL_KNOWN_RANGES: tuple[NetRange, ...] = tuple(
    NetRange(cidr, EXTERNAL, tag=tag) for tag, cidr in identity_ranges.WELL_KNOWN_RANGES
)
