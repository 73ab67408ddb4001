"""Informers against the simulated API server: list, watch, relist, RBAC fallback, stop."""

from __future__ import annotations

import copy
import queue
import threading
import time
from pathlib import Path

import pytest
import yaml
from kube_helpers import write_script

from netsight.kube.client import api_client_for
from netsight.kube.errors import ForbiddenError
from netsight.kube.raw import get_json
from netsight.kube.watching import Inventory, InventoryEvent
from netsight.sim.loading import load_objects
from netsight.sim.rbac import RbacRules
from netsight.sim.server import SimServer

pytestmark = pytest.mark.usefixtures("no_login_shell")

REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "real"
FIXTURES = [
    REAL / "mg-aws-ocp-pods.json",
    REAL / "mg-aws-ocp-nodes-services-endpointslices-workloads.json",
    REAL / "kubectl-status-secret-helm-release-deployed.yaml",
]


@pytest.fixture(scope="module")
def real_objects() -> list[dict]:
    return load_objects([str(p) for p in FIXTURES])


@pytest.fixture
def no_leftover_threads():
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        extra = [t for t in set(threading.enumerate()) - before if t.name.startswith("netsight-")]
        if not extra:
            return
        time.sleep(0.05)
    pytest.fail(f"threads left behind: {extra}")


@pytest.fixture
def start_sim(tmp_path: Path):
    servers: list[SimServer] = []

    def start(
        objects: list[dict], rbac: RbacRules | None = None, namespace: str | None = None
    ) -> tuple[SimServer, str]:
        sim = SimServer(copy.deepcopy(objects), rbac=rbac)
        sim.start()
        servers.append(sim)
        path = tmp_path / f"kubeconfig-{len(servers)}"
        sim.write_kubeconfig(path)
        if namespace:
            doc = yaml.safe_load(path.read_text())
            for ctx in doc["contexts"]:
                ctx["context"]["namespace"] = namespace
            path.write_text(yaml.safe_dump(doc))
        return sim, str(path)

    yield start
    for sim in servers:
        sim.stop()


@pytest.fixture
def inventories():
    made: list[Inventory] = []

    def make(*args, **kwargs) -> Inventory:
        kwargs.setdefault("watch_timeout_s", 2)
        inv = Inventory(*args, **kwargs)
        made.append(inv)
        return inv

    yield make
    for inv in made:
        started = time.monotonic()
        inv.stop()
        assert time.monotonic() - started < 3, "stop() took too long"
        inv.api_client.close()


def _count_by_kind(objects: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for obj in objects:
        counts[obj["kind"]] = counts.get(obj["kind"], 0) + 1
    return counts


def _next_events(inv: Inventory, n: int, timeout: float = 10) -> list[InventoryEvent]:
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        try:
            out.append(inv.events.get(timeout=max(0.01, deadline - time.monotonic())))
        except queue.Empty:
            break
    return out


def _drain(inv: Inventory) -> list[InventoryEvent]:
    out = []
    while True:
        try:
            out.append(inv.events.get_nowait())
        except queue.Empty:
            return out


def _pod(name: str, ns: str, uid: str, ip: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "uid": uid},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]},
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]},
    }


@pytest.mark.usefixtures("no_leftover_threads")
def test_initial_list_then_watch(real_objects, start_sim, inventories) -> None:
    other_secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": "not-helm", "namespace": "default", "uid": "s-1"},
    }
    sim, kubeconfig = start_sim([*real_objects, other_secret])
    inv = inventories(api_client_for("sim", kubeconfig), page_size=50)
    assert inv.wait_synced(20)
    assert inv.unavailable == {}

    expected = _count_by_kind(real_objects)
    for kind in (
        "Pod",
        "Service",
        "EndpointSlice",
        "Node",
        "ReplicaSet",
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "CronJob",
    ):
        assert len(inv.snapshot(kind)) == expected[kind], kind
    secrets = inv.snapshot("Secret")
    assert [s["type"] for s in secrets] == ["helm.sh/release.v1"]  # only Helm's
    namespaces = {o["metadata"].get("namespace") for o in real_objects} - {None}
    assert {n["metadata"]["name"] for n in inv.snapshot("Namespace")} >= namespaces
    pods = inv.snapshot("Pod")
    assert all(p["kind"] == "Pod" and p["apiVersion"] == "v1" for p in pods)
    assert not any("managedFields" in p["metadata"] for p in pods)
    initial = _drain(inv)
    assert all(e.type == "ADDED" for e in initial)
    assert sum(1 for e in initial if e.kind == "Pod") == expected["Pod"]

    # Live changes arrive as they happen, each once.
    sim.apply("ADDED", _pod("fresh", "default", "u-fresh", "10.128.9.9"))
    victim = pods[0]
    changed = copy.deepcopy(victim)
    changed["metadata"].setdefault("labels", {})["touched"] = "yes"
    sim.apply("MODIFIED", changed)
    sim.apply("DELETED", victim)
    got = [(e.kind, e.type, e.obj["metadata"]["name"]) for e in _next_events(inv, 3)]
    name = victim["metadata"]["name"]
    assert got == [("Pod", "ADDED", "fresh"), ("Pod", "MODIFIED", name), ("Pod", "DELETED", name)]
    names = {p["metadata"]["name"] for p in inv.snapshot("Pod")}
    assert "fresh" in names and name not in names


