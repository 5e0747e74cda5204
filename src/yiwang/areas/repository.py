"""All SQL of the areas domain."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yiwang.areas.models import Area, AreaVersion, Department
from yiwang.core.db import utcnow
from yiwang.core.ids import new_id

CHUNK = 500

_READ_COLUMNS = (
    Area.code, Area.name, Area.level, Area.parent_code, Area.depth,
    Area.min_lon, Area.min_lat, Area.max_lon, Area.max_lat, Area.centroid_lon, Area.centroid_lat,
)


def get_area(session: Session, code: str) -> Area | None:
    return session.get(Area, code)


def areas_by_codes(session: Session, codes: Iterable[str]) -> list[Area]:
    wanted = sorted(set(codes))
    out: list[Area] = []
    for i in range(0, len(wanted), CHUNK):
        out.extend(session.scalars(select(Area).where(Area.code.in_(wanted[i : i + CHUNK]))))
    return out


def existing_codes(session: Session, codes: Iterable[str]) -> set[str]:
    wanted = sorted(set(codes))
    found: set[str] = set()
    for i in range(0, len(wanted), CHUNK):
        found.update(session.scalars(select(Area.code).where(Area.code.in_(wanted[i : i + CHUNK]))))
    return found


def children(session: Session, code: str) -> Sequence[Area]:
    return session.scalars(select(Area).where(Area.parent_code == code).order_by(Area.code)).all()


def roots(session: Session) -> Sequence[Area]:
    return session.scalars(select(Area).where(Area.parent_code.is_(None)).order_by(Area.code)).all()


def subtree_codes(session: Session, code: str, level: str | None = None) -> list[str]:
    q = select(Area.code).where(Area.code.startswith(code, autoescape=True))
    if level is not None:
        q = q.where(Area.level == level)
    return list(session.scalars(q.order_by(Area.code)))


def count_by_level(session: Session, prefix: str = "") -> dict[str, int]:
    q = select(Area.level, func.count()).group_by(Area.level)
    if prefix:
        q = q.where(Area.code.startswith(prefix, autoescape=True))
    return {level: n for level, n in session.execute(q)}


def grid_rows_with_boundary(session: Session) -> Sequence[Row[Any]]:
    return session.execute(
        select(*_READ_COLUMNS, Area.boundary)
        .where(Area.level == "grid", Area.boundary.is_not(None))
        .order_by(Area.code)
    ).all()


def named_rows(session: Session, levels: tuple[str, ...]) -> Sequence[Row[Any]]:
    """Every area of the given levels (for the address gazetteer), in code order."""
    return session.execute(select(*_READ_COLUMNS).where(Area.level.in_(levels)).order_by(Area.code)).all()


def insert_areas(session: Session, rows: list[dict[str, Any]]) -> None:
    now = utcnow()
    for i in range(0, len(rows), CHUNK):
        session.execute(insert(Area), [{**r, "created_at": now, "updated_at": now} for r in rows[i : i + CHUNK]])


def version_token(session: Session) -> str | None:
    return session.scalar(select(AreaVersion.token).where(AreaVersion.id == 1))


def bump_version(session: Session) -> str:
    """Give the areas a new version token (one row, updated in the caller's transaction)."""
    token = new_id()
    result = session.execute(
        update(AreaVersion)
        .where(AreaVersion.id == 1)
        .values(version=AreaVersion.version + 1, token=token, changed_at=utcnow())
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        # First change ever: create the row; if another transaction just did, update theirs.
        try:
            with session.begin_nested():
                session.add(AreaVersion(id=1, version=1, token=token, changed_at=utcnow()))
        except IntegrityError:
            session.execute(update(AreaVersion).where(AreaVersion.id == 1)
                            .values(version=AreaVersion.version + 1, token=token, changed_at=utcnow()))
    return token


# -- departments ------------------------------------------------------------------------------------

def get_department(session: Session, department_id: str) -> Department | None:
    return session.get(Department, department_id)


def department_by_code(session: Session, code: str) -> Department | None:
    return session.scalar(select(Department).where(Department.code == code))


def departments_by_ids(session: Session, ids: Iterable[str]) -> dict[str, Department]:
    wanted = sorted(set(ids))
    out: dict[str, Department] = {}
    for i in range(0, len(wanted), CHUNK):
        for d in session.scalars(select(Department).where(Department.id.in_(wanted[i : i + CHUNK]))):
            out[d.id] = d
    return out


def departments_by_codes(session: Session, codes: Iterable[str]) -> dict[str, Department]:
    wanted = sorted(set(codes))
    out: dict[str, Department] = {}
    for i in range(0, len(wanted), CHUNK):
        for d in session.scalars(select(Department).where(Department.code.in_(wanted[i : i + CHUNK]))):
            out[d.code] = d
    return out


def list_departments(session: Session, area_code: str | None = None, *, subtree: bool = False) -> Sequence[Department]:
    q = select(Department)
    if area_code is not None:
        q = q.where(Department.area_code.startswith(area_code, autoescape=True) if subtree
                    else Department.area_code == area_code)
    return session.scalars(q.order_by(Department.area_code, Department.code)).all()


def insert_departments(session: Session, rows: list[dict[str, Any]]) -> None:
    now = utcnow()
    for i in range(0, len(rows), CHUNK):
        session.execute(insert(Department), [{**r, "created_at": now} for r in rows[i : i + CHUNK]])
