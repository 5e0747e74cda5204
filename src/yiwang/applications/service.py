"""Use cases of 一网通办 applications (办件).

The life of an application::

    draft ─submit→ submitted ─accept (受理)→ in_review ⇄ correction (补正) → closed (办结)
      │               └─refuse (不予受理)→ refused
      └──────── withdraw (撤回) at any point before it closes ───────→ withdrawn

On intake each service item of the application becomes a *branch* (并联审批): the item's BPMN
process starts for its department, with the item's promised limit in working days. Approvers
decide the step their branch waits at — approve, reject or ask for a correction, which stops
that branch's clock until the applicant answers. When every branch has its decision the
application closes: approved branches have issued their certificates, a rejected one has told the
applicant why, and the applicant may rate the service (好差评).

Every transition is one audit entry and one timeline event in the same transaction. Form data is
personal data: encrypted at rest, and every staff read of an application is audited.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from yiwang.applications import errors, repository
from yiwang.applications.models import Application, Branch, Event, Material
from yiwang.applications.schemas import (
    ApplicationPage,
    ApplicationRead,
    ApplicationSummary,
    BranchRead,
    EventRead,
    InboxRow,
    IntakeRow,
    MaterialRead,
    NeededMaterial,
    TaskRead,
)
from yiwang.areas import service as areas_service
from yiwang.audit import service as audit_service
from yiwang.catalog import service as catalog_service
from yiwang.catalog.schemas import ItemVersionRead
from yiwang.certificates import service as certificates_service
from yiwang.core import rows
from yiwang.core.actor import SYSTEM, Actor
from yiwang.core.db import new_id, utcnow
from yiwang.core.errors import AuthenticationRequired, PermissionDenied
from yiwang.core.fieldcrypt import FieldCipher
from yiwang.files import service as files_service
from yiwang.identity import service as identity_service
from yiwang.notifications import service as notifications_service
from yiwang.ratings import service as ratings_service
from yiwang.registry import errors as registry_errors
from yiwang.registry import service as registry_service
from yiwang.workdays import service as workdays_service
from yiwang.workflow import service as workflow_service

log = logging.getLogger("yiwang.applications")

REASON_LIMIT = 500
ESCALATION_BATCH = 500
PAGE_SIZE = 50
BUILTIN_PROCESSES = ("one_step", "review_then_approve")
_KEY = re.compile(r"^[A-Za-z0-9_-]{8,80}$")
_OPEN = ("in_review", "correction")
_FINISHED_BRANCH = ("approved", "rejected", "withdrawn")
_CERTIFICATE_YEARS = 5
_PERSONAL_FORMATS = ("id_number", "mobile")


# -- small helpers ----------------------------------------------------------------------------------
def _aad(application_id: str) -> str:
    return f"applications.data:{application_id}"


def _encrypt(session: Session, application_id: str, data: dict[str, Any]) -> str:
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return FieldCipher.for_session(session).encrypt(text, _aad(application_id))


def _decrypt(session: Session, row: Application) -> dict[str, Any]:
    return json.loads(FieldCipher.for_session(session).decrypt(row.data_enc, _aad(row.id)))


def _reason(text: str | None) -> str:
    value = (text or "").strip()
    if not value or len(value) > REASON_LIMIT:
        raise errors.ReasonRequired(limit=REASON_LIMIT)
    return value


def _event_rows(actor: Actor, app: Application | rows.New, kind: str, *, branch: Branch | None = None,
                note: str | None = None, detail: dict[str, Any] | None = None
                ) -> tuple[rows.New, audit_service.PreparedEntry]:
    """One timeline event's row and its audit entry, made but not written."""
    row = rows.New(id=new_id(), application_id=app.id, branch_id=branch.id if branch else None, kind=kind,
                   actor=actor.label, note=note, at=utcnow())
    facts = {"number": app.number, "status": app.status, **(detail or {})}
    if branch is not None:
        facts.update(branch_id=branch.id, item_code=branch.item_code, branch_status=branch.status)
    entry = audit_service.prepare(actor, f"application.{kind}", target_type="application", target_id=app.id,
                                  area_code=branch.area_code if branch else app.area_code, detail=facts)
    return row, entry


def _event(session: Session, actor: Actor, app: Application, kind: str, *, branch: Branch | None = None,
           note: str | None = None, detail: dict[str, Any] | None = None) -> Event:
    """One timeline event and its audit entry, in the caller's transaction."""
    values, entry = _event_rows(actor, app, kind, branch=branch, note=note, detail=detail)
    row = Event(**values)
    session.add(row)
    audit_service.append(session, [entry])
    return row


def _number(app_id: str, at: datetime) -> str:
    return f"{at:%Y%m%d}{app_id[-8:].upper()}"


def _tasks(branch: Branch) -> list[TaskRead]:
    return [TaskRead(id=i, element_id=e, name=n, lane=lane) for i, e, n, lane in json.loads(branch.tasks or "[]")]


def _pauses(branch: Branch) -> list[tuple[date, date | None]]:
    spans: list[tuple[date, date | None]] = [
        (date.fromisoformat(a), date.fromisoformat(b)) for a, b in json.loads(branch.pauses or "[]")
    ]
    if branch.paused_since is not None:
        spans.append((branch.paused_since, None))
    return spans


def _deadline_state(session: Session, branch: Branch, today: date) -> str | None:
    if branch.status == "correction":
        return "paused"
    if branch.status != "in_review" or branch.due_date is None:
        return None
    return workdays_service.deadline_state(session, branch.due_date, today)


def _branch_read(session: Session, branch: Branch, today: date, names: dict[str, str] | None = None) -> BranchRead:
    return BranchRead(
        id=branch.id, position=branch.position, item_code=branch.item_code, item_name=branch.item_name,
        department_id=branch.department_id, department_name=(names or {}).get(branch.department_id),
        status=branch.status, tasks=_tasks(branch), limit_days=branch.limit_days, started_on=branch.started_on,
        due_date=branch.due_date, due_estimated=branch.due_estimated,
        deadline_state=_deadline_state(session, branch, today), paused_since=branch.paused_since,
        decision_reason=branch.decision_reason, decided_at=branch.decided_at, certificate_id=branch.certificate_id,
        workflow_instance_id=branch.workflow_instance_id,
    )


def _summary_fields(app: Application | rows.New) -> dict[str, Any]:
    """What a summary says of ``app``, for :class:`ApplicationSummary` and the models extending it."""
    return {
        "id": app.id, "number": app.number, "subject_kind": app.subject_kind, "subject_code": app.subject_code,
        "subject_name": app.subject_name, "channel": app.channel, "area_code": app.area_code, "status": app.status,
        "outcome": app.outcome, "created_at": app.created_at, "submitted_at": app.submitted_at,
        "closed_at": app.closed_at,
    }


def _summary(app: Application) -> ApplicationSummary:
    return ApplicationSummary(**_summary_fields(app))


