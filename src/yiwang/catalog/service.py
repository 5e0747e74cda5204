"""Use cases of the service catalogue: publish items and bundles as new versions, read, list,
search, merge a bundle's forms, validate answers, import and export.

Reading is public. Every change needs ``catalog.manage`` over the area of the implementing
department, is audited in the same transaction and bumps the catalogue's version token (which
rebuilds each process's search index). A published version is never changed: publishing makes a
new version and points the item at it, so applications made against an older one keep it.
"""

from __future__ import annotations

import json
import logging
import re
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml
from sqlalchemy.orm import Session

from yiwang.areas import service as areas_service
from yiwang.audit import service as audit_service
from yiwang.catalog import errors, forms, repository
from yiwang.catalog import search as search_index
from yiwang.catalog.models import Bundle, BundleVersion, ServiceItem, ServiceItemVersion
from yiwang.catalog.schemas import (
    DEPTHS,
    KINDS,
    BundleVersionRead,
    FieldError,
    FormRead,
    ImportProblem,
    ImportReport,
    ItemPage,
    ItemVersionRead,
    SearchHit,
)
from yiwang.core.actor import Actor
from yiwang.core.db import utcnow
from yiwang.core.errors import AppError, AuthenticationRequired, PermissionDenied
from yiwang.core.generations import Memo
from yiwang.core.ids import new_id

log = logging.getLogger("yiwang.catalog")

PERMISSION = "catalog.manage"
PAGE_SIZE = 50
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{1,39}$")
ITEM_FIELDS = ("name", "description", "department", "kind", "legal_limit_days", "promised_limit_days",
               "fee_text", "fee_amount", "online_depth", "areas", "materials", "form", "certificate_type",
               "process_key", "keywords")
BUNDLE_FIELDS = ("name", "description", "items", "keywords")


def require_manage(actor: Actor) -> None:
    """Refuse an actor who holds ``catalog.manage`` nowhere (401 when not signed in)."""
    if not actor.is_system and not actor.is_authenticated:
        raise AuthenticationRequired()
    if not actor.is_system and not actor.scopes(PERMISSION):
        raise PermissionDenied(permission=PERMISSION)


def _record(session: Session, actor: Actor, action: str, **kwargs: Any) -> None:
    audit_service.record(session, actor, action, **kwargs)


# -- reading -------------------------------------------------------------------------------------------

def _item_read(code: str, v: ServiceItemVersion, current_id: str | None) -> ItemVersionRead:
    cert = ({"code": v.certificate_type_code, "name": v.certificate_type_name or ""}
            if v.certificate_type_code else None)
    return ItemVersionRead(
        id=v.id, item_id=v.item_id, code=code, version=v.version, current=v.id == current_id, name=v.name,
        description=v.description or "", department_code=v.department_code, kind=v.kind,
        legal_limit_days=v.legal_limit_days, promised_limit_days=v.promised_limit_days, fee_text=v.fee_text or "",
        fee_amount=float(v.fee_amount) if v.fee_amount is not None else None, online_depth=v.online_depth,
        areas=list(v.areas or []), materials=list(v.materials or []), form=dict(v.form or {}),
        certificate_type=cert, process_key=v.process_key, keywords=list(v.keywords or []), status=v.status,
        published_at=v.published_at,
    )


def _bundle_read(code: str, v: BundleVersion) -> BundleVersionRead:
    return BundleVersionRead(
        id=v.id, bundle_id=v.bundle_id, code=code, version=v.version, name=v.name, description=v.description or "",
        item_codes=list(v.item_codes or []), keywords=list(v.keywords or []), status=v.status,
        published_at=v.published_at,
    )


_MEMO = Memo("catalog", frozenset({"service_items", "service_item_versions", "bundles", "bundle_versions",
                                    "catalog_versions"}))
"""Current versions as read, per process, while the catalogue does not change (``core.generations``):
every filing reads its item's."""


