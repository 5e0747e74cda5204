"""Working hours: office hours 09:00–12:00 and 13:30–17:30 (Asia/Shanghai) on working days."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from yiwang.workdays import errors
from yiwang.workdays import service as workdays_service

SH = ZoneInfo("Asia/Shanghai")


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


def due(session, start: str, hours: float) -> str:
    at = workdays_service.add_working_hours(session, local(start), hours).at
    assert at.tzinfo is not None
    return at.astimezone(SH).strftime("%Y-%m-%d %H:%M")


class TestAddWorkingHours:
    def test_within_the_morning(self, session):
        assert due(session, "2026-09-29 09:30", 2) == "2026-09-29 11:30"

    def test_the_lunch_break_stops_the_clock(self, session):
        assert due(session, "2026-09-29 11:00", 2) == "2026-09-29 14:30"

    def test_ends_exactly_at_close_of_office(self, session):
        assert due(session, "2026-09-29 13:30", 4) == "2026-09-29 17:30"

    def test_night_and_the_national_day_holiday_are_skipped(self, session):
        """Wednesday 2026-09-30 16:30 + 2 h: 1 h that day, 10/1–10/7 off, 1 h on Thursday 10/8."""
        assert due(session, "2026-09-30 16:30", 2) == "2026-10-08 10:00"

    def test_make_up_saturday_counts(self, session):
        """Friday 2026-10-09 17:00 + 1 h: Saturday 10/10 is a make-up workday."""
        assert due(session, "2026-10-09 17:00", 1) == "2026-10-10 09:30"

    def test_a_start_before_office_opens_counts_from_nine(self, session):
        assert due(session, "2026-09-29 06:00", 0.5) == "2026-09-29 09:30"

    def test_a_whole_working_day_is_seven_hours(self, session):
        assert due(session, "2026-09-28 09:00", 7) == "2026-09-28 17:30"
        assert due(session, "2026-09-28 09:00", 7.5) == "2026-09-29 09:30"

    def test_zero_hours_is_the_start(self, session):
        start = local("2026-09-29 20:00")
        assert workdays_service.add_working_hours(session, start, 0).at == start.astimezone(UTC)

    def test_refuses_negative_and_absurd_limits(self, session):
        for bad in (-1, workdays_service.MAX_HOURS + 1, float("nan")):
            with pytest.raises(errors.WorkingHoursInvalid):
                workdays_service.add_working_hours(session, local("2026-09-29 09:00"), bad)

    def test_refuses_a_naive_start(self, session):
        with pytest.raises(ValueError):
            workdays_service.add_working_hours(session, datetime(2026, 9, 29, 9), 1)


class TestEndOfWorkingDay:
    def test_close_of_the_third_working_day_across_the_holiday(self, session):
        at = workdays_service.end_of_working_day(session, local("2026-09-30 10:00"), 3).at
        assert at.astimezone(SH).strftime("%Y-%m-%d %H:%M") == "2026-10-10 17:30"

    def test_zero_days_is_the_close_of_the_same_day(self, session):
        at = workdays_service.end_of_working_day(session, local("2026-09-29 10:00"), 0).at
        assert at.astimezone(SH).strftime("%Y-%m-%d %H:%M") == "2026-09-29 17:30"
