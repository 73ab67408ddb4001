"""The built-in demo: a simulated cluster and collector that need no real cluster.

`demo_objects` writes the cluster's objects, `DemoCollector` serves changing
connection records in the node agent's protocol, `DemoChanges` keeps the
inventory moving, and `start_demo` runs them all behind the simulated API
server for `netsight --demo` and the tests.
"""

from netsight.sim.demo.cluster import demo_objects
from netsight.sim.demo.collector import DemoCollector
from netsight.sim.demo.launch import DemoCluster, start_demo
from netsight.sim.demo.live import DemoChanges

__all__ = ["DemoChanges", "DemoCluster", "DemoCollector", "demo_objects", "start_demo"]
