"""The details panel: everything known about the selected object, as read-only rich text.

Whatever is selected (a pod, workload, service, application, namespace, node
or external address) is described by one immutable `Details` value built off
the GUI thread; the panel only renders it. Links in the text ("look up this
IP", a peer's name) are routed back to the main window.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field

from PySide6.QtCore import QUrl, Signal
from PySide6.QtWidgets import QTextBrowser, QWidget

from netsight.ui.connection_model import format_time, human_bytes

logger = logging.getLogger(__name__)

# Connections listed per direction; the Connections tab has the rest.
MAX_PEERS = 12


@dataclass(frozen=True, slots=True)
class IpOwnership:
    ip: str
    owner: str
    valid_from: float | None
    valid_to: float | None


@dataclass(frozen=True, slots=True)
class Peer:
    """The other end of some connections, as shown and as the topology names it."""

    label: str  # what the panel shows: "namespace/name", or an address with its range
    port: int | None
    proto: str
    connections: int
    bytes_total: int
    kind: str = ""
    namespace: str | None = None
    name: str = ""  # the node's name in the topology (an address, or a group tag)
    group: str | None = None  # an external address's group, drawn instead when folded


@dataclass(frozen=True, slots=True)
class Details:
    title: str
    kind: str
    facts: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    owner_chain: tuple[str, ...] = ()
    helm: tuple[tuple[str, str], ...] = ()  # (label, value): release, revision, status, chart
    ips: tuple[IpOwnership, ...] = ()
    incoming: tuple[Peer, ...] = ()
    outgoing: tuple[Peer, ...] = ()
    note: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def _e(value: object) -> str:
    return html.escape(str(value))


def _peers_html(title: str, direction: str, peers: tuple[Peer, ...]) -> str:
    if not peers:
        return f"<h4>{title}</h4><p class='muted'>none in this time range</p>"
    # A link names the peer by its place in the list: names may hold any character.
    rows = "".join(
        f"<tr><td><a href='peer:{direction}:{i}'>{_e(p.label)}</a></td>"
        f"<td>{_e(p.proto)}/{_e(p.port if p.port is not None else '*')}</td>"
        f"<td align='right'>{p.connections:,}</td>"
        f"<td align='right'>{_e(human_bytes(p.bytes_total))}</td></tr>"
        for i, p in enumerate(peers[:MAX_PEERS])
    )
    more = (
        f"<p class='muted'>and {len(peers) - MAX_PEERS} more</p>" if len(peers) > MAX_PEERS else ""
    )
    return f"<h4>{title}</h4><table width='100%' cellspacing='2'>{rows}</table>{more}"


def details_html(details: Details) -> str:
    """Render Details as the small HTML subset QTextBrowser understands."""
    parts = [
        "<style>h3{margin:0} h4{margin-top:12px;margin-bottom:2px;color:#444}"
        " td{padding-right:8px} .muted{color:#888} .kind{color:#666}</style>",
        f"<h3>{_e(details.title)}</h3><div class='kind'>{_e(details.kind)}</div>",
    ]
    if details.note:
        parts.append(f"<p>{_e(details.note)}</p>")
    if details.facts:
        rows = "".join(
            f"<tr><td class='muted'>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in details.facts
        )
        parts.append(f"<table cellspacing='2'>{rows}</table>")
    if details.owner_chain:
        parts.append("<h4>Owner chain</h4>" + " → ".join(_e(o) for o in details.owner_chain))
    if details.helm:
        rows = "".join(
            f"<tr><td class='muted'>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in details.helm
        )
        parts.append(f"<h4>Helm release</h4><table cellspacing='2'>{rows}</table>")
    if details.labels:
        rows = "".join(
            f"<tr><td class='muted'>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in details.labels
        )
        parts.append(f"<h4>Labels</h4><table cellspacing='1'>{rows}</table>")
    if details.ips:
        rows = "".join(
            f"<tr><td><a href='lookup:{_e(o.ip)}'>{_e(o.ip)}</a></td><td>{_e(o.owner)}</td>"
            f"<td class='muted'>{_e(format_time(o.valid_from) or '…')} – "
            f"{_e(format_time(o.valid_to) or 'now')}</td></tr>"
            for o in details.ips
        )
        parts.append(f"<h4>IP addresses</h4><table cellspacing='2'>{rows}</table>")
    parts.append(_peers_html("Connections in", "in", details.incoming))
    parts.append(_peers_html("Connections out", "out", details.outgoing))
    return "".join(parts)


class DetailsPanel(QTextBrowser):
    """Shows one Details; emits `lookup_requested(ip)` and `peer_requested(Peer)` on links."""

    lookup_requested = Signal(str)
    peer_requested = Signal(object)  # Peer

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.anchorClicked.connect(self._on_link)
        self.details: Details | None = None
        self.show_nothing()

    def show_nothing(self) -> None:
        self.details = None
        self.setHtml(
            "<p style='color:#888'>Select a node in the topology, a row in the connection "
            "list or look up an IP to see its details here.</p>"
        )

    def show_details(self, details: Details) -> None:
        self.details = details
        self.setHtml(details_html(details))

    def _on_link(self, url: QUrl) -> None:
        scheme, _, value = url.toString().partition(":")
        if scheme == "lookup":
            self.lookup_requested.emit(value)
        elif scheme == "peer" and self.details is not None:
            direction, _, index = value.partition(":")
            peers = self.details.incoming if direction == "in" else self.details.outgoing
            if index.isdigit() and int(index) < len(peers):
                self.peer_requested.emit(peers[int(index)])
