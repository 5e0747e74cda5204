"""All SQL of the identity domain."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Row, and_, bindparam, delete, func, or_, select, update
from sqlalchemy.orm import Session

from yiwang.core.actor import Scope
from yiwang.identity.models import (
    ApiToken,
    Permission,
    PolicyVersion,
    RoleGrant,
    RolePermission,
    SignInFailures,
    User,
    UserSession,
)

# -- users ---------------------------------------------------------------------------------------


def get_user(session: Session, user_id: str) -> User | None:
    return session.get(User, user_id)


def get_user_by_username(session: Session, username: str) -> User | None:
    return session.scalars(select(User).where(User.username == username)).first()


def get_user_by_sub(session: Session, sub: str) -> User | None:
    return session.scalars(select(User).where(User.oidc_sub == sub)).first()


def get_users_by_email(session: Session, email: str) -> list[User]:
    return list(session.scalars(select(User).where(func.lower(User.email) == email.lower()).limit(2)))


def _scope_filter(scopes: list[Scope]):
    """Users whose home area, or one of whose grants, lies inside one of ``scopes`` (None: all)."""
    if any(s.area_code == "" and s.department_id is None for s in scopes):
        return None
    conds = []
    for s in scopes:
        grant_cond = [RoleGrant.area_code.startswith(s.area_code, autoescape=True)]
        if s.department_id is not None:
            grant_cond.append(RoleGrant.department_id == s.department_id)
        else:
            conds.append(User.area_code.startswith(s.area_code, autoescape=True))
            if len(s.area_code) <= 2:
                # Accounts with no home area (citizens, enterprises) belong to the city level.
                conds.append(User.area_code.is_(None))
        conds.append(User.id.in_(select(RoleGrant.user_id).where(and_(*grant_cond))))
    return or_(*conds)


def list_users(session: Session, scopes: list[Scope], *, q: str | None, limit: int, offset: int) -> tuple[list[User], int]:
    if not scopes:
        return [], 0
    stmt = select(User)
    cond = _scope_filter(scopes)
    if cond is not None:
        stmt = stmt.where(cond)
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(or_(func.lower(User.username).like(like), func.lower(User.display_name).like(like)))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = list(session.scalars(stmt.order_by(User.username).limit(limit).offset(offset)))
    return rows, total


# -- grants --------------------------------------------------------------------------------------


def grants_of(session: Session, user_id: str) -> list[RoleGrant]:
    return list(session.scalars(select(RoleGrant).where(RoleGrant.user_id == user_id).order_by(RoleGrant.area_code, RoleGrant.role, RoleGrant.id)))


def grants_of_many(session: Session, user_ids: Iterable[str]) -> dict[str, list[RoleGrant]]:
    ids = list(user_ids)
    out: dict[str, list[RoleGrant]] = {i: [] for i in ids}
    if ids:
        for g in session.scalars(select(RoleGrant).where(RoleGrant.user_id.in_(ids)).order_by(RoleGrant.area_code, RoleGrant.role, RoleGrant.id)):
            out[g.user_id].append(g)
    return out


# Per-request statements are built once: composing them costs more than running them.
_GRANT_ROWS = select(RoleGrant.role, RoleGrant.area_code, RoleGrant.department_id).where(
    RoleGrant.user_id == bindparam("user_id"))


def grant_rows_for_actor(session: Session, user_id: str) -> list[tuple[str, str, str | None]]:
    """(role, area_code, department_id) of a user's grants: the per-request query, columns only."""
    # Through the connection, not the ORM: no entities to build (services flush before reading).
    return [(r, a, d) for r, a, d in session.connection().execute(_GRANT_ROWS, {"user_id": user_id})]


def grants_of_roles(session: Session, roles: Iterable[str]) -> dict[str, tuple[tuple[str, str | None], ...]]:
    """Area code → (user id, department id or None) of every grant of ``roles`` held by an active
    user (staff roles: thousands of rows at most, read in one query)."""
    out: dict[str, list[tuple[str, str | None]]] = {}
    for area, user_id, dept in session.execute(
            select(RoleGrant.area_code, RoleGrant.user_id, RoleGrant.department_id)
            .join(User, User.id == RoleGrant.user_id)
            .where(RoleGrant.role.in_(sorted(set(roles))), User.is_active.is_(True))):
        out.setdefault(area, []).append((user_id, dept))
    return {area: tuple(found) for area, found in out.items()}


def display_names(session: Session, user_ids: list[str]) -> dict[str, str]:
    if not user_ids:
        return {}
    return {i: (d or u) for i, d, u in session.execute(
        select(User.id, User.display_name, User.username).where(User.id.in_(user_ids)))}


