"""HTTP throughput and p99 of the platform's web tier beside a bare ASGI app (``web_bare.py``),
both served by uvicorn with 2 worker processes on 127.0.0.1 and driven by the same client: 64
concurrent connections for a few seconds per figure, after a warm-up of the same load that is not
measured (loopback only, bounded).

Figures: ``GET /healthz`` (the middleware stack alone), ``GET /api/v1/areas/{code}`` (an anonymous
database read) and ``POST /api/v1/bench/submissions`` — an authenticated (bearer API token) JSON
POST that inserts one row like an application's in a unit of work of its own (the general write
path: one transaction per request, one at a time per worker, no group commit), beside the bare
app's raw ``sqlite3`` insert + commit of the same row. The bare insert endpoint (``web_bare.py``)
is also the baseline of the submission figure (issue 3: ≥ 2,000/s, ≥ 1/3 of a bare insert
endpoint), which ``bench_applications`` measures through the real, group-committed route. The
bench-only route lives here (:func:`platform_app`), not in ``src/``.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel
from sqlalchemy import String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from yiwang.core.actor import Actor
from yiwang.core.db import UTCDateTime, utcnow
from yiwang.core.errors import AuthenticationRequired
from yiwang.core.ids import new_id
from yiwang.core.web import DbSession, SignedInActor, run_unit_of_work

CONCURRENCY = 64
SECONDS = 4.0
WARM_UP = 1.5
"""Seconds every load runs before it is measured (both sides alike): a worker's first requests
build its route tables, fill its caches and memos and open its connections once in its life."""


class Window:
    """The measured stretch of a load: requests started before ``start`` only warm up (counted in
    ``warm``, not timed), the rest until ``stop`` are timed."""

    def __init__(self) -> None:
        self.start = time.perf_counter() + WARM_UP
        self.stop = self.start + SECONDS
        self.warm = 0

    def measured(self, started: float) -> bool:
        if started < self.start:
            self.warm += 1
            return False
        return True
ROOT = Path(__file__).resolve().parent.parent

#: A row shaped like an application's (``applications`` table), shared by the bare and platform apps.
DDL = (
    "CREATE TABLE IF NOT EXISTS bench_submissions (id VARCHAR(26) PRIMARY KEY, number VARCHAR(24) NOT NULL UNIQUE,"
    " subject_code VARCHAR(60) NOT NULL, applicant_person_id VARCHAR(26), owner_user_id VARCHAR(26),"
    " channel VARCHAR(10) NOT NULL, area_code VARCHAR(15) NOT NULL, status VARCHAR(12) NOT NULL,"
    " data TEXT NOT NULL, idempotency_key VARCHAR(80), created_at DATETIME NOT NULL,"
    " submitted_at DATETIME, updated_at DATETIME NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ix_bench_submissions_owner ON bench_submissions (owner_user_id, created_at)",
    "CREATE INDEX IF NOT EXISTS ix_bench_submissions_intake ON bench_submissions (area_code, status, submitted_at)",
)
BODY = {"item_code": "310101-hukou-move", "area_code": "310101", "person_id": "01J0000000000000000000PERS",
        "data": {"reason": "工作调动", "household_size": 3, "from": "310104", "to": "310101"}}


class BenchBase(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime()}


class BenchSubmission(BenchBase):
    """A row shaped like an application's (bench only; its table is :data:`DDL`)."""

    __tablename__ = "bench_submissions"
    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(24))
    subject_code: Mapped[str] = mapped_column(String(60))
    applicant_person_id: Mapped[str | None] = mapped_column(String(26))
    owner_user_id: Mapped[str | None] = mapped_column(String(26))
    channel: Mapped[str] = mapped_column(String(10))
    area_code: Mapped[str] = mapped_column(String(15))
    status: Mapped[str] = mapped_column(String(12))
    data: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime]
    submitted_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class SubmissionIn(BaseModel):
    item_code: str
    area_code: str
    person_id: str | None = None
    data: dict[str, Any]


class SubmissionOut(BaseModel):
    id: str
    status: str


def _insert(session: Session, actor: Actor, body: SubmissionIn) -> SubmissionOut:
    """What a service does: check, add the row, flush (the request commits)."""
    if not actor.is_authenticated:
        raise AuthenticationRequired()
    now = utcnow()
    rid = new_id()
    session.add(BenchSubmission(
        id=rid, number="B" + rid[-12:], subject_code=body.item_code, applicant_person_id=body.person_id,
        owner_user_id=actor.user_id, channel="online", area_code=body.area_code, status="submitted",
        data=json.dumps(body.data, ensure_ascii=False), created_at=now, submitted_at=now, updated_at=now,
    ))
    session.flush()
    return SubmissionOut(id=rid, status="submitted")


def submit(body: SubmissionIn, session: DbSession, actor: SignedInActor) -> SubmissionOut:
    """Bench only: insert one application-shaped row (a plain ``def`` route)."""
    return _insert(session, actor, body)


async def submit_async(body: SubmissionIn, session: DbSession, actor: SignedInActor) -> SubmissionOut:
    """Bench only: the same as an ``async def`` route, service call and commit in one thread hop."""
    return await run_unit_of_work(session, _insert, actor, body)


def platform_app() -> FastAPI:
    """The platform (``yiwang.app.create_app``) plus :func:`submit` as a bench-only JSON route,
    served with uvicorn ``--factory``."""
    from yiwang.app import create_app

    app = create_app()
    router = APIRouter(prefix="/api/v1/bench", tags=["bench"])
    router.add_api_route("/submissions", submit, methods=["POST"], response_model=SubmissionOut, status_code=201)
    router.add_api_route("/submissions-async", submit_async, methods=["POST"], response_model=SubmissionOut,
                         status_code=201)
    app.include_router(router)
    return app


