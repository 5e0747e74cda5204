"""The identity API through the real app: sign-in, sessions and CSRF, TOTP, users, roles, tokens."""

from __future__ import annotations

from sqlalchemy import select

from yiwang.core.actor import SYSTEM
from yiwang.identity import service
from yiwang.identity.models import User, UserSession
from yiwang.identity.policy import DEFAULT_POLICY

from .conftest import (
    CITIZEN_PASSWORD,
    DISTRICT,
    OTHER_DISTRICT,
    PASSWORD,
    STREET,
    audit_entries,
    login,
    totp_code,
)


def csrf(response) -> dict[str, str]:
    return {"X-CSRF-Token": response.json()["csrf_token"]}


def sign_in_verified(client, username: str) -> dict[str, str]:
    """Password then TOTP; returns the CSRF header of the verified session."""
    assert login(client, username).status_code == 200
    me = client.get("/api/v1/me")
    assert me.status_code == 200
    first = login(client, username)
    second = client.post("/api/v1/auth/totp", json={"code": totp_code()}, headers=csrf(first))
    assert second.status_code == 200, second.text
    return csrf(second)


class TestLogin:
    def test_sets_an_http_only_session_cookie(self, client, make_user):
        make_user("disp1", ("dispatcher", DISTRICT))
        response = login(client, "disp1")
        assert response.status_code == 200
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("yiwang_session=")
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
        body = response.json()
        assert (body["me"]["username"], body["me"]["roles"], body["mfa"]) == ("disp1", ["dispatcher"], False)
        assert (body["totp_needed"], body["totp_setup_needed"]) == (False, False)

    def test_secure_cookie_when_configured(self, app, client, make_user):
        app.state.settings = app.state.settings.model_copy(update={"cookie_secure": True})
        make_user("disp1", ("dispatcher", DISTRICT))
        assert "Secure" in login(client, "disp1").headers["set-cookie"]

    def test_session_is_stored_as_a_hash(self, client, session, make_user):
        make_user("disp1", ("dispatcher", DISTRICT))
        login(client, "disp1")
        token = client.cookies.get("yiwang_session")
        rows = session.scalars(select(UserSession)).all()
        assert len(rows) == 1
        assert rows[0].token_hash != token and len(rows[0].token_hash) == 64

    def test_me_answers_who_you_are(self, client, make_user):
        make_user("disp1", ("dispatcher", DISTRICT))
        login(client, "disp1")
        me = client.get("/api/v1/me").json()
        assert (me["username"], me["kind"], me["grants"]) == (
            "disp1", "staff", [{"role": "dispatcher", "area_code": DISTRICT, "department_id": None}])

    def test_failure_is_persisted_although_the_answer_is_401(self, client, session, make_user):
        uid = make_user("disp1", ("dispatcher", DISTRICT))
        response = login(client, "disp1", "Wrong-password-1")
        assert response.status_code == 401
        assert response.json()["error"] == "login_failed"
        session.expire_all()
        assert session.get(User, uid).failed_logins == 1
        assert [o for _a, o, _d in audit_entries(session, action="identity.login", target_id=uid)] == ["failed"]

    def test_unknown_user_answers_like_a_wrong_password(self, client, make_user):
        make_user("disp1", ("dispatcher", DISTRICT))
        unknown = login(client, "nobody")
        wrong = login(client, "disp1", "Wrong-password-1")
        assert (unknown.status_code, unknown.json()) == (wrong.status_code, wrong.json())

    def test_locked_answers_like_a_wrong_password(self, client, settings, make_user):
        make_user("disp1", ("dispatcher", DISTRICT))
        for _ in range(settings.login_max_failures):
            login(client, "disp1", "Wrong-password-1")
        locked = login(client, "disp1")
        assert (locked.status_code, locked.json()["error"]) == (401, "login_failed")

    def test_an_address_that_failed_too_often_gets_429_saying_when_to_come_back(self, app, client, make_user):
        app.state.settings = app.state.settings.model_copy(update={"login_ip_max_failures": 2})
        make_user("disp1", ("dispatcher", DISTRICT))
        for name in ("nobody1", "nobody2"):
            assert login(client, name, "Wrong-password-1").status_code == 401
        refused = login(client, "disp1")
        assert (refused.status_code, refused.headers["retry-after"]) == (429, "900")
        assert refused.json() == {"error": "sign_in_throttled",
                                  "detail": "您所在网络的登录失败次数过多，请等待 15 分钟后再试。"}
        assert "set-cookie" not in refused.headers or "yiwang_session=" not in refused.headers["set-cookie"]

    def test_anonymous_me_is_401(self, client):
        response = client.get("/api/v1/me")
        assert (response.status_code, response.json()["error"]) == (401, "authentication_required")


