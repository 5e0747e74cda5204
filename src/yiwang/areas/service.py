"""Use cases of areas and departments.

Areas and departments are public reference data: reading them needs no permission. Changing them
needs ``area.manage`` / ``department.manage`` over the subtree concerned, and every change is
audited in the same transaction and bumps the areas version (which rebuilds the point → grid index).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any, Literal

from sqlalchemy import event
from sqlalchemy.orm import Session

from yiwang.areas import errors, geo, locator, repository
from yiwang.areas.models import Area, Department
from yiwang.areas.schemas import AreaRead, DepartmentRead, ImportReport, ImportRowError
from yiwang.audit import service as audit_service
from yiwang.core.actor import Actor
from yiwang.core.errors import AppError, PermissionDenied
from yiwang.core.generations import Memo
from yiwang.core.ids import new_id

log = logging.getLogger("yiwang.areas")

LEVELS = ("city", "district", "street", "community", "grid")
CODE_LENGTHS: dict[str, tuple[int, ...]] = {
    "city": (2, 4), "district": (6,), "street": (9,), "community": (12,), "grid": (15,),
}
PARENT_LEVEL = {"district": "city", "street": "district", "community": "street", "grid": "community"}
DEPTH = {level: i for i, level in enumerate(LEVELS)}
DEPARTMENT_KINDS = (
    "bureau",          # 委办局 / 区局
    "commission",      # 委员会 (卫健委, 住建委)
    "ops_centre",      # 城运中心
    "hotline",         # 12345
    "police",          # 公安局 / 分局
    "fire_rescue",     # 消防救援总队 / 支队
    "street_office",   # 街道办事处
    "team",            # 处置队伍
    "other",
)
_DEPT_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{1,39}$")
_DIGITS = re.compile(r"^[0-9]+$")
_MUST_BE = {
    "city": "the parent must be a city", "district": "the parent must be a district",
    "street": "the parent must be a street", "community": "the parent must be a community",
}


def _record(session: Session, actor: Actor, action: str, **kwargs: Any) -> None:
    audit_service.record(session, actor, action, **kwargs)


def _changed(session: Session) -> None:
    """Bump the areas version and make this process's grid index re-check (now and after commit)."""
    repository.bump_version(session)
    locator.invalidate(session)
    if not session.info.get("areas_invalidate_on_commit"):
        session.info["areas_invalidate_on_commit"] = True
        event.listen(session, "after_commit", locator.invalidate)
        event.listen(session, "after_rollback", locator.invalidate)


def _area_read(area: Area) -> AreaRead:
    return AreaRead.model_validate(area)


# -- validation shared by create and import --------------------------------------------------------

@dataclass
class _Known:
    """An area the validator can see: from the database or earlier in the same file."""

    level: str
    boundary: str | None = None
    geom: Any = None

    def shape(self) -> Any:
        if self.geom is None and self.boundary:
            self.geom = geo.load(self.boundary)
        return self.geom


@dataclass
class _Checked:
    row: dict[str, Any]
    problems: list[tuple[str, AppError]] = field(default_factory=list)
    geom: Any = None


