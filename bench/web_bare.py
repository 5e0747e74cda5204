"""The bare web stack the platform's HTTP figures are compared with: an ASGI app with the same
routes, served by the same uvicorn, the same way (``bench/bench_web.py``).

- ``GET /healthz`` and ``GET /api/v1/areas/{code}``: one JSON answer, no database.
- ``POST /api/v1/bench/submissions``: the bare insert — JSON body in, one row like an application's
  inserted with the standard library's ``sqlite3`` and committed (same database file, same
  durability pragmas as the platform: WAL, ``synchronous=FULL``, a busy timeout for the other
  worker's writes), JSON out. No authentication, no unit of work, no thread pool: the floor any
  submit endpoint stands on.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from yiwang.core.ids import new_id

INSERT = (
    "INSERT INTO bench_submissions (id, number, subject_code, applicant_person_id, owner_user_id, channel,"
    " area_code, status, data, idempotency_key, created_at, submitted_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

_conn: sqlite3.Connection | None = None


def _connection() -> sqlite3.Connection:
    """One connection per worker process, opened on first use."""
    global _conn  # noqa: PLW0603 - one per process, like a pool of one
    if _conn is None:
        path = Path(os.environ.get("YIWANG_VAR_DIR", "var")) / "yiwang.db"
        _conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        _conn.execute("PRAGMA busy_timeout=30000")
        _conn.execute("PRAGMA journal_mode=WAL")
        _conn.execute("PRAGMA synchronous=" + os.environ.get("YIWANG_SQLITE_SYNCHRONOUS", "FULL"))
    return _conn


async def ok(request):  # noqa: ANN001, ANN201
    return JSONResponse({"status": "ok"})


async def submit(request):  # noqa: ANN001, ANN201
    body = await request.json()
    rid = new_id()
    now = datetime.now(UTC).isoformat()
    conn = _connection()
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(INSERT, (rid, "B" + rid[-12:], body["item_code"], body.get("person_id"), "bare", "online",
                              body["area_code"], "submitted", json.dumps(body["data"], ensure_ascii=False),
                              None, now, now, now))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return JSONResponse({"id": rid, "status": "submitted"}, status_code=201)


app = Starlette(routes=[
    Route("/healthz", ok),
    Route("/api/v1/areas/{code}", ok),
    Route("/api/v1/bench/submissions", submit, methods=["POST"]),
    Route("/api/v1/bench/submissions-async", submit, methods=["POST"]),
])
