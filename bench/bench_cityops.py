"""Issue 4 (一网统管) figures, each beside its baseline of the same run.

a) Report intake over HTTP: ``POST /api/v1/cityops/reports/citizen`` with no category (the trained
   classifier decides), a point in a random grid of the demo city (so nearly none merges: the
   duplicate check runs and finds nothing), routed by the demo's rules — planned outside the
   writer's turn, then event, report, timeline, audit entries and notifications written in the
   worker's group commit (ADR 0014) — from 64 keep-alive clients, each a citizen with its own API
   token, measured for ``SECONDS`` after ``WARM_UP`` seconds of the same load
   (``bench_web.Window``; the bare side alike), served by ``python -m yiwang.core.server`` with 2
   workers on a temporary SQLite database that holds the demo city, its categories, rules and staff, a few hundred events
   and the classifier trained on them (``yiwang.demo.cityops``); beside the bare insert endpoint
   (``bench/web_bare.py``) on the same file, server and client. Target ≥ 1,000 reports/s.

b) The dispatcher's queue (``cityops.service.list_events`` for one district's dispatcher, first page)
   p95 with 1,000,000 events stored beside 10,000: plain rows bulk-inserted with executemany over
   the 16 districts. Both hold the same open backlog (:data:`OPEN_BACKLOG` events not yet closed —
   what a city has open depends on its daily intake, not on its history); every other event is
   closed. Target: ratio ≈ 1.

c) Open311 ``GET /open311/v2/requests.json`` (a plain client's first question: the last 90 days'
   requests, at most 1,000) p95 with 64 clients on the same server and database after (a), beside
   the bare app's ``GET /api/v1/areas/{code}`` (one small JSON answer, no database) p95.

``.venv/bin/python -m bench cityops``; everything lives in temporary directories.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.bench_web import (
    BODY,
    CONCURRENCY,
    DDL,
    ROOT,
    Window,
    _load,
    _request,
    _serve,
    exchange,
    p95s_alternating,
)

PATH = "/api/v1/cityops/reports/citizen"
OPEN311_PATH = "/open311/v2/requests.json"
WORLD_EVENTS = 300
BODIES_PER_CLIENT = 400


# -- a) report intake over HTTP -------------------------------------------------------------------
def setup_world() -> None:
    """Run in a subprocess with the bench's environment: the demo city with its staff and 一网统管
    (a few hundred events, the classifier trained), one citizen per client with an API token, and
    the bare app's table; prints one JSON line per client: its token and report bodies."""
    from sqlalchemy import text

    from yiwang.areas import service as areas_service
    from yiwang.core.actor import SYSTEM
    from yiwang.core.db import Database
    from yiwang.core.jobs import bind_settings
    from yiwang.core.settings import get_settings
    from yiwang.demo.city import load_city
    from yiwang.demo.cityops import TEXTS, _grid_shapes, _point_in, load_cityops
    from yiwang.demo.staff import load_staff
    from yiwang.identity import service as identity_service

    settings = get_settings()
    db = Database(settings)
    bind_settings(db.engine, settings)
    with db.transaction() as s:
        city = load_city(s)
    with db.transaction() as s:
        departments = {d.code: d.id for d in areas_service.list_departments(s)}
        load_staff(s, district_codes=city["district_codes"], street_codes=city["street_codes"],
                   departments=departments)
    with db.transaction() as s:
        load_cityops(s, district_codes=city["district_codes"], events=WORLD_EVENTS, seed=5)
    rng = random.Random(11)
    grids = _grid_shapes()
    codes = sorted(grids)
    with db.transaction() as s:
        for ddl in DDL:
            s.execute(text(ddl))
        for n in range(CONCURRENCY):
            user = identity_service.create_user(s, SYSTEM, username=f"bench_citizen{n}", password=None,
                                                kind="citizen", display_name=f"bench {n}",
                                                grants=[("citizen", "31", None)])
            token, _ = identity_service.create_token(s, SYSTEM, user.id, "bench")
            bodies = []
            for _ in range(BODIES_PER_CLIENT):
                lon, lat = _point_in(rng, grids[rng.choice(codes)])
                category = rng.choice(sorted(TEXTS))
                bodies.append({"description": rng.choice(TEXTS[category]).format(
                    road="漕溪北路", no=rng.randint(1, 999), place="公交站旁"), "lon": lon, "lat": lat})
            print(json.dumps({"token": token, "bodies": bodies}, ensure_ascii=False))


async def _reporter(host: str, port: int, requests: list[bytes], window: Window, latencies: list[float],
                    failures: Counter[str]) -> None:
    """One keep-alive connection reporting back to back until ``stop``, cycling through its bodies."""
    reader, writer = await asyncio.open_connection(host, port)
    n = 0
    try:
        while time.perf_counter() < window.stop:
            request = requests[n % len(requests)]
            n += 1
            t = time.perf_counter()
            status, answer = await exchange(reader, writer, request)
            if status != 201:
                failures[f"{status} {json.loads(answer or b'{}').get('error', '')}"] += 1
                continue
            if window.measured(t):
                latencies.append(time.perf_counter() - t)
    finally:
        writer.close()


