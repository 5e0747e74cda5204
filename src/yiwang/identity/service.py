"""Use cases of identity and access: accounts, grants, the policy, passwords and lockout, TOTP,
sessions, API tokens and single sign-on.

Services flush, never commit. Sign-in functions do not raise for bad credentials: they return an
outcome, so that the caller commits the failure count and the audit entry and only then answers
401 (a raised error would roll them back with the request).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import casbin
import pyotp
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

from yiwang.core.actor import ANONYMOUS, Actor, Grant
from yiwang.core.context import source_ip_var
from yiwang.core.db import utcnow
from yiwang.core.errors import PermissionDenied
from yiwang.core.generations import Memo
from yiwang.core.ids import new_id
from yiwang.core.jobs import settings_for
from yiwang.core.settings import Settings
from yiwang.identity import policy as pol
from yiwang.identity import repository as repo
from yiwang.identity.errors import (
    CannotDisableSelf,
    GrantExists,
    GrantNotFound,
    InvalidAreaCode,
    InvalidUserKind,
    InvalidUsername,
    MfaRequired,
    RoleNotForKind,
    SeparationOfDuties,
    TokenNotFound,
    TotpAlreadyEnabled,
    TotpNotEnrolled,
    TotpSetupNotStarted,
    UnknownPermission,
    UnknownRole,
    UsernameTaken,
    UserNotFound,
    WeakPassword,
)
from yiwang.identity.models import (
    ApiToken,
    Permission,
    PolicyVersion,
    RoleGrant,
    RolePermission,
    User,
    UserSession,
)
from yiwang.identity.schemas import (
    GrantRead,
    MeRead,
    PermissionRead,
    PolicyRead,
    RoleRead,
    TokenRead,
    UserPage,
    UserRead,
)

log = logging.getLogger("yiwang.identity")

USER_KINDS = ("staff", "citizen", "enterprise", "machine")
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")
_AREA_CODE = re.compile(r"^\d{2,15}$")
TOKEN_PREFIX = "yw_"  # noqa: S105 - a marker, not a secret
TOTP_ISSUER = "yiwang 一网"
TOTP_PERIOD = 30
SESSION_TOUCH_SECONDS = 60
TOKEN_TOUCH_SECONDS = 300


# -- helpers -------------------------------------------------------------------------------------


def _settings(session: Session, settings: Settings | None) -> Settings:
    return settings if settings is not None else settings_for(session)


def _audit(session: Session, actor: Actor, action: str, **kwargs: Any) -> None:
    from yiwang.audit import service as audit_service

    audit_service.record(session, actor, action, **kwargs)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _user_actor_label(user: User) -> Actor:
    """An actor naming the user, with no grants: who the audit trail records for sign-in events."""
    return Actor(kind=user.kind, user_id=user.id, username=user.username)  # type: ignore[arg-type]


# -- passwords -----------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _hasher_for(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, type=Type.ID)


def password_hasher(settings: Settings) -> PasswordHasher:
    """argon2id with the configured cost."""
    return _hasher_for(settings.argon2_time_cost, settings.argon2_memory_kib)


@lru_cache(maxsize=8)
def _dummy_hash(time_cost: int, memory_kib: int) -> str:
    return _hasher_for(time_cost, memory_kib).hash(secrets.token_urlsafe(16))


def _burn_verify(settings: Settings, password: str) -> None:
    """Do the work of a real verification so an unknown user answers as slowly as a known one."""
    with contextlib.suppress(VerificationError):
        password_hasher(settings).verify(_dummy_hash(settings.argon2_time_cost, settings.argon2_memory_kib), password)


def check_password_strength(password: str, kind: str) -> None:
    """Refuse passwords shorter than 10 characters (8 for citizens and enterprises) or of one class."""
    min_length = 8 if kind in ("citizen", "enterprise") else 10
    classes = sum(
        (
            any(c.isalpha() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )
    if len(password) < min_length or classes < 2:
        raise WeakPassword(min_length=min_length)


def hash_password(settings: Settings, password: str) -> str:
    return password_hasher(settings).hash(password)


# -- the policy ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyState:
    """One process's view of the policy at one version: the enforcer and what each role holds."""

    version: int
    token: str
    enforcer: casbin.Enforcer
    permissions: dict[str, frozenset[str]]

    def requires_mfa(self, role: str) -> bool:
        return any(pol.is_sensitive(p) for p in self.permissions.get(role, ()))


_policy_cache: dict[str, PolicyState] = {}
_policy_lock = threading.Lock()


def current_policy(session: Session) -> PolicyState:
    """The policy as stored, rebuilt into a pycasbin enforcer only when its version token changed
    (one primary-key read per call otherwise)."""
    stamp = repo.policy_stamp(session)
    version, token = stamp if stamp else (0, "")
    key = str(session.get_bind().url)
    cached = _policy_cache.get(key)
    if cached is not None and cached.token == token and token:
        return cached
    with _policy_lock:
        pairs = repo.policy_pairs(session)
        enforcer = pol.build_enforcer(pairs)
        roles = sorted(set(pol.ROLES) | {r for r, _ in pairs})
        state = PolicyState(version, token, enforcer, pol.role_permissions(enforcer, roles))
        if token:
            _policy_cache[key] = state
        return state


def _bump_policy(session: Session) -> int:
    row = repo.policy_version(session)
    if row is None:
        row = PolicyVersion(id=1, version=0, token=new_id())
        session.add(row)
    row.version = (row.version or 0) + 1
    row.token = new_id()
    row.changed_at = utcnow()
    session.flush()
    return row.version


