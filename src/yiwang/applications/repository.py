"""Queries of the applications domain. Every list is bounded and served by an index, so its cost
does not grow with the number of applications ever filed."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, inspect, or_, select
from sqlalchemy.orm import Session

from yiwang.applications.models import Application, Branch, Event, Material

OPEN_BRANCH = ("in_review", "correction")


def insert_new(session: Session, rows: list[Application | Branch | Material | Event]) -> None:
    """Insert rows built in memory with plain INSERT statements, without the session tracking them
    (the filing hot path: the unit of work's bookkeeping costs more than the statements). The rows
    stay transient: read them, do not change them. Unset columns get their defaults."""
    conn = session.connection()
    for row in rows:
        stmt, columns = _insert_of(type(row))
        state = row.__dict__
        conn.execute(stmt, {name: state[key] for key, name in columns if state.get(key) is not None})


_INSERTS: dict[type, tuple[Any, tuple[tuple[str, str], ...]]] = {}


def _insert_of(model: type) -> tuple[Any, tuple[tuple[str, str], ...]]:
    found = _INSERTS.get(model)
    if found is None:
        mapper = inspect(model)
        found = _INSERTS[model] = (mapper.local_table.insert(),
                                   tuple((p.key, p.columns[0].name) for p in mapper.column_attrs))
    return found


def get(session: Session, application_id: str, *, for_update: bool = False) -> Application | None:
    stmt = select(Application).where(Application.id == application_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def by_idempotency_key(session: Session, user_id: str, key: str) -> Application | None:
    return session.scalars(
        select(Application).where(Application.filed_by_user_id == user_id, Application.idempotency_key == key)
    ).first()


def branches(session: Session, application_id: str) -> list[Branch]:
    return list(session.scalars(
        select(Branch).where(Branch.application_id == application_id).order_by(Branch.position)
    ))


def branch(session: Session, branch_id: str) -> Branch | None:
    return session.get(Branch, branch_id)


def materials(session: Session, application_id: str) -> list[Material]:
    return list(session.scalars(
        select(Material).where(Material.application_id == application_id).order_by(Material.code)
    ))


def events(session: Session, application_id: str) -> list[Event]:
    return list(session.scalars(
        select(Event).where(Event.application_id == application_id).order_by(Event.at, Event.id)
    ))


def _holder_filter(user_id: str | None, person_id: str | None, entity_id: str | None):
    parts = []
    if user_id:
        parts.append(Application.owner_user_id == user_id)
    if person_id:
        parts.append(Application.applicant_person_id == person_id)
    if entity_id:
        parts.append(Application.applicant_entity_id == entity_id)
    return or_(*parts)


def mine(session: Session, *, user_id: str | None, person_id: str | None, entity_id: str | None,
         before: tuple[datetime, str] | None, limit: int) -> list[Application]:
    """The applicant's applications, newest first (filed online by the account, or in a hall for
    the person or entity the account stands for)."""
    stmt = select(Application).where(_holder_filter(user_id, person_id, entity_id))
    if before is not None:
        at, rid = before
        stmt = stmt.where(or_(Application.created_at < at, and_(Application.created_at == at, Application.id < rid)))
    return list(session.scalars(stmt.order_by(Application.created_at.desc(), Application.id.desc()).limit(limit)))


def intake_queue(session: Session, prefixes: list[str], limit: int) -> list[Application]:
    """Submitted applications waiting for intake in the given area subtrees, oldest first."""
    where = or_(*[Application.area_code.startswith(p, autoescape=True) for p in prefixes])
    return list(session.scalars(
        select(Application).where(Application.status == "submitted", where)
        .order_by(Application.submitted_at, Application.id).limit(limit)
    ))


def inbox(session: Session, department_ids: list[str], statuses: tuple[str, ...], limit: int,
          after: tuple[date, str] | None = None) -> list[tuple[Branch, str]]:
    """Open branches of the departments, earliest due first, with their application's number.

    One index range per (department, status) — ``ix_application_branches_inbox`` — so the page
    costs the same with ten thousand or ten million applications on file."""
    stmt = (
        select(Branch, Application.number)
        .join(Application, Application.id == Branch.application_id)
        .where(Branch.department_id.in_(department_ids), Branch.status.in_(statuses))
    )
    if after is not None:
        due, bid = after
        stmt = stmt.where(or_(Branch.due_date > due, and_(Branch.due_date == due, Branch.id > bid)))
    stmt = stmt.order_by(Branch.due_date, Branch.id).limit(limit)
    return [(b, n) for b, n in session.execute(stmt)]


def overdue(session: Session, today: date, limit: int) -> list[Branch]:
    """Branches in review past their due date, not yet escalated, oldest due first."""
    return list(session.scalars(
        select(Branch).where(Branch.status == "in_review", Branch.due_date < today, Branch.escalated_on.is_(None))
        .order_by(Branch.due_date, Branch.id).limit(limit)
    ))
