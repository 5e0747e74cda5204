"""Who is acting, and what they may do where.

The identity domain builds an :class:`Actor` for each request, job or command from the user's
grants; each grant is one role held for one area subtree (and optionally one department), already
expanded into the role's permissions by the policy (pycasbin). Services call
``actor.require(permission, area_code=..., department_id=...)``: deny by default.

Area codes are hierarchical prefixes (city ``31``, district ``310101``, street ``310101002`` …), so
"inside the subtree of X" is ``code.startswith(X)`` in Python and ``code LIKE 'X%'`` in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from yiwang.core.errors import PermissionDenied

ActorKind = Literal["anonymous", "citizen", "enterprise", "staff", "machine", "system"]


@dataclass(frozen=True, slots=True)
class Grant:
    """One role held over an area subtree, optionally limited to one department."""

    role: str
    area_code: str
    department_id: str | None = None
    permissions: frozenset[str] = frozenset()

    def covers(self, area_code: str | None, department_id: str | None) -> bool:
        if area_code is not None and not area_code.startswith(self.area_code):
            return False
        if self.department_id is not None and department_id is not None and department_id != self.department_id:
            return False
        return True


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a permission holds: an area prefix and, if set, one department."""

    area_code: str
    department_id: str | None


@dataclass(frozen=True, slots=True)
class Actor:
    kind: ActorKind
    user_id: str | None = None
    username: str | None = None
    grants: tuple[Grant, ...] = ()
    person_id: str | None = None
    """For citizens: their person record in the registry."""
    entity_id: str | None = None
    """For enterprise agents: the legal entity they act for."""
    mfa: bool = False
    """Signed in with a second, cryptographic factor (TOTP)."""
    department_ids: tuple[str, ...] = field(default=())

    @property
    def is_system(self) -> bool:
        return self.kind == "system"

    @property
    def is_authenticated(self) -> bool:
        return self.kind != "anonymous"

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(g.role for g in self.grants)

    @property
    def label(self) -> str:
        """What the audit trail records as the actor."""
        if self.kind == "system":
            return "system"
        if self.kind == "anonymous":
            return "anonymous"
        return f"{self.kind}:{self.user_id}"

    def can(self, permission: str, *, area_code: str | None = None, department_id: str | None = None) -> bool:
        if self.is_system:
            return True
        return any(permission in g.permissions and g.covers(area_code, department_id) for g in self.grants)

    def require(
        self,
        permission: str,
        *,
        area_code: str | None = None,
        department_id: str | None = None,
        target: str | None = None,
    ) -> None:
        """Raise :class:`PermissionDenied` unless the actor holds ``permission`` there."""
        if not self.can(permission, area_code=area_code, department_id=department_id):
            raise PermissionDenied(
                permission=permission, area_code=area_code, department_id=department_id, target=target
            )

    def scopes(self, permission: str) -> list[Scope]:
        """Every (area prefix, department) where ``permission`` holds, for filtering queries.

        A system actor gets one scope covering everything (area prefix ``""``)."""
        if self.is_system:
            return [Scope("", None)]
        found = {Scope(g.area_code, g.department_id) for g in self.grants if permission in g.permissions}
        # Drop scopes already covered by a wider one with no department limit.
        wide = [s for s in found if s.department_id is None]
        return sorted(
            (s for s in found if not any(w != s and s.area_code.startswith(w.area_code) for w in wide)),
            key=lambda s: (s.area_code, s.department_id or ""),
        )


ANONYMOUS = Actor(kind="anonymous")
SYSTEM = Actor(kind="system", username="system")
