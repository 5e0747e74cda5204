"""Pages of the data catalogue for staff: data officers (``datacat.manage``) and readers
(``datacat.read``).

- ``/datacat`` — the catalogue (政务信息资源目录) with filters by state and department, late updates flagged.
- ``/datacat/new`` and ``/datacat/resources/{ref}/edit`` — the GB/T 21063 metadata and the fields
  table, each field graded 核心/重要/一般 (with a level) and marked as a quasi-identifier or not.
- ``/datacat/resources/{ref}`` — one resource: metadata and its history, each table with its
  versions, row errors and the gate's report, the upload form, the de-identification steps
  editor (re-scans the latest upload), open/close, grants and conditional-access requests.
- ``/datacat/distributions/{distribution_id}/preview`` — the first rows as the viewer's grant allows
  (masked fields are named; an unmasked read of sensitive fields is audited by the service).
- ``/datacat/responsibilities`` (责任清单), ``/datacat/demands`` (需求清单, answered here) and
  ``/datacat/access-requests`` (有条件开放 requests waiting for a decision).

A gate refusal is not an error: the refused version is kept with its report, so after an upload, a
change of steps or an attempt to open, the page is shown again and the report is read from the
stored version. Every route is a thin front door to :mod:`yiwang.datacat.service`.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from yiwang.areas import service as areas_service
from yiwang.core.actor import Actor
from yiwang.core.context import locale_var
from yiwang.core.db import utcnow
from yiwang.core.errors import (
    AppError,
    AuthenticationRequired,
    NotFoundError,
    PermissionDenied,
    ValidationFailed,
)
from yiwang.core.i18n import DEFAULT_LOCALE, translate
from yiwang.core.web import (
    CurrentActor,
    DbSession,
    SignedInActor,
    login_redirect,
    read_form,
    render,
    require_somewhere,
)
from yiwang.datacat import errors, gate, repository, service
from yiwang.datacat.models import sensitivity
from yiwang.datacat.schemas import (
    FORMAT_NAMES,
    GRADE_NAMES,
    OPENING_NAMES,
    SHARING_NAMES,
    TOPICS,
    UPDATE_CYCLE_NAMES,
    ResourceIn,
)

router = APIRouter(prefix="/datacat", tags=["datacat"], include_in_schema=False)

PAGE = 50
"""Resources per page of the catalogue (newest change first, paged by the time of the last change)."""
BLANK_FIELD_ROWS = 3
"""Empty rows under the fields table, to add fields without script."""
FIELD_TYPE_NAMES = {"text": "文本", "integer": "整数", "number": "数值", "date": "日期", "datetime": "日期时间",
                    "boolean": "布尔"}
STATE_LABELS = {"draft": "Draft", "open": "Open", "refused": "Refused by the gate", "closed": "Closed"}
STATE_TONES = {"draft": "muted", "open": "success", "refused": "danger", "closed": "warning"}
VERSION_LABELS = {"uploaded": "Uploaded", "open": "Open", "replaced": "Replaced", "refused": "Refused by the gate"}
STEP_ACTIONS = {"": "No step", "mask": "Mask", "generalise": "Generalise", "drop": "Drop the field"}
STEP_TARGETS = {"year": "To the year", "district": "To the district", "range": "To a range of width"}
DEMAND_STATUS = {"open": "Waiting for an answer", "answered": "Answered", "fulfilled": "Fulfilled",
                 "declined": "Declined"}
ACCESS_STATUS = {"pending": "Waiting for a decision", "approved": "Approved", "rejected": "Rejected",
                 "revoked": "Revoked"}
SENSITIVITY_LABELS = {1: "一般 level 1", 2: "一般 level 2", 3: "一般 level 3", 4: "一般 level 4", 5: "重要",
                      6: "核心"}
DONE_MESSAGES = {
    "created": "The data resource is catalogued.", "updated": "A new metadata version is saved.",
    "uploaded": "The table is uploaded and passed the gate.",
    "file_uploaded": "The document is uploaded; it opens once a data officer has reviewed it.",
    "upload_refused": "The table is uploaded but the gate refused it; see its report below.",
    "steps": "The de-identification steps are saved and the latest upload now passes the gate.",
    "steps_refused": "The de-identification steps are saved, but the latest upload still does not pass the gate.",
    "opened": "The data resource is open on the portal.",
    "open_refused": "The gate refused to open the resource; see the reports of its tables below.",
    "closed": "The data resource is withdrawn from the portal.", "granted": "The grant is recorded.",
    "reviewed": "The review of the document is recorded.",
    "revoked": "The grant is revoked.", "answered": "The answer is recorded.", "decided": "The decision is recorded.",
}
FIELD_LABELS = {
    "name": "URL name", "code": "Resource code", "title": "Resource name", "department_id": "Provider department",
    "summary": "Summary", "topic": "Topic", "format": "Resource format", "update_cycle": "Update cycle",
    "sharing": "Sharing attribute", "sharing_conditions": "Sharing conditions", "opening": "Opening attribute",
    "opening_conditions": "Opening conditions", "license_id": "Licence", "tags": "Tags", "fields": "Fields",
    "note": "Note of this version", "title_": "Title", "answer": "Answer", "resource": "Resource",
    "status": "Status", "purpose": "Purpose", "max_sensitivity": "Highest grade shown", "organisation": "Organisation",
}
RESOURCE_KEYS = ("name", "code", "title", "department_id", "summary", "topic", "format", "update_cycle", "sharing",
                 "sharing_conditions", "opening", "opening_conditions", "license_id", "note")


# -- small helpers ----------------------------------------------------------------------------------




def _refusal(exc: AppError) -> bool:
    return isinstance(exc, AuthenticationRequired | PermissionDenied | NotFoundError)


def _done(value: str | None) -> str | None:
    return DONE_MESSAGES.get(value or "")


def _problems(exc: AppError) -> list[str]:
    """Each field's problem of a refused form, as a sentence naming the field in the user's language."""
    out = []
    for e in getattr(exc, "errors", None) or []:
        if not isinstance(e, dict):
            continue
        loc = str(e.get("field", "")).split(".")
        if loc and loc[0] == "fields" and len(loc) > 1 and loc[1].isdigit():
            sub = translate(FIELD_LABELS.get(loc[2], loc[2])) if len(loc) > 2 else ""
            out.append(translate("Field row {n}: please check {label}.", n=int(loc[1]) + 1, label=sub))
        else:
            label = translate(FIELD_LABELS.get(loc[0], loc[0] or "The form"))
            out.append(translate("Please check {label}.", label=label))
    return out


async def _read_form(request: Request) -> tuple[dict[str, str], dict[str, list[str]], tuple[str, bytes] | None]:
    """Posted fields (first value), every value of repeated fields, and the uploaded table (name,
    bytes), read at most one byte over the service's limit (the service refuses larger)."""
    fields, many, files = await read_form(request, keep_file=lambda key: key == "file",
                                          limit=service.MAX_DATA_BYTES + 1)
    return fields, many, (files[0][1], files[0][2]) if files else None


