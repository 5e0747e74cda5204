"""Use cases of electronic certificates (电子证照): issue on approval, read, the holder's wallet,
revoke, and verify a presented file or a scanned QR code.

Issuing has no public route: the applications service calls :func:`issue_certificate` when an
application is approved. The document is signed with the platform key (``core.crypto``, Ed25519 by
default, SM2 when ``sign_algorithm = "sm2"``); the envelope's bytes are stored as issued.
Verification checks the signature first, then the platform's record (revocation), then the dates.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy.orm import Session

from yiwang.areas import service as areas_service
from yiwang.audit import service as audit_service
from yiwang.certificates import repository
from yiwang.certificates.errors import (
    AlreadyRevoked,
    CertificateInvalid,
    CertificateNotFound,
    RevokeReasonRequired,
)
from yiwang.certificates.models import Certificate
from yiwang.certificates.offline import FORMAT, MalformedEnvelope, canonical_bytes, parse_envelope
from yiwang.certificates.schemas import CertificateRead, VerificationResult
from yiwang.core import crypto
from yiwang.core.actor import Actor
from yiwang.core.db import utcnow
from yiwang.core.errors import AuthenticationRequired, PermissionDenied
from yiwang.core.fieldcrypt import FieldCipher
from yiwang.core.i18n import translate
from yiwang.core.ids import new_id
from yiwang.core.jobs import settings_for
from yiwang.core.masking import mask

log = logging.getLogger("yiwang.certificates")

HOLDER_KINDS = ("person", "entity")
PLATFORM = "yiwang"
PREFIX_CHARS = 16
CHINA = timezone(timedelta(hours=8))
"""Validity dates are dates in China (no daylight saving time)."""

REASONS = {
    "valid": "The certificate is authentic and valid.",
    "revoked": "The certificate was revoked on {date}.",
    "expired": "The certificate expired on {date}.",
    "not_yet_valid": "The certificate is valid only from {date}.",
    "not_found": "The platform has no such certificate.",
    "bad_signature": "The certificate has been altered or was not issued by this platform.",
    "malformed": "This is not a certificate file this platform can read.",
}


def today_in_china() -> date:
    """Today's date in China, against which validity dates are judged."""
    return datetime.now(CHINA).date()


def _aad(row_id: str) -> str:
    return f"certificates.holder_name:{row_id}"


def _signature_of(envelope: str) -> dict[str, str]:
    return json.loads(envelope)["signature"]


def signature_prefix(signature_b64: str) -> str:
    """The first 16 characters of a base64 signature re-written as base64url (the QR's ``s``)."""
    raw = base64.b64decode(signature_b64)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")[:PREFIX_CHARS]


def _read(session: Session, row: Certificate, today: date | None = None) -> CertificateRead:
    name = FieldCipher.for_session(session).decrypt(row.holder_name_enc, _aad(row.id))
    document = json.loads(row.envelope)["document"]
    prefix = signature_prefix(_signature_of(row.envelope)["value"])
    today = today or today_in_china()
    return CertificateRead(
        id=row.id, type_code=row.type_code, type_name=row.type_name, holder_kind=row.holder_kind,  # type: ignore[arg-type]
        holder_id=row.holder_id, holder_name=name, holder_identifier=document["holder"]["identifier"],
        issuer_department_id=row.issuer_department_id, issuer_area_code=row.issuer_area_code,
        issuer_name=document["issuer"]["department_name"], application_id=row.application_id,
        fields=document["fields"], issued_at=row.issued_at, valid_from=row.valid_from, valid_until=row.valid_until,
        status=row.status, revoked_at=row.revoked_at, revoked_reason=row.revoked_reason,  # type: ignore[arg-type]
        expired=row.valid_until is not None and today > row.valid_until,
        signature_prefix=prefix, verify_path=f"/verify/{row.id}?s={prefix}", envelope=row.envelope,
    )