@pytest.mark.usefixtures("no_leftover_threads")
def test_relist_after_gone_reports_what_happened_in_the_gap(start_sim, inventories) -> None:
    keep = _pod("keep", "default", "u-keep", "10.0.0.1")
    gone = _pod("gone", "default", "u-gone", "10.0.0.2")
    edit = _pod("edit", "default", "u-edit", "10.0.0.3")
    sim, kubeconfig = start_sim([keep, gone, edit])
    inv = inventories(api_client_for("sim", kubeconfig), kinds=["Pod"], watch_timeout_s=1)
    assert inv.wait_synced(10)
    assert len(_drain(inv)) == 3

    # Hold the informer's next watch request at the server; meanwhile change
    # things and forget the history, so that watch is answered 410 Gone.
    sim.response_delay_s = 3.0
    time.sleep(1.8)  # the running watch (1 s) has ended; the next one is held
    sim.apply("DELETED", gone)
    edited = copy.deepcopy(edit)
    edited["status"]["phase"] = "Succeeded"
    sim.apply("MODIFIED", edited)
    sim.apply("ADDED", _pod("late", "default", "u-late", "10.0.0.2"))
    sim.compact()
    sim.response_delay_s = 0.0

    got = sorted((e.type, e.obj["metadata"]["name"]) for e in _next_events(inv, 3, 15))
    assert got == [("ADDED", "late"), ("DELETED", "gone"), ("MODIFIED", "edit")]
    time.sleep(0.3)
    assert _drain(inv) == []  # nothing for the unchanged pod
    assert sorted(p["metadata"]["name"] for p in inv.snapshot("Pod")) == ["edit", "keep", "late"]


@pytest.mark.usefixtures("no_leftover_threads")
def test_forbidden_kind_is_reported_while_others_work(real_objects, start_sim, inventories) -> None:
    rbac = RbacRules.parse(["list:secrets", "list:nodes"])
    sim, kubeconfig = start_sim(real_objects, rbac)
    client = api_client_for("sim-restricted", kubeconfig)
    inv = inventories(client, kinds=["Pod", "Secret", "Node"])
    assert inv.wait_synced(20)
    assert set(inv.unavailable) == {"Secret", "Node"}
    assert "forbidden" in inv.unavailable["Secret"].lower()
    assert "cluster-wide" in inv.unavailable["Secret"]
    assert "403" in inv.unavailable["Node"]
    assert len(inv.snapshot("Pod")) == _count_by_kind(real_objects)["Pod"]
    assert inv.snapshot("Secret") == [] and inv.snapshot("Node") == []

    # The same denial through the raw API is a ForbiddenError, not a client exception.
    with pytest.raises(ForbiddenError, match="HTTP 403"):
        get_json(client, "/api/v1/secrets", [], 10.0, "listing secrets")


