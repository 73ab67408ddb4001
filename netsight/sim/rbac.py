"""Who may do what: bearer tokens and the denials of the restricted user.

The simulation has two users. The admin may do everything. The restricted
user is denied what `RbacRules` lists, so tests and users can see how
NetSight behaves without, say, the right to list Secrets cluster-wide. A
denial names a verb, a resource (plural, optionally with a subresource such
as `pods/proxy`) and where it applies:

- namespace None: everywhere (cluster scope and every namespace);
- namespace "": only at the cluster scope (lists across all namespaces and
  cluster-scoped kinds), so a namespaced fallback still works;
- namespace "payments": only in that namespace.

`*` as verb or resource matches any.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

ADMIN_USER = "admin"
RESTRICTED_USER = "restricted"


@dataclass(frozen=True)
class Denial:
    verb: str
    resource: str
    namespace: str | None = None

    def matches(self, verb: str, resource: str, namespace: str | None) -> bool:
        if self.verb not in ("*", verb) or self.resource not in ("*", resource):
            return False
        if self.namespace is None:
            return True
        if self.namespace == "":
            return not namespace
        return self.namespace == namespace

    @classmethod
    def parse(cls, text: str) -> Denial:
        """`VERB:RESOURCE` (everywhere), `VERB:RESOURCE:NS` or `VERB:RESOURCE:` (cluster scope)."""
        parts = text.split(":")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
            raise ValueError(
                f"bad denial {text!r}: expected VERB:RESOURCE or VERB:RESOURCE:NAMESPACE"
            )
        namespace = parts[2] if len(parts) == 3 else None
        return cls(parts[0].lower(), parts[1].lower(), namespace)


@dataclass
class RbacRules:
    """Denials that apply to the restricted user (the admin is never denied)."""

    denied: list[Denial] = field(default_factory=list)

    @classmethod
    def parse(cls, texts: list[str]) -> RbacRules:
        return cls([Denial.parse(t) for t in texts])

    def deny(self, verb: str, resource: str, namespace: str | None = None) -> None:
        self.denied.append(Denial(verb, resource, namespace))

    def allows(self, user: str, verb: str, resource: str, namespace: str | None) -> bool:
        if user == ADMIN_USER:
            return True
        return not any(d.matches(verb, resource, namespace) for d in self.denied)


@dataclass(frozen=True)
class Tokens:
    """Random bearer tokens for the two users, new for every server."""

    admin: str = field(default_factory=lambda: "sim-admin-" + secrets.token_urlsafe(24))
    restricted: str = field(default_factory=lambda: "sim-restricted-" + secrets.token_urlsafe(24))

    def user_for(self, authorization: str | None) -> str | None:
        """The user an `Authorization` header authenticates, or None."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        token = authorization[len("Bearer ") :].strip()
        if secrets.compare_digest(token, self.admin):
            return ADMIN_USER
        if secrets.compare_digest(token, self.restricted):
            return RESTRICTED_USER
        return None
