"""The request's unit of work on the web tier: one-hop service calls, SQLite's writer gate, and the
SQLite durability choice."""

from __future__ import annotations

from typing import Literal

import anyio
import httpx
import pytest
from fastapi import APIRouter, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import text

from yiwang.core.db import Database
from yiwang.core.settings import Settings
from yiwang.core.web import DbSession, run_unit_of_work


def _insert(session, n: int) -> int:
    session.execute(text("INSERT INTO web_t (n) VALUES (:n)"), {"n": n})
    session.flush()
    if n < 0:
        raise ValueError("negative")
    return n


def _app_with_routes(settings: Settings):
    from yiwang.app import create_app

    app = create_app(settings)
    with app.state.db.transaction() as s:
        # Not in the metadata, so not emptied between tests on PostgreSQL: start afresh.
        s.execute(text("DROP TABLE IF EXISTS web_t"))
        s.execute(text("CREATE TABLE web_t (n INTEGER)"))
    router = APIRouter()

    @router.post("/t/async/{n}")
    async def add_async(n: int, session: DbSession) -> dict[str, int]:
        return {"n": await run_unit_of_work(session, _insert, n)}

    @router.post("/t/sync/{n}")
    def add_sync(n: int, session: DbSession) -> dict[str, int]:
        return {"n": _insert(session, n)}

    app.include_router(router)
    return app


def _count(db: Database) -> list[int]:
    with db.transaction(write=False) as s:
        return sorted(s.execute(text("SELECT n FROM web_t")).scalars())


class TestRunUnitOfWork:
    def test_commits_the_service_call(self, settings, db):
        app = _app_with_routes(settings)
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.post("/t/async/7")
        assert (response.status_code, response.json()) == (200, {"n": 7})
        assert _count(db) == [7]
        app.state.db.dispose()

    def test_failing_service_call_commits_nothing(self, settings, db):
        app = _app_with_routes(settings)
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.post("/t/async/-1")
        assert response.status_code == 500
        assert _count(db) == []
        app.state.db.dispose()


class TestUnitOfWorkEnds:
    """A route's unit of work is over when its answer is: committed or rolled back, its connection
    back in the pool (a session left open keeps its transaction and, on PostgreSQL, its locks)."""

    @pytest.mark.parametrize("path", ["/t/sync/-1", "/t/async/-1", "/t/sync/3", "/t/async/4"])
    def test_connection_is_back_when_the_answer_is_sent(self, settings, db, path):
        app = _app_with_routes(settings)
        with TestClient(app, raise_server_exceptions=False) as client:
            for _ in range(5):
                client.post(path)
                assert app.state.db.engine.pool.checkedout() == 0
        app.state.db.dispose()


class TestWriteGate:
    def test_more_writers_than_threads_all_commit(self, settings, db):
        """With two pool threads, writers holding SQLite's lock between hops used to starve the
        holder of a thread until the busy timeout ('database is locked')."""
        app = _app_with_routes(settings.model_copy(update={"sqlite_busy_timeout_ms": 1000}))

        async def many() -> list[int]:
            anyio.to_thread.current_default_thread_limiter().total_tokens = 2
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                                         base_url="http://t") as c:
                statuses: list[int] = []

                async def one(n: int) -> None:
                    statuses.append((await c.post(f"/t/sync/{n}")).status_code)

                async with anyio.create_task_group() as tg:
                    for n in range(24):
                        tg.start_soon(one, n)
                return statuses

        statuses = anyio.run(many)
        assert statuses == [200] * 24
        assert _count(db) == list(range(24))
        app.state.db.dispose()


class TestSqliteDurability:
    @pytest.mark.parametrize(("choice", "pragma"), [(None, 2), ("NORMAL", 1), ("EXTRA", 3)])
    def test_full_unless_the_operator_chooses(self, tmp_path, choice, pragma):
        settings = Settings(var_dir=tmp_path) if choice is None else Settings(var_dir=tmp_path, sqlite_synchronous=choice)
        db = Database(settings)
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == pragma
        db.dispose()

    def test_unknown_choice_is_refused(self, tmp_path):
        with pytest.raises(ValidationError, match="sqlite_synchronous"):
            Settings(var_dir=tmp_path, sqlite_synchronous="OFF")

    def test_sqlite_pool_keeps_its_connections(self, tmp_path):
        db = Database(Settings(var_dir=tmp_path, db_pool_size=3))
        assert (db.engine.pool.size(), db.engine.pool._max_overflow) == (6, 0)
        db.dispose()