def _check_area(
    code: Any, name: Any, level: Any, parent_code: Any, boundary: Any, parent: _Known | None, *,
    boundary_field: str = "boundary",
) -> _Checked:
    """Every problem of one area (field, error); ``parent`` is None when it does not exist."""
    code = "" if code is None else str(code).strip()
    name = "" if name is None else str(name).strip()
    level = "" if level is None else str(level).strip()
    parent_code = None if parent_code in (None, "") else str(parent_code).strip()
    out = _Checked(row={})
    if level not in LEVELS:
        out.problems.append(("level", errors.AreaLevelInvalid(level=level)))
    elif not _DIGITS.match(code) or len(code) not in CODE_LENGTHS[level]:
        digits = " or ".join(str(n) for n in CODE_LENGTHS[level])
        out.problems.append(("code", errors.AreaCodeInvalid(code=code, level=level, digits=digits)))
    if not name or len(name) > 100:
        out.problems.append(("name", errors.AreaNameInvalid()))
    if level in LEVELS:
        if level == "city":
            if parent_code is not None:
                out.problems.append(("parent_code", errors.AreaParentInvalid(
                    parent_code=parent_code, level=level, code=code, reason="a city has no parent area")))
        elif parent_code is None:
            out.problems.append(("parent_code", errors.AreaParentInvalid(
                parent_code="-", level=level, code=code, reason="only a city may have no parent")))
        elif parent is None:
            out.problems.append(("parent_code", errors.AreaParentNotFound(parent_code=parent_code)))
        elif parent.level != PARENT_LEVEL[level]:
            out.problems.append(("parent_code", errors.AreaParentInvalid(
                parent_code=parent_code, level=level, code=code,
                reason=_MUST_BE[PARENT_LEVEL[level]])))
        elif not code.startswith(parent_code):
            out.problems.append(("parent_code", errors.AreaParentInvalid(
                parent_code=parent_code, level=level, code=code, reason="the code must extend the parent's code")))
    b: geo.Boundary | None = None
    if boundary not in (None, "", {}):
        try:
            b = geo.parse_boundary(boundary)
        except geo.BoundaryError as exc:
            out.problems.append((boundary_field, errors.AreaBoundaryInvalid(reason=exc.msgid, **exc.params)))
        else:
            parent_geom = parent.shape() if parent is not None and parent_code is not None else None
            if parent_geom is not None and geo.outside_share(b.geom, parent_geom) > geo.OUTSIDE_TOLERANCE:
                out.problems.append((boundary_field, errors.AreaOutsideParent(code=code, parent_code=parent_code)))
    out.geom = b.geom if b else None
    out.row = {
        "code": code, "name": name, "level": level, "parent_code": parent_code,
        "depth": DEPTH.get(level, 0),
        "boundary": b.geojson if b else None,
        "min_lon": b.bbox[0] if b else None, "min_lat": b.bbox[1] if b else None,
        "max_lon": b.bbox[2] if b else None, "max_lat": b.bbox[3] if b else None,
        "centroid_lon": b.inner[0] if b else None, "centroid_lat": b.inner[1] if b else None,
    }
    return out


def _scope_of(code: str, parent_code: str | None) -> str:
    """The area over which ``area.manage`` is needed to create ``code``: its parent's subtree."""
    return parent_code or code


# -- areas -------------------------------------------------------------------------------------------

def create_area(
    session: Session, actor: Actor, *, code: str, name: str, level: str,
    parent_code: str | None = None, boundary: dict[str, Any] | None = None,
) -> AreaRead:
    """Create one area under its parent; refuses without ``area.manage`` over the parent's subtree,
    a bad level, code, parent or boundary, or a code that exists."""
    actor.require("area.manage", area_code=_scope_of(str(code), parent_code or None), target=f"area:{code}")
    parent_row = repository.get_area(session, parent_code) if parent_code else None
    parent = _Known(parent_row.level, parent_row.boundary) if parent_row else None
    checked = _check_area(code, name, level, parent_code, boundary, parent)
    if checked.problems:
        raise checked.problems[0][1]
    if repository.get_area(session, checked.row["code"]) is not None:
        raise errors.AreaExists(code=checked.row["code"])
    area = Area(**checked.row)
    session.add(area)
    session.flush()
    _changed(session)
    _record(session, actor, "area.create", target_type="area", target_id=area.code, area_code=area.code,
            detail={"level": area.level, "parent_code": area.parent_code, "boundary": area.boundary is not None})
    return _area_read(area)


_MEMO = Memo("areas", frozenset({"areas", "departments"}))
"""Areas and departments as read, per process, while none of them changes (``core.generations``):
every filing and report looks up the same few."""


def get_area(session: Session, code: str) -> AreaRead:
    """One area by code; ``area_not_found`` if there is none."""
    area = find_area(session, code)
    if area is None:
        raise errors.AreaNotFound(code=code)
    return area


