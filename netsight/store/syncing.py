"""Save what identity learned into the store, so a file answers without a cluster.

The ownership intervals and owners go in as they are. The ranges that name
unowned addresses (each node's pod CIDRs, the Service range, and the single
addresses a pod once held, which matter on CNIs whose nodes publish no
podCIDR) are replaced as a whole, because they describe the cluster now.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from netsight.store.ranges import CLUSTER, POD_CIDR, SERVICE_RANGE, NetRange

if TYPE_CHECKING:
    from netsight.identity.ownership import OwnershipHistory
    from netsight.store.database import Store

logger = logging.getLogger(__name__)


def cluster_ranges(history: OwnershipHistory) -> list[NetRange]:
    """The pod and service ranges identity knows, as store ranges."""
    ranges = [
        NetRange(cidr, POD_CIDR, node=node)
        for node, cidrs in sorted(history.node_pod_cidrs().items())
        for cidr in cidrs
    ]
    ranges += [
        NetRange(f"{ip}/{128 if ':' in ip else 32}", POD_CIDR, node=node)
        for ip, node in sorted(history.pod_ip_nodes().items())
        if node is not None
    ]
    ranges += [NetRange(str(net), SERVICE_RANGE) for net in history.service_ranges()]
    return ranges


def save_identity(store: Store, history: OwnershipHistory) -> None:
    """Add the history's intervals and owners to `store` and refresh its cluster ranges."""
    intervals = history.intervals()
    owners = history.owners()
    store.upsert_ownership(intervals, owners)
    ranges = cluster_ranges(history)
    store.replace_ranges(CLUSTER, ranges)
    logger.info(
        "Saved %d ownership intervals, %d owners and %d cluster ranges to %s.",
        len(intervals),
        len(owners),
        len(ranges),
        store.path,
    )
