"""Fixtures of the data catalogue's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text


@pytest.fixture(autouse=True)
def _clean_datastore(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that used a database: close the datastore's engines and, on PostgreSQL, drop
    the ``datastore`` schema, so the next test starts from an empty datastore (on SQLite the
    datastore file lives in the test's own folder)."""
    settings = request.getfixturevalue("settings") if "settings" in request.fixturenames else None
    yield
    if settings is None:
        return
    from yiwang.datacat import datastore

    datastore.dispose_engines()
    if not settings.is_sqlite:
        engine = create_engine(settings.resolved_database_url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.begin() as conn:
            conn.execute(text('DROP SCHEMA IF EXISTS "datastore" CASCADE'))
        engine.dispose()


# ---- the open catalogue of the CKAN, search and DCAT tests (tests/datacat/test_{ckan,search,dcat}.py) ----

from dataclasses import dataclass  # noqa: E402

from tests.browser.conftest import live_server  # noqa: E402,F401 - the app on a real socket, for ckanapi

BUS_CSV = "站点名称,经度,纬度\n人民广场,121.475,31.228\n外滩,121.490,31.240\n".encode()
AIR_CSV = "日期,监测点,AQI\n2024-01-01,黄浦,52\n2024-01-02,黄浦,61\n2024-01-03,静安,48\n".encode()


@dataclass
class OpenCatalogue:
    """Departments, a data officer with an API token, three open resources and one draft."""

    departments: dict[str, str]
    resources: dict[str, str]
    tables: dict[str, str]
    officer_token: str
    clerk_token: str


@pytest.fixture
def open_catalogue(settings, db) -> Iterator[OpenCatalogue]:
    """Built through the services: bus stops (交通委, 无条件开放, table), air quality (生态环境局,
    无条件开放, table), bus lines (交通委, 有条件开放, table) open; a 市场监管局 draft that never opened."""
    from yiwang.areas import service as areas_service
    from yiwang.core.actor import SYSTEM
    from yiwang.core.jobs import bind_settings
    from yiwang.datacat import datastore, search, service
    from yiwang.datacat.schemas import FieldIn, ResourceIn
    from yiwang.identity import service as identity_service

    bind_settings(db.engine, settings)
    search.CACHE.clear()
    with db.transaction() as s:
        areas_service.create_area(s, SYSTEM, code="31", name="上海市", level="city")
        areas_service.create_area(s, SYSTEM, code="310101", name="黄浦区", level="district", parent_code="31")
        deps = {code: areas_service.create_department(s, SYSTEM, code=f"310101-{code}", name=name,
                                                      area_code="310101").id
                for code, name in (("JT", "黄浦区交通委"), ("HB", "黄浦区生态环境局"), ("SCJG", "黄浦区市场监管局"))}
        officer = identity_service.create_user(s, SYSTEM, username="officer.jt", password=None, kind="staff",
                                               display_name="数据专员", grants=[("data_officer", "31", None)])
        officer_token, _ = identity_service.create_token(s, SYSTEM, officer.id, "ckan")
        clerk = identity_service.create_user(s, SYSTEM, username="clerk.x", password=None, kind="staff",
                                             display_name="窗口", grants=[("clerk", "31", None)])
        clerk_token, _ = identity_service.create_token(s, SYSTEM, clerk.id, "ckan")
        actor = identity_service.actor_for_user(s, officer.id, mfa=True)

    def make(s, name, code, title, dep, topic, cycle, opening, tags, fields, summary=""):
        return service.create_resource(s, actor, ResourceIn(
            name=name, code=code, title=title, department_id=deps[dep], summary=summary, topic=topic,
            update_cycle=cycle, opening=opening, tags=tags, fields=[FieldIn(name=f, type=t) for f, t in fields]))

    resources, tables = {}, {}
    with db.transaction() as s:
        for key, args, csv in (
            ("bus-stops", ("310101-JT-00001", "黄浦区公交站点", "JT", "transport", "monthly", "unconditional",
                           ["公交", "交通"], [("站点名称", "text"), ("经度", "number"), ("纬度", "number")],
                           "黄浦区公交站点的位置"), BUS_CSV),
            ("air-quality", ("310101-HB-00001", "空气质量历史数据", "HB", "environment", "daily", "unconditional",
                             ["空气质量", "环境"], [("日期", "date"), ("监测点", "text"), ("AQI", "integer")],
                             "各监测点每日空气质量指数"), AIR_CSV),
            ("bus-lines", ("310101-JT-00002", "公交线路站点明细", "JT", "transport", "yearly", "conditional",
                           ["公交"], [("站点名称", "text"), ("经度", "number"), ("纬度", "number")],
                           "按申请开放"), BUS_CSV),
        ):
            made = make(s, key, *args)
            outcome = service.add_distribution(s, actor, made.id, name=f"{key}.csv", data=csv,
                                               filename=f"{key}.csv")
            assert outcome.passed, outcome.report
            assert service.open_resource(s, actor, made.id).passed
            resources[key], tables[key] = made.id, outcome.distribution.id
        draft = make(s, "company-register", "310101-SCJG-00001", "企业登记公交信息", "SCJG", "economy", "monthly",
                     "unconditional", ["企业"], [("名称", "text")])
        resources["company-register"] = draft.id
    yield OpenCatalogue(deps, resources, tables, officer_token, clerk_token)
    for table_id in tables.values():
        datastore.drop(settings, table_id)
