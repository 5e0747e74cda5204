"""Pages of 一网通办 applications (办件): the citizen portal, the clerk's workbench, the approver's inbox.

- Citizen portal (citizens and enterprise agents): ``/apply/{kind}/{code}`` fills the form of an item
  or a bundle (pre-filled from the applicant's own registry record once they consent), lists the
  materials — those the platform holds marked as shared, the others uploaded on submit — and saves a
  draft or submits; ``/my/applications`` and ``/my/applications/{id}`` follow it: progress per
  branch, corrections (补正), certificates, withdrawal, rating.
- Clerk workbench (``application.intake``): ``/workbench`` is the intake queue, each application
  accepted (受理) or refused on its page; ``/workbench/hall`` files and accepts an application for an
  applicant at the counter of any district (全市通办).
- Approver inbox (``application.decide``): ``/inbox/tasks`` lists the branches waiting for the
  approver's departments by due date; a task's page shows the application, its materials, the
  branch's BPMN diagram and the decision buttons.

Every page is a thin front door to :mod:`yiwang.applications.service`; an ``AppError`` comes back as
a sentence in the reader's language, beside the field it concerns when there is one.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from yiwang.applications import errors, service
from yiwang.applications.schemas import ApplicationRead, BranchRead
from yiwang.areas import service as areas_service
from yiwang.catalog import service as catalog_service
from yiwang.catalog.schemas import FieldError, ItemVersionRead
from yiwang.certificates import service as certificates_service
from yiwang.core.actor import Actor
from yiwang.core.errors import AppError, AuthenticationRequired, PermissionDenied
from yiwang.core.web import (
    CurrentActor,
    DbSession,
    SignedInActor,
    login_redirect,
    read_form,
    render,
    require_somewhere,
)
from yiwang.files import service as files_service

router = APIRouter(tags=["applications"], include_in_schema=False)

APPLICANT_KINDS = ("citizen", "enterprise")
MATERIAL_FIELD = "material__"
"""Form names of materials: ``material__<code>`` (the file input), ``material__<code>__id`` (a file
already uploaded on an earlier try of the same form)."""
NOTE_LIMIT = 500
INBOX_PAGE = 50

STATUS_LABELS = {
    "draft": "Draft", "submitted": "Submitted", "in_review": "Under review", "correction": "Awaiting corrections",
    "closed": "Completed", "refused": "Not accepted", "withdrawn": "Withdrawn",
}
"""草稿 已提交 审查中 补正中 已办结 不予受理 已撤回."""
STATUS_TONES = {"draft": "muted", "submitted": "info", "in_review": "info", "correction": "warning",
                "closed": "success", "refused": "danger", "withdrawn": "muted"}
BRANCH_LABELS = {
    "pending": "Waiting for intake", "in_review": "Under review", "correction": "Awaiting corrections",
    "approved": "Approved by the department", "rejected": "Not approved", "withdrawn": "Stopped",
}
BRANCH_TONES = {"pending": "muted", "in_review": "info", "correction": "warning", "approved": "success",
                "rejected": "danger", "withdrawn": "muted"}
OUTCOME_LABELS = {"approved": "All approved", "partly_approved": "Partly approved", "rejected": "Not approved"}
CHANNEL_LABELS = {"online": "Online", "app": "Mobile app", "hall": "Service hall (city-wide)",
                  "hotline": "12345 hotline"}
DEADLINE_LABELS = {"ok": "On time", "warning": "Due soon", "overdue": "Past due", "paused": "Clock paused"}
EVENT_LABELS = {
    "created": "Application started", "submitted": "Application submitted", "accepted": "Accepted for processing",
    "refused": "Not accepted at intake", "branch_started": "Review started in the department",
    "step_done": "A review step was completed", "correction_requested": "Corrections requested",
    "corrected": "Corrections submitted", "approved": "The department approved",
    "rejected": "The department did not approve", "certificate_issued": "Certificate issued",
    "closed": "Application completed", "withdrawn": "Application withdrawn", "rated": "Service rated",
    "escalated": "Escalated as past due",
}
SOURCE_LABELS = {"registry": "Shared by government departments; no need to submit",
                 "certificate": "Shared by government departments; no need to submit",
                 "upload": "Uploaded"}
DONE_MESSAGES = {
    "draft": "The draft is saved.", "submitted": "The application is submitted.",
    "withdrawn": "The application is withdrawn.", "corrected": "Your corrections are submitted.",
    "rated": "Thank you for rating the service.", "accepted": "The application is accepted.",
    "refused": "The application is refused at intake.", "filed": "The application is filed and accepted.",
    "decided": "Your decision is recorded.",
}


# -- small helpers ----------------------------------------------------------------------------------


def _require_applicant(actor: Actor) -> None:
    if not actor.is_authenticated:
        raise AuthenticationRequired()
    if actor.kind not in APPLICANT_KINDS:
        raise PermissionDenied(permission="application.apply")




def _refusal(exc: AppError) -> bool:
    """Errors that are not about the input: they go to the error page, not beside a field."""
    return isinstance(exc, AuthenticationRequired | PermissionDenied)


def _done(value: str | None) -> str | None:
    return DONE_MESSAGES.get(value or "")


def _idempotency_key() -> str:
    return secrets.token_urlsafe(18)


@dataclass(frozen=True, slots=True)
class Subject:
    """An item or a bundle as the form shows it: its current catalogue version."""

    kind: str
    code: str
    name: str
    form: dict[str, Any]
    items: list[ItemVersionRead]

    @property
    def online(self) -> bool:
        return all(i.online_depth >= 3 for i in self.items)


def _subject(session: Session, kind: str, code: str) -> Subject:
    name, form, items = service.subject_form(session, kind, code)
    return Subject(kind, code, name, form, items)


def _form_of(session: Session, actor: Actor, app: ApplicationRead) -> dict[str, Any]:
    """The form the application was filed against (its own catalogue versions), for labels and corrections."""
    return service.application_form(session, actor, app.id)


def _answers(form: dict[str, Any], raw: dict[str, str]) -> dict[str, Any]:
    """The posted answers of the form's fields, as the schema's types."""
    props = form.get("properties") or {}
    data = catalog_service.coerce_form(form, {k: v for k, v in raw.items() if k in props})
    # "50" typed into a number field is the whole number 50, as a JSON client would send it.
    return {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in data.items()}


def _field_errors(exc: AppError) -> list[FieldError]:
    out = []
    for e in getattr(exc, "errors", None) or []:
        if isinstance(e, dict) and e.get("field") and e.get("message"):
            out.append(FieldError(field=str(e["field"]), code=str(e.get("code", "invalid")),
                                  message=str(e["message"])))
    return out


# -- materials and uploads --------------------------------------------------------------------------
@dataclass(slots=True)
class MaterialRow:
    code: str
    name: str
    required: bool
    held: bool = False
    source: str | None = None
    stand_in: bool = False
    file_id: str | None = None
    file_name: str | None = None
    attached: bool = False
    error: str | None = None


Uploads = dict[str, tuple[str, bytes]]


async def _read_form(request: Request) -> tuple[dict[str, str], Uploads]:
    """The posted fields (first value of each) and the chosen material files (code → name, bytes),
    read at most one byte over the upload limit (the files domain refuses what is larger)."""
    limit = (request.app.state.settings.max_upload_bytes or files_service.DEFAULT_MAX_BYTES) + 1
    fields, _many, files = await read_form(request, keep_file=lambda key: key.startswith(MATERIAL_FIELD), limit=limit)
    return fields, {key.removeprefix(MATERIAL_FIELD): (name, data) for key, name, data in files}


def _kept_files(session: Session, actor: Actor, fields: dict[str, str], codes: list[str]) -> dict[str, str]:
    """Files the actor uploaded on an earlier try of this form (their own files only)."""
    out = {}
    for code in codes:
        file_id = fields.get(f"{MATERIAL_FIELD}{code}__id", "").strip()
        if file_id:
            stored = files_service.get(session, file_id)
            if stored is not None and stored.owner_user_id == actor.user_id:
                out[code] = file_id
    return out


def _store_uploads(session: Session, actor: Actor, files: Uploads,
                   codes: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Store the chosen files of known materials; returns (code → file id, code → problem)."""
    ids, problems = {}, {}
    for code, (filename, data) in files.items():
        if code not in codes:
            continue
        try:
            ids[code] = files_service.store_upload(session, actor, data=data, filename=filename,
                                                   purpose="material").id
        except AppError as exc:
            if _refusal(exc):
                raise
            problems[code] = exc.render()
    return ids, problems


