"""Acceptance, in a real browser: a department's approver replies to a bad rating on the
rectifications page, and the citizen who rated finds the reply in the inbox and marks it read."""

from __future__ import annotations

from datetime import date

import pytest

from yiwang.areas import service as areas_service
from yiwang.core.actor import SYSTEM as SYSTEM_ACTOR
from yiwang.core.actor import Actor
from yiwang.ratings import service as ratings_service
from yiwang.workdays import service as workdays_service

from .helpers import create_user, login_as, page_problems

pytestmark = pytest.mark.browser


@pytest.fixture
def bad_rating(live_server, monkeypatch):
    monkeypatch.setattr(workdays_service, "today", lambda: date(2026, 9, 25))
    with live_server.db.transaction() as s:
        areas_service.create_area(s, SYSTEM_ACTOR, code="31", name="上海市", level="city")
        areas_service.create_area(s, SYSTEM_ACTOR, code="310101", name="黄浦区", level="district", parent_code="31")
        dep = areas_service.create_department(s, SYSTEM_ACTOR, code="310101-SCJG", name="黄浦区市场监管局",
                                              area_code="310101")
    citizen = create_user(live_server, "citizen.rater", kind="citizen")
    with live_server.db.transaction() as s:
        ratings_service.rate(s, Actor(kind="citizen", user_id=citizen.id), subject_type="application",
                             subject_id="SQ20260925001", service_code="310101-001", department_id=dep.id,
                             area_code="310101", channel="hall", score=2, comment="等候时间太长")
    return citizen, dep


def test_reply_reaches_the_raters_inbox(page, new_page, live_server, bad_rating):
    citizen, dep = bad_rating
    approver = create_user(live_server, "approver.scjg", grants=[("approver", "310101", dep.id)], totp=True)
    login_as(page, live_server, approver)
    page.goto(f"{live_server.url}/ratings/rectifications")
    assert "等候时间太长" in page.locator("main").inner_text()
    assert "2026-10-22" in page.locator("main").inner_text()
    assert page_problems(page) == []
    page.locator("textarea[name=text]").fill("已增设两个窗口")
    with page.expect_navigation():
        page.get_by_role("button", name="发送答复").click()
    assert "已增设两个窗口" in page.locator("main").inner_text()

    other = new_page()
    login_as(other, live_server, citizen)
    other.goto(f"{live_server.url}/inbox")
    main = other.locator("main").inner_text()
    assert "您对办件 SQ20260925001 的评价已收到部门答复：已增设两个窗口" in main and "1 条未读" in main
    assert page_problems(other) == []
    with other.expect_navigation():
        other.get_by_role("button", name="标为已读").click()
    assert "0 条未读" in other.locator("main").inner_text()