def seed_policy(session: Session) -> int:
    """Insert the default holders of every permission not seen before (idempotent; never re-adds a
    pair an operator removed). Returns how many role → permission pairs it added."""
    known = repo.known_permissions(session)
    added = 0
    new_names = [name for name in pol.PERMISSIONS if name not in known]
    for name in new_names:
        session.add(Permission(name=name))
        for role, perms in pol.DEFAULT_POLICY.items():
            if name in perms:
                session.add(RolePermission(role=role, permission=name))
                added += 1
    session.flush()
    if new_names or repo.policy_version(session) is None:
        _bump_policy(session)
    return added


def _role_read(state: PolicyState, code: str) -> RoleRead:
    info = pol.ROLES.get(code)
    return RoleRead(
        code=code,
        zh=info.zh if info else code,
        en=info.en if info else code,
        permissions=sorted(state.permissions.get(code, frozenset())),
        requires_mfa=state.requires_mfa(code),
    )


def get_policy(session: Session) -> PolicyRead:
    """Every role with its permissions, and every permission."""
    state = current_policy(session)
    return PolicyRead(
        version=state.version,
        roles=[_role_read(state, code) for code in pol.ROLES],
        permissions=[
            PermissionRead(name=p.name, zh=p.zh, en=p.en, changes_state=p.changes_state, sensitive=pol.is_sensitive(p.name))
            for p in pol.PERMISSIONS.values()
        ],
    )


def set_role_permissions(session: Session, actor: Actor, role: str, permissions: Iterable[str]) -> RoleRead:
    """Replace a role's permissions (role.manage); refuses what would break 三员 separation."""
    actor.require("role.manage", target=f"role:{role}")
    if role not in pol.ROLES:
        raise UnknownRole(role=role)
    wanted = set(permissions)
    for name in sorted(wanted):
        if name not in pol.PERMISSIONS:
            raise UnknownPermission(permission=name)
    reason = pol.separation_violation(role, wanted)
    if reason:
        raise SeparationOfDuties(reason.msgid, **reason.params)
    current = repo.role_permission_set(session, role)
    added, removed = sorted(wanted - current), sorted(current - wanted)
    if added or removed:
        repo.delete_role_permissions(session, role, removed)
        for name in added:
            session.add(RolePermission(role=role, permission=name))
        session.flush()
        version = _bump_policy(session)
        _audit(session, actor, "identity.policy.update", target_type="role", target_id=role,
               detail={"role": role, "added": added, "removed": removed, "version": version})
    return _role_read(current_policy(session), role)


# -- actors --------------------------------------------------------------------------------------


def _actor_from_rows(
    session: Session, user: Any, rows: Sequence[tuple[str, str, str | None]], *, mfa: bool
) -> Actor:
    """``user`` is a ``User`` or any row with its id, username, kind, is_active, person_id, entity_id."""
    if not user.is_active:
        return Actor(kind=user.kind, user_id=user.id, username=user.username, mfa=mfa)  # type: ignore[arg-type]
    state = current_policy(session)
    grants = []
    for role, area_code, department_id in sorted(rows, key=lambda r: (r[1], r[0], r[2] or "")):
        if not mfa and state.requires_mfa(role):
            continue  # withheld until the session is verified with TOTP
        grants.append(Grant(role, area_code, department_id, state.permissions.get(role, frozenset())))
    return Actor(
        kind=user.kind,  # type: ignore[arg-type]
        user_id=user.id,
        username=user.username,
        grants=tuple(grants),
        person_id=user.person_id,
        entity_id=user.entity_id,
        mfa=mfa,
        department_ids=tuple(sorted({g.department_id for g in grants if g.department_id})),
    )


def build_actor(session: Session, user: User, *, mfa: bool) -> Actor:
    """The actor of a loaded user row (one query for the grants)."""
    return _actor_from_rows(session, user, repo.grant_rows_for_actor(session, user.id), mfa=mfa)


def actor_for_user(session: Session, user_id: str, *, mfa: bool) -> Actor:
    """The actor of a user; roles needing two-factor sign-in are left out unless ``mfa``."""
    user = repo.get_user(session, user_id)
    if user is None:
        raise UserNotFound()
    return build_actor(session, user, mfa=mfa)


def actor_for_username(session: Session, username: str, *, mfa: bool = True) -> Actor:
    """The actor of a username (CLI ``--as USERNAME``); raises ``user_not_found``."""
    user = repo.get_user_by_username(session, username)
    if user is None:
        raise UserNotFound()
    return build_actor(session, user, mfa=mfa)


def _holders(session: Session, permission: str) -> dict[str, tuple[tuple[str, str | None], ...]]:
    state = current_policy(session)
    roles = tuple(sorted(r for r, perms in state.permissions.items() if permission in perms))
    return repo.grants_of_roles(session, roles) if roles else {}


_HOLDERS = Memo("identity.grants", frozenset({"users", "role_grants", "role_permissions", "permissions",
                                              "policy_versions"}))
"""Per permission, the active users' grants of the roles that hold it, by area code, as read while no user, grant or
policy changes (``core.generations``): who handles or heads what is asked for every event routed
and every task escalated, across thousands of grids."""


def users_with_permission(session: Session, permission: str, *, area_code: str,
                          department_id: str | None = None) -> list[str]:
    """Ids of the users whose grants give ``permission`` over ``area_code`` (and the department,
    when their grant is limited to one): e.g. the heads a late task is escalated to."""
    by_area = _HOLDERS.get(session, permission, lambda: _holders(session, permission))
    found = {user_id for n in range(1, len(area_code) + 1) for user_id, dept in by_area.get(area_code[:n], ())
             if dept is None or dept == department_id}
    return sorted(found)


