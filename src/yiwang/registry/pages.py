"""Staff pages of the base registries: look up a person by ID number (masked card, then the full
card for a stated purpose), look up a legal entity by USCC, and import a CSV file with a table of
every bad row.

ID numbers are posted in forms, never put in URLs. Every page with personal data is ``no-store``.
The services check permissions per record and write the audit entries.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from yiwang.core.actor import Actor
from yiwang.core.errors import AppError, AuthenticationRequired, PermissionDenied
from yiwang.core.web import CurrentActor, DbSession, render
from yiwang.registry import service as registry_service
from yiwang.registry.schemas import INDUSTRIES, EntityRead, PersonRead
from yiwang.registry.uploads import read_upload

router = APIRouter(tags=["registry"], include_in_schema=False)

GENDER_LABELS = {"M": "Male", "F": "Female"}
SIZE_LABELS = {"micro": "Micro", "small": "Small", "medium": "Medium", "large": "Large"}
STATUS_LABELS = {"active": "Active", "revoked": "Revoked", "deregistered": "Deregistered",
                 "moved_out": "Moved out"}


def _require_somewhere(actor: Actor, *permissions: str) -> None:
    if not actor.is_authenticated:
        raise AuthenticationRequired()
    if not any(actor.scopes(p) for p in permissions):
        raise PermissionDenied(permission=permissions[0])


def _page(request: Request, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    ctx = {"gender_labels": GENDER_LABELS, "size_labels": SIZE_LABELS, "status_labels": STATUS_LABELS,
           "industries": INDUSTRIES, **ctx}
    response = render(request, name, ctx, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


def _person_ctx(actor: Actor, person: PersonRead | None) -> dict[str, Any]:
    can_reveal = bool(person and person.view == "masked"
                      and actor.can("registry.person.read_personal", area_code=person.area_code))
    return {"person": person, "can_reveal": can_reveal}


def _entity_ctx(actor: Actor, entity: EntityRead | None) -> dict[str, Any]:
    can_reveal = bool(entity and entity.view == "masked"
                      and actor.can("registry.entity.read_personal", area_code=entity.area_code))
    return {"entity": entity, "can_reveal": can_reveal}


def _failed(session: Session, exc: AppError) -> str:
    session.rollback()
    return exc.render()


# -- persons -----------------------------------------------------------------------------------
@router.get("/registry/persons", response_class=HTMLResponse)
def persons_page(request: Request, actor: CurrentActor) -> HTMLResponse:
    """The person look-up form."""
    _require_somewhere(actor, "registry.person.read")
    return _page(request, "registry/persons.html", **_person_ctx(actor, None))


@router.post("/registry/persons/lookup", response_class=HTMLResponse)
def persons_lookup(request: Request, session: DbSession, actor: CurrentActor,
                   id_number: Annotated[str, Form()] = "") -> HTMLResponse:
    """Find a person by ID number and show the masked card."""
    _require_somewhere(actor, "registry.person.read")
    try:
        person = registry_service.find_person_by_id_number(session, actor, id_number)
    except PermissionDenied:
        raise
    except AppError as exc:
        return _page(request, "registry/persons.html", status_code=exc.status, error=_failed(session, exc),
                     **_person_ctx(actor, None))
    return _page(request, "registry/persons.html", **_person_ctx(actor, person))


@router.post("/registry/persons/{person_id}/reveal", response_class=HTMLResponse)
def persons_reveal(person_id: str, request: Request, session: DbSession, actor: CurrentActor,
                   purpose: Annotated[str, Form()] = "") -> HTMLResponse:
    """Show the full card for the purpose given (audited); without a purpose, the masked card again."""
    _require_somewhere(actor, "registry.person.read")
    try:
        person = registry_service.get_person(session, actor, person_id, purpose=purpose, full=True)
    except PermissionDenied:
        raise
    except AppError as exc:
        message = _failed(session, exc)
        try:
            masked = registry_service.get_person(session, actor, person_id)
        except AppError:
            session.rollback()
            masked = None
        return _page(request, "registry/persons.html", status_code=exc.status, reveal_error=message,
                     **_person_ctx(actor, masked))
    return _page(request, "registry/persons.html", **_person_ctx(actor, person))


# -- legal entities ----------------------------------------------------------------------------
@router.get("/registry/entities", response_class=HTMLResponse)
def entities_page(request: Request, actor: CurrentActor) -> HTMLResponse:
    """The legal-entity look-up form."""
    _require_somewhere(actor, "registry.entity.read")
    return _page(request, "registry/entities.html", **_entity_ctx(actor, None))


@router.post("/registry/entities/lookup", response_class=HTMLResponse)
def entities_lookup(request: Request, session: DbSession, actor: CurrentActor,
                    uscc: Annotated[str, Form()] = "") -> HTMLResponse:
    """Find a legal entity by unified social credit code and show the masked card."""
    _require_somewhere(actor, "registry.entity.read")
    try:
        entity = registry_service.find_entity_by_uscc(session, actor, uscc)
    except PermissionDenied:
        raise
    except AppError as exc:
        return _page(request, "registry/entities.html", status_code=exc.status, error=_failed(session, exc),
                     **_entity_ctx(actor, None))
    return _page(request, "registry/entities.html", **_entity_ctx(actor, entity))


@router.post("/registry/entities/{entity_id}/reveal", response_class=HTMLResponse)
def entities_reveal(entity_id: str, request: Request, session: DbSession, actor: CurrentActor,
                    purpose: Annotated[str, Form()] = "") -> HTMLResponse:
    """Show the entity's full card for the purpose given (audited)."""
    _require_somewhere(actor, "registry.entity.read")
    try:
        entity = registry_service.get_entity(session, actor, entity_id, purpose=purpose, full=True)
    except PermissionDenied:
        raise
    except AppError as exc:
        message = _failed(session, exc)
        try:
            masked = registry_service.get_entity(session, actor, entity_id)
        except AppError:
            session.rollback()
            masked = None
        return _page(request, "registry/entities.html", status_code=exc.status, reveal_error=message,
                     **_entity_ctx(actor, masked))
    return _page(request, "registry/entities.html", **_entity_ctx(actor, entity))


