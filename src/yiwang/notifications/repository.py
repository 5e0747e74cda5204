"""All SQL of the notifications domain."""

from __future__ import annotations

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from yiwang.core.db import utcnow
from yiwang.notifications.models import Delivery, Notification


def add(session: Session, row: Notification | Delivery) -> None:
    session.add(row)


def inbox(session: Session, user_id: str, *, unread_only: bool, after: Notification | None,
          limit: int) -> list[Notification]:
    """The user's messages, newest first, ``limit`` of them, those after the message ``after``."""
    q = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        q = q.where(Notification.read_at.is_(None))
    if after is not None:
        q = q.where(or_(Notification.created_at < after.created_at,
                        and_(Notification.created_at == after.created_at, Notification.id < after.id)))
    return list(session.scalars(q.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)))


def own(session: Session, user_id: str, notification_id: str) -> Notification | None:
    return session.scalar(select(Notification).where(Notification.id == notification_id,
                                                      Notification.user_id == user_id))


def unread_count(session: Session, user_id: str) -> int:
    return session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0


def mark_read(session: Session, row: Notification) -> None:
    if row.read_at is None:
        row.read_at = utcnow()


def delivery(session: Session, delivery_id: str) -> Delivery | None:
    return session.get(Delivery, delivery_id)


def notification(session: Session, notification_id: str) -> Notification | None:
    return session.get(Notification, notification_id)


def deliveries_of(session: Session, notification_id: str) -> list[Delivery]:
    return list(session.scalars(select(Delivery).where(Delivery.notification_id == notification_id)
                                .order_by(Delivery.id)))