def holders_near(session: Session, permission: str, area_code: str) -> list[str]:
    """Ids of the active users whose grants give ``permission`` over ``area_code``, one of the areas
    above it or one inside it (the grid workers of a community, say), in id order."""
    by_area = _HOLDERS.get(session, permission, lambda: _holders(session, permission))
    return sorted({user_id for area, holders in by_area.items()
                   if area.startswith(area_code) or area_code.startswith(area) for user_id, _dept in holders})


def display_names(session: Session, user_ids: Iterable[str]) -> dict[str, str]:
    """User id → display name (or username) of up to 1,000 accounts, for labels on staff pages."""
    return repo.display_names(session, sorted(set(user_ids))[:1000])


def user_requires_mfa(session: Session, user_id: str) -> bool:
    """Whether any of the user's roles holds a sensitive permission (so TOTP is required)."""
    state = current_policy(session)
    return any(state.requires_mfa(role) for role, _a, _d in repo.grant_rows_for_actor(session, user_id))


# -- users and grants ----------------------------------------------------------------------------


def _user_read(user: User, grants: list[RoleGrant], now: datetime | None = None) -> UserRead:
    now = now or utcnow()
    return UserRead(
        id=user.id,
        username=user.username,
        kind=user.kind,
        display_name=user.display_name,
        email=user.email,
        is_active=user.is_active,
        area_code=user.area_code,
        person_id=user.person_id,
        entity_id=user.entity_id,
        totp_enabled=user.totp_enabled,
        locked=bool(user.locked_until and user.locked_until > now),
        sso_linked=user.oidc_sub is not None,
        grants=[GrantRead.model_validate(g) for g in grants],
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


def _covers_user(actor: Actor, permission: str, user: User, grants: list[RoleGrant]) -> bool:
    """Whether ``permission`` holds over the user: their home area or one of their grants.
    Accounts with neither (citizens) belong to the city-level scopes."""
    if actor.is_system:
        return True
    if user.area_code and actor.can(permission, area_code=user.area_code):
        return True
    if any(actor.can(permission, area_code=g.area_code, department_id=g.department_id) for g in grants):
        return True
    if not user.area_code and not grants:
        return any(s.department_id is None and len(s.area_code) <= 2 for s in actor.scopes(permission))
    return False


def _require_over_user(actor: Actor, permission: str, user: User, grants: list[RoleGrant]) -> None:
    if not _covers_user(actor, permission, user, grants):
        raise PermissionDenied(permission=permission, area_code=user.area_code, target=f"user:{user.id}")


def can_act_on_user(session: Session, actor: Actor, permission: str, user_id: str) -> bool:
    """Whether ``permission`` holds over the account (for showing or hiding page controls)."""
    user = repo.get_user(session, user_id)
    return user is not None and _covers_user(actor, permission, user, repo.grants_of(session, user_id))


def _validate_grant(kind: str, role: str, area_code: str) -> None:
    info = pol.ROLES.get(role)
    if info is None:
        raise UnknownRole(role=role)
    if not _AREA_CODE.match(area_code or ""):
        raise InvalidAreaCode()
    if kind not in info.kinds:
        raise RoleNotForKind(role=role)


def create_user(
    session: Session,
    actor: Actor,
    *,
    username: str,
    password: str | None,
    kind: str,
    display_name: str,
    grants: Iterable[tuple[str, str, str | None]] = (),
    person_id: str | None = None,
    entity_id: str | None = None,
    email: str | None = None,
    settings: Settings | None = None,
) -> UserRead:
    """Create an account with its grants; needs user.manage over every grant's area (the system
    actor may do all); refuses weak passwords and two of the 三员 roles on one user."""
    settings = _settings(session, settings)
    grant_list = [(r, a, d) for r, a, d in grants]
    if not _USERNAME.match(username or ""):
        raise InvalidUsername()
    if kind not in USER_KINDS:
        raise InvalidUserKind(kind=kind)
    held: set[str] = set()
    for role, area_code, department_id in grant_list:
        _validate_grant(kind, role, area_code)
        actor.require("user.manage", area_code=area_code, department_id=department_id, target="user:new")
        reason = pol.roles_conflict(held, role)
        if reason:
            raise SeparationOfDuties(reason.msgid, **reason.params)
        held.add(role)
    if not grant_list and not actor.is_system and not actor.scopes("user.manage"):
        raise PermissionDenied(permission="user.manage", target="user:new")
    if password is not None:
        check_password_strength(password, kind)
    if repo.get_user_by_username(session, username) is not None:
        raise UsernameTaken(username=username)
    if grant_list:
        home = grant_list[0][1]
    else:
        scopes = [s for s in actor.scopes("user.manage") if s.area_code]
        home = scopes[0].area_code if scopes and kind in ("staff", "machine") else None
    user = User(
        id=new_id(),
        username=username,
        kind=kind,
        display_name=display_name,
        email=email,
        password_hash=hash_password(settings, password) if password is not None else None,
        area_code=home,
        person_id=person_id,
        entity_id=entity_id,
    )
    session.add(user)
    session.flush()
    rows: list[RoleGrant] = []
    for role, area_code, department_id in grant_list:
        g = RoleGrant(id=new_id(), user_id=user.id, role=role, area_code=area_code, department_id=department_id,
                      created_by=actor.label)
        session.add(g)
        rows.append(g)
    session.flush()
    _audit(session, actor, "identity.user.create", target_type="user", target_id=user.id, area_code=home,
           detail={"kind": kind, "grants": [{"role": g.role, "area_code": g.area_code,
                                             "department_id": g.department_id} for g in rows]})
    return _user_read(user, rows)


def get_user(session: Session, actor: Actor, user_id: str) -> UserRead:
    """One account: yourself, or anyone inside your user.manage scopes."""
    user = repo.get_user(session, user_id)
    if user is None:
        raise UserNotFound()
    grants = repo.grants_of(session, user_id)
    if actor.user_id != user_id:
        _require_over_user(actor, "user.manage", user, grants)
    return _user_read(user, grants)


def get_user_by_username(session: Session, actor: Actor, username: str) -> UserRead:
    """One account by username, under the same rule as :func:`get_user`."""
    user = repo.get_user_by_username(session, username)
    if user is None:
        raise UserNotFound()
    return get_user(session, actor, user.id)


def list_users(session: Session, actor: Actor, *, q: str | None = None, limit: int = 50, offset: int = 0) -> UserPage:
    """Accounts inside the actor's user.manage scopes."""
    scopes = actor.scopes("user.manage")
    if not scopes:
        raise PermissionDenied(permission="user.manage")
    # A city-level scope also sees the accounts with no home area (citizens, enterprises).
    rows, total = repo.list_users(session, scopes, q=q, limit=min(max(limit, 1), 500), offset=max(offset, 0))
    grants = repo.grants_of_many(session, [u.id for u in rows])
    return UserPage(items=[_user_read(u, grants[u.id]) for u in rows], total=total)


def grant_role(
    session: Session, actor: Actor, user_id: str, role: str, area_code: str, department_id: str | None = None
) -> GrantRead:
    """Give a user a role over an area subtree (user.manage there); refuses self-grants, a second
    三员 role, and a role the kind of account cannot hold."""
    user = repo.get_user(session, user_id)
    if user is None:
        raise UserNotFound()
    _validate_grant(user.kind, role, area_code)
    actor.require("user.manage", area_code=area_code, department_id=department_id, target=f"user:{user_id}")
    if actor.user_id == user_id:
        raise PermissionDenied(permission="user.manage", area_code=area_code, target=f"user:{user_id}")
    existing = repo.grants_of(session, user_id)
    reason = pol.roles_conflict({g.role for g in existing}, role)
    if reason:
        raise SeparationOfDuties(reason.msgid, **reason.params)
    if any(g.role == role and g.area_code == area_code and g.department_id == department_id for g in existing):
        raise GrantExists()
    g = RoleGrant(id=new_id(), user_id=user_id, role=role, area_code=area_code, department_id=department_id,
                  created_by=actor.label)
    session.add(g)
    session.flush()
    _audit(session, actor, "identity.grant.create", target_type="user", target_id=user_id, area_code=area_code,
           detail={"grant_id": g.id, "role": role, "area_code": area_code, "department_id": department_id})
    return GrantRead.model_validate(g)


def revoke_grant(session: Session, actor: Actor, user_id: str, grant_id: str) -> None:
    """Take a role away (user.manage over the grant's area)."""
    g = repo.get_grant(session, grant_id)
    if g is None or g.user_id != user_id:
        raise GrantNotFound()
    actor.require("user.manage", area_code=g.area_code, department_id=g.department_id, target=f"user:{user_id}")
    detail = {"grant_id": g.id, "role": g.role, "area_code": g.area_code, "department_id": g.department_id}
    session.delete(g)
    session.flush()
    _audit(session, actor, "identity.grant.revoke", target_type="user", target_id=user_id, area_code=detail["area_code"],
           detail=detail)


def unlock_user(session: Session, actor: Actor, user_id: str) -> UserRead:
    """Clear a lockout (security.manage over the user)."""
    user = repo.get_user(session, user_id)
    if user is None:
        raise UserNotFound()
    grants = repo.grants_of(session, user_id)
    _require_over_user(actor, "security.manage", user, grants)
    user.failed_logins = 0
    user.locked_until = None
    session.flush()
    _audit(session, actor, "identity.user.unlock", target_type="user", target_id=user_id, area_code=user.area_code)
    return _user_read(user, grants)


def set_user_active(session: Session, actor: Actor, user_id: str, active: bool) -> UserRead:
    """Disable an account — it can no longer sign in, and its sessions and API tokens stop working at
    once — or enable it again: user.manage over the user; nobody disables their own account. Its
    grants, records and history stay as they are."""
    user = repo.get_user(session, user_id)
    if user is None:
        raise UserNotFound()
    grants = repo.grants_of(session, user_id)
    _require_over_user(actor, "user.manage", user, grants)
    if not active and actor.user_id == user_id:
        raise CannotDisableSelf()
    if user.is_active != active:
        user.is_active = active
        if not active:
            repo.delete_sessions_of(session, user_id)
        session.flush()
        _audit(session, actor, "identity.user.enable" if active else "identity.user.disable", target_type="user",
               target_id=user_id, area_code=user.area_code)
    return _user_read(user, grants)


def reset_totp(session: Session, actor: Actor, user_id: str) -> UserRead:
    """Remove a user's TOTP (lost phone): security.manage over the user; ends their sessions, so
    the next sign-in asks them to set TOTP up again."""
    user = repo.get_user(session, user_id)
    if user is None:
        raise UserNotFound()
    grants = repo.grants_of(session, user_id)
    _require_over_user(actor, "security.manage", user, grants)
    user.totp_secret = None
    user.totp_pending_secret = None
    user.totp_enabled = False
    user.totp_last_step = None
    repo.delete_sessions_of(session, user_id)
    session.flush()
    _audit(session, actor, "identity.totp.reset", target_type="user", target_id=user_id, area_code=user.area_code)
    return _user_read(user, grants)


def set_password(session: Session, actor: Actor, user_id: str, password: str, *, settings: Settings | None = None) -> None:
    """Set a new password: your own, or (user.manage) another's; ends the user's other sessions."""
    settings = _settings(session, settings)
    user = repo.get_user(session, user_id)
    if user is None:
        raise UserNotFound()
    if actor.user_id != user_id:
        _require_over_user(actor, "user.manage", user, repo.grants_of(session, user_id))
    check_password_strength(password, user.kind)
    user.password_hash = hash_password(settings, password)
    user.failed_logins = 0
    user.locked_until = None
    repo.delete_sessions_of(session, user_id)
    session.flush()
    _audit(session, actor, "identity.password.set", target_type="user", target_id=user_id, area_code=user.area_code)


def import_password_hash(session: Session, actor: Actor, user_id: str, password_hash: str) -> None:
    """Store an existing argon2 hash as the user's password (migrating accounts; the demo loader,
    whose accounts all share one documented password). Needs user.manage over the user."""
    user = repo.get_user(session, user_id)
    if user is None:
        raise UserNotFound()
    _require_over_user(actor, "user.manage", user, repo.grants_of(session, user_id))
    if not password_hash.startswith("$argon2"):
        raise WeakPassword(min_length=10)
    user.password_hash = password_hash
    session.flush()


def link_records(session: Session, actor: Actor, user_id: str, *, person_id: str | None = None,
                 entity_id: str | None = None) -> UserRead:
    """Link a citizen account to its person record, or an enterprise agent to its legal entity
    (user.manage over the account)."""
    user = repo.get_user(session, user_id)
    if user is None:
        raise UserNotFound()
    grants = repo.grants_of(session, user_id)
    _require_over_user(actor, "user.manage", user, grants)
    if person_id is not None:
        user.person_id = person_id
    if entity_id is not None:
        user.entity_id = entity_id
    session.flush()
    _audit(session, actor, "identity.user.link", target_type="user", target_id=user_id, area_code=user.area_code,
           detail={"person_id": person_id, "entity_id": entity_id})
    return _user_read(user, grants)


def me(session: Session, actor: Actor) -> MeRead:
    """Who the actor is, with their roles and whether TOTP is needed for the rest."""
    user = repo.get_user(session, actor.user_id) if actor.user_id else None
    return MeRead(
        id=actor.user_id,
        username=actor.username,
        kind=actor.kind,
        display_name=user.display_name if user else None,
        mfa=actor.mfa,
        totp_enabled=bool(user and user.totp_enabled),
        totp_required=bool(user and user_requires_mfa(session, user.id)),
        roles=sorted(actor.roles),
        grants=[{"role": g.role, "area_code": g.area_code, "department_id": g.department_id} for g in actor.grants],
        person_id=actor.person_id,
        entity_id=actor.entity_id,
    )


# -- sign-in, lockout ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginOutcome:
    ok: bool
    outcome: str
    """``ok``, ``failed``, ``locked`` or ``throttled`` (as audited)."""
    user_id: str | None = None
    mfa: bool = False
    totp_needed: bool = False
    totp_setup_needed: bool = False


_FAILED = LoginOutcome(False, "failed")
_THROTTLED = LoginOutcome(False, "throttled")


def _register_failure(session: Session, settings: Settings, user: User, now: datetime, *, factor: str) -> LoginOutcome:
    user.failed_logins = (user.failed_logins or 0) + 1
    outcome = "failed"
    if user.failed_logins >= settings.login_max_failures:
        user.locked_until = now + timedelta(minutes=settings.login_lockout_minutes)
        repo.delete_sessions_of(session, user.id)
        outcome = "locked"
    session.flush()
    _audit(session, _user_actor_label(user), "identity.login", target_type="user", target_id=user.id,
           area_code=user.area_code, outcome=outcome,
           detail={"factor": factor, "failures": user.failed_logins})
    log.info("sign-in refused", extra={"user_id": user.id, "outcome": outcome})
    return LoginOutcome(False, outcome, user.id)


def _is_locked(user: User, now: datetime) -> bool:
    return bool(user.locked_until and user.locked_until > now)


# The per-address throttle: credential stuffing tries many accounts a few times each, which the
# per-account lockout never sees. Failures are counted per minute and per network address (as a
# keyed digest: no address is stored), over every account.

def _source_key(settings: Settings) -> str | None:
    """The keyed digest of the request's network address, or None (no address, or no throttle)."""
    source = source_ip_var.get()
    if not source or settings.login_ip_max_failures <= 0:
        return None
    return _cipher(settings).blind_index(source, "identity.signin_source")


def _throttled(session: Session, settings: Settings, source: str | None, now: datetime) -> bool:
    if source is None:
        return False
    since = now - timedelta(minutes=settings.login_ip_window_minutes)
    return repo.sign_in_failures_since(session, source, since) >= settings.login_ip_max_failures


def _count_source_failure(session: Session, source: str | None, now: datetime) -> None:
    if source is not None:
        repo.count_sign_in_failure(session, source, now.replace(second=0, microsecond=0))


def purge_sign_in_failures(session: Session, settings: Settings, *, now: datetime | None = None) -> int:
    """Delete the per-address counts older than the throttle's window (worker job)."""
    return repo.delete_sign_in_failures_before(
        session, (now or utcnow()) - timedelta(minutes=settings.login_ip_window_minutes))


def authenticate(
    session: Session,
    settings: Settings,
    username: str,
    password: str,
    *,
    totp: str | None = None,
    now: datetime | None = None,
) -> LoginOutcome:
    """Check a username and password (and a TOTP code if given). Unknown users, wrong passwords
    and locked accounts look alike to the caller; every attempt is audited as ``identity.login``."""
    now = now or utcnow()
    source = _source_key(settings)
    if _throttled(session, settings, source, now):
        _audit(session, ANONYMOUS, "identity.login", target_type="user", outcome="throttled",
               detail={"factor": "password", "reason": "source_throttled"})
        log.warning("sign-in refused: too many failures from one address")
        return _THROTTLED
    user = repo.get_user_by_username(session, username) if _USERNAME.match(username or "") else None
    if user is None or user.password_hash is None:
        _burn_verify(settings, password)
        _count_source_failure(session, source, now)
        _audit(session, ANONYMOUS, "identity.login", target_type="user", target_id=user.id if user else None,
               outcome="failed", detail={"factor": "password", "reason": "unknown_user" if user is None else "no_password"})
        return _FAILED
    if _is_locked(user, now):
        _burn_verify(settings, password)
        _count_source_failure(session, source, now)
        _audit(session, _user_actor_label(user), "identity.login", target_type="user", target_id=user.id,
               area_code=user.area_code, outcome="locked", detail={"factor": "password", "reason": "locked"})
        return LoginOutcome(False, "locked", user.id)
    if user.locked_until is not None:  # the lock has run out: start counting afresh
        user.locked_until = None
        user.failed_logins = 0
    hasher = password_hasher(settings)
    try:
        hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        _count_source_failure(session, source, now)
        return _register_failure(session, settings, user, now, factor="password")
    if not user.is_active:
        _count_source_failure(session, source, now)
        return _register_failure(session, settings, user, now, factor="password")
    mfa = False
    if totp is not None and user.totp_enabled:
        step = _match_totp(settings, user, totp, now)
        if step is None:
            return _register_failure(session, settings, user, now, factor="totp")
        user.totp_last_step = step
        mfa = True
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    user.failed_logins = 0
    user.last_login_at = now
    session.flush()
    needs = user_requires_mfa(session, user.id)
    _audit(session, _user_actor_label(user), "identity.login", target_type="user", target_id=user.id,
           area_code=user.area_code, detail={"factor": "password+totp" if mfa else "password", "mfa": mfa})
    return LoginOutcome(
        True, "ok", user.id, mfa=mfa,
        totp_needed=needs and user.totp_enabled and not mfa,
        totp_setup_needed=needs and not user.totp_enabled,
    )


def verify_second_factor(
    session: Session, settings: Settings, user_id: str, code: str, *, now: datetime | None = None
) -> LoginOutcome:
    """The second sign-in step: a TOTP code for a session that passed the password. Wrong codes
    count towards the lockout like wrong passwords."""
    now = now or utcnow()
    user = repo.get_user(session, user_id)
    if user is None:
        return _FAILED
    if _is_locked(user, now):
        _audit(session, _user_actor_label(user), "identity.login", target_type="user", target_id=user.id,
               area_code=user.area_code, outcome="locked", detail={"factor": "totp", "reason": "locked"})
        return LoginOutcome(False, "locked", user.id)
    if not user.totp_enabled:
        raise TotpNotEnrolled()
    step = _match_totp(settings, user, code, now)
    if step is None:
        return _register_failure(session, settings, user, now, factor="totp")
    user.totp_last_step = step
    user.failed_logins = 0
    session.flush()
    _audit(session, _user_actor_label(user), "identity.login", target_type="user", target_id=user.id,
           area_code=user.area_code, detail={"factor": "totp", "mfa": True})
    return LoginOutcome(True, "ok", user.id, mfa=True)


# -- TOTP ----------------------------------------------------------------------------------------


def _totp_aad(user_id: str) -> str:
    return f"users.totp_secret:{user_id}"


def _cipher(settings: Settings):
    from yiwang.core.fieldcrypt import FieldCipher

    return FieldCipher.for_settings(settings)


def _totp_step_match(secret: str, code: str, now: datetime, last_step: int | None) -> int | None:
    code = (code or "").strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=6, interval=TOTP_PERIOD)
    current = int(now.timestamp()) // TOTP_PERIOD
    for step in (current - 1, current, current + 1):
        if last_step is not None and step <= last_step:
            continue  # a code is good once: replaying it (or an older one) is refused
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _match_totp(settings: Settings, user: User, code: str, now: datetime) -> int | None:
    if not user.totp_secret:
        return None
    secret = _cipher(settings).decrypt(user.totp_secret, _totp_aad(user.id))
    return _totp_step_match(secret, code, now, user.totp_last_step)


