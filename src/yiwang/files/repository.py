"""All SQL of the files domain."""

from __future__ import annotations

from sqlalchemy.orm import Session

from yiwang.files.models import StoredFile


def add(session: Session, row: StoredFile) -> None:
    session.add(row)


def get(session: Session, file_id: str) -> StoredFile | None:
    return session.get(StoredFile, file_id)
