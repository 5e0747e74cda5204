"""Sessions and CSRF on the web tier: the cookie, the actor loader, and a pure ASGI middleware.

- The session cookie ``yiwang_session`` carries a random token; the server keeps its SHA-256.
- Every unsafe request (POST/PUT/PATCH/DELETE) that authenticates by that cookie must carry the
  session's CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``), else 403
  ``csrf_failed``. Bearer-token requests are exempt (a browser never adds them by itself).
- Anonymous visitors get a signed pre-session token (cookie ``yiwang_csrf``) so that the sign-in
  form is protected too (login CSRF).

The middleware only extracts what was submitted (buffering and replaying a form body); the check
itself happens in :func:`load_actor`, where the session is known, so a request costs one session
query however many routes ask for the actor.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import cookie_parser
from starlette.responses import Response

from yiwang.core.actor import ANONYMOUS, Actor
from yiwang.core.keys import key_ring
from yiwang.core.settings import Settings
from yiwang.identity import service
from yiwang.identity.errors import CsrfFailed, InvalidToken

SESSION_COOKIE = "yiwang_session"
PRESESSION_COOKIE = "yiwang_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_NO_PRESESSION_PATHS = ("/api/", "/static/", "/open311/", "/metrics", "/healthz", "/readyz", "/openapi.json")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def secret_key(settings: Settings) -> bytes:
    return settings.secret_key.encode("utf-8") if settings.secret_key else key_ring(settings).secret_key()


def presession_serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key(settings), salt="yiwang.csrf.presession")


def set_session_cookie(response: Response, settings: Settings, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE, token, max_age=settings.session_hours * 3600, httponly=True, samesite="lax",
        secure=settings.cookie_secure, path="/",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=settings.cookie_secure)


def bearer_token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return None


def csrf_matches(submitted: str | None, expected: str | None) -> bool:
    return bool(submitted and expected) and hmac.compare_digest(str(submitted), str(expected))


def check_presession_csrf(request: Request) -> None:
    """For anonymous forms (sign-in): the submitted token must match the pre-session cookie's."""
    submitted = getattr(request.state, "csrf_submitted", None)
    if not csrf_matches(submitted, getattr(request.state, "presession_csrf", None)):
        raise CsrfFailed()


def load_actor(request: Request, session: Session) -> Actor:
    """Bearer token or session cookie → actor, else ``ANONYMOUS``; checks CSRF on cookie-authenticated
    unsafe requests (403 ``csrf_failed``)."""
    token = bearer_token(request)
    if token is not None:
        actor = service.actor_for_token(session, token)
        if actor is None:
            raise InvalidToken()
        request.state.auth_via = "token"
        return actor
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        found = service.load_session(session, cookie)
        if found is not None:
            info, actor = found
            if request.method in UNSAFE_METHODS and not csrf_matches(
                getattr(request.state, "csrf_submitted", None), info.csrf_secret
            ):
                raise CsrfFailed()
            request.state.csrf_token = info.csrf_secret
            request.state.session_token = cookie
            request.state.auth_via = "session"
            return actor
    return ANONYMOUS


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, list[Message]] | None:
    chunks: list[bytes] = []
    size = 0
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        body = message.get("body", b"")
        size += len(body)
        if size > limit:
            return None
        chunks.append(body)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), messages


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class CsrfMiddleware:
    """Exposes the submitted CSRF token (``request.state.csrf_submitted``) and a pre-session token
    (``request.state.csrf_token`` until a session replaces it) for every HTTP request."""

    def __init__(self, app: Callable[..., Awaitable[None]], settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.limit = settings.max_upload_bytes + 1024 * 1024
        self._serializer: URLSafeSerializer | None = None

    @property
    def serializer(self) -> URLSafeSerializer:
        if self._serializer is None:
            self._serializer = presession_serializer(self.settings)
        return self._serializer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        cookies = cookie_parser(headers.get("cookie", ""))
        state = scope.setdefault("state", {})
        presession: str | None = None
        raw = cookies.get(PRESESSION_COOKIE)
        if raw:
            try:
                value = self.serializer.loads(raw)
                presession = value if isinstance(value, str) else None
            except BadSignature:
                presession = None
        new_cookie = None
        path = scope.get("path", "")
        if presession is None:
            presession = secrets.token_urlsafe(32)
            if not path.startswith(_NO_PRESESSION_PATHS):
                new_cookie = self.serializer.dumps(presession)
        state["presession_csrf"] = presession
        state["csrf_token"] = presession
        submitted = headers.get(CSRF_HEADER)
        method = scope.get("method", "GET")
        has_bearer = headers.get("authorization", "")[:7].lower() == "bearer "
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if (
            submitted is None
            and method in UNSAFE_METHODS
            and not has_bearer
            and (SESSION_COOKIE in cookies or PRESESSION_COOKIE in cookies)
            and ctype in ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            declared = headers.get("content-length")
            if declared is None or (declared.isdigit() and int(declared) <= self.limit):
                read = await _read_body(receive, self.limit)
                if read is None:
                    await Response("request body too large", status_code=413)(scope, receive, send)
                    return
                body, _messages = read
                submitted = await self._form_token(scope, ctype, body)
                receive = _replay(body, receive)
        state["csrf_submitted"] = submitted

        if new_cookie is None:
            await self.app(scope, receive, send)
            return

        secure = "; Secure" if self.settings.cookie_secure else ""
        cookie_header = f"{PRESESSION_COOKIE}={new_cookie}; Path=/; HttpOnly; SameSite=Lax{secure}"

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("set-cookie", cookie_header)
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    @staticmethod
    async def _form_token(scope: Scope, ctype: str, body: bytes) -> str | None:
        if ctype == "application/x-www-form-urlencoded":
            values = parse_qs(body.decode("latin-1"), keep_blank_values=True).get(CSRF_FIELD)
            return values[0] if values else None
        request = Request(scope, _replay(body, _empty_receive))
        try:
            form = await request.form()
        except Exception:  # noqa: BLE001 - a malformed form simply carries no token
            return None
        try:
            value = form.get(CSRF_FIELD)
            return value if isinstance(value, str) else None
        finally:
            await form.close()


async def _empty_receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def begin_session(
    request: Request, session: Session, user_id: str, *, mfa: bool, via: str = "password"
) -> tuple[str, Actor]:
    """Start a session (ending the one the browser had, against fixation)."""
    settings = request.app.state.settings
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        service.end_session(session, old)
    token, _row = service.start_session(session, settings, user_id, mfa=mfa, via=via)
    return token, service.actor_for_user(session, user_id, mfa=mfa)
