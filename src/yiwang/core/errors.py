"""Domain errors. Services raise these; the API, pages and CLI turn them into sentences.

Each error has a stable snake_case ``code`` (clients switch on it), an HTTP status and a message
in English that is also the gettext msgid, formatted with ``params`` after translation.
"""

from __future__ import annotations

from typing import Any, ClassVar


class AppError(Exception):
    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    message: ClassVar[str] = "The request could not be completed."

    def __init__(self, message: str | None = None, /, **params: Any) -> None:
        self.msgid = message or self.message
        self.params = params
        super().__init__(self.msgid.format(**params) if params else self.msgid)

    def render(self, locale: str | None = None) -> str:
        """The message in the given locale (Simplified Chinese by default)."""
        from yiwang.core.i18n import translate

        return translate(self.msgid, locale, **self.params)


class NotFoundError(AppError):
    code = "not_found"
    status = 404
    message = "Not found."


class ValidationFailed(AppError):
    """Input that cannot be accepted; ``errors`` lists each field's problem."""

    code = "validation_failed"
    status = 422
    message = "Some of the input is not valid."

    def __init__(self, message: str | None = None, /, errors: list[dict[str, Any]] | None = None, **params: Any):
        super().__init__(message, **params)
        self.errors = errors or []


class ConflictError(AppError):
    code = "conflict"
    status = 409
    message = "This conflicts with the current state."


class AuthenticationRequired(AppError):
    code = "authentication_required"
    status = 401
    message = "Please sign in."


class PermissionDenied(AppError):
    """The actor lacks the permission for this area or department. Logged to the audit trail."""

    code = "permission_denied"
    status = 403
    message = "You do not have permission to do this."

    def __init__(
        self,
        message: str | None = None,
        /,
        permission: str = "",
        area_code: str | None = None,
        department_id: str | None = None,
        target: str | None = None,
        **params: Any,
    ) -> None:
        super().__init__(message, **params)
        self.permission = permission
        self.area_code = area_code
        self.department_id = department_id
        self.target = target


class RateLimited(AppError):
    code = "rate_limited"
    status = 429
    message = "Too many attempts. Please try again later."
