"""Fixtures of the registry tests: a small city, staff with registry grants, people and entities."""

from __future__ import annotations

import pytest

from yiwang.areas import service as areas_service
from yiwang.core.actor import SYSTEM, Actor, Grant
from yiwang.core.jobs import bind_settings
from yiwang.core.validators import resident_id_check_char, uscc_check_char

PERSON_PERMS = frozenset({"registry.person.read", "registry.person.write", "registry.person.import"})
ENTITY_PERMS = frozenset({"registry.entity.read", "registry.entity.write", "registry.entity.import"})
PERSONAL = frozenset({"registry.person.read_personal", "registry.entity.read_personal"})


def resident_id(first17: str) -> str:
    """A valid ID number from its first 17 digits."""
    return first17 + resident_id_check_char(first17)


def uscc(first17: str) -> str:
    return first17 + uscc_check_char(first17)


def staff(*grants: Grant, user_id: str = "u1") -> Actor:
    return Actor(kind="staff", user_id=user_id, username=user_id, grants=grants)


@pytest.fixture(autouse=True)
def _settings_bound(request: pytest.FixtureRequest):
    """Services find the test's key dir and hash algorithm through the engine's settings."""
    names = set(request.fixturenames)
    if not {"db", "session", "app", "client"} & names:
        return
    settings = request.getfixturevalue("settings")
    bind_settings(request.getfixturevalue("db").engine, settings)
    if {"app", "client"} & names:
        bind_settings(request.getfixturevalue("app").state.db.engine, settings)


@pytest.fixture
def city(session) -> dict[str, str]:
    """上海市 31 → 黄浦区 310101 → 南京东路街道 310101002; 徐汇区 310104 → 徐家汇街道 310104003."""
    make = areas_service.create_area
    make(session, SYSTEM, code="31", name="上海市", level="city")
    make(session, SYSTEM, code="310101", name="黄浦区", level="district", parent_code="31")
    make(session, SYSTEM, code="310104", name="徐汇区", level="district", parent_code="31")
    make(session, SYSTEM, code="310101002", name="南京东路街道", level="street", parent_code="310101")
    make(session, SYSTEM, code="310104003", name="徐家汇街道", level="street", parent_code="310104")
    session.commit()
    return {"city": "31", "huangpu": "310101", "xuhui": "310104", "street": "310101002",
            "xuhui_street": "310104003"}


@pytest.fixture
def huangpu_staff() -> Actor:
    """A street/district staff member with registry rights over 黄浦区 (310101) only, masked view."""
    return staff(Grant("clerk", "310101", None, PERSON_PERMS | ENTITY_PERMS), user_id="huangpu")


@pytest.fixture
def huangpu_officer() -> Actor:
    """Like ``huangpu_staff`` plus the unmasked view (read_personal) in 黄浦区."""
    return staff(Grant("data_officer", "310101", None, PERSON_PERMS | ENTITY_PERMS | PERSONAL), user_id="officer")


@pytest.fixture
def city_officer() -> Actor:
    return staff(Grant("data_officer", "31", None, PERSON_PERMS | ENTITY_PERMS | PERSONAL), user_id="cityofficer")


@pytest.fixture
def security_admin() -> Actor:
    return staff(Grant("security_admin", "31", None, frozenset({"security.manage"})), user_id="secadmin")


ZHANG = {"name": "张三明", "id_number": resident_id("31010119900307123"), "phone": "13812345678",
         "address": "上海市黄浦区南京东路100号", "area_code": "310101002"}
LI = {"name": "李小红", "id_number": resident_id("31010419851120002"), "phone": "13987654321",
      "address": "上海市徐汇区漕溪北路1号", "area_code": "310104003"}
SHOP = {"uscc": uscc("91310101MA1FL0000"), "name": "上海黄浦小笼包餐饮有限公司", "legal_representative": "王大伟",
        "registered_address": "上海市黄浦区南京东路200号", "area_code": "310101002", "industry": "H",
        "size": "micro", "registration_date": "2019-05-06"}
FACTORY = {"uscc": uscc("91310104MA1AB0001"), "name": "上海徐汇精密制造有限公司", "legal_representative": "赵小芳",
           "registered_address": "上海市徐汇区虹漕路5号", "area_code": "310104003", "industry": "C",
           "size": "medium", "registration_date": "2010-01-15"}
