"""Errors of the audit domain."""

from __future__ import annotations

from yiwang.core.errors import AppError


class AuditImmutable(AppError):
    """Something tried to change or remove recorded history."""

    code = "audit_immutable"
    status = 409
    message = "Audit entries cannot be changed or deleted."


class BadCursor(AppError):
    code = "audit_bad_cursor"
    status = 422
    message = "The page cursor is not valid."