def find_area(session: Session, code: str) -> AreaRead | None:
    """One area by code, or None."""

    def load() -> AreaRead | None:
        area = repository.get_area(session, code)
        return _area_read(area) if area else None

    return _MEMO.get(session, ("area", code), load)


def existing_codes(session: Session, codes: Iterable[str]) -> set[str]:
    """Which of ``codes`` are areas (one query per 500 codes)."""
    return repository.existing_codes(session, codes)


def children(session: Session, code: str) -> list[AreaRead]:
    """The direct children of an area, in code order; ``area_not_found`` if it does not exist."""
    get_area(session, code)
    return [_area_read(a) for a in repository.children(session, code)]


def roots(session: Session) -> list[AreaRead]:
    """The top-level areas (cities)."""
    return [_area_read(a) for a in repository.roots(session)]


def ancestors(session: Session, code: str) -> list[AreaRead]:
    """The chain from the top (city) down to the area's parent, in one query."""
    area = get_area(session, code)
    prefixes = {code[:n] for n in (2, 4, 6, 9, 12) if n < len(code)}
    found = {a.code: a for a in repository.areas_by_codes(session, prefixes)}
    chain: list[AreaRead] = []
    parent = area.parent_code
    while parent is not None and parent in found:
        chain.append(_area_read(found[parent]))
        parent = found[parent].parent_code
    return list(reversed(chain))


def subtree_codes(session: Session, code: str, level: str | None = None) -> list[str]:
    """Codes of the area and everything below it (only ``level`` if given), in code order."""
    return repository.subtree_codes(session, code, level)


def count_by_level(session: Session, prefix: str = "") -> dict[str, int]:
    """How many areas of each level there are (in the subtree of ``prefix``)."""
    return repository.count_by_level(session, prefix)


def boundary(session: Session, code: str) -> dict[str, Any] | None:
    """The GeoJSON geometry of one area, or None when it has none."""
    area = repository.get_area(session, code)
    if area is None:
        raise errors.AreaNotFound(code=code)
    return json.loads(area.boundary) if area.boundary else None


def children_geojson(session: Session, code: str) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of the children's boundaries (children without one are left out)."""
    get_area(session, code)
    features = [
        {
            "type": "Feature",
            "id": a.code,
            "geometry": json.loads(a.boundary),
            "properties": {"code": a.code, "name": a.name, "level": a.level, "parent_code": a.parent_code},
        }
        for a in repository.children(session, code)
        if a.boundary
    ]
    return {"type": "FeatureCollection", "features": features}


def to_wgs84(lon: float, lat: float, crs: Literal["wgs84", "gcj02"] | str = "wgs84") -> tuple[float, float]:
    """A point as WGS-84 (GCJ-02, as phone maps give it, is converted); ``crs_invalid`` otherwise."""
    if crs == "gcj02":
        return geo.gcj02_to_wgs84(lon, lat)
    if crs != "wgs84":
        raise errors.CrsInvalid(crs=crs)
    return lon, lat


def locate(session: Session, lon: float, lat: float, crs: Literal["wgs84", "gcj02"] | str = "wgs84") -> AreaRead | None:
    """The grid containing the point (WGS-84, or GCJ-02 from phone maps), or None outside every grid.

    On an edge shared by two grids the one with the lower code wins."""
    lon, lat = to_wgs84(lon, lat, crs)
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return None
    return locator.current(session).find(lon, lat)


def locate_address(session: Session, text: str) -> AreaRead | None:
    """The most precise district, street or community an address names (see
    :class:`~yiwang.areas.locator.Gazetteer`), or None when it names none unambiguously."""
    return locator.current(session).gazetteer.match(text)


# -- import ------------------------------------------------------------------------------------------

def _read_text(stream: IO[Any] | bytes | str) -> str:
    data = stream if isinstance(stream, bytes | str) else stream.read()
    if isinstance(data, bytes):
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise errors.ImportFormatInvalid(fmt="UTF-8", reason="the file is not UTF-8 text") from exc
    return data.removeprefix("\ufeff")


