"""Pages of 好差评: the rectification list with reply and close forms, and the statistics table."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from yiwang.core.actor import Actor
from yiwang.core.errors import AppError, PermissionDenied
from yiwang.core.web import DbSession, SignedInActor, render
from yiwang.ratings import service as ratings_service

router = APIRouter(tags=["ratings"], include_in_schema=False)

GROUPINGS = {"service": "Service item", "department": "Responsible department", "channel": "Rating channel"}
STATUS_LABELS = {"open": "Awaiting reply", "replied": "Replied", "closed": "Rectification closed"}


def _list(request: Request, session: DbSession, actor: Actor, status: str | None, error: str | None = None,
          status_code: int = 200) -> HTMLResponse:
    items = ratings_service.rectifications(session, actor, status=status or None)
    return render(request, "ratings/rectifications.html", {
        "items": items, "status": status or "", "status_labels": STATUS_LABELS, "error": error,
        "can_supervise": bool(actor.scopes("rating.supervise"))}, status_code=status_code)


@router.get("/ratings/rectifications", response_class=HTMLResponse)
def rectifications_page(request: Request, session: DbSession, actor: SignedInActor,
                        status: str | None = None) -> HTMLResponse:
    """Rectifications the caller may see, earliest due first, overdue ones flagged."""
    return _list(request, session, actor, status)


@router.post("/ratings/rectifications/{rectification_id}/reply", response_class=HTMLResponse)
def reply_form(rectification_id: str, request: Request, session: DbSession, actor: SignedInActor,
               text: Annotated[str, Form()] = "") -> Response:
    """Send the department's reply; re-show the list with the message when refused."""
    try:
        ratings_service.reply(session, actor, rectification_id, text)
    except PermissionDenied:
        raise
    except AppError as exc:
        session.rollback()
        return _list(request, session, actor, None, error=exc.render(), status_code=exc.status)
    return RedirectResponse("/ratings/rectifications", status_code=303)


@router.post("/ratings/rectifications/{rectification_id}/close", response_class=HTMLResponse)
def close_form(rectification_id: str, request: Request, session: DbSession, actor: SignedInActor,
               note: Annotated[str, Form()] = "") -> Response:
    """Close the rectification (supervisor); re-show the list with the message when refused."""
    try:
        ratings_service.close(session, actor, rectification_id, note)
    except PermissionDenied:
        raise
    except AppError as exc:
        session.rollback()
        return _list(request, session, actor, None, error=exc.render(), status_code=exc.status)
    return RedirectResponse("/ratings/rectifications", status_code=303)


@router.get("/ratings/statistics", response_class=HTMLResponse)
def statistics_page(request: Request, session: DbSession, actor: SignedInActor, by: str = "service",
                    area_code: str = "") -> HTMLResponse:
    """The statistics table per service, department or channel."""
    grouping = by if by in GROUPINGS else "service"
    rows = ratings_service.statistics(session, actor, by=grouping, area_code=area_code.strip() or None)
    return render(request, "ratings/statistics.html", {
        "rows": rows, "by": grouping, "groupings": GROUPINGS, "area_code": area_code})