def _read(session: Session, app: Application) -> ApplicationRead:
    branches = repository.branches(session, app.id)
    depts = areas_service.departments_by_ids(session, {b.department_id for b in branches})
    today = workdays_service.today()
    return ApplicationRead(
        **_summary_fields(app), applicant_kind=app.applicant_kind, reason=app.reason,
        data=_decrypt(session, app),
        branches=[_branch_read(session, b, today, {k: d.name for k, d in depts.items()}) for b in branches],
        materials=[MaterialRead(code=m.code, name=m.name, source=m.source, file_id=m.file_id,
                                certificate_id=m.certificate_id) for m in repository.materials(session, app.id)],
        events=[EventRead(kind=e.kind, branch_id=e.branch_id, actor=e.actor, note=e.note, at=e.at)
                for e in repository.events(session, app.id)],
        rated=ratings_service.is_rated(session, "application", app.id),
    )


# -- who is asking ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Applicant:
    kind: str
    person_id: str | None
    entity_id: str | None


def _applicant_of(actor: Actor) -> Applicant:
    """The registry record the signed-in citizen or enterprise agent applies as; staff file only
    through the hall (``hall_intake``)."""
    _require_applicant_kind(actor)
    if actor.kind == "citizen" and actor.person_id:
        return Applicant("person", actor.person_id, None)
    if actor.kind == "enterprise" and actor.entity_id:
        return Applicant("entity", None, actor.entity_id)
    raise errors.ApplicantRequired()


def _require_applicant_kind(actor: Actor) -> None:
    if not actor.is_authenticated:
        raise AuthenticationRequired()
    if actor.kind not in ("citizen", "enterprise"):
        raise PermissionDenied(permission="application.apply")


def _require_some(actor: Actor, permission: str) -> None:
    """Refuse at once someone who holds ``permission`` nowhere (before looking anything up)."""
    if not actor.is_authenticated:
        raise AuthenticationRequired()
    if not actor.scopes(permission):
        raise PermissionDenied(permission=permission)


def _is_applicant(actor: Actor, app: Application) -> bool:
    if not actor.is_authenticated or actor.kind not in ("citizen", "enterprise"):
        return False
    if app.owner_user_id is not None and app.owner_user_id == actor.user_id:
        return True
    if actor.kind == "citizen":
        return actor.person_id is not None and app.applicant_person_id == actor.person_id
    return actor.entity_id is not None and app.applicant_entity_id == actor.entity_id


def _staff_may_read(actor: Actor, app: Application, branches: Iterable[Branch]) -> bool:
    if actor.can("application.read", area_code=app.area_code):
        return True
    return any(actor.can("application.read", area_code=b.area_code, department_id=b.department_id)
               for b in branches)


def _load(session: Session, application_id: str, *, for_update: bool = False) -> Application:
    app = repository.get(session, application_id, for_update=for_update)
    if app is None:
        raise errors.ApplicationNotFound(ref=application_id)
    return app


def _load_own(session: Session, actor: Actor, application_id: str, *, for_update: bool = False) -> Application:
    """The application if ``actor`` is its applicant (ids are unguessable: an unknown one is simply
    not found; someone else's is refused)."""
    _require_applicant_kind(actor)
    app = _load(session, application_id, for_update=for_update)
    if not _is_applicant(actor, app):
        raise PermissionDenied(permission="application.own", target=f"application:{application_id}")
    return app


def _load_for_reader(session: Session, actor: Actor, application_id: str) -> Application:
    """The application for its applicant, or for staff with ``application.read`` over it."""
    if actor.kind in ("citizen", "enterprise"):
        return _load_own(session, actor, application_id)
    _require_some(actor, "application.read")
    app = _load(session, application_id)
    if not _staff_may_read(actor, app, repository.branches(session, app.id)):
        raise PermissionDenied(permission="application.read", area_code=app.area_code,
                               target=f"application:{application_id}")
    return app


# -- the catalogue side: items, forms, materials ----------------------------------------------------
@dataclass(frozen=True, slots=True)
class Subject:
    kind: str
    code: str
    version_id: str
    name: str
    items: list[ItemVersionRead]
    form: dict[str, Any]


def _subject(session: Session, kind: str, code: str) -> Subject:
    if kind == "item":
        item = catalog_service.get_item(session, code)
        return Subject("item", code, item.id, item.name, [item], item.form)
    if kind == "bundle":
        bundle = catalog_service.get_bundle(session, code)
        items = [catalog_service.get_item(session, c) for c in bundle.item_codes]
        return Subject("bundle", code, bundle.id, bundle.name, items, catalog_service.merged_form(session, code).form)
    raise errors.SubjectKindInvalid(kind=kind)


def _subject_of(session: Session, app: Application) -> Subject:
    """The catalogue versions the application was filed against (never a later version)."""
    if app.subject_kind == "item":
        item = catalog_service.get_item_version(session, app.subject_version_id)
        return Subject("item", app.subject_code, item.id, item.name, [item], item.form)
    branches = repository.branches(session, app.id)
    items = [catalog_service.get_item_version(session, b.item_version_id) for b in branches]
    return Subject("bundle", app.subject_code, app.subject_version_id, app.subject_name, items,
                   catalog_service.merge_item_forms(items))


def _required_materials(subject: Subject) -> dict[str, tuple[str, bool, dict[str, str] | None]]:
    """Material code → (name, required, stand-in), each material once across a bundle's items.

    A certificate that another item of the same bundle issues is not asked for: the bundle
    produces it (a restaurant's food licence needs the business licence its sibling branch grants)."""
    produced = {i.certificate_type.code for i in subject.items if i.certificate_type} if subject.kind == "bundle" \
        else set()
    out: dict[str, tuple[str, bool, dict[str, str] | None]] = {}
    for item in subject.items:
        for m in item.materials:
            if m.stand_in and m.stand_in.get("certificate") in produced:
                continue
            name, required, stand_in = out.get(m.code, (m.name, False, m.stand_in))
            out[m.code] = (name, required or m.required, stand_in or m.stand_in)
    return out


def _held(session: Session, applicant: Applicant, stand_in: dict[str, str] | None,
          today: date) -> tuple[str, str | None] | None:
    """What the platform already holds for a material (两个免于提交): ``("registry", None)`` or
    ``("certificate", certificate id)``; None when the applicant must provide it."""
    if not stand_in:
        return None
    registry = stand_in.get("registry")
    if registry == "person" and applicant.person_id:
        return ("registry", None)
    if registry == "entity" and applicant.entity_id:
        return ("registry", None)
    cert_type = stand_in.get("certificate")
    if cert_type:
        kind, holder = ("person", applicant.person_id) if applicant.kind == "person" else ("entity", applicant.entity_id)
        if holder:
            found = certificates_service.holder_certificates(session, kind, holder, cert_type, valid_on=today)
            if found:
                return ("certificate", found[0].id)
    return None


def subject_form(session: Session, subject_kind: str, subject_code: str) -> tuple[str, dict[str, Any],
                                                                                 list[ItemVersionRead]]:
    """Name, (merged) form and item versions of an item or bundle as it would be filed today."""
    s = _subject(session, subject_kind, subject_code)
    return s.name, s.form, s.items


