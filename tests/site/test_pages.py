"""The home page, the preference switches and the layout, through the TestClient."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import Request

from yiwang.core.actor import Actor, Grant
from yiwang.core.i18n import catalogue
from yiwang.core.web import render

HTML = {"accept": "text/html"}
TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "yiwang" / "templates"


def staff(*permissions: str, username: str = "li.ming") -> Actor:
    return Actor(kind="staff", user_id="01STAFF", username=username,
                 grants=(Grant(role="test", area_code="310101", permissions=frozenset(permissions)),))


def set_cookie(response, name: str) -> str:
    """The response's Set-Cookie header for ``name``, or ""."""
    return next((c for c in response.headers.get_list("set-cookie") if c.startswith(f"{name}=")), "")


def nav_hrefs(html: str) -> list[str]:
    nav = html[html.index('<nav class="site-nav"'):html.index("</nav>")]
    return re.findall(r'href="([^"]+)"', nav)


class TestHomePage:
    def test_renders_in_simplified_chinese_by_default(self, client) -> None:
        response = client.get("/", headers=HTML)

        assert response.status_code == 200
        assert '<html lang="zh-CN">' in response.text
        assert "<h1 id=\"home-title\">政务服务一网通办，城市运行一网统管</h1>" in response.text
        assert "<title>首页 · 一网 yiwang</title>" in response.text

    def test_renders_in_english_when_asked_by_query(self, client) -> None:
        response = client.get("/?lang=en", headers=HTML)

        assert response.status_code == 200
        assert '<html lang="en">' in response.text
        assert "Public services in one place, the city run as one" in response.text
        assert "政务服务一网通办" not in response.text

    @pytest.mark.parametrize(("cookie", "lang"), [("en", "en"), ("zh", "zh-CN")])
    def test_follows_the_language_cookie_over_the_browser(self, client, cookie: str, lang: str) -> None:
        client.cookies.set("lang", cookie)
        accept = "zh-CN,zh;q=0.9" if cookie == "en" else "en-GB,en;q=0.9"

        response = client.get("/", headers={**HTML, "accept-language": accept})

        assert f'<html lang="{lang}">' in response.text

    def test_follows_an_english_browser_without_a_cookie(self, client) -> None:
        response = client.get("/", headers={**HTML, "accept-language": "en-US,en;q=0.9"})

        assert '<html lang="en">' in response.text

    def test_marks_the_page_for_elder_mode_from_the_cookie(self, client) -> None:
        client.cookies.set("elder", "1")

        response = client.get("/", headers=HTML)

        assert '<html lang="zh-CN" class="elder">' in response.text
        assert 'name="elder" value="0">标准模式</button>' in response.text

    def test_is_in_standard_mode_without_the_cookie(self, client) -> None:
        response = client.get("/", headers=HTML)

        assert '<html lang="zh-CN">' in response.text
        assert 'name="elder" value="1">长者模式</button>' in response.text

    def test_loads_htmx_deferred(self, client) -> None:
        response = client.get("/", headers=HTML)

        assert '<script src="/static/vendor/htmx.min.js" defer></script>' in response.text

    def test_shows_the_area_the_installation_serves(self, app, client) -> None:
        app.state.area_name = "上海市"

        response = client.get("/", headers=HTML)

        assert '<span class="brand__area">上海市</span>' in response.text

    def test_shows_no_area_when_none_is_configured(self, client) -> None:
        response = client.get("/", headers=HTML)

        assert "brand__area" not in response.text

    def test_shows_the_service_hotline(self, client) -> None:
        response = client.get("/", headers=HTML)

        assert '<a class="hotline__number" href="tel:12345">12345</a>' in response.text


