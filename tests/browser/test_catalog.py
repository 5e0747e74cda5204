"""The public service guide in a real browser: search in Chinese, a bundle's page, an item's form."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.catalog.conftest import make_departments
from yiwang.demo.catalog import load_catalog

from .conftest import LiveServer
from .helpers import page_problems, texts

pytestmark = pytest.mark.browser


@pytest.fixture
def catalogue(live_server: LiveServer) -> None:
    with live_server.db.transaction() as session:
        make_departments(session)
        load_catalog(session)


class TestServiceGuide:
    def test_search_for_a_restaurant_shows_the_bundle_first_and_its_three_items(
        self, live_server: LiveServer, page: Page, catalogue: None,
    ) -> None:
        page.goto(live_server.url + "/services")
        page.get_by_label("您想办什么事？").fill("开餐馆")
        with page.expect_navigation():
            page.get_by_role("button", name="搜索", exact=True).click()

        first = page.locator(".search-results > li").first
        assert first.get_attribute("data-code") == "YJS-001"
        assert first.locator("a").inner_text() == "开办餐饮店"

        with page.expect_navigation():
            first.locator("a").click()

        assert page.locator("h1").inner_text() == "开办餐饮店"
        assert texts(page, ".bundle-items > li > a") == ["企业设立登记", "食品经营许可", "户外招牌设置许可"]
        assert page.locator('input[name="applicant_name"]').count() == 1
        assert page_problems(page) == []

    def test_item_guide_passes_the_page_checks(self, live_server: LiveServer, page: Page, catalogue: None) -> None:
        page.goto(live_server.url + "/services/SCJG-003")

        assert page.locator("h1").inner_text() == "食品经营许可"
        assert page.get_by_label("身份证号码").count() == 1
        assert page_problems(page) == []
