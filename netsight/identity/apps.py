"""Applications: which Helm release (or labelled app) an object belongs to.

Helm 3 keeps each revision of a release in a Secret of type
`helm.sh/release.v1`. Its `data.release`, once base64-decoded like any
Secret value, is Helm's *own* base64 of a gzip of JSON (so
`kubectl get -o yaml` shows it base64 twice). The JSON holds the revision,
its status and the rendered manifest, which lists the objects the release
owns; objects may name their own namespace there. Where no Secret can be
read, the `meta.helm.sh/release-name` annotation and the labels charts set
(`app.kubernetes.io/instance`, `app.kubernetes.io/part-of`, and Helm 2's
`release` with `heritage`) name the application instead.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import logging
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

logger = logging.getLogger(__name__)

HELM_SECRET_TYPE = "helm.sh/release.v1"
RELEASE_NAME_ANNOTATION = "meta.helm.sh/release-name"
RELEASE_NAMESPACE_ANNOTATION = "meta.helm.sh/release-namespace"
# Labels that name an application, in the order they are trusted.
APP_LABELS = ("app.kubernetes.io/instance", "app.kubernetes.io/part-of")
# Helm 2 charts labelled objects `release: NAME` next to `heritage: Tiller|Helm`.
LEGACY_RELEASE_LABEL = "release"
LEGACY_HERITAGE_LABEL = "heritage"
# Helm's status of the revision that is live.
DEPLOYED = "deployed"
_GZIP_MAGIC = b"\x1f\x8b"

# (kind, namespace or None for cluster-scoped, name)
ObjectRef = tuple[str, str | None, str]


@dataclass(frozen=True, slots=True)
class HelmRelease:
    """One revision of a Helm release, as its Secret describes it."""

    name: str
    namespace: str
    revision: int
    status: str
    chart: str | None = None
    chart_version: str | None = None
    app_version: str | None = None
    objects: frozenset[ObjectRef] = field(default_factory=frozenset)
    decoded: bool = True
    secret_uid: str | None = None


def _b64(data: bytes) -> bytes | None:
    try:
        return base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        return None


def decode_payload(value: object) -> dict[str, Any] | None:
    """Helm's release JSON from a Secret's `data.release` value, or None.

    Accepts the value as the API returns it (base64 of Helm's base64 of
    gzip of JSON), an un-gzipped payload, and a value already decoded once.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    data: bytes | None = value.strip().encode("ascii", "ignore")
    # Peel at most three layers: Secret base64, Helm base64, gzip.
    for _ in range(4):
        if data is None:
            return None
        stripped = data.lstrip()
        if stripped.startswith(b"{"):
            try:
                parsed = json.loads(stripped)
            except ValueError:
                return None
            return parsed if isinstance(parsed, dict) else None
        if data.startswith(_GZIP_MAGIC):
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError, zlib.error):
                return None
            continue
        data = _b64(data)
    return None


def manifest_objects(manifest: object, default_namespace: str) -> frozenset[ObjectRef]:
    """(kind, namespace, name) of every object a rendered manifest lists."""
    if not isinstance(manifest, str) or not manifest.strip():
        return frozenset()
    refs: set[ObjectRef] = set()
    try:
        docs = list(yaml.safe_load_all(manifest))
    except yaml.YAMLError as exc:
        logger.warning("A Helm manifest does not parse as YAML (%s); its objects are skipped.", exc)
        return frozenset()
    pending: list[Any] = docs
    while pending:
        doc = pending.pop()
        if not isinstance(doc, dict):
            continue
        if isinstance(doc.get("items"), list) and str(doc.get("kind", "")).endswith("List"):
            pending.extend(doc["items"])
            continue
        meta = doc.get("metadata")
        kind = doc.get("kind")
        if not isinstance(meta, dict) or not isinstance(kind, str) or not meta.get("name"):
            continue
        namespace = meta.get("namespace") or default_namespace
        refs.add((kind, str(namespace), str(meta["name"])))
    return frozenset(refs)


