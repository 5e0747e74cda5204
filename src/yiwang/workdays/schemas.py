"""Values of the working-day calendar: the hot-path answers (plain frozen dataclasses) and the
Pydantic models of the API."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

Source = Literal["admin", "package", "estimate"]
DeadlineState = Literal["ok", "warning", "overdue"]


@dataclass(frozen=True, slots=True)
class DayInfo:
    """What the calendar says of one day."""

    working: bool
    estimated: bool
    name: str | None
    """The holiday's Chinese name (国庆节 …), also on its make-up workdays; None for ordinary days."""
    source: Source


@dataclass(frozen=True, slots=True)
class DueDate:
    date: dt.date
    estimated: bool
    """True if any day counted came from the estimate (a year neither an administrator nor the
    package covers)."""


@dataclass(frozen=True, slots=True)
class Count:
    days: int
    estimated: bool


class CalendarDayIn(BaseModel):
    date: dt.date
    working: bool
    name: str | None = Field(default=None, max_length=40)


class CalendarPublish(BaseModel):
    """A year's exceptional days: holidays (working false) and make-up workdays (working true)."""

    days: list[CalendarDayIn]
    complete: bool = True
    """False: the days override single days only and the year stays estimated where the package
    does not know it."""


class CalendarDayRead(BaseModel):
    date: dt.date
    weekday: int
    """ISO weekday, 1 = Monday."""
    working: bool
    name: str | None
    kind: Literal["holiday", "makeup_workday", "named_day"]
    source: Source
    estimated: bool


class YearRead(BaseModel):
    year: int
    source: Source
    """Where the year's calendar comes from as a whole (an incomplete admin year reports the
    package or the estimate beneath it)."""
    estimated: bool
    complete: bool
    published_by: str | None = None
    published_at: dt.datetime | None = None
    holidays: int
    """Working days off (holidays falling on Monday to Friday)."""
    makeup_workdays: int
    days: list[CalendarDayRead]


class DueRead(BaseModel):
    start: dt.date
    days: int
    date: dt.date
    estimated: bool