class TestCsrf:
    def test_unsafe_cookie_request_without_token_is_refused(self, client, session, make_user):
        make_user("disp1", ("dispatcher", DISTRICT))
        login(client, "disp1")
        response = client.post("/api/v1/auth/logout")
        assert (response.status_code, response.json()["error"]) == (403, "csrf_failed")
        assert len(session.scalars(select(UserSession)).all()) == 1

    def test_wrong_token_is_refused(self, client, make_user):
        make_user("disp1", ("dispatcher", DISTRICT))
        login(client, "disp1")
        assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": "guess"}).status_code == 403

    def test_header_token_is_accepted_and_logout_deletes_the_session(self, client, session, make_user):
        make_user("disp1", ("dispatcher", DISTRICT))
        headers = csrf(login(client, "disp1"))
        token = client.cookies.get("yiwang_session")
        assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
        assert session.scalars(select(UserSession)).all() == []
        session.commit()
        client.cookies.set("yiwang_session", token)
        assert client.get("/api/v1/me").status_code == 401

    def test_form_field_token_is_accepted(self, client, make_user):
        make_user("disp1", ("dispatcher", DISTRICT))
        token = login(client, "disp1").json()["csrf_token"]
        response = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (303, "/login")
        assert client.get("/api/v1/me").status_code == 401

    def test_multipart_form_field_token_is_accepted(self, client, make_user):
        make_user("disp1", ("dispatcher", DISTRICT))
        token = login(client, "disp1").json()["csrf_token"]
        response = client.post("/logout", data={"csrf_token": token}, files={"attachment": ("a.txt", b"x" * 5000)},
                               follow_redirects=False)
        assert response.status_code == 303
        assert client.get("/api/v1/me").status_code == 401

    def test_bearer_requests_are_exempt(self, client, session, make_user):
        uid = make_user("exchange1", ("data_officer", DISTRICT), kind="machine", password=None)
        plaintext, _ = service.create_token(session, SYSTEM, uid, "exchange", 30)
        session.commit()
        response = client.post("/api/v1/tokens", json={"name": "second"},
                               headers={"Authorization": f"Bearer {plaintext}"})
        assert response.status_code == 201

    def test_safe_requests_need_no_token(self, client, make_user):
        make_user("disp1", ("dispatcher", DISTRICT))
        login(client, "disp1")
        assert client.get("/api/v1/me").status_code == 200


class TestTwoFactor:
    def test_password_then_code(self, client, make_user):
        make_user("clerk1", ("clerk", DISTRICT), totp=True)
        first = login(client, "clerk1")
        assert (first.json()["totp_needed"], first.json()["me"]["roles"]) == (True, [])
        old_cookie = client.cookies.get("yiwang_session")
        second = client.post("/api/v1/auth/totp", json={"code": totp_code()}, headers=csrf(first))
        assert second.status_code == 200
        assert (second.json()["mfa"], second.json()["me"]["roles"]) == (True, ["clerk"])
        assert client.cookies.get("yiwang_session") != old_cookie
        assert client.get("/api/v1/me").json()["mfa"] is True

    def test_wrong_code_is_401_and_counted(self, client, session, make_user):
        uid = make_user("clerk1", ("clerk", DISTRICT), totp=True)
        first = login(client, "clerk1")
        response = client.post("/api/v1/auth/totp", json={"code": "000000"}, headers=csrf(first))
        assert (response.status_code, response.json()["error"]) == (401, "totp_invalid")
        session.expire_all()
        assert session.get(User, uid).failed_logins == 1

    def test_set_up_through_the_api(self, client, make_user):
        import pyotp

        make_user("clerk1", ("clerk", DISTRICT))
        first = login(client, "clerk1")
        assert first.json()["totp_setup_needed"] is True
        setup = client.post("/api/v1/me/totp/setup", headers=csrf(first))
        assert setup.status_code == 200
        assert setup.json()["qr_svg"].startswith("<svg")
        confirm = client.post("/api/v1/me/totp/confirm", json={"code": pyotp.TOTP(setup.json()["secret"]).now()},
                              headers=csrf(first))
        assert confirm.status_code == 200
        assert (confirm.json()["mfa"], confirm.json()["me"]["roles"]) == (True, ["clerk"])


