"""JSON API of the service catalogue under ``/api/v1/catalog``. Reading and search are public;
publishing, import and export need ``catalog.manage``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, File, Form, UploadFile
from fastapi.responses import PlainTextResponse

from yiwang.catalog import service as catalog_service
from yiwang.catalog.schemas import (
    BundleVersionRead,
    FormRead,
    ImportReport,
    ItemPage,
    ItemVersionRead,
    SearchHit,
)
from yiwang.core.web import CurrentActor, DbSession, ReadDbSession

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog"])


@router.get("/items", response_model=ItemPage)
def list_items(
    session: ReadDbSession, department: str | None = None, kind: str | None = None, area_code: str | None = None,
    cursor: str | None = None,
) -> ItemPage:
    """Current service items in code order, filtered by department, kind or area; paged by cursor."""
    return catalog_service.list_items(session, department=department, kind=kind, area_code=area_code, cursor=cursor)


@router.get("/items/{code}", response_model=ItemVersionRead)
def get_item(code: str, session: ReadDbSession, version: int | None = None) -> ItemVersionRead:
    """One service item: its current version, or version number ``version``."""
    return catalog_service.get_item(session, code, version)


@router.post("/items", response_model=ItemVersionRead, status_code=201)
def create_item(body: Annotated[dict[str, Any], Body()], session: DbSession, actor: CurrentActor) -> ItemVersionRead:
    """Create a service item with its first published version (``catalog.manage``)."""
    catalog_service.require_manage(actor)
    data = dict(body)
    return catalog_service.create_item(session, actor, str(data.pop("code", "")), data)


@router.post("/items/{code}/versions", response_model=ItemVersionRead, status_code=201)
def publish_item_version(
    code: str, body: Annotated[dict[str, Any], Body()], session: DbSession, actor: CurrentActor,
) -> ItemVersionRead:
    """Publish a new version of a service item and make it current (``catalog.manage``)."""
    catalog_service.require_manage(actor)
    data = {k: v for k, v in body.items() if k != "code"}
    return catalog_service.publish_item_version(session, actor, code, data)


@router.get("/bundles", response_model=list[BundleVersionRead])
def list_bundles(session: ReadDbSession) -> list[BundleVersionRead]:
    """Current bundles (一件事) in code order."""
    return catalog_service.list_bundles(session)


@router.get("/bundles/{code}", response_model=BundleVersionRead)
def get_bundle(code: str, session: ReadDbSession) -> BundleVersionRead:
    """One bundle's current version."""
    return catalog_service.get_bundle(session, code)


@router.get("/bundles/{code}/form", response_model=FormRead)
def bundle_form(code: str, session: ReadDbSession) -> FormRead:
    """The bundle's merged form: each field asked once, with the items that ask for it."""
    return catalog_service.merged_form(session, code)


@router.get("/search", response_model=list[SearchHit])
def search(session: ReadDbSession, q: str = "", area_code: str | None = None, limit: int = 20) -> list[SearchHit]:
    """Items and bundles for a query in Chinese, best first."""
    return catalog_service.search(session, q, area_code=area_code, limit=max(1, min(limit, 100)))


@router.post("/import", response_model=ImportReport)
async def import_catalog(
    session: DbSession,
    actor: CurrentActor,
    file: Annotated[UploadFile, File()],
    format: Annotated[Literal["yaml", "json"] | None, Form()] = None,
    skip_bad: Annotated[bool, Form()] = False,
) -> ImportReport:
    """Import items and bundles from YAML or JSON (``catalog.manage``); all or nothing unless ``skip_bad``."""
    catalog_service.require_manage(actor)
    fmt = format or ("json" if (file.filename or "").lower().endswith(".json") else "yaml")
    return catalog_service.import_catalog(session, actor, await file.read(), fmt, skip_bad=skip_bad)


@router.get("/export", response_class=PlainTextResponse)
def export_catalog(session: ReadDbSession, actor: CurrentActor, format: Literal["yaml", "json"] = "yaml") -> PlainTextResponse:
    """The current catalogue as YAML or JSON (``catalog.manage``)."""
    catalog_service.require_manage(actor)
    media = "application/json" if format == "json" else "application/yaml"
    return PlainTextResponse(catalog_service.export_catalog(session, format), media_type=media, headers={
        "Content-Disposition": f'attachment; filename="catalog.{format}"'})
