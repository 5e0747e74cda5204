"""Pydantic views of certificates and of verification results."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

HolderKind = Literal["person", "entity"]
VerificationStatus = Literal["valid", "revoked", "expired", "not_yet_valid", "not_found", "bad_signature",
                             "malformed"]


class CertificateRead(BaseModel):
    """An issued certificate as its holder (or authorised staff) sees it, with the signed file."""

    model_config = ConfigDict(frozen=True)

    id: str
    type_code: str
    type_name: str
    holder_kind: HolderKind
    holder_id: str
    holder_name: str
    holder_identifier: str
    issuer_department_id: str
    issuer_area_code: str
    issuer_name: str
    application_id: str | None
    fields: dict[str, Any]
    issued_at: datetime
    valid_from: date
    valid_until: date | None
    status: Literal["valid", "revoked"]
    revoked_at: datetime | None
    revoked_reason: str | None
    expired: bool
    """``valid_until`` has passed (by the date in China)."""
    signature_prefix: str
    """The first 16 characters of the signature in base64url: the ``s`` of the QR code's URL."""
    verify_path: str
    envelope: str
    """The signed JSON file exactly as issued."""


class VerificationResult(BaseModel):
    """What the public learns from checking a certificate: the verdict and the public fields only
    (a person's name masked)."""

    model_config = ConfigDict(frozen=True)

    valid: bool
    status: VerificationStatus
    reason: str
    certificate_id: str | None = None
    type_code: str | None = None
    type_name: str | None = None
    issuer_name: str | None = None
    holder_kind: HolderKind | None = None
    holder_name: str | None = None
    issued_at: datetime | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    revoked_at: datetime | None = None


class RevokeRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class PublicKeyRead(BaseModel):
    """The published half of the signing key, for offline verifiers."""

    format: str
    algorithm: str
    key_id: str
    public_key: str
