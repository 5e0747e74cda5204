"""Pages of the catalogue: the public service guide (search, an item's guide with its form preview,
a bundle's page with its merged form) and the administrators' catalogue (list, versions, publish a
new version from a YAML/JSON box with per-field errors, import and export).

The guide is public; the admin pages need ``catalog.manage`` (the services check the department's area).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from yiwang.areas import service as areas_service
from yiwang.catalog import errors, forms
from yiwang.catalog import service as catalog_service
from yiwang.core.errors import AppError, ValidationFailed
from yiwang.core.web import CurrentActor, DbSession, ReadDbSession, render

router = APIRouter(tags=["catalog"], include_in_schema=False)

KIND_LABELS = {"licence": "Administrative licence", "confirmation": "Administrative confirmation",
               "benefit": "Administrative benefit", "public_service": "Public service", "other": "Other"}
DEPTH_LABELS = {1: "Information only", 2: "Appointment online", 3: "Pre-check online", 4: "Fully online"}


def _department_names(session: Any, codes: set[str]) -> dict[str, str]:
    return {c: d.name for c, d in areas_service.departments_by_codes(session, [c for c in codes if c]).items()}


@router.get("/services", response_class=HTMLResponse)
def services(request: Request, session: ReadDbSession, q: str = "") -> HTMLResponse:
    """The public service guide: search box and results (bundles and items)."""
    q = q.strip()[:100]
    hits = catalog_service.search(session, q) if q else []
    bundles = [] if q else catalog_service.list_bundles(session)
    names = _department_names(session, {h.department_code or "" for h in hits})
    return render(request, "catalog/services.html", {"q": q, "hits": hits, "bundles": bundles, "departments": names})


@router.get("/services/bundles/{code}", response_class=HTMLResponse)
def bundle_page(code: str, request: Request, session: ReadDbSession) -> HTMLResponse:
    """A bundle's public page: the items it joins and its merged form."""
    bundle = catalog_service.get_bundle(session, code)
    items = [catalog_service.get_item(session, c) for c in bundle.item_codes]
    groups, form_error = [], None
    try:
        groups = forms.layout(catalog_service.merged_form(session, code).form)
    except AppError as exc:
        form_error = exc.render()
    return render(request, "catalog/bundle.html", {
        "bundle": bundle, "items": items, "groups": groups, "form_error": form_error,
        "departments": _department_names(session, {i.department_code for i in items})})


@router.get("/services/{code}", response_class=HTMLResponse)
def item_page(code: str, request: Request, session: ReadDbSession) -> HTMLResponse:
    """An item's public guide: department, time limits, fee, materials (which are exempt), form preview."""
    item = catalog_service.get_item(session, code)
    return render(request, "catalog/item.html", {
        "item": item, "department": _department_names(session, {item.department_code}).get(
            item.department_code, item.department_code),
        "kind_label": KIND_LABELS[item.kind], "depth_label": DEPTH_LABELS[item.online_depth],
        "groups": forms.layout(item.form)})


@router.get("/admin/catalog", response_class=HTMLResponse)
def admin_index(request: Request, session: DbSession, actor: CurrentActor, q: str = "") -> HTMLResponse:
    """The catalogue for administrators: items and bundles, or the search results."""
    catalog_service.require_manage(actor)
    q = q.strip()[:100]
    if q:
        codes = [h.code for h in catalog_service.search(session, q, limit=100) if h.kind == "item"]
        items = [catalog_service.get_item(session, c) for c in codes]
    else:
        items = catalog_service.list_items(session, limit=1000).items
    return render(request, "catalog/admin_index.html", {
        "q": q, "items": items, "bundles": catalog_service.list_bundles(session)})


def _dump(data: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=2)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=120)


def _item_ctx(session: Any, code: str, **kw: Any) -> dict[str, Any]:
    item = catalog_service.get_item(session, code)
    doc = catalog_service.catalog_item_document(item)
    doc.pop("code", None)
    return {"item": item, "versions": catalog_service.item_versions(session, code),
            "fmt": kw.get("fmt", "yaml"), "text": kw.pop("text", None) or _dump(doc, kw.get("fmt", "yaml")),
            "error": None, "errors": [], "published": None, **kw}


@router.get("/admin/catalog/items/{code}", response_class=HTMLResponse)
def admin_item(code: str, request: Request, session: DbSession, actor: CurrentActor,
               published: int | None = None) -> HTMLResponse:
    """One item's versions and the box to publish a new one."""
    catalog_service.require_manage(actor)
    return render(request, "catalog/admin_item.html", _item_ctx(session, code, published=published))


@router.post("/admin/catalog/items/{code}", response_class=HTMLResponse)
def admin_publish(
    code: str, request: Request, session: DbSession, actor: CurrentActor,
    text: Annotated[str, Form()] = "", fmt: Annotated[str, Form()] = "yaml",
) -> Response:
    """Publish a new version from the edit box; re-shows the box with each field's problem."""
    catalog_service.require_manage(actor)
    fmt = "json" if fmt == "json" else "yaml"
    try:
        data = json.loads(text) if fmt == "json" else yaml.safe_load(text)
        if not isinstance(data, dict):
            raise ValueError("not a mapping")
    except (ValueError, yaml.YAMLError) as exc:
        err = errors.ImportFormatInvalid(fmt=fmt.upper(), reason=str(exc).splitlines()[0][:200])
        return render(request, "catalog/admin_item.html",
                      _item_ctx(session, code, text=text, fmt=fmt, error=err.render()), status_code=422)
    data.pop("code", None)
    try:
        version = catalog_service.publish_item_version(session, actor, code, data)
    except ValidationFailed as exc:
        return render(request, "catalog/admin_item.html", _item_ctx(
            session, code, text=text, fmt=fmt, error=exc.render(), errors=exc.errors), status_code=422)
    return RedirectResponse(f"/admin/catalog/items/{code}?published={version.version}", status_code=303)


@router.get("/admin/catalog/import", response_class=HTMLResponse)
def admin_import_form(request: Request, actor: CurrentActor) -> HTMLResponse:
    """The import form and the export downloads."""
    catalog_service.require_manage(actor)
    return render(request, "catalog/admin_import.html", {"report": None, "error": None, "errors": []})


@router.post("/admin/catalog/import", response_class=HTMLResponse)
async def admin_import(
    request: Request, session: DbSession, actor: CurrentActor,
    file: Annotated[UploadFile, File()], skip_bad: Annotated[bool, Form()] = False,
) -> HTMLResponse:
    """Import a catalogue file; shows each entry's problems when refused."""
    catalog_service.require_manage(actor)
    fmt = "json" if (file.filename or "").lower().endswith(".json") else "yaml"
    data = await file.read()
    try:
        report = catalog_service.import_catalog(session, actor, data, fmt, skip_bad=skip_bad)
    except errors.ImportRefused as exc:
        return render(request, "catalog/admin_import.html",
                      {"report": None, "error": exc.render(), "errors": exc.errors}, status_code=422)
    except errors.ImportFormatInvalid as exc:
        return render(request, "catalog/admin_import.html",
                      {"report": None, "error": exc.render(), "errors": []}, status_code=422)
    return render(request, "catalog/admin_import.html",
                  {"report": report, "error": None, "errors": [e.model_dump() for e in report.errors]})
