"""Shared web plumbing: the per-request transaction, the current actor, templates, error bodies.

Domains' ``api.py`` and ``pages.py`` use ``DbSession`` and ``CurrentActor``; the identity domain
installs the actor loader on the app (``app.state.actor_loader``), so no domain imports another's
routes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from yiwang.core.actor import ANONYMOUS, Actor
from yiwang.core.context import current_request_id, locale_var
from yiwang.core.errors import AppError, AuthenticationRequired, ValidationFailed
from yiwang.core.i18n import DEFAULT_LOCALE, translate

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.globals["_"] = lambda msgid, **kw: translate(msgid, None, **kw)


def _session(request: Request, write: bool) -> Iterator[Session]:
    db = request.app.state.db
    session = db.session(write=write)
    request.state.db_session = session
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def get_db(request: Request) -> Iterator[Session]:
    """The request's unit of work: committed when the route returns, rolled back if it raises."""
    yield from _session(request, write=True)


def get_read_db(request: Request) -> Iterator[Session]:
    """A read-only unit of work for hot read paths (never waits for SQLite's writer)."""
    yield from _session(request, write=False)


DbSession = Annotated[Session, Depends(get_db)]
ReadDbSession = Annotated[Session, Depends(get_read_db)]


def get_actor(request: Request, session: DbSession) -> Actor:
    """The signed-in user (cookie session or bearer token), or the anonymous actor."""
    if hasattr(request.state, "actor"):
        return request.state.actor
    loader = getattr(request.app.state, "actor_loader", None)
    actor = loader(request, session) if loader else ANONYMOUS
    request.state.actor = actor
    return actor


def require_signed_in(actor: Annotated[Actor, Depends(get_actor)]) -> Actor:
    if not actor.is_authenticated:
        raise AuthenticationRequired()
    return actor


CurrentActor = Annotated[Actor, Depends(get_actor)]
SignedInActor = Annotated[Actor, Depends(require_signed_in)]


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
