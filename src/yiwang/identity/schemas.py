"""Pydantic schemas of the identity domain."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

UserKind = Literal["staff", "citizen", "enterprise", "machine"]


class GrantCreate(BaseModel):
    role: str = Field(max_length=40)
    area_code: str = Field(max_length=15)
    department_id: str | None = Field(default=None, max_length=26)


class GrantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    role: str
    area_code: str
    department_id: str | None
    created_at: datetime


class UserCreate(BaseModel):
    username: str = Field(max_length=64)
    password: str | None = Field(default=None, max_length=1024)
    kind: UserKind = "staff"
    display_name: str = Field(max_length=100)
    email: str | None = Field(default=None, max_length=254)
    grants: list[GrantCreate] = Field(default_factory=list)
    person_id: str | None = None
    entity_id: str | None = None


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    username: str
    kind: str
    display_name: str
    email: str | None
    is_active: bool
    area_code: str | None
    person_id: str | None
    entity_id: str | None
    totp_enabled: bool
    locked: bool
    sso_linked: bool
    grants: list[GrantRead]
    created_at: datetime
    last_login_at: datetime | None


class UserPage(BaseModel):
    items: list[UserRead]
    total: int


class MeRead(BaseModel):
    id: str | None
    username: str | None
    kind: str
    display_name: str | None
    mfa: bool
    totp_enabled: bool
    totp_required: bool
    """The user's roles need a TOTP-verified session; until then those roles are withheld."""
    roles: list[str]
    grants: list[dict]
    person_id: str | None
    entity_id: str | None


class LoginRequest(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    totp: str | None = Field(default=None, max_length=12)


class TotpCode(BaseModel):
    code: str = Field(max_length=12)


class LoginResult(BaseModel):
    me: MeRead
    mfa: bool
    totp_needed: bool
    """Send the code to ``POST /api/v1/auth/totp`` to unlock the roles that need it."""
    totp_setup_needed: bool
    """Set TOTP up first (``POST /api/v1/me/totp/setup`` then ``/confirm``)."""
    csrf_token: str


class TotpSetupRead(BaseModel):
    secret: str
    otpauth_uri: str
    qr_svg: str


class RoleRead(BaseModel):
    code: str
    zh: str
    en: str
    permissions: list[str]
    requires_mfa: bool


class PermissionRead(BaseModel):
    name: str
    zh: str
    en: str
    changes_state: bool
    sensitive: bool


class PolicyRead(BaseModel):
    version: int
    roles: list[RoleRead]
    permissions: list[PermissionRead]


class RolePermissionsUpdate(BaseModel):
    permissions: list[str]


class TokenCreate(BaseModel):
    user_id: str | None = None
    """Whose token; yourself when omitted."""
    name: str = Field(min_length=1, max_length=100)
    expires_days: int | None = Field(default=90, ge=1, le=3650)


class TokenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    user_id: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(BaseModel):
    token: str
    """Shown once; only its hash is kept."""
    info: TokenRead