def get_item(session: Session, code: str, version: int | None = None) -> ItemVersionRead:
    """An item's current version (or version number ``version``); ``catalog_item_not_found``."""
    if version is None:
        return _MEMO.get(session, ("item", code), lambda: _load_item(session, code, None))
    return _load_item(session, code, version)


def _load_item(session: Session, code: str, version: int | None) -> ItemVersionRead:
    item = repository.get_item(session, code)
    if item is None or item.current_version_id is None:
        raise errors.ItemNotFound(code=code)
    v = (repository.get_item_version(session, item.current_version_id) if version is None
         else repository.item_version_by_number(session, item.id, version))
    if v is None:
        raise errors.ItemVersionNotFound(code=code, version=version)
    return _item_read(code, v, item.current_version_id)


def get_item_version(session: Session, version_id: str) -> ItemVersionRead:
    """One item version by id (what an application stores), current or not."""
    v = repository.get_item_version(session, version_id)
    if v is None:
        raise errors.ItemVersionNotFound(code="-", version=version_id)
    item = session.get(ServiceItem, v.item_id)
    assert item is not None
    return _item_read(item.code, v, item.current_version_id)


def item_versions(session: Session, code: str) -> list[ItemVersionRead]:
    """Every version of an item, newest first."""
    item = repository.get_item(session, code)
    if item is None:
        raise errors.ItemNotFound(code=code)
    return [_item_read(code, v, item.current_version_id) for v in repository.item_versions(session, item.id)]


def _area_matches(areas: list[str], area_code: str | None) -> bool:
    if not area_code:
        return True
    return any(area_code.startswith(p) or p.startswith(area_code) for p in areas or [])


def list_items(
    session: Session, department: str | None = None, kind: str | None = None, area_code: str | None = None,
    cursor: str | None = None, limit: int = PAGE_SIZE,
) -> ItemPage:
    """Current item versions in code order, filtered; ``next_cursor`` continues the list."""
    out: list[ItemVersionRead] = []
    after = cursor
    while len(out) < limit:
        rows = repository.current_items(session, department=department, kind=kind, after=after, limit=limit)
        if not rows:
            return ItemPage(items=out)
        for item, v in rows:
            after = item.code
            if _area_matches(v.areas, area_code):
                out.append(_item_read(item.code, v, item.current_version_id))
                if len(out) == limit:
                    break
        if len(rows) < limit:
            return ItemPage(items=out)
    more = repository.current_items(session, department=department, kind=kind, after=after, limit=1)
    return ItemPage(items=out, next_cursor=after if more else None)


def get_bundle(session: Session, code: str, version: int | None = None) -> BundleVersionRead:
    """A bundle's current version (or version number ``version``); ``catalog_bundle_not_found``."""
    if version is None:
        return _MEMO.get(session, ("bundle", code), lambda: _load_bundle(session, code, None))
    return _load_bundle(session, code, version)


def _load_bundle(session: Session, code: str, version: int | None) -> BundleVersionRead:
    b = repository.get_bundle(session, code)
    if b is None or b.current_version_id is None:
        raise errors.BundleNotFound(code=code)
    v = (repository.get_bundle_version(session, b.current_version_id) if version is None
         else repository.bundle_version_by_number(session, b.id, version))
    if v is None:
        raise errors.BundleNotFound(code=code)
    return _bundle_read(code, v)


def list_bundles(session: Session) -> list[BundleVersionRead]:
    """Current bundle versions in code order."""
    return [_bundle_read(b.code, v) for b, v in repository.current_bundles(session)]


def search(session: Session, query: str, area_code: str | None = None, limit: int = 20) -> list[SearchHit]:
    """Items and bundles for a query in Chinese, best first (``area_code``: only those that apply there)."""
    return search_index.search(session, query, area_code=area_code, limit=limit)


def item_form(session: Session, code: str, version: int | None = None) -> FormRead:
    """An item's form (current version unless ``version``)."""
    v = get_item(session, code, version)
    return FormRead(code=code, name=v.name, form=v.form,
                    sources={f: [code] for f in (v.form.get("properties") or {})})


