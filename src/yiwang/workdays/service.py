"""Use cases of the working-day calendar: is a day worked, promised limits and deadlines.

Where a year's calendar comes from, in order:

1. an administrator's publication of the year (tables ``calendar_years`` / ``calendar_days``),
   when it is marked complete;
2. the ``chinesecalendar`` package (the State Council's notices, make-up workdays included), for
   the years it covers;
3. an estimate — Saturdays and Sundays off plus the fixed-date holidays (元旦 1/1, 劳动节 5/1–5/3,
   国庆节 10/1–10/7) — whose answers are marked ``estimated``.

An incomplete publication overrides single days on top of 2 or 3; a year that rests on the
estimate stays estimated. The calendar is held in memory per process and reloaded when the
``calendar_versions`` token changes (checked at most once a second), so counting days does no
query per day. Counting starts the day after the start date (the day of submission is not counted).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import logging
import math
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from yiwang.audit import service as audit_service
from yiwang.core.actor import Actor
from yiwang.core.db import utcnow
from yiwang.workdays import errors, repository
from yiwang.workdays.schemas import (
    CalendarDayRead,
    Count,
    DayInfo,
    DeadlineState,
    DueDate,
    Source,
    YearRead,
)

log = logging.getLogger("yiwang.workdays")

TIMEZONE = ZoneInfo("Asia/Shanghai")
MIN_YEAR, MAX_YEAR = 2000, 2100
MAX_DAYS = 2000
"""The longest limit, in working days, the calendar counts (about eight years)."""
WARNING_DAYS = 2
"""A deadline this many working days away, or fewer, is shown as a warning."""
CHECK_INTERVAL = 1.0
clock: Callable[[], float] = time.monotonic
"""Monotonic seconds; tests replace it to move time without sleeping."""

HOLIDAY_NAMES = {
    "New Year's Day": "元旦", "Spring Festival": "春节", "Tomb-sweeping Day": "清明节", "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节", "National Day": "国庆节", "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日",
}
ESTIMATED_HOLIDAYS: tuple[tuple[int, int, str], ...] = (
    (1, 1, "元旦"), (5, 1, "劳动节"), (5, 2, "劳动节"), (5, 3, "劳动节"),
    *((10, d, "国庆节") for d in range(1, 8)),
)

Entry = tuple[bool, str | None, Source]
"""(working, name, source) of a day that is not an ordinary unnamed day."""


def today() -> date:
    """The date the platform counts in (Asia/Shanghai)."""
    return datetime.now(TIMEZONE).date()


def _ordinary(d: date) -> bool:
    return d.weekday() < 5


# -- the year tables ---------------------------------------------------------------------------------

@functools.lru_cache(maxsize=256)
def _package_year(year: int) -> dict[date, tuple[bool, str | None]] | None:
    """The package's exceptional days of a year, or None when it does not know the year."""
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return None
    out: dict[date, tuple[bool, str | None]] = {}
    d, end = date(year, 1, 1), date(year + 1, 1, 1)
    while d < end:
        working = chinese_calendar.is_workday(d)
        _, name = chinese_calendar.get_holiday_detail(d)
        if working != _ordinary(d) or name is not None:
            out[d] = (working, HOLIDAY_NAMES.get(name, name) if name else None)
        d += timedelta(days=1)
    return out


def _estimated_year(year: int) -> dict[date, tuple[bool, str | None]]:
    return {date(year, m, d): (False, name) for m, d, name in ESTIMATED_HOLIDAYS}


@dataclass(frozen=True, slots=True)
class _Published:
    complete: bool
    published_by: str
    published_at: datetime
    days: dict[date, tuple[bool, str | None]]


@dataclass(slots=True)
class _Year:
    source: Source
    estimated: bool
    days: dict[date, Entry]
    published: _Published | None