_SETUP = """
from sqlalchemy import text
from yiwang.core.settings import get_settings
from yiwang.core.db import Database
from yiwang.core.actor import SYSTEM
from yiwang.areas import service as areas
from yiwang.identity import service as identity
from bench.bench_web import DDL
db = Database(get_settings())
with db.transaction() as s:
    areas.create_area(s, SYSTEM, code='31', name='上海市', level='city')
    areas.create_area(s, SYSTEM, code='310101', name='黄浦区', level='district', parent_code='31')
    user = identity.create_user(s, SYSTEM, username='bench_citizen', password=None, kind='citizen',
                                display_name='bench', grants=[('citizen', '31', None)])
    token, _ = identity.create_token(s, SYSTEM, user.id, 'bench')
    for ddl in DDL:
        s.execute(text(ddl))
print(token)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(app: str, env: dict[str, str], *, factory: bool = False) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module names
        [sys.executable, "-m", "yiwang.core.server", app, "--host", "127.0.0.1", "--port", str(port), "--workers",
         "2", "--log-level", "warning", *(["--factory"] if factory else [])],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{app} did not start")


def _request(host: str, method: str, path: str, token: str | None = None, body: dict[str, Any] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Accept: application/json"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    payload = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bytes]:
    """Send one HTTP/1.1 request on a keep-alive connection and read its answer: (status, body)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return status, await reader.readexactly(length)


def p95s_alternating(dbs: list[Any], call: Any, calls: int = 300, warm_up: int = 20) -> list[tuple[float, int]]:
    """(p95 in ms, rows of the last answer) of ``call(session)`` on each database, the calls
    alternating between them so that other load on the machine falls on both alike; the first
    ``warm_up`` rounds only warm the caches."""
    times: list[list[float]] = [[] for _ in dbs]
    rows = [0 for _ in dbs]
    for n in range(warm_up + calls):
        for k, db in enumerate(dbs):
            with db.session() as session:
                t = time.perf_counter()
                rows[k] = len(call(session))
                took = time.perf_counter() - t
            if n >= warm_up:
                times[k].append(took)
    out = []
    for got in times:
        got.sort()
        out.append(got[int(len(got) * 0.95)] * 1000)
    return list(zip(out, rows, strict=True))


async def _connection(host: str, port: int, request: bytes, window: Window, latencies: list[float]) -> None:
    """One keep-alive HTTP/1.1 connection sending the same request back to back until ``stop`` (a
    minimal client: httpx's pool, not the server, was the bottleneck at 64 connections)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < window.stop:
            t = time.perf_counter()
            status, answer = await exchange(reader, writer, request)
            if not 200 <= status < 300:
                raise RuntimeError(f"{request.split(b' ', 2)[1].decode()}: {status} {answer[:200]!r}")
            if window.measured(t):
                latencies.append(time.perf_counter() - t)
    finally:
        writer.close()


async def _load(url: str, method: str = "GET", token: str | None = None,
                body: dict[str, Any] | None = None, quantile: float = 0.99) -> tuple[float, float]:
    """(requests per second, latency at ``quantile`` in ms) of ``CONCURRENCY`` clients for ``SECONDS``
    after ``WARM_UP``."""
    parts = httpx.URL(url)
    request = _request(parts.host, method, parts.raw_path.decode(), token, body)
    latencies: list[float] = []
    window = Window()
    await asyncio.gather(*(_connection(parts.host, parts.port or 80, request, window, latencies)
                           for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - window.start
    latencies.sort()
    return len(latencies) / elapsed, latencies[int(len(latencies) * quantile)] * 1000


LINES = (
    ("health", "GET /healthz", None),
    ("area", "GET /api/v1/areas/{code} (database read)", None),
    # The general write path: a transaction of its own per request, one at a time per worker (no
    # group commit). The submission target (issue 3) is the group-committed filing's, in
    # bench_applications; these show what a route gets without it.
    ("insert", "POST JSON, bearer token, one-row insert in a unit of work of its own (def route)", None),
    ("insert_async", "POST JSON, bearer token, one-row insert in a unit of work of its own (async def route)", None),
)


def run(report) -> None:  # noqa: ANN001
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "YIWANG_VAR_DIR": tmp, "YIWANG_LOG_LEVEL": "WARNING"}
        subprocess.run([sys.executable, "-m", "yiwang.cli", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        token = subprocess.run([sys.executable, "-c", _SETUP], cwd=ROOT, env=env, check=True,  # noqa: S603
                               capture_output=True, text=True).stdout.strip().splitlines()[-1]
        figures = {}
        for name, app, factory in (("bare", "bench.web_bare:app", False),
                                   ("yiwang", "bench.bench_web:platform_app", True)):
            proc, url = _serve(app, env, factory=factory)
            try:
                figures[name, "health"] = asyncio.run(_load(url + "/healthz"))
                figures[name, "area"] = asyncio.run(_load(url + "/api/v1/areas/310101"))
                figures[name, "insert"] = asyncio.run(_load(url + "/api/v1/bench/submissions", "POST", token, BODY))
                figures[name, "insert_async"] = asyncio.run(
                    _load(url + "/api/v1/bench/submissions-async", "POST", token, BODY))
            finally:
                proc.terminate()
                proc.wait(10)
    for what, label, target in LINES:
        ours, base = figures["yiwang", what], figures["bare", what]
        baseline = "bare ASGI app, raw sqlite3 insert + commit" if what.startswith("insert") else "bare ASGI app, same server"
        report(f"{label}, 64 clients: throughput", ours[0], "req/s", baseline, base[0], target=target)
        report(f"{label}, 64 clients: p99", ours[1], "ms", baseline, base[1], higher_is_better=False)