def release_from_secret(secret: Mapping[str, Any]) -> HelmRelease | None:
    """The release revision a Helm Secret holds; None if it is not one.

    A payload that does not decode (null, truncated, not Helm's) still gives
    a release from the Secret's labels (name, status, version), owning no
    objects, so the application is known even when its manifest is not.
    """
    if secret.get("type") != HELM_SECRET_TYPE:
        return None
    meta = secret.get("metadata") or {}
    labels = meta.get("labels") or {}
    data = secret.get("data") or {}
    payload = decode_payload(data.get("release") if isinstance(data, dict) else None)
    secret_ns = meta.get("namespace") or ""

    if payload is not None and payload.get("name"):
        info = payload.get("info") or {}
        chart_meta = (payload.get("chart") or {}).get("metadata") or {}
        namespace = str(payload.get("namespace") or secret_ns)
        return HelmRelease(
            name=str(payload["name"]),
            namespace=namespace,
            revision=_int(payload.get("version")),
            status=str(info.get("status") or labels.get("status") or "unknown"),
            chart=chart_meta.get("name"),
            chart_version=chart_meta.get("version"),
            app_version=chart_meta.get("appVersion"),
            objects=manifest_objects(payload.get("manifest"), namespace),
            decoded=True,
            secret_uid=meta.get("uid"),
        )

    name = labels.get("name")
    if not name:
        logger.warning(
            "Helm Secret %s/%s has neither a readable payload nor a name label; skipped.",
            secret_ns,
            meta.get("name"),
        )
        return None
    logger.info(
        "Helm Secret %s/%s does not decode; using its labels (no object list).",
        secret_ns,
        meta.get("name"),
    )
    return HelmRelease(
        name=str(name),
        namespace=str(secret_ns),
        revision=_int(labels.get("version")),
        status=str(labels.get("status") or "unknown"),
        decoded=False,
        secret_uid=meta.get("uid"),
    )


def _int(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        return 0


def app_from_metadata(
    labels: Mapping[str, str] | None, annotations: Mapping[str, str] | None
) -> str | None:
    """The application an object's annotation or labels name, or None."""
    if annotations:
        name = annotations.get(RELEASE_NAME_ANNOTATION)
        if name:
            return name
    return app_from_labels(labels)


def app_from_labels(labels: Mapping[str, str] | None) -> str | None:
    if not labels:
        return None
    for label in APP_LABELS:
        value = labels.get(label)
        if value:
            return value
    if labels.get(LEGACY_HERITAGE_LABEL) and labels.get(LEGACY_RELEASE_LABEL):
        return labels[LEGACY_RELEASE_LABEL]
    return None


class ReleaseIndex:
    """Current revision of every Helm release, and which release owns what."""

    def __init__(self) -> None:
        # secret uid (or ns/name) -> the revision it holds
        self._by_secret: dict[str, HelmRelease] = {}
        self._owned: dict[ObjectRef, str] | None = None
        self._current: dict[tuple[str, str], HelmRelease] | None = None

    def apply(self, event_type: str, secret: Mapping[str, Any]) -> bool:
        """Take a Secret event; True if it changed the releases."""
        meta = secret.get("metadata") or {}
        key = meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}"
        if event_type == "DELETED":
            if self._by_secret.pop(key, None) is None:
                return False
        else:
            release = release_from_secret(secret)
            if release is None:
                return self._by_secret.pop(key, None) is not None
            if self._by_secret.get(key) == release:
                return False
            self._by_secret[key] = release
        self._owned = None
        self._current = None
        return True

    def current(self) -> dict[tuple[str, str], HelmRelease]:
        """(namespace, name) -> the live revision: the latest deployed one,
        else the latest of any status (a first install that failed)."""
        if self._current is None:
            best: dict[tuple[str, str], HelmRelease] = {}
            for rel in self._by_secret.values():
                key = (rel.namespace, rel.name)
                old = best.get(key)
                if old is None or _preference(rel) > _preference(old):
                    best[key] = rel
            self._current = best
        return self._current

    def releases(self) -> list[HelmRelease]:
        return sorted(self.current().values(), key=lambda r: (r.namespace, r.name))

    def owner_of(self, kind: str, namespace: str | None, name: str) -> str | None:
        """Name of the release whose current manifest lists this object."""
        if self._owned is None:
            owned: dict[ObjectRef, str] = {}
            for rel in self.releases():
                for ref in rel.objects:
                    owned.setdefault(ref, rel.name)
            self._owned = owned
        if not self._owned:
            return None
        hit = self._owned.get((kind, namespace, name))
        if hit is None and namespace is None:
            return None
        return hit

    def names(self) -> Iterable[str]:
        return {rel.name for rel in self.current().values()}


def _preference(rel: HelmRelease) -> tuple[bool, int]:
    return (rel.status == DEPLOYED, rel.revision)
