"""Fixtures of the areas tests: actors, rectangles, and a small tree city → grid."""

from __future__ import annotations

from typing import Any

import pytest

from yiwang.areas import locator
from yiwang.areas import service as areas_service
from yiwang.core.actor import SYSTEM, Actor, Grant

MANAGE = frozenset({"area.manage", "department.manage"})


def rect(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    """A GeoJSON rectangle (lon/lat)."""
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def staff(*grants: Grant, user_id: str = "u1") -> Actor:
    return Actor(kind="staff", user_id=user_id, grants=grants)


@pytest.fixture
def sys_admin() -> Actor:
    return staff(Grant("sys_admin", "31", None, MANAGE), user_id="admin")


@pytest.fixture
def street_staff() -> Actor:
    """Manages areas and departments of 黄浦区 (310101) only."""
    return staff(Grant("sys_admin", "310101", None, MANAGE), user_id="huangpu")


@pytest.fixture
def clerk() -> Actor:
    return staff(Grant("clerk", "31", None, frozenset({"registry.person.read"})), user_id="clerk")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The locator's clock, moved by hand: ``clock[0] += 1.5``."""
    now = [1000.0]
    monkeypatch.setattr(locator, "clock", lambda: now[0])
    return now


@pytest.fixture
def tree(session) -> dict[str, str]:
    """上海市 31 (121–122 × 31–32) → 黄浦区 310101 (west half) and 徐汇区 310104 (east half) →
    street 310101002 → community 310101002001 → two grids side by side sharing the edge lon 121.25."""
    make = areas_service.create_area
    make(session, SYSTEM, code="31", name="上海市", level="city", boundary=rect(121, 31, 122, 32))
    make(session, SYSTEM, code="310101", name="黄浦区", level="district", parent_code="31",
         boundary=rect(121, 31, 121.5, 32))
    make(session, SYSTEM, code="310104", name="徐汇区", level="district", parent_code="31",
         boundary=rect(121.5, 31, 122, 32))
    make(session, SYSTEM, code="310101002", name="南京东路街道", level="street", parent_code="310101",
         boundary=rect(121, 31, 121.5, 31.5))
    make(session, SYSTEM, code="310101002001", name="第一社区", level="community", parent_code="310101002",
         boundary=rect(121, 31, 121.5, 31.5))
    make(session, SYSTEM, code="310101002001001", name="一号网格", level="grid", parent_code="310101002001",
         boundary=rect(121, 31, 121.25, 31.5))
    make(session, SYSTEM, code="310101002001002", name="二号网格", level="grid", parent_code="310101002001",
         boundary=rect(121.25, 31, 121.5, 31.5))
    session.commit()
    return {"city": "31", "district": "310101", "other_district": "310104", "street": "310101002",
            "community": "310101002001", "grid_west": "310101002001001", "grid_east": "310101002001002"}


def audit_trail(session, action: str) -> list[tuple[str, str, str | None, str | None]]:
    """(action, outcome, target_id, area_code) of the audit entries with this action, oldest first."""
    from yiwang.audit import service as audit_service

    page = audit_service.list_entries(session, SYSTEM, audit_service.EntryFilter(action=action), limit=500)
    return [(e.action, e.outcome, e.target_id, e.area_code) for e in reversed(page.items)]
