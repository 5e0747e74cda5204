"""Errors of the certificates domain, each with a stable code."""

from __future__ import annotations

from yiwang.core.errors import AppError, ConflictError, NotFoundError


class CertificateNotFound(NotFoundError):
    code = "certificate_not_found"
    message = "There is no certificate {certificate_id}."


class CertificateInvalid(AppError):
    """The data given for a new certificate cannot be signed; ``reason`` is a msgid too."""

    code = "certificate_invalid"
    status = 422
    message = "The certificate cannot be issued: {reason}"

    def render(self, locale: str | None = None) -> str:
        from yiwang.core.i18n import translate

        params = dict(self.params)
        params["reason"] = translate(params.get("reason", ""), locale)
        return translate(self.msgid, locale, **params)


class AlreadyRevoked(ConflictError):
    code = "already_revoked"
    message = "The certificate {certificate_id} has already been revoked."


class RevokeReasonRequired(AppError):
    code = "revoke_reason_required"
    status = 422
    message = "Give a reason for the revocation (1 to 500 characters)."
