"""Pydantic schemas of the notifications domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class NotificationRead(BaseModel):
    """One inbox message (站内信)."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: str
    user_id: str
    template: str
    params: dict[str, Any]
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None


class InboxPage(BaseModel):
    """A page of the inbox, newest first; ``next_cursor`` fetches the next page."""

    items: list[NotificationRead]
    next_cursor: str | None


class UnreadCount(BaseModel):
    unread: int


class DeliveryRead(BaseModel):
    """One e-mail or SMS in the delivery log (the recipient masked)."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: str
    notification_id: str
    channel: str
    recipient_masked: str
    status: str
    attempts: int
    last_error: str | None
    sent_at: datetime | None
