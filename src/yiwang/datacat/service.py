"""Use cases of the data catalogue and the open-data portal.

- **Catalogue.** A data officer of the provider department (``datacat.manage`` for that department)
  registers a resource with its GB/T 21063 metadata and graded fields; every change is a new metadata
  version whose snapshot is kept (:func:`history`).
- **Data.** An upload becomes a distribution version: the bytes are stored as a file, parsed into a
  typed table (:mod:`yiwang.datacat.ingest`, per-row errors kept), and scanned by the gate
  (:mod:`yiwang.datacat.gate`) after the distribution's recorded de-identification steps. A version
  that passes replaces the open table in the datastore when the resource is open; one that is refused
  is kept in the history with its report, and the open table stays as it was.
- **Opening.** :func:`open_resource` runs the gate over every table again (with the current grades)
  and opens the resource only when all pass; otherwise it records the refusal and its report.
- **Who sees what.** Staff preview a table with fields above their department's grant masked; the
  provider department sees all; every read that shows a field of sensitivity 3 or more unmasked is an
  audit entry. Outside users read only open resources; a conditional one needs an approved access
  request's token (:func:`access_token`).
- **Lists.** The responsibility list (which department owes which resource, late ones flagged) and
  the demand list (requests for data not yet catalogued, with answers).

Services flush, never commit; each writes its audit entry in the same transaction. The datastore is
another database: a table is loaded there after everything else of the change has been flushed, so a
failure there rolls the catalogue back too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import update
from sqlalchemy.orm import Session, object_session

from yiwang.areas import errors as areas_errors
from yiwang.areas import service as areas_service
from yiwang.areas.schemas import DepartmentRead
from yiwang.audit import service as audit_service
from yiwang.core.actor import Actor
from yiwang.core.db import Database, utcnow
from yiwang.core.errors import AuthenticationRequired, PermissionDenied, ValidationFailed
from yiwang.core.groupcommit import committer_for
from yiwang.core.i18n import translate
from yiwang.core.ids import new_id
from yiwang.core.jobs import settings_for
from yiwang.core.keys import key_ring
from yiwang.core.masking import mask
from yiwang.core.settings import Settings
from yiwang.datacat import datastore, errors, gate, ingest, repository, search
from yiwang.datacat.models import (
    AccessRequest,
    DataDemand,
    DataResource,
    Distribution,
    DistributionVersion,
    FieldGrant,
    ResourceField,
    ResourceVersion,
    sensitivity,
)
from yiwang.datacat.schemas import (
    TOPICS,
    DistributionRead,
    FieldIn,
    FieldRead,
    ResourceIn,
    ResourceRead,
)
from yiwang.files import service as files_service

log = logging.getLogger("yiwang.datacat")

MANAGE = "datacat.manage"
READ = "datacat.read"

CYCLE_DAYS = {"realtime": 1, "daily": 1, "weekly": 7, "monthly": 31, "quarterly": 92, "yearly": 366}
"""How long after an update the next one is owed, by update cycle (不定期 owes none)."""
GRACE = timedelta(days=1)
"""Slack before an update counts as late (a daily update made the next morning is on time)."""
UNMASKED_AUDIT_FROM = 3
"""Reads that show fields of this sensitivity or more unmasked are audited (一般 level 3 and up)."""
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TEXT = "text/plain"
MAX_DATA_BYTES = 50 * 1024 * 1024
"""Uploads of data may be bigger than a citizen's material (the ``max_upload_bytes`` setting)."""
ERRORS_KEPT = 100
ACCESS_DAYS = 365


@dataclass
class Outcome:
    """What happened to an upload or an attempt to open: ``passed`` False means the gate refused
    (the refusal is recorded; answer it without rolling back)."""

    distribution: DistributionRead | None
    passed: bool
    report: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""
    opened: bool = False


# -- reading -------------------------------------------------------------------------------------
def get(session: Session, ref: str) -> DataResource:
    found = repository.resource(session, ref)
    if found is None:
        raise errors.ResourceNotFound(ref=ref)
    return found


def show(session: Session, ref: str | DataResource) -> ResourceRead:
    """The resource's current metadata, fields and distributions."""
    row = get(session, ref) if isinstance(ref, str) else ref
    return _read(session, row)


def show_many(session: Session, ids: list[str]) -> list[ResourceRead]:
    """:func:`show` for a page of resources in three queries (not two per resource), in ``ids`` order."""
    return [_read(session, one.resource, one.fields, one.distributions) for one in search.load(session, ids)]


def _read(session: Session, row: DataResource, fields: list[ResourceField] | None = None,
          distributions: list[Distribution] | None = None) -> ResourceRead:
    data = {c: getattr(row, c) for c in ResourceRead.model_fields if hasattr(row, c) and c not in
            ("fields", "distributions", "tags")}
    data["tags"] = json.loads(row.tags or "[]")
    if fields is None:
        fields = repository.fields_of(session, row.id)
    if distributions is None:
        distributions = repository.distributions_of(session, row.id)
    data["fields"] = [FieldRead.model_validate(f) for f in fields]
    data["distributions"] = [DistributionRead.model_validate(d) for d in distributions]
    return ResourceRead(**data)


def history(session: Session, actor: Actor, ref: str) -> list[dict[str, Any]]:
    """The metadata versions of a resource, newest first, each with its snapshot."""
    require_catalogue(actor)
    row = get(session, ref)
    _require_read(actor, session, row)
    return [{"version": v.version, "note": v.note, "changed_by": v.changed_by, "changed_at": v.changed_at,
             "snapshot": json.loads(v.snapshot)} for v in repository.metadata_history(session, row.id)]