@dataclass(slots=True)
class Calendar:
    """One process's view of the calendar at one version token."""

    token: str | None
    published: dict[int, _Published]
    years: dict[int, _Year] = field(default_factory=dict)

    def year(self, year: int) -> _Year:
        found = self.years.get(year)
        if found is None:
            found = self.years[year] = self._build(year)
        return found

    def _build(self, year: int) -> _Year:
        pub = self.published.get(year)
        if pub is not None and pub.complete:
            return _Year("admin", False, {d: (w, n, "admin") for d, (w, n) in pub.days.items()}, pub)
        base = _package_year(year)
        source: Source = "package"
        if base is None:
            base, source = _estimated_year(year), "estimate"
        days: dict[date, Entry] = {d: (w, n, source) for d, (w, n) in base.items()}
        if pub is not None:
            days.update({d: (w, n, "admin") for d, (w, n) in pub.days.items()})
        return _Year(source, source == "estimate", days, pub)

    def day(self, d: date) -> DayInfo:
        y = self.year(d.year)
        entry = y.days.get(d)
        if entry is None:
            return DayInfo(_ordinary(d), y.estimated, None, y.source)
        return DayInfo(entry[0], y.estimated, entry[1], entry[2])

    def working(self, d: date) -> tuple[bool, bool]:
        """(working, estimated) of one day: the counting loops' fast path."""
        y = self.years.get(d.year) or self.year(d.year)
        entry = y.days.get(d)
        return (_ordinary(d) if entry is None else entry[0]), y.estimated


class _State:
    __slots__ = ("calendar", "checked_at", "lock")

    def __init__(self) -> None:
        self.calendar: Calendar | None = None
        self.checked_at = -math.inf
        self.lock = threading.Lock()


_states: weakref.WeakKeyDictionary[Engine, _State] = weakref.WeakKeyDictionary()
_states_lock = threading.Lock()


def _state(session: Session) -> _State:
    cached = session.info.get("_workdays_state")
    if cached is not None:
        return cached
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    state = _states.get(engine)
    if state is None:
        with _states_lock:
            state = _states.setdefault(engine, _State())
    session.info["_workdays_state"] = state
    return state


def _load(session: Session, token: str | None) -> Calendar:
    published = {y.year: _Published(y.complete, y.published_by, y.published_at, {}) for y in repository.all_years(session)}
    for row in repository.all_days(session):
        pub = published.get(row.year)
        if pub is not None:
            pub.days[row.day] = (row.working, row.name)
    log.info("calendar loaded", extra={"years": sorted(published)})
    return Calendar(token, published)


def current(session: Session) -> Calendar:
    """This process's calendar for the session's database, reloaded if a year was published
    (checked at most once a second)."""
    state = _state(session)
    cal = state.calendar
    if cal is not None and clock() - state.checked_at < CHECK_INTERVAL:
        return cal
    with state.lock:
        cal = state.calendar
        if cal is not None and clock() - state.checked_at < CHECK_INTERVAL:
            return cal
        token = repository.version_token(session)
        if cal is None or cal.token != token:
            cal = state.calendar = _load(session, token)
        state.checked_at = clock()
        return cal


def invalidate(session: Session) -> None:
    """Make this process's next look-up re-check the version (called on every publication)."""
    _state(session).checked_at = -math.inf


# -- counting ----------------------------------------------------------------------------------------

def is_working_day(session: Session, d: date) -> DayInfo:
    """Whether ``d`` is a working day, its holiday name, and where the answer comes from."""
    return current(session).day(d)


def _check_days(days: int) -> None:
    if not isinstance(days, int) or days < 0 or days > MAX_DAYS:
        raise errors.WorkingDaysInvalid(days=days, limit=MAX_DAYS)


def _walk(cal: Calendar, start: date, days: int, skip: Callable[[date], bool] | None = None) -> DueDate:
    estimated = False
    d, left = start, days
    while left > 0:
        d += timedelta(days=1)
        working, est = cal.working(d)
        estimated = estimated or est
        if working and not (skip is not None and skip(d)):
            left -= 1
    return DueDate(d, estimated)


def add_working_days(session: Session, start: date, days: int) -> DueDate:
    """The date ``days`` working days after ``start`` (counting from the next day; 0 → ``start``);
    refuses a negative or absurd ``days``."""
    _check_days(days)
    return _walk(current(session), start, days)


def working_days_between(session: Session, start: date, end: date) -> Count:
    """The working days after ``start`` up to and including ``end`` (0 when ``end`` ≤ ``start``)."""
    cal = current(session)
    n, estimated, d = 0, False, start
    while d < end:
        d += timedelta(days=1)
        working, est = cal.working(d)
        estimated = estimated or est
        n += working
    return Count(n, estimated)


