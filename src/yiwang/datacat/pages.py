"""Pages of the open-data portal (数据开放门户), for everyone (journey 6).

- ``/opendata``: search in Chinese over the open catalogue, with facets as checkable filters (提供部门,
  主题, 格式, 更新周期, 开放属性) and their counts, sorting (最新, 相关度, 名称) and paging.
- ``/opendata/dataset/{name}``: a dataset's GB/T 21063 metadata, its fields (names and types, never
  grades), each table's first rows from the datastore, downloads (CSV, JSON, XLSX) and API help;
  views and downloads are counted. A 有条件开放 dataset shows rows and downloads only with access:
  signed-in users apply here, and an approved request's token is shown with how to use it.
- ``/opendata/download/{distribution_id}.{fmt}``: the whole table, streamed, when
  :func:`service.can_read_data` allows (an access token as ``Authorization`` or ``?token=``).
- ``/opendata/demands``: the public demand list (需求清单) and a form to ask for data not yet open.
- ``/opendata/my``: the signed-in user's access requests, with tokens of approved ones.

A dataset that is not open (draft, refused, closed, 不予开放) is a 404 like an unknown one. The staff
catalogue pages are elsewhere (``staff_pages``); every route here is a thin front door to
:mod:`yiwang.datacat.service`, :mod:`~yiwang.datacat.search` and :mod:`~yiwang.datacat.datastore`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from yiwang.areas import service as areas_service
from yiwang.core.actor import ANONYMOUS, Actor
from yiwang.core.db import utcnow
from yiwang.core.errors import (
    AppError,
    AuthenticationRequired,
    ConflictError,
    PermissionDenied,
    ValidationFailed,
)
from yiwang.core.jobs import settings_for
from yiwang.core.web import CurrentActor, DbSession, ReadDbSession, get_actor, login_redirect, render
from yiwang.datacat import datastore, errors, repository, search, service
from yiwang.datacat.models import DataResource, Distribution
from yiwang.datacat.schemas import OPENING_NAMES, TOPICS, UPDATE_CYCLE_NAMES, ResourceRead, facet_label

router = APIRouter(tags=["datacat"], include_in_schema=False)

PAGE_ROWS = 20
"""Datasets per page of search results."""
MAX_PAGE = 500
PREVIEW_ROWS = 20
FACET_LIMIT = 30
MAX_FILTER_VALUES = 5
"""Values ticked per facet (more are ignored)."""
EITHER = ("organization", "groups", "update_cycle", "opening")
"""Facets with one value per dataset: two ticked values mean either (tags and formats mean both)."""
MAX_QUERY = 100
MAX_TITLE = 200
MAX_TEXT = 2000

FACETS: dict[str, str] = {
    "organization": "Provider department", "groups": "Topic", "res_format": "Format",
    "update_cycle": "Update cycle", "opening": "Opening attribute",
}
"""The portal's facets (CKAN's field names, also the query parameters) → their English msgid."""
SORTS: dict[str, tuple[str, str]] = {
    "newest": ("metadata_modified desc", "Newest"),
    "relevance": ("score desc, metadata_modified desc", "Relevance"),
    "name": ("title_string asc", "Name"),
}
DOWNLOAD_FORMATS = ("csv", "json", "xlsx")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
FIELD_TYPES = {"text": "Text", "integer": "Integer", "number": "Number", "date": "Date",
               "datetime": "Date and time", "boolean": "Yes or no"}
ACCESS_LABELS = {"pending": "Waiting for a decision", "approved": "Approved", "rejected": "Rejected",
                 "revoked": "Access revoked", "expired": "Expired"}
ACCESS_TONES = {"pending": "info", "approved": "success", "rejected": "danger", "revoked": "muted", "expired": "muted"}
DEMAND_LABELS = {"open": "Waiting for an answer", "answered": "Answered", "fulfilled": "Data provided",
                 "declined": "Declined"}
DEMAND_TONES = {"open": "info", "answered": "success", "fulfilled": "success", "declined": "muted"}
DONE_MESSAGES = {
    "requested": "Your request for access is sent. The provider decides; you find the answer under My data access.",
    "demand": "Your demand is on the list. The department answers it here.",
}
DEMAND_LIMIT = 100


# -- helpers --------------------------------------------------------------------------------------


def _open_resource(session: Session, name: str) -> DataResource:
    """The resource by name (or id, or code) if it is on the portal; else the 404 of an unknown one."""
    row = service.get(session, name)
    if row.state != "open" or row.opening == "none":
        raise errors.ResourceNotFound(ref=name)
    return row


def _department_names(session: Session, ids: set[str]) -> dict[str, str]:
    return {i: d.name for i, d in areas_service.departments_by_ids(session, ids).items()} if ids else {}


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _content_disposition(title: str, fallback: str, fmt: str) -> str:
    """``attachment`` with the title as the file name (RFC 5987/6266) and an ASCII fallback."""
    safe_title = "".join(c for c in title if c not in '\\/:*?"<>|\r\n\t').strip() or fallback
    ascii_name = "".join(c for c in fallback if c.isascii() and (c.isalnum() or c in "-_")) or "data"
    return (f'attachment; filename="{ascii_name}.{fmt}"; '
            f"filename*=UTF-8''{quote(f'{safe_title}.{fmt}', safe='')}")


# -- search ---------------------------------------------------------------------------------------
@dataclass
class FacetValue:
    value: str
    label: str
    count: int
    checked: bool


@dataclass
class Hit:
    resource: ResourceRead
    department: str
    formats: list[str] = field(default_factory=list)


def _filters(request: Request) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name in FACETS:
        values = [v.strip()[:search.MAX_TERM] for v in request.query_params.getlist(name) if v.strip()]
        if values:
            out[name] = list(dict.fromkeys(values))[:MAX_FILTER_VALUES]
    return out


@router.get("/opendata", response_class=HTMLResponse)
def portal(request: Request, session: ReadDbSession, actor: CurrentActor, q: str = "", sort: str = "",
           page: int = 1) -> HTMLResponse:
    """The open-data portal: search with facets, sorting and paging over the open catalogue."""
    q = q.strip()[:MAX_QUERY]
    sort = sort if sort in SORTS else ("relevance" if q else "newest")
    page = max(1, min(page, MAX_PAGE))
    fq = _filters(request)
    result = search.query(session, q=q, fq=fq, sort=SORTS[sort][0], rows=PAGE_ROWS, start=(page - 1) * PAGE_ROWS,
                          facet_fields=tuple(FACETS), facet_limit=FACET_LIMIT, match_any=EITHER)
    shown = service.show_many(session, result.ids)
    dept_ids = {r.department_id for r in shown} | {v for v, _n in result.facets.get("organization", [])}
    dept_ids |= set(fq.get("organization", []))
    departments = _department_names(session, dept_ids)
    hits = [Hit(resource=r, department=departments.get(r.department_id, ""),
                formats=sorted({d.format for d in r.distributions if d.format})) for r in shown]
    facets: dict[str, list[FacetValue]] = {}
    for name in FACETS:
        counted = dict(result.facets.get(name, []))
        ticked = fq.get(name, [])
        for value in ticked:  # a ticked value stays on the list (to untick) even when nothing matches
            counted.setdefault(value, 0)
        facets[name] = [FacetValue(v, facet_label(name, v, departments), n, v in ticked)
                        for v, n in sorted(counted.items(), key=lambda kv: (-kv[1], kv[0]))]
    pages = max(1, math.ceil(result.count / PAGE_ROWS))

    def page_url(n: int) -> str:
        params: list[tuple[str, str]] = [("q", q)] if q else []
        params += [(k, v) for k, values in fq.items() for v in values]
        params += [("sort", sort), ("page", str(n))]
        return "/opendata?" + urlencode(params)

    return render(request, "datacat/portal/search.html", {
        "q": q, "sort": sort, "sorts": SORTS, "facets": facets, "facet_titles": FACETS, "hits": hits,
        "count": result.count, "page": page, "pages": pages, "page_url": page_url, "filtered": bool(fq),
        "topics": TOPICS, "cycles": UPDATE_CYCLE_NAMES, "openings": OPENING_NAMES,
    })


# -- the dataset page -------------------------------------------------------------------------------
@dataclass
class Table:
    distribution: Any
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    total: int | None = None
    problem: str = ""


@dataclass
class MyRequest:
    id: str
    resource_id: str
    status: str
    organisation: str
    purpose: str
    reason: str
    created_at: datetime
    expires_at: datetime | None
    token: str | None = None


def _status_of(req: Any, now: datetime) -> str:
    if req.status == "approved" and req.expires_at is not None and req.expires_at <= now:
        return "expired"
    return str(req.status)


def _my_requests(session: Session, actor: Actor, resource_id: str | None) -> list[MyRequest]:
    """The actor's access requests (newest first, bounded), for one resource or all, with the
    token of each approved, unexpired one."""
    if not actor.is_authenticated or actor.user_id is None:
        return []
    now = utcnow()
    out = []
    for req in service.access_requests(session, actor, resource_ref=None, status=None):
        if resource_id is not None and req.resource_id != resource_id:
            continue
        status = _status_of(req, now)
        token = service.access_token(session, actor, req.id) if status == "approved" else None
        out.append(MyRequest(id=req.id, resource_id=req.resource_id, status=status, organisation=req.organisation, purpose=req.purpose,
                             reason=req.reason, created_at=req.created_at, expires_at=req.expires_at, token=token))
    return out


def _tables(session: Session, resource: ResourceRead) -> list[Table]:
    settings = settings_for(session)
    out = []
    for dist in resource.distributions:
        if dist.kind != "table" or not dist.datastore_active:
            continue
        table = Table(distribution=dist)
        try:
            found = datastore.search(settings, dist.id, limit=PREVIEW_ROWS)
        except datastore.DatastoreError as exc:
            table.problem = exc.render()
        else:
            table.columns = [f["id"] for f in found["fields"] if f["id"] != "_id"]
            table.rows = [[r.get(c) for c in table.columns] for r in found["records"]]
            table.total = found.get("total")
        out.append(table)
    return out


def _dataset_context(request: Request, session: Session, actor: Actor, row: DataResource,
                     given_token: str = "") -> dict[str, Any]:
    resource = service.show(session, row)
    mine = _my_requests(session, actor, row.id) if row.opening == "conditional" else []
    token = given_token or next((m.token for m in mine if m.token), "")
    readable = service.can_read_data(session, actor, row, token or None)
    # A token from the visitor's own request is put into the links; one typed into the address stays there.
    link_token = token if readable and row.opening == "conditional" and token else ""
    departments = _department_names(session, {row.department_id})
    return {
        "resource": resource, "department": departments.get(row.department_id, ""),
        "topic": TOPICS.get(resource.topic, resource.topic), "cycle": UPDATE_CYCLE_NAMES.get(resource.update_cycle,
                                                                                              resource.update_cycle),
        "opening": OPENING_NAMES.get(resource.opening, resource.opening), "field_types": FIELD_TYPES,
        "readable": readable, "tables": _tables(session, resource) if readable else [],
        "files": [d for d in resource.distributions if d.kind != "table"],
        "conditional": row.opening == "conditional", "mine": mine, "token": link_token,
        "token_query": ("?" + urlencode({"token": link_token})) if link_token else "",
        "base_url": _base_url(request), "access_labels": ACCESS_LABELS, "access_tones": ACCESS_TONES,
        "pending": any(m.status == "pending" for m in mine), "values": {}, "field_errors": {}, "error": None,
    }


@router.get("/opendata/dataset/{name}", response_class=HTMLResponse)
def dataset(name: str, request: Request, session: ReadDbSession, actor: CurrentActor, token: str = "",
            done: str | None = None) -> HTMLResponse:
    """A dataset's metadata, fields, preview, downloads and API help; unknown or not open is 404."""
    row = _open_resource(session, name)
    ctx = _dataset_context(request, session, actor, row, token.strip()[:200])
    ctx["done"] = DONE_MESSAGES.get(done or "")
    service.record_view(request.app.state.db, row.id)
    return render(request, "datacat/portal/dataset.html", ctx)