@pytest.mark.usefixtures("no_leftover_threads")
def test_namespace_fallback_when_cluster_wide_list_is_forbidden(
    real_objects, start_sim, inventories
) -> None:
    # Pods may be listed per namespace only, and not at all in one namespace.
    pod_namespaces = sorted(
        {o["metadata"]["namespace"] for o in real_objects if o["kind"] == "Pod"}
    )
    closed = pod_namespaces[0]
    rbac = RbacRules.parse(["list:pods:", f"list:pods:{closed}", "watch:pods:"])
    sim, kubeconfig = start_sim(real_objects, rbac)
    inv = inventories(api_client_for("sim-restricted", kubeconfig), kinds=["Pod"])
    assert inv.wait_synced(20)
    reason = inv.unavailable["Pod"]
    assert "cluster-wide" in reason and f"namespace {closed}:" in reason
    expected = [
        o for o in real_objects if o["kind"] == "Pod" and o["metadata"]["namespace"] != closed
    ]
    assert len(inv.snapshot("Pod")) == len(expected)

    # Watches run per namespace too.
    ns = pod_namespaces[-1]
    _drain(inv)
    sim.apply("ADDED", _pod("new-in-ns", ns, "u-new", "10.128.7.7"))
    [event] = _next_events(inv, 1)
    assert (event.type, event.obj["metadata"]["name"]) == ("ADDED", "new-in-ns")


@pytest.mark.usefixtures("no_leftover_threads")
def test_fallback_to_context_namespace_when_namespaces_cannot_be_listed(
    real_objects, start_sim, inventories
) -> None:
    ns = "openshift-dns"
    rbac = RbacRules.parse(["list:pods:", "list:namespaces"])
    sim, kubeconfig = start_sim(real_objects, rbac, namespace=ns)
    inv = inventories(api_client_for("sim-restricted", kubeconfig), kinds=["Pod", "Namespace"])
    assert inv.wait_synced(20)
    pods = inv.snapshot("Pod")
    expected = [o for o in real_objects if o["kind"] == "Pod" and o["metadata"]["namespace"] == ns]
    assert pods and len(pods) == len(expected)
    assert f"watching only namespace(s): {ns}" in inv.unavailable["Pod"]
    assert "Namespace" in inv.unavailable


@pytest.mark.usefixtures("no_leftover_threads")
def test_401_fetches_a_new_credential_and_relists(start_sim, inventories, tmp_path) -> None:
    sim, kubeconfig = start_sim([_pod("a", "default", "u-a", "10.0.0.9")])
    doc = yaml.safe_load(Path(kubeconfig).read_text())
    admin_token = sim.tokens.admin
    # The plugin's first answer is a stale token; from its second run on, a valid one.
    write_script(
        tmp_path / "plugin",
        f"""\
f="$(dirname "$0")/runs"; n=$(( $(cat "$f" 2>/dev/null || echo 0) + 1 )); echo $n > "$f"
tok=stale; [ "$n" -gt 1 ] && tok="{admin_token}"
printf '{{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",'
printf '"status":{{"token":"%s"}}}}' "$tok"
""",
    )
    doc["users"] = [
        {
            "name": "sim-admin",
            "user": {
                "exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "./plugin"}
            },
        }
    ]
    path = tmp_path / "exec-kubeconfig"
    path.write_text(yaml.safe_dump(doc))

    inv = inventories(api_client_for("sim", str(path)), kinds=["Pod"])
    [event] = _next_events(inv, 1, 10)
    assert (event.type, event.obj["metadata"]["name"]) == ("ADDED", "a")
    assert (tmp_path / "runs").read_text().strip() == "2"
    assert inv.unavailable == {}


@pytest.mark.usefixtures("no_leftover_threads")
def test_in_stream_gone_error_relists(start_sim, inventories) -> None:
    pods = [_pod(f"p{i}", "default", f"u-{i}", f"10.0.1.{i}") for i in range(3)]
    sim, kubeconfig = start_sim(pods)
    inv = inventories(api_client_for("sim", kubeconfig), kinds=["Pod"], watch_timeout_s=30)
    assert inv.wait_synced(10)
    _drain(inv)
    time.sleep(0.5)  # the watch is open and waiting

    # Change and compact while the open watch cannot read the history (the
    # store's lock is held), so the watch falls behind and the server sends an
    # in-stream ERROR 410 instead of the events.
    # NB: uses the simulation's store lock; no public API makes this race certain.
    with sim.store._lock:
        sim.apply("DELETED", pods[0])
        sim.apply("DELETED", pods[1])
        sim.compact()
    got = sorted((e.type, e.obj["metadata"]["name"]) for e in _next_events(inv, 2, 10))
    assert got == [("DELETED", "p0"), ("DELETED", "p1")]
    assert [p["metadata"]["name"] for p in inv.snapshot("Pod")] == ["p2"]
