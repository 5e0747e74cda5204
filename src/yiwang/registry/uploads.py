"""Reading an uploaded file within the configured size limit (shared by the API and the pages)."""

from __future__ import annotations

from fastapi import Request, UploadFile

from yiwang.registry import errors


async def read_upload(request: Request, file: UploadFile) -> bytes:
    """The uploaded file's bytes, refusing more than ``settings.max_upload_bytes``."""
    limit = request.app.state.settings.max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise errors.UploadTooLarge(limit=limit // (1024 * 1024))
    return data
