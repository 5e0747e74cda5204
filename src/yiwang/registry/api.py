"""JSON API of the base registries under ``/api/v1/registry``.

ID numbers travel only in request bodies (``POST …/lookup``), never in URLs, which reach logs and
browser histories. Every response that carries personal data is marked ``Cache-Control: no-store``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse

from yiwang.core.web import DbSession, SignedInActor, error_body
from yiwang.registry import service as registry_service
from yiwang.registry.schemas import (
    EntityCreate,
    EntityLookup,
    EntityPage,
    EntityRead,
    EntityUpdate,
    ImportReport,
    PersonCreate,
    PersonLookup,
    PersonPage,
    PersonRead,
    PersonUpdate,
    RevealRequest,
)
from yiwang.registry.uploads import read_upload


def _no_store(response: Response) -> None:
    response.headers["Cache-Control"] = "no-store"


router = APIRouter(prefix="/api/v1/registry", tags=["registry"], dependencies=[Depends(_no_store)])

_REFUSED = {422: {"description": "Refused: `import_refused` with every bad row in `errors`, or a bad file."}}


def _import_response(report: ImportReport) -> ImportReport | JSONResponse:
    if not report.refused:
        return report
    # Returned, not raised: the refusal's audit entry commits with the request.
    body = error_body(registry_service.import_refused_error(report))
    body["report"] = report.model_dump(mode="json")
    return JSONResponse(body, status_code=422, headers={"Cache-Control": "no-store"})


# -- persons -----------------------------------------------------------------------------------
@router.get("/persons", response_model=PersonPage)
def list_persons(
    session: DbSession, actor: SignedInActor, area_code: str | None = None, cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> PersonPage:
    """A page of persons (masked) in your ``registry.person.read`` areas, optionally within one area."""
    return registry_service.list_persons(session, actor, area_code=area_code, cursor=cursor, limit=limit)


@router.post("/persons", response_model=PersonRead, status_code=201)
def create_person(body: PersonCreate, session: DbSession, actor: SignedInActor) -> PersonRead:
    """Register a person (``registry.person.write`` in the area); the masked view back."""
    return registry_service.create_person(session, actor, body)


@router.post("/persons/lookup", response_model=PersonRead)
def lookup_person(body: PersonLookup, session: DbSession, actor: SignedInActor) -> PersonRead:
    """Find a person by ID number; masked, or with ``full`` and a ``purpose`` the full view (audited)."""
    return registry_service.find_person_by_id_number(session, actor, body.id_number, purpose=body.purpose,
                                                     full=body.full)


@router.post("/persons/import", response_model=ImportReport, responses=_REFUSED)
async def import_persons(
    request: Request, session: DbSession, actor: SignedInActor, file: Annotated[UploadFile, File()],
    skip_bad_rows: Annotated[bool, Form()] = False,
) -> ImportReport | JSONResponse:
    """Import a CSV of persons; all or nothing (422 with every bad row) unless ``skip_bad_rows``."""
    data = await read_upload(request, file)
    report = registry_service.import_persons_csv(session, actor, data, skip_bad_rows=skip_bad_rows)
    return _import_response(report)


@router.get("/persons/{person_id}", response_model=PersonRead)
def get_person(person_id: str, session: DbSession, actor: SignedInActor) -> PersonRead:
    """One person, masked (``registry.person.read`` in their area); audited."""
    return registry_service.get_person(session, actor, person_id)


@router.patch("/persons/{person_id}", response_model=PersonRead)
def update_person(person_id: str, body: PersonUpdate, session: DbSession, actor: SignedInActor) -> PersonRead:
    """Change the given fields of a person (``registry.person.write``); the masked view back."""
    return registry_service.update_person(session, actor, person_id, body)


@router.post("/persons/{person_id}/reveal", response_model=PersonRead)
def reveal_person(person_id: str, body: RevealRequest, session: DbSession, actor: SignedInActor) -> PersonRead:
    """The full view of a person for a stated purpose (``registry.person.read_personal``); audited."""
    return registry_service.get_person(session, actor, person_id, purpose=body.purpose, full=True)


@router.get("/me", response_model=PersonRead)
def my_person(session: DbSession, actor: SignedInActor) -> PersonRead:
    """A citizen's own person record, unmasked (audited as a self-read)."""
    return registry_service.get_my_person(session, actor)


@router.get("/me/entity", response_model=EntityRead)
def my_entity(session: DbSession, actor: SignedInActor) -> EntityRead:
    """The legal entity an enterprise agent acts for, unmasked (audited as a self-read)."""
    return registry_service.get_my_entity(session, actor)


# -- legal entities ----------------------------------------------------------------------------
@router.get("/entities", response_model=EntityPage)
def list_entities(
    session: DbSession, actor: SignedInActor, area_code: str | None = None, cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> EntityPage:
    """A page of legal entities (masked) in your ``registry.entity.read`` areas."""
    return registry_service.list_entities(session, actor, area_code=area_code, cursor=cursor, limit=limit)


@router.post("/entities", response_model=EntityRead, status_code=201)
def create_entity(body: EntityCreate, session: DbSession, actor: SignedInActor) -> EntityRead:
    """Register a legal entity (``registry.entity.write`` in the area); the masked view back."""
    return registry_service.create_entity(session, actor, body)


@router.post("/entities/lookup", response_model=EntityRead)
def lookup_entity(body: EntityLookup, session: DbSession, actor: SignedInActor) -> EntityRead:
    """Find a legal entity by unified social credit code; ``full`` with a ``purpose`` unmasks it."""
    return registry_service.find_entity_by_uscc(session, actor, body.uscc, purpose=body.purpose, full=body.full)


@router.post("/entities/import", response_model=ImportReport, responses=_REFUSED)
async def import_entities(
    request: Request, session: DbSession, actor: SignedInActor, file: Annotated[UploadFile, File()],
    skip_bad_rows: Annotated[bool, Form()] = False,
) -> ImportReport | JSONResponse:
    """Import a CSV of legal entities; all or nothing (422 with every bad row) unless ``skip_bad_rows``."""
    data = await read_upload(request, file)
    report = registry_service.import_entities_csv(session, actor, data, skip_bad_rows=skip_bad_rows)
    return _import_response(report)


@router.get("/entities/{entity_id}", response_model=EntityRead)
def get_entity(entity_id: str, session: DbSession, actor: SignedInActor) -> EntityRead:
    """One legal entity, masked (``registry.entity.read`` in its area); audited."""
    return registry_service.get_entity(session, actor, entity_id)


@router.patch("/entities/{entity_id}", response_model=EntityRead)
def update_entity(entity_id: str, body: EntityUpdate, session: DbSession, actor: SignedInActor) -> EntityRead:
    """Change the given fields of a legal entity (``registry.entity.write``); the masked view back."""
    return registry_service.update_entity(session, actor, entity_id, body)


@router.post("/entities/{entity_id}/reveal", response_model=EntityRead)
def reveal_entity(entity_id: str, body: RevealRequest, session: DbSession, actor: SignedInActor) -> EntityRead:
    """The full view of a legal entity for a stated purpose (``registry.entity.read_personal``); audited."""
    return registry_service.get_entity(session, actor, entity_id, purpose=body.purpose, full=True)

