"""The auditor's page: the trail with filters, and a "verify now" button."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse

from yiwang.audit import service as audit_service
from yiwang.core.actor import Actor
from yiwang.core.errors import PermissionDenied, ValidationFailed
from yiwang.core.web import CurrentActor, DbSession, render

router = APIRouter(tags=["audit"], include_in_schema=False)

KIND_LABELS = {
    "edited": "Edited", "deleted": "Deleted", "inserted": "Inserted", "reordered": "Reordered",
    "truncated": "Truncated", "checkpoint_mismatch": "Checkpoint mismatch", "bad_signature": "Bad signature",
}
OUTCOME_LABELS = {"ok": "Done", "denied": "Denied", "failed": "Failed"}


def _parse_when(value: str | None, field: str) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(errors=[{"field": field, "problem": "invalid", "message": value}]) from None
    if when.tzinfo is None:
        # Dates typed on the page are Beijing time (UTC+8), the platform's local time.
        from datetime import timedelta, timezone

        when = when.replace(tzinfo=timezone(timedelta(hours=8)))
    return when


def _page(request: Request, session: DbSession, actor: Actor, form: dict[str, str], cursor: str | None,
          verification: Any = None) -> HTMLResponse:
    if not actor.scopes("audit.read"):
        raise PermissionDenied(permission="audit.read")
    filters = audit_service.EntryFilter(
        actor=form["actor"] or None, action=form["action"] or None, target_type=form["target_type"] or None,
        target_id=form["target_id"] or None, area_code=form["area"] or None,
        since=_parse_when(form["since"], "since"), until=_parse_when(form["until"], "until"),
    )
    page = audit_service.list_entries(session, actor, filters, cursor=cursor, limit=50)
    query = {k: v for k, v in form.items() if v}
    return render(request, "audit/entries.html", {
        "page": page, "form": form, "query": query, "verification": verification,
        "kind_labels": KIND_LABELS, "outcome_labels": OUTCOME_LABELS,
        "can_verify": actor.can("audit.verify"),
    })


@router.get("/audit", response_class=HTMLResponse)
def entries_page(
    request: Request,
    session: DbSession,
    actor: CurrentActor,
    actor_filter: Annotated[str, Query(alias="actor", max_length=100)] = "",
    action: Annotated[str, Query(max_length=100)] = "",
    target_type: Annotated[str, Query(max_length=50)] = "",
    target_id: Annotated[str, Query(max_length=100)] = "",
    area: Annotated[str, Query(max_length=24, pattern=r"^[0-9]*$")] = "",
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    cursor: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    """The audit trail with filters, newest first; for auditors only (the read is audited)."""
    form = {"actor": actor_filter, "action": action, "target_type": target_type, "target_id": target_id,
            "area": area, "since": since, "until": until}
    return _page(request, session, actor, form, cursor)


@router.post("/audit/verify", response_class=HTMLResponse)
def verify_page(
    request: Request,
    session: DbSession,
    actor: CurrentActor,
    csrf_token: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Verify the chains now and show the result above the trail; for auditors with ``audit.verify``."""
    with request.app.state.db.transaction(write=False) as read_session:
        report = audit_service.run_verification(session, actor, read_session=read_session)
    form = dict.fromkeys(("actor", "action", "target_type", "target_id", "area", "since", "until"), "")
    return _page(request, session, actor, form, None, verification=report)
