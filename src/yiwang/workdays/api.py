"""JSON API of the working-day calendar. Reading and counting are public; publishing a year needs
``calendar.manage``."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from yiwang.core.web import CurrentActor, DbSession, ReadDbSession
from yiwang.workdays import service as workdays_service
from yiwang.workdays.schemas import CalendarPublish, DueRead, YearRead

router = APIRouter(prefix="/api/v1/workdays", tags=["workdays"])


@router.get("/calendar/{year}", response_model=YearRead)
def get_calendar(year: str, session: ReadDbSession) -> YearRead:
    """A year's holidays and make-up workdays, each with its source."""
    return workdays_service.get_year(session, year)


@router.put("/calendar/{year}", response_model=YearRead)
def publish_calendar(year: str, body: CalendarPublish, session: DbSession, actor: CurrentActor) -> YearRead:
    """Replace a year's calendar (``calendar.manage``); 422 for a day outside the year."""
    return workdays_service.publish_year(session, actor, year, body.days, complete=body.complete)


@router.get("/due", response_model=DueRead)
def due(
    session: ReadDbSession,
    start: Annotated[date, Query()],
    days: Annotated[int, Query(ge=0, le=workdays_service.MAX_DAYS)],
) -> DueRead:
    """The date ``days`` working days after ``start``, and whether it rests on the estimate."""
    got = workdays_service.add_working_days(session, start, days)
    return DueRead(start=start, days=days, date=got.date, estimated=got.estimated)
