"""Tables of the files domain: stored files (上传文件)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from yiwang.core.db import Base, IdMixin, utcnow


class StoredFile(IdMixin, Base):
    """上传文件: one upload (申请材料, a photo, a data file). The bytes live on disk under the id,
    never under the uploader's name; the media type is the one detected from the content."""

    __tablename__ = "stored_files"

    owner_user_id: Mapped[str] = mapped_column(String(26))
    purpose: Mapped[str] = mapped_column(String(40))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200))
    """The uploader's name for it, sanitised: shown and offered on download, never used as a path."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_stored_files_owner_created", "owner_user_id", "created_at"),)
