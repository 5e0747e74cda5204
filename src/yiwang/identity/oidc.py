"""OpenID Connect sign-in for staff (统一身份认证): authorization-code flow with PKCE, state and
nonce; the ID token is checked with joserfc against the provider's JWKS (signature, issuer,
audience, expiry, nonce).

The provider is reached with httpx; tests inject a transport (``app.state.oidc_http_transport``).
The per-login secrets (state, nonce, PKCE verifier) travel in a short-lived signed cookie, so the
web tier keeps no state.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from yiwang.core.settings import Settings
from yiwang.identity.errors import OidcFailed

FLOW_COOKIE = "yiwang_oidc"
FLOW_MAX_AGE = 600
ALGORITHMS = ["RS256", "ES256", "PS256", "EdDSA"]
_CACHE_SECONDS = 3600


def is_configured(settings: Settings) -> bool:
    return bool(settings.oidc_issuer and settings.oidc_client_id)


@dataclass(frozen=True)
class Flow:
    state: str
    nonce: str
    verifier: str
    next_url: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def new_flow(next_url: str) -> Flow:
    return Flow(secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48), next_url)


def code_challenge(verifier: str) -> str:
    return _b64(hashlib.sha256(verifier.encode("ascii")).digest())


def flow_serializer(secret: bytes) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="yiwang.oidc.flow")


def dump_flow(secret: bytes, flow: Flow) -> str:
    return flow_serializer(secret).dumps([flow.state, flow.nonce, flow.verifier, flow.next_url])


def load_flow(secret: bytes, raw: str | None) -> Flow:
    if not raw:
        raise OidcFailed()
    try:
        state, nonce, verifier, next_url = flow_serializer(secret).loads(raw, max_age=FLOW_MAX_AGE)
    except (BadSignature, SignatureExpired, ValueError) as exc:
        raise OidcFailed() from exc
    return Flow(state, nonce, verifier, next_url)


class OidcClient:
    """One identity provider: discovery, the authorization URL, the code exchange and ID-token checks."""

    def __init__(self, settings: Settings, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self.issuer = settings.oidc_issuer.rstrip("/")
        self.transport = transport
        self._lock = threading.Lock()
        self._discovery: tuple[float, dict[str, Any]] | None = None
        self._jwks: tuple[float, KeySet] | None = None

    def _http(self) -> httpx.Client:
        return httpx.Client(transport=self.transport, timeout=10.0, follow_redirects=False)

    def discovery(self) -> dict[str, Any]:
        cached = self._discovery
        if cached and time.monotonic() - cached[0] < _CACHE_SECONDS:
            return cached[1]
        try:
            with self._http() as http:
                resp = http.get(f"{self.issuer}/.well-known/openid-configuration")
                resp.raise_for_status()
                doc = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcFailed() from exc
        if doc.get("issuer", "").rstrip("/") != self.issuer:
            raise OidcFailed()
        with self._lock:
            self._discovery = (time.monotonic(), doc)
        return doc

    def authorization_url(self, flow: Flow, redirect_uri: str) -> str:
        doc = self.discovery()
        params = {
            "response_type": "code",
            "client_id": self.settings.oidc_client_id,
            "redirect_uri": redirect_uri,
            "scope": self.settings.oidc_scope,
            "state": flow.state,
            "nonce": flow.nonce,
            "code_challenge": code_challenge(flow.verifier),
            "code_challenge_method": "S256",
        }
        return f"{doc['authorization_endpoint']}?{urlencode(params)}"

    def exchange(self, code: str, flow: Flow, redirect_uri: str) -> dict[str, Any]:
        doc = self.discovery()
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": flow.verifier,
            "client_id": self.settings.oidc_client_id,
        }
        try:
            with self._http() as http:
                resp = http.post(doc["token_endpoint"], data=data,
                                 auth=(self.settings.oidc_client_id, self.settings.oidc_client_secret))
                resp.raise_for_status()
                body = resp.json()
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise OidcFailed() from exc
        if not isinstance(body, dict) or not body.get("id_token"):
            raise OidcFailed()
        return body

    def _keys(self, *, refresh: bool = False) -> KeySet:
        cached = self._jwks
        if cached and not refresh and time.monotonic() - cached[0] < _CACHE_SECONDS:
            return cached[1]
        doc = self.discovery()
        try:
            with self._http() as http:
                resp = http.get(doc["jwks_uri"])
                resp.raise_for_status()
                keys = KeySet.import_key_set(resp.json())
        except (httpx.HTTPError, ValueError, KeyError, JoseError) as exc:
            raise OidcFailed() from exc
        with self._lock:
            self._jwks = (time.monotonic(), keys)
        return keys

    def validate_id_token(self, id_token: str, nonce: str, *, now: int | None = None) -> dict[str, Any]:
        """The ID token's claims once signature, issuer, audience, expiry and nonce all hold."""
        try:
            try:
                token = jwt.decode(id_token, self._keys(), algorithms=ALGORITHMS)
            except JoseError:
                # The provider may have rotated its keys: fetch them once more.
                token = jwt.decode(id_token, self._keys(refresh=True), algorithms=ALGORITHMS)
            claims = dict(token.claims)
            registry = JWTClaimsRegistry(
                now=now,
                leeway=60,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.settings.oidc_client_id},
                sub={"essential": True},
                exp={"essential": True},
                nonce={"essential": True, "value": nonce},
            )
            registry.validate(claims)
        except (JoseError, ValueError, TypeError) as exc:
            raise OidcFailed() from exc
        aud = claims.get("aud")
        if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != self.settings.oidc_client_id:
            raise OidcFailed()
        return claims


_clients: dict[tuple[str, str, int], OidcClient] = {}


def client_for(settings: Settings, transport: httpx.BaseTransport | None = None) -> OidcClient:
    """One client (with its discovery and key caches) per provider, client id and transport."""
    key = (settings.oidc_issuer, settings.oidc_client_id, id(transport))
    found = _clients.get(key)
    if found is None:
        found = _clients[key] = OidcClient(settings, transport)
    return found
