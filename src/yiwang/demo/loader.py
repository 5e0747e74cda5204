"""Loads the demo city through the domains' own services (no SQL of its own)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from yiwang.areas import service as areas_service
from yiwang.core.actor import SYSTEM
from yiwang.core.db import Database
from yiwang.core.errors import NotFoundError

CITY_CODE = "31"


def city_loaded(session: Session) -> bool:
    try:
        areas_service.get_area(session, CITY_CODE)
    except NotFoundError:
        return False
    return True


def load_demo(db: Database, *, persons: int, entities: int, seed: int,
              echo: Callable[[str], Any] = print) -> dict[str, Any]:
    """City, departments, staff, registry records and a first audit checkpoint."""
    from yiwang.audit import service as audit_service
    from yiwang.demo.city import load_city
    from yiwang.demo.registry import load_registry
    from yiwang.demo.staff import load_staff

    with db.transaction() as session:
        city = load_city(session)
    echo(f"areas and departments: {city.get('counts', city)}")

    with db.transaction() as session:
        departments = {d.code: d.id for d in areas_service.list_departments(session)}
        staff = load_staff(
            session,
            district_codes=city["district_codes"],
            street_codes=city["street_codes"],
            departments=departments,
        )
    echo(f"staff accounts: {len(staff)}")

    with db.transaction() as session:
        registry = load_registry(session, city["community_codes"] or city["district_codes"],
                                 persons=persons, entities=entities, seed=seed)
    echo(f"registry: {registry}")

    with db.transaction() as session:
        audit_service.create_checkpoint(session, SYSTEM)

    return {"counts": {**city.get("counts", {}), "staff": len(staff), **registry}, "staff": staff}