class TestUsersApi:
    def test_district_admin_creates_a_user_in_the_district(self, client, make_user):
        make_user("admin1", ("sys_admin", DISTRICT), totp=True)
        headers = sign_in_verified(client, "admin1")
        response = client.post("/api/v1/users", headers=headers, json={
            "username": "handler1", "password": PASSWORD, "kind": "staff", "display_name": "Handler",
            "grants": [{"role": "handler", "area_code": STREET}]})
        assert response.status_code == 201, response.text
        assert [g["role"] for g in response.json()["grants"]] == ["handler"]

    def test_district_admin_cannot_grant_in_another_district(self, client, session, make_user):
        make_user("admin1", ("sys_admin", DISTRICT), totp=True)
        uid = make_user("clerk.b", ("clerk", OTHER_DISTRICT))
        headers = sign_in_verified(client, "admin1")
        response = client.post(f"/api/v1/users/{uid}/grants", headers=headers,
                               json={"role": "leader", "area_code": OTHER_DISTRICT})
        assert (response.status_code, response.json()["error"]) == (403, "permission_denied")
        assert client.get(f"/api/v1/users/{uid}").status_code == 403
        assert [g.role for g in service.get_user(session, SYSTEM, uid).grants] == ["clerk"]

    def test_second_admin_role_is_refused(self, client, make_user):
        make_user("admin1", ("sys_admin", "31"), totp=True)
        uid = make_user("sec1", ("security_admin", "31"))
        headers = sign_in_verified(client, "admin1")
        response = client.post(f"/api/v1/users/{uid}/grants", headers=headers,
                               json={"role": "audit_admin", "area_code": "31"})
        assert (response.status_code, response.json()["error"]) == (409, "separation_of_duties")

    def test_list_is_scoped_and_grants_can_be_revoked(self, client, make_user):
        make_user("admin1", ("sys_admin", DISTRICT), totp=True)
        uid = make_user("clerk.a", ("clerk", STREET), ("leader", STREET))
        make_user("clerk.b", ("clerk", OTHER_DISTRICT))
        headers = sign_in_verified(client, "admin1")
        listing = client.get("/api/v1/users").json()
        assert [u["username"] for u in listing["items"]] == ["admin1", "clerk.a"]
        grant = next(g for g in listing["items"][1]["grants"] if g["role"] == "leader")
        assert client.delete(f"/api/v1/users/{uid}/grants/{grant['id']}", headers=headers).status_code == 204
        assert [g["role"] for g in client.get(f"/api/v1/users/{uid}").json()["grants"]] == ["clerk"]

    def test_unlock_needs_security_manage(self, client, settings, make_user):
        uid = make_user("disp1", ("dispatcher", DISTRICT))
        make_user("admin1", ("sys_admin", "31"), totp=True)
        make_user("sec1", ("security_admin", "31"), totp=True)
        for _ in range(settings.login_max_failures):
            login(client, "disp1", "Wrong-password-1")
        headers = sign_in_verified(client, "admin1")
        assert client.post(f"/api/v1/users/{uid}/unlock", headers=headers).status_code == 403
        client.cookies.clear()
        headers = sign_in_verified(client, "sec1")
        response = client.post(f"/api/v1/users/{uid}/unlock", headers=headers)
        assert (response.status_code, response.json()["locked"]) == (200, False)


    def test_a_disabled_users_session_stops_at_once_and_nobody_disables_themselves(self, client, app, make_user):
        from fastapi.testclient import TestClient

        make_user("admin1", ("sys_admin", "31"), totp=True)
        uid = make_user("disp1", ("dispatcher", DISTRICT))
        with TestClient(app) as theirs:
            assert login(theirs, "disp1").status_code == 200
            assert theirs.get("/api/v1/me").json()["username"] == "disp1"
            headers = sign_in_verified(client, "admin1")
            me = client.get("/api/v1/me").json()["id"]
            refused = client.post(f"/api/v1/users/{me}/disable", headers=headers)
            assert (refused.status_code, refused.json()["error"]) == (409, "cannot_disable_self")
            response = client.post(f"/api/v1/users/{uid}/disable", headers=headers)
            assert (response.status_code, response.json()["is_active"]) == (200, False)
            assert theirs.get("/api/v1/me").status_code == 401  # their session ended
            assert login(theirs, "disp1").status_code == 401
            assert client.post(f"/api/v1/users/{uid}/enable", headers=headers).json()["is_active"] is True
            assert login(theirs, "disp1").status_code == 200


