"""JSON API of electronic certificates. Verifying and the public key are public; reading needs to be
the holder or ``certificate.read`` over the issuer; revoking needs ``certificate.revoke``. Issuing
has no route: the applications service issues on approval."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body

from yiwang.certificates import service as certificates_service
from yiwang.certificates.schemas import CertificateRead, PublicKeyRead, RevokeRequest, VerificationResult
from yiwang.core.web import CurrentActor, DbSession, ReadDbSession, SignedInActor

router = APIRouter(prefix="/api/v1/certificates", tags=["certificates"])


@router.get("/public-key", response_model=PublicKeyRead)
def public_key(session: ReadDbSession) -> PublicKeyRead:
    """The platform's published signing key (algorithm, key id, key) for offline verification."""
    return PublicKeyRead(**certificates_service.published_key(session))


@router.get("/mine", response_model=list[CertificateRead])
def mine(session: DbSession, actor: SignedInActor) -> list[CertificateRead]:
    """The signed-in citizen's or enterprise's own certificates (the wallet), usable ones first."""
    return certificates_service.wallet(session, actor)


@router.post("/verify", response_model=VerificationResult)
def verify(session: ReadDbSession, envelope: Annotated[dict[str, Any], Body()]) -> VerificationResult:
    """Verify a certificate file (the envelope JSON): signature, revocation, validity dates."""
    return certificates_service.verify_envelope(session, json.dumps(envelope, ensure_ascii=False))


@router.get("/{certificate_id}", response_model=CertificateRead)
def get_certificate(certificate_id: str, session: DbSession, actor: CurrentActor) -> CertificateRead:
    """One certificate, for its holder or staff with ``certificate.read`` over the issuer."""
    return certificates_service.get_certificate(session, actor, certificate_id)


@router.post("/{certificate_id}/revoke", response_model=CertificateRead)
def revoke(certificate_id: str, body: RevokeRequest, session: DbSession, actor: CurrentActor) -> CertificateRead:
    """Revoke a certificate (``certificate.revoke``); 409 ``already_revoked`` the second time."""
    return certificates_service.revoke(session, actor, certificate_id, body.reason)
