"""Tables of the certificates domain: issued electronic certificates (电子证照).

The holder's name is personal data for a person, so it is a field-encryption token bound to the
row (AAD ``certificates.holder_name:<id>``). The signed envelope is kept byte for byte as issued:
the wallet hands out exactly these bytes, and verification compares against them.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from yiwang.core.db import Base, IdMixin


class Certificate(IdMixin, Base):
    """电子证照 — a signed licence or certificate issued to a person or a legal entity."""

    __tablename__ = "certificates"

    type_code: Mapped[str] = mapped_column(String(40), index=True)
    type_name: Mapped[str] = mapped_column(String(100))
    holder_kind: Mapped[str] = mapped_column(String(10))
    """``person`` or ``entity``."""
    holder_id: Mapped[str] = mapped_column(String(26))
    """The registry id of the person or legal entity."""
    holder_name_enc: Mapped[str] = mapped_column(Text)
    issuer_department_id: Mapped[str] = mapped_column(String(26))
    issuer_area_code: Mapped[str] = mapped_column(String(15))
    """The issuing department's home area, copied at issue: where read and revoke permissions hold."""
    application_id: Mapped[str | None] = mapped_column(String(26))
    issued_at: Mapped[datetime]
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="valid")
    """``valid`` or ``revoked`` (expiry follows from ``valid_until``)."""
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    envelope: Mapped[str] = mapped_column(Text)
    """The signed envelope (JSON text) exactly as issued."""

    __table_args__ = (
        Index("ix_certificates_holder", "holder_kind", "holder_id"),
    )
