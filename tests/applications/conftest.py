"""Fixtures of the applications tests: the city with its bureaus and one district, the three
items and the bundle of 开办餐饮店 from the demo catalogue, a registered citizen and enterprise,
and staff: a 黄浦区 clerk, a 徐汇区 clerk, approvers of 市场监管局 and 绿化市容局, a head of 市场监管局.

"Today" is fixed at 2026-09-30, the last working day before the National Day holiday."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from yiwang.applications import service as applications_service
from yiwang.areas import service as areas_service
from yiwang.catalog import service as catalog_service
from yiwang.certificates import service as certificates_service
from yiwang.core.actor import SYSTEM, Actor, Grant
from yiwang.core.jobs import bind_settings
from yiwang.core.validators import resident_id_check_char, uscc_check_char
from yiwang.demo.catalog import build_document
from yiwang.demo.city import CITY_DEPARTMENTS
from yiwang.identity import service as identity_service
from yiwang.registry import service as registry_service
from yiwang.workdays import service as workdays_service

TODAY = date(2026, 9, 30)
ITEMS = ("SCJG-001", "SCJG-003", "LHSR-001")
BUNDLE = "YJS-001"
ZHANG_ID = "31010119900307123" + resident_id_check_char("31010119900307123")
SHOP_USCC = "91310101MA1FL0000" + uscc_check_char("91310101MA1FL0000")

INTAKE = frozenset({"application.intake", "application.read", "registry.person.read",
                    "registry.person.read_personal", "registry.entity.read", "registry.entity.read_personal"})
DECIDE = frozenset({"application.decide", "application.read", "certificate.issue", "certificate.read",
                    "registry.person.read", "registry.person.read_personal", "registry.entity.read",
                    "registry.entity.read_personal"})


def staff(*grants: Grant, user_id: str) -> Actor:
    return Actor(kind="staff", user_id=user_id, username=user_id, grants=grants)


@pytest.fixture(autouse=True)
def fixed_today(monkeypatch: pytest.MonkeyPatch) -> date:
    monkeypatch.setattr(workdays_service, "today", lambda: TODAY)
    monkeypatch.setattr(certificates_service, "today_in_china", lambda: TODAY)
    return TODAY


@pytest.fixture(autouse=True)
def _settings_bound(request: pytest.FixtureRequest):
    """Services find the test's keys through the engine's settings."""
    names = set(request.fixturenames)
    if not {"db", "session", "app", "client"} & names:
        return
    settings = request.getfixturevalue("settings")
    bind_settings(request.getfixturevalue("db").engine, settings)
    if {"app", "client"} & names:
        bind_settings(request.getfixturevalue("app").state.db.engine, settings)


def restaurant_catalogue() -> dict[str, Any]:
    doc = build_document()
    return {"items": [i for i in doc["items"] if i["code"] in ITEMS],
            "bundles": [b for b in doc["bundles"] if b["code"] == BUNDLE]}


@pytest.fixture
def world(session) -> dict[str, Any]:
    """Areas, departments, the restaurant items and bundle, a person and an entity in the registry."""
    make = areas_service.create_area
    make(session, SYSTEM, code="31", name="上海市", level="city")
    make(session, SYSTEM, code="310101", name="黄浦区", level="district", parent_code="31")
    make(session, SYSTEM, code="310104", name="徐汇区", level="district", parent_code="31")
    depts = {}
    for suffix, name, kind in CITY_DEPARTMENTS:
        depts[suffix] = areas_service.create_department(session, SYSTEM, code=f"31-{suffix}", name=name, kind=kind,
                                                        area_code="31").id
    import json

    catalog_service.import_catalog(session, SYSTEM, json.dumps(restaurant_catalogue(), ensure_ascii=False), "json")
    person = registry_service.create_person(session, SYSTEM, {
        "name": "张三明", "id_number": ZHANG_ID, "phone": "13812345678", "address": "上海市黄浦区南京东路100号",
        "area_code": "310101"})
    entity = registry_service.create_entity(session, SYSTEM, {
        "uscc": SHOP_USCC, "name": "上海黄浦小笼包餐饮有限公司", "legal_representative": "王大伟",
        "registered_address": "上海市黄浦区南京东路200号", "area_code": "310101", "industry": "H",
        "size": "micro", "registration_date": "2019-05-06"})
    session.commit()
    return {"depts": depts, "person_id": person.id, "entity_id": entity.id}


@pytest.fixture
def citizen(world) -> Actor:
    return Actor(kind="citizen", user_id="01JCITIZEN0000000000000001", username="zhang", person_id=world["person_id"])


@pytest.fixture
def other_citizen(world) -> Actor:
    return Actor(kind="citizen", user_id="01JCITIZEN0000000000000002", username="li",
                 person_id="01JPERSON00000000000000009")


@pytest.fixture
def agent(world) -> Actor:
    return Actor(kind="enterprise", user_id="01JAGENT000000000000000001", username="agent",
                 entity_id=world["entity_id"])


@pytest.fixture
def clerk(world) -> Actor:
    return staff(Grant("clerk", "310101", None, INTAKE), user_id="01JCLERKHP0000000000000001")


@pytest.fixture
def xuhui_clerk(world) -> Actor:
    return staff(Grant("clerk", "310104", None, INTAKE), user_id="01JCLERKXH0000000000000001")


@pytest.fixture
def scjg(world) -> Actor:
    return staff(Grant("approver", "31", world["depts"]["SCJG"], DECIDE), user_id="01JAPPSCJG0000000000000001")


@pytest.fixture
def lhsr(world) -> Actor:
    return staff(Grant("approver", "31", world["depts"]["LHSR"], DECIDE), user_id="01JAPPLHSR0000000000000001")


def form_data(**over: Any) -> dict[str, Any]:
    """A complete merged form of 开办餐饮店 for 张三明."""
    data = {
        "applicant_name": "张三明", "id_number": ZHANG_ID, "mobile": "13812345678",
        "entity_name": "上海黄浦小笼包餐饮有限公司", "registered_capital": 50, "business_scope": "餐饮服务",
        "business_address": "上海市黄浦区南京东路200号", "area_code": "310101002",
        "food_category": "catering", "floor_area": 80, "sign_text": "黄浦小笼", "sign_size": "3x1",
    }
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


UPLOADS = ("articles", "premises", "layout", "safety_rules", "sign_design", "owner_consent")


@pytest.fixture
def upload(session, settings):
    """``upload(actor, code)`` stores a tiny real PDF as the actor and returns its file id."""
    from yiwang.files import service as files_service

    def make(actor: Actor, name: str = "scan.pdf") -> str:
        pdf = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
        return files_service.store(session, actor, data=pdf, filename=name, purpose="material").id

    return make


@pytest.fixture
def uploads(upload):
    def make(actor: Actor) -> dict[str, str]:
        return {code: upload(actor, f"{code}.pdf") for code in UPLOADS}

    return make


@pytest.fixture
def file_bundle(session, citizen, uploads):
    """``file_bundle()`` submits 开办餐饮店 as 张三明 and returns the application."""

    def make(**kw: Any):
        app, _ = applications_service.create(
            session, citizen, subject_kind="bundle", subject_code=BUNDLE, data=kw.pop("data", form_data()),
            materials=kw.pop("materials", None) or uploads(citizen), submit=True, **kw)
        session.commit()
        return app

    return make


@pytest.fixture
def accepted_bundle(session, file_bundle, clerk):
    def make():
        app = file_bundle()
        app = applications_service.accept(session, clerk, app.id)
        session.commit()
        return app

    return make


@pytest.fixture
def head_of_scjg(session, world) -> str:
    """A real account: the head (leader) of 市场监管局, who receives escalations."""
    user = identity_service.create_user(session, SYSTEM, username="head.scjg", password=None, kind="staff",
                                        display_name="市场监管局负责人",
                                        grants=[("leader", "31", world["depts"]["SCJG"])])
    session.commit()
    return user.id
