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

The actor of a credential (bearer token or session cookie) is cached for a few seconds
(``actor_cache_seconds``, default 5; 0 turns it off), keyed by the credential's SHA-256, so a
client sending requests back to back is not re-resolved each time (token row, user, policy
version, grants: three queries and a thread hop). An entry is dropped at once when anything it was
built from changes — users, grants, the role policy, a session or token revoked, deleted or ended —
through a generation counter that every process on the host bumps after committing such a change
(``identity_generation``: a memory-mapped 8-byte file under ``var_dir``, read per request without
a system call) and that this process also keeps in memory. A change made by a process that has not
imported this module, or on another host, is seen when the entry expires. A cache hit still checks
CSRF on unsafe cookie requests and sets the same request state as a load.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import cookie_parser
from starlette.responses import Response

from yiwang.core.actor import ANONYMOUS, Actor
from yiwang.core.generations import Generation, shared_generation
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


# -- the actor cache --------------------------------------------------------------------------------

#: Tables an actor or a session is built from: a committed change to one invalidates every entry.
WATCHED_TABLES = frozenset({"users", "role_grants", "role_permissions", "permissions", "policy_versions",
                            "sessions", "api_tokens"})
#: Rows whose creation changes no existing actor (a new sign-in or a new token).
_INSERT_IS_HARMLESS = frozenset({"sessions", "api_tokens"})
#: User columns an actor is built from (a sign-in's counters and timestamps are not among them).
_USER_ACTOR_COLUMNS = ("is_active", "kind", "username", "person_id", "entity_id")
_CHANGED = "yiwang.identity.changed"
MAX_ENTRIES = 10_000


_process_generation = shared_generation(None, "identity")


def identity_generation(settings: Settings | None) -> Generation:
    """The shared generation of a deployment's identity data (its ``var_dir``); the process-wide one
    without settings."""
    return shared_generation(settings, "identity")


def _table(obj: Any) -> str | None:
    table = getattr(type(obj), "__table__", None)
    return getattr(table, "name", None)


def _user_changed(obj: Any) -> bool:
    from sqlalchemy import inspect

    attrs = inspect(obj).attrs
    return any(attrs[name].history.has_changes() for name in _USER_ACTOR_COLUMNS if name in attrs)


@event.listens_for(Session, "after_flush")
def _note_flushed_changes(session: Session, _flush_context: Any) -> None:
    for obj in session.new:
        name = _table(obj)
        if name in WATCHED_TABLES and name not in _INSERT_IS_HARMLESS:
            session.info[_CHANGED] = True
            return
    for obj in session.deleted:
        if _table(obj) in WATCHED_TABLES:
            session.info[_CHANGED] = True
            return
    for obj in session.dirty:
        name = _table(obj)
        if name in WATCHED_TABLES and (name != "users" or _user_changed(obj)):
            session.info[_CHANGED] = True
            return


@event.listens_for(Session, "do_orm_execute")
def _note_bulk_changes(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    mapper = state.bind_mapper
    name = getattr(getattr(mapper, "local_table", None), "name", None)
    if name not in WATCHED_TABLES:
        return
    if state.is_insert and name in _INSERT_IS_HARMLESS:
        return
    if state.is_update and name in _INSERT_IS_HARMLESS:
        # A bulk UPDATE of sessions or tokens is the "last seen / last used" touch; revoking a
        # token sets ``revoked_at`` on the loaded row (a flush, seen above).
        values = {getattr(c, "key", str(c)) for c in getattr(state.statement, "_values", None) or {}}
        if values <= {"last_seen_at", "last_used_at"}:
            return
    state.session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _bump_after_commit(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        _process_generation.bump()
        settings = session.info.get("settings")
        if settings is not None:
            identity_generation(settings).bump()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_CHANGED, None)


@dataclass(frozen=True, slots=True)
class _Entry:
    actor: Actor
    expires: float
    generation: tuple[tuple[int, int], tuple[int, int]]
    csrf_secret: str | None = None
    """Set for a cookie session: unsafe requests must carry it."""


class ActorCache:
    """Actors by credential hash for ``ttl`` seconds, valid while the identity generation stands."""

    def __init__(self, settings: Settings) -> None:
        self.ttl = float(settings.actor_cache_seconds)
        self.generation = identity_generation(settings)
        self._entries: dict[str, _Entry] = {}

    def stamp(self) -> tuple[tuple[int, int], tuple[int, int]]:
        return _process_generation.value(), self.generation.value()

    def get(self, key: str) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires <= time.monotonic() or entry.generation != self.stamp():
            self._entries.pop(key, None)
            return None
        return entry

    def put(self, key: str, entry: _Entry) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= MAX_ENTRIES:
            now = time.monotonic()
            self._entries = {k: e for k, e in self._entries.items() if e.expires > now}
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
        self._entries[key] = entry


def _cache(request: Request) -> ActorCache:
    state = request.app.state
    cache = getattr(state, "actor_cache", None)
    if cache is None:
        cache = state.actor_cache = ActorCache(state.settings)
    return cache


def _key(kind: str, credential: str) -> str:
    return kind + hashlib.sha256(credential.encode("utf-8")).hexdigest()


def _check_session_csrf(request: Request, csrf_secret: str) -> None:
    if request.method in UNSAFE_METHODS and not csrf_matches(getattr(request.state, "csrf_submitted", None),
                                                               csrf_secret):
        raise CsrfFailed()


class ActorLoader:
    """Bearer token or session cookie → actor, else ``ANONYMOUS``; checks CSRF on cookie-authenticated
    unsafe requests (403 ``csrf_failed``). ``peek`` answers from the cache without I/O (None: not
    cached, call the loader)."""

    def peek(self, request: Request) -> Actor | None:
        token = bearer_token(request)
        if token is not None:
            entry = _cache(request).get(_key("t:", token))
            if entry is None:
                return None
            request.state.auth_via = "token"
            return entry.actor
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        entry = _cache(request).get(_key("s:", cookie))
        if entry is None or entry.csrf_secret is None:
            return None
        _check_session_csrf(request, entry.csrf_secret)
        request.state.csrf_token = entry.csrf_secret
        request.state.session_token = cookie
        request.state.auth_via = "session"
        return entry.actor

    def __call__(self, request: Request, session: Session) -> Actor:
        cache = _cache(request)
        # Taken before reading, so a change committed meanwhile makes this entry stale at once.
        stamp, expires = cache.stamp(), time.monotonic() + cache.ttl
        # In a read-only unit of work, "last used / last seen" updates are left for the web tier
        # to write afterwards (``request.state.auth_writes``, see core.web.get_actor).
        defer = partial(_defer_write, request) if session.info.get("read_only") else None
        token = bearer_token(request)
        if token is not None:
            actor = service.actor_for_token(session, token, defer=defer)
            if actor is None:
                raise InvalidToken()
            request.state.auth_via = "token"
            cache.put(_key("t:", token), _Entry(actor, expires, stamp))
            return actor
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            found = service.load_session(session, cookie, defer=defer)
            if found is not None:
                info, actor = found
                _check_session_csrf(request, info.csrf_secret)
                request.state.csrf_token = info.csrf_secret
                request.state.session_token = cookie
                request.state.auth_via = "session"
                cache.put(_key("s:", cookie), _Entry(actor, expires, stamp, info.csrf_secret))
                return actor
        return ANONYMOUS


def _defer_write(request: Request, fn: Callable[[Session], None]) -> None:
    request.state.auth_writes = [*(getattr(request.state, "auth_writes", None) or ()), fn]


load_actor = ActorLoader()


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