def due_date(
    session: Session, start: date, limit_days: int, pauses: Iterable[tuple[date, date | None]] = (),
    *, as_of: date | None = None,
) -> DueDate:
    """The promised date of ``limit_days`` working days from ``start``, the clock stopped during
    each pause (补正: from the request, exclusive, to the applicant's answer, inclusive; an open
    pause stops the clock up to ``as_of``, by default today); refuses a pause that ends before it starts."""
    _check_days(limit_days)
    now = as_of or today()
    spans: list[tuple[date, date]] = []
    for begin, end in pauses:
        stop = end if end is not None else now
        if end is not None and end < begin:
            raise errors.PauseInvalid(start=begin.isoformat(), end=end.isoformat())
        if stop > begin:
            spans.append((begin, stop))
    if not spans:
        return _walk(current(session), start, limit_days)
    return _walk(current(session), start, limit_days, lambda d: any(b < d <= e for b, e in spans))


def deadline_state(session: Session, due: date, today: date) -> DeadlineState:
    """``overdue`` after the due date, ``warning`` when 2 or fewer working days remain, else ``ok``."""
    if today > due:
        return "overdue"
    return "warning" if working_days_between(session, today, due).days <= WARNING_DAYS else "ok"


# -- working hours -----------------------------------------------------------------------------------

OFFICE_HOURS: tuple[tuple[dt_time, dt_time], ...] = ((dt_time(9, 0), dt_time(12, 0)), (dt_time(13, 30), dt_time(17, 30)))
"""Office hours of a working day, Asia/Shanghai: 09:00–12:00 and 13:30–17:30 (7 hours). Deadlines
in working hours (一网统管 events) count only these; the lunch break, nights, weekends and holidays
(make-up workdays count) stop the clock."""
MAX_HOURS = MAX_DAYS * 7
"""The longest limit, in working hours, the calendar counts."""


@dataclass(frozen=True, slots=True)
class DueTime:
    at: datetime
    """The deadline, timezone-aware (UTC)."""
    estimated: bool


def _check_hours(hours: float) -> None:
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not math.isfinite(hours) \
            or hours < 0 or hours > MAX_HOURS:
        raise errors.WorkingHoursInvalid(hours=hours, limit=MAX_HOURS)


def add_working_hours(session: Session, start: datetime, hours: float) -> DueTime:
    """The moment ``hours`` office hours after ``start`` (an aware datetime): counting runs only
    inside :data:`OFFICE_HOURS` of working days, so 2 hours from Friday 16:30 end on Monday 10:00
    (when Monday is worked). A deadline that falls exactly at the end of a window stays there
    (17:30, not the next morning). Refuses a naive ``start`` and a negative or absurd ``hours``."""
    _check_hours(hours)
    if start.tzinfo is None:
        raise ValueError("naive datetime given to add_working_hours")
    cal = current(session)
    left = timedelta(minutes=round(hours * 60))
    cursor = start.astimezone(TIMEZONE)
    estimated = False
    if left <= timedelta(0):
        return DueTime(start.astimezone(UTC), False)
    while True:
        working, est = cal.working(cursor.date())
        if working:
            estimated = estimated or est
            for begin, end in OFFICE_HOURS:
                w_end = datetime.combine(cursor.date(), end, TIMEZONE)
                w_begin = max(datetime.combine(cursor.date(), begin, TIMEZONE), cursor)
                if w_begin >= w_end:
                    continue
                if w_end - w_begin >= left:
                    return DueTime((w_begin + left).astimezone(UTC), estimated)
                left -= w_end - w_begin
        cursor = datetime.combine(cursor.date() + timedelta(days=1), dt_time(0, 0), TIMEZONE)


def end_of_working_day(session: Session, start: datetime, days: int) -> DueTime:
    """The close of office (17:30, Asia/Shanghai) of the ``days``-th working day after ``start``'s
    day (0: that same day's close, even when it is not worked)."""
    _check_days(days)
    due = add_working_days(session, start.astimezone(TIMEZONE).date(), days)
    close = OFFICE_HOURS[-1][1]
    return DueTime(datetime.combine(due.date, close, TIMEZONE).astimezone(UTC), due.estimated)


# -- the administrator's calendar -------------------------------------------------------------------

def _year_of(value: Any) -> int:
    try:
        year = int(str(value).strip())
    except ValueError:
        raise errors.CalendarYearInvalid(year=str(value)) from None
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise errors.CalendarYearInvalid(year=year)
    return year


_TRUE = {"true", "1", "yes", "y", "t", "work", "working", "上班", "班", "是"}
_FALSE = {"false", "0", "no", "n", "f", "off", "holiday", "休", "休息", "放假", "否"}


