"""Identity pages through the real app: the sign-in form flow with CSRF, TOTP, account security,
user administration and the role matrix."""

from __future__ import annotations

import re

import pyotp

from yiwang.identity.policy import DEFAULT_POLICY

from .conftest import DISTRICT, OTHER_DISTRICT, PASSWORD, STREET, totp_code


def form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no csrf_token in the form"
    return found.group(1)


def sign_in_form(client, username: str, password: str = PASSWORD, next_url: str = "/"):
    page = client.get("/login")
    return client.post("/login", data={"csrf_token": form_token(page.text), "username": username,
                                       "password": password, "next": next_url}, follow_redirects=False)


def sign_in_verified(client, username: str) -> None:
    step = sign_in_form(client, username)
    assert step.headers["location"].startswith("/login/totp")
    page = client.get(step.headers["location"])
    done = client.post("/login/totp", data={"csrf_token": form_token(page.text), "code": totp_code(), "next": "/"},
                       follow_redirects=False)
    assert done.status_code == 303


class TestLoginPage:
    def test_renders_with_a_pre_session_token(self, client):
        page = client.get("/login")
        assert page.status_code == 200
        assert 'name="username"' in page.text and 'name="password"' in page.text
        assert client.cookies.get("yiwang_csrf")
        assert form_token(page.text)

    def test_form_sign_in_redirects_to_next(self, client, make_user):
        make_user("disp1", ("dispatcher", DISTRICT))
        done = sign_in_form(client, "disp1", next_url="/admin/roles")
        assert (done.status_code, done.headers["location"]) == (303, "/admin/roles")
        assert client.get("/api/v1/me").json()["username"] == "disp1"

    def test_post_without_the_token_is_refused(self, client, make_user):
        make_user("disp1", ("dispatcher", DISTRICT))
        client.get("/login")
        response = client.post("/login", data={"username": "disp1", "password": PASSWORD}, follow_redirects=False)
        assert response.status_code == 403
        assert "表单已过期" in response.text
        assert "yiwang_session" not in client.cookies

    def test_token_from_another_browser_is_refused(self, app, client, make_user):
        from fastapi.testclient import TestClient

        make_user("disp1", ("dispatcher", DISTRICT))
        other = TestClient(app)
        stolen = form_token(other.get("/login").text)
        client.get("/login")
        response = client.post("/login", data={"csrf_token": stolen, "username": "disp1", "password": PASSWORD},
                               follow_redirects=False)
        assert response.status_code == 403

    def test_wrong_password_re_renders_the_form_in_chinese(self, client, make_user):
        make_user("disp1", ("dispatcher", DISTRICT))
        response = sign_in_form(client, "disp1", "Wrong-password-1")
        assert response.status_code == 401
        assert "用户名或密码不正确" in response.text
        assert 'value="disp1"' in response.text

    def test_an_address_that_failed_too_often_is_told_to_wait(self, app, client, make_user):
        app.state.settings = app.state.settings.model_copy(update={"login_ip_max_failures": 1})
        make_user("disp1", ("dispatcher", DISTRICT))
        sign_in_form(client, "nobody", "Wrong-password-1")
        response = sign_in_form(client, "disp1")
        assert response.status_code == 429
        assert "您所在网络的登录失败次数过多，请等待 15 分钟后再试。" in response.text

    def test_wrong_password_in_english(self, client, make_user):
        make_user("disp1", ("dispatcher", DISTRICT))
        client.cookies.set("lang", "en")
        response = sign_in_form(client, "disp1", "Wrong-password-1")
        assert "The username or password is not correct" in response.text

    def test_totp_step_then_full_roles(self, client, make_user):
        make_user("clerk1", ("clerk", DISTRICT), totp=True)
        step = sign_in_form(client, "clerk1", next_url="/admin/roles")
        assert step.headers["location"] == "/login/totp?next=%2Fadmin%2Froles"
        assert client.get("/api/v1/me").json()["roles"] == []
        page = client.get(step.headers["location"])
        wrong = client.post("/login/totp", data={"csrf_token": form_token(page.text), "code": "000000",
                                                 "next": "/admin/roles"}, follow_redirects=False)
        assert wrong.status_code == 401 and "验证码不正确" in wrong.text
        done = client.post("/login/totp", data={"csrf_token": form_token(wrong.text), "code": totp_code(),
                                                "next": "/admin/roles"}, follow_redirects=False)
        assert (done.status_code, done.headers["location"]) == (303, "/admin/roles")
        assert client.get("/api/v1/me").json()["roles"] == ["clerk"]

    def test_users_needing_totp_without_it_go_to_set_up(self, client, make_user):
        make_user("clerk1", ("clerk", DISTRICT))
        step = sign_in_form(client, "clerk1")
        assert step.headers["location"] == "/account/security?next=%2F"

    def test_logout_form(self, client, make_user):
        make_user("disp1", ("dispatcher", DISTRICT))
        sign_in_form(client, "disp1")
        page = client.get("/account/security")
        done = client.post("/logout", data={"csrf_token": form_token(page.text)}, follow_redirects=False)
        assert done.headers["location"] == "/login"
        assert client.get("/api/v1/me").status_code == 401