def _departments(session: Session) -> list[Any]:
    """All departments, by code (a city has a few hundred)."""
    return sorted(areas_service.list_departments(session), key=lambda d: d.code)


def _managed_departments(session: Session, actor: Actor) -> list[Any]:
    return [d for d in _departments(session)
            if actor.can(service.MANAGE, area_code=d.area_code, department_id=d.id)]


def _dept_names(session: Session, ids: set[str]) -> dict[str, str]:
    return {k: d.name for k, d in areas_service.departments_by_ids(session, {i for i in ids if i}).items()}


def _may_manage(session: Session, actor: Actor, department_id: str) -> bool:
    names = areas_service.departments_by_ids(session, {department_id})
    dept = names.get(department_id)
    return dept is not None and actor.can(service.MANAGE, area_code=dept.area_code, department_id=department_id)


def _labels() -> dict[str, Any]:
    return {"topics": TOPICS, "cycles": UPDATE_CYCLE_NAMES, "openings": OPENING_NAMES, "sharings": SHARING_NAMES,
            "grades": GRADE_NAMES, "formats": FORMAT_NAMES, "field_types": FIELD_TYPE_NAMES,
            "state_labels": STATE_LABELS, "state_tones": STATE_TONES, "version_labels": VERSION_LABELS,
            "step_actions": STEP_ACTIONS, "step_targets": STEP_TARGETS,
            "demand_status": DEMAND_STATUS, "access_status": ACCESS_STATUS, "sensitivity_labels": SENSITIVITY_LABELS}