def merged_form(session: Session, bundle_code: str) -> FormRead:
    """The bundle's items' current forms merged, each field asked once; ``catalog_form_conflict``."""
    b = get_bundle(session, bundle_code)
    current = repository.current_items_by_codes(session, b.item_codes)
    missing = [c for c in b.item_codes if c not in current]
    if missing:
        raise errors.BundleItemUnknown(item=missing[0])
    merged, sources = forms.merge_forms([(c, current[c].name, current[c].form) for c in b.item_codes])
    return FormRead(code=bundle_code, name=b.name, form=merged, sources=sources)


def merge_item_forms(items: list[ItemVersionRead]) -> dict[str, Any]:
    """The forms of these item versions merged as a bundle merges them (each field asked once)."""
    merged, _ = forms.merge_forms([(i.code, i.name, i.form) for i in items])
    return merged


def validate_form(schema: dict[str, Any], data: Any, locale: str | None = None) -> list[FieldError]:
    """The problems of ``data`` against a form's schema, one per field, in the reader's language."""
    return forms.validate_form(schema, data, locale)


def coerce_form(schema: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    """Answers from an HTML form (strings) as the schema's types, empty answers left out."""
    return forms.coerce_form(schema, raw)


def form_layout(
    schema: dict[str, Any], values: dict[str, Any] | None = None, field_errors: list[FieldError] | None = None,
    readonly: set[str] | frozenset[str] = frozenset(),
) -> list[forms.Group]:
    """The groups and fields that ``templates/catalog/_form.html``'s ``form_fields`` macro renders."""
    return forms.layout(schema, values, field_errors, readonly)


# -- checking an item ----------------------------------------------------------------------------------

def _problem(problems: list[tuple[str, AppError]], fld: str, err: AppError) -> None:
    problems.append((fld, err))


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _strings(value: Any) -> list[str] | None:
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(x, str) for x in value):
        return [x.strip() for x in value if x.strip()]
    return None