def application_form(session: Session, actor: Actor, application_id: str) -> dict[str, Any]:
    """The form an application was filed against (its own catalogue versions), for its applicant
    or the staff handling it."""
    return _subject_of(session, _load_for_reader(session, actor, application_id)).form


def subject_materials(session: Session, subject_kind: str, subject_code: str) -> list[NeededMaterial]:
    """Every material of an item or bundle, each once, before the applicant is known (the hall):
    ``source`` says what kind of record could stand in for it."""
    out = []
    for code, (name, required, stand_in) in _required_materials(_subject(session, subject_kind, subject_code)).items():
        source = ("registry" if stand_in and stand_in.get("registry") else "certificate" if stand_in else None)
        out.append(NeededMaterial(code=code, name=name, required=required, held=False, source=source))
    return out


def needed_materials(session: Session, actor: Actor, subject_kind: str, subject_code: str) -> list[NeededMaterial]:
    """The materials of an item or bundle for the signed-in applicant, each saying whether the
    platform already holds it (a registry record or a certificate in their wallet)."""
    applicant = _applicant_of(actor)
    subject = _subject(session, subject_kind, subject_code)
    today = workdays_service.today()
    out = []
    for code, (name, required, stand_in) in _required_materials(subject).items():
        held = _held(session, applicant, stand_in, today)
        out.append(NeededMaterial(code=code, name=name, required=required, held=held is not None,
                                  source=held[0] if held else None, certificate_id=held[1] if held else None))
    return out


def _validate(session: Session, subject: Subject, data: dict[str, Any]) -> dict[str, Any]:
    problems = catalog_service.validate_form(subject.form, data)
    if problems:
        raise errors.FormInvalid(errors=[p.model_dump() for p in problems])
    allowed = set((subject.form.get("properties") or {}).keys())
    return {k: v for k, v in data.items() if k in allowed}


MaterialPlan = tuple[str, str, str, str | None, str | None]
"""(code, name, source, file id, certificate id) of one material to record."""


def _plan_materials(session: Session, subject: Subject, applicant: Applicant, uploads: dict[str, str], *,
                    complete: bool, owner_user_id: str | None, have: set[str]) -> list[MaterialPlan]:
    """What stands for each material (reads only): the platform's own record where it holds one,
    else the given upload (a file the filer uploaded); with ``complete`` every required material not
    in ``have`` (already recorded) must be there."""
    wanted = _required_materials(subject)
    for code in uploads:
        if code not in wanted:
            raise errors.MaterialUnknown(code=code)
    today = workdays_service.today()
    out: list[MaterialPlan] = []
    for code, (name, required, stand_in) in wanted.items():
        held = _held(session, applicant, stand_in, today)
        if held is not None:
            source, cert = held
            file_id = None
        elif code in uploads:
            file_id = uploads[code]
            stored = files_service.get(session, file_id)
            if stored is None or stored.owner_user_id != owner_user_id:
                raise errors.MaterialFileInvalid(name=name)
            source, cert = "upload", None
        elif code in have:
            continue
        elif required and complete:
            raise errors.MaterialMissing(name=name)
        else:
            continue
        out.append((code, name, source, file_id, cert))
    return out


def _material_row(app_id: str, planned: MaterialPlan) -> rows.New:
    code, name, source, file_id, cert = planned
    return rows.New(id=new_id(), application_id=app_id, code=code, name=name, source=source, file_id=file_id,
                    certificate_id=cert, created_at=utcnow())


def _write_materials(session: Session, app_id: str, plan: list[MaterialPlan],
                     existing: dict[str, Material]) -> list[Material]:
    """The application's material rows after ``plan``; new ones are added to ``session``."""
    found = dict(existing)
    for planned in plan:
        code, _name, source, file_id, cert = planned
        row = existing.get(code)
        if row is None:
            row = Material(**_material_row(app_id, planned))
            session.add(row)
        else:
            row.source, row.file_id, row.certificate_id = source, file_id, cert
        found[code] = row
    return list(found.values())


def _attach_materials(session: Session, actor: Actor, app: Application, subject: Subject, applicant: Applicant,
                      uploads: dict[str, str], *, complete: bool, owner_user_id: str | None) -> list[Material]:
    """Record what stands for each material of an application already on file."""
    existing = {m.code: m for m in repository.materials(session, app.id)}
    plan = _plan_materials(session, subject, applicant, uploads, complete=complete, owner_user_id=owner_user_id,
                           have=set(existing))
    return _write_materials(session, app.id, plan, existing)


def _check_complete(session: Session, app: Application, subject: Subject) -> None:
    have = {m.code for m in repository.materials(session, app.id)}
    for code, (name, required, _) in _required_materials(subject).items():
        if required and code not in have:
            raise errors.MaterialMissing(name=name)


_DEPARTMENT_OF_VERSION: dict[str, tuple[str, str, str]] = {}
"""Item version id → (department id, its area, its name). A version never changes and departments
are never re-coded, so this in-process memo cannot go stale (ids are unique across databases)."""


def _department_of(session: Session, item: ItemVersionRead) -> tuple[str, str, str]:
    found = _DEPARTMENT_OF_VERSION.get(item.id)
    if found is None:
        dept = areas_service.get_department_by_code(session, item.department_code)
        found = (dept.id, dept.area_code, dept.name)
        if len(_DEPARTMENT_OF_VERSION) > 10_000:
            _DEPARTMENT_OF_VERSION.clear()
        _DEPARTMENT_OF_VERSION[item.id] = found
    return found


def _filing_area(session: Session, actor: Actor, subject: Subject, data: dict[str, Any],
                 given: str | None) -> str:
    """The district where an online application is accepted: the one the applicant chose, else
    the district of the place the form names, else of the first item's department, else the
    applicant's own registered district."""
    for candidate in (given, data.get("area_code")):
        if candidate:
            code = str(candidate)[:6]
            if areas_service.find_area(session, code) is None:
                raise errors.AreaInvalid(area=code)
            return code
    _, dept_area, _ = _department_of(session, subject.items[0])
    if len(dept_area) >= 6:
        return dept_area[:6]
    if actor.kind == "citizen":
        return registry_service.get_my_person(session, actor).area_code[:6]
    return registry_service.get_my_entity(session, actor).area_code[:6]