def _name_files(session: Session, rows: list[MaterialRow], ids: dict[str, str]) -> None:
    for row in rows:
        if row.code in ids:
            stored = files_service.get(session, ids[row.code])
            row.file_id, row.file_name = ids[row.code], stored.display_name if stored else None


def _material_error(rows: list[MaterialRow], exc: AppError) -> bool:
    """Put a material error beside its material; False when it names none of them."""
    if not isinstance(exc, errors.MaterialMissing | errors.MaterialFileInvalid | errors.MaterialUnknown):
        return False
    for row in rows:
        if row.name == exc.params.get("name") or row.code == exc.params.get("code"):
            row.error = exc.render()
            return True
    return False


def _catalogue_materials(session: Session, subject: Subject) -> list[MaterialRow]:
    """The materials of an item or bundle as the catalogue lists them, each once (for the hall,
    before the applicant is known)."""
    return [MaterialRow(code=m.code, name=m.name, required=m.required, stand_in=m.source is not None)
            for m in service.subject_materials(session, subject.kind, subject.code)]


# -- citizen portal: applying -----------------------------------------------------------------------
def _apply_rows(session: Session, actor: Actor, kind: str, code: str) -> list[MaterialRow]:
    return [MaterialRow(code=m.code, name=m.name, required=m.required, held=m.held, source=m.source)
            for m in service.needed_materials(session, actor, kind, code)]


