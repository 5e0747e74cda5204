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


def _link_accounts(session: Session, staff: list[dict[str, Any]]) -> int:
    """Give each demo citizen a person record and each enterprise agent a legal entity."""
    from yiwang.identity import service as identity_service
    from yiwang.registry import service as registry_service

    citizens = [s["username"] for s in staff if s["role"] == "citizen"]
    agents = [s["username"] for s in staff if s["role"] == "enterprise_agent"]
    persons = registry_service.list_persons(session, SYSTEM, limit=max(len(citizens), 1)).items
    entities = registry_service.list_entities(session, SYSTEM, limit=max(len(agents), 1)).items
    linked = 0
    for username, person in zip(citizens, persons, strict=False):
        user = identity_service.get_user_by_username(session, SYSTEM, username)
        identity_service.link_records(session, SYSTEM, user.id, person_id=person.id)
        linked += 1
    for username, entity in zip(agents, entities, strict=False):
        user = identity_service.get_user_by_username(session, SYSTEM, username)
        identity_service.link_records(session, SYSTEM, user.id, entity_id=entity.id)
        linked += 1
    return linked


def load_demo(db: Database, *, persons: int, entities: int, seed: int, events: int = 3000,
              datasets: int | None = None, echo: Callable[[str], Any] = print) -> dict[str, Any]:
    """City, departments, staff, registry records, applications in every state (once the demo
    citizens and enterprises are linked to records), 一网统管 events, the data catalogue
    (``datasets`` resources at most, None: all of the demo's; 0: none) and a first audit checkpoint."""
    from yiwang.audit import service as audit_service
    from yiwang.demo.city import load_city
    from yiwang.demo.registry import load_registry
    from yiwang.demo.staff import load_staff

    with db.transaction() as session:
        city = load_city(session)
    echo(f"areas and departments: {city.get('counts', city)}")

    from yiwang.demo.catalog import load_catalog

    with db.transaction() as session:
        catalog = load_catalog(session)
    echo(f"service catalogue: {catalog}")

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
        linked = _link_accounts(session, staff)
    echo(f"citizen and enterprise accounts linked to their records: {linked}")

    applications: dict[str, int] = {}
    if linked == len([s for s in staff if s["role"] in ("citizen", "enterprise_agent")]):
        from yiwang.demo.applications import load_applications

        with db.transaction() as session:
            applications = load_applications(session)
        echo("applications by state: " + ", ".join(f"{k} {v}" for k, v in applications.items()))
    else:
        echo("applications: none (the registry is too small to link every demo citizen and enterprise)")

    cityops: dict[str, Any] = {}
    if events > 0:
        from yiwang.demo.cityops import load_cityops, summary_line

        with db.transaction() as session:
            cityops = load_cityops(session, district_codes=city["district_codes"], events=events, seed=seed)
        echo(summary_line(cityops))

    datacat: dict[str, Any] = {}
    if datasets is None or datasets > 0:
        from yiwang.demo.datacat import FULL, load_datacat
        from yiwang.demo.datacat import summary_line as datacat_line

        with db.transaction() as session:
            datacat = load_datacat(session, datasets=FULL if datasets is None else datasets, seed=seed)
        echo(datacat_line(datacat))

    with db.transaction() as session:
        audit_service.create_checkpoint(session, SYSTEM)

    return {"counts": {**city.get("counts", {}), **catalog, "staff": len(staff), **registry,
                       "applications": sum(v for k, v in applications.items() if k != "escalated"),
                       "city_events": cityops.get("events", 0), "data_resources": datacat.get("resources", 0)},
            "staff": staff + cityops.get("staff", []) + datacat.get("staff", []), "applications": applications,
            "cityops": cityops, "datacat": datacat}