def _text(value: Any, reason: str, max_len: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > max_len:
        raise CertificateInvalid(reason=reason)
    return value.strip()


def _check_fields(fields: Any) -> dict[str, Any]:
    if not isinstance(fields, dict) or not all(isinstance(k, str) and k for k in fields):
        raise CertificateInvalid(reason="The fields must be a mapping of names to values.")
    try:
        canonical_bytes(fields)
    except (TypeError, ValueError) as exc:
        raise CertificateInvalid(reason="The fields must be plain JSON values.") from exc
    if any(isinstance(v, float) for v in fields.values()):
        # Floats print differently across JSON libraries: an offline verifier could not rebuild the bytes.
        raise CertificateInvalid(reason="The fields must be plain JSON values.")
    return dict(fields)


def issue_certificate(
    session: Session,
    actor: Actor,
    *,
    type_code: str,
    type_name: str,
    holder_kind: str,
    holder_id: str,
    holder_name: str,
    holder_identifier: str,
    issuer_department_id: str,
    fields: dict[str, Any],
    valid_from: date,
    valid_until: date | None,
    application_id: str | None = None,
) -> CertificateRead:
    """Sign and store a certificate (``certificate.issue`` over the issuing department); audited.

    A person's ID number is written masked to its last four characters; an entity's USCC whole."""
    department = areas_service.get_department(session, issuer_department_id)
    actor.require("certificate.issue", area_code=department.area_code, department_id=department.id,
                  target=holder_id)
    if holder_kind not in HOLDER_KINDS:
        raise CertificateInvalid(reason="The holder must be a person or an entity.")
    type_code = _text(type_code, "The type code must have 1 to 40 characters.", 40)
    type_name = _text(type_name, "The type name must have 1 to 100 characters.", 100)
    holder_name = _text(holder_name, "The holder's name must have 1 to 200 characters.", 200)
    identifier = _text(holder_identifier, "The holder's identifier must have 1 to 40 characters.", 40)
    if holder_kind == "person":
        identifier = mask(identifier, "last4")
    fields = _check_fields(fields)
    if valid_until is not None and valid_until < valid_from:
        raise CertificateInvalid(reason="The end of validity is before its start.")
    settings = settings_for(session)
    cid = new_id()
    issued_at = utcnow().replace(microsecond=0)
    document = {
        "format": FORMAT,
        "id": cid,
        "type": {"code": type_code, "name": type_name},
        "holder": {"kind": holder_kind, "id": holder_id, "name": holder_name, "identifier": identifier},
        "issuer": {"department_code": department.code, "department_name": department.name,
                   "platform": settings.area_name or PLATFORM},
        "fields": fields,
        "issued_at": issued_at.isoformat(),
        "valid_from": valid_from.isoformat(),
        "valid_until": valid_until.isoformat() if valid_until else None,
        "application_id": application_id,
    }
    algorithm, kid, value = crypto.sign(settings, canonical_bytes(document), algorithm=settings.sign_algorithm)
    envelope = json.dumps({"document": document, "signature": {"algorithm": algorithm, "key_id": kid, "value": value}},
                          ensure_ascii=False, sort_keys=True, indent=1)
    row = Certificate(
        id=cid, type_code=type_code, type_name=type_name, holder_kind=holder_kind, holder_id=holder_id,
        holder_name_enc=FieldCipher.for_session(session).encrypt(holder_name, _aad(cid)),
        issuer_department_id=department.id, issuer_area_code=department.area_code, application_id=application_id,
        issued_at=issued_at, valid_from=valid_from, valid_until=valid_until, status="valid", envelope=envelope,
    )
    repository.add(session, row)
    audit_service.record(session, actor, "certificate.issue", target_type="certificate", target_id=cid,
                         area_code=department.area_code,
                         detail={"type_code": type_code, "holder_kind": holder_kind, "holder_id": holder_id,
                                 "department_id": department.id, "application_id": application_id,
                                 "algorithm": algorithm})
    log.info("certificate issued", extra={"certificate_id": cid, "type_code": type_code})
    return _read(session, row)


def _holds(actor: Actor, row: Certificate) -> bool:
    if row.holder_kind == "person":
        return actor.kind == "citizen" and actor.person_id is not None and actor.person_id == row.holder_id
    return actor.kind == "enterprise" and actor.entity_id is not None and actor.entity_id == row.holder_id


def _is_holder_kind(actor: Actor) -> bool:
    return actor.kind in ("citizen", "enterprise")


def get_certificate(session: Session, actor: Actor, certificate_id: str) -> CertificateRead:
    """One certificate, for its holder or for staff with ``certificate.read`` over the issuer
    (audited). A citizen or enterprise asking for one not theirs is refused whether or not it
    exists, so the answer does not tell them which ids exist."""
    if not actor.is_authenticated:
        raise AuthenticationRequired()
    row = repository.get(session, certificate_id)
    if _is_holder_kind(actor):
        if row is None or not _holds(actor, row):
            raise PermissionDenied(permission="certificate.read", target=certificate_id)
        return _read(session, row)
    if not actor.scopes("certificate.read"):
        raise PermissionDenied(permission="certificate.read", target=certificate_id)
    if row is None:
        raise CertificateNotFound(certificate_id=certificate_id)
    actor.require("certificate.read", area_code=row.issuer_area_code, department_id=row.issuer_department_id,
                  target=certificate_id)
    audit_service.record(session, actor, "certificate.read", target_type="certificate", target_id=row.id,
                         area_code=row.issuer_area_code,
                         detail={"holder_kind": row.holder_kind, "holder_id": row.holder_id})
    return _read(session, row)


def _wallet_order(today: date):
    def key(c: CertificateRead) -> tuple[int, float]:
        usable = c.status == "valid" and not c.expired and c.valid_from <= today
        return (0 if usable else 1, -c.issued_at.timestamp())

    return key


def wallet(session: Session, actor: Actor) -> list[CertificateRead]:
    """The signed-in citizen's or enterprise's own certificates, usable ones first, newest first.

    Staff hold no certificates: their wallet is empty."""
    if not actor.is_authenticated:
        raise AuthenticationRequired()
    if actor.kind == "citizen" and actor.person_id:
        rows = repository.by_holder(session, "person", actor.person_id)
    elif actor.kind == "enterprise" and actor.entity_id:
        rows = repository.by_holder(session, "entity", actor.entity_id)
    else:
        rows = []
    today = today_in_china()
    return sorted((_read(session, r, today) for r in rows), key=_wallet_order(today))


def holder_certificates(
    session: Session, holder_kind: str, holder_id: str, type_code: str | None = None,
    valid_on: date | None = None,
) -> list[CertificateRead]:
    """A holder's certificates (optionally of one type, optionally only those valid on a date).

    NO permission check: this is for the applications service, to find material the platform
    already holds for the applicant it is serving; never expose it to a route as such."""
    rows = repository.by_holder(session, holder_kind, holder_id, type_code)
    found = [_read(session, r) for r in rows]
    if valid_on is not None:
        found = [c for c in found if c.status == "valid" and c.valid_from <= valid_on
                 and (c.valid_until is None or valid_on <= c.valid_until)]
    return found


def revoke(session: Session, actor: Actor, certificate_id: str, reason: str) -> CertificateRead:
    """Revoke a certificate (``certificate.revoke`` over the issuer); audited. Refuses one already
    revoked (``already_revoked``)."""
    if not actor.is_authenticated:
        raise AuthenticationRequired()
    if not actor.scopes("certificate.revoke"):
        raise PermissionDenied(permission="certificate.revoke", target=certificate_id)
    row = repository.get(session, certificate_id)
    if row is None:
        raise CertificateNotFound(certificate_id=certificate_id)
    actor.require("certificate.revoke", area_code=row.issuer_area_code, department_id=row.issuer_department_id,
                  target=certificate_id)
    reason = (reason or "").strip()
    if not reason or len(reason) > 500:
        raise RevokeReasonRequired()
    if row.status == "revoked":
        raise AlreadyRevoked(certificate_id=certificate_id)
    row.status, row.revoked_at, row.revoked_reason = "revoked", utcnow(), reason
    session.flush()
    audit_service.record(session, actor, "certificate.revoke", target_type="certificate", target_id=row.id,
                         area_code=row.issuer_area_code,
                         detail={"type_code": row.type_code, "holder_kind": row.holder_kind,
                                 "holder_id": row.holder_id})
    log.info("certificate revoked", extra={"certificate_id": row.id})
    return _read(session, row)


# -- verification -------------------------------------------------------------------------------


def _result(status: str, *, row: Certificate | None = None, name: str | None = None,
            today: date | None = None) -> VerificationResult:
    when = None
    if status == "revoked" and row is not None and row.revoked_at is not None:
        when = row.revoked_at.astimezone(CHINA).date().isoformat()
    elif status == "expired" and row is not None and row.valid_until is not None:
        when = row.valid_until.isoformat()
    elif status == "not_yet_valid" and row is not None:
        when = row.valid_from.isoformat()
    reason = translate(REASONS[status], None, date=when or "")
    if row is None:
        return VerificationResult(valid=False, status=status, reason=reason)  # type: ignore[arg-type]
    issuer = json.loads(row.envelope)["document"]["issuer"]["department_name"]
    shown = mask(name, "first_last") if row.holder_kind == "person" else name
    return VerificationResult(
        valid=status == "valid", status=status, reason=reason, certificate_id=row.id,  # type: ignore[arg-type]
        type_code=row.type_code, type_name=row.type_name, issuer_name=issuer,
        holder_kind=row.holder_kind, holder_name=shown, issued_at=row.issued_at,  # type: ignore[arg-type]
        valid_from=row.valid_from, valid_until=row.valid_until, revoked_at=row.revoked_at,
    )


def _platform_signed(session: Session, document: dict[str, Any], signature: dict[str, str]) -> bool:
    settings = settings_for(session)
    algorithm = signature["algorithm"]
    if algorithm not in crypto.SIGN_ALGORITHMS or not crypto.has_signing_key(settings, algorithm):
        return False
    return crypto.verify_signature(algorithm, crypto.public_key(settings, algorithm), canonical_bytes(document),
                                   signature["value"])


def _status_of(row: Certificate, today: date) -> str:
    if row.status == "revoked":
        return "revoked"
    if today < row.valid_from:
        return "not_yet_valid"
    if row.valid_until is not None and today > row.valid_until:
        return "expired"
    return "valid"


def verify_envelope(session: Session, envelope_json: str | bytes, *, today: date | None = None) -> VerificationResult:
    """Check a presented certificate file: its signature, then the platform's record (revoked?),
    then the validity dates. Public: the answer shows only public fields, a person's name masked."""
    try:
        document, signature = parse_envelope(envelope_json)
    except MalformedEnvelope:
        return _result("malformed")
    if not _platform_signed(session, document, signature):
        return _result("bad_signature")
    row = repository.get(session, document["id"])
    if row is None:
        return _result("not_found")
    name = FieldCipher.for_session(session).decrypt(row.holder_name_enc, _aad(row.id))
    return _result(_status_of(row, today or today_in_china()), row=row, name=name)


def verify_by_id(session: Session, certificate_id: str, prefix: str | None, *,
                 today: date | None = None) -> VerificationResult:
    """What scanning a certificate's QR code shows: the record of ``certificate_id`` if ``prefix``
    matches the start of its signature (so a forged document printed with a real id fails), and
    the stored envelope still carries the platform's signature."""
    row = repository.get(session, certificate_id)
    if row is None:
        return _result("not_found")
    document, signature = parse_envelope(row.envelope)
    expected = signature_prefix(signature["value"])
    if not prefix or not hmac.compare_digest(prefix.encode(), expected.encode()):
        return _result("bad_signature")
    if not _platform_signed(session, document, signature):
        return _result("bad_signature")
    name = FieldCipher.for_session(session).decrypt(row.holder_name_enc, _aad(row.id))
    return _result(_status_of(row, today or today_in_china()), row=row, name=name)


def published_key(session: Session) -> dict[str, str]:
    """The published signing key of the configured algorithm: ``{format, algorithm, key_id, public_key}``."""
    settings = settings_for(session)
    algorithm = settings.sign_algorithm
    return {"format": FORMAT, "algorithm": algorithm, "key_id": crypto.key_id(settings, algorithm),
            "public_key": crypto.public_key(settings, algorithm)}


def qr_svg(certificate: CertificateRead, base_url: str = "") -> str:
    """An inline SVG QR code of the certificate's public verification URL (``base_url`` + path)."""
    import segno

    return segno.make(base_url.rstrip("/") + certificate.verify_path, error="m").svg_inline(
        scale=4, dark="#000", light="#fff")
