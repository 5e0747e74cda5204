"""The working-day calendar: sources, counting, pauses, deadlines and the administrator's years."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import event

from yiwang.core.db import Database
from yiwang.core.errors import PermissionDenied
from yiwang.workdays import errors
from yiwang.workdays import service as workdays_service
from yiwang.workdays.schemas import Count, DayInfo, DueDate

from .conftest import DAYS_2027, audit_trail

D = date.fromisoformat


class TestIsWorkingDay:
    def test_national_day_is_a_holiday_from_the_package(self, session):
        assert workdays_service.is_working_day(session, D("2026-10-01")) == DayInfo(False, False, "国庆节", "package")

    def test_make_up_sunday_is_a_working_day(self, session):
        assert workdays_service.is_working_day(session, D("2026-09-20")) == DayInfo(True, False, "国庆节", "package")

    def test_ordinary_saturday_is_off(self, session):
        assert workdays_service.is_working_day(session, D("2026-09-19")) == DayInfo(False, False, None, "package")

    def test_a_year_the_package_does_not_know_is_estimated(self, session):
        assert workdays_service.is_working_day(session, D("2027-01-04")) == DayInfo(True, True, None, "estimate")
        assert workdays_service.is_working_day(session, D("2027-10-05")) == DayInfo(False, True, "国庆节", "estimate")
        assert workdays_service.is_working_day(session, D("2027-05-03")) == DayInfo(False, True, "劳动节", "estimate")
        assert workdays_service.is_working_day(session, D("2027-01-09")) == DayInfo(False, True, None, "estimate")


class TestAddWorkingDays:
    def test_acceptance_submitted_before_national_day(self, session):
        """2026-09-30 + 3: 10/1–10/7 off, 10/8 and 10/9 count, 10/10 is the make-up Saturday."""
        assert workdays_service.add_working_days(session, D("2026-09-30"), 3) == DueDate(D("2026-10-10"), False)

    def test_make_up_sunday_counts(self, session):
        """Friday 2026-09-18 + 1: Saturday 9/19 is off, Sunday 9/20 is worked."""
        assert workdays_service.add_working_days(session, D("2026-09-18"), 1) == DueDate(D("2026-09-20"), False)

    def test_counting_starts_the_next_day(self, session):
        assert workdays_service.add_working_days(session, D("2026-09-14"), 1) == DueDate(D("2026-09-15"), False)

    def test_zero_days_is_the_start(self, session):
        assert workdays_service.add_working_days(session, D("2026-10-03"), 0) == DueDate(D("2026-10-03"), False)

    def test_crossing_into_an_unknown_year_is_estimated(self, session):
        """12/31 counts; 2027-01-01 (元旦, estimated) and the weekend are off; 1/4 and 1/5 count."""
        assert workdays_service.add_working_days(session, D("2026-12-30"), 3) == DueDate(D("2027-01-05"), True)

    def test_refuses_a_negative_limit(self, session):
        with pytest.raises(errors.WorkingDaysInvalid):
            workdays_service.add_working_days(session, D("2026-09-30"), -1)


class TestWorkingDaysBetween:
    def test_counts_after_start_up_to_and_including_end(self, session):
        assert workdays_service.working_days_between(session, D("2026-09-30"), D("2026-10-10")) == Count(3, False)

    def test_end_not_after_start_is_zero(self, session):
        assert workdays_service.working_days_between(session, D("2026-10-10"), D("2026-10-10")) == Count(0, False)
        assert workdays_service.working_days_between(session, D("2026-10-10"), D("2026-09-30")) == Count(0, False)

    def test_estimated_when_a_day_is(self, session):
        assert workdays_service.working_days_between(session, D("2026-12-30"), D("2027-01-05")) == Count(3, True)


class TestDueDate:
    START = D("2026-09-01")  # a Tuesday; 5 working days → Tuesday 2026-09-08

    def test_without_pauses_is_add_working_days(self, session):
        assert workdays_service.due_date(session, self.START, 5, []) == DueDate(D("2026-09-08"), False)

    def test_closed_pause_extends_by_its_working_days(self, session):
        """Correction asked Thursday 9/3, answered Monday 9/7: Friday 9/4 and Monday 9/7 are paused."""
        got = workdays_service.due_date(session, self.START, 5, [(D("2026-09-03"), D("2026-09-07"))])
        paused = workdays_service.working_days_between(session, D("2026-09-03"), D("2026-09-07")).days

        assert paused == 2
        assert got == DueDate(D("2026-09-10"), False)
        assert got == workdays_service.add_working_days(session, self.START, 5 + paused)

    def test_open_pause_stops_the_clock_at_today(self, session):
        got = workdays_service.due_date(session, self.START, 5, [(D("2026-09-03"), None)], as_of=D("2026-09-07"))

        assert got == DueDate(D("2026-09-10"), False)

    def test_open_pause_asked_today_does_not_extend_yet(self, session):
        got = workdays_service.due_date(session, self.START, 5, [(D("2026-09-03"), None)], as_of=D("2026-09-03"))

        assert got == DueDate(D("2026-09-08"), False)

    def test_open_pause_uses_the_platform_today_by_default(self, session, monkeypatch):
        monkeypatch.setattr(workdays_service, "today", lambda: D("2026-09-07"))

        got = workdays_service.due_date(session, self.START, 5, [(D("2026-09-03"), None)])

        assert got == DueDate(D("2026-09-10"), False)

    def test_pause_over_a_holiday_extends_by_working_days_only(self, session):
        """Paused 9/29 → 10/9: only 9/30, 10/8 and 10/9 are working days; 10/10 (make-up) counts."""
        got = workdays_service.due_date(session, D("2026-09-28"), 3, [(D("2026-09-29"), D("2026-10-09"))])

        assert got == DueDate(D("2026-10-12"), False)

    def test_overlapping_pauses_count_once(self, session):
        pauses = [(D("2026-09-03"), D("2026-09-07")), (D("2026-09-04"), D("2026-09-07"))]

        assert workdays_service.due_date(session, self.START, 5, pauses) == DueDate(D("2026-09-10"), False)

    def test_two_pauses_add_up(self, session):
        pauses = [(D("2026-09-02"), D("2026-09-03")), (D("2026-09-08"), D("2026-09-09"))]

        assert workdays_service.due_date(session, self.START, 5, pauses) == DueDate(D("2026-09-10"), False)

    def test_refuses_a_pause_ending_before_it_starts(self, session):
        with pytest.raises(errors.PauseInvalid):
            workdays_service.due_date(session, self.START, 5, [(D("2026-09-07"), D("2026-09-03"))])


class TestDeadlineState:
    DUE = D("2026-10-10")

    @pytest.mark.parametrize(("today", "state"), [
        ("2026-09-30", "ok"),        # 3 working days left (10/8, 10/9, 10/10)
        ("2026-10-07", "ok"),        # the holiday does not eat into them: still 3
        ("2026-10-08", "warning"),   # 2 left
        ("2026-10-09", "warning"),   # 1 left
        ("2026-10-10", "warning"),   # due today
        ("2026-10-11", "overdue"),
    ])
    def test_boundaries(self, session, today, state):
        assert workdays_service.deadline_state(session, self.DUE, D(today)) == state


class TestToday:
    def test_is_the_date_in_shanghai(self):
        before = datetime.now(workdays_service.TIMEZONE).date()
        got = workdays_service.today()
        after = datetime.now(workdays_service.TIMEZONE).date()

        assert workdays_service.TIMEZONE.key == "Asia/Shanghai"
        assert got in (before, after)


class TestPublishYear:
    def test_published_year_is_not_estimated_and_its_days_win(self, session, admin):
        read = workdays_service.publish_year(session, admin, 2027, DAYS_2027)

        assert (read.year, read.source, read.estimated, read.complete, read.published_by) == (
            2027, "admin", False, True, "staff:admin")
        assert (read.holidays, read.makeup_workdays) == (6, 1)
        assert workdays_service.is_working_day(session, D("2027-02-10")) == DayInfo(False, False, "春节", "admin")
        assert workdays_service.is_working_day(session, D("2027-10-09")) == DayInfo(True, False, "国庆节", "admin")
        # The estimate's 劳动节 5/3 is not in the published year: an ordinary Monday.
        assert workdays_service.is_working_day(session, D("2027-05-03")) == DayInfo(True, False, None, "admin")
        assert workdays_service.add_working_days(session, D("2027-09-30"), 3) == DueDate(D("2027-10-11"), False)

    def test_is_audited(self, session, admin):
        workdays_service.publish_year(session, admin, 2027, DAYS_2027)

        assert audit_trail(session, "calendar.publish") == [("calendar.publish", "ok", "2027", {
            "days": 9, "holidays": 6, "makeup_workdays": 1, "complete": True})]

    def test_replaces_the_year(self, session, admin):
        workdays_service.publish_year(session, admin, 2027, DAYS_2027)

        read = workdays_service.publish_year(session, admin, 2027, [{"date": "2027-01-01", "working": False,
                                                                     "name": "元旦"}])

        assert [(d.date, d.kind, d.name) for d in read.days] == [(D("2027-01-01"), "holiday", "元旦")]
        assert workdays_service.is_working_day(session, D("2027-02-10")).working is True

    def test_visible_to_other_sessions_after_commit(self, session, db, admin):
        workdays_service.publish_year(session, admin, 2027, DAYS_2027)
        session.commit()

        with db.transaction(write=False) as other:
            assert workdays_service.is_working_day(other, D("2027-10-09")) == DayInfo(True, False, "国庆节", "admin")

    def test_other_processes_reload_after_the_check_interval(self, settings, session, admin, monkeypatch):
        now = [1000.0]
        monkeypatch.setattr(workdays_service, "clock", lambda: now[0])
        elsewhere = Database(settings)
        try:
            with elsewhere.transaction(write=False) as s:
                assert workdays_service.is_working_day(s, D("2027-10-09")).source == "estimate"
            workdays_service.publish_year(session, admin, 2027, DAYS_2027)
            session.commit()

            with elsewhere.transaction(write=False) as s:
                stale = workdays_service.is_working_day(s, D("2027-10-09")).source
            now[0] += workdays_service.CHECK_INTERVAL
            with elsewhere.transaction(write=False) as s:
                fresh = workdays_service.is_working_day(s, D("2027-10-09")).source
        finally:
            elsewhere.dispose()

        assert (stale, fresh) == ("estimate", "admin")

    def test_counting_does_no_query_per_day(self, session, db):
        workdays_service.add_working_days(session, D("2026-01-01"), 1)
        statements: list[str] = []
        event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

        got = workdays_service.add_working_days(session, D("2026-01-01"), 240)

        assert statements == []
        assert got.date.year == 2026

    def test_incomplete_year_overrides_single_days_and_stays_estimated(self, session, admin):
        read = workdays_service.publish_year(session, admin, 2027, [DAYS_2027[0]], complete=False)

        assert (read.source, read.estimated, read.complete) == ("estimate", True, False)
        assert workdays_service.is_working_day(session, D("2027-02-10")) == DayInfo(False, True, "春节", "admin")
        assert workdays_service.is_working_day(session, D("2027-10-05")) == DayInfo(False, True, "国庆节", "estimate")

    def test_incomplete_year_over_the_package_overrides_a_day(self, session, admin):
        workdays_service.publish_year(session, admin, 2026, [{"date": "2026-10-08", "working": False,
                                                              "name": "国庆节"}], complete=False)

        assert workdays_service.is_working_day(session, D("2026-10-08")) == DayInfo(False, False, "国庆节", "admin")
        assert workdays_service.add_working_days(session, D("2026-09-30"), 3) == DueDate(D("2026-10-12"), False)

    def test_refuses_a_day_outside_the_year_and_changes_nothing(self, session, admin):
        with pytest.raises(errors.CalendarDayInvalid) as caught:
            workdays_service.publish_year(session, admin, 2027, [*DAYS_2027, {"date": "2028-01-01",
                                                                              "working": False}])

        assert caught.value.render("en") == "Row 10 of the calendar is not valid: the date 2028-01-01 is not in 2027"
        assert workdays_service.get_year(session, 2027).source == "estimate"
        assert audit_trail(session, "calendar.publish") == []

    @pytest.mark.parametrize(("day", "reason"), [
        ({"date": "2027-13-01", "working": False}, "the date must be YYYY-MM-DD"),
        ({"date": "2027-02-10", "working": "maybe"}, "working must be true or false"),
        ({"date": "2027-02-10", "working": False, "name": "节" * 41}, "the name must have at most 40 characters"),
    ])
    def test_refuses_a_bad_row(self, session, admin, day, reason):
        with pytest.raises(errors.CalendarDayInvalid) as caught:
            workdays_service.publish_year(session, admin, 2027, [day])

        assert caught.value.render("en") == f"Row 1 of the calendar is not valid: {reason}"

    def test_refuses_a_date_given_twice(self, session, admin):
        with pytest.raises(errors.CalendarDayInvalid) as caught:
            workdays_service.publish_year(session, admin, 2027, [DAYS_2027[0], DAYS_2027[0]])

        assert caught.value.render() == "日历第 2 行无效：日期 2027-02-10 出现了两次"

    def test_refuses_a_year_out_of_range(self, session, admin):
        with pytest.raises(errors.CalendarYearInvalid):
            workdays_service.publish_year(session, admin, 1999, [])

    def test_refuses_without_calendar_manage_and_changes_nothing(self, session, clerk):
        with pytest.raises(PermissionDenied):
            workdays_service.publish_year(session, clerk, 2027, DAYS_2027)

        assert workdays_service.get_year(session, 2027).source == "estimate"
        assert audit_trail(session, "calendar.publish") == []


class TestGetYear:
    def test_package_year_lists_holidays_and_make_up_days_with_names(self, session):
        read = workdays_service.get_year(session, 2026)
        autumn = [(d.date.isoformat(), d.kind, d.name, d.source) for d in read.days
                  if D("2026-09-15") <= d.date <= D("2026-10-15")]

        assert (read.source, read.estimated, read.complete, read.published_by) == ("package", False, False, None)
        assert autumn == [
            ("2026-09-20", "makeup_workday", "国庆节", "package"),
            ("2026-09-25", "holiday", "中秋节", "package"),
            ("2026-09-26", "named_day", "中秋节", "package"),
            ("2026-09-27", "named_day", "中秋节", "package"),
            ("2026-10-01", "holiday", "国庆节", "package"),
            ("2026-10-02", "holiday", "国庆节", "package"),
            ("2026-10-03", "named_day", "国庆节", "package"),
            ("2026-10-04", "named_day", "国庆节", "package"),
            ("2026-10-05", "holiday", "国庆节", "package"),
            ("2026-10-06", "holiday", "国庆节", "package"),
            ("2026-10-07", "holiday", "国庆节", "package"),
            ("2026-10-10", "makeup_workday", "国庆节", "package"),
        ]

    def test_estimated_year_lists_the_fixed_holidays(self, session):
        read = workdays_service.get_year(session, 2027)

        assert (read.source, read.estimated, read.holidays, read.makeup_workdays) == ("estimate", True, 7, 0)
        assert [d.date.isoformat() for d in read.days] == [
            "2027-01-01", "2027-05-01", "2027-05-02", "2027-05-03",
            *(f"2027-10-0{d}" for d in range(1, 8))]


class TestParseCalendarFile:
    def test_reads_csv(self):
        got = workdays_service.parse_calendar_file(b"\xef\xbb\xbfdate,working,name\n2027-02-10,false,\xe6\x98\xa5\xe8\x8a\x82\n",
                                                   "csv")

        assert got == [{"date": "2027-02-10", "working": "false", "name": "春节"}]

    def test_reads_json_list_or_object(self):
        assert workdays_service.parse_calendar_file('{"days": [{"date": "2027-02-10"}]}', "json") == [
            {"date": "2027-02-10"}]
        assert workdays_service.parse_calendar_file('[{"date": "2027-02-10"}]', "json") == [{"date": "2027-02-10"}]

    def test_refuses_a_csv_without_the_header(self):
        with pytest.raises(errors.CalendarFileInvalid):
            workdays_service.parse_calendar_file("2027-02-10,false\n", "csv")
