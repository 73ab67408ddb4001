"""Live changes to the demo cluster, so the demo's inventory moves like a real one.

A real cluster never stands still: CronJob runs finish and the next run's
pod gets the same IP, Deployments scale. The demo plays a small cycle of
such changes every few seconds into the simulated API server (and into the
simulated collector, so its traffic follows). The pace is gentle on purpose:
the point is to show that identity follows time, not to stress the views.
"""

from __future__ import annotations

import copy
import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Iterable

from netsight.sim.demo import cluster
from netsight.sim.demo.cluster import Obj

logger = logging.getLogger(__name__)

# Seconds between two changes: often enough to be seen, rarely enough to read.
DEFAULT_INTERVAL_S = 15.0
# The Deployment that scales up and back down.
SCALED = ("shop", "cart")
# Finished Jobs the CronJob keeps, as its successfulJobsHistoryLimit says.
JOB_HISTORY = 3

Sink = Callable[[str, Obj], object]


class DemoChanges:
    """Plays the demo's cycle of changes into `sinks` (each called with (type, object)).

    `step()` makes the next change; `start()` runs steps every `interval_s`
    in a thread until `stop()`.
    """

    def __init__(
        self,
        objects: Iterable[Obj],
        sinks: Iterable[Sink],
        *,
        now_fn: Callable[[], float] = time.time,
        interval_s: float = DEFAULT_INTERVAL_S,
        seed: int = cluster.DEFAULT_SEED + 1,
    ) -> None:
        self.sinks = list(sinks)
        self.now_fn = now_fn
        self.interval_s = interval_s
        self._objects: dict[tuple[str, str, str], Obj] = {}
        for obj in objects:
            self._objects[_key(obj)] = copy.deepcopy(obj)
        self._builder = cluster.Builder(now_fn(), seed)
        self._actions = [self._next_report_run, self._scale_up, self._next_report_run,
                         self._scale_down]  # fmt: skip
        self._step = 0
        self._scaled_pod: Obj | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- running ---------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the demo's live changes already run")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="demo-live-changes", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.step()
            except Exception:  # the demo keeps going with the next change
                logger.exception("A live change of the demo cluster failed; trying the next one.")

    def step(self) -> str:
        """Make the next change of the cycle; returns what it did, in a few words."""
        with self._lock:
            action = self._actions[self._step % len(self._actions)]
            self._step += 1
            return action(self.now_fn())

    def objects(self) -> list[Obj]:
        """The demo's objects as the changes so far left them."""
        with self._lock:
            return [copy.deepcopy(o) for o in self._objects.values()]

    # -- helpers -------------------------------------------------------------------

    def _emit(self, event_type: str, obj: Obj) -> None:
        if event_type == "DELETED":
            self._objects.pop(_key(obj), None)
        else:
            self._objects[_key(obj)] = obj
        for sink in self.sinks:
            sink(event_type, copy.deepcopy(obj))

    def _get(self, kind: str, namespace: str, name: str) -> Obj:
        return self._objects[(kind, namespace, name)]

    def _of_kind(self, kind: str, namespace: str) -> list[Obj]:
        return [
            o for (k, ns, _), o in sorted(self._objects.items()) if (k, ns) == (kind, namespace)
        ]

    # -- the CronJob ---------------------------------------------------------------

    def _next_report_run(self, now: float) -> str:
        """The running report pod completes; the next run's pod takes over its IP."""
        ns = cluster.REPORT_NAMESPACE
        cronjob = self._get("CronJob", ns, cluster.REPORT_CRONJOB)
        pods = [p for p in self._of_kind("Pod", ns) if p["metadata"]["name"].startswith("report-")]
        running = [p for p in pods if p["status"].get("phase") == "Running"]
        ip = running[0]["status"]["podIP"] if running else self._free_ip(cluster.REPORT_NODE)
        for pod in running:
            job_name = pod["metadata"]["ownerReferences"][0]["name"]
            self._emit("MODIFIED", cluster.finish_pod(pod, now))
            self._emit("MODIFIED", cluster.finish_job(self._get("Job", ns, job_name), now))

        # The next run: Job names carry the scheduled minute, which must be new.
        minutes = [int(j["metadata"]["name"].rsplit("-", 1)[1]) for j in self._of_kind("Job", ns)]
        minute = max([int(now // 60) - 1, *minutes]) + 1
        job, pod = cluster.make_report_run(self._builder, cronjob, now, ip, minute=minute)
        self._emit("ADDED", job)
        self._emit("ADDED", pod)
        cronjob = copy.deepcopy(cronjob)
        cronjob["status"] = {
            "lastScheduleTime": cluster.iso(now),
            "lastSuccessfulTime": cluster.iso(now),
            "active": [
                {"kind": "Job", "name": job["metadata"]["name"], "namespace": ns,
                 "uid": job["metadata"]["uid"], "apiVersion": "batch/v1"}
            ],
        }  # fmt: skip
        self._emit("MODIFIED", cronjob)

        # Finished Jobs beyond the history limit go, with their pods.
        finished = [j for j in self._of_kind("Job", ns) if j["status"].get("succeeded")]
        finished.sort(key=lambda j: int(j["metadata"]["name"].rsplit("-", 1)[1]))
        for old in finished[: max(0, len(finished) - JOB_HISTORY)]:
            for pod_of_job in self._of_kind("Pod", ns):
                owners = pod_of_job["metadata"].get("ownerReferences", [])
                if owners and owners[0]["uid"] == old["metadata"]["uid"]:
                    self._emit("DELETED", pod_of_job)
            self._emit("DELETED", old)
        logger.info("Demo: report run %s started on %s.", job["metadata"]["name"], ip)
        return f"report run {job['metadata']['name']} on {ip}"

    # -- the scaling Deployment ---------------------------------------------------------

    def _live_replica_set(self, ns: str, deployment: Obj) -> Obj:
        owned = [
            rs
            for rs in self._of_kind("ReplicaSet", ns)
            if rs["metadata"]["ownerReferences"][0]["uid"] == deployment["metadata"]["uid"]
            and rs["spec"]["replicas"] > 0
        ]
        return owned[0]

    def _set_replicas(self, ns: str, name: str, delta: int) -> tuple[Obj, Obj]:
        deployment = copy.deepcopy(self._get("Deployment", ns, name))
        rs = copy.deepcopy(self._live_replica_set(ns, deployment))
        replicas = deployment["spec"]["replicas"] + delta
        deployment["spec"]["replicas"] = replicas
        deployment["metadata"]["generation"] = deployment["metadata"].get("generation", 1) + 1
        for status_field in ("replicas", "readyReplicas", "availableReplicas", "updatedReplicas"):
            deployment["status"][status_field] = replicas
        deployment["status"]["observedGeneration"] = deployment["metadata"]["generation"]
        rs["spec"]["replicas"] = replicas
        rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] = str(replicas)
        for status_field in ("replicas", "readyReplicas", "availableReplicas"):
            rs["status"][status_field] = replicas
        rs["status"]["fullyLabeledReplicas"] = replicas
        return deployment, rs

    def _update_slice(self, ns: str, service_name: str, now: float) -> None:
        service = self._get("Service", ns, service_name)
        selector = service["spec"]["selector"]
        pods = [
            p
            for p in self._of_kind("Pod", ns)
            if p["status"].get("phase") == "Running"
            and all(p["metadata"].get("labels", {}).get(k) == v for k, v in selector.items())
        ]
        for old in self._of_kind("EndpointSlice", ns):
            if old["metadata"]["labels"].get("kubernetes.io/service-name") == service_name:
                fresh = cluster.endpoint_slice(self._builder, service, pods, now)
                fresh["metadata"] = copy.deepcopy(old["metadata"])
                self._emit("MODIFIED", fresh)

    def _scale_up(self, now: float) -> str:
        ns, name = SCALED
        if self._scaled_pod is not None:
            return f"{name} already scaled up"
        deployment, rs = self._set_replicas(ns, name, +1)
        self._emit("MODIFIED", deployment)
        self._emit("MODIFIED", rs)
        node = cluster.NODES[self._step % len(cluster.NODES)].name
        labels = dict(rs["spec"]["template"]["metadata"]["labels"])
        pod = cluster.make_pod(
            self._builder,
            f"{rs['metadata']['name']}-{self._builder.suffix(5)}",
            ns,
            node,
            labels,
            rs,
            cluster.find_component(ns, name),
            now,
            ip=self._free_ip(node),
        )
        self._emit("ADDED", pod)
        self._scaled_pod = pod
        self._update_slice(ns, name, now)
        logger.info("Demo: %s/%s scaled up; new pod %s.", ns, name, pod["metadata"]["name"])
        return f"{name} scaled up: {pod['metadata']['name']} on {pod['status']['podIP']}"

    def _scale_down(self, now: float) -> str:
        ns, name = SCALED
        pod = self._scaled_pod
        if pod is None:
            return f"{name} not scaled up"
        deployment, rs = self._set_replicas(ns, name, -1)
        self._emit("MODIFIED", deployment)
        self._emit("MODIFIED", rs)
        gone = copy.deepcopy(self._get("Pod", ns, pod["metadata"]["name"]))
        gone["metadata"]["deletionTimestamp"] = cluster.iso(now)
        self._emit("DELETED", gone)
        self._scaled_pod = None
        self._update_slice(ns, name, now)
        logger.info("Demo: %s/%s scaled down; pod %s deleted.", ns, name, pod["metadata"]["name"])
        return f"{name} scaled down: {pod['metadata']['name']} deleted"

    def _free_ip(self, node: str) -> str:
        """The next address of `node`'s pod range after every address handed out so far."""
        spec = next(n for n in cluster.NODES if n.name == node)
        network = ipaddress.ip_network(spec.pod_cidr)
        used = {
            ipaddress.ip_address(p["status"]["podIP"])
            for p in self._objects.values()
            if p["kind"] == "Pod" and p["status"].get("podIP")
        }
        in_range = [ip for ip in used if ip in network]
        candidate = max(in_range, default=network[1]) + 1 + self._builder.rng.randrange(3)
        if candidate not in network or candidate == network.broadcast_address:
            candidate = next(ip for ip in network.hosts() if ip not in used)
        return str(candidate)


def _key(obj: Obj) -> tuple[str, str, str]:
    meta = obj["metadata"]
    return (obj["kind"], meta.get("namespace", ""), meta["name"])
