"""Admin pages of areas and departments: browse the tree city → grid with a boundary preview,
create areas, import a file with a per-row error table, list and create departments.

Every page needs ``area.manage`` (areas) or ``department.manage`` (departments) somewhere; the
services check the subtree of each change.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from yiwang.areas import errors, geo
from yiwang.areas import service as areas_service
from yiwang.areas.schemas import AreaRead
from yiwang.core.actor import Actor
from yiwang.core.errors import AppError, AuthenticationRequired, PermissionDenied
from yiwang.core.web import CurrentActor, DbSession, render

router = APIRouter(tags=["areas"], include_in_schema=False)

#: The level a child of each level has.
CHILD_LEVEL = {"city": "district", "district": "street", "street": "community", "community": "grid"}
LEVEL_LABELS = {"city": "City", "district": "District", "street": "Street", "community": "Community", "grid": "Grid"}
KIND_LABELS = {
    "bureau": "Bureau", "commission": "Commission", "ops_centre": "City operations centre",
    "hotline": "Hotline", "police": "Police", "fire_rescue": "Fire and rescue", "street_office": "Street office",
    "team": "Team", "other": "Other",
}
MAP_LIMIT = 400
"""At most this many children are drawn in the preview (a street's grids, a city's districts)."""


def _require_somewhere(actor: Actor, permission: str) -> None:
    if not actor.is_authenticated:
        raise AuthenticationRequired()
    if not actor.scopes(permission):
        raise PermissionDenied(permission=permission)


def _ctx(**kw: Any) -> dict[str, Any]:
    return {"level_labels": LEVEL_LABELS, "kind_labels": KIND_LABELS, **kw}


def _preview(session: DbSession, area: AreaRead, kids: list[AreaRead]) -> geo.SvgMap | None:
    collection = areas_service.children_geojson(session, area.code) if len(kids) <= MAP_LIMIT else None
    shapes = [(f["properties"]["code"], f["properties"]["name"], f["geometry"])
              for f in (collection or {}).get("features", [])]
    return geo.svg_map(areas_service.boundary(session, area.code), shapes)


@router.get("/admin/areas", response_class=HTMLResponse)
def areas_index(request: Request, session: DbSession, actor: CurrentActor) -> HTMLResponse:
    """The top-level areas and the way into the tree."""
    _require_somewhere(actor, "area.manage")
    return render(request, "areas/index.html", _ctx(roots=areas_service.roots(session)))


@router.get("/admin/areas/new", response_class=HTMLResponse)
def new_area_form(request: Request, session: DbSession, actor: CurrentActor, parent: str | None = None) -> HTMLResponse:
    """The form to create an area (under ``parent`` when given)."""
    _require_somewhere(actor, "area.manage")
    parent_area = areas_service.get_area(session, parent) if parent else None
    level = CHILD_LEVEL.get(parent_area.level, "grid") if parent_area else "city"
    return render(request, "areas/new.html", _ctx(parent=parent_area, form={
        "code": parent or "", "name": "", "level": level, "parent_code": parent or "", "boundary": ""}))


@router.post("/admin/areas/new", response_class=HTMLResponse)
def create_area(
    request: Request,
    session: DbSession,
    actor: CurrentActor,
    code: Annotated[str, Form()],
    name: Annotated[str, Form()],
    level: Annotated[str, Form()],
    parent_code: Annotated[str, Form()] = "",
    boundary: Annotated[str, Form()] = "",
) -> Response:
    """Create the area and show it; re-render the form with the message when refused."""
    _require_somewhere(actor, "area.manage")
    form = {"code": code, "name": name, "level": level, "parent_code": parent_code, "boundary": boundary}
    parent_area = areas_service.find_area(session, parent_code) if parent_code else None
    try:
        shape: Any = json.loads(boundary) if boundary.strip() else None
    except ValueError:
        shape = boundary  # the service names the problem
    try:
        if isinstance(shape, str):
            raise errors.AreaBoundaryInvalid(reason="not JSON")
        made = areas_service.create_area(session, actor, code=code.strip(), name=name, level=level,
                                         parent_code=parent_code.strip() or None, boundary=shape)
    except PermissionDenied:
        raise
    except AppError as exc:
        session.rollback()
        return render(request, "areas/new.html", _ctx(parent=parent_area, form=form, error=exc.render()),
                      status_code=exc.status)
    return RedirectResponse(f"/admin/areas/{made.code}", status_code=303)


@router.get("/admin/areas/import", response_class=HTMLResponse)
def import_form(request: Request, actor: CurrentActor) -> HTMLResponse:
    """The upload form for an areas file."""
    _require_somewhere(actor, "area.manage")
    return render(request, "areas/import.html", _ctx())


@router.post("/admin/areas/import", response_class=HTMLResponse)
async def import_upload(
    request: Request,
    session: DbSession,
    actor: CurrentActor,
    file: Annotated[UploadFile, File()],
    format: Annotated[str, Form()] = "auto",
    skip_bad_rows: Annotated[str | None, Form()] = None,
) -> HTMLResponse:
    """Import the file; show what was created and a table of every bad row."""
    _require_somewhere(actor, "area.manage")
    fmt = format if format in ("csv", "geojson") else (
        "geojson" if (file.filename or "").lower().endswith((".geojson", ".json")) else "csv")
    data = await file.read()
    try:
        report = areas_service.import_areas(session, actor, data, fmt, skip_bad_rows=bool(skip_bad_rows))
    except PermissionDenied:
        raise
    except errors.ImportRefused as exc:
        session.rollback()
        return render(request, "areas/import.html", _ctx(error=exc.render(), row_errors=exc.errors), status_code=422)
    except AppError as exc:
        session.rollback()
        return render(request, "areas/import.html", _ctx(error=exc.render()), status_code=exc.status)
    return render(request, "areas/import.html", _ctx(
        report=report, row_errors=[e.model_dump() for e in report.errors]))


@router.get("/admin/areas/{code}", response_class=HTMLResponse)
def area_page(code: str, request: Request, session: DbSession, actor: CurrentActor) -> HTMLResponse:
    """One area: where it sits, its facts, a preview of its children's boundaries, its children."""
    _require_somewhere(actor, "area.manage")
    area = areas_service.get_area(session, code)
    kids = areas_service.children(session, code)
    return render(request, "areas/area.html", _ctx(
        area=area,
        chain=areas_service.ancestors(session, code),
        children=kids,
        counts=areas_service.count_by_level(session, code),
        preview=_preview(session, area, kids),
        child_level=CHILD_LEVEL.get(area.level),
        departments=areas_service.list_departments(session, code),
        can_manage=actor.can("area.manage", area_code=code),
    ))