class TestLocalTime:
    def test_pages_show_beijing_time(self):
        from datetime import UTC, datetime

        from yiwang.core.web import local_time

        assert local_time(datetime(2026, 10, 1, 16, 30, tzinfo=UTC)) == "2026-10-02 00:30"
        assert local_time(datetime(2026, 10, 1, 16, 30)) == "2026-10-02 00:30"  # naive: stored UTC
        assert local_time(None) == ""


class TestCommitBeforeAnswer:
    """The unit of work commits before the answer starts: a client that follows a redirect at once
    must find what the request wrote (a sign-in's new session was missing on the next page)."""

    @pytest.mark.parametrize("path", ["/t/sync/5", "/t/async/6"])
    def test_the_row_is_committed_when_the_answer_starts(self, settings, db, path):
        app = _app_with_routes(settings)
        seen: list[list[int]] = []
        inner = app.build_middleware_stack()

        async def watching(scope, receive, send):  # noqa: ANN001, ANN202
            async def on_send(message):  # noqa: ANN001, ANN202
                if message["type"] == "http.response.start":
                    seen.append(_count(db))  # another connection: sees committed rows only
                await send(message)

            await inner(scope, receive, on_send)

        app.middleware_stack = watching
        with TestClient(app) as client:
            assert client.post(path).status_code == 200
        assert seen == [[int(path.rsplit("/", 1)[1])]]
        app.state.db.dispose()


class _Body(BaseModel):
    kind: Literal["item", "bundle"]
    code: str = Field(min_length=1, max_length=5)
    data: dict = {}
    submit: bool = False


class TestReadJsonBody:
    """A hot route reading its own body refuses what FastAPI refuses for a body parameter, alike."""

    @staticmethod
    def app():
        from fastapi import FastAPI
        from fastapi.exceptions import RequestValidationError
        from fastapi.responses import JSONResponse

        from yiwang.core.web import json_body_openapi, read_json_body

        app = FastAPI()

        @app.exception_handler(RequestValidationError)
        async def errors(request, exc):
            return JSONResponse([{k: e.get(k) for k in ("type", "loc", "msg")} for e in exc.errors()], status_code=422)

        @app.post("/ref")
        async def ref(body: _Body) -> dict:
            return body.model_dump()

        @app.post("/fast", openapi_extra=json_body_openapi(_Body))
        async def fast(request: Request) -> dict:
            return (await read_json_body(request, _Body)).model_dump()

        return app

    CASES = [
        ({"content-type": "application/json"}, b'{"kind": "item", "code": "A1", "data": {"x": 1}}'),
        ({"content-type": "application/json"}, b""),
        ({"content-type": "application/json"}, b"{"),
        ({"content-type": "application/json"}, b'{"kind": "item", "code": "A1",}'),
        ({"content-type": "application/json"}, b"[1, 2]"),
        ({"content-type": "application/json"}, b'"text"'),
        ({"content-type": "application/json"}, b"{}"),
        ({"content-type": "application/json"}, b'{"kind": "other", "code": "", "submit": "maybe"}'),
        ({"content-type": "application/json"}, b'{"kind": "item", "code": "TOOLONG", "data": []}'),
        ({"content-type": "application/json; charset=utf-8"}, b'{"kind": "bundle", "code": "B"}'),
        ({"content-type": "application/merge-patch+json"}, b'{"kind": "bundle", "code": "B"}'),
        ({"content-type": "text/plain"}, b'{"kind": "bundle", "code": "B"}'),
        ({"content-type": "application/x-www-form-urlencoded"}, b"kind=item&code=A1"),
        ({}, b'{"kind": "bundle", "code": "B"}'),
        ({}, b"not json"),
    ]

    def test_every_body_gets_the_same_answer_as_a_fastapi_body_parameter(self):
        from fastapi.testclient import TestClient

        with TestClient(self.app()) as client:
            for headers, body in self.CASES:
                ref = client.post("/ref", content=body, headers=headers)
                fast = client.post("/fast", content=body, headers=headers)
                assert (fast.status_code, fast.json()) == (ref.status_code, ref.json()), (headers, body)

    def test_the_body_is_described_in_openapi(self):
        op = self.app().openapi()["paths"]["/fast"]["post"]
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        assert op["requestBody"]["required"] is True
        assert schema["required"] == ["kind", "code"] and set(schema["properties"]) == {"kind", "code", "data", "submit"}
