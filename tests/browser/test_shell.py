"""The web shell in a real browser: language, elder mode, phones, keyboard, errors, htmx."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page

from .conftest import LiveServer, artifacts_dir
from .helpers import create_user, login_as, page_problems, set_preferences, texts

pytestmark = pytest.mark.browser

ZH_HOME_TITLE = "政务服务一网通办，城市运行一网统管"
EN_HOME_TITLE = "Public services in one place, the city run as one"


def root_font_size(page: Page) -> str:
    return page.evaluate("getComputedStyle(document.documentElement).fontSize")


def html_lang(page: Page) -> str | None:
    return page.locator("html").get_attribute("lang")


def click_and_wait(page: Page, role: str, name: str) -> None:
    with page.expect_navigation():
        page.get_by_role(role, name=name, exact=True).click()


class TestHomePage:
    def test_is_in_simplified_chinese_by_default(self, live_server: LiveServer, page: Page) -> None:
        page.goto(live_server.url + "/")

        assert html_lang(page) == "zh-CN"
        assert page.locator("h1").inner_text() == ZH_HOME_TITLE
        assert page.title() == "首页 · 一网 yiwang"
        assert texts(page, ".card__title") == ["一网通办", "一网统管", "数据开放", "工作人员登录"]

    def test_offers_sign_in_to_an_anonymous_visitor(self, live_server: LiveServer, page: Page) -> None:
        page.goto(live_server.url + "/")

        assert texts(page, ".site-nav a") == ["首页", "数据开放", "登录"]
        assert page.get_by_role("button", name="退出登录").count() == 0

    @pytest.mark.parametrize("mobile", [False, True], ids=["desktop", "mobile"])
    @pytest.mark.parametrize("elder", [False, True], ids=["standard", "elder"])
    def test_passes_the_page_checks(self, live_server: LiveServer, new_page, mobile: bool, elder: bool,
                                    request: pytest.FixtureRequest) -> None:
        page = new_page(mobile=mobile)
        set_preferences(page, live_server.url, elder=elder)
        page.goto(live_server.url + "/")

        shot = artifacts_dir(request.config) / f"home-{'mobile' if mobile else 'desktop'}-{'elder' if elder else 'standard'}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert page_problems(page) == []


class TestLanguageSwitch:
    def test_switches_to_english_and_back_and_the_choice_follows_every_page(
        self, live_server: LiveServer, page: Page
    ) -> None:
        page.goto(live_server.url + "/")

        click_and_wait(page, "button", "English")
        assert urlsplit(page.url).path == "/"
        assert html_lang(page) == "en"
        assert page.locator("h1").inner_text() == EN_HOME_TITLE

        page.goto(live_server.url + "/no-such-page")
        assert html_lang(page) == "en"
        assert page.locator("h1").inner_text() == "We could not find this page"

        click_and_wait(page, "button", "中文")
        assert urlsplit(page.url).path == "/no-such-page"
        assert html_lang(page) == "zh-CN"
        assert page.locator("h1").inner_text() == "页面不存在"

        page.goto(live_server.url + "/")
        assert page.locator("h1").inner_text() == ZH_HOME_TITLE

    def test_follows_an_english_browser_until_the_visitor_chooses(self, live_server: LiveServer, new_page) -> None:
        page = new_page(locale="en-GB")
        page.goto(live_server.url + "/")
        assert html_lang(page) == "en"

        click_and_wait(page, "button", "中文")
        page.goto(live_server.url + "/")
        assert html_lang(page) == "zh-CN"


class TestElderMode:
    def test_enlarges_the_type_and_survives_navigation(self, live_server: LiveServer, page: Page) -> None:
        page.goto(live_server.url + "/")
        assert root_font_size(page) == "16px"

        click_and_wait(page, "button", "长者模式")
        assert root_font_size(page) == "20px"
        assert page.locator("html").get_attribute("class") == "elder"

        page.goto(live_server.url + "/no-such-page")
        assert root_font_size(page) == "20px"

        click_and_wait(page, "button", "标准模式")
        assert urlsplit(page.url).path == "/no-such-page"
        assert root_font_size(page) == "16px"

    def test_hides_secondary_chrome(self, live_server: LiveServer, page: Page) -> None:
        page.goto(live_server.url + "/")
        api_docs = page.locator("a[href='/api/docs']")
        assert api_docs.is_visible()

        click_and_wait(page, "button", "长者模式")
        assert api_docs.count() == 1
        assert not api_docs.is_visible()
        assert page.get_by_role("link", name="12345").is_visible()

    def test_makes_every_control_at_least_44_px_tall(self, live_server: LiveServer, page: Page) -> None:
        set_preferences(page, live_server.url, elder=True)
        page.goto(live_server.url + "/")

        heights = page.evaluate(
            "[...document.querySelectorAll('header a, header button, main button, main .button')]"
            ".map((el) => Math.round(el.getBoundingClientRect().height))"
        )
        assert len(heights) >= 5
        assert min(heights) >= 44


class TestPhone:
    @pytest.mark.parametrize("path", ["/", "/no-such-page"])
    @pytest.mark.parametrize("elder", [False, True], ids=["standard", "elder"])
    def test_never_scrolls_sideways(self, live_server: LiveServer, mobile_page: Page, path: str, elder: bool) -> None:
        set_preferences(mobile_page, live_server.url, elder=elder)
        mobile_page.goto(live_server.url + path)

        assert mobile_page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert mobile_page.evaluate("window.innerWidth") == 360


class TestKeyboard:
    def test_the_skip_link_is_the_first_tab_stop_and_moves_focus_to_the_content(
        self, live_server: LiveServer, page: Page
    ) -> None:
        page.goto(live_server.url + "/")

        page.keyboard.press("Tab")
        focused = page.evaluate("[document.activeElement.className, document.activeElement.textContent]")
        assert focused == ["skip-link", "跳到主要内容"]
        box = page.locator(".skip-link").bounding_box()
        assert box is not None and box["y"] >= 0

        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"


class TestErrorPage:
    def test_not_found_is_explained_in_chinese_with_the_request_id(self, live_server: LiveServer, page: Page) -> None:
        response = page.goto(live_server.url + "/no-such-page")

        assert response is not None and response.status == 404
        assert page.locator("h1").inner_text() == "页面不存在"
        assert page.locator(".error-page__message").inner_text() == "未找到。"
        assert page.locator(".request-id").inner_text() == response.headers["x-request-id"]
        assert page.get_by_role("link", name="返回首页").get_attribute("href") == "/"
        assert page_problems(page) == []


class TestScripts:
    def test_htmx_is_loaded(self, live_server: LiveServer, page: Page) -> None:
        page.goto(live_server.url + "/")

        assert page.evaluate("typeof window.htmx") == "object", (
            "static/vendor/htmx.min.js is missing: run `make assets`"
        )


class TestStaffShell:
    def test_staff_see_the_links_of_their_roles_and_can_sign_out(
        self, live_server: LiveServer, page: Page, request: pytest.FixtureRequest
    ) -> None:
        auditor = create_user(live_server, "audit.wang", grants=[("audit_admin", "31")], totp=True)
        login_as(page, live_server, auditor)
        page.goto(live_server.url + "/")
        page.screenshot(path=str(artifacts_dir(request.config) / "home-desktop-staff.png"), full_page=True)

        assert page.locator("h1").inner_text() == "工作台"
        assert texts(page, ".site-nav a") == ["首页", "数据开放", "审计日志", "站内信", "账号安全"]
        assert texts(page, ".card__title") == ["审计日志", "站内信", "账号安全"]
        assert page_problems(page) == []

        click_and_wait(page, "button", "退出登录")
        page.goto(live_server.url + "/")
        assert texts(page, ".site-nav a") == ["首页", "数据开放", "登录"]
