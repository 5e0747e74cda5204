"""Fixtures of the 一网统管 tests: 上海市 → 黄浦区 → two streets, each one community with one grid
(rectangles), the district's 绿化市容局 with a street team, an emergency team, a small category tree
with its routing rule, and staff: a district dispatcher, handlers of each street, a grid worker, a
12345 operator and citizens."""

from __future__ import annotations

from typing import Any

import pytest

from yiwang.areas import service as areas_service
from yiwang.cityops import service as cityops_service
from yiwang.cityops.schemas import CategoryCreate, ReportIn, RuleCreate
from yiwang.core.actor import SYSTEM, Actor, Grant
from yiwang.core.jobs import bind_settings

CITY, DISTRICT = "31", "310101"
STREET, OTHER_STREET = "310101002", "310101003"
GRID, OTHER_GRID = "310101002001001", "310101003001001"
#: A point inside GRID (street 310101002) and one inside OTHER_GRID.
HERE = (121.2, 31.2)
THERE = (121.2, 31.7)
OUTSIDE = (116.4, 39.9)

DISPATCH = frozenset({"cityops.read", "cityops.dispatch", "cityops.route", "cityops.incident",
                      "cityops.supervise", "cityops.category.manage"})
HANDLE = frozenset({"cityops.read", "cityops.handle"})


def rect(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def staff(*grants: Grant, user_id: str) -> Actor:
    return Actor(kind="staff", user_id=user_id, username=user_id, grants=grants)


def metres_east(lon: float, lat: float, metres: float) -> tuple[float, float]:
    """The point ``metres`` east of (lon, lat) on the same parallel."""
    import math

    return lon + metres / (111_320 * math.cos(math.radians(lat))), lat


@pytest.fixture(autouse=True)
def _settings_bound(request: pytest.FixtureRequest):
    names = set(request.fixturenames)
    if not {"db", "session", "app", "client"} & names:
        return
    settings = request.getfixturevalue("settings")
    bind_settings(request.getfixturevalue("db").engine, settings)
    if {"app", "client"} & names:
        bind_settings(request.getfixturevalue("app").state.db.engine, settings)


@pytest.fixture
def city(session) -> dict[str, str]:
    make = areas_service.create_area
    make(session, SYSTEM, code=CITY, name="上海市", level="city", boundary=rect(121, 31, 122, 32))
    make(session, SYSTEM, code=DISTRICT, name="黄浦区", level="district", parent_code=CITY,
         boundary=rect(121, 31, 121.5, 32))
    for street, name, y0, y1 in ((STREET, "南京东路街道", 31, 31.5), (OTHER_STREET, "外滩街道", 31.5, 32)):
        make(session, SYSTEM, code=street, name=name, level="street", parent_code=DISTRICT,
             boundary=rect(121, y0, 121.5, y1))
        make(session, SYSTEM, code=street + "001", name=name + "第一社区", level="community", parent_code=street,
             boundary=rect(121, y0, 121.5, y1))
        make(session, SYSTEM, code=street + "001001", name=name + "一号网格", level="grid",
             parent_code=street + "001", boundary=rect(121, y0, 121.5, y1))
    dept = areas_service.create_department(session, SYSTEM, code="310101-LHSR", name="黄浦区绿化市容局",
                                           area_code=DISTRICT)
    team = areas_service.create_department(session, SYSTEM, code="310101002-HJD", name="南京东路街道环境队",
                                           area_code=STREET, kind="team", parent_id=dept.id)
    emergency = areas_service.create_department(session, SYSTEM, code="310101-YJ", name="黄浦区应急抢险队",
                                                area_code=DISTRICT, kind="team")
    for body in (
        CategoryCreate(code="SRHJ", name="市容环境", level="street"),
        CategoryCreate(code="SRHJ.LJ", name="暴露垃圾", parent_code="SRHJ", level="grid",
                       deadlines={"normal": "2d", "urgent": "8h", "critical": "2h"}),
        CategoryCreate(code="SSGL", name="设施管理", level="street"),
        CategoryCreate(code="SSGL.JG", name="井盖缺损", parent_code="SSGL", level="grid", urgency="urgent"),
    ):
        cityops_service.create_category(session, SYSTEM, body)
    cityops_service.create_rule(session, SYSTEM, RuleCreate(category_code="SRHJ", area_prefix=DISTRICT,
                                                            department_id=dept.id, team_id=team.id))
    cityops_service.create_rule(session, SYSTEM, RuleCreate(category_code="SSGL", area_prefix=DISTRICT,
                                                            department_id=dept.id))
    session.commit()
    return {"dept": dept.id, "team": team.id, "emergency": emergency.id}


@pytest.fixture
def dispatcher(city) -> Actor:
    return staff(Grant("dispatcher", DISTRICT, None, DISPATCH), user_id="01JDISPATCH000000000000001")


@pytest.fixture
def handler(city) -> Actor:
    """A handler of the street team of 南京东路街道."""
    return staff(Grant("handler", STREET, city["team"], HANDLE), user_id="01JHANDLER0000000000000001")


@pytest.fixture
def other_handler(city) -> Actor:
    """A handler of 外滩街道, with the same department: the other street."""
    return staff(Grant("handler", OTHER_STREET, city["dept"], HANDLE), user_id="01JHANDLER0000000000000002")


@pytest.fixture
def operator(city) -> Actor:
    return staff(Grant("hotline_operator", CITY, None, frozenset({"cityops.intake", "cityops.read"})),
                 user_id="01JOPERATOR000000000000001")


@pytest.fixture
def citizen(city) -> Actor:
    return Actor(kind="citizen", user_id="01JCITIZEN0000000000000001", username="zhang")


@pytest.fixture
def other_citizen(city) -> Actor:
    return Actor(kind="citizen", user_id="01JCITIZEN0000000000000002", username="li")


@pytest.fixture
def report(session):
    """``report(actor, text, point, category=…, **more)`` submits a citizen report and commits."""

    def make(actor: Actor, text: str = "路边有一堆暴露垃圾无人清理", point: tuple[float, float] | None = HERE,
             category: str | None = "SRHJ.LJ", **more: Any):
        body = ReportIn(description=text, category_code=category, lon=point[0] if point else None,
                        lat=point[1] if point else None, **more)
        out = cityops_service.report_citizen(session, actor, body)
        session.commit()
        return out

    return make


@pytest.fixture
def city_dispatcher(city) -> Actor:
    """A dispatcher of the city's operations centre: events placed nowhere yet are theirs."""
    return staff(Grant("dispatcher", CITY, None, DISPATCH), user_id="01JCITYDISP000000000000001")
