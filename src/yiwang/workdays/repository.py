"""All SQL of the working-day calendar."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yiwang.core.db import utcnow
from yiwang.core.ids import new_id
from yiwang.workdays.models import CalendarDay, CalendarVersion, CalendarYear


def all_years(session: Session) -> Sequence[CalendarYear]:
    return session.scalars(select(CalendarYear).order_by(CalendarYear.year)).all()


def all_days(session: Session) -> Sequence[CalendarDay]:
    return session.scalars(select(CalendarDay).order_by(CalendarDay.day)).all()


def replace_year(
    session: Session, year: int, days: list[tuple[date, bool, str | None]], *, complete: bool,
    published_by: str, published_at: datetime,
) -> None:
    """Drop the year's days and publication row and write the new ones."""
    session.execute(delete(CalendarDay).where(CalendarDay.year == year))
    session.execute(delete(CalendarYear).where(CalendarYear.year == year))
    session.flush()
    if days:
        session.execute(insert(CalendarDay), [
            {"day": d, "year": year, "working": w, "name": n} for d, w, n in days])
    session.add(CalendarYear(year=year, complete=complete, published_by=published_by, published_at=published_at))
    session.flush()


def version_token(session: Session) -> str | None:
    return session.scalar(select(CalendarVersion.token).where(CalendarVersion.id == 1))


def bump_version(session: Session) -> str:
    """Give the calendar a new version token (one row, updated in the caller's transaction)."""
    token = new_id()
    values = {"version": CalendarVersion.version + 1, "token": token, "changed_at": utcnow()}
    result = session.execute(update(CalendarVersion).where(CalendarVersion.id == 1).values(**values))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        # First publication ever: create the row; if another transaction just did, update theirs.
        try:
            with session.begin_nested():
                session.add(CalendarVersion(id=1, version=1, token=token, changed_at=utcnow()))
        except IntegrityError:
            session.execute(update(CalendarVersion).where(CalendarVersion.id == 1).values(**values))
    return token