class TestAccountSecurity:
    def test_anonymous_is_sent_to_sign_in(self, client):
        response = client.get("/account/security", follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (303, "/login?next=%2Faccount%2Fsecurity")

    def test_set_up_with_qr_code_and_secret(self, client, make_user):
        make_user("clerk1", ("clerk", DISTRICT))
        sign_in_form(client, "clerk1")
        page = client.get("/account/security")
        shown = client.post("/account/security/totp", data={"csrf_token": form_token(page.text), "next": "/"})
        assert shown.status_code == 200
        assert "<svg" in shown.text
        secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', shown.text).group(1)
        done = client.post("/account/security/totp/confirm", data={
            "csrf_token": form_token(shown.text), "code": pyotp.TOTP(secret).now(), "next": "/"},
            follow_redirects=False)
        assert done.headers["location"] == "/account/security?done=1"
        assert client.get("/api/v1/me").json()["roles"] == ["clerk"]
        assert "双因素登录已设置" in client.get("/account/security?done=1").text


class TestAdminPages:
    def test_users_page_lists_the_admins_district(self, client, make_user):
        make_user("admin1", ("sys_admin", DISTRICT), totp=True)
        make_user("clerk.a", ("clerk", STREET))
        make_user("clerk.b", ("clerk", OTHER_DISTRICT))
        sign_in_verified(client, "admin1")
        page = client.get("/admin/users")
        assert page.status_code == 200
        assert "clerk.a" in page.text and "clerk.b" not in page.text

    def test_create_user_through_the_form(self, client, make_user):
        make_user("admin1", ("sys_admin", DISTRICT), totp=True)
        sign_in_verified(client, "admin1")
        page = client.get("/admin/users")
        done = client.post("/admin/users", data={
            "csrf_token": form_token(page.text), "username": "handler1", "display_name": "Handler", "kind": "staff",
            "password": PASSWORD, "role": "handler", "area_code": STREET}, follow_redirects=False)
        assert done.status_code == 303
        detail = client.get(done.headers["location"])
        assert "handler1" in detail.text and STREET in detail.text

    def test_form_errors_re_render_with_the_message(self, client, make_user):
        make_user("admin1", ("sys_admin", DISTRICT), totp=True)
        sign_in_verified(client, "admin1")
        page = client.get("/admin/users")
        response = client.post("/admin/users", data={
            "csrf_token": form_token(page.text), "username": "handler1", "display_name": "Handler", "kind": "staff",
            "password": "short", "role": "handler", "area_code": STREET})
        assert response.status_code == 422
        assert "密码至少 10 位" in response.text and 'value="handler1"' in response.text

    def test_grant_in_another_district_is_denied(self, client, make_user):
        make_user("admin1", ("sys_admin", DISTRICT), totp=True)
        uid = make_user("clerk.a", ("clerk", STREET))
        sign_in_verified(client, "admin1")
        page = client.get(f"/admin/users/{uid}")
        response = client.post(f"/admin/users/{uid}/grants", data={
            "csrf_token": form_token(page.text), "role": "leader", "area_code": OTHER_DISTRICT})
        assert response.status_code == 403
        assert client.get("/api/v1/users/" + uid).json()["grants"][0]["role"] == "clerk"
        assert len(client.get("/api/v1/users/" + uid).json()["grants"]) == 1

    def test_an_administrator_disables_and_enables_an_account_but_not_their_own(self, client, make_user):
        admin = make_user("admin1", ("sys_admin", DISTRICT), totp=True)
        uid = make_user("clerk.a", ("clerk", STREET))
        sign_in_verified(client, "admin1")
        assert "停用账号" not in client.get(f"/admin/users/{admin}").text
        page = client.get(f"/admin/users/{uid}")
        assert "停用账号" in page.text
        done = client.post(f"/admin/users/{uid}/disable", data={"csrf_token": form_token(page.text)},
                           follow_redirects=False)
        assert done.status_code == 303
        page = client.get(f"/admin/users/{uid}")
        assert "已停用" in page.text
        assert "启用账号" in page.text and client.get(f"/api/v1/users/{uid}").json()["is_active"] is False
        client.post(f"/admin/users/{uid}/enable", data={"csrf_token": form_token(page.text)})
        assert client.get(f"/api/v1/users/{uid}").json()["is_active"] is True

    def test_role_matrix_is_read_only_without_role_manage(self, client, make_user):
        make_user("disp1", ("dispatcher", DISTRICT))
        sign_in_form(client, "disp1")
        page = client.get("/admin/roles")
        assert page.status_code == 200
        assert 'value="clerk:registry.person.read_personal"' in page.text
        assert "disabled" in page.text and ">保存<" not in page.text

    def test_security_admin_edits_the_matrix(self, client, make_user):
        make_user("sec1", ("security_admin", "31"), totp=True)
        sign_in_verified(client, "sec1")
        page = client.get("/admin/roles")
        boxes = re.findall(r'value="([a-z_]+:[a-z_.]+)"\s+aria-label="[^"]*"\s*checked', page.text)
        wanted = [b for b in boxes if b != "leader:registry.entity.read"]
        done = client.post("/admin/roles", data={"csrf_token": form_token(page.text), "perm": wanted},
                           follow_redirects=False)
        assert done.status_code == 303
        roles = {r["code"]: r["permissions"] for r in client.get("/api/v1/roles").json()["roles"]}
        assert roles["leader"] == sorted(DEFAULT_POLICY["leader"] - {"registry.entity.read"})
        assert roles["clerk"] == sorted(DEFAULT_POLICY["clerk"])

    def test_matrix_refuses_audit_read_for_sys_admin(self, client, make_user):
        make_user("sec1", ("security_admin", "31"), totp=True)
        sign_in_verified(client, "sec1")
        page = client.get("/admin/roles")
        boxes = re.findall(r'value="([a-z_]+:[a-z_.]+)"\s+aria-label="[^"]*"\s*checked', page.text)
        response = client.post("/admin/roles", data={"csrf_token": form_token(page.text),
                                                     "perm": boxes + ["sys_admin:audit.read"]})
        assert response.status_code == 409
        assert "系统管理员不得拥有 audit.read" in response.text
        sys_admin = next(r for r in client.get("/api/v1/roles").json()["roles"] if r["code"] == "sys_admin")
        assert "audit.read" not in sys_admin["permissions"]
