"""What the user tells identity about their network that the cluster cannot.

A cluster does not publish its Service range or every address range around
it; a user can name them (a "corporate VPN" range, say) so that flows to
those addresses read as that name instead of just "private".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IdentitySettings:
    """User-provided address knowledge.

    named_cidrs: (name, CIDR) pairs; an address inside gets the name as a tag.
    service_cidrs: the cluster's Service ranges; when empty they are learned
        from observed ClusterIPs (see `ranges.learn_service_ranges`).
    pod_cidrs: the cluster's whole pod network; an unowned address inside it
        that no node's podCIDR covers is still "an unknown pod".
    """

    named_cidrs: tuple[tuple[str, str], ...] = ()
    service_cidrs: tuple[str, ...] = ()
    pod_cidrs: tuple[str, ...] = ()
