"""Admin page of the working-day calendar: a year's holidays and make-up workdays with their
source, and the upload of a year's file. ``calendar.manage`` only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse

from yiwang.core.actor import Actor
from yiwang.core.errors import AppError, AuthenticationRequired, PermissionDenied
from yiwang.core.web import CurrentActor, DbSession, render
from yiwang.workdays import service as workdays_service

router = APIRouter(tags=["workdays"], include_in_schema=False)

KIND_LABELS = {"holiday": "Holiday", "makeup_workday": "Make-up workday", "named_day": "Part of a holiday"}
SOURCE_LABELS = {"admin": "Administrator", "package": "State Council notice (package)", "estimate": "Estimate"}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _require(actor: Actor) -> None:
    if not actor.is_authenticated:
        raise AuthenticationRequired()
    actor.require("calendar.manage", target="calendar")


def _page(request: Request, session: DbSession, year: Any, *, error: str | None = None, published: bool = False,
          status_code: int = 200) -> HTMLResponse:
    try:
        read = workdays_service.get_year(session, year)
    except AppError as exc:
        error = error or exc.render()
        read = workdays_service.get_year(session, workdays_service.today().year)
    return render(request, "workdays/year.html", {
        "cal": read, "error": error, "published": published, "kind_labels": KIND_LABELS,
        "source_labels": SOURCE_LABELS, "weekdays": WEEKDAYS,
    }, status_code=status_code)


@router.get("/admin/workdays", response_class=HTMLResponse)
def year_page(request: Request, session: DbSession, actor: CurrentActor, year: str | None = None) -> HTMLResponse:
    """One year's holidays and make-up workdays with their source, and the upload form."""
    _require(actor)
    return _page(request, session, year or workdays_service.today().year)


@router.post("/admin/workdays", response_class=HTMLResponse)
async def publish(
    request: Request,
    session: DbSession,
    actor: CurrentActor,
    file: Annotated[UploadFile, File()],
    year: Annotated[str, Form()] = "",
    incomplete: Annotated[str | None, Form()] = None,
) -> HTMLResponse:
    """Publish the uploaded year (JSON or CSV) and show it; re-render with the message when refused."""
    _require(actor)
    fmt = "json" if (file.filename or "").lower().endswith(".json") else "csv"
    data = await file.read()
    try:
        days = workdays_service.parse_calendar_file(data, fmt)
        read = workdays_service.publish_year(session, actor, year, days, complete=not incomplete)
    except PermissionDenied:
        raise
    except AppError as exc:
        session.rollback()
        return _page(request, session, year, error=exc.render(), status_code=exc.status)
    return _page(request, session, read.year, published=True)