def _render_apply(request: Request, subject: Subject, rows: list[MaterialRow], *, values: dict[str, Any],
                  readonly: set[str], idem: str, draft: ApplicationRead | None = None,
                  field_errors: list[FieldError] | None = None, error: str | None = None,
                  consent_error: str | None = None, status_code: int = 200) -> HTMLResponse:
    groups = catalog_service.form_layout(subject.form, values, field_errors or [], readonly)
    known = {f.name for g in groups for f in g.fields}
    loose = [e.message for e in field_errors or [] if e.field.split(".")[0] not in known]
    return render(request, "applications/apply.html", {
        "subject": subject, "groups": groups, "materials": rows, "idem": idem, "draft": draft,
        "readonly": sorted(readonly), "error": error, "loose_errors": loose, "consent_error": consent_error,
        "has_registry_fields": bool((subject.form.get("x-layout") or {}).get("registry")),
    }, status_code=status_code)


@router.get("/apply/{kind}/{code}", response_class=HTMLResponse)
def apply_form(kind: str, code: str, request: Request, session: DbSession, actor: CurrentActor,
               draft: str | None = None) -> Response:
    """The application form of an item or bundle, with its materials (a citizen or enterprise agent)."""
    if not actor.is_authenticated:
        return login_redirect(request)
    _require_applicant(actor)
    rows = _apply_rows(session, actor, kind, code)
    subject = _subject(session, kind, code)
    values: dict[str, Any] = {}
    existing = None
    if draft:
        existing = service.get(session, actor, draft)
        if existing.status != "draft" or (existing.subject_kind, existing.subject_code) != (kind, code):
            raise errors.StatusConflict(status=existing.status, action="edited")
        values = dict(existing.data)
        attached = {m.code: m for m in existing.materials if m.source == "upload"}
        for row in rows:
            row.attached = row.code in attached
    return _render_apply(request, subject, rows, values=values, readonly=set(), idem=_idempotency_key(),
                         draft=existing)


def _apply_post(request: Request, session: Session, actor: Actor, kind: str, code: str,
                fields: dict[str, str], files: Uploads) -> Response:
    _require_applicant(actor)
    rows = _apply_rows(session, actor, kind, code)
    subject = _subject(session, kind, code)
    codes = [r.code for r in rows if not r.held]
    action = fields.get("action", "submit")
    props = set((subject.form.get("properties") or {}).keys())
    data = _answers(subject.form, fields)
    readonly = {n for n in fields.get("prefilled", "").split(",") if n in props}
    idem = fields.get("idem") or _idempotency_key()
    draft = service.get(session, actor, fields["draft_id"]) if fields.get("draft_id") else None
    if draft is not None:
        attached = {m.code for m in draft.materials if m.source == "upload"}
        for row in rows:
            row.attached = row.code in attached
    kept = _kept_files(session, actor, fields, codes)
    stored, problems = _store_uploads(session, actor, files, codes)
    ids = {**kept, **stored}
    _name_files(session, rows, ids)
    for row in rows:
        row.error = problems.get(row.code)

    def again(status_code: int = 422, **kw: Any) -> HTMLResponse:
        return _render_apply(request, subject, rows, values=kw.pop("values", data), readonly=readonly, idem=idem,
                             draft=draft, status_code=status_code, **kw)

    if action == "prefill":
        try:
            values = service.prefill(session, actor, kind, code, consent=fields.get("consent") == "yes")
        except errors.ConsentRequired as exc:
            return again(consent_error=exc.render())
        readonly = set(values) & props
        base = draft.data if draft is not None else {}
        return again(200, values={**base, **data, **values})
    if problems:
        return again(error=errors.FormInvalid().render())
    try:
        if draft is not None:
            blanks = {n: "" for n in props if n not in data}
            app = service.update_draft(session, actor, draft.id, data={**blanks, **data}, materials=ids)
            if action == "submit":
                app = service.submit(session, actor, draft.id)
        else:
            app, _ = service.create(session, actor, subject_kind=kind, subject_code=code, data=data, materials=ids,
                                    submit=action == "submit", idempotency_key=idem)
    except AppError as exc:
        if _refusal(exc):
            raise
        # Nothing of this try is kept (a half-made application least of all); the files just
        # uploaded are stored again, so the applicant need not choose them a second time.
        session.rollback()
        again_ids, _ = _store_uploads(session, actor, files, codes)
        _name_files(session, rows, {**kept, **again_ids})
        field_errors = _field_errors(exc)
        _material_error(rows, exc)
        return again(error=exc.render(), field_errors=field_errors)
    done = "submitted" if action == "submit" else "draft"
    return RedirectResponse(f"/my/applications/{app.id}?done={done}", status_code=303)