@router.post("/opendata/dataset/{name}/access", response_class=HTMLResponse)
def request_access(name: str, request: Request, session: DbSession, actor: CurrentActor,
                   organisation: Annotated[str, Form()] = "", purpose: Annotated[str, Form()] = "") -> Response:
    """有条件开放: a signed-in user applies for access to a conditionally open dataset."""
    if not actor.is_authenticated:
        return login_redirect(request, f"/opendata/dataset/{name}")
    row = _open_resource(session, name)
    organisation, purpose = organisation.strip()[:MAX_TITLE], purpose.strip()[:MAX_TEXT]
    field_errors = {}
    if not organisation:
        field_errors["organisation"] = "Name the organisation you apply for (or your own name)."
    if not purpose:
        field_errors["purpose"] = "Say what you will use the data for."
    if not field_errors:
        try:
            service.request_access(session, actor, row.id, organisation=organisation, purpose=purpose)
        except (AuthenticationRequired, PermissionDenied):
            raise
        except AppError as exc:
            session.rollback()
            ctx = _dataset_context(request, session, actor, row)
            ctx.update(error=exc.render(), values={"organisation": organisation, "purpose": purpose}, done=None)
            return render(request, "datacat/portal/dataset.html", ctx, status_code=exc.status)
        return RedirectResponse(f"/opendata/dataset/{quote(row.name)}?done=requested#access", status_code=303)
    ctx = _dataset_context(request, session, actor, row)
    ctx.update(field_errors=field_errors, values={"organisation": organisation, "purpose": purpose}, done=None,
               error="Please correct the fields marked below.")
    return render(request, "datacat/portal/dataset.html", ctx, status_code=422)


