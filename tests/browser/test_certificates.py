"""Scanning a certificate's QR code: the public verification page in a real browser."""

from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import Page

from yiwang.areas import service as areas_service
from yiwang.certificates import service as certificates_service
from yiwang.core.actor import SYSTEM
from yiwang.core.jobs import bind_settings

from .conftest import LiveServer
from .helpers import page_problems

pytestmark = pytest.mark.browser


@pytest.fixture
def certificate(live_server: LiveServer):
    """A food licence of 张三明 issued by 黄浦区市场监管局."""
    bind_settings(live_server.db.engine, live_server.settings)
    with live_server.db.transaction() as s:
        areas_service.create_area(s, SYSTEM, code="31", name="上海市", level="city")
        areas_service.create_area(s, SYSTEM, code="310101", name="黄浦区", level="district", parent_code="31")
        dep = areas_service.create_department(s, SYSTEM, code="310101-SCJG", name="黄浦区市场监管局",
                                              area_code="310101")
        cert = certificates_service.issue_certificate(
            s, SYSTEM, type_code="FOOD-LICENCE", type_name="食品经营许可证", holder_kind="person",
            holder_id="01JPERSON00000000000000001", holder_name="张三明", holder_identifier="310101199003071230",
            issuer_department_id=dep.id, fields={"经营范围": "预包装食品销售"}, valid_from=date(2026, 1, 1),
            valid_until=None)
    return cert


class TestVerificationPage:
    def test_shows_a_valid_certificate(self, live_server: LiveServer, page: Page, certificate) -> None:
        page.goto(live_server.url + certificate.verify_path)

        assert page.locator("#result-title").inner_text() == "有效"
        assert page.get_by_role("status").get_attribute("data-status") == "valid"
        assert "张*明" in page.locator(".facts").inner_text()
        assert "张三明" not in page.content()
        assert page_problems(page) == []

    def test_says_revoked_with_the_date(self, live_server: LiveServer, page: Page, certificate) -> None:
        with live_server.db.transaction() as s:
            revoked = certificates_service.revoke(s, SYSTEM, certificate.id, "许可条件不再具备")
        day = revoked.revoked_at.astimezone(certificates_service.CHINA).date().isoformat()

        page.goto(live_server.url + certificate.verify_path)

        assert page.locator("#result-title").inner_text() == "已注销"
        assert page.get_by_role("status").inner_text().endswith(f"证照已于 {day} 注销。")
        assert page_problems(page) == []
