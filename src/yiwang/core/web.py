"""Shared web plumbing: the per-request transaction, the current actor, templates, error bodies.

Domains' ``api.py`` and ``pages.py`` use ``DbSession`` and ``CurrentActor``; the identity domain
installs the actor loader on the app (``app.state.actor_loader``), so no domain imports another's
routes.

Thread-pool hops and SQLite's single writer: a write unit of work (``DbSession``) holds SQLite's
write lock from its first statement to its commit, across several hops to the thread pool. If
every pool thread were waiting for that lock, the holder could never get a thread to finish and
all would wait out the busy timeout (this happened at 64 concurrent POSTs); on PostgreSQL the same
happens when the connection pool runs out. So a worker lets one write unit of work at a time in on
SQLite, and fewer than the pool holds on PostgreSQL (``_write_gate``): the others wait on the event
loop, not in a thread. A loader that finds the actor in its cache (``loader.peek``) costs no hop at all.

Each hop to the thread pool costs the event loop more than a small query does (waking a thread,
handing the GIL back and forth), and FastAPI makes two for a plain ``def`` route with a response
model (the endpoint, then validating the response). A hot route can be ``async def`` and make one:
``return await run_unit_of_work(session, service.fn, actor, ...)`` runs the service call and the
commit in the same thread, and the response is validated on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.message
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import anyio
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from yiwang.core.actor import ANONYMOUS, Actor
from yiwang.core.context import current_request_id, locale_var
from yiwang.core.errors import AppError, AuthenticationRequired, PermissionDenied, ValidationFailed
from yiwang.core.groupcommit import run_write
from yiwang.core.i18n import DEFAULT_LOCALE, translate

log = logging.getLogger("yiwang.web")

M = TypeVar("M", bound=BaseModel)

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.globals["_"] = lambda msgid, **kw: translate(msgid, None, **kw)

LOCAL_TIMEZONE = ZoneInfo("Asia/Shanghai")
"""The time people read (China Standard Time, as the working-day calendar counts); stored in UTC."""


def local_time(at: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored moment as people read it (Beijing time); a naive value is taken as UTC."""
    if at is None:
        return ""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(LOCAL_TIMEZONE).strftime(fmt)


templates.env.globals["local_time"] = local_time


_request_session: ContextVar[Session | None] = ContextVar("yiwang_request_session", default=None)


