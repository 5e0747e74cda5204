"""Errors of the registry domain, each with a stable code."""

from __future__ import annotations

from typing import Any

from yiwang.core.errors import AppError, ConflictError, NotFoundError, ValidationFailed


class PersonNotFound(NotFoundError):
    code = "person_not_found"
    message = "There is no such person in the registry."


class EntityNotFound(NotFoundError):
    code = "entity_not_found"
    message = "There is no such legal entity in the registry."


class PersonExists(ConflictError):
    code = "person_exists"
    message = "A person with this ID number is already registered."


class EntityExists(ConflictError):
    code = "entity_exists"
    message = "A legal entity with this unified social credit code is already registered."


class UnknownArea(AppError):
    code = "unknown_area"
    status = 422
    message = "There is no area with code {code}."


class PurposeRequired(AppError):
    code = "purpose_required"
    status = 422
    message = "Say why you need the full personal data: a purpose is required."


class InvalidCursor(AppError):
    code = "invalid_cursor"
    status = 422
    message = "The page cursor is not valid."


class _WithReason(ValidationFailed):
    """An error whose ``reason`` parameter is itself a msgid (formatted with the other params)."""

    def render(self, locale: str | None = None) -> str:
        from yiwang.core.i18n import translate

        params: dict[str, Any] = dict(self.params)
        others = {k: v for k, v in params.items() if k != "reason"}
        params["reason"] = translate(str(params.get("reason", "")), locale, **others)
        return translate(self.msgid, locale, **params)


class MissingField(ValidationFailed):
    code = "missing_field"
    message = "The field {field} is required."


class FieldTooLong(ValidationFailed):
    code = "field_too_long"
    message = "The field {field} may have at most {max} characters."


class InvalidIndustry(ValidationFailed):
    code = "invalid_industry"
    message = "The industry must be a GB/T 4754 section letter from A to T."


class InvalidSize(ValidationFailed):
    code = "invalid_size"
    message = "The size must be one of micro, small, medium, large."


class InvalidStatus(ValidationFailed):
    code = "invalid_status"
    message = "The status must be one of active, revoked, deregistered, moved_out."


class InvalidDate(ValidationFailed):
    code = "invalid_date"
    message = "The date must be written YYYY-MM-DD and may not be in the future."


class DuplicateInFile(ValidationFailed):
    code = "duplicate_in_file"
    message = "The same {field} is already on line {line} of this file."


class ImportRefused(ValidationFailed):
    """A CSV import with bad rows and no ``skip_bad_rows``: nothing was imported. ``errors`` lists
    every bad row as ``{"line", "column", "problem", "message"}``."""

    code = "import_refused"
    message = "Nothing was imported: {count} rows have problems."


class InvalidCsv(_WithReason):
    """The file itself cannot be read as the expected CSV (encoding, header)."""

    code = "invalid_csv"
    message = "The file is not a CSV file with the expected header: {reason}"


class UploadTooLarge(AppError):
    code = "upload_too_large"
    status = 413
    message = "The file is larger than {limit} MB."


class IdentityMismatch(ValidationFailed):
    code = "identity_mismatch"
    message = "The name does not match the registry record of that number."