def _late(due: Any) -> bool:
    if due is None:
        return False
    now = utcnow()
    if due.tzinfo is None and now.tzinfo is not None:
        now = now.replace(tzinfo=None)
    return due < now


# -- the catalogue ----------------------------------------------------------------------------------
@router.get("", response_class=HTMLResponse)
def catalogue(request: Request, session: DbSession, actor: CurrentActor, state: str | None = None,
              department: str | None = None, before: str | None = None) -> Response:
    """The catalogue for staff: filters by state and department, newest change first, late updates flagged."""
    if not actor.is_authenticated:
        return login_redirect(request)
    service.require_catalogue(actor)
    state = state if state in STATE_LABELS else None
    department = (department or "").strip() or None
    cursor = None
    if before:
        from datetime import datetime

        try:
            cursor = datetime.fromisoformat(before)
        except ValueError:
            cursor = None
    rows = repository.resources_page(session, department_id=department, state=state, before=cursor, limit=PAGE + 1)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    names = _dept_names(session, {r.department_id for r in rows})
    items = [{"id": r.id, "name": r.name, "code": r.code, "title": r.title, "department": names.get(r.department_id, ""),
              "topic": r.topic, "state": r.state, "opening": r.opening, "update_cycle": r.update_cycle,
              "updated_at": r.updated_at, "due": r.next_update_due, "late": _late(r.next_update_due)} for r in rows]
    next_url = None
    if more and rows:
        query = {k: v for k, v in (("state", state), ("department", department)) if v}
        query["before"] = rows[-1].updated_at.isoformat()
        next_url = "/datacat?" + urlencode(query)
    return render(request, "datacat/staff/catalogue.html", {
        "items": items, "state": state or "", "department": department or "", "departments": _departments(session),
        "next_url": next_url, "may_create": bool(actor.scopes(service.MANAGE)), **_labels()})


