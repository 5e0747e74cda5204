"""Acceptance, in a real browser: a Huangpu street clerk finds and reveals a Huangpu resident, is
refused a Xuhui resident (no name shown), and the refusal is in the audit trail."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from yiwang.areas import service as areas_service
from yiwang.core.actor import SYSTEM
from yiwang.demo.registry import generate_persons
from yiwang.registry import service as registry_service

from .helpers import create_user, login_as

pytestmark = pytest.mark.browser


@pytest.fixture
def residents(live_server):
    with live_server.db.transaction() as s:
        areas_service.create_area(s, SYSTEM, code="31", name="上海市", level="city")
        for district, street, name in (("310101", "310101002", "黄浦区"), ("310104", "310104003", "徐汇区")):
            areas_service.create_area(s, SYSTEM, code=district, name=name, level="district", parent_code="31")
            areas_service.create_area(s, SYSTEM, code=street, name=name + "街道", level="street",
                                      parent_code=district)
        ours = generate_persons(["310101002"], 1, seed=11)[0]
        theirs = generate_persons(["310104003"], 1, seed=12)[0]
        registry_service.create_person(s, SYSTEM, ours)
        registry_service.create_person(s, SYSTEM, theirs)
    return ours, theirs


def _look_up(page, base_url: str, id_number: str):
    page.goto(f"{base_url}/registry/persons")
    page.fill("#id_number", id_number)
    with page.expect_navigation():
        page.locator("form[action='/registry/persons/lookup'] button[type=submit]").click()


def test_clerk_sees_own_district_and_is_refused_another(page, live_server, residents):
    ours, theirs = residents
    clerk = create_user(live_server, "clerk.huangpu", grants=[("clerk", "310101002")], totp=True)
    login_as(page, live_server, clerk)

    _look_up(page, live_server.url, ours["id_number"])
    card = page.locator("main").inner_text()
    assert ours["id_number"][-4:] in card
    assert ours["id_number"] not in card  # masked until a purpose is given
    page.fill("#purpose", "窗口核验身份")
    with page.expect_navigation():
        page.locator("form[action$='/reveal'] button[type=submit]").click()
    assert ours["id_number"] in page.locator("main").inner_text()

    _look_up(page, live_server.url, theirs["id_number"])
    body = page.locator("main").inner_text()
    assert "您没有执行此操作的权限" in body
    assert theirs["name"] not in body

    with live_server.db.transaction(write=False) as s:
        denied = s.execute(text("SELECT action FROM audit_entries WHERE outcome = 'denied'")).scalars().all()
        revealed = s.execute(text("SELECT purpose FROM audit_entries "
                                  "WHERE action = 'registry.person.read_personal' AND outcome = 'ok'")).scalars().all()
    assert denied == ["registry.person.read"]
    assert revealed == ["窗口核验身份"]