def _bool_of(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if value is not None else ""
    return True if text in _TRUE else False if text in _FALSE else None


def _clean_days(year: int, days: Iterable[Any]) -> list[tuple[date, bool, str | None]]:
    out: dict[date, tuple[date, bool, str | None]] = {}
    for row, raw in enumerate(days, start=1):
        item: Mapping[str, Any] = raw.model_dump() if hasattr(raw, "model_dump") else raw
        if not isinstance(item, Mapping):
            raise errors.CalendarDayInvalid(row=row, reason="each day needs a date, working and a name")
        value = item.get("date")
        if isinstance(value, datetime):
            value = value.date()
        if not isinstance(value, date):
            try:
                value = date.fromisoformat(str(value).strip())
            except ValueError:
                raise errors.CalendarDayInvalid(row=row, reason="the date must be YYYY-MM-DD") from None
        if value.year != year:
            raise errors.CalendarDayInvalid(row=row, reason="the date {date} is not in {year}",
                                            date=value.isoformat(), year=year)
        if value in out:
            raise errors.CalendarDayInvalid(row=row, reason="the date {date} is given twice", date=value.isoformat())
        working = _bool_of(item.get("working"))
        if working is None:
            raise errors.CalendarDayInvalid(row=row, reason="working must be true or false")
        name = item.get("name")
        name = str(name).strip() or None if name is not None else None
        if name is not None and len(name) > 40:
            raise errors.CalendarDayInvalid(row=row, reason="the name must have at most 40 characters")
        out[value] = (value, working, name)
    return sorted(out.values())


def _changed(session: Session) -> None:
    repository.bump_version(session)
    invalidate(session)
    if not session.info.get("workdays_invalidate_on_commit"):
        session.info["workdays_invalidate_on_commit"] = True
        event.listen(session, "after_commit", invalidate)
        event.listen(session, "after_rollback", invalidate)


def publish_year(
    session: Session, actor: Actor, year: int | str, days: Iterable[Any], *, complete: bool = True,
) -> YearRead:
    """Replace a year's calendar with ``days`` (holidays and make-up workdays; other days follow
    the ordinary week); refuses without ``calendar.manage``, a bad year, or a day outside the year,
    given twice, or without a clear working flag."""
    actor.require("calendar.manage", target=f"calendar:{year}")
    y = _year_of(year)
    rows = _clean_days(y, days)
    repository.replace_year(session, y, rows, complete=complete, published_by=actor.label, published_at=utcnow())
    _changed(session)
    read = get_year(session, y)
    audit_service.record(session, actor, "calendar.publish", target_type="calendar_year", target_id=str(y),
                         detail={"days": len(rows), "holidays": read.holidays,
                                 "makeup_workdays": read.makeup_workdays, "complete": complete})
    log.info("calendar year published", extra={"year": y, "days": len(rows), "complete": complete})
    return read


def get_year(session: Session, year: int | str) -> YearRead:
    """Every day of the year that differs from the ordinary week or carries a holiday's name,
    with where each comes from; refuses a year outside 2000–2100."""
    y = current(session).year(_year_of(year))
    days: list[CalendarDayRead] = []
    for d in sorted(y.days):
        working, name, source = y.days[d]
        if working != _ordinary(d):
            kind = "makeup_workday" if working else "holiday"
        elif name is not None:
            kind = "named_day"
        else:
            continue
        days.append(CalendarDayRead(date=d, weekday=d.isoweekday(), working=working, name=name, kind=kind,
                                    source=source, estimated=y.estimated))
    pub = y.published
    return YearRead(
        year=_year_of(year), source=y.source, estimated=y.estimated, complete=pub is not None and pub.complete,
        published_by=pub.published_by if pub else None, published_at=pub.published_at if pub else None,
        holidays=sum(1 for x in days if x.kind == "holiday"),
        makeup_workdays=sum(1 for x in days if x.kind == "makeup_workday"), days=days,
    )


def parse_calendar_file(data: bytes | str, fmt: str) -> list[dict[str, Any]]:
    """The days of a calendar file: JSON (a list, or ``{"days": [...]}``) or CSV with the header
    ``date,working,name``; refuses what cannot be read."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    if fmt == "json":
        try:
            parsed = json.loads(text)
        except ValueError:
            raise errors.CalendarFileInvalid(reason="not JSON") from None
        if isinstance(parsed, dict):
            parsed = parsed.get("days")
        if not isinstance(parsed, list):
            raise errors.CalendarFileInvalid(reason="expected a list of days")
        return parsed
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    if "date" not in header or "working" not in header:
        raise errors.CalendarFileInvalid(reason="the header must be date,working,name")
    return [{(k or "").strip(): v for k, v in row.items()} for row in reader]