def _check_item(
    code: Any, data: Any, departments: dict[str, Any], cert_types: set[str],
) -> tuple[dict[str, Any], list[tuple[str, AppError]]]:
    """The version row for ``data`` and every problem of it, field by field."""
    problems: list[tuple[str, AppError]] = []
    code = str(code or "").strip()
    if not _CODE.match(code):
        _problem(problems, "code", errors.CodeInvalid(code=code))
    if not isinstance(data, dict):
        return {}, [*problems, ("$", errors.FieldInvalid(field="$"))]
    unknown = sorted(set(data) - set(ITEM_FIELDS) - {"code", "department_code"})
    for u in unknown:
        _problem(problems, u, errors.FieldInvalid(field=u))
    name = str(data.get("name") or "").strip()
    if not name or len(name) > 200:
        _problem(problems, "name", errors.FieldInvalid(field="name"))
    dept_code = str(data.get("department") or data.get("department_code") or "").strip()
    dept = departments.get(dept_code)
    if dept is None:
        _problem(problems, "department", errors.DepartmentUnknown(department=dept_code or "-"))
    kind = data.get("kind")
    if kind not in KINDS:
        _problem(problems, "kind", errors.KindInvalid(kind=kind))
    legal, promised = _int(data.get("legal_limit_days")), _int(data.get("promised_limit_days"))
    if legal is None or legal < 0:
        _problem(problems, "legal_limit_days", errors.FieldInvalid(field="legal_limit_days"))
    if promised is None or promised < 0:
        _problem(problems, "promised_limit_days", errors.FieldInvalid(field="promised_limit_days"))
    if legal is not None and promised is not None and promised > legal:
        _problem(problems, "promised_limit_days", errors.LimitsInvalid(promised=promised, legal=legal))
    fee_amount: Decimal | None = None
    if data.get("fee_amount") not in (None, ""):
        try:
            fee_amount = Decimal(str(data["fee_amount"]))
            if fee_amount < 0 or not fee_amount.is_finite():
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            _problem(problems, "fee_amount", errors.FieldInvalid(field="fee_amount"))
            fee_amount = None
    fee_text = str(data.get("fee_text") or ("不收费" if fee_amount in (None, 0) else "")).strip()
    depth = _int(data.get("online_depth"))
    if depth not in DEPTHS:
        _problem(problems, "online_depth", errors.DepthInvalid())
    areas = _strings(data.get("areas")) if data.get("areas") is not None else ([dept.area_code] if dept else [])
    if not areas or any(not a.isdigit() for a in areas):
        _problem(problems, "areas", errors.AreasInvalid())
    materials: list[dict[str, Any]] = []
    raw_materials = data.get("materials") or []
    if not isinstance(raw_materials, list):
        _problem(problems, "materials", errors.FieldInvalid(field="materials"))
        raw_materials = []
    seen: set[str] = set()
    for i, m in enumerate(raw_materials, start=1):
        if not isinstance(m, dict) or not str(m.get("code") or "").strip() or not str(m.get("name") or "").strip() \
                or str(m["code"]).strip() in seen:
            _problem(problems, f"materials[{i}]", errors.MaterialInvalid(index=i))
            continue
        mcode = str(m["code"]).strip()
        seen.add(mcode)
        stand_in = m.get("stand_in")
        ok = (stand_in is None or (isinstance(stand_in, dict) and len(stand_in) == 1 and (
            stand_in.get("registry") in ("person", "entity") or
            (isinstance(stand_in.get("certificate"), str) and stand_in["certificate"] in cert_types))))
        if not ok:
            _problem(problems, f"materials[{i}].stand_in", errors.StandInInvalid(material=mcode))
        materials.append({"code": mcode, "name": str(m["name"]).strip(), "required": bool(m.get("required", True)),
                          "stand_in": stand_in if ok else None})
    form = data.get("form")
    try:
        forms.check_schema(form)
    except AppError as exc:
        _problem(problems, "form", exc)
    cert = data.get("certificate_type")
    cert_code = cert_name = None
    if cert is not None:
        if (not isinstance(cert, dict) or not _CODE.match(str(cert.get("code") or "")) or
                not str(cert.get("name") or "").strip()):
            _problem(problems, "certificate_type", errors.FieldInvalid(field="certificate_type"))
        else:
            cert_code, cert_name = str(cert["code"]), str(cert["name"]).strip()
    process_key = str(data.get("process_key") or "review_then_approve").strip()
    if not _CODE.match(process_key.replace("_", "-")):
        _problem(problems, "process_key", errors.FieldInvalid(field="process_key"))
    keywords = _strings(data.get("keywords"))
    if keywords is None:
        _problem(problems, "keywords", errors.FieldInvalid(field="keywords"))
    row = {
        "name": name, "description": str(data.get("description") or "").strip(), "department_code": dept_code,
        "kind": kind, "legal_limit_days": legal, "promised_limit_days": promised, "fee_text": fee_text,
        "fee_amount": fee_amount, "online_depth": depth, "areas": areas or [], "materials": materials,
        "form": form, "certificate_type_code": cert_code, "certificate_type_name": cert_name,
        "process_key": process_key, "keywords": keywords or [],
    }
    return row, problems


def _as_errors(problems: list[tuple[str, AppError]]) -> list[dict[str, Any]]:
    return [{"field": f, "problem": e.code, "message": e.render()} for f, e in problems]


def _departments_for(session: Session, datas: list[Any]) -> dict[str, Any]:
    codes = {str(d.get("department") or d.get("department_code") or "").strip() for d in datas if isinstance(d, dict)}
    return areas_service.departments_by_codes(session, [c for c in codes if c])


def _bundles_with_item(session: Session, code: str) -> list[BundleVersionRead]:
    return [b for b in list_bundles(session) if code in b.item_codes]