class TestAnonymousVisitor:
    def test_sees_only_home_and_sign_in(self, client) -> None:
        response = client.get("/", headers=HTML)

        assert nav_hrefs(response.text) == ["/", "/opendata", "/login"]
        assert 'action="/logout"' not in response.text

    def test_gets_no_personal_data_and_no_session(self, client) -> None:
        response = client.get("/", headers=HTML)

        assert "工作台" not in response.text
        assert "/account/security" not in response.text
        assert "site-nav__user" not in response.text
        assert set_cookie(response, "yiwang_session") == ""


class TestStaffNavigation:
    @pytest.mark.parametrize(
        ("permission", "href"),
        [
            ("area.manage", "/admin/areas"),
            ("user.manage", "/admin/users"),
            ("role.manage", "/admin/roles"),
            ("audit.read", "/audit"),
            ("registry.person.read", "/registry/persons"),
        ],
    )
    def test_shows_only_the_links_the_roles_allow(self, client, as_actor, permission: str, href: str) -> None:
        as_actor(staff(permission))

        response = client.get("/", headers=HTML)

        assert nav_hrefs(response.text) == ["/", "/opendata", href, "/inbox", "/account/security"]

    def test_shows_the_workbench_and_sign_out(self, client, as_actor) -> None:
        as_actor(staff("audit.read", "user.manage"))

        response = client.get("/", headers=HTML)

        assert '<h1 id="workbench-title">工作台</h1>' in response.text
        assert re.findall(r'<h2 class="card__title"><a href="([^"]+)">', response.text) == [
            "/admin/users", "/audit", "/inbox", "/account/security"]
        assert 'action="/logout"' in response.text
        assert '<span class="site-nav__user secondary">li.ming</span>' in response.text

    def test_asks_staff_without_roles_to_see_their_administrator(self, client, as_actor) -> None:
        as_actor(Actor(kind="staff", user_id="01STAFF", username="new.hire"))

        response = client.get("/", headers=HTML)

        assert "您的账号尚未分配角色，请联系系统管理员。" in response.text
        assert nav_hrefs(response.text) == ["/", "/opendata", "/inbox", "/account/security"]

    def test_marks_the_current_page(self, client, as_actor) -> None:
        as_actor(staff("audit.read"))

        response = client.get("/", headers=HTML)

        assert '<a href="/" aria-current="page">首页</a>' in response.text
        assert '<a href="/audit">审计日志</a>' in response.text


def post_prefs(client, data: dict, **kw):
    """Post the display preferences as a page's own form does: with the token the page carries."""
    page = client.get("/", headers=HTML).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post("/prefs", data={**data, "csrf_token": token}, **kw)


class TestPreferences:
    def test_a_post_without_the_pages_token_changes_nothing(self, client) -> None:
        client.get("/", headers=HTML)  # the visitor has a pre-session token, but the post does not carry it

        response = client.post("/prefs", data={"lang": "en", "next": "/"}, follow_redirects=False)

        assert response.status_code == 403
        assert set_cookie(response, "lang") == ""

    def test_a_signed_in_user_posts_with_their_sessions_token(self, client, as_actor) -> None:
        as_actor(staff("audit.read"))

        response = post_prefs(client, {"elder": "1", "next": "/"}, follow_redirects=False)

        assert response.status_code == 303 and set_cookie(response, "elder").startswith("elder=1;")

    def test_sets_the_language_cookie_for_a_year_and_goes_back(self, client) -> None:
        response = post_prefs(client, {"lang": "en", "next": "/audit?page=2"}, follow_redirects=False)

        assert response.status_code == 303
        assert response.headers["location"] == "/audit?page=2"
        cookie = set_cookie(response, "lang")
        assert cookie.startswith("lang=en;")
        assert "Max-Age=31536000" in cookie
        assert "SameSite=lax" in cookie
        assert "Path=/" in cookie
        assert "HttpOnly" in cookie

    def test_sets_the_elder_cookie(self, client) -> None:
        response = post_prefs(client, {"elder": "1", "next": "/"}, follow_redirects=False)

        assert response.status_code == 303
        assert set_cookie(response, "elder").startswith("elder=1;")

    def test_turns_elder_mode_off(self, client) -> None:
        client.cookies.set("elder", "1")

        response = post_prefs(client, {"elder": "0", "next": "/"})

        assert response.status_code == 200
        assert '<html lang="zh-CN">' in response.text

    def test_the_choice_applies_to_the_next_pages(self, client) -> None:
        post_prefs(client, {"lang": "en", "elder": "1", "next": "/"})

        response = client.get("/", headers=HTML)

        assert '<html lang="en" class="elder">' in response.text

    @pytest.mark.parametrize(
        "target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", ""]
    )
    def test_refuses_to_send_the_visitor_to_another_site(self, client, target: str) -> None:
        response = post_prefs(client, {"lang": "en", "next": target}, follow_redirects=False)

        assert response.status_code == 303
        assert response.headers["location"] == "/"

    def test_refuses_an_unknown_language_and_sets_nothing(self, client) -> None:
        response = post_prefs(client, {"lang": "fr", "next": "/"}, headers=HTML, follow_redirects=False)

        assert response.status_code == 422
        assert set_cookie(response, "lang") == ""
        assert "无法受理此请求" in response.text

    def test_keeps_other_query_parameters_but_drops_lang_from_the_return_path(self, client) -> None:
        response = client.get("/?lang=en&tab=2", headers=HTML)

        assert '<input type="hidden" name="next" value="/?tab=2">' in response.text


