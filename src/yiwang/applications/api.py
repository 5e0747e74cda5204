"""JSON API of 一网通办 applications: filing, intake, decisions, corrections, ratings, inboxes."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from yiwang.applications import service
from yiwang.applications.schemas import (
    ApplicationCreate,
    ApplicationPage,
    ApplicationRead,
    ApplicationUpdate,
    CorrectionBody,
    DecisionBody,
    HallIntake,
    InboxRow,
    IntakeRow,
    NeededMaterial,
    PrefillBody,
    PrefillRead,
    RatingBody,
    ReasonBody,
)
from yiwang.core.actor import Actor
from yiwang.core.db import Database
from yiwang.core.groupcommit import run_write
from yiwang.core.web import (
    DbSession,
    ReadDbSession,
    SignedInActor,
    get_actor,
    json_body_openapi,
    read_json_body,
    require_signed_in,
)
from yiwang.files import service as files_service
from yiwang.ratings.schemas import RatingRead

router = APIRouter(prefix="/api/v1/applications", tags=["applications"])


def _prepare(db: Database, actor: Actor, body: ApplicationCreate, key: str | None) -> service.PreparedFiling:
    with db.transaction(write=False) as session:
        plan = service.plan_filing(session, actor, subject_kind=body.subject_kind, subject_code=body.subject_code,
                                   data=body.data, materials=body.materials, area_code=body.area_code,
                                   channel=body.channel, submit=body.submit, idempotency_key=key)
        return service.prepare_filing(session, actor, plan)


@router.post("", response_model=ApplicationRead, status_code=201,
             responses={200: {"model": ApplicationRead, "description": "A retry: the application first filed"}},
             openapi_extra={**json_body_openapi(ApplicationCreate), "parameters": [
                 {"name": "idempotency-key", "in": "header", "required": False, "schema": {"type": "string"},
                  "description": "The client's key for this filing: a retry with it never files twice"}]})
async def create(request: Request) -> Response:
    """File an application (a draft, or submitted with ``submit``); a retry with the same
    Idempotency-Key returns the first application with 200."""
    # The busiest POST of 一网通办 takes only the request: the actor, the body and the header are
    # read here as FastAPI would read them (same checks, same errors), without its dependency
    # solving, which cost about a tenth of the route's CPU.
    actor = await require_signed_in(await get_actor(request))
    body = await read_json_body(request, ApplicationCreate)
    idempotency_key = request.headers.get("idempotency-key")
    # Checks, look-ups and the rows to write are made in a short read-only unit of work whose
    # connection is back in the pool before the write is queued (a request waiting for the group
    # commit must not hold one: the writer needs a connection too); then only the prepared rows
    # are written, as a plain unit of the worker's group commit (core.rows).
    db = request.app.state.db
    # On SQLite the read half runs on the event loop itself: a WAL reader never waits, its reads are
    # served from memos and the page cache, and a hop to the thread pool costs more than it does.
    if db.is_sqlite:
        prepared = _prepare(db, actor, body, idempotency_key)
    else:
        prepared = await run_in_threadpool(_prepare, db, actor, body, idempotency_key)
    app, created = await run_write(db, lambda s: service.apply_filing(s, prepared), plain=True)
    # The answer is already an ApplicationRead: written as JSON by pydantic directly (FastAPI would
    # validate it again and, for the status, make and merge a second response).
    return Response(app.model_dump_json(), status_code=201 if created else 200, media_type="application/json")


@router.get("", response_model=ApplicationPage)
def mine(session: ReadDbSession, actor: SignedInActor, cursor: str | None = None, limit: int = 50) -> ApplicationPage:
    """The signed-in applicant's applications, newest first."""
    return service.mine(session, actor, cursor=cursor, limit=limit)


@router.get("/materials", response_model=list[NeededMaterial])
def needed_materials(subject_kind: str, subject_code: str, session: ReadDbSession,
                     actor: SignedInActor) -> list[NeededMaterial]:
    """The materials of an item or bundle, each saying whether the platform already holds it."""
    return service.needed_materials(session, actor, subject_kind, subject_code)


@router.post("/prefill", response_model=PrefillRead)
def prefill(body: PrefillBody, session: DbSession, actor: SignedInActor) -> PrefillRead:
    """Form values from the applicant's own registry record, with their recorded consent."""
    return PrefillRead(values=service.prefill(session, actor, body.subject_kind, body.subject_code,
                                              consent=body.consent))


@router.get("/intake", response_model=list[IntakeRow])
def intake_queue(session: ReadDbSession, actor: SignedInActor, limit: int = 50) -> list[IntakeRow]:
    """Submitted applications waiting for intake where the clerk works (application.intake)."""
    return service.intake_queue(session, actor, limit=limit)