def _csv_records(text: str, required: tuple[str, ...], fmt: str = "CSV") -> list[tuple[int, dict[str, str]]]:
    """(line number where the record starts, values) for each data row; the header is line 1."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise errors.ImportFormatInvalid(fmt=fmt, reason="missing columns: {columns}",
                                          columns=", ".join(missing))
    reader.fieldnames = header
    out: list[tuple[int, dict[str, str]]] = []
    start = reader.line_num + 1
    try:
        for rec in reader:
            if any((v or "").strip() for k, v in rec.items() if k is not None):
                out.append((start, {k: (v or "").strip() for k, v in rec.items() if k is not None}))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise errors.ImportFormatInvalid(fmt=fmt, reason="line {line}: {detail}",
                                          line=reader.line_num, detail=str(exc)) from exc
    return out


def _area_records(text: str, fmt: str) -> tuple[list[tuple[int, dict[str, Any]]], str]:
    """Rows as (row number, {code, name, level, parent_code, boundary}) and the boundary's field name."""
    if fmt == "csv":
        recs = _csv_records(text, ("code", "name", "level", "parent_code"))
        rows = []
        for n, r in recs:
            raw = r.get("boundary_geojson") or ""
            b: Any = raw or None
            if raw:
                try:
                    b = json.loads(raw)
                except ValueError:
                    b = raw  # parse_boundary reports "not JSON"
            rows.append((n, {"code": r["code"], "name": r["name"], "level": r["level"],
                             "parent_code": r["parent_code"], "boundary": b}))
        return rows, "boundary_geojson"
    if fmt == "geojson":
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise errors.ImportFormatInvalid(fmt="GeoJSON", reason="not JSON") from exc
        if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(
            doc.get("features"), list
        ):
            raise errors.ImportFormatInvalid(fmt="GeoJSON", reason="not a FeatureCollection")
        rows = []
        for i, feat in enumerate(doc["features"]):
            props = feat.get("properties") if isinstance(feat, dict) else None
            props = props if isinstance(props, dict) else {}
            geom = feat.get("geometry") if isinstance(feat, dict) else None
            rows.append((i, {k: props.get(k) for k in ("code", "name", "level", "parent_code")} | {"boundary": geom}))
        return rows, "geometry"
    raise errors.ImportFormatInvalid(fmt=str(fmt), reason="use csv or geojson")


def _row_error(n: int, fld: str, err: AppError) -> ImportRowError:
    return ImportRowError(row=n, field=fld, problem=err.code, message=err.render())


def _require_somewhere(actor: Actor, permission: str, target: str) -> None:
    """Refuse an import outright to an actor who holds ``permission`` nowhere (an empty file
    must not pass where a full one would be refused row by row)."""
    if not actor.scopes(permission):
        raise PermissionDenied(permission=permission, target=target)


