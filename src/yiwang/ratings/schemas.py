"""Pydantic schemas of the ratings domain."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class RatingRead(BaseModel):
    """One rating (好差评); the comment decrypted for whoever may see it."""

    model_config = ConfigDict(frozen=True)

    id: str
    subject_type: str
    subject_id: str
    service_code: str
    department_id: str
    area_code: str
    channel: str
    score: int
    comment: str | None
    created_at: datetime
    rectification_id: str | None


class RectificationRead(BaseModel):
    """差评整改 as the department and the supervisor see it (the rater is not named)."""

    model_config = ConfigDict(frozen=True)

    id: str
    rating_id: str
    department_id: str
    area_code: str
    service_code: str
    subject_type: str
    subject_id: str
    score: int
    comment: str | None
    status: str
    due_date: date
    due_estimated: bool
    overdue: bool
    reply: str | None
    replied_at: datetime | None
    supervisor_note: str | None
    closed_at: datetime | None


class ReplyBody(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


class CloseBody(BaseModel):
    note: str = Field(default="", max_length=2000)


class StatRow(BaseModel):
    """Ratings of one service, department or channel: count, average and the share of each level."""

    key: str
    count: int
    average: float
    shares: dict[int, float]
    """Score (1–5) → share of the ratings with that score (0–1, rounded to 4 places)."""
    bad_share: float
    """Share of 不满意 and 非常不满意 (scores 1 and 2)."""
