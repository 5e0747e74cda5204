"""Fixtures of the certificates tests: two districts with a licensing department each, approvers,
a clerk, and holders (a citizen and an enterprise agent)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from yiwang.areas import service as areas_service
from yiwang.certificates import service as certificates_service
from yiwang.certificates.schemas import CertificateRead
from yiwang.core.actor import SYSTEM, Actor, Grant
from yiwang.core.jobs import bind_settings

ISSUE = frozenset({"certificate.issue", "certificate.revoke", "certificate.read"})
PERSON_ID = "01JPERSON00000000000000001"
OTHER_PERSON_ID = "01JPERSON00000000000000002"
ENTITY_ID = "01JENTITY00000000000000001"
USCC = "91310101MA1FPX1234"


def staff(*grants: Grant, user_id: str = "u1") -> Actor:
    return Actor(kind="staff", user_id=user_id, username=user_id, grants=grants)


def citizen(person_id: str = PERSON_ID, user_id: str = "c1") -> Actor:
    return Actor(kind="citizen", user_id=user_id, username=user_id, person_id=person_id)


def enterprise(entity_id: str = ENTITY_ID, user_id: str = "e1") -> Actor:
    return Actor(kind="enterprise", user_id=user_id, username=user_id, entity_id=entity_id)


@pytest.fixture(autouse=True)
def _settings_bound(request: pytest.FixtureRequest):
    """Services find the test's key dir through the engine's settings."""
    names = set(request.fixturenames)
    if not {"db", "session", "app", "client"} & names:
        return
    settings = request.getfixturevalue("settings")
    bind_settings(request.getfixturevalue("db").engine, settings)
    if {"app", "client"} & names:
        bind_settings(request.getfixturevalue("app").state.db.engine, settings)


@pytest.fixture
def city(session) -> dict[str, str]:
    """上海市 31 → 黄浦区 310101 (市场监管局) and 徐汇区 310104 (市场监管局)."""
    make = areas_service.create_area
    make(session, SYSTEM, code="31", name="上海市", level="city")
    make(session, SYSTEM, code="310101", name="黄浦区", level="district", parent_code="31")
    make(session, SYSTEM, code="310104", name="徐汇区", level="district", parent_code="31")
    hp = areas_service.create_department(session, SYSTEM, code="310101-SCJG", name="黄浦区市场监管局",
                                         area_code="310101")
    xh = areas_service.create_department(session, SYSTEM, code="310104-SCJG", name="徐汇区市场监管局",
                                         area_code="310104")
    session.commit()
    return {"huangpu_dep": hp.id, "xuhui_dep": xh.id}


@pytest.fixture
def approver() -> Actor:
    """An approver of 黄浦区 (issue, revoke, read)."""
    return staff(Grant("approver", "310101", None, ISSUE), user_id="approver")


@pytest.fixture
def xuhui_approver() -> Actor:
    return staff(Grant("approver", "310104", None, ISSUE), user_id="xuhui")


def issue(session, actor: Actor, department_id: str, **overrides: Any) -> CertificateRead:
    values: dict[str, Any] = {
        "type_code": "FOOD-LICENCE", "type_name": "食品经营许可证", "holder_kind": "person",
        "holder_id": PERSON_ID, "holder_name": "张三明", "holder_identifier": "310101199003071230",
        "issuer_department_id": department_id,
        "fields": {"经营范围": "预包装食品销售", "地址": "上海市黄浦区南京东路100号"},
        "valid_from": date(2026, 1, 1), "valid_until": date(2031, 12, 31), "application_id": None,
    }
    values.update(overrides)
    return certificates_service.issue_certificate(session, actor, **values)


@pytest.fixture
def issued(session, city, approver) -> CertificateRead:
    """A food licence of 张三明, issued by 黄浦区市场监管局, valid 2026-01-01 … 2031-12-31."""
    cert = issue(session, approver, city["huangpu_dep"])
    session.commit()
    return cert