@router.post("/apply/{kind}/{code}", response_class=HTMLResponse)
async def apply_submit(kind: str, code: str, request: Request, session: DbSession, actor: SignedInActor) -> Response:
    """Pre-fill (with consent), save a draft or submit; re-shows the form with each problem beside its field."""
    fields, files = await _read_form(request)
    return await run_in_threadpool(_apply_post, request, session, actor, kind, code, fields, files)


# -- citizen portal: my applications ----------------------------------------------------------------
@router.get("/my/applications", response_class=HTMLResponse)
def my_applications(request: Request, session: DbSession, actor: CurrentActor, cursor: str | None = None) -> Response:
    """The signed-in applicant's applications, newest first, with their status."""
    if not actor.is_authenticated:
        return login_redirect(request)
    _require_applicant(actor)
    try:
        page = service.mine(session, actor, cursor=cursor)
        error = None
    except errors.ApplicantRequired as exc:
        page, error = None, exc.render()
    return render(request, "applications/mine.html", {
        "page": page, "error": error, "labels": STATUS_LABELS, "tones": STATUS_TONES,
        "channels": CHANNEL_LABELS})


def _latest_notes(app: ApplicationRead, kind: str) -> dict[str, str]:
    """Branch id → the note of its latest event of ``kind`` (the reason of a correction request)."""
    out: dict[str, str] = {}
    for e in app.events:
        if e.kind == kind and e.branch_id and e.note:
            out[e.branch_id] = e.note
    return out


def _department_names(session: Session, ids: set[str]) -> dict[str, str]:
    return {k: d.name for k, d in areas_service.departments_by_ids(session, ids).items()}


def _who(label: str) -> str:
    kind = label.split(":", 1)[0]
    return {"citizen": "Applicant", "enterprise": "Applicant", "staff": "Staff", "system": "System"}.get(kind, "Staff")


def _certificates(session: Session, actor: Actor, app: ApplicationRead) -> list[dict[str, str]]:
    out = []
    for b in app.branches:
        if b.certificate_id:
            try:
                cert = certificates_service.get_certificate(session, actor, b.certificate_id)
                name = cert.type_name
            except AppError:
                name = b.item_name
            out.append({"id": b.certificate_id, "name": name, "item": b.item_name})
    return out


def _detail_ctx(session: Session, actor: Actor, app: ApplicationRead, **extra: Any) -> dict[str, Any]:
    form = _form_of(session, actor, app)
    corrections = {}
    branch_errors = extra.pop("branch_errors", {})
    for b in app.branches:
        if b.status == "correction":
            errs = branch_errors.get(b.id, {})
            values = errs.get("values", app.data)
            corrections[b.id] = {
                "groups": catalog_service.form_layout(form, values, errs.get("fields", [])),
                "error": errs.get("error"),
                "materials": [MaterialRow(code=m.code, name=m.name, required=False, source=m.source,
                                          error=errs.get("materials", {}).get(m.code))
                              for m in app.materials if m.source == "upload"],
            }
    ctx = {
        "app": app, "answers": catalog_service.form_layout(form, app.data),
        "departments": _department_names(session, {b.department_id for b in app.branches}),
        "correction_reasons": _latest_notes(app, "correction_requested"), "corrections": corrections,
        "certificates": _certificates(session, actor, app) if actor.kind in APPLICANT_KINDS else [],
        "labels": STATUS_LABELS, "tones": STATUS_TONES, "branch_labels": BRANCH_LABELS, "branch_tones": BRANCH_TONES,
        "outcomes": OUTCOME_LABELS, "channels": CHANNEL_LABELS, "deadlines": DEADLINE_LABELS,
        "events": EVENT_LABELS, "sources": SOURCE_LABELS, "who": _who, "error": None, "rating_error": None,
        "withdraw_error": None, "done": None,
    }
    ctx.update(extra)
    return ctx