def require_catalogue(actor: Actor) -> None:
    """Refuse anyone who may neither read nor manage the catalogue anywhere."""
    if not actor.is_authenticated:
        raise AuthenticationRequired()
    if not (actor.scopes(READ) or actor.scopes(MANAGE)):
        raise PermissionDenied(permission=READ)


def _require_managing(actor: Actor) -> None:
    """Refuse, before anything is looked up, anyone who manages no department's data."""
    if not actor.is_authenticated:
        raise AuthenticationRequired()
    if not actor.scopes(MANAGE):
        raise PermissionDenied(permission=MANAGE)


def require_read(actor: Actor, session: Session, row: DataResource) -> None:
    """Refuse staff who may not read this resource's catalogue entry."""
    _require_read(actor, session, row)


def _require_read(actor: Actor, session: Session, row: DataResource) -> None:
    if not actor.is_authenticated:
        raise AuthenticationRequired()
    dept = _department(session, row.department_id)
    if not (actor.can(READ, area_code=dept.area_code if dept else None)
            or actor.can(MANAGE, area_code=dept.area_code if dept else None, department_id=row.department_id)):
        raise PermissionDenied(permission=READ, target=f"data_resource:{row.id}")


def _department(session: Session, ref: str) -> DepartmentRead | None:
    """A department by id or code, or None."""
    for find in (areas_service.get_department, areas_service.get_department_by_code):
        try:
            return find(session, ref)
        except areas_errors.DepartmentNotFound:
            continue
    return None


def _require_manage(actor: Actor, session: Session, department_id: str) -> None:
    dept = _department(session, department_id)
    if dept is None:
        raise errors.DepartmentUnknown(ref=department_id)
    actor.require(MANAGE, area_code=dept.area_code, department_id=department_id,
                  target=f"department:{department_id}")


# -- the catalogue ---------------------------------------------------------------------------------
def _department_id(session: Session, ref: str) -> str:
    dept = _department(session, ref)
    if dept is None:
        raise errors.DepartmentUnknown(ref=ref)
    return dept.id


def _check(session: Session, data: ResourceIn, *, other_than: str | None = None) -> None:
    if data.topic not in TOPICS:
        raise errors.TopicUnknown(topic=data.topic, topics="、".join(TOPICS))
    names = [f.name.strip() for f in data.fields]
    for name in names:
        if names.count(name) > 1:
            raise errors.FieldsInvalid(name=name)
    clash = repository.taken(session, name=data.name, code=data.code, other_than=other_than)
    if clash is not None:
        raise errors.ResourceExists(what=clash, value=data.name if clash == "name" else data.code)


def _snapshot(session: Session, row: DataResource) -> str:
    read = _read(session, row)
    return json.dumps(read.model_dump(mode="json", exclude={"distributions", "views", "downloads"}),
                      ensure_ascii=False, sort_keys=True)


def _apply_metadata(session: Session, row: DataResource, data: ResourceIn) -> None:
    for name in ("name", "code", "title", "department_id", "summary", "topic", "format", "update_cycle",
                 "sharing", "sharing_conditions", "opening", "opening_conditions", "license_id"):
        setattr(row, name, getattr(data, name))
    row.tags = json.dumps([t.strip() for t in data.tags if t.strip()], ensure_ascii=False)
    repository.replace_fields(session, row.id, [
        ResourceField(id=new_id(), resource_id=row.id, position=i, name=f.name.strip(), title=f.title or f.name,
                      type=f.type, grade=f.grade, level=f.level if f.grade == "general" else 1,
                      quasi_identifier=f.quasi_identifier, description=f.description)
        for i, f in enumerate(data.fields)
    ])
    session.flush()


def _reindex(session: Session, row: DataResource) -> None:
    dept = _department(session, row.department_id)
    row.search_text = search.search_text_of(row, repository.fields_of(session, row.id), dept.name if dept else "")
    search.reindex(session, row)


def _version(session: Session, actor: Actor, row: DataResource, note: str) -> None:
    session.add(ResourceVersion(id=new_id(), resource_id=row.id, version=row.metadata_version,
                                snapshot=_snapshot(session, row), note=note, changed_by=actor.user_id))


def create_resource(session: Session, actor: Actor, data: ResourceIn) -> ResourceRead:
    """Register a data resource (metadata version 1), in ``draft`` until it opens."""
    _require_managing(actor)
    data = data.model_copy(update={"department_id": _department_id(session, data.department_id)})
    _require_manage(actor, session, data.department_id)
    _check(session, data)
    now = utcnow()
    row = DataResource(id=new_id(), name=data.name, code=data.code, title=data.title,
                       department_id=data.department_id, topic=data.topic, format=data.format,
                       update_cycle=data.update_cycle, sharing=data.sharing, opening=data.opening,
                       state="draft", metadata_version=1, created_by=actor.user_id, created_at=now, updated_at=now,
                       next_update_due=_due(data.update_cycle, now), views=0, downloads=0)
    session.add(row)
    session.flush()
    _apply_metadata(session, row, data)
    _version(session, actor, row, data.note or "created")
    _reindex(session, row)
    audit_service.record(session, actor, "datacat.resource.create", target_type="data_resource", target_id=row.id,
                         detail={"code": row.code, "name": row.name, "department_id": row.department_id})
    return _read(session, row)


def _as_input(session: Session, row: DataResource) -> dict[str, Any]:
    read = _read(session, row)
    data = read.model_dump(include=set(ResourceIn.model_fields) - {"fields", "note"})
    data["fields"] = [FieldIn.model_validate(f.model_dump()).model_dump() for f in read.fields]
    return data