@dataclass(frozen=True)
class TotpSetup:
    secret: str
    otpauth_uri: str


def totp_qr_svg(uri: str) -> str:
    """The otpauth URI as an inline SVG QR code."""
    import segno

    return segno.make(uri, error="m").svg_inline(scale=4, dark="#000", light="#fff")


def begin_totp_setup(session: Session, actor: Actor, *, settings: Settings | None = None) -> TotpSetup:
    """Make a new TOTP secret for the signed-in user, pending until a code from it is confirmed;
    replacing an enabled one needs a TOTP-verified session."""
    settings = _settings(session, settings)
    user = repo.get_user(session, actor.user_id) if actor.user_id else None
    if user is None:
        raise UserNotFound()
    if user.totp_enabled and not actor.mfa:
        raise TotpAlreadyEnabled()
    secret = pyotp.random_base32(32)
    user.totp_pending_secret = _cipher(settings).encrypt(secret, _totp_aad(user.id))
    session.flush()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=TOTP_ISSUER)
    return TotpSetup(secret, uri)


def confirm_totp(session: Session, actor: Actor, code: str, *, settings: Settings | None = None,
                 now: datetime | None = None) -> bool:
    """Enable the pending TOTP secret when ``code`` matches it; returns False on a wrong code."""
    settings = _settings(session, settings)
    now = now or utcnow()
    user = repo.get_user(session, actor.user_id) if actor.user_id else None
    if user is None:
        raise UserNotFound()
    if not user.totp_pending_secret:
        raise TotpSetupNotStarted()
    cipher = _cipher(settings)
    secret = cipher.decrypt(user.totp_pending_secret, _totp_aad(user.id))
    step = _totp_step_match(secret, code, now, None)
    if step is None:
        return False
    user.totp_secret = cipher.encrypt(secret, _totp_aad(user.id))
    user.totp_pending_secret = None
    user.totp_enabled = True
    user.totp_last_step = step
    session.flush()
    _audit(session, actor, "identity.totp.enable", target_type="user", target_id=user.id, area_code=user.area_code)
    return True


