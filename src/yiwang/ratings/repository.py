"""All SQL of the ratings domain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, case, false, func, or_, select, true
from sqlalchemy.orm import Session

from yiwang.core.actor import Scope
from yiwang.ratings.models import Rating, Rectification

GROUP_COLUMNS = {"service": Rating.service_code, "department": Rating.department_id, "channel": Rating.channel}


def add(session: Session, row: Rating | Rectification) -> None:
    session.add(row)


def rating_for_subject(session: Session, subject_type: str, subject_id: str) -> Rating | None:
    return session.scalar(select(Rating).where(Rating.subject_type == subject_type, Rating.subject_id == subject_id))


def rectification(session: Session, rectification_id: str) -> tuple[Rectification, Rating] | None:
    row = session.execute(select(Rectification, Rating).join(Rating, Rating.id == Rectification.rating_id)
                          .where(Rectification.id == rectification_id)).first()
    return (row[0], row[1]) if row else None


def _in_scopes(scopes: Sequence[Scope]) -> Any:
    """Ratings inside any scope: the area subtree and, when the scope names one, the department."""
    if not scopes:
        return false()
    return or_(*(and_(Rating.area_code.like(s.area_code + "%"),
                      Rating.department_id == s.department_id if s.department_id else true())
                 for s in scopes))


def rectifications(session: Session, scopes: Sequence[Scope], *, status: str | None,
                   department_id: str | None) -> list[tuple[Rectification, Rating]]:
    """Rectifications inside ``scopes``, by due date (earliest first)."""
    q = (select(Rectification, Rating).join(Rating, Rating.id == Rectification.rating_id)
         .where(_in_scopes(scopes)))
    if status is not None:
        q = q.where(Rectification.status == status)
    if department_id is not None:
        q = q.where(Rectification.department_id == department_id)
    return [(r[0], r[1]) for r in session.execute(q.order_by(Rectification.due_date, Rectification.id))]


def statistics(session: Session, by: str, scopes: Sequence[Scope], *, area_code: str | None,
               since: datetime | None, until: datetime | None) -> list[Row[Any]]:
    """One GROUP BY: per key, the count, the sum of scores and the count of each score 1–5."""
    key = GROUP_COLUMNS[by]
    per_score = [func.sum(case((Rating.score == k, 1), else_=0)).label(f"s{k}") for k in range(1, 6)]
    q = select(key.label("key"), func.count().label("n"), func.sum(Rating.score).label("total"), *per_score)
    q = q.where(_in_scopes(scopes))
    if area_code:
        q = q.where(Rating.area_code.like(area_code + "%"))
    if since is not None:
        q = q.where(Rating.created_at >= since)
    if until is not None:
        q = q.where(Rating.created_at < until)
    return list(session.execute(q.group_by(key).order_by(key)))