class TestRolesApi:
    def test_any_staff_member_reads_the_roles(self, client, make_user):
        make_user("disp1", ("dispatcher", DISTRICT))
        login(client, "disp1")
        roles = {r["code"]: r for r in client.get("/api/v1/roles").json()["roles"]}
        assert roles["clerk"]["permissions"] == sorted(DEFAULT_POLICY["clerk"])
        assert "registry.person.read_personal" in roles["clerk"]["permissions"]
        assert (roles["clerk"]["requires_mfa"], roles["dispatcher"]["requires_mfa"]) == (True, False)
        assert roles["hotline_operator"]["zh"] == "12345话务员"

    def test_citizens_cannot_read_the_roles(self, client, make_user):
        make_user("citizen1", kind="citizen", password=CITIZEN_PASSWORD)
        login(client, "citizen1", CITIZEN_PASSWORD)
        assert client.get("/api/v1/roles").status_code == 403

    def test_security_admin_edits_a_role(self, client, make_user):
        make_user("sec1", ("security_admin", "31"), totp=True)
        headers = sign_in_verified(client, "sec1")
        response = client.put("/api/v1/roles/leader/permissions", headers=headers,
                              json={"permissions": ["registry.person.read"]})
        assert (response.status_code, response.json()["permissions"]) == (200, ["registry.person.read"])

    def test_policy_editor_refuses_audit_read_to_sys_admin(self, client, make_user):
        make_user("sec1", ("security_admin", "31"), totp=True)
        headers = sign_in_verified(client, "sec1")
        response = client.put("/api/v1/roles/sys_admin/permissions", headers=headers,
                              json={"permissions": ["user.manage", "audit.read"]})
        assert (response.status_code, response.json()["error"]) == (409, "separation_of_duties")

    def test_sys_admin_cannot_edit_roles(self, client, make_user):
        make_user("admin1", ("sys_admin", "31"), totp=True)
        headers = sign_in_verified(client, "admin1")
        response = client.put("/api/v1/roles/leader/permissions", headers=headers,
                              json={"permissions": ["registry.person.read"]})
        assert response.status_code == 403


class TestTokensApi:
    def test_create_use_and_revoke(self, client, make_user):
        make_user("admin1", ("sys_admin", "31"), totp=True)
        uid = make_user("exchange1", ("data_officer", DISTRICT), kind="machine", password=None)
        headers = sign_in_verified(client, "admin1")
        created = client.post("/api/v1/tokens", headers=headers,
                              json={"user_id": uid, "name": "exchange", "expires_days": 30})
        assert created.status_code == 201
        plaintext, token_id = created.json()["token"], created.json()["info"]["id"]
        client.cookies.clear()
        bearer = {"Authorization": f"Bearer {plaintext}"}
        me = client.get("/api/v1/me", headers=bearer).json()
        assert (me["username"], me["kind"], me["roles"]) == ("exchange1", "machine", ["data_officer"])
        revoked = client.delete(f"/api/v1/tokens/{token_id}", headers=bearer)
        assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
        refused = client.get("/api/v1/me", headers=bearer)
        assert (refused.status_code, refused.json()["error"]) == (401, "invalid_token")

    def test_garbage_bearer_is_401(self, client):
        response = client.get("/api/v1/me", headers={"Authorization": "Bearer yw_nothing_here"})
        assert (response.status_code, response.json()["error"]) == (401, "invalid_token")