def enroll_totp_secret(session: Session, user_id: str, secret: str, *, settings: Settings | None = None) -> None:
    """Store a given TOTP secret as enabled (the demo loader's fixed, documented secret; tests)."""
    settings = _settings(session, settings)
    user = repo.get_user(session, user_id)
    if user is None:
        raise UserNotFound()
    user.totp_secret = _cipher(settings).encrypt(secret, _totp_aad(user_id))
    user.totp_enabled = True
    user.totp_last_step = None
    session.flush()


# -- sessions ------------------------------------------------------------------------------------


def start_session(
    session: Session, settings: Settings, user_id: str, *, mfa: bool, via: str = "password",
    now: datetime | None = None,
) -> tuple[str, UserSession]:
    """A new server-side session; returns the cookie token (kept only as its SHA-256)."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    row = UserSession(
        token_hash=_sha256(token),
        user_id=user_id,
        created_at=now,
        expires_at=now + timedelta(hours=settings.session_hours),
        last_seen_at=now,
        mfa=mfa,
        csrf_secret=secrets.token_urlsafe(32),
        via=via,
    )
    session.add(row)
    session.flush()
    return token, row


def resolve_session(session: Session, token: str, *, now: datetime | None = None) -> tuple[UserSession, User] | None:
    """The live session and user of a cookie token, or None (unknown, expired, inactive user)."""
    now = now or utcnow()
    if not token or len(token) > 128:
        return None
    found = repo.session_with_user(session, _sha256(token))
    if found is None:
        return None
    row, user = found
    if row.expires_at <= now or not user.is_active:
        return None
    if (now - row.last_seen_at).total_seconds() > SESSION_TOUCH_SECONDS:
        repo.touch_session(session, row.token_hash, now)
    return row, user


Touch = Callable[[Session], None]
"""A "last seen / last used" update, to run in a write unit of work (see ``defer`` below)."""


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """What the web tier needs of a live session besides the actor."""

    token_hash: str
    user_id: str
    mfa: bool
    csrf_secret: str


def load_session(session: Session, token: str, *, now: datetime | None = None,
                 defer: Callable[[Touch], None] | None = None) -> tuple[SessionInfo, Actor] | None:
    """The live session of a cookie token and its actor, or None (unknown, expired, inactive user):
    the per-request path, three indexed reads (session ⋈ user, policy version, grants). With
    ``defer``, the occasional "last seen" update is handed to it instead of written here (so the
    look-up can run in a read-only unit of work)."""
    now = now or utcnow()
    if not token or len(token) > 128:
        return None
    row = repo.session_actor_row(session, _sha256(token))
    if row is None or row.expires_at <= now or not row.is_active:
        return None
    if (now - row.last_seen_at).total_seconds() > SESSION_TOUCH_SECONDS:
        _touch(session, defer, lambda s, h=row.token_hash: repo.touch_session(s, h, now))
    actor = _actor_from_rows(session, row, repo.grant_rows_for_actor(session, row.id), mfa=row.mfa)
    return SessionInfo(row.token_hash, row.id, row.mfa, row.csrf_secret), actor


def elevate_session(session: Session, settings: Settings, token: str, *, now: datetime | None = None) -> str | None:
    """Replace a session by a TOTP-verified one (a new token, so a token seen before the second
    factor is worth nothing after it)."""
    found = repo.session_with_user(session, _sha256(token))
    if found is None:
        return None
    row, _user = found
    new_token, _ = start_session(session, settings, row.user_id, mfa=True, via=row.via, now=now)
    repo.delete_session(session, row.token_hash)
    session.flush()
    return new_token


def end_session(session: Session, token: str, actor: Actor | None = None) -> None:
    """Sign out: delete the session."""
    found = repo.session_with_user(session, _sha256(token)) if token else None
    if found is None:
        return
    row, user = found
    repo.delete_session(session, row.token_hash)
    session.flush()
    _audit(session, actor or _user_actor_label(user), "identity.logout", target_type="user", target_id=user.id,
           area_code=user.area_code)


def purge_expired_sessions(session: Session, *, now: datetime | None = None) -> int:
    """Delete expired sessions (worker job)."""
    return repo.delete_expired_sessions(session, now or utcnow())


# -- API tokens ----------------------------------------------------------------------------------


def _token_read(t: ApiToken) -> TokenRead:
    return TokenRead.model_validate(t)


def create_token(
    session: Session, actor: Actor, user_id: str, name: str, expires_days: int | None = 90,
    *, now: datetime | None = None,
) -> tuple[str, TokenRead]:
    """Issue an API token (shown once) for yourself, or (user.manage) for an account you manage.
    Your own token needs a TOTP-verified session when your roles need one."""
    now = now or utcnow()
    user = repo.get_user(session, user_id)
    if user is None:
        raise UserNotFound()
    if actor.user_id == user_id and not actor.is_system:
        if not actor.mfa and user_requires_mfa(session, user_id):
            raise MfaRequired(permission="token.create", target=f"user:{user_id}")
    else:
        _require_over_user(actor, "user.manage", user, repo.grants_of(session, user_id))
    prefix = secrets.token_hex(4)
    plaintext = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiToken(
        id=new_id(),
        user_id=user_id,
        name=name,
        prefix=prefix,
        token_hash=_sha256(plaintext),
        created_at=now,
        created_by=actor.label,
        expires_at=now + timedelta(days=expires_days) if expires_days else None,
    )
    session.add(row)
    session.flush()
    _audit(session, actor, "identity.token.create", target_type="api_token", target_id=row.id,
           area_code=user.area_code, detail={"user_id": user_id, "prefix": prefix,
                                             "expires_at": row.expires_at.isoformat() if row.expires_at else None})
    return plaintext, _token_read(row)


def list_tokens(session: Session, actor: Actor, user_id: str) -> list[TokenRead]:
    """A user's API tokens (without secrets): yours, or those of an account you manage."""
    user = repo.get_user(session, user_id)
    if user is None:
        raise UserNotFound()
    if actor.user_id != user_id:
        _require_over_user(actor, "user.manage", user, repo.grants_of(session, user_id))
    return [_token_read(t) for t in repo.tokens_of(session, user_id)]


