"""JSON API of the data catalogue for staff and signed-in users: resources and their history,
uploads, de-identification steps, opening, previews under grants, the responsibility and demand
lists, and conditional-access requests. (The open portal's machine interface is the CKAN Action API
in :mod:`yiwang.datacat.ckan`; DCAT is :mod:`yiwang.datacat.dcat`.)"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, FastAPI, File, Form, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from yiwang.core.web import DbSession, ReadDbSession, SignedInActor
from yiwang.datacat import repository, service
from yiwang.datacat.schemas import ResourceIn, ResourceRead

router = APIRouter(prefix="/api/v1/datacat", tags=["datacat"])


class StepsBody(BaseModel):
    steps: list[dict[str, Any]] = Field(max_length=200)


class GrantBody(BaseModel):
    department_id: str
    max_sensitivity: int = Field(ge=1, le=6)
    purpose: str = Field(min_length=1, max_length=200)
    expires_at: datetime | None = None


class DemandBody(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    target_department_id: str | None = None


class AnswerBody(BaseModel):
    status: str = Field(pattern="^(answered|fulfilled|declined)$")
    answer: str = Field(min_length=1, max_length=5000)
    resource: str | None = None


class AccessBody(BaseModel):
    organisation: str = Field(min_length=1, max_length=200)
    purpose: str = Field(min_length=1, max_length=2000)


class DecisionBody(BaseModel):
    approve: bool
    reason: str = Field(default="", max_length=2000)
    days: int = Field(default=365, ge=1, le=1095)


def _outcome(outcome: service.Outcome, status: int = 200) -> JSONResponse:
    """A gate refusal is an answer, not an error: the refused version is kept (409 with the report)."""
    body = {"passed": outcome.passed, "opened": outcome.opened, "message": outcome.message,
            "report": outcome.report, "row_errors": outcome.errors,
            "distribution": outcome.distribution.model_dump(mode="json") if outcome.distribution else None}
    return JSONResponse(body, status_code=status if outcome.passed else 409)


def _access(req: Any) -> dict[str, Any]:
    return {"id": req.id, "resource_id": req.resource_id, "organisation": req.organisation, "purpose": req.purpose,
            "status": req.status, "reason": req.reason, "expires_at": req.expires_at, "created_at": req.created_at}


def _demand(d: Any) -> dict[str, Any]:
    return {"id": d.id, "title": d.title, "description": d.description, "requester_kind": d.requester_kind,
            "target_department_id": d.target_department_id, "status": d.status, "answer": d.answer,
            "resource_id": d.resource_id, "created_at": d.created_at, "answered_at": d.answered_at}


@router.get("/resources", response_model=list[ResourceRead])
def resources(session: ReadDbSession, actor: SignedInActor, department_id: str | None = None,
              state: str | None = None, before: datetime | None = None, limit: int = 50) -> list[ResourceRead]:
    """The catalogue for staff, newest change first (datacat.read or datacat.manage)."""
    service.require_catalogue(actor)
    rows = repository.resources_page(session, department_id=department_id, state=state, before=before,
                                     limit=max(1, min(limit, 200)))
    return service.show_many(session, [r.id for r in rows])


@router.post("/resources", response_model=ResourceRead, status_code=201)
def create_resource(body: ResourceIn, session: DbSession, actor: SignedInActor) -> ResourceRead:
    """Register a data resource with its metadata and graded fields (datacat.manage for the provider)."""
    return service.create_resource(session, actor, body)


@router.get("/resources/{ref}", response_model=ResourceRead)
def resource(ref: str, session: ReadDbSession, actor: SignedInActor) -> ResourceRead:
    """One resource by id, name or resource code, with its fields and tables."""
    service.require_catalogue(actor)
    row = service.get(session, ref)
    service.require_read(actor, session, row)
    return service.show(session, row)


@router.patch("/resources/{ref}", response_model=ResourceRead)
def update_resource(ref: str, body: dict[str, Any], session: DbSession, actor: SignedInActor) -> ResourceRead:
    """Change metadata or fields: a new metadata version (an open resource's tables are scanned again)."""
    return service.update_resource(session, actor, ref, body)


@router.get("/resources/{ref}/history")
def history(ref: str, session: ReadDbSession, actor: SignedInActor) -> list[dict[str, Any]]:
    """The resource's metadata versions with their snapshots, newest first."""
    return service.history(session, actor, ref)


@router.post("/resources/{ref}/distributions", status_code=201)
def upload(ref: str, session: DbSession, actor: SignedInActor, file: UploadFile = File(...),
           name: str = Form(""), description: str = Form(""),
           distribution_id: str | None = Form(None)) -> JSONResponse:
    """Upload a table (CSV, XLSX, JSON): ingest, the gate, and — if the resource is open — publish."""
    data = file.file.read(service.MAX_DATA_BYTES + 1)
    outcome = service.add_distribution(session, actor, ref, name=name or (file.filename or ""), data=data,
                                       filename=file.filename or "", description=description,
                                       distribution_id=distribution_id)
    return _outcome(outcome, 201)


@router.get("/distributions/{distribution_id}/versions")
def versions(distribution_id: str, session: ReadDbSession, actor: SignedInActor) -> list[dict[str, Any]]:
    """Every upload of a table with its row errors and the gate's report, newest first."""
    return service.versions(session, actor, distribution_id)


@router.put("/distributions/{distribution_id}/steps")
def steps(distribution_id: str, body: StepsBody, session: DbSession, actor: SignedInActor) -> JSONResponse:
    """Record the table's de-identification steps; the latest upload is scanned with them."""
    return _outcome(service.set_steps(session, actor, distribution_id, body.steps))


@router.get("/distributions/{distribution_id}/preview")
def preview(distribution_id: str, session: DbSession, actor: SignedInActor, limit: int = 20) -> dict[str, Any]:
    """The first rows, fields above the viewer's grant masked; unmasked sensitive reads are audited."""
    return service.preview(session, actor, distribution_id, limit=limit)


@router.post("/resources/{ref}/open")
def open_resource(ref: str, session: DbSession, actor: SignedInActor) -> JSONResponse:
    """Open the resource on the portal if every table passes the gate (else 409 with the report)."""
    return _outcome(service.open_resource(session, actor, ref))


@router.post("/resources/{ref}/close", response_model=ResourceRead)
def close_resource(ref: str, session: DbSession, actor: SignedInActor) -> ResourceRead:
    """Withdraw the resource from the portal; its history stays."""
    return service.close_resource(session, actor, ref)


@router.post("/resources/{ref}/grants", status_code=201)
def grant(ref: str, body: GrantBody, session: DbSession, actor: SignedInActor) -> dict[str, Any]:
    """Let a department's staff see fields up to a sensitivity unmasked (the provider's officer)."""
    return service.grant(session, actor, ref, department_id=body.department_id,
                         max_sensitivity=body.max_sensitivity, purpose=body.purpose, expires_at=body.expires_at)


@router.delete("/grants/{grant_id}", status_code=204)
def revoke(grant_id: str, session: DbSession, actor: SignedInActor) -> None:
    """Revoke a grant."""
    service.revoke_grant(session, actor, grant_id)


@router.get("/responsibilities")
def responsibilities(session: ReadDbSession, actor: SignedInActor, department_id: str | None = None,
                     late: bool = False, limit: int = 200) -> list[dict[str, Any]]:
    """责任清单: which department owes which resource and by when; late updates flagged."""
    return service.responsibilities(session, actor, department_id=department_id, late_only=late, limit=limit)


@router.get("/demands")
def demands(session: ReadDbSession, actor: SignedInActor, status: str | None = None,
            limit: int = 100) -> list[dict[str, Any]]:
    """需求清单: requests for data not yet catalogued, with their answers, newest first."""
    return [_demand(d) for d in repository.demands(session, status=status, limit=max(1, min(limit, 500)))]


@router.post("/demands", status_code=201)
def create_demand(body: DemandBody, session: DbSession, actor: SignedInActor) -> dict[str, Any]:
    """Ask for data that is not catalogued yet (any signed-in user or department)."""
    return _demand(service.create_demand(session, actor, title=body.title, description=body.description,
                                         target_department_id=body.target_department_id))


@router.post("/demands/{demand_id}/answer")
def answer_demand(demand_id: str, body: AnswerBody, session: DbSession, actor: SignedInActor) -> dict[str, Any]:
    """A data officer answers a demand (answered, fulfilled with a resource, or declined)."""
    return _demand(service.answer_demand(session, actor, demand_id, status=body.status, answer=body.answer,
                                         resource_ref=body.resource))


@router.post("/resources/{ref}/access-requests", status_code=201)
def request_access(ref: str, body: AccessBody, session: DbSession, actor: SignedInActor) -> dict[str, Any]:
    """有条件开放: apply for access to a conditionally open resource."""
    return _access(service.request_access(session, actor, ref, organisation=body.organisation, purpose=body.purpose))


@router.get("/access-requests")
def access_requests(session: ReadDbSession, actor: SignedInActor, resource: str | None = None,
                    status: str | None = None) -> list[dict[str, Any]]:
    """The actor's own access requests, or — for the provider's officer with ``resource`` — a resource's."""
    return [_access(r) for r in service.access_requests(session, actor, resource_ref=resource, status=status)]


@router.post("/access-requests/{request_id}/decision")
def decide(request_id: str, body: DecisionBody, session: DbSession, actor: SignedInActor) -> dict[str, Any]:
    """The provider's officer approves (for some days) or rejects an access request."""
    return _access(service.decide_access(session, actor, request_id, approve=body.approve, reason=body.reason,
                                         days=body.days))


@router.get("/access-requests/{request_id}/token")
def token(request_id: str, session: ReadDbSession, actor: SignedInActor) -> dict[str, str]:
    """The applicant's access token of an approved request (sent as ``Authorization`` to the CKAN API)."""
    return {"token": service.access_token(session, actor, request_id)}


def install(app: FastAPI) -> None:
    """Mount the CKAN Action API, the DCAT export and the data officer's pages beside this API."""
    from yiwang.datacat import ckan, dcat, staff_pages

    for module in (ckan, dcat, staff_pages):
        app.include_router(module.router)
    for module in (ckan, dcat, staff_pages):
        extra = getattr(module, "install", None)
        if extra:
            extra(app)
