"""All SQL of the registry domain."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, insert, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from yiwang.registry.models import LegalEntity, Person

CHUNK = 1000
"""Rows per executemany batch and keys per ``IN (...)`` look-up."""


def prefix_range(column: InstrumentedAttribute[str], prefix: str) -> ColumnElement[bool]:
    """``column`` starts with ``prefix``, as a range that uses the column's b-tree index on every
    backend and collation (``LIKE 'x%'`` does not on SQLite, nor on PostgreSQL's non-C collations)."""
    if not prefix:
        return true()
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return and_(column >= prefix, column < upper)


def _scoped(column: InstrumentedAttribute[str], prefixes: Sequence[str]) -> ColumnElement[bool]:
    if not prefixes:
        return false()
    return or_(*(prefix_range(column, p) for p in prefixes))


def _after(model: Any, cursor: tuple[str, str] | None) -> ColumnElement[bool]:
    if cursor is None:
        return true()
    area, row_id = cursor
    return or_(model.area_code > area, and_(model.area_code == area, model.id > row_id))


# -- persons ---------------------------------------------------------------------------------
def get_person(session: Session, person_id: str) -> Person | None:
    return session.get(Person, person_id)


def person_by_id_number_index(session: Session, bidx: str) -> Person | None:
    return session.scalars(select(Person).where(Person.id_number_bidx == bidx)).first()


def existing_person_indexes(session: Session, bidxs: Iterable[str]) -> set[str]:
    """Which of these ID-number blind indexes are already registered."""
    keys = list(bidxs)
    found: set[str] = set()
    for i in range(0, len(keys), CHUNK):
        part = keys[i:i + CHUNK]
        found.update(session.scalars(select(Person.id_number_bidx).where(Person.id_number_bidx.in_(part))))
    return found


def list_persons(session: Session, prefixes: Sequence[str], cursor: tuple[str, str] | None,
                 limit: int) -> list[Person]:
    stmt = (select(Person).where(_scoped(Person.area_code, prefixes), _after(Person, cursor))
            .order_by(Person.area_code, Person.id).limit(limit))
    return list(session.scalars(stmt))


def insert_persons(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Core executemany in chunks: no ORM objects, one round trip per chunk."""
    for i in range(0, len(rows), CHUNK):
        session.execute(insert(Person.__table__), list(rows[i:i + CHUNK]))


def count_persons(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Person)) or 0


def persons_not_under(session: Session, prefix: str, after_id: str, limit: int) -> list[Person]:
    """Persons after ``after_id`` with a token that does not start with ``prefix``
    (``v1.<alg>.<active kid>.``), in id order."""
    pattern = prefix + "%"
    stale = or_(
        ~Person.name_enc.like(pattern),
        ~Person.id_number_enc.like(pattern),
        and_(Person.phone_enc.is_not(None), ~Person.phone_enc.like(pattern)),
        and_(Person.address_enc.is_not(None), ~Person.address_enc.like(pattern)),
    )
    # Locked until commit, so that a concurrent edit is not overwritten with the re-encrypted old value.
    stmt = select(Person).where(stale, Person.id > after_id).order_by(Person.id).limit(limit).with_for_update()
    return list(session.scalars(stmt))


# -- legal entities --------------------------------------------------------------------------
def get_entity(session: Session, entity_id: str) -> LegalEntity | None:
    return session.get(LegalEntity, entity_id)


def entity_by_uscc(session: Session, uscc: str) -> LegalEntity | None:
    return session.scalars(select(LegalEntity).where(LegalEntity.uscc == uscc)).first()


def existing_usccs(session: Session, usccs: Iterable[str]) -> set[str]:
    keys = list(usccs)
    found: set[str] = set()
    for i in range(0, len(keys), CHUNK):
        part = keys[i:i + CHUNK]
        found.update(session.scalars(select(LegalEntity.uscc).where(LegalEntity.uscc.in_(part))))
    return found


def list_entities(session: Session, prefixes: Sequence[str], cursor: tuple[str, str] | None,
                  limit: int) -> list[LegalEntity]:
    stmt = (select(LegalEntity).where(_scoped(LegalEntity.area_code, prefixes), _after(LegalEntity, cursor))
            .order_by(LegalEntity.area_code, LegalEntity.id).limit(limit))
    return list(session.scalars(stmt))


def insert_entities(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    for i in range(0, len(rows), CHUNK):
        session.execute(insert(LegalEntity.__table__), list(rows[i:i + CHUNK]))


def count_entities(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(LegalEntity)) or 0


def entities_not_under(session: Session, prefix: str, after_id: str, limit: int) -> list[LegalEntity]:
    stale = ~LegalEntity.legal_representative_enc.like(prefix + "%")
    stmt = (select(LegalEntity).where(stale, LegalEntity.id > after_id).order_by(LegalEntity.id).limit(limit)
            .with_for_update())
    return list(session.scalars(stmt))