def revoke_token(session: Session, actor: Actor, token_id: str, *, now: datetime | None = None) -> TokenRead:
    """Revoke an API token: your own, or (user.manage) one of an account you manage."""
    row = repo.get_token(session, token_id)
    if row is None:
        raise TokenNotFound()
    user = repo.get_user(session, row.user_id)
    assert user is not None
    if actor.user_id != row.user_id:
        _require_over_user(actor, "user.manage", user, repo.grants_of(session, user.id))
    if row.revoked_at is None:
        row.revoked_at = now or utcnow()
        session.flush()
        _audit(session, actor, "identity.token.revoke", target_type="api_token", target_id=row.id,
               area_code=user.area_code, detail={"user_id": row.user_id, "prefix": row.prefix})
    return _token_read(row)


def _touch(session: Session, defer: Callable[[Touch], None] | None, fn: Touch) -> None:
    if defer is None:
        fn(session)
    else:
        defer(fn)


def actor_for_token(session: Session, plaintext: str, *, now: datetime | None = None,
                    defer: Callable[[Touch], None] | None = None) -> Actor | None:
    """The actor of a bearer token, or None when it is unknown, expired or revoked (``defer``: as
    for :func:`load_session`).

    A token is a 256-bit random secret issued only to a TOTP-verified session or by an
    administrator, so it acts with the two-factor roles (``mfa=True``)."""
    now = now or utcnow()
    if not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > 128:
        return None
    prefix, _, rest = plaintext[len(TOKEN_PREFIX):].partition("_")
    if not prefix or not rest:
        return None
    found = repo.token_by_prefix(session, prefix)
    if found is None:
        return None
    row, user = found
    if not hmac.compare_digest(row.token_hash, _sha256(plaintext)):
        return None
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now) or not user.is_active:
        return None
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > TOKEN_TOUCH_SECONDS:
        _touch(session, defer, lambda s, i=row.id: repo.touch_token(s, i, now))
    return build_actor(session, user, mfa=True)


