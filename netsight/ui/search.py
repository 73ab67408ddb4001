"""The search box language, parsed without Qt.

One line typed by the user (`ns:payments app:shop port:5432 external`, an IP,
a CIDR or a bare name) filters the topology, the connection list and the IP
lookup the same way. Keeping the parser pure lets it be tested exhaustively
and reused by anything that needs the same filter (the store query, the
graph filter) without a QApplication.
"""

from __future__ import annotations

import ipaddress
import logging
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

logger = logging.getLogger(__name__)

# Keys the user may type before a colon, and the field each one fills. Short
# forms are what people type; long forms are what they read in the help.
KEY_ALIASES: Mapping[str, str] = {
    "ns": "namespaces",
    "namespace": "namespaces",
    "app": "apps",
    "application": "apps",
    "port": "ports",
    "proto": "protos",
    "protocol": "protos",
    "node": "nodes",
    "kind": "kinds",
    "name": "names",
    "ip": "ips",
    "cidr": "cidrs",
}
# Bare words that are flags rather than names.
FLAG_WORDS: Mapping[str, str] = {"external": "external", "ext": "external"}
# What the completer offers for an empty word: the keys people use most.
KEY_SUGGESTIONS: tuple[str, ...] = ("ns:", "app:", "port:", "proto:", "node:", "kind:", "external")
PROTOCOLS: tuple[str, ...] = ("tcp", "udp")


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """What the user asked to see. Empty tuples mean "no restriction".

    Values inside one field are alternatives (OR); different fields must all
    hold (AND). `names` are case-insensitive substrings of an object's name.
    `problems` lists the words that could not be understood, so the UI can say
    so instead of silently ignoring them.
    """

    namespaces: tuple[str, ...] = ()
    apps: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    protos: tuple[str, ...] = ()
    nodes: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    cidrs: tuple[str, ...] = ()
    external: bool = False
    problems: tuple[str, ...] = field(default=(), compare=False)

    @property
    def is_empty(self) -> bool:
        return self == SearchFilter()

    def with_namespaces(self, namespaces: Sequence[str]) -> SearchFilter:
        """The same filter with the namespace picker's choice merged in."""
        merged = tuple(dict.fromkeys((*self.namespaces, *namespaces)))
        return replace(self, namespaces=merged)

    def to_text(self) -> str:
        """The canonical text for this filter; parsing it gives the filter back."""
        words: list[str] = []
        words += [f"ns:{_quote(v)}" for v in self.namespaces]
        words += [f"app:{_quote(v)}" for v in self.apps]
        words += [f"port:{v}" for v in self.ports]
        words += [f"proto:{v}" for v in self.protos]
        words += [f"node:{_quote(v)}" for v in self.nodes]
        words += [f"kind:{_quote(v)}" for v in self.kinds]
        words += list(self.ips) + list(self.cidrs)
        words += [_quote(v) for v in self.names]
        if self.external:
            words.append("external")
        return " ".join(words)

    def matches_address(self, ip: str) -> bool:
        """True when no IP/CIDR restriction is set or `ip` satisfies one of them."""
        if not self.ips and not self.cidrs:
            return True
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if address.compressed in self.ips:
            return True
        return any(address in ipaddress.ip_network(cidr) for cidr in self.cidrs)

    def matches(
        self,
        *,
        kind: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        app: str | None = None,
        node: str | None = None,
    ) -> bool:
        """Whether an object described by these fields passes the object filters.

        Only the fields about objects are checked here (namespace, app, node,
        kind, name, external); ports, protocols and addresses belong to
        connections and are checked by the query.
        """
        if self.namespaces and namespace not in self.namespaces:
            return False
        if self.apps and app not in self.apps:
            return False
        if self.nodes and node not in self.nodes:
            return False
        if self.kinds and (kind or "").lower() not in {k.lower() for k in self.kinds}:
            return False
        if self.external and (kind or "") != "External":
            return False
        if self.names:
            lowered = (name or "").lower()
            if not any(n.lower() in lowered for n in self.names):
                return False
        return True


def _quote(value: str) -> str:
    return shlex.quote(value) if any(c.isspace() for c in value) else value


