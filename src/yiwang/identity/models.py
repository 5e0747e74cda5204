"""Tables of the identity domain.

Area codes and department ids on grants are plain strings (no foreign key): identity depends on
nothing but core, and a grant keeps naming its scope even if an area is later renumbered.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yiwang.core.db import Base, IdMixin, utcnow


class User(IdMixin, Base):
    """用户账号 — a staff member, citizen, enterprise agent or machine client.

    ``totp_secret`` is a field-encryption token (``core.fieldcrypt``) bound to
    ``users.totp_secret:{id}``; ``totp_last_step`` is the last accepted 30-second step, so a code
    is never accepted twice."""

    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    area_code: Mapped[str | None] = mapped_column(String(15), index=True)
    """Home area: where the account was created; administrators see accounts in their subtree."""
    person_id: Mapped[str | None] = mapped_column(String(26), index=True)
    entity_id: Mapped[str | None] = mapped_column(String(26), index=True)
    oidc_sub: Mapped[str | None] = mapped_column(String(255), unique=True)
    totp_secret: Mapped[str | None] = mapped_column(Text)
    totp_pending_secret: Mapped[str | None] = mapped_column(Text)
    """A secret being set up, kept apart until a code from it is confirmed (also encrypted)."""
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column()
    last_login_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RoleGrant(IdMixin, Base):
    """角色授权 — one role held by one user over an area subtree, optionally one department."""

    __tablename__ = "role_grants"
    __table_args__ = (Index("ix_role_grants_area_code_role", "area_code", "role"),)

    user_id: Mapped[str] = mapped_column(String(26), ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(40))
    area_code: Mapped[str] = mapped_column(String(15))
    department_id: Mapped[str | None] = mapped_column(String(26))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(80))


class Permission(Base):
    """权限 — every permission the policy knows; a row means its default holders were seeded once,
    so a later seed never re-adds what an operator removed."""

    __tablename__ = "permissions"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    seeded_at: Mapped[datetime] = mapped_column(default=utcnow)


class RolePermission(Base):
    """角色权限 — the policy itself: role → permission pairs, evaluated with pycasbin."""

    __tablename__ = "role_permissions"

    role: Mapped[str] = mapped_column(String(40), primary_key=True)
    permission: Mapped[str] = mapped_column(String(80), primary_key=True)


class PolicyVersion(Base):
    """One row, bumped with a fresh token on each policy edit, so every process rebuilds its
    enforcer when (and only when) the policy changed."""

    __tablename__ = "policy_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    token: Mapped[str] = mapped_column(String(26))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class UserSession(Base):
    """登录会话 — server side; the cookie carries a random token, the table only its SHA-256."""

    __tablename__ = "sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(26), ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    mfa: Mapped[bool] = mapped_column(Boolean, default=False)
    csrf_secret: Mapped[str] = mapped_column(String(64))
    via: Mapped[str] = mapped_column(String(16), default="password")


class SignInFailures(Base):
    """Failed sign-ins from one network address in one minute, for the per-address throttle. The
    address is kept only as a keyed digest (``FieldCipher.blind_index``); rows older than the
    throttle's window are swept hourly."""

    __tablename__ = "identity_signin_failures"
    __table_args__ = (Index("ix_identity_signin_failures_minute", "minute"),)

    source_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    minute: Mapped[datetime] = mapped_column(primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class ApiToken(IdMixin, Base):
    """API 令牌 — a machine credential ``yw_<prefix>_<secret>``; stored as its SHA-256, found by prefix."""

    __tablename__ = "api_tokens"
    __table_args__ = (UniqueConstraint("prefix", name="uq_api_tokens_prefix"),)

    user_id: Mapped[str] = mapped_column(String(26), ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(80))
    expires_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()
