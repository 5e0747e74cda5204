"""JSON API of 一网统管: categories, report intake per channel, the dispatcher queue, event detail,
triage, dispatch, the assignee's steps, the reporter's feedback, routing rules and incidents."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, FastAPI, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from yiwang.cityops import open311, service
from yiwang.cityops import triage as words
from yiwang.cityops.schemas import (
    BulkDispatchBody,
    CategoryCreate,
    CategoryRead,
    CheckBody,
    CitizenReport,
    DispatchBody,
    EventPage,
    EventRead,
    EventSummary,
    HandleBody,
    HotlineReport,
    IncidentCreate,
    IncidentRead,
    PatrolReport,
    RatingBody,
    ReasonBody,
    ReportOutcome,
    RuleCreate,
    RuleRead,
    TriageDecision,
)
from yiwang.core.actor import Actor
from yiwang.core.db import Database
from yiwang.core.groupcommit import run_write
from yiwang.core.web import DbSession, ReadDbSession, SignedInActor

router = APIRouter(prefix="/api/v1/cityops", tags=["cityops"])


@router.get("/categories", response_model=list[CategoryRead])
def categories(session: ReadDbSession) -> list[CategoryRead]:
    """The event category tree with each category's level, urgency and deadlines."""
    return service.list_categories(session)


@router.post("/categories", response_model=CategoryRead, status_code=201)
def create_category(body: CategoryCreate, session: DbSession, actor: SignedInActor) -> CategoryRead:
    """Add a category (cityops.category.manage over the city)."""
    return service.create_category(session, actor, body)


# Intake in two halves (service.plan_intake / apply_intake): the checks, placing, classification
# and routing in a short read-only unit of work whose connection is back in the pool before the
# write is queued; then only the duplicate check (which must see every report committed before it:
# one writer at a time) and the inserts, in the worker's group commit (core.groupcommit), where many
# reports share one durable commit. On PostgreSQL the write half runs in a transaction of its own.
def _plan(db: Database, plan: Callable[[Session], service.IntakePlan]) -> service.IntakePlan:
    with db.transaction(write=False) as session:
        return plan(session)


async def _intake(request: Request, actor: Actor, plan: Callable[[Session], service.IntakePlan]) -> ReportOutcome:
    db = request.app.state.db
    # On SQLite (WAL: a reader never waits) the plan runs on the event loop: with the routing facts
    # memoised it is well under a millisecond of CPU, and a hop to the thread pool costs ~0.14 ms
    # of CPU on its own. On PostgreSQL its reads go over the network: a thread.
    planned = _plan(db, plan) if db.is_sqlite else await run_in_threadpool(_plan, db, plan)
    return await run_write(db, lambda s: service.apply_intake(s, actor, planned), plain=True)


@router.post("/reports/citizen", response_model=ReportOutcome, status_code=201)
async def report_citizen(body: CitizenReport, request: Request, actor: SignedInActor) -> ReportOutcome:
    """随手拍: a citizen reports a problem with photos and a location."""
    return await _intake(request, actor, lambda s: service.plan_citizen(s, actor, body))


@router.post("/reports/hotline", response_model=ReportOutcome, status_code=201)
async def report_hotline(body: HotlineReport, request: Request, actor: SignedInActor) -> ReportOutcome:
    """12345: an operator enters a call (cityops.intake); the caller's phone is kept encrypted."""
    return await _intake(request, actor, lambda s: service.plan_hotline(s, actor, body, body.caller_phone))


@router.post("/reports/patrol", response_model=ReportOutcome, status_code=201)
async def report_patrol(body: PatrolReport, request: Request, actor: SignedInActor) -> ReportOutcome:
    """巡查: a grid worker reports a problem found on patrol (cityops.patrol)."""
    return await _intake(request, actor, lambda s: service.plan_patrol(s, actor, body))


@router.get("/events", response_model=EventPage)
def events(session: ReadDbSession, actor: SignedInActor, status: str | None = None, category: str | None = None,
           area: str | None = None, cursor: str | None = None, limit: int = 50) -> EventPage:
    """The dispatcher queue: events in the actor's areas, earliest due first (cityops.read)."""
    return service.list_events(session, actor, status=status, category_code=category, area_code=area,
                               cursor=cursor, limit=limit)


@router.post("/events/bulk-dispatch", response_model=list[EventSummary])
def bulk_dispatch(body: BulkDispatchBody, session: DbSession, actor: SignedInActor) -> list[EventSummary]:
    """Dispatch up to 100 events to one target: all of them or none (cityops.dispatch)."""
    return service.bulk_dispatch(session, actor, body)


