"""JSON API of the inbox: each signed-in user sees and marks only their own messages."""

from __future__ import annotations

from fastapi import APIRouter

from yiwang.core.web import DbSession, ReadDbSession, SignedInActor
from yiwang.notifications import service as notifications_service
from yiwang.notifications.schemas import InboxPage, NotificationRead, UnreadCount

router = APIRouter(prefix="/api/v1/inbox", tags=["notifications"])


@router.get("", response_model=InboxPage)
def list_inbox(session: ReadDbSession, actor: SignedInActor, unread_only: bool = False,
               cursor: str | None = None) -> InboxPage:
    """The caller's own messages, newest first, 50 a page."""
    return notifications_service.inbox(session, actor, unread_only=unread_only, cursor=cursor)


@router.get("/unread-count", response_model=UnreadCount)
def unread_count(session: ReadDbSession, actor: SignedInActor) -> UnreadCount:
    """How many of the caller's messages are unread."""
    return UnreadCount(unread=notifications_service.unread_count(session, actor))


@router.post("/{notification_id}/read", response_model=NotificationRead)
def mark_read(notification_id: str, session: DbSession, actor: SignedInActor) -> NotificationRead:
    """Mark one of the caller's messages read; another user's is ``notification_not_found``."""
    return notifications_service.mark_read(session, actor, notification_id)
