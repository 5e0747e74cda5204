"""Pydantic schemas of the files domain."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class StoredFileRead(BaseModel):
    """A stored file's record (上传文件); the bytes are read with ``files_service.open_file``."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: str
    owner_user_id: str
    purpose: str
    media_type: str
    """Detected from the content (never the name or the client's declared type)."""
    size: int
    sha256: str
    display_name: str
    created_at: datetime
