"""A small Kubernetes-like node built from network namespaces, for collector tests.

The node agent is only believable when it watches real traffic, so this lab
builds one: a "node" namespace that routes to several "pod" namespaces (each
pod a /32 on its own veth, like Calico; a shared bridge would lose the
DNAT'd reply direction in the node's conntrack), kube-proxy-like nftables
DNAT for Service ClusterIPs in the node with conntrack accounting on, source
NAT for egress, and an "internet" namespace holding an external address.
Helpers start TCP/UDP servers and clients inside any of them.

Each lab takes an address block no other lab holds (`LabAddresses`): the
agent sees every namespace on the machine, so labs of tests running at the
same time must not share addresses. Everything it creates is named
``ns-<pid>-<n>-...`` and removed on exit, also when the test fails:
processes are killed first, then the namespaces (their veths go with them).
Nothing is created in the host's network namespace.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import TracebackType

NAT_TABLE = "netsight_lab"
# Pods get addresses from .10 up (.1 is the node's gateway; the simulated
# DaemonSet controller hands .2 and on to the collector pod).
FIRST_POD_HOST = 10
# Address blocks a lab may take (the third octet of its pod CIDR and the rest).
FIRST_BLOCK, BLOCKS = 2, 250
# One lock file per block, held (flock) while a lab uses it: released by the
# kernel when the holder ends, however it ends.
CLAIMS_DIR = "/run/netsight-lab"
_claims: dict[int, int] = {}  # block -> open lock file
_counter = itertools.count(1)


@dataclass(frozen=True)
class LabAddresses:
    """Every address one lab uses, all from one block (the third octet)."""

    block: int

    @classmethod
    def for_run(cls) -> LabAddresses:
        """A block no other lab holds, the first free one from a block derived from the pid.

        The agent sees every namespace on the machine, so two labs with the same
        addresses (another test process, another lab in this one) would each
        see the other's connections as their own.
        """
        start = os.getpid() * 7 + next(_counter)
        os.makedirs(CLAIMS_DIR, exist_ok=True)
        for step in range(BLOCKS):
            block = FIRST_BLOCK + (start + step) % BLOCKS
            if block in _claims:
                continue
            fd = os.open(f"{CLAIMS_DIR}/{block}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            _claims[block] = fd
            return cls(block)
        raise RuntimeError(f"all {BLOCKS} lab address blocks are in use")

    def release(self) -> None:
        fd = _claims.pop(self.block, None)
        if fd is not None:
            os.close(fd)

    @property
    def pod_cidr(self) -> str:
        return f"10.244.{self.block}.0/24"

    @property
    def gateway(self) -> str:
        return f"10.244.{self.block}.1"

    def pod_ip(self, index: int) -> str:
        return f"10.244.{self.block}.{FIRST_POD_HOST + index}"

    @property
    def node_ip(self) -> str:
        """The node's uplink, and the address pods are masqueraded to."""
        return f"192.168.{self.block}.1"

    @property
    def internet_uplink_ip(self) -> str:
        return f"192.168.{self.block}.2"

    @property
    def external_ip(self) -> str:
        """An address outside the cluster (documentation range), held by the internet."""
        return f"203.0.113.{self.block}"

    def cluster_ip(self, index: int) -> str:
        return f"10.96.{self.block}.{10 + index}"

    @property
    def service_cidr(self) -> str:
        return f"10.96.{self.block}.0/24"


# One peer program for every role; it names its process (comm) so the agent's
# process attribution can be checked, and prints what the test needs to know.
PEER_SCRIPT = r"""
import ctypes, socket, sys, threading, time
mode, name, host, port, request, response, hold = sys.argv[1:8]
port, request, response, hold = int(port), int(request), int(response), float(hold)
ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)
family = socket.AF_INET6 if ":" in host else socket.AF_INET

def read_exactly(conn, size):
    got = 0
    while got < size:
        chunk = conn.recv(min(65536, size - got))
        if not chunk:
            break
        got += len(chunk)
    return got

if mode == "tcp-server":
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(128)
    print("ready", srv.getsockname()[1], flush=True)

    def serve(conn):
        read_exactly(conn, request)
        conn.sendall(b"r" * response)
        conn.recv(1)  # until the client closes
        conn.close()

    while True:  # a thread per connection: clients need not take turns
        threading.Thread(target=serve, args=(srv.accept()[0],), daemon=True).start()
elif mode == "udp-server":
    srv = socket.socket(family, socket.SOCK_DGRAM)
    srv.bind((host, port))
    print("ready", srv.getsockname()[1], flush=True)
    while True:
        data, peer = srv.recvfrom(65536)
        srv.sendto(b"r" * response, peer)
elif mode == "tcp-client":
    conn = socket.create_connection((host, port), timeout=10)
    conn.sendall(b"q" * request)
    got = read_exactly(conn, response)
    print("done", conn.getsockname()[1], got, flush=True)
    time.sleep(hold)
    conn.close()
elif mode == "udp-client":
    conn = socket.socket(family, socket.SOCK_DGRAM)
    conn.settimeout(10)
    conn.connect((host, port))
    conn.send(b"q" * request)
    got = len(conn.recv(65536))
    print("done", conn.getsockname()[1], got, flush=True)
    time.sleep(hold)
    conn.close()
"""