class TestErrorPage:
    def test_not_found_is_explained_with_the_request_id(self, client) -> None:
        response = client.get("/no-such-page", headers=HTML)

        assert response.status_code == 404
        assert '<h1 id="error-title">页面不存在</h1>' in response.text
        assert f'<code class="request-id">{response.headers["x-request-id"]}</code>' in response.text
        assert '<a class="button" href="/">返回首页</a>' in response.text

    def test_is_in_english_for_english_visitors(self, client) -> None:
        response = client.get("/no-such-page?lang=en", headers=HTML)

        assert '<h1 id="error-title">We could not find this page</h1>' in response.text

    def test_renders_a_server_error_from_its_status_alone(self, app, client) -> None:
        @app.get("/boom-page")
        def boom_page(request: Request):
            return render(request, "error.html", {"status": 500, "message": "请提供请求编号 X。"}, status_code=500)

        response = client.get("/boom-page", headers=HTML)

        assert response.status_code == 500
        assert '<h1 id="error-title">系统出现错误</h1>' in response.text
        assert '<p class="error-page__message">请提供请求编号 X。</p>' in response.text

    def test_offers_sign_in_when_sign_in_is_needed(self, app, client) -> None:
        from yiwang.core.errors import AuthenticationRequired

        @app.get("/needs-sign-in")
        def needs_sign_in():
            raise AuthenticationRequired()

        response = client.get("/needs-sign-in?tab=2", headers=HTML)

        assert response.status_code == 401
        assert '<h1 id="error-title">请登录后继续</h1>' in response.text
        assert '<a class="button" href="/login?next=/needs-sign-in%3Ftab%3D2">登录</a>' in response.text

    def test_api_clients_still_get_json(self, client) -> None:
        response = client.get("/no-such-page", headers={"accept": "application/json"})

        assert response.json() == {"error": "not_found", "detail": "未找到。"}


class TestCatalogue:
    def test_every_text_of_the_shell_has_a_chinese_translation(self) -> None:
        from yiwang.site.nav import WORKBENCH

        sources = [TEMPLATES / "base.html", TEMPLATES / "error.html", *sorted((TEMPLATES / "site").glob("*.html"))]
        msgids = {m for path in sources for m in re.findall(r"""_\(["']([^"']+)["']\)""", path.read_text())}
        msgids |= {text for link in WORKBENCH for text in (link.label, link.description)}
        zh = catalogue("zh_Hans_CN")

        assert len(msgids) > 40
        assert sorted(m for m in msgids if m not in zh) == []
