"""Fixtures of the catalogue tests: the city's departments, actors, small forms and the demo catalogue."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from yiwang.areas import service as areas_service
from yiwang.core.actor import SYSTEM, Actor, Grant
from yiwang.demo.catalog import load_catalog
from yiwang.demo.city import CITY_DEPARTMENTS

MANAGE = frozenset({"catalog.manage"})


def staff(*grants: Grant, user_id: str = "u1") -> Actor:
    return Actor(kind="staff", user_id=user_id, grants=grants)


def make_departments(session) -> None:
    """The city 31, district 310101, the city's bureaus (31-SCJG …) and one district bureau."""
    areas_service.create_area(session, SYSTEM, code="31", name="上海市", level="city")
    areas_service.create_area(session, SYSTEM, code="310101", name="黄浦区", level="district", parent_code="31")
    for suffix, name, kind in CITY_DEPARTMENTS:
        areas_service.create_department(session, SYSTEM, code=f"31-{suffix}", name=name, kind=kind, area_code="31")
    areas_service.create_department(session, SYSTEM, code="310101-SCJG", name="黄浦区市场监督管理局",
                                    kind="bureau", area_code="310101")


FORM: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "applicant_name": {"type": "string", "title": "申请人姓名", "minLength": 2, "maxLength": 50},
        "id_number": {"type": "string", "title": "身份证号码", "format": "id_number"},
        "mobile": {"type": "string", "title": "联系电话", "format": "mobile"},
        "floor_area": {"type": "number", "title": "经营面积", "minimum": 1, "maximum": 1000},
        "category": {"type": "string", "title": "主体业态", "enum": ["catering", "retail"],
                     "x-enum-labels": ["餐饮服务", "食品销售"]},
        "shop_code": {"type": "string", "title": "门店编号", "pattern": "^[A-Z]{2}[0-9]{3}$"},
    },
    "required": ["applicant_name", "id_number", "mobile"],
    "x-layout": {"groups": [{"title": "申请人", "fields": ["applicant_name", "id_number", "mobile"]}],
                 "widgets": {"category": "select"}, "hints": {"id_number": "18 位"},
                 "registry": {"applicant_name": "person.name", "id_number": "person.id_number"}},
}


def item_data(**over: Any) -> dict[str, Any]:
    """A valid item of 31-SCJG; ``over`` replaces fields."""
    data: dict[str, Any] = {
        "name": "测试许可", "description": "测试用事项", "department": "31-SCJG", "kind": "licence",
        "legal_limit_days": 20, "promised_limit_days": 10, "fee_text": "不收费", "fee_amount": None,
        "online_depth": 4, "areas": ["31"],
        "materials": [{"code": "id_card", "name": "身份证", "required": True, "stand_in": {"registry": "person"}},
                      {"code": "plan", "name": "平面图", "required": False, "stand_in": None}],
        "form": copy.deepcopy(FORM), "certificate_type": {"code": "TST", "name": "测试许可证"},
        "process_key": "review_then_approve", "keywords": ["测试"],
    }
    data.update(over)
    return data


@pytest.fixture
def manager() -> Actor:
    return staff(Grant("catalog_admin", "31", None, MANAGE), user_id="catalog-admin")


@pytest.fixture
def district_manager() -> Actor:
    return staff(Grant("catalog_admin", "310101", None, MANAGE), user_id="district-admin")


@pytest.fixture
def clerk() -> Actor:
    return staff(Grant("clerk", "31", None, frozenset({"registry.person.read"})), user_id="clerk")


@pytest.fixture
def departments(session) -> None:
    make_departments(session)
    session.flush()


@pytest.fixture
def demo(session) -> dict[str, Any]:
    make_departments(session)
    counts = load_catalog(session)
    session.commit()
    return counts