def _my_detail(request: Request, session: Session, actor: Actor, application_id: str, status_code: int = 200,
               **extra: Any) -> HTMLResponse:
    app = service.get(session, actor, application_id)
    return render(request, "applications/detail.html", _detail_ctx(session, actor, app, **extra),
                  status_code=status_code)


@router.get("/my/applications/{application_id}", response_class=HTMLResponse)
def my_application(application_id: str, request: Request, session: DbSession, actor: CurrentActor,
                   done: str | None = None) -> Response:
    """One of the applicant's applications: progress per branch, corrections, certificates, timeline."""
    if not actor.is_authenticated:
        return login_redirect(request)
    _require_applicant(actor)
    return _my_detail(request, session, actor, application_id, done=_done(done))


def _after(session: Session, request: Request, actor: Actor, application_id: str, call: Any, done: str,
           error_key: str = "error") -> Response:
    """Run one use case; on success go back to the application, else show it with the sentence."""
    try:
        call()
    except AppError as exc:
        if _refusal(exc) or isinstance(exc, errors.ApplicationNotFound):
            raise
        session.rollback()
        return _my_detail(request, session, actor, application_id, status_code=exc.status,
                          **{error_key: exc.render()})
    return RedirectResponse(f"/my/applications/{application_id}?done={done}", status_code=303)


def _my_submit(request: Request, session: Session, actor: Actor, application_id: str) -> Response:
    _require_applicant(actor)
    return _after(session, request, actor, application_id,
                  lambda: service.submit(session, actor, application_id), "submitted")


@router.post("/my/applications/{application_id}/submit", response_class=HTMLResponse)
async def my_submit(application_id: str, request: Request, session: DbSession, actor: SignedInActor) -> Response:
    """Submit a draft (checked whole)."""
    return await run_in_threadpool(_my_submit, request, session, actor, application_id)


def _my_withdraw(request: Request, session: Session, actor: Actor, application_id: str, reason: str) -> Response:
    _require_applicant(actor)
    return _after(session, request, actor, application_id,
                  lambda: service.withdraw(session, actor, application_id, reason[:NOTE_LIMIT]), "withdrawn",
                  "withdraw_error")


@router.post("/my/applications/{application_id}/withdraw", response_class=HTMLResponse)
async def my_withdraw(application_id: str, request: Request, session: DbSession, actor: SignedInActor) -> Response:
    """Withdraw an application that is not closed (the reason is optional)."""
    fields, _ = await _read_form(request)
    return await run_in_threadpool(_my_withdraw, request, session, actor, application_id, fields.get("reason", ""))


def _my_rate(request: Request, session: Session, actor: Actor, application_id: str, fields: dict[str, str]) -> Response:
    _require_applicant(actor)
    try:
        score = int(fields.get("score", ""))
    except ValueError:
        score = 0
    comment = fields.get("comment", "").strip() or None
    return _after(session, request, actor, application_id,
                  lambda: service.rate(session, actor, application_id, score, comment), "rated", "rating_error")


@router.post("/my/applications/{application_id}/rating", response_class=HTMLResponse)
async def my_rate(application_id: str, request: Request, session: DbSession, actor: SignedInActor) -> Response:
    """Rate a closed application once (1–5, optional comment)."""
    fields, _ = await _read_form(request)
    return await run_in_threadpool(_my_rate, request, session, actor, application_id, fields)


