"""Tables of the ratings domain: ratings (好差评) and rectifications (差评整改)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yiwang.core.db import Base, IdMixin, utcnow


class Rating(IdMixin, Base):
    """好差评: the applicant's score (1 非常不满意 … 5 非常满意) of one closed subject (an
    application), with an optional comment encrypted at rest (AAD ``ratings.comment:{id}``)."""

    __tablename__ = "ratings"

    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(String(40))
    service_code: Mapped[str] = mapped_column(String(60), index=True)
    department_id: Mapped[str] = mapped_column(String(26), index=True)
    area_code: Mapped[str] = mapped_column(String(15), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    rater_user_id: Mapped[str] = mapped_column(String(26))
    score: Mapped[int] = mapped_column(Integer)
    comment_enc: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    __table_args__ = (UniqueConstraint("subject_type", "subject_id", name="uq_ratings_subject"),)


class Rectification(IdMixin, Base):
    """差评整改: the department's duty to put right what a bad rating (1 or 2) reports, and reply
    to the rater, within 15 working days; a supervisor (督办) closes it."""

    __tablename__ = "rectifications"

    rating_id: Mapped[str] = mapped_column(ForeignKey("ratings.id"), unique=True)
    department_id: Mapped[str] = mapped_column(String(26))
    status: Mapped[str] = mapped_column(String(10), default="open")
    due_date: Mapped[date] = mapped_column(Date)
    due_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    reply: Mapped[str | None] = mapped_column(Text, default=None)
    replied_by: Mapped[str | None] = mapped_column(String(26), default=None)
    replied_at: Mapped[datetime | None] = mapped_column(default=None)
    supervisor_note: Mapped[str | None] = mapped_column(Text, default=None)
    closed_by: Mapped[str | None] = mapped_column(String(26), default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_rectifications_department_status_due", "department_id", "status", "due_date"),)