def _split(text: str) -> list[str]:
    """Words of `text`; quotes group words, an unbalanced quote is forgiven."""
    try:
        return shlex.split(text)
    except ValueError:
        return text.replace('"', " ").replace("'", " ").split()


def _as_ip(word: str) -> str | None:
    try:
        return ipaddress.ip_address(word).compressed
    except ValueError:
        return None


def _as_cidr(word: str) -> str | None:
    if "/" not in word:
        return None
    try:
        return ipaddress.ip_network(word, strict=False).compressed
    except ValueError:
        return None


def parse_search(text: str) -> SearchFilter:
    """Parse one line of the search box into a SearchFilter. Never raises."""
    values: dict[str, list[str]] = {name: [] for name in set(KEY_ALIASES.values())}
    ports: list[int] = []
    problems: list[str] = []
    external = False

    for word in _split(text):
        # Addresses first: an IPv6 address has colons but is not a key:value.
        ip = _as_ip(word)
        if ip is not None:
            values["ips"].append(ip)
            continue
        cidr = _as_cidr(word)
        if cidr is not None:
            values["cidrs"].append(cidr)
            continue
        if word.lower() in FLAG_WORDS:
            external = True
            continue

        key, sep, value = word.partition(":")
        target = KEY_ALIASES.get(key.lower()) if sep else None
        if target is None:
            values["names"].append(word)
            continue
        if not value:
            problems.append(word)
            continue
        for part in value.split(","):
            if not part:
                continue
            if target == "ports":
                if part.isdigit() and 0 < int(part) < 65536:
                    ports.append(int(part))
                else:
                    problems.append(f"{key}:{part}")
            elif target == "protos":
                if part.lower() in PROTOCOLS:
                    values["protos"].append(part.lower())
                else:
                    problems.append(f"{key}:{part}")
            elif target == "ips":
                parsed = _as_ip(part)
                values["ips"].append(parsed) if parsed else problems.append(f"{key}:{part}")
            elif target == "cidrs":
                parsed = _as_cidr(part if "/" in part else part + "/32")
                values["cidrs"].append(parsed) if parsed else problems.append(f"{key}:{part}")
            else:
                values[target].append(part)

    if problems:
        logger.debug("Search words not understood and ignored: %s", problems)

    def unique(items: Iterable[str]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(items))

    return SearchFilter(
        namespaces=unique(values["namespaces"]),
        apps=unique(values["apps"]),
        ports=tuple(dict.fromkeys(ports)),
        protos=unique(values["protos"]),
        nodes=unique(values["nodes"]),
        kinds=unique(values["kinds"]),
        names=unique(values["names"]),
        ips=unique(values["ips"]),
        cidrs=unique(values["cidrs"]),
        external=external,
        problems=tuple(problems),
    )


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """What the completer knows about the current cluster."""

    namespaces: tuple[str, ...] = ()
    apps: tuple[str, ...] = ()
    nodes: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ("Pod", "Service", "Node", "External")
    ports: tuple[int, ...] = ()
    names: tuple[str, ...] = ()


def complete(text: str, vocabulary: Vocabulary, limit: int = 20) -> list[str]:
    """Whole-line completions for `text`, completing its last word.

    Returns full lines (the earlier words kept), so a QCompleter can offer
    them as they are.
    """
    head, _, last = text.rpartition(" ")
    prefix = f"{head} " if head else ""
    candidates: list[str]

    key, sep, value = last.partition(":")
    target = KEY_ALIASES.get(key.lower()) if sep else None
    if target is not None:
        pool: Sequence[str] = {
            "namespaces": vocabulary.namespaces,
            "apps": vocabulary.apps,
            "nodes": vocabulary.nodes,
            "kinds": vocabulary.kinds,
            "ports": tuple(str(p) for p in vocabulary.ports),
            "protos": PROTOCOLS,
            "names": vocabulary.names,
        }.get(target, ())
        candidates = [f"{key}:{v}" for v in pool if v.lower().startswith(value.lower())]
    else:
        lowered = last.lower()
        keys = [k for k in KEY_SUGGESTIONS if k.startswith(lowered)]
        names = [n for n in vocabulary.names if lowered and n.lower().startswith(lowered)]
        candidates = keys + names
    return [prefix + c for c in candidates[:limit]]