# -- departments -------------------------------------------------------------------------------------

def _departments_page(
    request: Request, session: DbSession, area: str | None, *, form: dict[str, str] | None = None,
    error: str | None = None, status_code: int = 200,
) -> HTMLResponse:
    rows = areas_service.list_departments(session, area or None, subtree=bool(area))
    names = {d.id: d.code for d in rows}
    return render(request, "areas/departments.html", _ctx(
        departments=rows, parents=names, area=area or "", kinds=areas_service.DEPARTMENT_KINDS,
        form=form or {"code": "", "name": "", "kind": "bureau", "area_code": area or "", "parent_code": ""},
        error=error,
    ), status_code=status_code)


@router.get("/admin/departments", response_class=HTMLResponse)
def departments_page(request: Request, session: DbSession, actor: CurrentActor, area: str | None = None) -> HTMLResponse:
    """Departments (of one area's subtree when ``area`` is given) and the form to add one."""
    _require_somewhere(actor, "department.manage")
    return _departments_page(request, session, area)


@router.post("/admin/departments", response_class=HTMLResponse)
def create_department(
    request: Request,
    session: DbSession,
    actor: CurrentActor,
    code: Annotated[str, Form()],
    name: Annotated[str, Form()],
    area_code: Annotated[str, Form()],
    kind: Annotated[str, Form()] = "bureau",
    parent_code: Annotated[str, Form()] = "",
) -> Response:
    """Create the department; re-render the form with the message when refused."""
    _require_somewhere(actor, "department.manage")
    form = {"code": code, "name": name, "kind": kind, "area_code": area_code, "parent_code": parent_code}
    try:
        parent_id = None
        if parent_code.strip():
            found = areas_service.departments_by_codes(session, [parent_code.strip()]).get(parent_code.strip())
            if found is None:
                raise errors.DepartmentParentInvalid(parent=parent_code.strip(), reason="it does not exist")
            parent_id = found.id
        areas_service.create_department(session, actor, code=code, name=name, area_code=area_code.strip(),
                                        kind=kind, parent_id=parent_id)
    except PermissionDenied:
        raise
    except AppError as exc:
        session.rollback()
        return _departments_page(request, session, None, form=form, error=exc.render(), status_code=exc.status)
    return RedirectResponse(f"/admin/departments?area={area_code.strip()}", status_code=303)
