"""JSON API of areas and departments. Reading is public; changes need ``area.manage`` /
``department.manage`` over the subtree concerned."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse

from yiwang.areas import errors
from yiwang.areas import service as areas_service
from yiwang.areas.schemas import AreaCreate, AreaRead, DepartmentCreate, DepartmentRead, ImportReport
from yiwang.core.web import CurrentActor, DbSession, ReadDbSession

router = APIRouter(prefix="/api/v1", tags=["areas"])


class GeoJSONResponse(JSONResponse):
    media_type = "application/geo+json"


@router.get("/areas", response_model=list[AreaRead])
def list_top_areas(session: ReadDbSession) -> list[AreaRead]:
    """The top-level areas (cities)."""
    return areas_service.roots(session)


@router.get("/areas/locate", response_model=AreaRead)
def locate(
    session: ReadDbSession,
    lon: Annotated[float, Query(ge=-180, le=180)],
    lat: Annotated[float, Query(ge=-90, le=90)],
    crs: Literal["wgs84", "gcj02"] = "wgs84",
) -> AreaRead:
    """The grid containing a point (WGS-84 or GCJ-02); 404 ``area_not_found`` outside every grid."""
    found = areas_service.locate(session, lon, lat, crs)
    if found is None:
        raise errors.AreaNotFound("No grid contains the point ({lon}, {lat}).", lon=lon, lat=lat)
    return found


@router.get("/areas/{code}", response_model=AreaRead)
def get_area(code: str, session: ReadDbSession) -> AreaRead:
    """One area by code."""
    return areas_service.get_area(session, code)


@router.get("/areas/{code}/children", response_model=list[AreaRead])
def children(code: str, session: ReadDbSession) -> list[AreaRead]:
    """The direct children of an area, in code order."""
    return areas_service.children(session, code)


@router.get("/areas/{code}/ancestors", response_model=list[AreaRead])
def ancestors(code: str, session: ReadDbSession) -> list[AreaRead]:
    """The chain of areas above this one, from the city down."""
    return areas_service.ancestors(session, code)


@router.get("/areas/{code}/geojson", response_class=GeoJSONResponse)
def children_geojson(code: str, session: ReadDbSession) -> dict[str, Any]:
    """The children's boundaries as a GeoJSON FeatureCollection."""
    return areas_service.children_geojson(session, code)


@router.post("/areas", response_model=AreaRead, status_code=201)
def create_area(body: AreaCreate, session: DbSession, actor: CurrentActor) -> AreaRead:
    """Create an area under its parent (``area.manage`` over the parent's subtree)."""
    return areas_service.create_area(session, actor, **body.model_dump())


@router.post("/areas/import", response_model=ImportReport)
async def import_areas(
    session: DbSession,
    actor: CurrentActor,
    file: Annotated[UploadFile, File()],
    format: Annotated[Literal["csv", "geojson"] | None, Form()] = None,
    skip_bad_rows: Annotated[bool, Form()] = False,
) -> ImportReport:
    """Import areas from CSV or GeoJSON; all or nothing (422 ``import_refused`` with each row's
    problems) unless ``skip_bad_rows``."""
    fmt = format or ("geojson" if (file.filename or "").lower().endswith((".geojson", ".json")) else "csv")
    data = await file.read()
    return areas_service.import_areas(session, actor, data, fmt, skip_bad_rows=skip_bad_rows)


@router.get("/departments", response_model=list[DepartmentRead])
def list_departments(
    session: ReadDbSession, area_code: str | None = None, subtree: bool = False,
) -> list[DepartmentRead]:
    """Departments, optionally those whose home area is ``area_code`` (or in its subtree)."""
    return areas_service.list_departments(session, area_code, subtree=subtree)


@router.get("/departments/{department_id}", response_model=DepartmentRead)
def get_department(department_id: str, session: ReadDbSession) -> DepartmentRead:
    """One department by id."""
    return areas_service.get_department(session, department_id)


@router.post("/departments", response_model=DepartmentRead, status_code=201)
def create_department(body: DepartmentCreate, session: DbSession, actor: CurrentActor) -> DepartmentRead:
    """Create a department (``department.manage`` over its home area)."""
    return areas_service.create_department(session, actor, **body.model_dump())
