"""Builds the ASGI app: middleware, error handlers, the platform endpoints and every domain's routes."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import re
import time
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import cookie_parser
from starlette.routing import Match

from yiwang.core.context import bound, locale_var
from yiwang.core.db import Database
from yiwang.core.errors import AppError, NotFoundError, PermissionDenied, ValidationFailed
from yiwang.core.i18n import normalise_locale, translate
from yiwang.core.logging import configure_logging
from yiwang.core.settings import Settings, get_settings
from yiwang.core.web import TEMPLATES_DIR, error_body, render, wants_html

log = logging.getLogger("yiwang.http")

#: Domains whose ``api`` and ``pages`` modules (each exposing ``router``) are mounted, in order.
# Routers are matched in this order: the busiest (applications) comes first, since each route tried
# before a match costs a regex test on every request.
DOMAINS = ("applications", "site", "identity", "audit", "areas", "registry", "ops", "workdays", "workflow",
           "catalog", "certificates", "ratings", "notifications", "files", "cityops", "datacat")

REQUESTS = Counter("yiwang_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "yiwang_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

_RID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def _route_template(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "path", "unmatched")


def _crash_response(request: Request, exc: Exception, rid: str) -> Response:
    log.error("unhandled error", exc_info=exc, extra={"route": _route_template(request)})
    message = translate("Something went wrong on our side. Please quote request id {request_id}.",
                        request_id=rid)
    if wants_html(request):
        try:
            return render(request, "error.html", {"status": 500, "message": message}, status_code=500)
        except Exception:  # noqa: BLE001 - a broken template must not hide the first error
            return HTMLResponse(f"<h1>500</h1><p>{message}</p>", status_code=500)
    return JSONResponse({"error": "internal_error", "detail": message, "request_id": rid}, status_code=500)


class ContextMiddleware:
    """Binds the request id (``X-Request-ID`` when sane, else new), source address and locale for
    the request; counts and times it for ``/metrics``; logs one JSON line with the route template
    (never the path or query, which may carry personal data); turns an unhandled error into a 500
    that names the request id. Plain ASGI: no extra task or body buffering per request."""

    def __init__(self, app: Any, settings: Settings) -> None:
        self.app = app
        self.default_locale = settings.default_locale

    def _locale(self, scope: dict[str, Any], headers: Headers) -> str:
        query = scope.get("query_string", b"")
        if b"lang=" in query:
            lang = parse_qs(query.decode("latin-1")).get("lang", [""])[0]
            if lang:
                return normalise_locale(lang)
        cookie = headers.get("cookie")
        if cookie and "lang=" in cookie:
            lang = cookie_parser(cookie).get("lang", "")
            if lang:
                return normalise_locale(lang)
        accept = headers.get("accept-language")
        return normalise_locale(accept) if accept else self.default_locale

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        given = headers.get("x-request-id", "")
        client = scope.get("client")
        token = locale_var.set(self._locale(scope, headers))
        started = time.perf_counter()
        status = 500
        response_started = False

        with bound(given if _RID.match(given) else None, client[0] if client else None) as rid:

            async def send_with_headers(message: dict[str, Any]) -> None:
                nonlocal status, response_started
                if message["type"] == "http.response.start":
                    response_started = True
                    status = message["status"]
                    out = MutableHeaders(scope=message)
                    out["X-Request-ID"] = rid
                    for name, value in _SECURITY_HEADERS:
                        if name not in out:
                            out[name] = value
                await send(message)

            try:
                await self.app(scope, receive, send_with_headers)
            except Exception as exc:  # noqa: BLE001 - the last line of defence: a sentence, not a trace
                if response_started:
                    raise
                await _crash_response(Request(scope), exc, rid)(scope, receive, send_with_headers)
            finally:
                locale_var.reset(token)
                elapsed = time.perf_counter() - started
                route = getattr(scope.get("route"), "path", "unmatched")
                method = scope["method"]
                REQUESTS.labels(method, route, str(status)).inc()
                LATENCY.labels(method, route).observe(elapsed)
                log.info("request", extra={"method": method, "route": route, "status": status,
                                           "ms": round(elapsed * 1000, 2)})


_SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    app = FastAPI(
        title="yiwang 一网",
        version="0.1.0",
        description="一网通办 · 一网统管 · data foundation. Errors are `{\"error\": code, \"detail\": message}`.",
        openapi_url="/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.area_name = settings.area_name
    app.state.db = Database(settings)

    async def _app_error(request: Request, exc: AppError) -> Response:
        if isinstance(exc, PermissionDenied):
            hook = getattr(request.app.state, "on_denied", None)
            if hook:
                # Writes the refusal to the audit trail: database work, so off the event loop.
                await run_in_threadpool(hook, request, exc)
        if wants_html(request):
            return render(request, "error.html", {"error": exc, "message": exc.render()}, status_code=exc.status)
        return JSONResponse(error_body(exc), status_code=exc.status)

    app.add_exception_handler(AppError, _app_error)  # type: ignore[arg-type]

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path", "form")),
             "problem": e.get("type", "invalid"), "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        return await _app_error(request, ValidationFailed(errors=errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return await _app_error(request, NotFoundError())
        body = {"error": "http_" + str(exc.status_code), "detail": str(exc.detail)}
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.get("/healthz", tags=["platform"], include_in_schema=True)
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["platform"])
    def readyz() -> Response:
        """Readiness: the database answers and its schema is at the code's migration head."""
        from yiwang.core.migrate import current_revision, head_revision

        try:
            with app.state.db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                current = current_revision(conn)
        except Exception:  # noqa: BLE001 - any failure means not ready
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        head = head_revision()
        if current != head:
            return JSONResponse({"status": "unavailable", "database": "migrations pending",
                                 "current": current, "head": head}, status_code=503)
        return JSONResponse({"status": "ok", "revision": current})

    @app.get("/metrics", tags=["platform"], response_class=PlainTextResponse)
    async def metrics() -> Response:
        """Prometheus metrics of this process."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    static_dir = TEMPLATES_DIR.parent / "static"
    static_dir.mkdir(exist_ok=True)
    app.mount("/static", StaticFiles(directory=str(static_dir)), name="static")

    for domain in DOMAINS:
        for part in ("api", "pages"):
            name = f"yiwang.{domain}.{part}"
            if importlib.util.find_spec(f"yiwang.{domain}") and importlib.util.find_spec(name):
                module = importlib.import_module(name)
                app.include_router(module.router)
                install = getattr(module, "install", None)
                if install:
                    install(app)
    _summaries_from_docstrings(app)
    _guard_routers(app)
    # Added last, so it is the outermost: every answer, CSRF refusals included, carries the request id.
    app.add_middleware(ContextMiddleware, settings=settings)
    return app


def api_routes(app: FastAPI) -> list[tuple[str, APIRoute]]:
    """(full path, route) of every API route, through included routers."""

    def walk(routes: Any, prefix: str = "") -> Any:
        for r in routes:
            if isinstance(r, APIRoute):
                yield prefix + r.path, r
            elif hasattr(r, "original_router"):
                yield from walk(r.original_router.routes, prefix + r.include_context.prefix)

    return list(walk(app.router.routes))


def _static_prefixes(routes: Any, prefix: str = "") -> set[str] | None:
    """What every path a router's routes can match starts with (each route's path up to its first
    parameter), or None when one of them could match any path."""
    out: set[str] = set()
    for r in routes:
        if hasattr(r, "original_router"):
            found = _static_prefixes(r.original_router.routes, prefix + r.include_context.prefix)
            if found is None:
                return None
            out |= found
            continue
        path = getattr(r, "path", None)
        if not isinstance(path, str):
            return None
        static = (prefix + path).split("{", 1)[0]
        if not static.startswith("/"):
            return None
        out.add(static)
    return out


def _guard_routers(app: FastAPI) -> None:
    """Let each included router refuse at once a request whose path none of its routes' fixed
    beginnings starts. FastAPI tries every route of every router in turn, a regular expression
    each: 0.4 ms for a path served late in the list, more than the rest of a small request. The
    order and the answers do not change: a router that is skipped could not have matched."""
    for entry in app.router.routes:
        original = getattr(entry, "original_router", None)
        if original is None:
            continue
        prefixes = _static_prefixes(original.routes, entry.include_context.prefix)
        if prefixes is None:
            continue
        # Cut to three segments ("/api/v1/cityops") and without those another covers: a few tests per
        # router, a net a little wider than its routes (what it lets through, the router refuses).
        short = {"/".join(p.split("/", 4)[:4]) for p in prefixes}
        entry.matches = _guarded(entry.matches, tuple(sorted(p for p in short if not any(
            p != q and p.startswith(q) for q in short))))


def _guarded(matches: Any, prefixes: tuple[str, ...]) -> Any:
    def guarded(scope: dict[str, Any]) -> Any:
        path, root = scope.get("path", ""), scope.get("root_path", "")
        if root and path.startswith(root + "/"):
            path = path[len(root):]  # as Starlette's routes see it behind a proxy's prefix
        if not path.startswith(prefixes):
            return Match.NONE, {}
        return matches(scope)

    return guarded


def _summaries_from_docstrings(app: FastAPI) -> None:
    """Each route's one-line docstring becomes its OpenAPI summary, the rest its description."""
    for _path, route in api_routes(app):
        doc = (route.endpoint.__doc__ or "").strip()
        if route.summary or not doc:
            continue
        first, _, rest = doc.partition("\n")
        route.summary = first.strip()
        route.description = " ".join(line.strip() for line in rest.splitlines()).strip()