def _finish(session: Session, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


def _write_gate(request: Request) -> asyncio.Semaphore | None:
    """The worker's gate for write units of work: one at a time on SQLite (one writer), and on
    PostgreSQL fewer than the connection pool holds, so that readers always find a connection and
    free their threads. (A unit of work holds its connection until its commit, which needs a
    thread; threads blocked waiting for a connection would otherwise starve it.)"""
    state = request.app.state
    gate = getattr(state, "write_gate", None)
    if gate is None:
        db = getattr(state, "db", None)
        if db is None:
            return None
        width = 1 if db.is_sqlite else max(1, db.settings.db_pool_size)
        gate = state.write_gate = asyncio.Semaphore(width)
    return gate


@contextlib.asynccontextmanager
async def _unit_of_work(request: Request, write: bool) -> AsyncIterator[Session]:
    # Making a session does no I/O (it connects on first use), so this runs on the event loop; the
    # commit or rollback is one hop to the thread pool when the route is done. The ending is
    # shielded from cancellation (a client that hangs up): a session left open would keep its
    # connection, its transaction and, on PostgreSQL, its locks.
    gate = _write_gate(request) if write else None
    if gate is not None:
        await gate.acquire()
    try:
        session = request.app.state.db.session(write=write)
        request.state.db_session = session
        request.state.db_session_writes = write
        _request_session.set(session)
        try:
            yield session
        except BaseException:
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(_finish, session, False)
            raise
        else:
            if session.in_transaction() and write:
                with anyio.CancelScope(shield=True):
                    await run_in_threadpool(_finish, session, True)
            else:
                # A read-only unit of work has nothing to commit: closing hands the connection back
                # to the pool (which ends the read transaction) without another hop to the thread pool.
                session.close()
    finally:
        if gate is not None:
            gate.release()


async def get_db(request: Request) -> AsyncIterator[Session]:
    """The request's unit of work: committed when the route returns, rolled back if it raises."""
    # ``async with``, not ``async for`` over a generator: an error thrown in here must reach the
    # unit of work at once (with ``async for`` it only did when the inner generator was collected).
    async with _unit_of_work(request, write=True) as session:
        yield session


async def get_read_db(request: Request) -> AsyncIterator[Session]:
    """A read-only unit of work for hot read paths (never waits for SQLite's writer)."""
    async with _unit_of_work(request, write=False) as session:
        yield session


T = TypeVar("T")


def _call_and_commit(session: Session, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
    result = fn(session, *args, **kwargs)
    if not session.info.get("read_only") and session.in_transaction():
        session.commit()
    return result


async def run_unit_of_work(session: Session, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """For ``async def`` routes: ``fn(session, *args, **kwargs)`` (a service call) in the thread pool,
    and the request's unit of work committed in the same hop when it returns (a read-only session
    is left to be closed). If it raises, nothing is committed and the request rolls back as usual."""
    return await run_in_threadpool(_call_and_commit, session, fn, args, kwargs)


# scope="function": the unit of work ends (commits) before the answer is sent. FastAPI's default
# ends it after, so a client following a redirect could read before the write was committed (a
# new session not found on the next page), and a failed commit came after a success was answered.
DbSession = Annotated[Session, Depends(get_db, scope="function")]
ReadDbSession = Annotated[Session, Depends(get_read_db, scope="function")]


def _has_credentials(request: Request) -> bool:
    """Whether the request carries anything that could sign someone in (no I/O)."""
    if not getattr(request.app.state, "actor_needs_credentials", False):
        return True
    if request.headers.get("authorization"):
        return True
    return any(name.startswith("yiwang_session") for name in request.cookies)


def _load_read_only(request: Request, loader: Any) -> Actor:
    with request.app.state.db.transaction(write=False) as session:
        return loader(request, session)


def _run_all(writes: list[Callable[[Session], None]], session: Session) -> None:
    for write in writes:
        write(session)


async def get_actor(request: Request) -> Actor:
    """The signed-in user (cookie session or bearer token), or the anonymous actor. A request with
    no credentials is anonymous without a query; a credential the loader has cached (its ``peek``,
    no I/O, same checks) costs no thread hop; otherwise the loader (identity's: token or session,
    CSRF check) runs in the thread pool, in the request's write unit of work if it has one, else in
    a short one of its own (it may record when a token was last used)."""
    actor = getattr(request.state, "actor", None)
    if actor is not None:
        return actor
    loader = getattr(request.app.state, "actor_loader", None)
    if loader is None or not _has_credentials(request):
        actor = ANONYMOUS
    else:
        peek = getattr(loader, "peek", None)
        actor = peek(request) if peek is not None else None
        if actor is None:
            own = getattr(request.state, "db_session", None)
            if own is not None and getattr(request.state, "db_session_writes", False):
                # This request is already in the write gate: load in its unit of work, as before.
                actor = await run_in_threadpool(loader, request, own)
            else:
                # Reads only, so no write turn to wait for; the occasional "last used" update the
                # loader leaves behind goes to the worker's group commit (core.groupcommit).
                actor = await run_in_threadpool(_load_read_only, request, loader)
                writes = getattr(request.state, "auth_writes", None)
                if writes:
                    request.state.auth_writes = None
                    try:
                        await run_write(request.app.state.db, partial(_run_all, writes))
                    except Exception:  # noqa: BLE001 - a bookkeeping update never fails the request
                        log.warning("last-used update failed", exc_info=True)
    request.state.actor = actor
    return actor


async def require_signed_in(actor: Annotated[Actor, Depends(get_actor)]) -> Actor:
    """As :func:`get_actor`, refusing anonymous callers (401)."""
    if not actor.is_authenticated:
        raise AuthenticationRequired()
    return actor


CurrentActor = Annotated[Actor, Depends(get_actor)]
SignedInActor = Annotated[Actor, Depends(require_signed_in)]


async def read_json_body(request: Request, model: type[M]) -> M:
    """The request's JSON body as ``model``, for a hot route that takes only the request (FastAPI's
    dependency solving costs the busiest POST about a tenth of its CPU). Refused exactly as FastAPI
    refuses a body parameter: the same 422 for a body that is missing, not JSON or not valid, with
    the same error types and locations. Declare the body with :func:`json_body_openapi`."""
    raw = await request.body()
    if not raw:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    content_type = request.headers.get("content-type")
    if not content_type or not _is_json(content_type):
        body: Any = raw  # as FastAPI does (strict content type): the bytes are validated, and refused
    else:
        try:
            return model.model_validate_json(raw)
        except ValidationError:
            pass  # refused: found again below the way FastAPI finds it, for the same errors
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise RequestValidationError([{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
                                           "input": {}, "ctx": {"error": exc.msg}}]) from None
    try:
        return model.model_validate(body, from_attributes=True)  # as FastAPI validates a body
    except ValidationError as exc:
        raise RequestValidationError(_in_body(exc)) from None


def _is_json(content_type: str) -> bool:
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def _in_body(exc: ValidationError) -> list[dict[str, Any]]:
    return [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]


def json_body_openapi(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` declaring a route's JSON body read by :func:`read_json_body` (a model with
    no nested models of its own, described inline)."""
    schema = model.model_json_schema()
    if "$defs" in schema:
        raise ValueError(f"{model.__name__} has nested models: declare it as a body parameter")
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def login_redirect(request: Request, path: str | None = None) -> RedirectResponse:
    """To the sign-in page, coming back to ``path`` (default: this page, with its query) after."""
    path = path or (request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    return RedirectResponse(f"/login?next={quote(path, safe='')}", status_code=303)


def require_somewhere(actor: Actor, permission: str) -> None:
    """Refuse (401/403) an actor who holds ``permission`` nowhere: a page's first check, before it
    looks anything up (the service then checks the area of what is asked for)."""
    if not actor.is_authenticated:
        raise AuthenticationRequired()
    if not actor.scopes(permission):
        raise PermissionDenied(permission=permission)


async def read_form(request: Request, *, keep_file: Callable[[str], bool],
                    limit: int) -> tuple[dict[str, str], dict[str, list[str]], list[tuple[str, str, bytes]]]:
    """A posted form: each field's first value, every value of repeated fields, and the files whose
    field ``keep_file`` accepts and that have a name, as (field, file name, bytes), each read at most
    ``limit`` bytes (the caller passes one over its own limit, so the service can refuse larger)."""
    fields: dict[str, str] = {}
    many: dict[str, list[str]] = {}
    files: list[tuple[str, str, bytes]] = []
    async with request.form() as form:
        for key, value in form.multi_items():
            if isinstance(value, str):
                fields.setdefault(key, value)
                many.setdefault(key, []).append(value)
            elif keep_file(key) and value.filename:
                files.append((key, value.filename, await value.read(limit)))
    return fields, many, files


def wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/open311/", "/metrics", "/healthz", "/readyz")):
        return False
    return "text/html" in request.headers.get("accept", "")


def error_body(exc: AppError) -> dict[str, Any]:
    body: dict[str, Any] = {"error": exc.code, "detail": exc.render()}
    if isinstance(exc, ValidationFailed) and exc.errors:
        body["errors"] = exc.errors
    return body


def render(request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200) -> HTMLResponse:
    """Render a page template with the layout's common context."""
    ctx = {
        "request": request,
        "locale": locale_var.get() or DEFAULT_LOCALE,
        "actor": getattr(request.state, "actor", ANONYMOUS),
        "elder": request.cookies.get("elder") == "1",
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "request_id": current_request_id(),
    }
    ctx.update(context or {})
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)


def json_error(exc: AppError) -> JSONResponse:
    return JSONResponse(error_body(exc), status_code=exc.status)


def safe_next_path(value: str | None, default: str = "/") -> str:
    """``value`` if it is a path on this site, else ``default``: refuses absolute and
    scheme-relative URLs (``https://x``, ``//x``, ``/\\x``) and control characters, so a
    ``next`` parameter cannot redirect a visitor to another site."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    if any(ord(ch) < 0x20 or ch == "\x7f" or ch == "\\" for ch in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value