# -- filing -----------------------------------------------------------------------------------------
def _new_rows(session: Session, actor: Actor, subject: Subject, applicant: Applicant, data: dict[str, Any], *,
              channel: str, area_code: str, owner_user_id: str | None,
              key: str | None) -> tuple[rows.New, list[rows.New]]:
    """A new application's row and its branches' rows (a draft; every column a summary reads is there)."""
    now = utcnow()
    app_id = new_id()
    app = rows.New(
        id=app_id, number=_number(app_id, now), subject_kind=subject.kind, subject_code=subject.code,
        subject_version_id=subject.version_id, subject_name=subject.name, applicant_kind=applicant.kind,
        applicant_person_id=applicant.person_id, applicant_entity_id=applicant.entity_id,
        owner_user_id=owner_user_id, filed_by_user_id=actor.user_id or "system", channel=channel,
        area_code=area_code, status="draft", outcome=None, reason=None, data_enc=_encrypt(session, app_id, data),
        idempotency_key=key, created_at=now, submitted_at=None, closed_at=None, updated_at=now,
    )
    branches = []
    for position, item in enumerate(subject.items):
        dept_id, dept_area, _ = _department_of(session, item)
        branches.append(rows.New(
            id=new_id(), application_id=app_id, position=position, item_code=item.code, item_version_id=item.id,
            item_name=item.name, department_id=dept_id, area_code=dept_area, status="pending", tasks="[]",
            limit_days=item.promised_limit_days, pauses="[]", updated_at=now, due_estimated=False,
        ))
    return app, branches


def _new_application(session: Session, actor: Actor, subject: Subject, applicant: Applicant, data: dict[str, Any], *,
                     channel: str, area_code: str, owner_user_id: str | None, key: str | None) -> Application:
    """A new application and its branches, added to the session."""
    app, branches = _new_rows(session, actor, subject, applicant, data, channel=channel, area_code=area_code,
                              owner_user_id=owner_user_id, key=key)
    row = Application(**app)
    session.add(row)
    session.add_all([Branch(**b) for b in branches])
    return row


def _check_key(key: str | None) -> str | None:
    if key is None or key == "":
        return None
    if not _KEY.match(key):
        raise errors.IdempotencyKeyInvalid()
    return key


@dataclass(frozen=True, slots=True)
class FilingPlan:
    """Everything a filing will write, found and checked by :func:`plan_filing` (reads only)."""

    applicant: Applicant
    subject: Subject
    data: dict[str, Any]
    area: str
    channel: str
    submit: bool
    key: str | None
    materials: list[MaterialPlan]


def create(session: Session, actor: Actor, *, subject_kind: str, subject_code: str, data: dict[str, Any],
           materials: dict[str, str] | None = None, area_code: str | None = None, channel: str = "online",
           submit: bool = False, idempotency_key: str | None = None) -> tuple[ApplicationRead, bool]:
    """File an application as the signed-in citizen or enterprise: a draft, or with ``submit``
    submitted at once. Returns ``(application, created)``: a retry with the same
    ``idempotency_key`` returns the first application and ``created=False`` — never a second one.

    A draft keeps whatever was given (checked only for types it cannot hold); submission checks the
    whole form against the item's schema and that every required material is there.

    The same as :func:`plan_filing` then :func:`file` in one transaction; the API runs the two in
    separate ones so that the database's write lock is held only while writing."""
    plan = plan_filing(session, actor, subject_kind=subject_kind, subject_code=subject_code, data=data,
                       materials=materials, area_code=area_code, channel=channel, submit=submit,
                       idempotency_key=idempotency_key)
    return file(session, actor, plan)


def plan_filing(session: Session, actor: Actor, *, subject_kind: str, subject_code: str, data: dict[str, Any],
                materials: dict[str, str] | None = None, area_code: str | None = None, channel: str = "online",
                submit: bool = False, idempotency_key: str | None = None) -> FilingPlan:
    """Check a filing and find what it will write, reading only (see :func:`create`)."""
    applicant = _applicant_of(actor)
    key = _check_key(idempotency_key)
    subject = _subject(session, subject_kind, subject_code)
    if submit:
        clean = _validate(session, subject, data)
    else:
        allowed = set((subject.form.get("properties") or {}).keys())
        clean = {k: v for k, v in data.items() if k in allowed}
    area = _filing_area(session, actor, subject, clean, area_code)
    for item in subject.items:
        if item.online_depth < 3 or (item.areas and not any(area.startswith(a) or a.startswith(area)
                                                            for a in item.areas)):
            raise errors.SubjectNotAvailable(name=item.name)
    for item in subject.items:
        _department_of(session, item)
    planned = _plan_materials(session, subject, applicant, materials or {}, complete=submit,
                              owner_user_id=actor.user_id, have=set())
    return FilingPlan(applicant, subject, clean, area, channel, submit, key, planned)


@dataclass(frozen=True, slots=True)
class PreparedFiling:
    """A filing's rows, ready for the driver (``core.rows``): made by :func:`prepare_filing` before
    the write, written by :func:`apply_filing` inside it."""

    user_id: str
    key: str | None
    application: rows.Step
    """Its INSERT skips a row whose (filer, idempotency key) is on file: 0 rows written = a retry."""
    rest: list[rows.Step]
    audit: list[audit_service.PreparedEntry]
    answer: ApplicationRead


def prepare_filing(session: Session, actor: Actor, plan: FilingPlan) -> PreparedFiling:
    """Everything a checked filing writes — the application, its branches and materials, one timeline
    event and its audit entry, the applicant's notice — built now, reading nothing."""
    subject, channel, key = plan.subject, plan.channel, plan.key
    app, branches = _new_rows(session, actor, subject, plan.applicant, plan.data, channel=channel,
                              area_code=plan.area, owner_user_id=actor.user_id, key=key)
    if plan.submit:
        # Filed and submitted in one step: one transition, one timeline event, one audit entry.
        app.status, app.submitted_at = "submitted", app.created_at
    held = [_material_row(app.id, planned) for planned in {p[0]: p for p in plan.materials}.values()]
    facts = {"subject": f"{subject.kind}:{subject.code}", "channel": channel}
    kind, detail = ("submitted", {**facts, "new": True}) if plan.submit else ("created", facts)
    event, entry = _event_rows(actor, app, kind, detail=detail)
    dialect = session.get_bind().dialect
    rest = [rows.insert(dialect, Branch.__table__, branches), rows.insert(dialect, Event.__table__, [event])]
    if held:
        rest.append(rows.insert(dialect, Material.__table__, held))
    if plan.submit:
        rest.append(notifications_service.prepare_inbox(dialect, actor.user_id or "", "application.received",
                                                        {"reference": app.number, "application_id": app.id}))
    return PreparedFiling(
        user_id=actor.user_id or "", key=key,
        application=rows.insert(dialect, Application.__table__, [app],
                                skip_conflict=("filed_by_user_id", "idempotency_key")),
        rest=rest, audit=[entry], answer=_read_new(app, subject, branches, held, event, plan.data))


def apply_filing(session: Session, prepared: PreparedFiling) -> tuple[ApplicationRead, bool]:
    """Write a prepared filing (a ``plain`` unit of the group commit): ``(application, True)``, or
    the first application filed with the same idempotency key and ``False``, writing nothing."""
    if rows.run(session, [prepared.application])[0] == 0:
        earlier = repository.by_idempotency_key(session, prepared.user_id, prepared.key or "")
        if earlier is None:  # the only unique constraint the INSERT skips is the idempotency key's
            raise RuntimeError("an application row was skipped without an earlier filing")
        return _read(session, earlier), False
    rows.run(session, prepared.rest)
    audit_service.append(session, prepared.audit)
    log.info("application filed", extra={"application_id": prepared.answer.id, "status": prepared.answer.status})
    return prepared.answer, True


