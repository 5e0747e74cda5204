"""Errors of the files domain, each with a stable code."""

from __future__ import annotations

from typing import Any

from yiwang.core.errors import AppError, NotFoundError, ValidationFailed
from yiwang.core.i18n import translate


class FileTypeRefused(AppError):
    """The content is not of an accepted type, whatever its name or declared type says.

    ``kind`` is a msgid of its own (e.g. "a ZIP archive"), translated when the message is rendered."""

    code = "file_type_refused"
    status = 415
    message = "This file is not accepted here: it is {kind}. Upload one of these types: {accepted}."

    def __init__(self, *, kind: str, accepted: str, detected: str | None = None, **kind_params: Any) -> None:
        self.kind_msgid = kind
        self.kind_params = kind_params
        self.detected = detected
        super().__init__(kind=kind.format(**kind_params) if kind_params else kind, accepted=accepted)

    def render(self, locale: str | None = None) -> str:
        kind = translate(self.kind_msgid, locale, **self.kind_params)
        return translate(self.msgid, locale, kind=kind, accepted=self.params["accepted"])


class FileTooLarge(AppError):
    code = "file_too_large"
    status = 413
    message = "The file is larger than {limit} MB; upload a smaller file (a scan at a lower resolution, for example)."


class FileEmpty(ValidationFailed):
    code = "file_empty"
    message = "The file is empty; choose the file again and upload it."


class InvalidPurpose(ValidationFailed):
    code = "invalid_purpose"
    message = "Files cannot be uploaded for {purpose}."


class FileNotFound(NotFoundError):
    code = "file_not_found"
    message = "There is no such file."


class FileUnavailable(AppError):
    """The stored bytes are missing or no longer match their recorded checksum."""

    code = "file_unavailable"
    status = 500
    message = "The file cannot be read at the moment; please tell the service desk."