def lab_available() -> str | None:
    """None when the lab can be built here, else the reason it cannot."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"needs the {tool!r} command (Debian: iproute2, nftables)"
    return None


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {result.stderr.strip()}")
    return result


@dataclass
class Peer:
    """A peer program running inside a namespace."""

    process: subprocess.Popen[str]
    name: str
    namespace: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def read_line(self, timeout: float = 10.0) -> list[str]:
        """The next line the peer printed, split on spaces."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        import selectors

        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if selector.select(timeout=0.1):
                    line = self.process.stdout.readline()
                    if line:
                        return line.split()
                    break
                if self.process.poll() is not None:
                    break
        stderr = self.process.stderr.read() if self.process.stderr and self.process.poll() else ""
        raise RuntimeError(f"peer {self.name} in {self.namespace} printed nothing: {stderr}")

    def wait(self, timeout: float = 15.0) -> int:
        return self.process.wait(timeout=timeout)


@dataclass
class Service:
    cluster_ip: str
    port: int
    proto: str
    backends: list[tuple[str, int]]


@dataclass
class NetLab:
    """The lab; use as a context manager. Pods are named by the caller.

    addresses: the lab's address block; by default one no other lab holds
    (see `LabAddresses.for_run`), given back on close.
    """

    pod_names: list[str]
    prefix: str = ""
    addresses: LabAddresses = field(default_factory=LabAddresses.for_run)
    pod_ips: dict[str, str] = field(default_factory=dict)
    services: list[Service] = field(default_factory=list)
    peers: list[Peer] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.prefix:
            self.prefix = f"ns-{os.getpid()}-{next(_counter)}"
        self.node = f"{self.prefix}-node"
        self.internet = f"{self.prefix}-inet"

    def pod_ns(self, pod: str) -> str:
        return f"{self.prefix}-{pod}"

    @property
    def node_netns_path(self) -> str:
        return f"/run/netns/{self.node}"

    # -- building

    def __enter__(self) -> NetLab:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _add_namespace(self, name: str) -> None:
        run("ip", "netns", "add", name)
        self.namespaces.append(name)
        run("ip", "-n", name, "link", "set", "lo", "up")

    def _build(self) -> None:
        node, addr = self.node, self.addresses
        self._add_namespace(node)
        sysctl = ("ip", "netns", "exec", node, "sysctl", "-qw")
        run(*sysctl, "net.ipv4.ip_forward=1")
        # Per-namespace: count bytes in conntrack (the node's own table only).
        run(*sysctl, "net.netfilter.nf_conntrack_acct=1")

        # Pods: a /32 on their own veth, routed by the node (both directions
        # of a DNAT'd connection then pass the node's conntrack).
        for index, pod in enumerate(self.pod_names):
            ns, ip, veth = self.pod_ns(pod), addr.pod_ip(index), f"v{index}"
            self._add_namespace(ns)
            run(*f"ip -n {node} link add {veth} type veth peer name eth0 netns {ns}".split())
            run("ip", "-n", node, "addr", "add", f"{addr.gateway}/32", "dev", veth)
            run("ip", "-n", node, "link", "set", veth, "up")
            run("ip", "-n", node, "route", "add", f"{ip}/32", "dev", veth)
            run("ip", "-n", ns, "addr", "add", f"{ip}/32", "dev", "eth0")
            run("ip", "-n", ns, "link", "set", "eth0", "up")
            run("ip", "-n", ns, "route", "add", addr.gateway, "dev", "eth0")
            run("ip", "-n", ns, "route", "add", "default", "via", addr.gateway)
            self.pod_ips[pod] = ip

        # The internet: reachable from the node, with no route back to pods
        # (replies only work through source NAT).
        inet = self.internet
        self._add_namespace(inet)
        run(*f"ip -n {node} link add up0 type veth peer name eth0 netns {inet}".split())
        run("ip", "-n", node, "addr", "add", f"{addr.node_ip}/24", "dev", "up0")
        run("ip", "-n", node, "link", "set", "up0", "up")
        run(*f"ip -n {node} route add {addr.external_ip}/32 via {addr.internet_uplink_ip}".split())
        run("ip", "-n", inet, "addr", "add", f"{addr.internet_uplink_ip}/24", "dev", "eth0")
        run("ip", "-n", inet, "addr", "add", f"{addr.external_ip}/32", "dev", "lo")
        run("ip", "-n", inet, "link", "set", "eth0", "up")
        self._apply_nat()

    def add_service(
        self, cluster_ip: str, port: int, proto: str, backends: list[tuple[str, int]]
    ) -> Service:
        """A ClusterIP Service: DNAT in the node namespace, like kube-proxy."""
        service = Service(cluster_ip, port, proto, backends)
        self.services.append(service)
        self._apply_nat()
        return service

    def _apply_nat(self) -> None:
        rules = []
        for service in self.services:
            if len(service.backends) == 1:
                ip, port = service.backends[0]
                target = f"dnat to {ip}:{port}"
            else:
                choices = ", ".join(f"{i} : {ip}" for i, (ip, _) in enumerate(service.backends))
                target = f"dnat to numgen random mod {len(service.backends)} map {{ {choices} }}"
                target += f":{service.backends[0][1]}"
            match = f"ip daddr {service.cluster_ip} {service.proto} dport {service.port}"
            rules.append(f"{match} {target}")
        body = "\n".join(f"    {rule}" for rule in rules)
        ruleset = f"""
table ip {NAT_TABLE}
delete table ip {NAT_TABLE}
table ip {NAT_TABLE} {{
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
{body}
  }}
  chain output {{
    type nat hook output priority -100; policy accept;
{body}
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr {self.addresses.pod_cidr} oifname "up0" masquerade
  }}
  chain forward {{
    type filter hook forward priority 0; policy accept;
    ct state established,related counter accept
  }}
}}
"""
        subprocess.run(
            ["ip", "netns", "exec", self.node, "nft", "-f", "-"],
            input=ruleset,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )

    # -- peers

    def spawn(
        self,
        namespace: str,
        mode: str,
        name: str,
        host: str,
        port: int,
        request: int = 0,
        response: int = 0,
        hold: float = 0.0,
    ) -> Peer:
        """Start the peer program in a namespace (pid is kept through `ip netns exec`)."""
        process = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                namespace,
                sys.executable,
                "-c",
                PEER_SCRIPT,
                mode,
                name,
                host,
                str(port),
                str(request),
                str(response),
                str(hold),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        peer = Peer(process, name, namespace)
        self.peers.append(peer)
        return peer

    def server(
        self, pod: str, proto: str, port: int, name: str, request: int = 0, response: int = 0
    ) -> Peer:
        ns = self.internet if pod == "internet" else self.pod_ns(pod)
        peer = self.spawn(ns, f"{proto}-server", name, "0.0.0.0", port, request, response)
        peer.read_line()  # "ready PORT"
        return peer

    def client(
        self,
        pod: str,
        proto: str,
        host: str,
        port: int,
        name: str,
        request: int,
        response: int,
        hold: float,
    ) -> tuple[Peer, int]:
        """Run a client; return it and its local port once the exchange is done."""
        peer = self.spawn(
            self.pod_ns(pod), f"{proto}-client", name, host, port, request, response, hold
        )
        words = peer.read_line()
        assert words[0] == "done" and int(words[2]) == response, words
        return peer, int(words[1])

    # -- teardown

    def close(self) -> None:
        for peer in self.peers:
            if peer.process.poll() is None:
                peer.process.kill()
            try:
                peer.process.wait(timeout=10)
            finally:
                for stream in (peer.process.stdout, peer.process.stderr):
                    if stream is not None:
                        stream.close()
        for name in reversed(self.namespaces):
            # Anything else still running inside (started by a test by hand).
            pids = run("ip", "netns", "pids", name, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            run("ip", "netns", "del", name, check=False)
        self.namespaces.clear()
        self.addresses.release()