def update_resource(session: Session, actor: Actor, ref: str, changes: dict[str, Any], *,
                    replace: bool = False) -> ResourceRead:
    """A new metadata version: ``replace`` takes ``changes`` as the whole record (keys left out get
    their defaults), otherwise only the keys given change. An open resource's tables are scanned
    again with the new grades: a change that would leave open data the gate refuses is refused."""
    _require_managing(actor)
    row = get(session, ref)
    _require_manage(actor, session, row.department_id)
    merged = dict(changes) if replace else {**_as_input(session, row), **changes}
    merged.setdefault("name", row.name)
    merged.setdefault("code", row.code)
    merged.setdefault("department_id", row.department_id)
    try:
        data = ResourceIn.model_validate(merged)
    except ValidationError as exc:
        raise ValidationFailed(errors=[{"field": ".".join(map(str, e["loc"])), "message": e["msg"]}
                                       for e in exc.errors()]) from exc
    data = data.model_copy(update={"department_id": _department_id(session, data.department_id)})
    if data.department_id != row.department_id:
        _require_manage(actor, session, data.department_id)
    _check(session, data, other_than=row.id)
    _apply_metadata(session, row, data)
    if row.state == "open":
        if data.opening == "none":
            _close(session, row)
        else:
            refused = [(d, r) for d, r in _scan_open_tables(session, row) if not r.passed]
            if refused:
                raise errors.GateRefusedChange(report=refused[0][1].message_zh())
    row.metadata_version += 1
    row.updated_at = utcnow()
    row.next_update_due = _due(row.update_cycle, row.data_updated_at or row.created_at)
    session.flush()
    _version(session, actor, row, data.note or "updated")
    _reindex(session, row)
    audit_service.record(session, actor, "datacat.resource.update", target_type="data_resource", target_id=row.id,
                         detail={"version": row.metadata_version, "keys": sorted(changes)})
    return _read(session, row)


def _due(cycle: str, since: datetime) -> datetime | None:
    days = CYCLE_DAYS.get(cycle)
    return since + timedelta(days=days) + GRACE if days else None


# -- data ---------------------------------------------------------------------------------------------
def _rules(session: Session, resource_id: str) -> tuple[list[ingest.Column], list[gate.FieldRule]]:
    fields = repository.fields_of(session, resource_id)
    return ([ingest.Column(f.name, f.type) for f in fields],
            [gate.FieldRule(f.name, f.grade, f.level, f.quasi_identifier) for f in fields])


def _steps(dist: Distribution) -> list[gate.Step]:
    return [gate.Step.from_dict(s) for s in json.loads(dist.steps or "[]")]


def _format_of(content: bytes) -> tuple[str, bytes]:
    """(``CSV``/``XLSX``/``JSON`` for a table, ``PDF`` for a document, the bytes to store): judged
    by content; a GB18030 CSV is stored as UTF-8."""
    media, _kind, _params = files_service.detect(content)
    if media == XLSX:
        return "XLSX", content
    if media == files_service.PDF:
        return "PDF", content
    if media == TEXT:
        head = content.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
        return ("JSON" if head in (b"[", b"{") else "CSV"), content
    if media is None:
        try:
            text = content.decode("gb18030")
        except UnicodeDecodeError:
            raise errors.FormatUnsupported() from None
        if any(ord(c) < 32 and c not in "\t\r\n" for c in text[:4096]):
            raise errors.FormatUnsupported()
        return "CSV", text.encode("utf-8")
    raise errors.FormatUnsupported()


def _parse(session: Session, dist: Distribution, version: DistributionVersion | None = None, *,
           content: bytes | None = None, fmt: str | None = None, max_rows: int = 5_000_000) -> ingest.Table:
    declared, _rules_ = _rules(session, dist.resource_id)
    if content is None:
        assert version is not None
        content = _file_bytes(session, version.file_id)
        fmt = version.format
    assert fmt is not None
    return ingest.parse(content, fmt, declared=declared or None, max_rows=max_rows)


def _file_bytes(session: Session, file_id: str) -> bytes:
    return files_service.read_bytes(session, file_id)