def _my_correct(request: Request, session: Session, actor: Actor, application_id: str, branch_id: str,
                fields: dict[str, str], files: Uploads) -> Response:
    _require_applicant(actor)
    app = service.get(session, actor, application_id)
    form = _form_of(session, actor, app)
    data = _answers(form, fields)
    codes = [m.code for m in app.materials if m.source == "upload"]
    stored, problems = _store_uploads(session, actor, files, codes)
    note = fields.get("note", "").strip()[:NOTE_LIMIT]
    if problems:
        session.rollback()
        return _my_detail(request, session, actor, application_id, status_code=422, branch_errors={
            branch_id: {"error": errors.FormInvalid().render(), "values": {**app.data, **data}, "materials": problems}})
    try:
        service.correct(session, actor, application_id, branch_id, data=data, materials=stored, note=note)
    except AppError as exc:
        if _refusal(exc) or isinstance(exc, errors.ApplicationNotFound | errors.BranchNotFound):
            raise
        session.rollback()
        return _my_detail(request, session, actor, application_id, status_code=exc.status, branch_errors={
            branch_id: {"error": exc.render(), "values": {**app.data, **data}, "fields": _field_errors(exc)}})
    return RedirectResponse(f"/my/applications/{application_id}?done=corrected", status_code=303)


@router.post("/my/applications/{application_id}/branches/{branch_id}/correct", response_class=HTMLResponse)
async def my_correct(application_id: str, branch_id: str, request: Request, session: DbSession,
                     actor: SignedInActor) -> Response:
    """补正: answer a branch's correction request with changed answers and/or new files."""
    fields, files = await _read_form(request)
    return await run_in_threadpool(_my_correct, request, session, actor, application_id, branch_id, fields, files)


# -- clerk workbench: intake ------------------------------------------------------------------------
@router.get("/workbench", response_class=HTMLResponse)
def workbench(request: Request, session: DbSession, actor: CurrentActor, done: str | None = None,
              number: str | None = None) -> Response:
    """The intake queue: submitted applications waiting to be accepted where the clerk works."""
    if not actor.is_authenticated:
        return login_redirect(request)
    rows = service.intake_queue(session, actor)
    areas = {code: a.name for code in {r.area_code for r in rows} if (a := areas_service.find_area(session, code))}
    return render(request, "applications/workbench.html", {
        "rows": rows, "areas": areas, "channels": CHANNEL_LABELS, "done": _done(done), "number": number})


def _intake_page(request: Request, session: Session, actor: Actor, application_id: str, status_code: int = 200,
                 **extra: Any) -> HTMLResponse:
    require_somewhere(actor, "application.intake")
    app = service.get(session, actor, application_id)
    ctx = _detail_ctx(session, actor, app, **extra)
    ctx.update(refuse_error=extra.get("refuse_error"), reason=extra.get("reason", ""))
    return render(request, "applications/intake.html", ctx, status_code=status_code)


@router.get("/workbench/applications/{application_id}", response_class=HTMLResponse)
def intake_application(application_id: str, request: Request, session: DbSession, actor: CurrentActor,
                       done: str | None = None) -> Response:
    """A submitted application for the clerk (an audited read): accept it, or refuse it with the reason."""
    if not actor.is_authenticated:
        return login_redirect(request)
    return _intake_page(request, session, actor, application_id, done=_done(done))


def _intake_action(request: Request, session: Session, actor: Actor, application_id: str, action: str,
                   reason: str) -> Response:
    require_somewhere(actor, "application.intake")
    try:
        if action == "accept":
            app = service.accept(session, actor, application_id)
        else:
            app = service.refuse(session, actor, application_id, reason)
    except AppError as exc:
        if _refusal(exc) or isinstance(exc, errors.ApplicationNotFound):
            raise
        session.rollback()
        key = "refuse_error" if isinstance(exc, errors.ReasonRequired) else "error"
        return _intake_page(request, session, actor, application_id, status_code=exc.status, reason=reason,
                            **{key: exc.render()})
    done = "accepted" if action == "accept" else "refused"
    return RedirectResponse(f"/workbench?{urlencode({'done': done, 'number': app.number})}", status_code=303)


@router.post("/workbench/applications/{application_id}/accept", response_class=HTMLResponse)
async def intake_accept(application_id: str, request: Request, session: DbSession, actor: SignedInActor) -> Response:
    """受理: accept a submitted application; its branches start in their departments."""
    return await run_in_threadpool(_intake_action, request, session, actor, application_id, "accept", "")


@router.post("/workbench/applications/{application_id}/refuse", response_class=HTMLResponse)
async def intake_refuse(application_id: str, request: Request, session: DbSession, actor: SignedInActor) -> Response:
    """不予受理: refuse a submitted application with the reason the applicant sees."""
    fields, _ = await _read_form(request)
    return await run_in_threadpool(_intake_action, request, session, actor, application_id, "refuse",
                                   fields.get("reason", ""))