# -- single sign-on ------------------------------------------------------------------------------


def sign_in_oidc(session: Session, *, sub: str, email: str | None, email_verified: bool,
                 now: datetime | None = None) -> str | None:
    """The staff account of a verified OIDC identity: by ``sub``, else by a verified e-mail that
    exactly one staff account holds (then ``sub`` is linked). Unknown identities are refused
    (audited) and nothing is created. Returns the user id or None."""
    now = now or utcnow()
    user = repo.get_user_by_sub(session, sub)
    linked = False
    if user is None and email and email_verified:
        matches = [u for u in repo.get_users_by_email(session, email) if u.kind == "staff"]
        if len(matches) == 1 and matches[0].oidc_sub is None:
            user = matches[0]
            user.oidc_sub = sub
            linked = True
    if user is None or user.kind != "staff" or not user.is_active:
        _audit(session, ANONYMOUS, "identity.login", target_type="user", target_id=user.id if user else None,
               outcome="failed", detail={"factor": "oidc", "reason": "unknown_user"})
        return None
    if _is_locked(user, now):
        _audit(session, _user_actor_label(user), "identity.login", target_type="user", target_id=user.id,
               area_code=user.area_code, outcome="locked", detail={"factor": "oidc", "reason": "locked"})
        return None
    user.last_login_at = now
    session.flush()
    _audit(session, _user_actor_label(user), "identity.login", target_type="user", target_id=user.id,
           area_code=user.area_code, detail={"factor": "oidc", "linked": linked})
    return user.id


def login_state(session: Session, user_id: str, *, mfa: bool) -> tuple[bool, bool]:
    """(totp_needed, totp_setup_needed) for a signed-in user."""
    user = repo.get_user(session, user_id)
    if user is None or mfa:
        return False, False
    needs = user_requires_mfa(session, user_id)
    return needs and user.totp_enabled, needs and not user.totp_enabled