def file(session: Session, actor: Actor, plan: FilingPlan) -> tuple[ApplicationRead, bool]:
    """Write a checked filing (see :func:`create`): :func:`prepare_filing` then :func:`apply_filing`."""
    return apply_filing(session, prepare_filing(session, actor, plan))


def _read_new(app: rows.New, subject: Subject, branches: list[rows.New], materials: list[rows.New], event: rows.New,
              data: dict[str, Any]) -> ApplicationRead:
    """The answer to a filing, from the rows just written (no second trip to the database)."""
    names = {b.department_id: _DEPARTMENT_OF_VERSION.get(b.item_version_id, ("", "", None))[2] for b in branches}
    return ApplicationRead(
        **_summary_fields(app), applicant_kind=app.applicant_kind, reason=None, data=data,
        branches=[BranchRead(
            id=b.id, position=b.position, item_code=b.item_code, item_name=b.item_name, department_id=b.department_id,
            department_name=names.get(b.department_id), status=b.status, tasks=[], limit_days=b.limit_days,
            started_on=None, due_date=None, due_estimated=False, deadline_state=None, paused_since=None,
            decision_reason=None, decided_at=None, certificate_id=None, workflow_instance_id=None,
        ) for b in branches],
        materials=[MaterialRead(code=m.code, name=m.name, source=m.source, file_id=m.file_id,
                                certificate_id=m.certificate_id) for m in sorted(materials, key=lambda m: m.code)],
        events=[EventRead(kind=event.kind, branch_id=None, actor=event.actor, note=None, at=event.at)],
        rated=False,
    )


def update_draft(session: Session, actor: Actor, application_id: str, *, data: dict[str, Any] | None = None,
                 materials: dict[str, str] | None = None) -> ApplicationRead:
    """Change a draft's answers (merged into what is kept) or materials; only the applicant, only a draft."""
    app = _load_own(session, actor, application_id, for_update=True)
    if app.status != "draft":
        raise errors.StatusConflict(status=app.status, action="edited")
    subject = _subject_of(session, app)
    if data is not None:
        allowed = set((subject.form.get("properties") or {}).keys())
        merged = {**_decrypt(session, app), **{k: v for k, v in data.items() if k in allowed}}
        app.data_enc = _encrypt(session, app.id, {k: v for k, v in merged.items() if v not in (None, "")})
    if materials:
        _attach_materials(session, actor, app, subject, _applicant_of(actor), materials, complete=False,
                          owner_user_id=actor.user_id)
    app.updated_at = utcnow()
    session.flush()
    return _read(session, app)


def _submit(session: Session, actor: Actor, app: Application) -> None:
    app.status, app.submitted_at, app.updated_at = "submitted", utcnow(), utcnow()
    _event(session, actor, app, "submitted")
    if app.owner_user_id:
        notifications_service.notify(session, app.owner_user_id, "application.received",
                                     {"reference": app.number, "application_id": app.id})


def submit(session: Session, actor: Actor, application_id: str) -> ApplicationRead:
    """Submit a draft after checking the whole form and every required material. Submitting an
    application already submitted returns it unchanged (a retry is harmless)."""
    app = _load_own(session, actor, application_id, for_update=True)
    if app.status != "draft":
        if app.submitted_at is not None:
            return _read(session, app)
        raise errors.StatusConflict(status=app.status, action="submitted")
    subject = _subject_of(session, app)
    data = _validate(session, subject, _decrypt(session, app))
    app.data_enc = _encrypt(session, app.id, data)
    _attach_materials(session, actor, app, subject, _applicant_of(actor), {}, complete=True,
                      owner_user_id=actor.user_id)
    _check_complete(session, app, subject)
    _submit(session, actor, app)
    session.flush()
    return _read(session, app)


# -- reading ----------------------------------------------------------------------------------------
def get(session: Session, actor: Actor, application_id: str) -> ApplicationRead:
    """An application for its applicant, or for staff who handle it (``application.read`` over its
    district or one of its departments) — a staff read is audited, as the form holds personal data."""
    app = _load_for_reader(session, actor, application_id)
    if actor.kind in ("citizen", "enterprise"):
        return _read(session, app)
    audit_service.record(session, actor, "application.read", target_type="application", target_id=app.id,
                         area_code=app.area_code, purpose="办件审查", detail={"number": app.number})
    return _read(session, app)


def _cursor(value: str | None) -> tuple[datetime, str] | None:
    if not value:
        return None
    try:
        at, rid = value.split("|", 1)
        return datetime.fromisoformat(at), rid
    except ValueError:
        return None


