from __future__ import annotations

import json
import logging

from fastapi import APIRouter

from yiwang.core.errors import ConflictError


class TestPlatformEndpoints:
    def test_healthz_answers(self, client):
        r = client.get("/healthz")
        assert r.status_code == 200
        assert r.json() == {"status": "ok"}

    def test_readyz_reports_the_migration_head(self, client):
        from yiwang.core.migrate import head_revision

        r = client.get("/readyz")
        assert r.status_code == 200
        assert r.json() == {"status": "ok", "revision": head_revision()}

    def test_metrics_are_prometheus_text(self, client):
        client.get("/healthz")
        r = client.get("/metrics")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        assert 'yiwang_http_requests_total{method="GET",route="/healthz",status="200"}' in r.text

    def test_openapi_is_served_as_3_1(self, client):
        r = client.get("/openapi.json")
        assert r.status_code == 200
        assert r.json()["openapi"].startswith("3.1")


class TestErrors:
    def test_unknown_api_path_is_a_json_error_in_chinese(self, client):
        r = client.get("/api/v1/no-such-thing")
        assert r.status_code == 404
        assert r.json() == {"error": "not_found", "detail": "未找到。"}

    def test_english_is_chosen_by_accept_language(self, client):
        r = client.get("/api/v1/no-such-thing", headers={"Accept-Language": "en-GB,en;q=0.9"})
        assert r.json() == {"error": "not_found", "detail": "Not found."}

    def test_app_error_keeps_its_code_and_status(self, app, client):
        router = APIRouter()

        @router.get("/api/v1/test-conflict")
        def conflict() -> None:
            raise ConflictError()

        app.include_router(router)
        r = client.get("/api/v1/test-conflict")
        assert r.status_code == 409
        assert r.json() == {"error": "conflict", "detail": "与当前状态冲突。"}

    def test_crash_answers_500_with_the_request_id_and_no_trace(self, app):
        from fastapi.testclient import TestClient

        router = APIRouter()

        @router.get("/api/v1/test-crash")
        def crash() -> None:
            raise RuntimeError("secret internals")

        app.include_router(router)
        with TestClient(app, raise_server_exceptions=False) as c:
            r = c.get("/api/v1/test-crash", headers={"X-Request-ID": "req-abcdef12"})
        assert r.status_code == 500
        body = r.json()
        assert body["error"] == "internal_error"
        assert body["request_id"] == "req-abcdef12"
        assert "req-abcdef12" in body["detail"]
        assert "secret internals" not in r.text

    def test_every_response_carries_a_request_id(self, client):
        r = client.get("/healthz")
        assert len(r.headers["X-Request-ID"]) == 26


class TestRequestLog:
    def test_log_line_has_route_template_not_the_path_values(self, app, client, caplog):
        router = APIRouter()

        @router.get("/api/v1/test-echo/{value}")
        def echo(value: str) -> dict[str, str]:
            return {"ok": "yes"}

        app.include_router(router)
        with caplog.at_level(logging.INFO, logger="yiwang.http"):
            client.get("/api/v1/test-echo/110101199003077777?phone=13800138000")
        records = [r for r in caplog.records if r.name == "yiwang.http"]
        assert records, "no request log line"
        from yiwang.core.logging import JsonFormatter

        line = JsonFormatter().format(records[-1])
        data = json.loads(line)
        assert data["route"] == "/api/v1/test-echo/{value}"
        assert "110101199003077777" not in line
        assert "13800138000" not in line


class TestRouterGuard:
    """Included routers skip a path none of their routes can match (app._guard_routers): the
    answers are the same as without the guard, behind a proxy's root path too."""

    def test_every_kind_of_path_is_still_routed(self, client):
        assert client.get("/healthz").status_code == 200
        assert client.get("/api/v1/areas/nowhere").status_code == 404  # a routed 404 (JSON error)
        assert client.get("/api/v1/areas/nowhere").json()["error"]
        assert client.get("/open311/v2/discovery.json").status_code == 200
        assert client.get("/no/such/page", headers={"accept": "application/json"}).status_code == 404

    def test_a_root_path_is_taken_off_first(self, app):
        from fastapi.testclient import TestClient

        with TestClient(app, root_path="/yiwang") as c:
            assert c.get("/yiwang/healthz").status_code == 200
            assert c.get("/yiwang/open311/v2/discovery.json").status_code == 200

    def test_a_guarded_router_refuses_without_trying_its_routes(self, app):
        from starlette.routing import Match

        guarded = [r for r in app.router.routes if getattr(r.matches, "__name__", "") == "guarded"]
        assert len(guarded) > 10
        scope = {"type": "http", "method": "GET", "path": "/open311/v2/discovery.json", "root_path": "",
                 "headers": [], "query_string": b""}
        assert sum(r.matches(scope)[0] == Match.FULL for r in guarded) == 1