async def _reports(url: str, clients: list[dict[str, Any]]) -> tuple[float, float, int, Counter[str], int]:
    """(reports per second, p99 in ms, measured reports, refusals, warm-up reports)."""
    parts = httpx.URL(url)
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    window = Window()
    jobs = [_reporter(parts.host, parts.port or 80, [_request(parts.host, "POST", PATH, c["token"], b)
                                                      for b in c["bodies"]], window, latencies, failures)
            for c in clients]
    await asyncio.gather(*jobs)
    elapsed = time.perf_counter() - window.start
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0.0
    return len(latencies) / elapsed, p99, len(latencies), failures, window.warm


def bench_intake(report) -> None:  # noqa: ANN001
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "YIWANG_VAR_DIR": tmp, "YIWANG_LOG_LEVEL": "WARNING",
               "YIWANG_CONFIG": str(Path(tmp) / "absent.toml")}
        subprocess.run([sys.executable, "-m", "yiwang.cli", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        started = time.perf_counter()
        out = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-c", "from bench.bench_cityops import setup_world; setup_world()"],
            cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
        clients = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        print(f"  (world set up in {time.perf_counter() - started:.1f}s)", file=sys.stderr)
        db_path = Path(tmp) / "yiwang.db"
        with sqlite3.connect(db_path) as conn:
            before = conn.execute("SELECT count(*) FROM cityops_reports").fetchone()[0]
        proc, url = _serve("bench.web_bare:app", env)
        try:
            bare = asyncio.run(_load(url + "/api/v1/bench/submissions", "POST", None, BODY))
        finally:
            proc.terminate()
            proc.wait(10)
        proc, url = _serve("bench.web_bare:app", env)
        try:
            bare_get = asyncio.run(_load(url + "/api/v1/areas/310101", quantile=0.95))
        finally:
            proc.terminate()
            proc.wait(10)
        proc, url = _serve("yiwang.asgi:app", env)
        try:
            ours = asyncio.run(_reports(url, clients))
            # c) what an Open311 client asks first: the requests of the last 90 days (at most 1,000)
            open311 = asyncio.run(_load(url + OPEN311_PATH, quantile=0.95))
            listed = len(httpx.get(url + OPEN311_PATH, timeout=30).json())
        finally:
            proc.terminate()
            proc.wait(10)
        with sqlite3.connect(db_path) as conn:
            stored = conn.execute("SELECT count(*) FROM cityops_reports").fetchone()[0] - before
            states = dict(conn.execute(
                "SELECT CASE WHEN r.merged THEN 'merged' ELSE e.status || coalesce('/' || e.triage_reason, '') END,"
                " count(*) FROM cityops_reports r JOIN cityops_events e ON e.id = r.event_id"
                " WHERE r.reporter_user_id IN (SELECT id FROM users WHERE username LIKE 'bench_citizen%')"
                " GROUP BY 1").fetchall())
    if stored != ours[2] + ours[4]:
        raise RuntimeError(f"{ours[2] + ours[4]} reports answered 201 but {stored} are stored")
    print(f"  outcomes of the reports: {states}", file=sys.stderr)
    baseline = "bare ASGI app, raw sqlite3 insert + commit (web_bare.py)"
    label = "POST /api/v1/cityops/reports/citizen (classify, duplicate check, route), 64 clients"
    report(f"{label}: throughput", ours[0], "req/s", baseline, bare[0], target="≥ 1,000/s")
    report(f"{label}: p99", ours[1], "ms", baseline, bare[1], higher_is_better=False)
    failed = sum(ours[3].values())
    if failed:
        print(f"  refused reports: {dict(ours[3])} beside {ours[2]} accepted", file=sys.stderr)
    report(f"{label}: refused (any non-201)", failed, "requests", "bare insert (any non-2xx fails its run)", 0,
           target="0", higher_is_better=False)
    dispatched = sum(n for k, n in states.items() if k == "dispatched")
    report(f"{label}: share dispatched at once", dispatched / max(stored, 1) * 100, "%",
           "every report (the rest waits in the triage queue or merged)", 100)
    report(f"GET {OPEN311_PATH} ({listed} requests in the answer), 64 clients: p95", open311[1], "ms",
           "bare ASGI app, GET /api/v1/areas/{code} (small JSON, no database)", bare_get[1],
           higher_is_better=False)
    report(f"GET {OPEN311_PATH}, 64 clients: throughput", open311[0], "req/s",
           "bare ASGI app, GET /api/v1/areas/{code}", bare_get[0])


# -- b) the dispatcher's queue with a million events ----------------------------------------------
SMALL, LARGE = 10_000, 1_000_000
OPEN_BACKLOG = 2_000
CHUNK = 50_000
CALLS = 300
WARM_UP = 20
DISTRICT = "310101"
OPEN = (("dispatched", 30), ("accepted", 35), ("handled", 15), ("triage", 8), ("returned", 7), ("reopened", 5))
_DT = "%Y-%m-%d %H:%M:%S.%f"
INSERT = (
    "INSERT INTO cityops_events (id, number, channel, category_code, description, lon, lat, cell, area_code,"
    " grid_code, community_code, street_code, district_code, status, urgency, priority, level, due_at,"
    " assignee_department_id, reporter_count, reopen_count, created_at, updated_at, closed_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'normal', 0, 'street', ?, ?, 1, 0, ?, ?, ?)"
)


def _rows(start: int, n: int, open_every: int, grids: list[str], rng: random.Random) -> list[tuple[Any, ...]]:
    """Events ``start`` … ``start + n - 1``: every ``open_every``-th open, the rest closed."""
    from yiwang.demo.cityops import TEXTS

    now = datetime.now(UTC)
    categories = sorted(TEXTS)
    moments = []
    for _ in range(4096):
        created = now - timedelta(days=rng.randrange(0, 1500), seconds=rng.randrange(86400))
        moments.append((created.strftime(_DT), (created + timedelta(days=rng.randrange(1, 6))).strftime(_DT),
                        f"{created:%Y%m%d}"))
    open_statuses = [s for s, w in OPEN for _ in range(w)]
    rows = []
    for k in range(n):
        i = start + k
        grid = grids[int(rng.random() * len(grids))]
        created, due, day = moments[int(rng.random() * len(moments))]
        is_open = i % open_every == 0
        status = open_statuses[i // open_every % len(open_statuses)] if is_open else "closed"
        lon, lat = 121.0 + rng.random(), 31.0 + rng.random()
        rows.append((f"01BENCHEV{i:017d}", f"{day}{i:08d}", "citizen", categories[i % len(categories)],
                     "路边有一堆暴露垃圾无人清理", lon, lat, f"{int(lon * 1000)}:{int(lat * 1000)}", grid, grid,
                     grid[:12], grid[:9], grid[:6], status, due, f"01BENCHDEPT{i % 64:015d}", created, created,
                     None if is_open else due))
    return rows


def _build(path: Path, n: int, seed: int) -> tuple[Any, float]:
    """A database of every table with ``n`` events (:data:`OPEN_BACKLOG` of them open), built in one
    transaction with the events' secondary indexes dropped for the load and built after it."""
    import yiwang.models  # noqa: F401 - every table
    from yiwang.core.db import Base, Database
    from yiwang.core.jobs import bind_settings
    from yiwang.core.settings import Settings
    from yiwang.demo.city import build_features

    settings = Settings(var_dir=path.parent, database_url=f"sqlite:///{path}", log_level="WARNING")
    db = Database(settings)
    bind_settings(db.engine, settings)
    Base.metadata.create_all(db.engine)
    table = Base.metadata.tables["cityops_events"]
    indexes = list(table.indexes)
    features, _ = build_features()
    grids = sorted(f["properties"]["code"] for f in features if f["properties"]["level"] == "grid")
    rng = random.Random(seed)
    started = time.perf_counter()
    with db.engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA cache_size = -1000000")
        for ix in indexes:
            ix.drop(conn)
        for first in range(0, n, CHUNK):
            conn.exec_driver_sql(INSERT, _rows(first, min(CHUNK, n - first), n // OPEN_BACKLOG, grids, rng))
        for ix in indexes:
            ix.create(conn)
    return db, time.perf_counter() - started


def _dispatcher() -> Any:
    from yiwang.core.actor import Actor, Grant

    return Actor(kind="staff", user_id="01BENCHDISPATCHER000000000", username=f"dispatcher.{DISTRICT}", grants=(
        Grant("dispatcher", DISTRICT, None, frozenset({"cityops.read", "cityops.dispatch"})),))


def _queue_p95s(dbs: list[Any]) -> list[tuple[float, int]]:
    """p95 of ``list_events`` on each database (``bench_web.p95s_alternating``)."""
    from yiwang.cityops import service as cityops_service

    actor = _dispatcher()
    return p95s_alternating(dbs, lambda session: cityops_service.list_events(session, actor).items, CALLS, WARM_UP)


def bench_queue(report) -> None:  # noqa: ANN001
    with tempfile.TemporaryDirectory() as tmp:
        small_db, _ = _build(Path(tmp) / "small.db", SMALL, seed=7)
        large_db, built = _build(Path(tmp) / "large.db", LARGE, seed=7)
        (small, small_rows), (large, large_rows) = _queue_p95s([small_db, large_db])
        small_db.dispose()
        large_db.dispose()
    if small_rows != large_rows:
        raise RuntimeError(f"queue pages differ: {small_rows} rows with {SMALL:,}, {large_rows} with {LARGE:,}")
    print(f"  ({LARGE:,} events built in {built:.1f}s; {OPEN_BACKLOG:,} open in both)", file=sys.stderr)
    report(f"dispatcher queue (district {DISTRICT}, first page of {large_rows}) p95, {LARGE:,} events", large, "ms",
           f"the same with {SMALL:,} events", small, target="ratio ≈ 1 (flat)", higher_is_better=False)


def run(report) -> None:  # noqa: ANN001
    bench_intake(report)
    bench_queue(report)
