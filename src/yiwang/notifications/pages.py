"""The inbox page (站内信): the signed-in user's messages, unread ones marked, each with a
mark-as-read button."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from yiwang.core.web import DbSession, SignedInActor, render
from yiwang.notifications import service as notifications_service

router = APIRouter(tags=["notifications"], include_in_schema=False)


@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(request: Request, session: DbSession, actor: SignedInActor, cursor: str | None = None) -> HTMLResponse:
    """The caller's inbox, newest first."""
    page = notifications_service.inbox(session, actor, cursor=cursor)
    unread = notifications_service.unread_count(session, actor)
    return render(request, "notifications/inbox.html", {"page": page, "unread": unread})


@router.post("/inbox/{notification_id}/read")
def mark_read(notification_id: str, session: DbSession, actor: SignedInActor) -> Response:
    """Mark one of the caller's messages read and return to the inbox."""
    notifications_service.mark_read(session, actor, notification_id)
    return RedirectResponse("/inbox", status_code=303)
