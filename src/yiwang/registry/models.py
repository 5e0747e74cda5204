"""Tables of the registry domain: persons (人口) and legal entities (法人).

Personal fields are stored as field-encryption tokens (``core.fieldcrypt``) bound to their row and
column (AAD ``"persons.name:<id>"`` …): a database dump alone shows no name, ID number, phone or
address. Exact look-ups go through blind indexes (keyed HMACs). What statistics need — home area,
gender, birth year — is derived at write time and kept in clear.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from yiwang.core.db import Base, IdMixin, utcnow


class Person(IdMixin, Base):
    """人口 — a natural person in the population base registry."""

    __tablename__ = "persons"

    name_enc: Mapped[str] = mapped_column(Text)
    id_number_enc: Mapped[str] = mapped_column(Text)
    id_number_bidx: Mapped[str] = mapped_column(String(32), unique=True)
    phone_enc: Mapped[str | None] = mapped_column(Text)
    phone_bidx: Mapped[str | None] = mapped_column(String(32), index=True)
    address_enc: Mapped[str | None] = mapped_column(Text)
    area_code: Mapped[str] = mapped_column(String(15), ForeignKey("areas.code"))
    """Home area (户籍/居住地), any level of the hierarchy."""
    gender: Mapped[str] = mapped_column(String(1))
    """``M`` or ``F``, from the ID number's sequence digit."""
    birth_year: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        # Keyset pages within an area subtree: WHERE area_code in [prefix range] ORDER BY area_code, id.
        Index("ix_persons_area_code_id", "area_code", "id"),
    )


class LegalEntity(IdMixin, Base):
    """法人 — a legal entity (enterprise, institution, social organisation) in the base registry.

    The unified social credit code, name and registered address are public business-registration
    facts and stay in clear; the legal representative is a natural person and is encrypted."""

    __tablename__ = "legal_entities"

    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    legal_representative_enc: Mapped[str] = mapped_column(Text)
    registered_address: Mapped[str | None] = mapped_column(Text)
    area_code: Mapped[str] = mapped_column(String(15), ForeignKey("areas.code"))
    industry: Mapped[str] = mapped_column(String(1))
    """GB/T 4754 section letter (A 农林牧渔 … T 国际组织)."""
    size: Mapped[str] = mapped_column(String(8))
    """micro / small / medium / large (大中小微)."""
    registration_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="active")
    """active (存续) / revoked (吊销) / deregistered (注销) / moved_out (迁出)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (Index("ix_legal_entities_area_code_id", "area_code", "id"),)