def add_distribution(session: Session, actor: Actor, ref: str, *, name: str, data: bytes, filename: str,
                     description: str = "", distribution_id: str | None = None) -> Outcome:
    """Upload a table: a new distribution, or a new version of ``distribution_id``. The table is
    parsed (rows that do not fit the declared fields are reported and left out), scanned by the gate,
    and — when it passes and the resource is open — replaces the open table. A PDF becomes a file
    distribution (a download) that waits for a data officer's review (:func:`review_file`)."""
    _require_managing(actor)
    row = get(session, ref)
    _require_manage(actor, session, row.department_id)
    settings = settings_for(session)
    fmt, content = _format_of(data[: MAX_DATA_BYTES + 1] if isinstance(data, bytes) else data)
    kind = "file" if fmt == "PDF" else "table"
    if distribution_id is not None:
        dist = session.get(Distribution, distribution_id)
        if dist is None or dist.resource_id != row.id:
            raise errors.DistributionNotFound(ref=distribution_id)
        if dist.kind != kind:
            raise errors.KindMismatch()
    else:
        dist = Distribution(id=new_id(), resource_id=row.id, position=len(repository.distributions_of(session, row.id)),
                            name=(name or filename or fmt).strip()[:200], description=description, kind=kind,
                            format=fmt, steps="[]", datastore_active=False)
        session.add(dist)
        session.flush()
    if kind == "file":
        return _add_file(session, actor, row, dist, content, filename)
    table = _parse(session, dist, content=content, fmt=fmt)
    if not repository.fields_of(session, row.id):
        _adopt_columns(session, actor, row, table.columns)
    stored = files_service.store(session, actor, data=content, filename=filename or f"{dist.id}.{fmt.lower()}",
                                 purpose="dataset", allowed=frozenset({TEXT, XLSX}),
                                 max_bytes=max(settings.max_upload_bytes or 0, MAX_DATA_BYTES))
    previous = repository.latest_version(session, dist.id)
    version = DistributionVersion(
        id=new_id(), distribution_id=dist.id, number=(previous.number + 1) if previous else 1, file_id=stored.id,
        format=fmt, row_count=len(table.rows), error_count=len(table.errors),
        errors=json.dumps([_error_dict(e) for e in table.errors[:ERRORS_KEPT]], ensure_ascii=False),
        created_by=actor.user_id, created_at=utcnow())
    session.add(version)
    dist.format, dist.size, dist.updated_at = fmt, len(content), utcnow()
    report = _gate(session, dist, version, table)
    outcome = Outcome(distribution=None, passed=report.passed, report=report.to_dict(),
                      errors=json.loads(version.errors), message="" if report.passed else report.message_zh())
    if report.passed and row.state == "open":
        _publish(session, row, dist, version, table)
        outcome.opened = True
    session.flush()
    _reindex(session, row)
    audit_service.record(session, actor, "datacat.distribution.upload", target_type="data_resource", target_id=row.id,
                         detail={"distribution_id": dist.id, "version": version.number, "rows": version.row_count,
                                 "row_errors": version.error_count, "gate": version.gate})
    outcome.distribution = DistributionRead.model_validate(dist)
    return outcome


UNREVIEWED = ("A PDF cannot be scanned by the gate: a data officer must read it and confirm that it holds no "
              "personal data before it opens.")


def _add_file(session: Session, actor: Actor, row: DataResource, dist: Distribution, content: bytes,
              filename: str) -> Outcome:
    """A document kept as a download: the gate cannot read it, so it waits (gate ``pending``) for a
    data officer's recorded review before it can open."""
    settings = settings_for(session)
    stored = files_service.store(session, actor, data=content, filename=filename or f"{dist.id}.pdf",
                                 purpose="dataset", allowed=frozenset({files_service.PDF}),
                                 max_bytes=max(settings.max_upload_bytes or 0, MAX_DATA_BYTES))
    previous = repository.latest_version(session, dist.id)
    version = DistributionVersion(
        id=new_id(), distribution_id=dist.id, number=(previous.number + 1) if previous else 1, file_id=stored.id,
        format=dist.format, row_count=0, error_count=0, errors="[]", gate="pending",
        gate_report=json.dumps({"passed": False, "unscanned": dist.format}), created_by=actor.user_id,
        created_at=utcnow())
    session.add(version)
    dist.size, dist.updated_at = len(content), utcnow()
    session.flush()
    _reindex(session, row)
    audit_service.record(session, actor, "datacat.distribution.upload", target_type="data_resource", target_id=row.id,
                         detail={"distribution_id": dist.id, "version": version.number, "format": dist.format,
                                 "gate": version.gate})
    return Outcome(distribution=DistributionRead.model_validate(dist), passed=False,
                   report=json.loads(version.gate_report), message=translate(UNREVIEWED))


def review_file(session: Session, actor: Actor, distribution_id: str, *, note: str) -> Outcome:
    """A data officer records that the latest upload of a document holds no personal data (who,
    when, and a note are kept on the version and in the audit trail); an open resource then serves
    it at once."""
    _require_managing(actor)
    dist = session.get(Distribution, distribution_id)
    if dist is None or dist.kind != "file":
        raise errors.DistributionNotFound(ref=distribution_id)
    row = get(session, dist.resource_id)
    _require_manage(actor, session, row.department_id)
    if not note.strip():
        raise ValidationFailed(errors=[{"field": "note", "message": "required"}])
    version = repository.latest_version(session, dist.id)
    assert version is not None
    version.gate = "passed"
    version.gate_report = json.dumps({"passed": True, "unscanned": dist.format, "reviewed_by": actor.user_id,
                                      "reviewed_at": utcnow().isoformat(), "note": note.strip()[:500]},
                                     ensure_ascii=False)
    if version.state == "refused":
        version.state = "uploaded"
    if row.state == "open":
        _publish_file(row, dist, version)
    session.flush()
    audit_service.record(session, actor, "datacat.distribution.review", target_type="data_resource",
                         target_id=row.id, detail={"distribution_id": dist.id, "version": version.number})
    return Outcome(distribution=DistributionRead.model_validate(dist), passed=True, opened=row.state == "open")


def _publish_file(row: DataResource, dist: Distribution, version: DistributionVersion) -> None:
    now = utcnow()
    if dist.current_version_id and dist.current_version_id != version.id:
        old = object_session(dist).get(DistributionVersion, dist.current_version_id)  # type: ignore[union-attr]
        if old is not None:
            old.state = "replaced"
    version.state, version.opened_at = "open", now
    dist.current_version_id, dist.updated_at = version.id, now
    row.data_updated_at, row.updated_at = now, now
    row.next_update_due = _due(row.update_cycle, now)


def open_file(session: Session, actor: Actor, distribution_id: str,
              access_token: str | None) -> tuple[str, str, bytes]:
    """(title, format, bytes) of an open document for an outside reader (:func:`can_read_data`)."""
    dist = session.get(Distribution, distribution_id)
    if dist is None or dist.kind != "file" or dist.current_version_id is None:
        raise errors.DistributionNotFound(ref=distribution_id)
    row = get(session, dist.resource_id)
    if row.state != "open":
        raise errors.DistributionNotFound(ref=distribution_id)
    if not can_read_data(session, actor, row, access_token):
        raise PermissionDenied(permission="datacat.access", target=f"data_resource:{row.id}")
    version = session.get(DistributionVersion, dist.current_version_id)
    assert version is not None
    return row.title, dist.format, files_service.read_bytes(session, version.file_id)


