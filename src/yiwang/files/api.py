"""JSON API of stored files: upload one, read its record and download it, for its owner.

Staff read the files of what they handle through their own domain's routes (the applications
domain serves an application's materials), which call ``files_service.open_file`` with their rule."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Response, UploadFile

from yiwang.core.web import DbSession, ReadDbSession, SignedInActor
from yiwang.files import service as files_service
from yiwang.files.schemas import StoredFileRead

router = APIRouter(prefix="/api/v1/files", tags=["files"])


@router.post("", response_model=StoredFileRead, status_code=201)
def upload(session: DbSession, actor: SignedInActor, file: Annotated[UploadFile, File()],
           purpose: Annotated[str, Form()] = "material") -> StoredFileRead:
    """Upload a file (field ``file``; ``purpose`` material or photo), checked by its content and size."""
    return files_service.store_upload(session, actor, data=file.file, filename=file.filename or "",
                                      purpose=purpose)


@router.get("/{file_id}", response_model=StoredFileRead)
def describe(file_id: str, session: ReadDbSession, actor: SignedInActor) -> StoredFileRead:
    """A stored file's record (detected type, size, checksum, display name), for its owner."""
    return files_service.describe(session, actor, file_id)


@router.get("/{file_id}/content")
def content(file_id: str, session: ReadDbSession, actor: SignedInActor) -> Response:
    """A stored file's bytes, for its owner: a download with the detected type, never rendered."""
    stored, data = files_service.open_file(session, actor, file_id)
    return Response(content=data, media_type=stored.media_type, headers=files_service.download_headers(stored))