@router.get("/inbox", response_model=list[InboxRow])
def inbox(session: ReadDbSession, actor: SignedInActor, department_id: str | None = None, status: str = "in_review",
          limit: int = 50, after: str | None = None) -> list[InboxRow]:
    """Branches waiting for the approver's departments, earliest due first (application.decide)."""
    return service.inbox(session, actor, department_id=department_id, status=status, limit=limit, after=after)


@router.post("/hall", response_model=ApplicationRead, status_code=201)
def hall_intake(body: HallIntake, session: DbSession, actor: SignedInActor) -> ApplicationRead:
    """全市通办: a clerk files and accepts an application for an applicant the registry confirms."""
    return service.hall_intake(
        session, actor, subject_kind=body.subject_kind, subject_code=body.subject_code,
        applicant_kind=body.applicant_kind, applicant_identifier=body.applicant_identifier,
        applicant_name=body.applicant_name, data=body.data, materials=body.materials,
    )


@router.get("/{application_id}", response_model=ApplicationRead)
def get(application_id: str, session: DbSession, actor: SignedInActor) -> ApplicationRead:
    """One application, for its applicant or the staff handling it (a staff read is audited)."""
    return service.get(session, actor, application_id)


@router.patch("/{application_id}", response_model=ApplicationRead)
def update_draft(application_id: str, body: ApplicationUpdate, session: DbSession,
                 actor: SignedInActor) -> ApplicationRead:
    """Change a draft's answers or materials."""
    return service.update_draft(session, actor, application_id, data=body.data, materials=body.materials)


@router.post("/{application_id}/submit", response_model=ApplicationRead)
def submit(application_id: str, session: DbSession, actor: SignedInActor) -> ApplicationRead:
    """Submit a draft (checked whole); submitting again returns it unchanged."""
    return service.submit(session, actor, application_id)


@router.post("/{application_id}/withdraw", response_model=ApplicationRead)
def withdraw(application_id: str, body: ReasonBody, session: DbSession, actor: SignedInActor) -> ApplicationRead:
    """The applicant withdraws an application that is not closed."""
    return service.withdraw(session, actor, application_id, body.reason)


# Accepting (which starts every branch's workflow) and deciding (which runs a branch's engine
# steps and may issue its certificate) are whole units of the worker's group commit: many clerks'
# and approvers' decisions share one durable commit (core.groupcommit; on PostgreSQL, a transaction
# of their own). They read little that is not also written, so they are not split into plan/apply.
@router.post("/{application_id}/accept", response_model=ApplicationRead)
async def accept(application_id: str, request: Request, actor: SignedInActor) -> ApplicationRead:
    """受理: accept a submitted application; its branches start in their departments."""
    return await run_write(request.app.state.db, lambda s: service.accept(s, actor, application_id))


@router.post("/{application_id}/refuse", response_model=ApplicationRead)
def refuse(application_id: str, body: ReasonBody, session: DbSession, actor: SignedInActor) -> ApplicationRead:
    """不予受理: refuse a submitted application at intake, with the reason."""
    return service.refuse(session, actor, application_id, body.reason)


@router.post("/{application_id}/branches/{branch_id}/decide", response_model=ApplicationRead)
async def decide(application_id: str, branch_id: str, body: DecisionBody, request: Request,
                 actor: SignedInActor) -> ApplicationRead:
    """Decide the step a branch waits at: approve, reject or correct (补正)."""
    return await run_write(request.app.state.db, lambda s: service.decide(
        s, actor, application_id, branch_id, body.decision, body.comment, body.task_id))


@router.post("/{application_id}/branches/{branch_id}/correct", response_model=ApplicationRead)
def correct(application_id: str, branch_id: str, body: CorrectionBody, session: DbSession,
            actor: SignedInActor) -> ApplicationRead:
    """补正: the applicant answers a branch's correction request."""
    return service.correct(session, actor, application_id, branch_id, data=body.data, materials=body.materials,
                           note=body.note)


@router.get("/{application_id}/branches/{branch_id}/diagram")
def diagram(application_id: str, branch_id: str, session: DbSession, actor: SignedInActor) -> dict:
    """The branch's BPMN diagram with where it stands (for the bpmn-js viewer)."""
    xml, active, completed = service.branch_diagram(session, actor, application_id, branch_id)
    return {"xml": xml, "active": active, "completed": completed}


@router.post("/{application_id}/rating", response_model=RatingRead, status_code=201)
def rate(application_id: str, body: RatingBody, session: DbSession, actor: SignedInActor) -> RatingRead:
    """好差评: the applicant rates a closed application (1–5, optional comment)."""
    return service.rate(session, actor, application_id, body.score, body.comment)


@router.get("/{application_id}/materials/{file_id}/content")
def material_content(application_id: str, file_id: str, session: DbSession, actor: SignedInActor) -> Response:
    """An uploaded material, for its applicant or the staff handling it (audited); served as an attachment."""
    stored, content = service.material_file(session, actor, application_id, file_id)
    return Response(content=content, media_type=stored.media_type, headers=files_service.download_headers(stored))