def get_grant(session: Session, grant_id: str) -> RoleGrant | None:
    return session.get(RoleGrant, grant_id)


# -- policy --------------------------------------------------------------------------------------


def policy_pairs(session: Session) -> list[tuple[str, str]]:
    return [(r, p) for r, p in session.execute(select(RolePermission.role, RolePermission.permission))]


def known_permissions(session: Session) -> set[str]:
    return set(session.scalars(select(Permission.name)))


def policy_version(session: Session) -> PolicyVersion | None:
    return session.get(PolicyVersion, 1)


_POLICY_STAMP = select(PolicyVersion.version, PolicyVersion.token).where(PolicyVersion.id == 1)


def policy_stamp(session: Session) -> tuple[int, str] | None:
    row = session.connection().execute(_POLICY_STAMP).first()
    return (row[0], row[1]) if row else None


def role_permission_set(session: Session, role: str) -> set[str]:
    return set(session.scalars(select(RolePermission.permission).where(RolePermission.role == role)))


def delete_role_permissions(session: Session, role: str, permissions: Iterable[str]) -> None:
    perms = list(permissions)
    if perms:
        session.execute(
            delete(RolePermission).where(RolePermission.role == role, RolePermission.permission.in_(perms))
        )


# -- sessions ------------------------------------------------------------------------------------


def session_with_user(session: Session, token_hash: str) -> tuple[UserSession, User] | None:
    row = session.execute(
        select(UserSession, User).join(User, User.id == UserSession.user_id).where(UserSession.token_hash == token_hash)
    ).first()
    return (row[0], row[1]) if row else None


_SESSION_ACTOR = (
    select(UserSession.token_hash, UserSession.expires_at, UserSession.last_seen_at, UserSession.mfa,
           UserSession.csrf_secret, User.id, User.username, User.kind, User.is_active, User.person_id,
           User.entity_id)
    .join(User, User.id == UserSession.user_id)
    .where(UserSession.token_hash == bindparam("token_hash"))
)


def session_actor_row(session: Session, token_hash: str) -> Row | None:
    """The session and the user fields an actor needs, in one primary-key join (no ORM objects:
    this runs on every request)."""
    return session.connection().execute(_SESSION_ACTOR, {"token_hash": token_hash}).first()


def delete_session(session: Session, token_hash: str) -> None:
    session.execute(delete(UserSession).where(UserSession.token_hash == token_hash))


def delete_sessions_of(session: Session, user_id: str) -> None:
    session.execute(delete(UserSession).where(UserSession.user_id == user_id))


def touch_session(session: Session, token_hash: str, now: datetime) -> None:
    session.execute(update(UserSession).where(UserSession.token_hash == token_hash).values(last_seen_at=now))


def delete_expired_sessions(session: Session, now: datetime) -> int:
    result = session.execute(delete(UserSession).where(UserSession.expires_at < now))
    return int(getattr(result, "rowcount", 0) or 0)


# -- failed sign-ins per network address --------------------------------------------------------


def sign_in_failures_since(session: Session, source_key: str, since: datetime) -> int:
    """Failed sign-ins from ``source_key`` since ``since`` (a few rows: one per minute of the window)."""
    return int(session.scalar(select(func.coalesce(func.sum(SignInFailures.failures), 0)).where(
        SignInFailures.source_key == source_key, SignInFailures.minute >= since)) or 0)


def count_sign_in_failure(session: Session, source_key: str, minute: datetime) -> None:
    """One more failed sign-in from ``source_key`` in ``minute`` (an upsert, on both databases)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert  # noqa: PLC0415 - the dialect's own upsert
    else:
        from sqlalchemy.dialects.sqlite import insert  # noqa: PLC0415
    stmt = insert(SignInFailures).values(source_key=source_key, minute=minute, failures=1)
    session.execute(stmt.on_conflict_do_update(
        index_elements=[SignInFailures.source_key, SignInFailures.minute],
        set_={"failures": SignInFailures.failures + 1}))


def delete_sign_in_failures_before(session: Session, before: datetime) -> int:
    result = session.execute(delete(SignInFailures).where(SignInFailures.minute < before))
    return int(getattr(result, "rowcount", 0) or 0)


# -- tokens --------------------------------------------------------------------------------------


def token_by_prefix(session: Session, prefix: str) -> tuple[ApiToken, User] | None:
    row = session.execute(
        select(ApiToken, User).join(User, User.id == ApiToken.user_id).where(ApiToken.prefix == prefix)
    ).first()
    return (row[0], row[1]) if row else None


def get_token(session: Session, token_id: str) -> ApiToken | None:
    return session.get(ApiToken, token_id)


def tokens_of(session: Session, user_id: str) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)))


def touch_token(session: Session, token_id: str, now: datetime) -> None:
    session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
