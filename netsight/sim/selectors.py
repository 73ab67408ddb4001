"""Label and field selectors, parsed from the query string as the API server does.

Label selectors take `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`,
`k` and `!k`, joined by commas. Field selectors take `path=v`, `path==v` and
`path!=v` where path is a dotted JSON path (`metadata.name`, `spec.nodeName`,
`status.phase`, ...); the real server only allows a few paths per kind, the
simulation allows any.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

Matcher = Callable[[dict], bool]

_SET_RE = re.compile(r"^\s*(!?)([A-Za-z0-9_./-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")


class SelectorError(ValueError):
    """A selector the server cannot parse (answered with 400 BadRequest)."""


@dataclass(frozen=True)
class _Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: frozenset[str]

    def matches(self, labels: dict) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        # "!=" and "notin" match objects without the label too.
        return not present or value not in self.values


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def _parse_label_term(term: str) -> _Requirement:
    for op in ("!=", "==", "="):
        if op in term and "(" not in term:
            key, _, value = term.partition(op)
            return _Requirement(
                key.strip(), "!=" if op == "!=" else "=", frozenset([value.strip()])
            )
    match = _SET_RE.match(term)
    if not match:
        raise SelectorError(f"unable to parse requirement: {term!r}")
    negated, key, set_op, values = match.groups()
    if set_op:
        if negated:
            raise SelectorError(f"unable to parse requirement: {term!r}")
        items = frozenset(v.strip() for v in values.split(",") if v.strip())
        return _Requirement(key, set_op, items)
    return _Requirement(key, "!exists" if negated else "exists", frozenset())


def label_matcher(selector: str | None) -> Matcher | None:
    """A predicate on objects for a label selector; None when it selects all."""
    if not selector or not selector.strip():
        return None
    requirements = [_parse_label_term(term) for term in _split_top_level(selector)]

    def matches(obj: dict) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(req.matches(labels) for req in requirements)

    return matches


def field_value(obj: dict, path: str) -> str:
    """The value at a dotted path as the field selector compares it ("" if absent)."""
    node: object = obj
    for part in path.split("."):
        if not isinstance(node, dict):
            return ""
        node = node.get(part)
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def field_matcher(selector: str | None) -> Matcher | None:
    """A predicate on objects for a field selector; None when it selects all."""
    if not selector or not selector.strip():
        return None
    terms: list[tuple[str, bool, str]] = []
    for term in _split_top_level(selector):
        if "!=" in term:
            path, _, value = term.partition("!=")
            terms.append((path.strip(), False, value.strip()))
        elif "=" in term:
            path, _, value = term.replace("==", "=", 1).partition("=")
            terms.append((path.strip(), True, value.strip()))
        else:
            raise SelectorError(f"invalid field selector term: {term!r}")

    def matches(obj: dict) -> bool:
        return all((field_value(obj, path) == value) == equal for path, equal, value in terms)

    return matches


def combine(*matchers: Matcher | None) -> Matcher | None:
    active = [m for m in matchers if m is not None]
    if not active:
        return None
    if len(active) == 1:
        return active[0]
    return lambda obj: all(m(obj) for m in active)