# -- clerk workbench: the hall (全市通办) ---------------------------------------------------------------
def _hall_hits(session: Session, q: str) -> list[dict[str, str]]:
    """Services matching a search or a code: bundles and items that can be filed (depth ≥ 3)."""
    hits: list[dict[str, str]] = []
    code = q.strip().upper()
    for kind in ("item", "bundle"):
        try:
            exact = _subject(session, kind, code)
        except AppError:
            continue
        hits.append({"kind": kind, "code": code, "name": exact.name})
    for h in catalog_service.search(session, q, limit=20) if q else []:
        if not any(x["kind"] == h.kind and x["code"] == h.code for x in hits):
            hits.append({"kind": h.kind, "code": h.code, "name": h.name})
    return hits


def _render_hall(request: Request, session: Session, subject: Subject | None, *, q: str = "",
                 values: dict[str, Any] | None = None, applicant: dict[str, str] | None = None,
                 rows: list[MaterialRow] | None = None, field_errors: list[FieldError] | None = None,
                 error: str | None = None, applicant_errors: dict[str, str] | None = None,
                 status_code: int = 200) -> HTMLResponse:
    groups = catalog_service.form_layout(subject.form, values or {}, field_errors or []) if subject else []
    known = {f.name for g in groups for f in g.fields}
    return render(request, "applications/hall.html", {
        "q": q, "hits": _hall_hits(session, q) if subject is None and q else [], "subject": subject,
        "groups": groups, "materials": rows if rows is not None else (_catalogue_materials(session, subject) if subject else []),
        "applicant": applicant or {"kind": "person", "identifier": "", "name": ""},
        "applicant_errors": applicant_errors or {}, "error": error,
        "loose_errors": [e.message for e in field_errors or [] if e.field.split(".")[0] not in known],
    }, status_code=status_code)


@router.get("/workbench/hall", response_class=HTMLResponse)
def hall_form(request: Request, session: DbSession, actor: CurrentActor, q: str = "", kind: str = "",
              code: str = "") -> Response:
    """全市通办: find a service, then the form to file it for an applicant at the counter."""
    if not actor.is_authenticated:
        return login_redirect(request)
    require_somewhere(actor, "application.intake")
    subject = _subject(session, kind, code) if kind and code else None
    return _render_hall(request, session, subject, q=q.strip()[:100])


_APPLICANT_FIELD = {
    "applicant_mismatch": "name", "applicant_not_found": "identifier",
    "invalid_resident_id": "identifier", "invalid_uscc": "identifier",
}


def _hall_post(request: Request, session: Session, actor: Actor, fields: dict[str, str], files: Uploads) -> Response:
    require_somewhere(actor, "application.intake")
    subject = _subject(session, fields.get("kind", ""), fields.get("code", ""))
    rows = _catalogue_materials(session, subject)
    codes = [r.code for r in rows]
    data = _answers(subject.form, fields)
    applicant = {"kind": "entity" if fields.get("applicant_kind") == "entity" else "person",
                 "identifier": fields.get("applicant_identifier", "").strip()[:30],
                 "name": fields.get("applicant_name", "").strip()[:100]}
    kept = _kept_files(session, actor, fields, codes)
    stored, problems = _store_uploads(session, actor, files, codes)
    _name_files(session, rows, {**kept, **stored})
    for row in rows:
        row.error = problems.get(row.code)
    if problems:
        return _render_hall(request, session, subject, values=data, applicant=applicant, rows=rows,
                            error=errors.FormInvalid().render(), status_code=422)
    missing = {k: "Please fill in this field." for k in ("identifier", "name") if not applicant[k]}
    if missing:
        return _render_hall(request, session, subject, values=data, applicant=applicant, rows=rows,
                            applicant_errors=missing, error=errors.FormInvalid().render(), status_code=422)
    try:
        app = service.hall_intake(session, actor, subject_kind=subject.kind, subject_code=subject.code,
                                  applicant_kind=applicant["kind"], applicant_identifier=applicant["identifier"],
                                  applicant_name=applicant["name"], data=data, materials={**kept, **stored})
    except AppError as exc:
        if _refusal(exc):
            raise
        session.rollback()
        again, _ = _store_uploads(session, actor, files, codes)
        _name_files(session, rows, {**kept, **again})
        _material_error(rows, exc)
        where = _APPLICANT_FIELD.get(exc.code)
        return _render_hall(request, session, subject, values=data, applicant=applicant, rows=rows,
                            field_errors=_field_errors(exc), error=exc.render(),
                            applicant_errors={where: exc.render()} if where else {}, status_code=exc.status)
    return RedirectResponse(f"/workbench/applications/{app.id}?done=filed", status_code=303)