# -- import ------------------------------------------------------------------------------------
@router.get("/registry/import", response_class=HTMLResponse)
def import_page(request: Request, actor: CurrentActor) -> HTMLResponse:
    """The CSV upload form for persons or legal entities."""
    _require_somewhere(actor, "registry.person.import", "registry.entity.import")
    return _page(request, "registry/import.html", kind="persons")


@router.post("/registry/import", response_class=HTMLResponse)
async def import_upload(
    request: Request, session: DbSession, actor: CurrentActor, file: Annotated[UploadFile, File()],
    kind: Annotated[str, Form()] = "persons", skip_bad_rows: Annotated[str | None, Form()] = None,
) -> HTMLResponse:
    """Import the file; show the counts and a table of every bad row (nothing imported when refused)."""
    _require_somewhere(actor, "registry.person.import", "registry.entity.import")
    kind = "entities" if kind == "entities" else "persons"
    try:
        data = await read_upload(request, file)
        run = registry_service.import_entities_csv if kind == "entities" else registry_service.import_persons_csv
        report = run(session, actor, data, skip_bad_rows=bool(skip_bad_rows))
    except PermissionDenied:
        raise
    except AppError as exc:
        return _page(request, "registry/import.html", status_code=exc.status, kind=kind,
                     error=_failed(session, exc))
    if report.refused:
        # The refusal's audit entry commits with the request; nothing else was written.
        return _page(request, "registry/import.html", status_code=422, kind=kind, report=report,
                     error=registry_service.import_refused_error(report).render())
    return _page(request, "registry/import.html", kind=kind, report=report)