def import_areas(
    session: Session, actor: Actor, stream: IO[Any] | bytes | str, fmt: Literal["csv", "geojson"] | str = "csv",
    *, skip_bad_rows: bool = False,
) -> ImportReport:
    """Import areas from CSV (``code,name,level,parent_code[,boundary_geojson]``) or a GeoJSON
    FeatureCollection. Every row is checked first; with any bad row nothing is imported
    (``import_refused`` lists each row's problems) unless ``skip_bad_rows``. A parent may be an
    existing area or a good row earlier in the file. Needs ``area.manage`` over every row's parent."""
    _require_somewhere(actor, "area.manage", "areas:import")
    records, boundary_field = _area_records(_read_text(stream), fmt)
    for _, r in records:
        code = str(r["code"] or "").strip()
        parent = str(r["parent_code"] or "").strip() or None
        actor.require("area.manage", area_code=_scope_of(code, parent), target=f"area:{code}")
    codes = {str(r["code"] or "").strip() for _, r in records}
    parents = {str(r["parent_code"] or "").strip() for _, r in records} - {""}
    in_db = repository.existing_codes(session, codes)
    known: dict[str, _Known] = {
        a.code: _Known(a.level, a.boundary) for a in repository.areas_by_codes(session, parents)
    }
    good: list[dict[str, Any]] = []
    problems: list[ImportRowError] = []
    seen: set[str] = set()
    for n, r in records:
        pc = str(r["parent_code"] or "").strip()
        checked = _check_area(r["code"], r["name"], r["level"], r["parent_code"], r["boundary"],
                              known.get(pc) if pc else None, boundary_field=boundary_field)
        code = checked.row["code"]
        if code in in_db or code in seen:
            checked.problems.insert(0, ("code", errors.AreaExists(code=code)))
        seen.add(code)
        if checked.problems:
            problems.extend(_row_error(n, f, e) for f, e in checked.problems)
            continue
        known[code] = _Known(checked.row["level"], checked.row["boundary"], checked.geom)
        good.append(checked.row)
    bad_rows = len({p.row for p in problems})
    if problems and not skip_bad_rows:
        raise errors.ImportRefused([p.model_dump() for p in problems])
    good.sort(key=lambda row: row["depth"])
    if good:
        repository.insert_areas(session, good)
        _changed(session)
    created = [row["code"] for row in good]
    _record(session, actor, "area.import", target_type="area", target_id=None,
            area_code=os.path.commonprefix(created) or None if created else None,
            detail={"format": fmt, "rows": len(records), "created": len(created), "skipped": bad_rows})
    log.info("areas imported", extra={"rows": len(records), "created": len(created), "skipped": bad_rows})
    return ImportReport(rows=len(records), created=len(created), skipped=bad_rows, errors=problems, codes=created)


# -- departments -------------------------------------------------------------------------------------

def _department_read(d: Department) -> DepartmentRead:
    return DepartmentRead.model_validate(d)


def _check_department(
    code: str, name: str, kind: str, area_code: str, area_exists: bool,
    parent: tuple[str, str] | None, parent_ref: str | None, taken: bool,
) -> list[tuple[str, AppError]]:
    """Every problem of one department; ``parent`` is (id, area_code) or None when not found."""
    out: list[tuple[str, AppError]] = []
    if not _DEPT_CODE.match(code):
        out.append(("code", errors.DepartmentCodeInvalid(code=code)))
    elif taken:
        out.append(("code", errors.DepartmentExists(code=code)))
    if not name or len(name) > 100:
        out.append(("name", errors.DepartmentNameInvalid()))
    if kind not in DEPARTMENT_KINDS:
        out.append(("kind", errors.DepartmentKindInvalid(kind=kind)))
    if not area_exists:
        out.append(("area_code", errors.AreaNotFound(code=area_code)))
    if parent_ref:
        if parent is None:
            out.append(("parent", errors.DepartmentParentInvalid(parent=parent_ref, reason="it does not exist")))
        elif not area_code.startswith(parent[1]):
            out.append(("parent", errors.DepartmentParentInvalid(
                parent=parent_ref, reason="its area must contain this department's area")))
    return out


def create_department(
    session: Session, actor: Actor, *, code: str, name: str, area_code: str, kind: str = "bureau",
    parent_id: str | None = None,
) -> DepartmentRead:
    """Create a department with its home area; refuses without ``department.manage`` over that area,
    an unknown area, kind or parent, or a code that exists."""
    actor.require("department.manage", area_code=area_code, target=f"department:{code}")
    code, name = code.strip(), name.strip()
    parent_row = repository.get_department(session, parent_id) if parent_id else None
    problems = _check_department(
        code, name, kind, area_code, repository.get_area(session, area_code) is not None,
        (parent_row.id, parent_row.area_code) if parent_row else None, parent_id,
        repository.department_by_code(session, code) is not None,
    )
    if problems:
        raise problems[0][1]
    dept = Department(id=new_id(), code=code, name=name, kind=kind, area_code=area_code, parent_id=parent_id)
    session.add(dept)
    session.flush()
    _record(session, actor, "department.create", target_type="department", target_id=dept.id,
            area_code=area_code, detail={"code": code, "kind": kind, "parent_id": parent_id})
    return _department_read(dept)