@router.get("/events/{event_id}", response_model=EventRead)
def event(event_id: str, session: DbSession, actor: SignedInActor) -> EventRead:
    """One event with its reports and timeline (staff reads are audited; reporters see their own)."""
    return service.get_event(session, actor, event_id)


@router.post("/events/{event_id}/triage", response_model=EventRead)
def triage(event_id: str, body: TriageDecision, session: DbSession, actor: SignedInActor) -> EventRead:
    """问题研判: place and classify an event of the triage queue, or close it as not a case."""
    return service.triage_event(session, actor, event_id, body)


@router.post("/events/{event_id}/dispatch", response_model=EventRead)
def dispatch(event_id: str, body: DispatchBody, session: DbSession, actor: SignedInActor) -> EventRead:
    """派单: send an event to a department, team or grid worker (cityops.dispatch)."""
    return service.dispatch(session, actor, event_id, body)


@router.post("/events/{event_id}/accept", response_model=EventRead)
def accept(event_id: str, session: DbSession, actor: SignedInActor) -> EventRead:
    """接单: the assigned team accepts the event (cityops.handle over its area)."""
    return service.accept(session, actor, event_id)


@router.post("/events/{event_id}/return", response_model=EventRead)
def return_event(event_id: str, body: ReasonBody, session: DbSession, actor: SignedInActor) -> EventRead:
    """退单: the assignee sends the event back to dispatch with a reason."""
    return service.return_event(session, actor, event_id, body.reason)


@router.post("/events/{event_id}/handle", response_model=EventRead)
def handle(event_id: str, body: HandleBody, session: DbSession, actor: SignedInActor) -> EventRead:
    """处置: record an action with evidence photos; with finish, the result."""
    return service.handle(session, actor, event_id, body)


@router.post("/events/{event_id}/check", response_model=EventRead)
def check(event_id: str, body: CheckBody, session: DbSession, actor: SignedInActor) -> EventRead:
    """核查: close a handled event, or send it back to the handler (cityops.dispatch)."""
    return service.check(session, actor, event_id, body)


@router.post("/events/{event_id}/rating", response_model=EventRead)
def rate(event_id: str, body: RatingBody, session: DbSession, actor: SignedInActor) -> EventRead:
    """A reporter rates a closed event, 1 to 5."""
    return service.rate(session, actor, event_id, body.score, body.comment)


@router.post("/events/{event_id}/reopen", response_model=EventRead)
def reopen(event_id: str, body: ReasonBody, session: DbSession, actor: SignedInActor) -> EventRead:
    """A reporter reopens a closed event within 7 days; it returns to the same team."""
    return service.reopen(session, actor, event_id, body.reason)


@router.get("/rules", response_model=list[RuleRead])
def rules(session: ReadDbSession, actor: SignedInActor, category: str | None = None,
          area: str | None = None) -> list[RuleRead]:
    """The current routing rules in the actor's areas (cityops.read)."""
    return service.list_rules(session, actor, category_code=category, area_code=area)


@router.post("/rules", response_model=RuleRead, status_code=201)
def create_rule(body: RuleCreate, session: DbSession, actor: SignedInActor) -> RuleRead:
    """A new version of a routing rule (cityops.route over its area)."""
    return service.create_rule(session, actor, body)


@router.get("/incidents", response_model=list[IncidentRead])
def incidents(session: ReadDbSession, actor: SignedInActor, active: bool = False) -> list[IncidentRead]:
    """Emergency incidents, newest first (cityops.read)."""
    return service.list_incidents(session, actor, active_only=active)


@router.post("/incidents", response_model=IncidentRead, status_code=201)
def declare(body: IncidentCreate, session: DbSession, actor: SignedInActor) -> IncidentRead:
    """战时模式: declare an incident for an area subtree and categories (cityops.incident)."""
    return service.declare_incident(session, actor, body)


@router.post("/incidents/{incident_id}/stand-down", response_model=IncidentRead)
def stand_down(incident_id: str, session: DbSession, actor: SignedInActor) -> IncidentRead:
    """Stand an incident down: routing returns to the normal rules (cityops.incident)."""
    return service.stand_down(session, actor, incident_id)


def install(app: FastAPI) -> None:
    """Mount Open311 GeoReport v2 at /open311/v2 with its own error shape (cityops.open311), and load
    the word splitter's dictionary when a worker starts (about a second of CPU, once per process:
    not on the first report of every new worker)."""
    app.include_router(open311.router)
    open311.install(app)
    app.router.on_startup.append(words.warm)
