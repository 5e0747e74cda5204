"""JSON API of the audit trail (三员: only the audit administrator reads it; nobody changes it).

Also installs the app's ``on_denied`` hook: every refused permission becomes an audit entry with
outcome ``denied``, written in its own transaction after the request's work was rolled back.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request

from yiwang.audit import service as audit_service
from yiwang.audit.schemas import CheckpointRead, EntryPage, ProblemRead, PublicKeyRead, VerifyRead
from yiwang.core.actor import ANONYMOUS, Actor
from yiwang.core.errors import PermissionDenied
from yiwang.core.jobs import bind_settings
from yiwang.core.web import CurrentActor, DbSession

log = logging.getLogger("yiwang.audit")

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("/entries", response_model=EntryPage)
def list_entries(
    session: DbSession,
    actor: CurrentActor,
    actor_filter: Annotated[str | None, Query(alias="actor", max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    target_type: Annotated[str | None, Query(max_length=50)] = None,
    target_id: Annotated[str | None, Query(max_length=100)] = None,
    area: Annotated[str | None, Query(max_length=24, pattern=r"^[0-9]*$")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> EntryPage:
    """Audit entries, newest first, filtered and keyset-paginated; for auditors only, and audited."""
    filters = audit_service.EntryFilter(
        actor=actor_filter, action=action, target_type=target_type, target_id=target_id,
        area_code=area or None, since=since, until=until,
    )
    return audit_service.list_entries(session, actor, filters, cursor=cursor, limit=limit)


@router.post("/verify", response_model=VerifyRead)
def verify(request: Request, session: DbSession, actor: CurrentActor) -> VerifyRead:
    """Verify every chain against the signed checkpoints; names the first bad entry of each chain."""
    with request.app.state.db.transaction(write=False) as read_session:
        report = audit_service.run_verification(session, actor, read_session=read_session)
    return VerifyRead(
        ok=report.ok, entries_checked=report.entries_checked, chains=report.chains,
        checkpoints_checked=report.checkpoints_checked,
        problems=[ProblemRead(kind=p.kind, chain_id=p.chain_id, seq=p.seq, message=p.message)
                  for p in report.problems],
    )


@router.get("/checkpoints", response_model=list[CheckpointRead])
def list_checkpoints(
    session: DbSession,
    actor: CurrentActor,
    chain: Annotated[int | None, Query(ge=0)] = None,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[CheckpointRead]:
    """Signed checkpoints, newest first; for auditors only."""
    return audit_service.list_checkpoints(session, actor, chain_id=chain, cursor=cursor, limit=limit)


@router.get("/public-key", response_model=PublicKeyRead)
def public_key(request: Request) -> PublicKeyRead:
    """The platform's public signing key, to check exported checkpoints offline."""
    return audit_service.published_key(request.app.state.settings)


def _split_target(target: str | None) -> tuple[str | None, str | None]:
    if not target:
        return None, None
    if ":" in target:
        kind, _, ident = target.partition(":")
        return kind or None, ident or None
    return None, target


def record_denial(request: Request, exc: PermissionDenied) -> None:
    """Record a refused permission as an ``outcome="denied"`` entry in a fresh transaction."""
    actor: Actor = getattr(request.state, "actor", None) or ANONYMOUS
    route = getattr(request.scope.get("route"), "path", "unmatched")
    target_type, target_id = _split_target(exc.target)
    detail: dict[str, Any] = {"method": request.method, "route": route}
    if exc.department_id:
        detail["department_id"] = exc.department_id
    try:
        with request.app.state.db.transaction() as session:
            audit_service.record(
                session, actor, exc.permission or "unknown", target_type=target_type, target_id=target_id,
                area_code=exc.area_code, outcome="denied", detail=detail,
            )
    except Exception:  # noqa: BLE001 - the 403 is still answered; the failure is logged loudly
        log.exception("could not record a denied request", extra={"permission": exc.permission, "route": route})
    log.warning("permission denied", extra={
        "permission": exc.permission, "actor": actor.label, "area_code": exc.area_code,
        "method": request.method, "route": route,
    })


def install(app: FastAPI) -> None:
    """Bind the app's settings to its database and record every denial in the audit trail."""
    bind_settings(app.state.db.engine, app.state.settings)
    app.state.on_denied = record_denial
