"""Tables of the working-day calendar."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from yiwang.core.db import Base, utcnow


class CalendarYear(Base):
    """工作日历年度 — a year whose exceptional days an administrator has published.

    ``complete`` says the year is the whole official notice (国务院办公厅关于放假安排的通知): its days
    replace the package's and nothing of the year is estimated. An incomplete year's days override
    single days only."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    complete: Mapped[bool] = mapped_column(Boolean, default=True)
    published_by: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(default=utcnow)


class CalendarDay(Base):
    """节假日 / 调休上班日 — one day that differs from the ordinary week (or carries a holiday's name)."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column("date", Date, primary_key=True)
    year: Mapped[int] = mapped_column(Integer, index=True)
    working: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str | None] = mapped_column(String(40))


class CalendarVersion(Base):
    """One row: bumped with a fresh token by every publication, so each process's in-memory
    calendar knows when to reload without a query per day."""

    __tablename__ = "calendar_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    token: Mapped[str] = mapped_column(String(26))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
