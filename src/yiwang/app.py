"""Builds the ASGI app: middleware, error handlers, the platform endpoints and every domain's routes."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import re
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

from yiwang.core.context import bound, locale_var
from yiwang.core.db import Database
from yiwang.core.errors import AppError, NotFoundError, PermissionDenied, ValidationFailed
from yiwang.core.i18n import normalise_locale, translate
from yiwang.core.logging import configure_logging
from yiwang.core.settings import Settings, get_settings
from yiwang.core.web import TEMPLATES_DIR, error_body, render, wants_html

log = logging.getLogger("yiwang.http")

#: Domains whose ``api`` and ``pages`` modules (each exposing ``router``) are mounted, in order.
DOMAINS = ("site", "identity", "audit", "areas", "registry", "ops")

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

    @app.middleware("http")
    async def context_middleware(request: Request, call_next: Any) -> Response:
        given = request.headers.get("x-request-id", "")
        lang = request.query_params.get("lang") or request.cookies.get("lang") or request.headers.get(
            "accept-language", ""
        )
        token = locale_var.set(normalise_locale(lang) if lang else settings.default_locale)
        started = time.perf_counter()
        with bound(given if _RID.match(given) else None, request.client.host if request.client else None) as rid:
            try:
                response = await call_next(request)
            except Exception as exc:  # noqa: BLE001 - the last line of defence: a sentence, not a trace
                response = _crash_response(request, exc, rid)
            finally:
                locale_var.reset(token)
            elapsed = time.perf_counter() - started
            route = _route_template(request)
            REQUESTS.labels(request.method, route, str(response.status_code)).inc()
            LATENCY.labels(request.method, route).observe(elapsed)
            response.headers["X-Request-ID"] = rid
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("Referrer-Policy", "same-origin")
            response.headers.setdefault("X-Frame-Options", "DENY")
            # Path template only: query strings and path values may carry personal data.
            log.info(
                "request",
                extra={"method": request.method, "route": route, "status": response.status_code,
                       "ms": round(elapsed * 1000, 2)},
            )
            return response

    def _app_error(request: Request, exc: AppError) -> Response:
        if isinstance(exc, PermissionDenied):
            hook = getattr(request.app.state, "on_denied", None)
            if hook:
                hook(request, exc)
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
        return _app_error(request, ValidationFailed(errors=errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return _app_error(request, NotFoundError())
        body = {"error": "http_" + str(exc.status_code), "detail": str(exc.detail)}
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

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

    @app.get("/healthz", tags=["platform"], include_in_schema=True)
    def healthz() -> dict[str, str]:
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
    def metrics() -> Response:
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


def _summaries_from_docstrings(app: FastAPI) -> None:
    """Each route's one-line docstring becomes its OpenAPI summary, the rest its description."""
    for _path, route in api_routes(app):
        doc = (route.endpoint.__doc__ or "").strip()
        if route.summary or not doc:
            continue
        first, _, rest = doc.partition("\n")
        route.summary = first.strip()
        route.description = " ".join(line.strip() for line in rest.splitlines()).strip()