def _check_bundles_still_merge(
    session: Session, code: str, name: str, form: dict[str, Any], problems: list[tuple[str, AppError]],
) -> None:
    for b in _bundles_with_item(session, code):
        current = repository.current_items_by_codes(session, b.item_codes)
        parts = [(c, name, form) if c == code else (c, current[c].name, current[c].form)
                 for c in b.item_codes if c == code or c in current]
        try:
            forms.merge_forms(parts)
        except AppError as exc:
            _problem(problems, "form", exc)


def _changed(session: Session) -> None:
    repository.bump_version(session)


def _advance(session: Session, actor: Actor, head: ServiceItem | Bundle, old: Any, version_cls: type,
             number: int, row: dict[str, Any], **owner: str) -> Any:
    """Publish version ``number`` of an item or bundle: retire the one in force, add the new one and
    point the head at it. Versions are never changed afterwards."""
    if old is not None:
        old.status = "retired"
    v = version_cls(id=new_id(), version=number, status="published", created_by=actor.user_id,
                    published_at=utcnow(), **owner, **row)
    session.add(v)
    session.flush()
    head.current_version_id = v.id
    head.updated_at = utcnow()
    session.flush()
    _changed(session)
    return v


def _publish_item(session: Session, actor: Actor, item: ServiceItem, row: dict[str, Any], area_code: str,
                  *, action: str) -> ServiceItemVersion:
    number = repository.last_item_version(session, item.id) + 1
    old = repository.get_item_version(session, item.current_version_id) if item.current_version_id else None
    v = _advance(session, actor, item, old, ServiceItemVersion, number, row, item_id=item.id)
    _record(session, actor, action, target_type="service_item", target_id=item.code, area_code=area_code,
            detail={"version": number, "version_id": v.id, "department": row["department_code"]})
    log.info("catalog item published", extra={"item": item.code, "version": number})
    return v


def _item_change(session: Session, actor: Actor, code: str, data: dict[str, Any], *, create: bool) -> ItemVersionRead:
    require_manage(actor)
    code = str(code or "").strip()
    item = repository.get_item(session, code)
    if create and item is not None:
        raise errors.ItemExists(code=code)
    if not create and item is None:
        raise errors.ItemNotFound(code=code)
    departments = _departments_for(session, [data])
    row, problems = _check_item(code, data, departments, repository.certificate_type_codes(session) |
                                ({str((data.get("certificate_type") or {}).get("code"))}
                                 if isinstance(data, dict) and isinstance(data.get("certificate_type"), dict)
                                 else set()))
    if not problems and not create:
        _check_bundles_still_merge(session, code, row["name"], row["form"], problems)
    dept = departments.get(row.get("department_code", ""))
    if dept is not None:
        actor.require(PERMISSION, area_code=dept.area_code, target=f"service_item:{code}")
    if problems:
        raise errors.ItemInvalid(code, _as_errors(problems))
    assert dept is not None
    if item is None:
        item = ServiceItem(id=new_id(), code=code)
        session.add(item)
        session.flush()
    v = _publish_item(session, actor, item, row, dept.area_code,
                      action="catalog.item.create" if create else "catalog.item.publish")
    return _item_read(code, v, item.current_version_id)


def create_item(session: Session, actor: Actor, code: str, data: dict[str, Any]) -> ItemVersionRead:
    """Create an item with its first published version; refuses without ``catalog.manage`` over the
    department's area, an existing code, or any bad field (``catalog_invalid`` listing each)."""
    return _item_change(session, actor, code, data, create=True)


def publish_item_version(session: Session, actor: Actor, code: str, data: dict[str, Any]) -> ItemVersionRead:
    """Publish a new version of an item and make it current; the old version stays as it was. Refuses
    like ``create_item``, and a form that no longer merges into a bundle holding the item."""
    return _item_change(session, actor, code, data, create=False)


# -- bundles ---------------------------------------------------------------------------------------------