def _error_dict(e: ingest.RowError) -> dict[str, Any]:
    return {"row": e.row, "field": e.field, "message": e.message}


def _adopt_columns(session: Session, actor: Actor, row: DataResource, columns: list[ingest.Column]) -> None:
    """A resource catalogued without fields takes the first table's columns (graded 一般, level 1,
    for the officer to grade) as a new metadata version."""
    repository.replace_fields(session, row.id, [
        ResourceField(id=new_id(), resource_id=row.id, position=i, name=c.name, title=c.name, type=c.type,
                      grade="general", level=1, quasi_identifier=False, description="")
        for i, c in enumerate(columns)])
    session.flush()
    row.metadata_version += 1
    _version(session, actor, row, "fields taken from the uploaded table")


def _gate(session: Session, dist: Distribution, version: DistributionVersion, table: ingest.Table) -> gate.Report:
    _declared, rules = _rules(session, dist.resource_id)
    report = gate.scan(table.columns, table.rows, rules, _steps(dist))
    version.gate = "passed" if report.passed else "refused"
    version.gate_report = json.dumps(report.to_dict(), ensure_ascii=False, default=str)
    if not report.passed:
        version.state = "refused"
    return report


def _publish(session: Session, row: DataResource, dist: Distribution, version: DistributionVersion,
             table: ingest.Table) -> None:
    steps = _steps(dist)
    columns, rows = gate.apply(table.columns, table.rows, steps)
    if dist.current_version_id and dist.current_version_id != version.id:
        old = session.get(DistributionVersion, dist.current_version_id)
        if old is not None:
            old.state = "replaced"
    now = utcnow()
    version.state, version.opened_at = "open", now
    version.steps = json.dumps([s.to_dict() for s in steps], ensure_ascii=False)
    dist.current_version_id, dist.row_count, dist.datastore_active, dist.updated_at = version.id, len(rows), True, now
    row.data_updated_at, row.updated_at = now, now
    row.next_update_due = _due(row.update_cycle, now)
    session.flush()
    datastore.replace(settings_for(session), dist.id, columns, rows)


def _scan_open_tables(session: Session, row: DataResource) -> list[tuple[Distribution, gate.Report]]:
    out = []
    for dist in repository.distributions_of(session, row.id):
        version = session.get(DistributionVersion, dist.current_version_id) if dist.current_version_id else None
        if version is None or dist.kind != "table":
            continue
        table = _parse(session, dist, version)
        out.append((dist, _gate_only(session, dist, table)))
    return out


def _gate_only(session: Session, dist: Distribution, table: ingest.Table) -> gate.Report:
    _declared, rules = _rules(session, dist.resource_id)
    return gate.scan(table.columns, table.rows, rules, _steps(dist))


def versions(session: Session, actor: Actor, distribution_id: str) -> list[dict[str, Any]]:
    """Every upload of a table, newest first, with its row errors and the gate's report."""
    require_catalogue(actor)
    dist = session.get(Distribution, distribution_id)
    if dist is None:
        raise errors.DistributionNotFound(ref=distribution_id)
    _require_read(actor, session, get(session, dist.resource_id))
    return [{"id": v.id, "number": v.number, "format": v.format, "rows": v.row_count, "row_errors": v.error_count,
             "errors": json.loads(v.errors), "gate": v.gate, "report": json.loads(v.gate_report),
             "steps": json.loads(v.steps), "state": v.state, "created_at": v.created_at, "opened_at": v.opened_at}
            for v in repository.versions_of(session, dist.id)]


def set_steps(session: Session, actor: Actor, distribution_id: str, steps: list[dict[str, Any]]) -> Outcome:
    """Record the de-identification steps of a table and scan its latest upload with them (the
    answer says whether it would now pass; opening is a separate act)."""
    _require_managing(actor)
    dist = session.get(Distribution, distribution_id)
    if dist is None or dist.kind != "table":
        raise errors.DistributionNotFound(ref=distribution_id)
    row = get(session, dist.resource_id)
    _require_manage(actor, session, row.department_id)
    names = {f.name for f in repository.fields_of(session, row.id)}
    try:
        parsed = [gate.Step.from_dict(s) for s in steps]
    except (KeyError, TypeError, ValueError) as exc:
        raise errors.StepsInvalid(reason=str(exc)) from None
    for step in parsed:
        if step.field not in names:
            raise errors.StepsInvalid(reason=f"there is no field {step.field}")
    dist.steps = json.dumps([s.to_dict() for s in parsed], ensure_ascii=False)
    dist.updated_at = utcnow()
    session.flush()
    audit_service.record(session, actor, "datacat.distribution.steps", target_type="data_resource", target_id=row.id,
                         detail={"distribution_id": dist.id, "steps": [s.to_dict() for s in parsed]})
    latest = repository.latest_version(session, dist.id)
    if latest is None:
        return Outcome(distribution=DistributionRead.model_validate(dist), passed=True)
    table = _parse(session, dist, latest)
    report = _gate(session, dist, latest, table)
    if report.passed and latest.state == "refused":
        latest.state = "uploaded"
    if report.passed and row.state == "open":
        _publish(session, row, dist, latest, table)
    session.flush()
    return Outcome(distribution=DistributionRead.model_validate(dist), passed=report.passed, report=report.to_dict(),
                   message="" if report.passed else report.message_zh(), opened=report.passed and row.state == "open")


