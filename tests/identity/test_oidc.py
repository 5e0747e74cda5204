"""OIDC single sign-on, end to end against a fake provider written here (discovery, /authorize,
/token with an RS256 ID token signed with ``cryptography``, /jwks), reached through an injected
httpx transport."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.testclient import TestClient
from sqlalchemy import select

from yiwang.identity.models import User

from .conftest import CITIZEN_PASSWORD, DISTRICT, audit_entries

ISSUER = "https://idp.example.test"
CLIENT_ID = "yiwang"
CLIENT_SECRET = "s3cret-for-tests"  # noqa: S105 - the fake provider's


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_rs256(key: rsa.RSAPrivateKey, claims: dict, kid: str) -> str:
    header = b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": kid}).encode())
    payload = b64url(json.dumps(claims).encode())
    signature = key.sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{payload}.{b64url(signature)}"


def jwk(key: rsa.RSAPrivateKey, kid: str) -> dict:
    numbers = key.public_key().public_numbers()
    size = (numbers.n.bit_length() + 7) // 8
    return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
            "n": b64url(numbers.n.to_bytes(size, "big")), "e": b64url(numbers.e.to_bytes(3, "big"))}


@dataclass
class FakeProvider:
    """An identity provider; ``claims`` and the ``tamper_*`` switches shape the next ID token."""

    key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048))
    claims: dict = field(default_factory=lambda: {"sub": "idp-user-1", "email": "zhang@example.gov.cn",
                                                  "email_verified": True})
    codes: dict = field(default_factory=dict)
    sign_with_other_key: bool = False
    tamper_nonce: bool = False
    issuer_claim: str = ISSUER
    token_requests: list = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        def discovery():
            return {"issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/authorize",
                    "token_endpoint": f"{ISSUER}/token", "jwks_uri": f"{ISSUER}/jwks",
                    "response_types_supported": ["code"], "id_token_signing_alg_values_supported": ["RS256"]}

        @app.get("/authorize")
        def authorize(request: Request):
            q = request.query_params
            assert q["response_type"] == "code" and q["client_id"] == CLIENT_ID
            assert q["code_challenge_method"] == "S256"
            code = f"code-{len(self.codes) + 1}"
            self.codes[code] = {"nonce": q["nonce"], "challenge": q["code_challenge"],
                                "redirect_uri": q["redirect_uri"]}
            return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}",
                                    status_code=302)

        @app.post("/token")
        def token(request: Request, grant_type: str = Form(), code: str = Form(), redirect_uri: str = Form(),
                  code_verifier: str = Form()):
            expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            self.token_requests.append(dict(request.headers))
            if request.headers.get("authorization") != expected:
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            grant = self.codes.pop(code, None)
            challenge = b64url(hashlib.sha256(code_verifier.encode()).digest())
            if grant_type != "authorization_code" or grant is None or grant["challenge"] != challenge \
                    or grant["redirect_uri"] != redirect_uri:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            now = int(time.time())
            claims = {"iss": self.issuer_claim, "aud": CLIENT_ID, "iat": now, "exp": now + 300,
                      "nonce": "other-nonce" if self.tamper_nonce else grant["nonce"], **self.claims}
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if self.sign_with_other_key \
                else self.key
            return {"access_token": "at", "token_type": "Bearer", "id_token": sign_rs256(key, claims, "k1")}

        @app.get("/jwks")
        def jwks():
            return {"keys": [jwk(self.key, "k1")]}

        return app


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def sso_app(app, provider):
    """The real app configured for the fake provider, reached through an injected transport."""
    app.state.settings = app.state.settings.model_copy(update={
        "oidc_issuer": ISSUER, "oidc_client_id": CLIENT_ID, "oidc_client_secret": CLIENT_SECRET})
    idp = TestClient(provider.app(), base_url=ISSUER)

    def forward(request: httpx.Request) -> httpx.Response:
        response = idp.request(request.method, request.url.raw_path.decode(), headers=dict(request.headers),
                               content=request.content, follow_redirects=False)
        return httpx.Response(response.status_code, headers=response.headers, content=response.content)

    app.state.oidc_http_transport = httpx.MockTransport(forward)
    app.state.idp = idp
    return app


def run_sso(client: TestClient, idp: TestClient, next_url: str = "/admin/users") -> httpx.Response:
    """Browser steps: our /auth/oidc/login → provider /authorize → our callback (returned)."""
    start = client.get("/auth/oidc/login", params={"next": next_url}, follow_redirects=False)
    assert start.status_code == 303
    target = urlsplit(start.headers["location"])
    assert f"{target.scheme}://{target.netloc}" == ISSUER
    params = parse_qs(target.query)
    assert params["code_challenge_method"] == ["S256"] and params["state"] and params["nonce"]
    authorize = idp.get(f"{target.path}?{target.query}", follow_redirects=False)
    callback = urlsplit(authorize.headers["location"])
    assert callback.path == "/auth/oidc/callback"
    return client.get(f"{callback.path}?{callback.query}", follow_redirects=False)


class TestOidcSignIn:
    def test_links_an_existing_staff_user_by_verified_email_then_by_sub(self, sso_app, client, session, make_user):
        uid = make_user("zhang", ("dispatcher", DISTRICT), email="zhang@example.gov.cn")
        done = run_sso(client, sso_app.state.idp)
        assert (done.status_code, done.headers["location"]) == (303, "/admin/users")
        me = client.get("/api/v1/me").json()
        assert (me["id"], me["roles"], me["mfa"]) == (uid, ["dispatcher"], False)
        session.expire_all()
        assert session.get(User, uid).oidc_sub == "idp-user-1"
        session.commit()
        client.cookies.clear()
        again = run_sso(client, sso_app.state.idp)
        assert again.status_code == 303
        assert client.get("/api/v1/me").json()["id"] == uid
        assert [d["factor"] for _a, o, d in audit_entries(session, action="identity.login", target_id=uid)
                if o == "ok"] == ["oidc", "oidc"]

    def test_users_needing_totp_are_sent_to_the_totp_step(self, sso_app, client, make_user):
        make_user("zhang", ("clerk", DISTRICT), email="zhang@example.gov.cn", totp=True)
        done = run_sso(client, sso_app.state.idp)
        assert done.headers["location"] == "/login/totp"

    def test_unknown_identity_is_refused_and_nothing_is_created(self, sso_app, client, session, make_user):
        make_user("li", ("dispatcher", DISTRICT), email="li@example.gov.cn")
        done = run_sso(client, sso_app.state.idp)
        assert done.status_code == 401
        assert "yiwang_session" not in client.cookies
        assert [u.username for u in session.scalars(select(User))] == ["li"]
        assert [(o, d["reason"]) for _a, o, d in audit_entries(session, action="identity.login")] == [
            ("failed", "unknown_user")]

    def test_unverified_email_is_not_trusted(self, sso_app, client, provider, make_user):
        make_user("zhang", ("dispatcher", DISTRICT), email="zhang@example.gov.cn")
        provider.claims["email_verified"] = False
        assert run_sso(client, sso_app.state.idp).status_code == 401

    def test_citizen_accounts_cannot_use_staff_sso(self, sso_app, client, make_user):
        make_user("zhang", kind="citizen", password=CITIZEN_PASSWORD, email="zhang@example.gov.cn")
        assert run_sso(client, sso_app.state.idp).status_code == 401

    def test_bad_signature_is_refused(self, sso_app, client, provider, make_user):
        make_user("zhang", ("dispatcher", DISTRICT), email="zhang@example.gov.cn")
        provider.sign_with_other_key = True
        done = run_sso(client, sso_app.state.idp)
        assert done.status_code == 401
        assert client.get("/api/v1/me").status_code == 401

    def test_wrong_nonce_is_refused(self, sso_app, client, provider, make_user):
        make_user("zhang", ("dispatcher", DISTRICT), email="zhang@example.gov.cn")
        provider.tamper_nonce = True
        assert run_sso(client, sso_app.state.idp).status_code == 401

    def test_wrong_issuer_is_refused(self, sso_app, client, provider, make_user):
        make_user("zhang", ("dispatcher", DISTRICT), email="zhang@example.gov.cn")
        provider.issuer_claim = "https://evil.example.test"
        assert run_sso(client, sso_app.state.idp).status_code == 401

    def test_state_mismatch_is_refused(self, sso_app, client, make_user):
        make_user("zhang", ("dispatcher", DISTRICT), email="zhang@example.gov.cn")
        start = client.get("/auth/oidc/login", follow_redirects=False)
        target = urlsplit(start.headers["location"])
        authorize = sso_app.state.idp.get(f"{target.path}?{target.query}", follow_redirects=False)
        callback = urlsplit(authorize.headers["location"])
        query = parse_qs(callback.query)
        forged = client.get("/auth/oidc/callback", params={"code": query["code"][0], "state": "forged"},
                            follow_redirects=False)
        assert forged.status_code == 401

    def test_client_authenticates_at_the_token_endpoint(self, sso_app, client, provider, make_user):
        make_user("zhang", ("dispatcher", DISTRICT), email="zhang@example.gov.cn")
        run_sso(client, sso_app.state.idp)
        assert provider.token_requests[0]["authorization"].startswith("Basic ")


class TestLoginPageButton:
    def test_shown_only_when_configured(self, app, client):
        assert "/auth/oidc/login" not in client.get("/login").text
        app.state.settings = app.state.settings.model_copy(update={"oidc_issuer": ISSUER, "oidc_client_id": CLIENT_ID})
        page = client.get("/login")
        assert "/auth/oidc/login" in page.text and "统一身份认证登录" in page.text

    def test_sso_routes_answer_404_when_not_configured(self, client):
        response = client.get("/auth/oidc/login", follow_redirects=False)
        assert (response.status_code, response.json()["error"]) == (404, "oidc_not_configured")
