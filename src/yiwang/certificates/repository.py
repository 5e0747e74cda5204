"""All SQL of the certificates domain."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from yiwang.certificates.models import Certificate


def get(session: Session, certificate_id: str) -> Certificate | None:
    return session.get(Certificate, certificate_id)


def add(session: Session, row: Certificate) -> None:
    session.add(row)
    session.flush()


def by_holder(session: Session, holder_kind: str, holder_id: str, type_code: str | None = None) -> list[Certificate]:
    query = select(Certificate).where(Certificate.holder_kind == holder_kind, Certificate.holder_id == holder_id)
    if type_code is not None:
        query = query.where(Certificate.type_code == type_code)
    return list(session.scalars(query.order_by(Certificate.issued_at.desc(), Certificate.id.desc())))