def open_resource(session: Session, actor: Actor, ref: str) -> Outcome:
    """Open a resource on the portal: every table's latest upload is scanned again with the current
    grades and steps; all must pass. A refusal sets the state ``refused`` and keeps the report."""
    _require_managing(actor)
    row = get(session, ref)
    _require_manage(actor, session, row.department_id)
    if row.opening == "none":
        raise errors.NotOpenable()
    dists = repository.distributions_of(session, row.id)
    latest = [(d, repository.latest_version(session, d.id)) for d in dists]
    latest = [(d, v) for d, v in latest if v is not None]
    if not latest:
        raise errors.NothingToOpen()
    files = [(d, v) for d, v in latest if d.kind == "file"]
    unreviewed = [d for d, v in files if v is not None and v.gate != "passed"]
    scanned = []
    for dist, version in latest:
        assert version is not None
        if dist.kind == "file":
            continue
        table = _parse(session, dist, version)
        scanned.append((dist, version, table, _gate(session, dist, version, table)))
    refused = [s for s in scanned if not s[3].passed]
    if unreviewed and not refused:
        row.state, row.updated_at = "refused", utcnow()
        session.flush()
        _reindex(session, row)
        audit_service.record(session, actor, "datacat.resource.open", target_type="data_resource", target_id=row.id,
                             outcome="refused", detail={"unreviewed": [d.id for d in unreviewed]})
        return Outcome(distribution=DistributionRead.model_validate(unreviewed[0]), passed=False,
                       report={d.id: {"passed": False, "unscanned": d.format} for d in unreviewed},
                       message=translate(UNREVIEWED))
    if refused:
        row.state, row.updated_at = "refused", utcnow()
        session.flush()
        _reindex(session, row)
        report = {d.id: r.to_dict() for d, _v, _t, r in refused}
        audit_service.record(session, actor, "datacat.resource.open", target_type="data_resource", target_id=row.id,
                             outcome="refused", detail={"distributions": sorted(report)})
        return Outcome(distribution=DistributionRead.model_validate(refused[0][0]), passed=False, report=report,
                       message="；".join(r.message_zh() for _d, _v, _t, r in refused))
    for dist, version, table, _report in scanned:
        assert version is not None
        _publish(session, row, dist, version, table)
    for dist, version in files:
        assert version is not None
        _publish_file(row, dist, version)
    row.state = "open"
    row.published_on = row.published_on or datetime.now(UTC).date()
    session.flush()
    _reindex(session, row)
    audit_service.record(session, actor, "datacat.resource.open", target_type="data_resource", target_id=row.id,
                         detail={"distributions": [d.id for d, *_ in scanned]})
    return Outcome(distribution=None, passed=True, opened=True)


def close_resource(session: Session, actor: Actor, ref: str, *, reason: str = "") -> ResourceRead:
    """Withdraw a resource from the portal (its open tables leave the datastore; history stays)."""
    _require_managing(actor)
    row = get(session, ref)
    _require_manage(actor, session, row.department_id)
    _close(session, row)
    session.flush()
    _reindex(session, row)
    audit_service.record(session, actor, "datacat.resource.close", target_type="data_resource", target_id=row.id,
                         detail={"reason": reason[:200]})
    return _read(session, row)


def _close(session: Session, row: DataResource) -> None:
    settings = settings_for(session)
    for dist in repository.distributions_of(session, row.id):
        if dist.datastore_active:
            datastore.drop(settings, dist.id)
            dist.datastore_active = False
    row.state, row.updated_at = "closed", utcnow()


def republish(session: Session, *, after_id: str = "", batch: int = 20) -> list[str]:
    """Load the open version of every open table into the datastore again from its kept upload, with
    the steps recorded on that version — after a restore (the SQLite datastore file is derived data
    and not in the backup) or a move of the datastore. Returns the distribution ids done, in id
    order, at most ``batch`` after ``after_id``; the caller loops until it gets none."""
    settings = settings_for(session)
    done = []
    for dist in repository.open_distributions(session, after_id=after_id, limit=batch):
        version = session.get(DistributionVersion, dist.current_version_id) if dist.current_version_id else None
        if version is None:
            continue
        table = _parse(session, dist, version)
        steps = [gate.Step.from_dict(x) for x in json.loads(version.steps or "[]")]
        columns, rows = gate.apply(table.columns, table.rows, steps)
        datastore.replace(settings, dist.id, columns, rows)
        done.append(dist.id)
    return done


def republish_all(db: Database) -> int:
    """:func:`republish` every open table, one batch per read-only transaction; the number loaded."""
    after, total = "", 0
    while True:
        with db.transaction(write=False) as session:
            done = republish(session, after_id=after)
        if not done:
            return total
        total += len(done)
        after = done[-1]