@router.post("/workbench/hall", response_class=HTMLResponse)
async def hall_submit(request: Request, session: DbSession, actor: SignedInActor) -> Response:
    """File and accept an application for an applicant whose identity the registry confirms."""
    fields, files = await _read_form(request)
    return await run_in_threadpool(_hall_post, request, session, actor, fields, files)


# -- approver inbox ---------------------------------------------------------------------------------
@router.get("/inbox/tasks", response_class=HTMLResponse)
def task_inbox(request: Request, session: DbSession, actor: CurrentActor, status: str = "in_review",
               after: str | None = None) -> Response:
    """Branches waiting for the approver's departments, earliest due date first, with deadline flags."""
    if not actor.is_authenticated:
        return login_redirect(request)
    require_somewhere(actor, "application.decide")
    status = status if status in ("in_review", "correction", "all") else "in_review"
    rows = service.inbox(session, actor, status=status, limit=INBOX_PAGE, after=after)
    nxt = None
    if len(rows) == INBOX_PAGE and rows[-1].due_date is not None:
        nxt = f"{rows[-1].due_date.isoformat()}|{rows[-1].branch_id}"
    return render(request, "applications/inbox.html", {
        "rows": rows, "status": status, "next": nxt, "deadlines": DEADLINE_LABELS,
        "branch_labels": BRANCH_LABELS, "branch_tones": BRANCH_TONES,
        "departments": _department_names(session, {r.department_id for r in rows})})


def _branch(app: ApplicationRead, branch_id: str) -> BranchRead:
    for b in app.branches:
        if b.id == branch_id:
            return b
    raise errors.BranchNotFound(ref=branch_id)


def _task_page(request: Request, session: Session, actor: Actor, application_id: str, branch_id: str,
               status_code: int = 200, **extra: Any) -> HTMLResponse:
    require_somewhere(actor, "application.decide")
    app = service.get(session, actor, application_id)
    branch = _branch(app, branch_id)
    diagram = None
    if branch.workflow_instance_id:
        xml, active, completed = service.branch_diagram(session, actor, application_id, branch_id)
        diagram = {"xml": xml, "active": active, "completed": completed}
    ctx = _detail_ctx(session, actor, app, **extra)
    ctx.update(branch=branch, diagram=diagram, comment=extra.get("comment", ""),
               comment_error=extra.get("comment_error"),
               may_decide=branch.status == "in_review" and actor.can("application.decide",
                                                                      department_id=branch.department_id))
    return render(request, "applications/task.html", ctx, status_code=status_code)


@router.get("/inbox/tasks/{application_id}/{branch_id}", response_class=HTMLResponse)
def task_page(application_id: str, branch_id: str, request: Request, session: DbSession, actor: CurrentActor,
              done: str | None = None) -> Response:
    """A branch to decide: the application (an audited read), its materials, its process diagram."""
    if not actor.is_authenticated:
        return login_redirect(request)
    return _task_page(request, session, actor, application_id, branch_id, done=_done(done))


def _decide(request: Request, session: Session, actor: Actor, application_id: str, branch_id: str,
            fields: dict[str, str]) -> Response:
    require_somewhere(actor, "application.decide")
    decision, comment = fields.get("decision", ""), fields.get("comment", "")
    try:
        service.decide(session, actor, application_id, branch_id, decision, comment, fields.get("task_id") or None)
    except AppError as exc:
        if _refusal(exc) or isinstance(exc, errors.ApplicationNotFound | errors.BranchNotFound):
            raise
        session.rollback()
        key = "comment_error" if isinstance(exc, errors.ReasonRequired) else "error"
        return _task_page(request, session, actor, application_id, branch_id, status_code=exc.status,
                          comment=comment, **{key: exc.render()})
    return RedirectResponse(f"/inbox/tasks/{application_id}/{branch_id}?done=decided", status_code=303)


@router.post("/inbox/tasks/{application_id}/{branch_id}/decide", response_class=HTMLResponse)
async def task_decide(application_id: str, branch_id: str, request: Request, session: DbSession,
                      actor: SignedInActor) -> Response:
    """Decide the step the branch waits at: 通过, 不予通过 (reason required) or 补正 (reason required)."""
    fields, _ = await _read_form(request)
    return await run_in_threadpool(_decide, request, session, actor, application_id, branch_id, fields)
