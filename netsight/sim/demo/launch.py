"""Start the whole demo in-process: API server, simulated agents and live changes.

`netsight --demo` and the tests want one call that gives them a cluster to
point a kubeconfig at. The user still deploys the collector from the UI as
on a real cluster; the simulated API server's DaemonSet controller creates
its pods, and pod-proxy calls to them reach the simulated agents registered
here for every node.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from netsight.sim.demo.cluster import DEFAULT_SEED, demo_objects
from netsight.sim.demo.collector import DemoCollector
from netsight.sim.demo.live import DEFAULT_INTERVAL_S, DemoChanges

if TYPE_CHECKING:
    from netsight.sim.server import SimServer

logger = logging.getLogger(__name__)

CONTEXT = "sim"
KUBECONFIG_NAME = "kubeconfig"


@dataclass
class DemoCluster:
    """A running demo; `stop()` ends every server and thread it started."""

    sim: SimServer
    collector: DemoCollector
    changes: DemoChanges | None
    kubeconfig: Path
    context: str = CONTEXT

    @property
    def url(self) -> str:
        return str(self.sim.url)

    def stop(self) -> None:
        if self.changes is not None:
            self.changes.stop()
        self.collector.stop()
        self.sim.stop()
        logger.info("Demo cluster stopped.")

    def __enter__(self) -> DemoCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_demo(
    tmpdir: str | Path,
    *,
    now_fn: Callable[[], float] = time.time,
    seed: int = DEFAULT_SEED,
    collector_rate: float = 1.0,
    change_interval_s: float | None = DEFAULT_INTERVAL_S,
) -> DemoCluster:
    """Run the demo cluster and write `tmpdir/kubeconfig` (context "sim") for it.

    `change_interval_s=None` keeps the inventory still (no live changes).
    """
    from netsight.sim.server import SimServer  # the API server imports much; only when asked

    now = now_fn()
    objects = demo_objects(now, seed)
    sim = SimServer(objects)
    sim.start()
    collector = DemoCollector(objects, now_fn=now_fn, rate=collector_rate, seed=seed)
    changes: DemoChanges | None = None
    try:
        collector.start()
        for node, url in collector.urls().items():
            sim.set_agent(node, url)
        kubeconfig = Path(tmpdir) / KUBECONFIG_NAME
        sim.write_kubeconfig(str(kubeconfig))
        if change_interval_s is not None:
            changes = DemoChanges(
                objects,
                [sim.apply, collector.apply],
                now_fn=now_fn,
                interval_s=change_interval_s,
                seed=seed + 1,
            )
            changes.start()
    except BaseException:
        collector.stop()
        sim.stop()
        raise
    logger.info("Demo cluster running at %s; kubeconfig %s.", sim.url, kubeconfig)
    return DemoCluster(sim, collector, changes, kubeconfig)