# -- who sees what ----------------------------------------------------------------------------------
def preview(session: Session, actor: Actor, distribution_id: str, *, limit: int = 20) -> dict[str, Any]:
    """The first rows of a table's latest upload for staff: fields above the viewer's grant masked
    (the provider department sees all). A read that shows fields of sensitivity 3 or more unmasked
    is audited, naming the fields."""
    require_catalogue(actor)
    dist = session.get(Distribution, distribution_id)
    if dist is None:
        raise errors.DistributionNotFound(ref=distribution_id)
    row = get(session, dist.resource_id)
    _require_read(actor, session, row)
    version = repository.latest_version(session, dist.id)
    fields = repository.fields_of(session, row.id)
    if version is None or dist.kind != "table":
        return {"columns": [], "rows": [], "masked": [], "version": None}
    table = _parse(session, dist, version, max_rows=max(1, min(limit, 200)))
    allowed = _allowed_sensitivity(session, actor, row)
    grade_of = {f.name: sensitivity(f.grade, f.level) for f in fields}
    masked = [c.name for c in table.columns if grade_of.get(c.name, 1) > allowed]
    shown_sensitive = [c.name for c in table.columns
                       if c.name not in masked and grade_of.get(c.name, 1) >= UNMASKED_AUDIT_FROM]
    settings = settings_for(session)
    rows = [[_masked(v, grade_of.get(c.name, 1), settings) if c.name in masked else v
             for c, v in zip(table.columns, values, strict=False)] for values in table.rows]
    if shown_sensitive and rows:
        audit_service.record(session, actor, "datacat.preview.unmasked", target_type="data_resource",
                             target_id=row.id, purpose="preview",
                             detail={"distribution_id": dist.id, "fields": shown_sensitive, "rows": len(rows)})
    return {"columns": [{"name": c.name, "type": c.type, "sensitivity": grade_of.get(c.name, 1)} for c in table.columns],
            "rows": rows, "masked": masked, "version": version.number}


def _allowed_sensitivity(session: Session, actor: Actor, row: DataResource) -> int:
    if actor.is_system or row.department_id in actor.department_ids:
        return 6
    granted = repository.live_grant(session, row.id, actor.department_ids, utcnow())
    return max(2, granted)


def _masked(value: Any, level: int, settings: Settings) -> Any:
    if value is None:
        return None
    return mask(value, "first_last" if level <= 4 else "redact", settings=settings)


def grant(session: Session, actor: Actor, ref: str, *, department_id: str, max_sensitivity: int,
          purpose: str, expires_at: datetime | None = None) -> dict[str, Any]:
    """The provider lets a department's staff see fields up to ``max_sensitivity`` unmasked."""
    _require_managing(actor)
    row = get(session, ref)
    _require_manage(actor, session, row.department_id)
    target = _department_id(session, department_id)
    if not 1 <= max_sensitivity <= 6:
        raise ValidationFailed(errors=[{"field": "max_sensitivity", "message": "1–6"}])
    g = FieldGrant(id=new_id(), resource_id=row.id, department_id=target, max_sensitivity=max_sensitivity,
                   purpose=purpose[:200], granted_by=actor.user_id, granted_at=utcnow(), expires_at=expires_at)
    session.add(g)
    session.flush()
    audit_service.record(session, actor, "datacat.grant.create", target_type="data_resource", target_id=row.id,
                         detail={"department_id": target, "max_sensitivity": max_sensitivity})
    return {"id": g.id, "department_id": target, "max_sensitivity": max_sensitivity, "expires_at": expires_at}


def revoke_grant(session: Session, actor: Actor, grant_id: str) -> None:
    _require_managing(actor)
    g = session.get(FieldGrant, grant_id)
    if g is None:
        raise errors.ResourceNotFound(ref=grant_id)
    row = get(session, g.resource_id)
    _require_manage(actor, session, row.department_id)
    g.revoked_at = utcnow()
    session.flush()
    audit_service.record(session, actor, "datacat.grant.revoke", target_type="data_resource", target_id=row.id,
                         detail={"grant_id": g.id, "department_id": g.department_id})


# -- outside access -----------------------------------------------------------------------------------
def _token_mac(settings: Settings, request_id: str) -> str:
    key = key_ring(settings).secret_key()
    return hmac.new(key, b"datacat.access\x00" + request_id.encode(), hashlib.sha256).hexdigest()[:32]


def access_token(session: Session, actor: Actor, request_id: str) -> str:
    """The applicant's token for an approved request (not stored: derived from the request id)."""
    req = session.get(AccessRequest, request_id)
    if req is None or req.user_id != actor.user_id:
        raise errors.AccessRequestNotFound(ref=request_id)
    if req.status != "approved":
        raise errors.AccessRequestNotFound(ref=request_id)
    return f"ywa_{req.id}.{_token_mac(settings_for(session), req.id)}"


def can_read_data(session: Session, actor: Actor, resource: DataResource, access_token: str | None) -> bool:
    """Whether an outside reader may read the open data: anyone for 无条件开放; for 有条件开放 an
    approved, unexpired, unrevoked request's token for this resource (or the provider's staff)."""
    if resource.state != "open" or resource.opening == "none":
        return False
    if resource.opening == "unconditional":
        return True
    if actor.is_system or resource.department_id in actor.department_ids:
        return True
    if not access_token or not access_token.startswith("ywa_") or "." not in access_token:
        return False
    request_id, mac = access_token[4:].split(".", 1)
    if not hmac.compare_digest(mac, _token_mac(settings_for(session), request_id)):
        return False
    req = session.get(AccessRequest, request_id)
    return (req is not None and req.resource_id == resource.id and req.status == "approved"
            and (req.expires_at is None or req.expires_at > utcnow()))


def request_access(session: Session, actor: Actor, ref: str, *, organisation: str, purpose: str) -> AccessRequest:
    """有条件开放申请 by a signed-in user for a conditionally open resource."""
    if not actor.is_authenticated or actor.user_id is None:
        raise AuthenticationRequired()
    row = get(session, ref)
    if row.state != "open" or row.opening != "conditional":
        raise errors.AccessNotNeeded()
    problems = [{"field": k, "message": "required"} for k, v in (("organisation", organisation), ("purpose", purpose))
                if not v.strip()]
    if problems:
        raise ValidationFailed(errors=problems)
    req = AccessRequest(id=new_id(), resource_id=row.id, user_id=actor.user_id, organisation=organisation.strip()[:200],
                        purpose=purpose.strip()[:2000], status="pending", created_at=utcnow())
    session.add(req)
    session.flush()
    audit_service.record(session, actor, "datacat.access.request", target_type="data_resource", target_id=row.id,
                         detail={"request_id": req.id})
    return req


