"""Tables of the notifications domain: the inbox (站内信) and the delivery log of e-mail and SMS."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from yiwang.core.db import Base, IdMixin, utcnow


class Notification(IdMixin, Base):
    """站内信: one message in one user's inbox.

    ``params`` holds ids and non-personal facts only; ``title`` and ``body`` are rendered from the
    template at send time, in the user's language, for the user's own eyes."""

    __tablename__ = "notifications"

    user_id: Mapped[str] = mapped_column(String(26))
    template: Mapped[str] = mapped_column(String(60))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (Index("ix_notifications_user_read_created", "user_id", "read_at", "created_at"),)


class Delivery(IdMixin, Base):
    """投递记录: one e-mail or SMS of a notification.

    The log keeps the recipient masked (``z***@example.com``, ``*******5678``). The full address is
    held encrypted in ``address_enc`` (AAD ``deliveries.address:{id}``) only until the message is
    sent or has finally failed, then wiped."""

    __tablename__ = "deliveries"

    notification_id: Mapped[str] = mapped_column(ForeignKey("notifications.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    recipient_masked: Mapped[str] = mapped_column(String(120))
    address_enc: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