def get_department(session: Session, department_id: str) -> DepartmentRead:
    """One department by id; ``department_not_found`` if there is none."""
    d = repository.get_department(session, department_id)
    if d is None:
        raise errors.DepartmentNotFound(ref=department_id)
    return _department_read(d)


def get_department_by_code(session: Session, code: str) -> DepartmentRead:
    """One department by its code (e.g. ``310101-SCJG``); ``department_not_found`` if none."""

    def load() -> DepartmentRead | None:
        d = repository.department_by_code(session, code)
        return _department_read(d) if d else None

    found = _MEMO.get(session, ("department", code), load)
    if found is None:
        raise errors.DepartmentNotFound(ref=code)
    return found


def departments_by_codes(session: Session, codes: Iterable[str]) -> dict[str, DepartmentRead]:
    """The departments among ``codes``, by code (unknown codes are absent)."""
    return {c: _department_read(d) for c, d in repository.departments_by_codes(session, codes).items()}


def departments_by_ids(session: Session, ids: Iterable[str]) -> dict[str, DepartmentRead]:
    """The departments among ``ids``, by id (unknown ids are absent)."""
    return {i: _department_read(d) for i, d in repository.departments_by_ids(session, ids).items()}


def list_departments(session: Session, area_code: str | None = None, *, subtree: bool = False) -> list[DepartmentRead]:
    """Departments whose home area is ``area_code`` (or anywhere in its subtree), or all."""
    return [_department_read(d) for d in repository.list_departments(session, area_code, subtree=subtree)]


def import_departments(
    session: Session, actor: Actor, stream: IO[Any] | bytes | str, *, skip_bad_rows: bool = False,
) -> ImportReport:
    """Import departments from CSV ``code,name,kind,area_code,parent_code`` (parent by department
    code: existing, or a good row earlier in the file). All or nothing unless ``skip_bad_rows``;
    needs ``department.manage`` over every row's area."""
    _require_somewhere(actor, "department.manage", "departments:import")
    records = _csv_records(_read_text(stream), ("code", "name", "kind", "area_code", "parent_code"))
    for _, r in records:
        actor.require("department.manage", area_code=r["area_code"], target=f"department:{r['code']}")
    codes = {r["code"] for _, r in records} | {r["parent_code"] for _, r in records if r["parent_code"]}
    in_db = repository.departments_by_codes(session, codes)
    areas = repository.existing_codes(session, {r["area_code"] for _, r in records})
    known: dict[str, tuple[str, str]] = {c: (d.id, d.area_code) for c, d in in_db.items()}
    good: list[dict[str, Any]] = []
    problems: list[ImportRowError] = []
    seen: set[str] = set()
    for n, r in records:
        code = r["code"]
        found = r["parent_code"] and known.get(r["parent_code"])
        errs = _check_department(
            code, r["name"], r["kind"] or "bureau", r["area_code"], r["area_code"] in areas,
            found or None, r["parent_code"] or None, code in in_db or code in seen,
        )
        seen.add(code)
        if errs:
            problems.extend(_row_error(n, f, e) for f, e in errs)
            continue
        row = {"id": new_id(), "code": code, "name": r["name"], "kind": r["kind"] or "bureau",
               "area_code": r["area_code"], "parent_id": found[0] if found else None}
        known[code] = (row["id"], row["area_code"])
        good.append(row)
    bad_rows = len({p.row for p in problems})
    if problems and not skip_bad_rows:
        raise errors.ImportRefused([p.model_dump() for p in problems])
    if good:
        repository.insert_departments(session, good)
    created = [row["code"] for row in good]
    _record(session, actor, "department.import", target_type="department", target_id=None,
            area_code=os.path.commonprefix([row["area_code"] for row in good]) or None if good else None,
            detail={"rows": len(records), "created": len(created), "skipped": bad_rows})
    return ImportReport(rows=len(records), created=len(created), skipped=bad_rows, errors=problems, codes=created)