def _check_bundle(
    code: Any, data: Any, items: dict[str, tuple[str, dict[str, Any]]],
) -> tuple[dict[str, Any], list[tuple[str, AppError]]]:
    """``items``: code → (name, form) of the items that can be named."""
    problems: list[tuple[str, AppError]] = []
    code = str(code or "").strip()
    if not _CODE.match(code):
        _problem(problems, "code", errors.CodeInvalid(code=code))
    if not isinstance(data, dict):
        return {}, [*problems, ("$", errors.FieldInvalid(field="$"))]
    for u in sorted(set(data) - set(BUNDLE_FIELDS) - {"code", "item_codes"}):
        _problem(problems, u, errors.FieldInvalid(field=u))
    name = str(data.get("name") or "").strip()
    if not name or len(name) > 200:
        _problem(problems, "name", errors.FieldInvalid(field="name"))
    item_codes = _strings(data.get("items", data.get("item_codes")))
    if not item_codes or len(set(item_codes)) != len(item_codes):
        _problem(problems, "items", errors.FieldInvalid(field="items"))
        item_codes = []
    for c in item_codes:
        if c not in items:
            _problem(problems, "items", errors.BundleItemUnknown(item=c))
    form: dict[str, Any] = {}
    if item_codes and all(c in items for c in item_codes):
        try:
            form, sources = forms.merge_forms([(c, items[c][0], items[c][1]) for c in item_codes])
            form["x-sources"] = sources
        except AppError as exc:
            _problem(problems, "items", exc)
    keywords = _strings(data.get("keywords"))
    if keywords is None:
        _problem(problems, "keywords", errors.FieldInvalid(field="keywords"))
    return {"name": name, "description": str(data.get("description") or "").strip(), "item_codes": item_codes,
            "keywords": keywords or [], "form": form}, problems


def _publish_bundle(session: Session, actor: Actor, bundle: Bundle, row: dict[str, Any], *, action: str) -> BundleVersion:
    number = repository.last_bundle_version(session, bundle.id) + 1
    old = repository.get_bundle_version(session, bundle.current_version_id) if bundle.current_version_id else None
    v = _advance(session, actor, bundle, old, BundleVersion, number, row, bundle_id=bundle.id)
    _record(session, actor, action, target_type="bundle", target_id=bundle.code,
            detail={"version": number, "version_id": v.id, "items": row["item_codes"]})
    return v


