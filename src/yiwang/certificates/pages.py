"""Pages of electronic certificates: the public verification page a QR code opens, the page to
check a certificate file, and the holder's wallet with each certificate's QR code and file."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from yiwang.certificates import service as certificates_service
from yiwang.certificates.schemas import CertificateRead
from yiwang.core.web import DbSession, ReadDbSession, SignedInActor, render

router = APIRouter(tags=["certificates"], include_in_schema=False)

MAX_FILE_BYTES = 256 * 1024
STATUS_LABELS = {
    "valid": "Valid", "revoked": "Certificate revoked", "expired": "Expired", "not_yet_valid": "Not yet valid",
    "not_found": "Not found", "bad_signature": "Not authentic", "malformed": "Unreadable",
}


def _no_store(response: HTMLResponse) -> HTMLResponse:
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/verify/{certificate_id}", response_class=HTMLResponse)
def verify_scanned(request: Request, certificate_id: str, session: ReadDbSession, s: str = "") -> HTMLResponse:
    """What scanning a certificate's QR code shows: valid, revoked, expired or not found."""
    result = certificates_service.verify_by_id(session, certificate_id, s)
    return _no_store(render(request, "certificates/verify.html",
                            {"result": result, "labels": STATUS_LABELS, "show_form": False}))


@router.get("/verify", response_class=HTMLResponse)
def verify_form(request: Request) -> HTMLResponse:
    """The form to check a certificate file (paste or upload)."""
    return render(request, "certificates/verify.html", {"result": None, "labels": STATUS_LABELS, "show_form": True})


@router.post("/verify", response_class=HTMLResponse)
async def verify_file(
    request: Request, session: ReadDbSession,
    envelope: Annotated[str, Form()] = "", file: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse:
    """Check a pasted or uploaded certificate file and show the result."""
    data: str | bytes = envelope
    if file is not None and file.filename:
        data = await file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        data = b""
    result = certificates_service.verify_envelope(session, data)
    return _no_store(render(request, "certificates/verify.html",
                            {"result": result, "labels": STATUS_LABELS, "show_form": True}))


def _qr(request: Request, certificate: CertificateRead) -> str:
    return certificates_service.qr_svg(certificate, str(request.base_url))


@router.get("/my/certificates", response_class=HTMLResponse)
def wallet_page(request: Request, session: DbSession, actor: SignedInActor) -> HTMLResponse:
    """The holder's wallet: every own certificate with its QR code and signed file."""
    items = [(c, _qr(request, c)) for c in certificates_service.wallet(session, actor)]
    return _no_store(render(request, "certificates/wallet.html", {"items": items}))


@router.get("/my/certificates/{certificate_id}", response_class=HTMLResponse)
def certificate_page(request: Request, certificate_id: str, session: DbSession, actor: SignedInActor) -> HTMLResponse:
    """One certificate with its fields and QR code (its holder, or staff with certificate.read)."""
    certificate = certificates_service.get_certificate(session, actor, certificate_id)
    return _no_store(render(request, "certificates/certificate.html",
                            {"c": certificate, "qr": _qr(request, certificate)}))


@router.get("/my/certificates/{certificate_id}/download")
def download(certificate_id: str, session: DbSession, actor: SignedInActor) -> Response:
    """The signed certificate file (JSON) exactly as issued."""
    certificate = certificates_service.get_certificate(session, actor, certificate_id)
    filename = f"{certificate.type_code}-{certificate.id}.json"
    return Response(certificate.envelope.encode("utf-8"), media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})
