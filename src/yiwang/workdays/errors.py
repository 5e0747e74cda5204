"""Errors of the working-day calendar, each with a stable code."""

from __future__ import annotations

from yiwang.core.errors import AppError


class CalendarYearInvalid(AppError):
    code = "calendar_year_invalid"
    status = 422
    message = "The year {year} is not one the calendar can hold (2000 to 2100)."


class CalendarDayInvalid(AppError):
    """One row of a published year is wrong; ``reason`` is a msgid translated with the message."""

    code = "calendar_day_invalid"
    status = 422
    message = "Row {row} of the calendar is not valid: {reason}"

    def render(self, locale: str | None = None) -> str:
        from yiwang.core.i18n import translate

        params = dict(self.params)
        params["reason"] = translate(str(params.get("reason", "")), locale, **self.params)
        return translate(self.msgid, locale, **params)


class CalendarFileInvalid(AppError):
    code = "calendar_file_invalid"
    status = 422
    message = "The calendar file cannot be read: {reason}"


class WorkingDaysInvalid(AppError):
    code = "working_days_invalid"
    status = 422
    message = "A limit must be 0 to {limit} working days, not {days}."


class PauseInvalid(AppError):
    code = "pause_invalid"
    status = 422
    message = "A pause cannot end ({end}) before it starts ({start})."


class WorkingHoursInvalid(AppError):
    code = "working_hours_invalid"
    status = 422
    message = "A limit must be 0 to {limit} working hours, not {hours}."