def _current_item_forms(session: Session, codes: list[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    return {c: (v.name, v.form) for c, v in repository.current_items_by_codes(session, codes).items()}


def _bundle_change(session: Session, actor: Actor, code: str, data: dict[str, Any], *, create: bool) -> BundleVersionRead:
    require_manage(actor)
    code = str(code or "").strip()
    bundle = repository.get_bundle(session, code)
    if create and bundle is not None:
        raise errors.BundleExists(code=code)
    if not create and bundle is None:
        raise errors.BundleNotFound(code=code)
    named = _strings(data.get("items", data.get("item_codes"))) if isinstance(data, dict) else None
    current = repository.current_items_by_codes(session, named or [])
    departments = areas_service.departments_by_codes(session, {v.department_code for v in current.values()})
    for d in departments.values():
        actor.require(PERMISSION, area_code=d.area_code, target=f"bundle:{code}")
    row, problems = _check_bundle(code, data, {c: (v.name, v.form) for c, v in current.items()})
    if problems:
        raise errors.ItemInvalid(code, _as_errors(problems))
    if bundle is None:
        bundle = Bundle(id=new_id(), code=code)
        session.add(bundle)
        session.flush()
    v = _publish_bundle(session, actor, bundle, row, action="catalog.bundle.create" if create else "catalog.bundle.publish")
    return _bundle_read(code, v)


def create_bundle(session: Session, actor: Actor, code: str, data: dict[str, Any]) -> BundleVersionRead:
    """Create a bundle (一件事) of existing items with its first version; refuses unknown items and forms
    whose fields conflict (``catalog_invalid``)."""
    return _bundle_change(session, actor, code, data, create=True)


def publish_bundle_version(session: Session, actor: Actor, code: str, data: dict[str, Any]) -> BundleVersionRead:
    """Publish a new version of a bundle and make it current."""
    return _bundle_change(session, actor, code, data, create=False)


# -- import and export -------------------------------------------------------------------------------------

def catalog_item_document(v: ItemVersionRead) -> dict[str, Any]:
    """One item version as the plain data that import reads and export writes."""
    return {
        "code": v.code, "name": v.name, "description": v.description, "department": v.department_code,
        "kind": v.kind, "legal_limit_days": v.legal_limit_days, "promised_limit_days": v.promised_limit_days,
        "fee_text": v.fee_text, "fee_amount": v.fee_amount, "online_depth": v.online_depth, "areas": v.areas,
        "materials": [m.model_dump() for m in v.materials], "form": v.form,
        "certificate_type": v.certificate_type.model_dump() if v.certificate_type else None,
        "process_key": v.process_key, "keywords": v.keywords,
    }


def _bundle_doc(b: BundleVersionRead) -> dict[str, Any]:
    return {"code": b.code, "name": b.name, "description": b.description, "items": b.item_codes,
            "keywords": b.keywords}


def catalog_document(session: Session) -> dict[str, Any]:
    """The whole current catalogue as plain data (what export writes and import reads)."""
    items, cursor = [], None
    while True:
        page = list_items(session, cursor=cursor, limit=500)
        items += [catalog_item_document(v) for v in page.items]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    return {"items": items, "bundles": [_bundle_doc(b) for b in list_bundles(session)]}


def export_catalog(session: Session, fmt: str = "yaml") -> str:
    """The current catalogue as YAML or JSON text (items and bundles in code order)."""
    doc = catalog_document(session)
    if fmt == "json":
        return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    if fmt == "yaml":
        return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=120)
    raise errors.ImportFormatInvalid(fmt=fmt, reason="the format must be yaml or json")


def parse_document(text: str | bytes, fmt: str) -> dict[str, Any]:
    """Read an import file; ``catalog_import_unreadable`` when it is not YAML/JSON of items and bundles."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise errors.ImportFormatInvalid(fmt=fmt, reason="not UTF-8") from None
    try:
        if fmt == "json":
            doc = json.loads(text)
        elif fmt == "yaml":
            doc = yaml.safe_load(text)
        else:
            raise errors.ImportFormatInvalid(fmt=fmt, reason="the format must be yaml or json")
    except (ValueError, yaml.YAMLError) as exc:
        raise errors.ImportFormatInvalid(fmt=fmt, reason=str(exc).splitlines()[0][:200]) from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict) or not isinstance(doc.get("items", []), list) \
            or not isinstance(doc.get("bundles", []), list):
        raise errors.ImportFormatInvalid(fmt=fmt, reason="expected a mapping with lists 'items' and 'bundles'")
    return doc


def _same_item(v: ItemVersionRead, row: dict[str, Any]) -> bool:
    new = dict(row)
    new["fee_amount"] = float(row["fee_amount"]) if row["fee_amount"] is not None else None
    old = {"name": v.name, "description": v.description, "department_code": v.department_code, "kind": v.kind,
           "legal_limit_days": v.legal_limit_days, "promised_limit_days": v.promised_limit_days,
           "fee_text": v.fee_text, "fee_amount": v.fee_amount, "online_depth": v.online_depth, "areas": v.areas,
           "materials": [m.model_dump() for m in v.materials], "form": v.form,
           "certificate_type_code": v.certificate_type.code if v.certificate_type else None,
           "certificate_type_name": v.certificate_type.name if v.certificate_type else None,
           "process_key": v.process_key, "keywords": v.keywords}
    return json.dumps(old, sort_keys=True, default=str) == json.dumps(new, sort_keys=True, default=str)


def import_catalog(
    session: Session, actor: Actor, text: str | bytes, fmt: str = "yaml", *, skip_bad: bool = False,
) -> ImportReport:
    """Create or update items and bundles from YAML/JSON (a new version only where something changed).
    All or nothing (``catalog_import_refused`` listing every problem per entry) unless ``skip_bad``."""
    require_manage(actor)
    doc = parse_document(text, fmt)
    item_docs, bundle_docs = doc.get("items") or [], doc.get("bundles") or []
    departments = _departments_for(session, item_docs)
    cert_types = repository.certificate_type_codes(session)
    for d in item_docs:
        if isinstance(d, dict) and isinstance(d.get("certificate_type"), dict):
            cert_types.add(str(d["certificate_type"].get("code")))
    problems: list[ImportProblem] = []
    good_items: dict[str, dict[str, Any]] = {}
    bad_entries: set[str] = set()

    def add(entry: str, items: list[tuple[str, AppError]]) -> None:
        bad_entries.add(entry)
        problems.extend(ImportProblem(entry=entry, field=f, problem=e.code, message=e.render()) for f, e in items)

    seen: set[str] = set()
    for i, d in enumerate(item_docs, start=1):
        code = str(d.get("code") or "").strip() if isinstance(d, dict) else ""
        entry = f"item {code or i}"
        if code in seen:
            add(entry, [("code", errors.ItemExists(code=code))])
            continue
        seen.add(code)
        row, found = _check_item(code, d, departments, cert_types)
        if found:
            add(entry, found)
            continue
        dept = departments[row["department_code"]]
        actor.require(PERMISSION, area_code=dept.area_code, target=f"service_item:{code}")
        good_items[code] = row
    current = repository.current_items_by_codes(session, [
        str(c) for b in bundle_docs if isinstance(b, dict) for c in (b.get("items") or []) if isinstance(c, str)])
    available = {c: (v.name, v.form) for c, v in current.items()}
    available.update({c: (r["name"], r["form"]) for c, r in good_items.items()})
    for c in seen - set(good_items):
        available.pop(c, None)
    good_bundles: dict[str, dict[str, Any]] = {}
    for i, d in enumerate(bundle_docs, start=1):
        code = str(d.get("code") or "").strip() if isinstance(d, dict) else ""
        entry = f"bundle {code or i}"
        if code in good_bundles:
            add(entry, [("code", errors.BundleExists(code=code))])
            continue
        row, found = _check_bundle(code, d, available)
        if found:
            add(entry, found)
            continue
        good_bundles[code] = row
    if problems and not skip_bad:
        raise errors.ImportRefused([p.model_dump() for p in problems])
    report = ImportReport(skipped=len(bad_entries), errors=problems)
    for code, row in good_items.items():
        item = repository.get_item(session, code)
        if item is None:
            item = ServiceItem(id=new_id(), code=code)
            session.add(item)
            session.flush()
            report.items_created += 1
        else:
            cur_item = get_item(session, code) if item.current_version_id else None
            if cur_item is not None and _same_item(cur_item, row):
                report.items_unchanged += 1
                continue
            report.items_updated += 1
        _publish_item(session, actor, item, row, departments[row["department_code"]].area_code,
                      action="catalog.item.import")
    for code, row in good_bundles.items():
        bundle = repository.get_bundle(session, code)
        if bundle is None:
            bundle = Bundle(id=new_id(), code=code)
            session.add(bundle)
            session.flush()
            report.bundles_created += 1
        else:
            cur = get_bundle(session, code) if bundle.current_version_id else None
            if cur is not None and (cur.name, cur.description, cur.item_codes, cur.keywords) == (
                    row["name"], row["description"], row["item_codes"], row["keywords"]):
                report.bundles_unchanged += 1
                continue
            report.bundles_updated += 1
        _publish_bundle(session, actor, bundle, row, action="catalog.bundle.import")
    _record(session, actor, "catalog.import", target_type="catalog", target_id="import",
            detail={k: v for k, v in report.model_dump().items() if k != "errors"})
    return report