# -- downloads ------------------------------------------------------------------------------------
async def _reader(request: Request) -> tuple[Actor, str | None]:
    """(actor, access token): the token from ``?token=`` or ``Authorization`` (CKAN sends it bare;
    ``Bearer`` is accepted too). A bearer access token is not an account's API token, so the
    sign-in is not tried with it."""
    given = request.query_params.get("token", "").strip()
    auth = request.headers.get("authorization", "").strip()
    bearer = auth[:7].lower() == "bearer "
    header = auth[7:].strip() if bearer else auth
    token = given or (header if header.startswith("ywa_") else "")
    if bearer and header.startswith("ywa_"):
        return ANONYMOUS, token
    return await get_actor(request), token or None


@router.get("/opendata/download/{distribution_id}.{fmt}")
def download(distribution_id: str, fmt: str, request: Request, session: ReadDbSession,
             reader: Annotated[tuple[Actor, str | None], Depends(_reader)]) -> Response:
    """Download a whole open table as CSV, JSON or XLSX (a conditional one with an access token)."""
    actor, token = reader
    fmt = fmt.lower()
    dist = session.get(Distribution, distribution_id)
    if dist is not None and dist.kind == "file" and fmt == dist.format.lower():
        title, file_format, data = service.open_file(session, actor, dist.id, token)
        service.record_download(request.app.state.db, dist.resource_id)
        return Response(data, media_type="application/pdf", headers={
            "Content-Disposition": _content_disposition(title, dist.id, file_format.lower()),
            "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
    if fmt not in DOWNLOAD_FORMATS or dist is None or dist.kind != "table":
        raise errors.DistributionNotFound(ref=distribution_id)
    row = session.get(DataResource, dist.resource_id)
    if row is None or row.state != "open" or row.opening == "none" or not dist.datastore_active:
        raise errors.DistributionNotFound(ref=distribution_id)
    if not service.can_read_data(session, actor, row, token):
        raise PermissionDenied("This dataset is open on conditions: apply for access on its page, then download"
                               " with your access token.", permission="datacat.access",
                               target=f"data_resource:{row.id}")
    try:
        body = datastore.export(settings_for(session), dist.id, fmt)
    except datastore.DatastoreError as exc:
        if exc.kind == "not_found":
            raise errors.DistributionNotFound(ref=distribution_id) from None
        raise ConflictError(exc.msgid, **exc.params) from None
    title = row.title if len(repository.distributions_of(session, row.id)) <= 1 else f"{row.title}-{dist.name}"
    service.record_download(request.app.state.db, row.id)
    return StreamingResponse(body, media_type=MEDIA_TYPES[fmt], headers={
        "Content-Disposition": _content_disposition(title, row.name, fmt), "Cache-Control": "no-store"})


# -- demands and my requests -----------------------------------------------------------------------
def _demands_page(request: Request, session: Session, *, values: dict[str, str] | None = None,
                  field_errors: dict[str, str] | None = None, error: str | None = None, done: str | None = None,
                  status_code: int = 200) -> HTMLResponse:
    rows = repository.demands(session, status=None, limit=DEMAND_LIMIT)
    return render(request, "datacat/portal/demands.html", {
        "demands": rows, "labels": DEMAND_LABELS, "tones": DEMAND_TONES, "values": values or {},
        "field_errors": field_errors or {}, "error": error, "done": DONE_MESSAGES.get(done or ""),
    }, status_code=status_code)


@router.get("/opendata/demands", response_class=HTMLResponse)
def demands(request: Request, session: ReadDbSession, actor: CurrentActor, done: str | None = None) -> HTMLResponse:
    """需求清单: requests for data not yet open, with their answers; a form for signed-in users."""
    return _demands_page(request, session, done=done)


@router.post("/opendata/demands", response_class=HTMLResponse)
def create_demand(request: Request, session: DbSession, actor: CurrentActor, title: Annotated[str, Form()] = "",
                  description: Annotated[str, Form()] = "") -> Response:
    """Ask for data that is not open yet (signed-in users); an empty title re-shows the form."""
    if not actor.is_authenticated:
        return login_redirect(request, "/opendata/demands")
    title, description = title.strip(), description.strip()
    values = {"title": title, "description": description}
    if not title or len(title) > MAX_TITLE:
        return _demands_page(request, session, values=values, status_code=422,
                             field_errors={"title": "Say in a few words which data you need (at most 200 characters)."},
                             error="Please correct the fields marked below.")
    try:
        service.create_demand(session, actor, title=title, description=description[:5000])
    except ValidationFailed as exc:
        session.rollback()
        return _demands_page(request, session, values=values, error=exc.render(), status_code=exc.status)
    return RedirectResponse("/opendata/demands?done=demand", status_code=303)


@router.get("/opendata/my", response_class=HTMLResponse)
def my_access(request: Request, session: ReadDbSession, actor: CurrentActor) -> Response:
    """The signed-in user's access requests for conditional datasets, with the tokens of approved ones."""
    if not actor.is_authenticated:
        return login_redirect(request)
    mine = _my_requests(session, actor, None)
    resources = {i: session.get(DataResource, i) for i in {m.resource_id for m in mine}}
    return render(request, "datacat/portal/my.html", {
        "mine": mine, "resources": resources, "labels": ACCESS_LABELS, "tones": ACCESS_TONES,
        "base_url": _base_url(request),
    })