def mine(session: Session, actor: Actor, cursor: str | None = None, limit: int = PAGE_SIZE) -> ApplicationPage:
    """The signed-in applicant's applications, newest first (those a clerk filed for them included)."""
    _applicant_of(actor)
    limit = max(1, min(limit, 100))
    rows = repository.mine(session, user_id=actor.user_id, person_id=actor.person_id, entity_id=actor.entity_id,
                           before=_cursor(cursor), limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = f"{rows[-1].created_at.isoformat()}|{rows[-1].id}" if more and rows else None
    return ApplicationPage(items=[_summary(r) for r in rows], next_cursor=nxt)


def intake_queue(session: Session, actor: Actor, limit: int = PAGE_SIZE) -> list[IntakeRow]:
    """Submitted applications waiting for intake (受理) where the clerk works, oldest first."""
    _require_some(actor, "application.intake")
    prefixes = sorted({s.area_code for s in actor.scopes("application.intake")})
    return [IntakeRow(application_id=a.id, number=a.number, subject_name=a.subject_name, channel=a.channel,
                      area_code=a.area_code, submitted_at=a.submitted_at)
            for a in repository.intake_queue(session, prefixes, max(1, min(limit, 200)))]


def _inbox_departments(actor: Actor, department_id: str | None) -> list[str]:
    depts = sorted({s.department_id for s in actor.scopes("application.decide") if s.department_id})
    wide = [s for s in actor.scopes("application.decide") if s.department_id is None]
    if department_id is not None:
        if department_id in depts or wide:
            return [department_id]
        raise PermissionDenied(permission="application.decide", department_id=department_id)
    if not depts and not wide:
        raise PermissionDenied(permission="application.decide")
    return depts


def inbox(session: Session, actor: Actor, *, department_id: str | None = None, status: str = "in_review",
          limit: int = PAGE_SIZE, after: str | None = None) -> list[InboxRow]:
    """Branches waiting for the approver's departments, earliest due date first, each with its
    deadline state (``warning`` two working days before, ``overdue`` after)."""
    depts = _inbox_departments(actor, department_id)
    if not depts:
        return []
    statuses = ("in_review", "correction") if status == "all" else (status,)
    start: tuple[date, str] | None = None
    if after:
        try:
            due, bid = after.split("|", 1)
            start = (date.fromisoformat(due), bid)
        except ValueError:
            start = None
    today = workdays_service.today()
    out = []
    for b, number in repository.inbox(session, depts, statuses, max(1, min(limit, 200)), start):
        tasks = _tasks(b)
        if b.department_id not in depts or not actor.can("application.decide", area_code=b.area_code,
                                                          department_id=b.department_id):
            continue
        out.append(InboxRow(
            branch_id=b.id, application_id=b.application_id, number=number, item_code=b.item_code,
            item_name=b.item_name, department_id=b.department_id, status=b.status,
            task_name=tasks[0].name if tasks else None, due_date=b.due_date, due_estimated=b.due_estimated,
            deadline_state=_deadline_state(session, b, today), paused_since=b.paused_since, updated_at=b.updated_at,
        ))
    return out


# -- intake (受理) ------------------------------------------------------------------------------------
def _definition_id(session: Session, process_key: str) -> str:
    if process_key in BUILTIN_PROCESSES:
        return workflow_service.builtin_definition(session, process_key).id  # type: ignore[arg-type]
    found = workflow_service.list_definitions(session, process_key)
    if not found:
        return workflow_service.builtin_definition(session, "review_then_approve").id
    return found[0].id


def _set_tasks(session: Session, branch: Branch) -> None:
    tasks = workflow_service.ready_tasks(session, branch.workflow_instance_id or "")
    branch.tasks = json.dumps([[t.id, t.element_id, t.name, t.lane] for t in tasks], ensure_ascii=False)


def _start_branches(session: Session, actor: Actor, app: Application, received_on: date | None = None) -> None:
    today = received_on or workdays_service.today()
    branches = repository.branches(session, app.id)
    items = {b.id: catalog_service.get_item_version(session, b.item_version_id) for b in branches}
    started = workflow_service.start_many(session, [
        (_definition_id(session, items[b.id].process_key),
         {"application_id": app.id, "item_code": b.item_code}) for b in branches
    ])
    for b, inst in zip(branches, started, strict=True):
        due = workdays_service.add_working_days(session, today, b.limit_days)
        b.workflow_instance_id, b.status, b.started_on = inst.id, "in_review", today
        b.due_date, b.due_estimated, b.updated_at = due.date, due.estimated, utcnow()
        _set_tasks(session, b)
        _event(session, actor, app, "branch_started", branch=b,
               detail={"due_date": due.date.isoformat(), "estimated": due.estimated})


def _notify_owner(session: Session, app: Application, template: str, params: dict[str, Any],
                  text: dict[str, Any] | None = None) -> None:
    if app.owner_user_id:
        notifications_service.notify(session, app.owner_user_id, template,
                                     {"reference": app.number, "application_id": app.id, **params}, text=text)


def _received_on(received_on: date | None) -> date | None:
    """The intake date, today by default; a paper application entered later (补录) keeps the day it
    was received — never a day in the future."""
    if received_on is not None and received_on > workdays_service.today():
        raise errors.ReceivedInFuture(day=received_on.isoformat())
    return received_on


def accept(session: Session, actor: Actor, application_id: str, *, received_on: date | None = None) -> ApplicationRead:
    """受理: a clerk of the district accepts a submitted application (``application.intake`` over its
    area); each item's process starts in its department with its promised deadline, counted from
    ``received_on`` (today by default)."""
    _require_some(actor, "application.intake")
    app = _load(session, application_id, for_update=True)
    actor.require("application.intake", area_code=app.area_code, target=f"application:{app.id}")
    if app.status != "submitted":
        raise errors.StatusConflict(status=app.status, action="accepted")
    day = _received_on(received_on)
    app.status, app.accepted_at, app.updated_at = "in_review", utcnow(), utcnow()
    _event(session, actor, app, "accepted", detail={"received_on": day.isoformat()} if day else None)
    _start_branches(session, actor, app, day)
    due = max(b.due_date for b in repository.branches(session, app.id) if b.due_date)
    _notify_owner(session, app, "application.submitted", {"due_date": due.isoformat()})
    session.flush()
    return _read(session, app)


def refuse(session: Session, actor: Actor, application_id: str, reason: str) -> ApplicationRead:
    """不予受理: a clerk refuses a submitted application at intake, with the reason the applicant sees."""
    _require_some(actor, "application.intake")
    app = _load(session, application_id, for_update=True)
    actor.require("application.intake", area_code=app.area_code, target=f"application:{app.id}")
    text = _reason(reason)
    if app.status != "submitted":
        raise errors.StatusConflict(status=app.status, action="refused")
    app.status, app.reason, app.closed_at, app.updated_at = "refused", text, utcnow(), utcnow()
    for b in repository.branches(session, app.id):
        b.status, b.updated_at = "withdrawn", utcnow()
    _event(session, actor, app, "refused", note=text)
    _notify_owner(session, app, "application.refused", {}, text={"reason": text})
    session.flush()
    return _read(session, app)


def _hall_applicant(session: Session, actor: Actor, kind: str, identifier: str, name: str) -> Applicant:
    """Verify the applicant's document against the registry (身份核验, audited): a yes/no and the
    record's id, whichever district holds the record."""
    if kind not in ("person", "entity"):
        raise errors.ApplicantNotFound()
    try:
        record_id = registry_service.verify_identity(session, actor, kind, identifier, name,  # type: ignore[arg-type]
                                                     purpose="全市通办窗口受理核验身份")
    except (registry_errors.PersonNotFound, registry_errors.EntityNotFound) as exc:
        raise errors.ApplicantNotFound() from exc
    except registry_errors.IdentityMismatch as exc:
        raise errors.ApplicantMismatch() from exc
    return Applicant("person", record_id, None) if kind == "person" else Applicant("entity", None, record_id)


def hall_intake(session: Session, actor: Actor, *, subject_kind: str, subject_code: str, applicant_kind: str,
                applicant_identifier: str, applicant_name: str, data: dict[str, Any],
                materials: dict[str, str] | None = None, received_on: date | None = None) -> ApplicationRead:
    """全市通办: a clerk in any district's hall files and accepts an application for any service on
    behalf of an applicant whose identity the registry confirms. It goes straight to the competent
    departments; the applicant follows it online through their person or entity record."""
    _require_some(actor, "application.intake")
    scopes = actor.scopes("application.intake")
    _received_on(received_on)
    hall_area = scopes[0].area_code
    applicant = _hall_applicant(session, actor, applicant_kind, applicant_identifier, applicant_name)
    subject = _subject(session, subject_kind, subject_code)
    clean = _validate(session, subject, data)
    app = _new_application(session, actor, subject, applicant, clean, channel="hall", area_code=hall_area,
                           owner_user_id=None, key=None)
    session.flush()
    _attach_materials(session, actor, app, subject, applicant, materials or {}, complete=True,
                      owner_user_id=actor.user_id)
    _event(session, actor, app, "created", detail={"subject": f"{subject.kind}:{subject.code}", "channel": "hall"})
    app.status, app.submitted_at = "submitted", utcnow()
    _event(session, actor, app, "submitted")
    app.status, app.accepted_at = "in_review", utcnow()
    day = _received_on(received_on)
    _event(session, actor, app, "accepted", detail={"hall_area": hall_area})
    _start_branches(session, actor, app, day)
    session.flush()
    log.info("hall intake", extra={"application_id": app.id, "hall_area": hall_area})
    return _read(session, app)


# -- deciding a branch ------------------------------------------------------------------------------
def _branch_of(session: Session, app: Application, branch_id: str) -> Branch:
    b = repository.branch(session, branch_id)
    if b is None or b.application_id != app.id:
        raise errors.BranchNotFound(ref=branch_id)
    return b


def _holder(session: Session, actor: Actor, app: Application) -> tuple[str, str, str, str]:
    """(kind, registry id, name, identifier) of the applicant, for the certificate. Read by the
    platform itself (audited with its purpose and the application): the approver decided the
    application, and may work in a district other than the one that holds the applicant's record."""
    purpose = f"签发电子证照（办件 {app.number}）"
    if app.applicant_kind == "person" and app.applicant_person_id:
        p = registry_service.get_person(session, SYSTEM, app.applicant_person_id, purpose=purpose, full=True)
        return "person", p.id, p.name, p.id_number
    e = registry_service.get_entity(session, SYSTEM, app.applicant_entity_id or "", purpose=purpose)
    return "entity", e.id, e.name, e.uscc


def _certificate_fields(app: Application, item: ItemVersionRead, data: dict[str, Any]) -> dict[str, Any]:
    """What the certificate states: the item, the application and the form's non-personal answers."""
    props = item.form.get("properties") or {}
    registry = ((item.form.get("x-layout") or {}).get("registry") or {})
    out: dict[str, Any] = {"事项": item.name, "办件编号": app.number}
    for name, spec in props.items():
        if name in data and not str(registry.get(name, "")).startswith("person.") \
                and spec.get("format") not in _PERSONAL_FORMATS and isinstance(data[name], str | int | float):
            value = data[name]
            if isinstance(value, float):  # signed documents carry no floats: 80.0 → 80, 80.5 → "80.5"
                value = int(value) if value.is_integer() else str(value)
            out[str(spec.get("title") or name)] = value
    return out


def _issue(session: Session, actor: Actor, app: Application, b: Branch) -> None:
    item = catalog_service.get_item_version(session, b.item_version_id)
    if item.certificate_type is None:
        return
    kind, holder_id, name, identifier = _holder(session, actor, app)
    today = certificates_service.today_in_china()
    until = None
    if item.kind == "licence":
        try:
            until = today.replace(year=today.year + _CERTIFICATE_YEARS) - timedelta(days=1)
        except ValueError:  # 29 February
            until = today.replace(year=today.year + _CERTIFICATE_YEARS, day=28)
    cert = certificates_service.issue_certificate(
        session, actor, type_code=item.certificate_type.code, type_name=item.certificate_type.name,
        holder_kind=kind, holder_id=holder_id, holder_name=name, holder_identifier=identifier,
        issuer_department_id=b.department_id, fields=_certificate_fields(app, item, _decrypt(session, app)),
        valid_from=today, valid_until=until, application_id=app.id,
    )
    b.certificate_id = cert.id
    _event(session, actor, app, "certificate_issued", branch=b, detail={"certificate_id": cert.id})
    _notify_owner(session, app, "certificate.issued", {"certificate_no": cert.id})


def _settle(session: Session, actor: Actor, app: Application) -> None:
    """The application's status from its branches; closes it (办结) once every branch has decided."""
    branches = repository.branches(session, app.id)
    statuses = {b.status for b in branches}
    if statuses <= set(_FINISHED_BRANCH):
        decided = [b.status for b in branches if b.status != "withdrawn"]
        if decided and all(s == "approved" for s in decided):
            app.outcome = "approved"
        elif "approved" in decided:
            app.outcome = "partly_approved"
        else:
            app.outcome = "rejected"
        app.status, app.closed_at = "closed", utcnow()
        _event(session, actor, app, "closed", detail={"outcome": app.outcome})
        _notify_owner(session, app, "application.closed", {"outcome": app.outcome})
    elif "correction" in statuses:
        app.status = "correction"
    else:
        app.status = "in_review"
    app.updated_at = utcnow()


def decide(session: Session, actor: Actor, application_id: str, branch_id: str, decision: str,
           comment: str = "", task_id: str | None = None) -> ApplicationRead:
    """An approver of the branch's department decides the step it waits at (``application.decide``
    over that department).

    ``approve`` completes the step and the process runs on (at its end the branch is approved and
    its certificate issued); ``reject`` completes the step and ends the branch, with the reason the
    applicant sees (a process still running elsewhere, e.g. a parallel step, is stopped);
    ``correct`` (补正) leaves the step waiting, asks the applicant for corrections and stops this
    branch's clock until they answer — so any process, whatever its drawing, supports corrections."""
    _require_some(actor, "application.decide")
    if decision not in ("approve", "reject", "correct"):
        raise errors.DecisionInvalid(decision=decision)
    app = _load(session, application_id, for_update=True)
    b = _branch_of(session, app, branch_id)
    actor.require("application.decide", area_code=b.area_code, department_id=b.department_id,
                  target=f"application:{app.id}")
    if b.status != "in_review":
        raise errors.BranchStatusConflict(status=b.status, action="decided")
    text = (comment or "").strip()
    if decision in ("reject", "correct"):
        text = _reason(text)
    elif len(text) > REASON_LIMIT:
        raise errors.ReasonRequired(limit=REASON_LIMIT)
    tasks = _tasks(b)
    task = next((t for t in tasks if t.id == task_id), None) if task_id else (tasks[0] if len(tasks) == 1 else None)
    if task is None:
        raise errors.TaskNotWaiting()
    now, today = utcnow(), workdays_service.today()
    b.updated_at = now
    if decision == "correct":
        b.status, b.paused_since = "correction", today
        _event(session, actor, app, "correction_requested", branch=b, note=text, detail={"task": task.element_id})
        _notify_owner(session, app, "application.correction_requested", {"item": b.item_name}, text={"reason": text})
    else:
        inst = workflow_service.complete_task(session, b.workflow_instance_id or "", task.id,
                                              {"decision": decision, "comment": text})
        if decision == "reject" or inst.status == "completed":
            if inst.status == "running":
                workflow_service.cancel(session, inst.id)
            b.status = "approved" if decision == "approve" else "rejected"
            b.decision_reason, b.decided_by, b.decided_at, b.tasks = text or None, actor.user_id, now, "[]"
            _event(session, actor, app, b.status, branch=b, note=text or None, detail={"task": task.element_id})
            if b.status == "approved":
                _issue(session, actor, app, b)
                _notify_owner(session, app, "application.approved", {"item": b.item_name})
            else:
                _notify_owner(session, app, "application.rejected", {"item": b.item_name}, text={"reason": text})
        else:
            _set_tasks(session, b)
            _event(session, actor, app, "step_done", branch=b, note=text or None,
                   detail={"task": task.element_id, "decision": decision})
    _settle(session, actor, app)
    session.flush()
    return _read(session, app)


def correct(session: Session, actor: Actor, application_id: str, branch_id: str, *,
            data: dict[str, Any] | None = None, materials: dict[str, str] | None = None,
            note: str = "") -> ApplicationRead:
    """补正: the applicant answers a branch's correction request with changed answers and/or new
    uploads; the branch goes back to the step that asked, and its clock runs again with the paused
    working days added to its due date."""
    app = _load_own(session, actor, application_id, for_update=True)
    b = _branch_of(session, app, branch_id)
    if b.status != "correction":
        raise errors.BranchStatusConflict(status=b.status, action="corrected")
    subject = _subject_of(session, app)
    if data:
        merged = {**_decrypt(session, app), **data}
        app.data_enc = _encrypt(session, app.id, _validate(session, subject, merged))
    if materials:
        _attach_materials(session, actor, app, subject, _applicant_of(actor), materials, complete=False,
                          owner_user_id=actor.user_id)
    today = workdays_service.today()
    spans = json.loads(b.pauses or "[]")
    spans.append([(b.paused_since or today).isoformat(), today.isoformat()])
    b.pauses, b.paused_since = json.dumps(spans), None
    due = workdays_service.due_date(session, b.started_on or today, b.limit_days, _pauses(b), as_of=today)
    b.due_date, b.due_estimated, b.status, b.updated_at = due.date, due.estimated, "in_review", utcnow()
    _event(session, actor, app, "corrected", branch=b, note=(note or "").strip()[:REASON_LIMIT] or None,
           detail={"due_date": due.date.isoformat()})
    _settle(session, actor, app)
    session.flush()
    return _read(session, app)


def withdraw(session: Session, actor: Actor, application_id: str, reason: str = "") -> ApplicationRead:
    """撤回: the applicant withdraws an application that is not closed; running processes stop."""
    app = _load_own(session, actor, application_id, for_update=True)
    if app.status in ("closed", "refused", "withdrawn"):
        raise errors.StatusConflict(status=app.status, action="withdrawn")
    text = (reason or "").strip()[:REASON_LIMIT] or None
    now = utcnow()
    for b in repository.branches(session, app.id):
        if b.status in _OPEN and b.workflow_instance_id:
            workflow_service.cancel(session, b.workflow_instance_id)
        if b.status not in ("approved", "rejected"):
            b.status, b.tasks, b.paused_since, b.updated_at = "withdrawn", "[]", None, now
    app.status, app.reason, app.closed_at, app.updated_at = "withdrawn", text, now, now
    _event(session, actor, app, "withdrawn", note=text)
    session.flush()
    return _read(session, app)


def rate(session: Session, actor: Actor, application_id: str, score: int, comment: str | None = None):
    """好差评: the applicant rates a closed application once (1–5, optional comment)."""
    app = _load_own(session, actor, application_id)
    if app.status != "closed":
        raise errors.NotRatable()
    first = repository.branches(session, app.id)[0]
    rating = ratings_service.rate(
        session, actor, subject_type="application", subject_id=app.id, service_code=app.subject_code,
        department_id=first.department_id, area_code=first.area_code, channel=app.channel,
        score=score, comment=comment,
    )
    _event(session, actor, app, "rated", detail={"score": rating.score})
    return rating


# -- pre-fill with consent (数据共享, 两个免于提交) ------------------------------------------------------
def prefill(session: Session, actor: Actor, subject_kind: str, subject_code: str, *, consent: bool) -> dict[str, Any]:
    """Values for the form's registry-backed fields from the applicant's own record; refused
    without consent, and the consent is recorded in the audit trail with the fields read."""
    applicant = _applicant_of(actor)
    if not consent:
        raise errors.ConsentRequired()
    subject = _subject(session, subject_kind, subject_code)
    mapping = (subject.form.get("x-layout") or {}).get("registry") or {}
    values: dict[str, Any] = {}
    person = registry_service.get_my_person(session, actor) if applicant.kind == "person" else None
    entity = registry_service.get_my_entity(session, actor) if applicant.kind == "entity" else None
    for fld, source in mapping.items():
        record, _, attr = str(source).partition(".")
        holder = person if record == "person" else entity if record == "entity" else None
        value = getattr(holder, attr, None) if holder is not None else None
        if value not in (None, ""):
            values[fld] = value
    audit_service.record(session, actor, "application.prefill_consent", target_type=subject.kind,
                         target_id=subject.code, purpose="申请人同意以登记信息预填表单",
                         detail={"fields": sorted(values)})
    return values


def branch_diagram(session: Session, actor: Actor, application_id: str,
                   branch_id: str) -> tuple[str, list[str], list[str]]:
    """The BPMN of a branch with the steps waiting now and passed, for its applicant or its staff."""
    app = _load_for_reader(session, actor, application_id)
    b = _branch_of(session, app, branch_id)
    if not b.workflow_instance_id:
        raise errors.BranchStatusConflict(status=b.status, action="shown as a diagram")
    return workflow_service.diagram(session, b.workflow_instance_id)


# -- material files for staff -----------------------------------------------------------------------
def material_file(session: Session, actor: Actor, application_id: str, file_id: str):
    """An uploaded material of an application, for its applicant or the staff handling it (audited)."""
    app = _load_for_reader(session, actor, application_id)
    if not any(m.file_id == file_id for m in repository.materials(session, app.id)):
        raise errors.ApplicationNotFound(ref=f"{application_id}/{file_id}")
    return files_service.open_file(session, actor, file_id, can_read=lambda _f: True, area_code=app.area_code,
                                   reason="办件材料审查")


# -- the worker: overdue escalation (超期督办) --------------------------------------------------------
def escalate_overdue(session: Session, today: date | None = None, batch: int = ESCALATION_BATCH) -> int:
    """Escalate each branch in review past its due date to the heads of its department (users with
    ``application.supervise`` over it), once; returns how many were escalated."""
    day = today or workdays_service.today()
    rows = repository.overdue(session, day, batch)
    for b in rows:
        app = _load(session, b.application_id)
        b.escalated_on = day
        heads = identity_service.users_with_permission(session, "application.supervise", area_code=b.area_code,
                                                       department_id=b.department_id)
        for user_id in heads:
            notifications_service.notify(session, user_id, "task.escalated",
                                         {"reference": app.number, "item": b.item_name,
                                          "due_date": b.due_date.isoformat() if b.due_date else ""})
        _event(session, SYSTEM, app, "escalated", branch=b,
               detail={"due_date": b.due_date.isoformat() if b.due_date else None, "notified": len(heads)})
    session.flush()
    if rows:
        log.info("overdue branches escalated", extra={"count": len(rows)})
    return len(rows)

