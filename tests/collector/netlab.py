"""A small Kubernetes-like node built from network namespaces, for collector tests.

The node agent is only believable when it watches real traffic, so this lab
builds one: a "node" namespace that routes to several "pod" namespaces (each
pod a /32 on its own veth, like Calico; a shared bridge would lose the
DNAT'd reply direction in the node's conntrack), kube-proxy-like nftables
DNAT for Service ClusterIPs in the node with conntrack accounting on, source
NAT for egress, and an "internet" namespace holding an external address.
Helpers start TCP/UDP servers and clients inside any of them.

Everything it creates is named ``ns-<pid>-<n>-...`` and removed on exit, also
when the test fails: processes are killed first, then the namespaces (their
veths go with them). Nothing is created in the host namespace.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import TracebackType

POD_GATEWAY = "10.244.1.1"
POD_PREFIX = "10.244.1."
NODE_UPLINK_IP = "198.51.100.1"
INTERNET_UPLINK_IP = "198.51.100.2"
EXTERNAL_IP = "203.0.113.10"
NAT_TABLE = "netsight_lab"

_counter = itertools.count(1)

# One peer program for every role; it names its process (comm) so the agent's
# process attribution can be checked, and prints what the test needs to know.
PEER_SCRIPT = r"""
import ctypes, socket, sys, time
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
    while True:
        conn, _ = srv.accept()
        read_exactly(conn, request)
        conn.sendall(b"r" * response)
        conn.recv(1)  # until the client closes
        conn.close()
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
    """The lab; use as a context manager. Pods are named by the caller."""

    pod_names: list[str]
    prefix: str = ""
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
        node = self.node
        self._add_namespace(node)
        sysctl = ("ip", "netns", "exec", node, "sysctl", "-qw")
        run(*sysctl, "net.ipv4.ip_forward=1")
        # Per-namespace: count bytes in conntrack (the node's own table only).
        run(*sysctl, "net.netfilter.nf_conntrack_acct=1")

        for index, pod in enumerate(self.pod_names):
            ns, ip, veth = self.pod_ns(pod), f"{POD_PREFIX}{10 + index}", f"v{index}"
            self._add_namespace(ns)
            run(
                "ip",
                "-n",
                node,
                "link",
                "add",
                veth,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                ns,
            )
            run("ip", "-n", node, "addr", "add", f"{POD_GATEWAY}/32", "dev", veth)
            run("ip", "-n", node, "link", "set", veth, "up")
            run("ip", "-n", node, "route", "add", f"{ip}/32", "dev", veth)
            run("ip", "-n", ns, "addr", "add", f"{ip}/32", "dev", "eth0")
            run("ip", "-n", ns, "link", "set", "eth0", "up")
            run("ip", "-n", ns, "route", "add", POD_GATEWAY, "dev", "eth0")
            run("ip", "-n", ns, "route", "add", "default", "via", POD_GATEWAY)
            self.pod_ips[pod] = ip

        inet = self.internet
        self._add_namespace(inet)
        run(
            "ip",
            "-n",
            node,
            "link",
            "add",
            "up0",
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            inet,
        )
        run("ip", "-n", node, "addr", "add", f"{NODE_UPLINK_IP}/24", "dev", "up0")
        run("ip", "-n", node, "link", "set", "up0", "up")
        run("ip", "-n", node, "route", "add", f"{EXTERNAL_IP}/32", "via", INTERNET_UPLINK_IP)
        run("ip", "-n", inet, "addr", "add", f"{INTERNET_UPLINK_IP}/24", "dev", "eth0")
        run("ip", "-n", inet, "addr", "add", f"{EXTERNAL_IP}/32", "dev", "lo")
        run("ip", "-n", inet, "link", "set", "eth0", "up")
        # The internet has no route to pods: replies only work through SNAT.
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
    ip saddr {POD_PREFIX}0/24 oifname "up0" masquerade
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