# -- the resource form ------------------------------------------------------------------------------
def _field_rows(many: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The fields table of the form: one row per position (empty names are left out); the
    quasi-identifier checkboxes post the positions that are ticked."""
    names = many.get("f_name", [])
    ticked = set(many.get("f_qi", []))

    def at(key: str, i: int, default: str = "") -> str:
        values = many.get(key, [])
        return values[i] if i < len(values) else default

    rows = []
    for i, name in enumerate(names):
        if not name.strip():
            continue
        level = at("f_level", i, "1")
        rows.append({"name": name.strip(), "title": at("f_title", i).strip(), "type": at("f_type", i, "text"),
                     "grade": at("f_grade", i, "general"), "level": int(level) if level.isdigit() else 1,
                     "quasi_identifier": str(i) in ticked, "description": at("f_description", i).strip()})
    return rows


def _resource_values(fields: dict[str, str], many: dict[str, list[str]]) -> dict[str, Any]:
    values: dict[str, Any] = {k: (fields.get(k) or "").strip() for k in RESOURCE_KEYS}
    values["license_id"] = values["license_id"] or "cc-by-4.0"
    values["tags"] = [t.strip() for t in (fields.get("tags") or "").replace("，", ",").split(",") if t.strip()]
    values["fields"] = _field_rows(many)
    return values


def _form(request: Request, session: Session, actor: Actor, *, values: dict[str, Any], resource: Any = None,
          status_code: int = 200, error: str | None = None, problems: list[str] | None = None) -> HTMLResponse:
    return render(request, "datacat/staff/form.html", {
        "values": values, "resource": resource, "error": error, "problems": problems or [],
        "departments": _managed_departments(session, actor), "blank_rows": BLANK_FIELD_ROWS, **_labels()},
        status_code=status_code)


@router.get("/new", response_class=HTMLResponse)
def new_resource(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """The form to catalogue a data resource: GB/T 21063 metadata and the graded fields."""
    if not actor.is_authenticated:
        return login_redirect(request)
    require_somewhere(actor, service.MANAGE)
    values = {"format": "table", "update_cycle": "irregular", "sharing": "unconditional", "opening": "none",
              "license_id": "cc-by-4.0", "tags": [], "fields": []}
    return _form(request, session, actor, values=values)


def _save(request: Request, session: Session, actor: Actor, fields: dict[str, str], many: dict[str, list[str]],
          ref: str | None) -> Response:
    require_somewhere(actor, service.MANAGE)
    values = _resource_values(fields, many)
    resource = service.show(session, service.get(session, ref)) if ref else None
    try:
        try:
            data = ResourceIn.model_validate(values)
        except ValidationError as exc:
            raise ValidationFailed(errors=[{"field": ".".join(map(str, e["loc"])), "message": e["msg"]}
                                           for e in exc.errors()]) from None
        if ref is None:
            saved = service.create_resource(session, actor, data)
            done = "created"
        else:
            saved = service.update_resource(session, actor, ref, data.model_dump(), replace=True)
            done = "updated"
    except AppError as exc:
        if _refusal(exc):
            raise
        session.rollback()
        return _form(request, session, actor, values=values, resource=resource, status_code=exc.status,
                     error=exc.render(), problems=_problems(exc))
    return RedirectResponse(f"/datacat/resources/{saved.id}?done={done}", status_code=303)


@router.post("/new", response_class=HTMLResponse)
async def create_resource(request: Request, session: DbSession, actor: SignedInActor) -> Response:
    """Catalogue the resource (metadata version 1); re-shows the form with the problems on refusal."""
    require_somewhere(actor, service.MANAGE)
    fields, many, _ = await _read_form(request)
    return await run_in_threadpool(_save, request, session, actor, fields, many, None)


@router.get("/resources/{ref}/edit", response_class=HTMLResponse)
def edit_resource(ref: str, request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """The resource's metadata and fields to change (the provider department's data officer)."""
    if not actor.is_authenticated:
        return login_redirect(request)
    require_somewhere(actor, service.MANAGE)
    res = service.show(session, service.get(session, ref))
    if not _may_manage(session, actor, res.department_id):
        raise PermissionDenied(permission=service.MANAGE, target=f"data_resource:{res.id}")
    values = res.model_dump(include=set(RESOURCE_KEYS) | {"tags"})
    values["note"] = ""
    values["fields"] = [f.model_dump() for f in res.fields]
    return _form(request, session, actor, values=values, resource=res)


@router.post("/resources/{ref}/edit", response_class=HTMLResponse)
async def update_resource(ref: str, request: Request, session: DbSession, actor: SignedInActor) -> Response:
    """Save a new metadata version (an open resource's tables are scanned again with the new grades)."""
    require_somewhere(actor, service.MANAGE)
    fields, many, _ = await _read_form(request)
    return await run_in_threadpool(_save, request, session, actor, fields, many, ref)


# -- the resource page ------------------------------------------------------------------------------
def _report_view(report: dict[str, Any]) -> dict[str, Any]:
    """The stored gate report, shaped for the page: one sentence per finding (the gate's own
    wording, in the reader's language), each with the field it names."""
    if not report or "passed" not in report:
        return {"passed": None, "lines": [], "rows_scanned": None}
    if "unscanned" in report:  # a document: reviewed by a data officer, or waiting for it
        text = (translate("Reviewed by a data officer: {note}", note=report.get("note", "")) if report["passed"]
                else translate(service.UNREVIEWED))
        return {"passed": bool(report["passed"]), "lines": [{"field": "", "kind": "review", "text": text}],
                "rows_scanned": None}
    try:
        parsed = gate.Report.from_dict(report)
    except (KeyError, TypeError, ValueError):
        return {"passed": None, "lines": [], "rows_scanned": None}
    zh = (locale_var.get() or DEFAULT_LOCALE) != "en"
    sep = "、" if zh else ", "
    lines: list[dict[str, str]] = []
    for h in parsed.hits:
        text = translate("field “{field}” rows {rows}{more} hold {count} {kind}", field=h.field,
                         rows=sep.join(str(r) for r in h.rows), more="…" if h.count > len(h.rows) else "",
                         count=h.count, kind=translate(gate.KIND_LABELS.get(h.kind, h.kind)))
        lines.append({"field": h.field, "kind": h.kind, "text": text})
    for name in parsed.graded:
        msgid = ("field “{field}” is core data: only dropping it lets the data open, masking or generalising "
                 "is not enough") if name in parsed.core else \
            "field “{field}” is graded: mask, generalise or drop it before opening"
        lines.append({"field": name, "kind": "graded", "text": translate(msgid, field=name)})
    k = parsed.k_anonymity
    if k is not None and not k.passed:
        lines.append({"field": sep.join(k.quasi_identifiers), "kind": "k_anonymity", "text": translate(
            "k-anonymity not met (k = {k}, quasi-identifiers {fields}): the smallest group has {smallest} rows, "
            "{below} rows are in groups smaller than {k}", k=k.k, fields=sep.join(k.quasi_identifiers),
            smallest=k.smallest, below=k.rows_below)})
    return {"passed": parsed.passed, "lines": lines, "rows_scanned": parsed.rows_scanned}


def _steps_view(raw: str, field_names: list[str]) -> list[dict[str, str]]:
    """One row per field for the steps editor: its recorded action and target (``range:10`` split)."""
    try:
        recorded = {s["field"]: s for s in json.loads(raw or "[]") if isinstance(s, dict) and "field" in s}
    except (ValueError, TypeError):
        recorded = {}
    out = []
    for name in field_names:
        step = recorded.get(name, {})
        to = step.get("to") or ""
        width = ""
        if to.startswith("range:"):
            to, width = "range", to.split(":", 1)[1]
        out.append({"field": name, "action": step.get("action", ""), "to": to, "width": width})
    return out


def _resource_page(request: Request, session: Session, actor: Actor, ref: str, status_code: int = 200,
                   **extra: Any) -> HTMLResponse:
    service.require_catalogue(actor)
    row = service.get(session, ref)
    service.require_read(actor, session, row)
    res = service.show(session, row)
    may_manage = _may_manage(session, actor, res.department_id)
    field_names = [f.name for f in res.fields]
    tables = []
    for dist in repository.distributions_of(session, res.id):
        versions = service.versions(session, actor, dist.id)[:10]
        for v in versions:
            v["report_view"] = _report_view(v["report"] or {})
        tables.append({"id": dist.id, "name": dist.name, "format": dist.format, "rows": dist.row_count,
                       "kind": dist.kind, "versions": versions,
                       "open": dist.datastore_active or (dist.kind == "file" and row.state == "open"
                                                         and dist.current_version_id is not None),
                       "steps": _steps_view(dist.steps, field_names)})
    grants, requests = [], []
    if may_manage:
        grants = [{"id": g.id, "department_id": g.department_id, "max_sensitivity": g.max_sensitivity,
                   "purpose": g.purpose, "granted_at": g.granted_at, "expires_at": g.expires_at,
                   "revoked_at": g.revoked_at} for g in repository.grants_of(session, res.id, limit=50)]
        requests = service.access_requests(session, actor, resource_ref=res.id, status=None, limit=50)
    names = _dept_names(session, {res.department_id} | {g["department_id"] for g in grants})
    ctx = {"res": res, "department": names.get(res.department_id, ""), "history": service.history(session, actor, res.id)[:20],
           "tables": tables, "may_manage": may_manage, "grants": grants, "requests": requests, "dept_names": names,
           "departments": _departments(session) if may_manage else [], "late": _late(res.next_update_due),
           "field_sensitivity": {f.name: sensitivity(f.grade, f.level) for f in res.fields},
           "done": None, "error": None, "problems": [], "failed": None, **_labels()}
    ctx.update(extra)
    return render(request, "datacat/staff/resource.html", ctx, status_code=status_code)


@router.get("/resources/{ref}", response_class=HTMLResponse)
def resource_page(ref: str, request: Request, session: DbSession, actor: CurrentActor,
                  done: str | None = None) -> Response:
    """One resource: metadata with its history, tables with versions and gate reports, and the officer's actions."""
    if not actor.is_authenticated:
        return login_redirect(request)
    return _resource_page(request, session, actor, ref, done=_done(done))


def _steps_from(fields: dict[str, str], many: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The steps editor's rows (field, action, target, range width) as ``gate.Step`` dicts."""
    names, actions = many.get("s_field", []), many.get("s_action", [])
    targets, widths = many.get("s_to", []), many.get("s_width", [])
    steps = []
    for i, name in enumerate(names):
        action = actions[i] if i < len(actions) else ""
        if action not in ("mask", "generalise", "drop"):
            continue
        step: dict[str, Any] = {"field": name, "action": action}
        if action == "generalise":
            to = targets[i] if i < len(targets) else ""
            if to == "range":
                to = f"range:{(widths[i] if i < len(widths) else '').strip()}"
            step["to"] = to
        steps.append(step)
    return steps


def _resource_action(request: Request, session: Session, actor: Actor, ref: str, action: str,
                     fields: dict[str, str], many: dict[str, list[str]], upload: tuple[str, bytes] | None) -> Response:
    require_somewhere(actor, service.MANAGE)
    anchor = ""
    try:
        if action == "upload":
            if upload is None:
                raise errors.FormatUnsupported()
            filename, data = upload
            outcome = service.add_distribution(session, actor, ref, name=(fields.get("name") or "").strip(),
                                               data=data, filename=filename,
                                               description=(fields.get("description") or "").strip(),
                                               distribution_id=fields.get("distribution_id") or None)
            done = "uploaded" if outcome.passed else (
                "file_uploaded" if outcome.report.get("unscanned") else "upload_refused")
            anchor = f"#table-{outcome.distribution.id}" if outcome.distribution else ""
        elif action == "steps":
            dist_id = fields.get("distribution_id") or ""
            outcome = service.set_steps(session, actor, dist_id, _steps_from(fields, many))
            done = "steps" if outcome.passed else "steps_refused"
            anchor = f"#table-{dist_id}"
        elif action == "review":
            dist_id = fields.get("distribution_id") or ""
            service.review_file(session, actor, dist_id, note=(fields.get("note") or "").strip())
            done = "reviewed"
            anchor = f"#table-{dist_id}"
        elif action == "open":
            outcome = service.open_resource(session, actor, ref)
            done = "opened" if outcome.passed else "open_refused"
        elif action == "close":
            service.close_resource(session, actor, ref, reason=(fields.get("reason") or "").strip())
            done = "closed"
        else:  # grant
            try:
                level = int(fields.get("max_sensitivity") or "0")
            except ValueError:
                level = 0
            days = (fields.get("days") or "").strip()
            expires = utcnow() + timedelta(days=int(days)) if days.isdigit() and int(days) > 0 else None
            purpose = (fields.get("purpose") or "").strip()
            if not purpose:
                raise ValidationFailed(errors=[{"field": "purpose", "message": "required"}])
            service.grant(session, actor, ref, department_id=(fields.get("department_id") or "").strip() or "—",
                          max_sensitivity=level, purpose=purpose, expires_at=expires)
            done = "granted"
            anchor = "#grants"
    except AppError as exc:
        if _refusal(exc) and not isinstance(exc, errors.DistributionNotFound):
            raise
        session.rollback()
        return _resource_page(request, session, actor, ref, status_code=exc.status, error=exc.render(),
                              problems=_problems(exc), failed=action)
    return RedirectResponse(f"/datacat/resources/{service.get(session, ref).id}?done={done}{anchor}", status_code=303)


@router.post("/resources/{ref}/{action}", response_class=HTMLResponse)
async def resource_action(ref: str, action: str, request: Request, session: DbSession,
                          actor: SignedInActor) -> Response:
    """An officer's act on a resource: upload a table or document, save steps (re-scan), review a
    document, open, close, grant.
    A gate refusal is kept and shown with its report; other problems re-show the page."""
    require_somewhere(actor, service.MANAGE)
    if action not in ("upload", "steps", "review", "open", "close", "grant"):
        raise errors.ResourceNotFound(ref=f"{ref}/{action}")
    fields, many, upload = await _read_form(request)
    return await run_in_threadpool(_resource_action, request, session, actor, ref, action, fields, many, upload)


def _revoke(request: Request, session: Session, actor: Actor, grant_id: str, fields: dict[str, str]) -> Response:
    require_somewhere(actor, service.MANAGE)
    service.revoke_grant(session, actor, grant_id)
    back = (fields.get("resource") or "").strip()
    if back and repository.resource(session, back) is not None:
        return RedirectResponse(f"/datacat/resources/{quote(back, safe='')}?done=revoked#grants", status_code=303)
    return RedirectResponse("/datacat?done=revoked", status_code=303)


@router.post("/grants/{grant_id}/revoke", response_class=HTMLResponse)
async def revoke_grant(grant_id: str, request: Request, session: DbSession, actor: SignedInActor) -> Response:
    """Revoke a department's grant to see graded fields unmasked."""
    require_somewhere(actor, service.MANAGE)
    fields, _, _ = await _read_form(request)
    return await run_in_threadpool(_revoke, request, session, actor, grant_id, fields)


@router.get("/resources/{ref}/tables/{distribution_id}/preview", response_class=HTMLResponse)
def preview(ref: str, distribution_id: str, request: Request, session: DbSession, actor: CurrentActor,
            limit: int = 20) -> Response:
    """The first rows of a table's latest upload, fields above the viewer's grant masked (an
    unmasked read of sensitive fields is audited)."""
    if not actor.is_authenticated:
        return login_redirect(request)
    service.require_catalogue(actor)
    row = service.get(session, ref)
    service.require_read(actor, session, row)
    dist = next((d for d in repository.distributions_of(session, row.id) if d.id == distribution_id), None)
    if dist is None:
        raise errors.DistributionNotFound(ref=distribution_id)
    shown = service.preview(session, actor, distribution_id, limit=max(1, min(limit, 200)))
    res = service.show(session, row)
    titles = {f.name: f.title for f in res.fields}
    return render(request, "datacat/staff/preview.html", {"shown": shown, "dist": dist, "res": res,
                                                          "titles": titles, **_labels()})


# -- lists ------------------------------------------------------------------------------------------
@router.get("/responsibilities", response_class=HTMLResponse)
def responsibilities(request: Request, session: DbSession, actor: CurrentActor, department: str | None = None,
                     late: str | None = None) -> Response:
    """责任清单: which department owes which resource and by when, the late ones flagged."""
    if not actor.is_authenticated:
        return login_redirect(request)
    service.require_catalogue(actor)
    department = (department or "").strip() or None
    rows = service.responsibilities(session, actor, department_id=department, late_only=late == "1", limit=200)
    names = _dept_names(session, {r["department_id"] for r in rows})
    return render(request, "datacat/staff/responsibilities.html", {
        "rows": rows, "names": names, "department": department or "", "late": late == "1",
        "departments": _departments(session), **_labels()})


@router.get("/demands", response_class=HTMLResponse)
def demands(request: Request, session: DbSession, actor: CurrentActor, status: str | None = None,
            done: str | None = None) -> Response:
    """需求清单: requests for data not yet catalogued, newest first, with answer forms for officers."""
    if not actor.is_authenticated:
        return login_redirect(request)
    return _demands(request, session, actor, status=status, done=_done(done))


def _demands(request: Request, session: Session, actor: Actor, *, status: str | None, status_code: int = 200,
             **extra: Any) -> HTMLResponse:
    service.require_catalogue(actor)
    status = status if status in DEMAND_STATUS else None
    rows = repository.demands(session, status=status, limit=100)
    names = _dept_names(session, {d.target_department_id or "" for d in rows}
                        | {d.requester_department_id or "" for d in rows})
    ctx = {"rows": rows, "names": names, "status": status or "", "may_answer": bool(actor.scopes(service.MANAGE)),
           "done": None, "error": None, "failed_id": None, "values": {}, **_labels()}
    ctx.update(extra)
    return render(request, "datacat/staff/demands.html", ctx, status_code=status_code)


def _answer(request: Request, session: Session, actor: Actor, demand_id: str, fields: dict[str, str]) -> Response:
    require_somewhere(actor, service.MANAGE)
    try:
        service.answer_demand(session, actor, demand_id, status=fields.get("status") or "",
                              answer=fields.get("answer") or "", resource_ref=(fields.get("resource") or "").strip() or None)
    except AppError as exc:
        if isinstance(exc, AuthenticationRequired | PermissionDenied | errors.DemandNotFound):
            raise
        session.rollback()
        return _demands(request, session, actor, status=None, status_code=exc.status, error=exc.render(),
                        failed_id=demand_id, values=fields)
    return RedirectResponse("/datacat/demands?done=answered", status_code=303)


@router.post("/demands/{demand_id}/answer", response_class=HTMLResponse)
async def answer_demand(demand_id: str, request: Request, session: DbSession, actor: SignedInActor) -> Response:
    """Answer a demand: answered, fulfilled (naming the resource that serves it) or declined."""
    require_somewhere(actor, service.MANAGE)
    fields, _, _ = await _read_form(request)
    return await run_in_threadpool(_answer, request, session, actor, demand_id, fields)


@router.get("/access-requests", response_class=HTMLResponse)
def access_requests(request: Request, session: DbSession, actor: CurrentActor, done: str | None = None) -> Response:
    """有条件开放 requests waiting for a decision on the resources the officer manages."""
    if not actor.is_authenticated:
        return login_redirect(request)
    return _access_page(request, session, actor, done=_done(done))


def _access_page(request: Request, session: Session, actor: Actor, status_code: int = 200,
                 **extra: Any) -> HTMLResponse:
    require_somewhere(actor, service.MANAGE)
    pending = repository.access_requests(session, status="pending", limit=200)
    resources = {}
    for req in pending:
        if req.resource_id not in resources:
            resources[req.resource_id] = service.get(session, req.resource_id)
    rows = [{"req": r, "res": resources[r.resource_id]} for r in pending
            if _may_manage(session, actor, resources[r.resource_id].department_id)]
    ctx = {"rows": rows, "done": None, "error": None, **_labels()}
    ctx.update(extra)
    return render(request, "datacat/staff/access_requests.html", ctx, status_code=status_code)


def _decide(request: Request, session: Session, actor: Actor, request_id: str, fields: dict[str, str]) -> Response:
    require_somewhere(actor, service.MANAGE)
    days = (fields.get("days") or "").strip()
    try:
        service.decide_access(session, actor, request_id, approve=fields.get("decision") == "approve",
                              reason=(fields.get("reason") or "").strip(),
                              days=int(days) if days.isdigit() else service.ACCESS_DAYS)
    except AppError as exc:
        if _refusal(exc):
            raise
        session.rollback()
        return _access_page(request, session, actor, status_code=exc.status, error=exc.render())
    back = fields.get("back") or ""
    if back.startswith("/datacat/resources/"):
        return RedirectResponse(f"{back}?done=decided#requests", status_code=303)
    return RedirectResponse("/datacat/access-requests?done=decided", status_code=303)


@router.post("/access-requests/{request_id}/decide", response_class=HTMLResponse)
async def decide_access(request_id: str, request: Request, session: DbSession, actor: SignedInActor) -> Response:
    """Approve (for some days) or reject a 有条件开放 request."""
    require_somewhere(actor, service.MANAGE)
    fields, _, _ = await _read_form(request)
    return await run_in_threadpool(_decide, request, session, actor, request_id, fields)