def access_requests(session: Session, actor: Actor, *, resource_ref: str | None, status: str | None,
                    limit: int = 100) -> list[AccessRequest]:
    """The actor's own requests; with ``resource_ref``, that resource's requests for its officers."""
    if not actor.is_authenticated:
        raise AuthenticationRequired()
    if resource_ref is None:
        return repository.access_requests(session, user_id=actor.user_id, status=status, limit=limit)
    _require_managing(actor)
    row = get(session, resource_ref)
    _require_manage(actor, session, row.department_id)
    return repository.access_requests(session, resource_id=row.id, status=status, limit=limit)


def decide_access(session: Session, actor: Actor, request_id: str, *, approve: bool, reason: str = "",
                  days: int = ACCESS_DAYS) -> AccessRequest:
    """The provider's data officer approves (for ``days``) or rejects an access request."""
    _require_managing(actor)
    req = session.get(AccessRequest, request_id)
    if req is None:
        raise errors.AccessRequestNotFound(ref=request_id)
    row = get(session, req.resource_id)
    _require_manage(actor, session, row.department_id)
    if req.status != "pending":
        raise errors.AccessAlreadyDecided()
    now = utcnow()
    req.status = "approved" if approve else "rejected"
    req.reason, req.decided_by, req.decided_at = reason[:2000], actor.user_id, now
    req.expires_at = now + timedelta(days=max(1, min(days, 3 * 365))) if approve else None
    session.flush()
    audit_service.record(session, actor, "datacat.access.decide", target_type="data_resource", target_id=row.id,
                         detail={"request_id": req.id, "status": req.status})
    return req


def record_view(db: Database, resource_id: str) -> None:
    """Count a view of a dataset page: queued to the worker's group commit, not waited for (a
    counter never slows or fails the reader)."""
    _count(db, resource_id, "views")


def record_download(db: Database, resource_id: str) -> None:
    """Count a download (as :func:`record_view`)."""
    _count(db, resource_id, "downloads")


def _count(db: Database, resource_id: str, column: str) -> None:
    def write(session: Session) -> None:
        session.execute(update(DataResource).where(DataResource.id == resource_id)
                        .values({column: getattr(DataResource, column) + 1}))

    committer_for(db).submit(write)


# -- lists ------------------------------------------------------------------------------------------
def responsibilities(session: Session, actor: Actor, *, department_id: str | None = None, late_only: bool = False,
                     limit: int = 200) -> list[dict[str, Any]]:
    """责任清单: which department owes which resource and by when; late ones flagged."""
    require_catalogue(actor)
    now = utcnow()
    rows = repository.responsibilities(session, department_id=department_id, late_at=now if late_only else None,
                                       limit=max(1, min(limit, 1000)))
    return [{"resource_id": r.id, "name": r.name, "title": r.title, "department_id": r.department_id,
             "update_cycle": r.update_cycle, "data_updated_at": r.data_updated_at, "due": r.next_update_due,
             "late": bool(r.next_update_due and r.next_update_due < now)} for r in rows]


def create_demand(session: Session, actor: Actor, *, title: str, description: str = "",
                  target_department_id: str | None = None) -> DataDemand:
    """需求清单: anyone signed in asks for data not yet catalogued (a department's staff for their department)."""
    if not actor.is_authenticated:
        raise AuthenticationRequired()
    if not title.strip():
        raise ValidationFailed(errors=[{"field": "title", "message": "required"}])
    staff = actor.kind in ("staff", "machine") and actor.department_ids
    target = _department_id(session, target_department_id) if target_department_id else None
    d = DataDemand(id=new_id(), title=title.strip()[:200], description=description.strip()[:5000],
                   requester_kind="department" if staff else "public", requester_user_id=actor.user_id,
                   requester_department_id=actor.department_ids[0] if staff else None,
                   target_department_id=target, status="open", created_at=utcnow())
    session.add(d)
    session.flush()
    audit_service.record(session, actor, "datacat.demand.create", target_type="data_demand", target_id=d.id)
    return d


def answer_demand(session: Session, actor: Actor, demand_id: str, *, status: str, answer: str,
                  resource_ref: str | None = None) -> DataDemand:
    """A data officer answers a demand: ``answered``, ``fulfilled`` (naming the resource) or ``declined``."""
    _require_managing(actor)
    d = session.get(DataDemand, demand_id)
    if d is None:
        raise errors.DemandNotFound(ref=demand_id)
    if d.target_department_id:
        _require_manage(actor, session, d.target_department_id)
    if d.status != "open":
        raise errors.DemandAlreadyAnswered()
    if status not in ("answered", "fulfilled", "declined") or not answer.strip():
        raise ValidationFailed(errors=[{"field": "status" if not answer.strip() else "answer", "message": "required"}])
    if status == "fulfilled":
        if not resource_ref:
            raise ValidationFailed(errors=[{"field": "resource", "message": "required"}])
        d.resource_id = get(session, resource_ref).id
    d.status, d.answer, d.answered_by, d.answered_at = status, answer.strip()[:5000], actor.user_id, utcnow()
    session.flush()
    audit_service.record(session, actor, "datacat.demand.answer", target_type="data_demand", target_id=d.id,
                         detail={"status": status})
    return d


def today() -> date:
    return datetime.now(UTC).date()
