"""Issue 3 (一网通办) figures of the applications domain, each beside its baseline of the same run.

a) Submissions over HTTP: ``POST /api/v1/applications`` with ``submit=true`` (a whole submission:
   form checked against the item's schema, materials the platform holds looked up, form encrypted
   and every row built in the plan; application, branch, materials, timeline event, audit entry and
   the applicant's notification written by the apply in the worker's group commit, ADR 0014), 64 keep-alive clients each signed in with its own citizen's API token and
   a fresh ``Idempotency-Key`` per request, measured for ``SECONDS`` after ``WARM_UP`` seconds of
   the same load (``bench_web.Window``; the bare side alike), served by uvicorn with 2 workers on a
   temporary SQLite database — beside the bare ASGI app's raw ``sqlite3`` insert + commit of one application-shaped
   row (``bench/web_bare.py``) on the same file, server and client. The item filed is the bench
   world's 食品经营许可 whose only material is the applicant's ID card, which the person registry
   stands in for (两个免于提交), so no upload is needed per request.
   Targets: ≥ 2,000/s and ≥ 1/3 of the bare insert. Run twice: with the default
   ``synchronous=FULL`` (the target's figure), then with ``NORMAL`` on both sides (ADR 0010), so an
   operator sees what durability costs on this disk.

b) The approver's inbox (``applications.service.inbox``, one department, first page) p95 with
   1,000,000 applications on file beside the same with 10,000: one SQLite file filled by bulk
   inserts (executemany of plain rows, one transaction per size) with a realistic spread over
   departments and statuses (most closed), timed at 10,000 then grown to 1,000,000 and timed
   again. Target: ratio ≈ 1 (the page is an index range, whatever the table holds).

``.venv/bin/python -m bench applications``; everything lives in temporary directories.
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
from datetime import UTC, date, datetime, timedelta
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

ITEM = "SCJG-901"
"""The bench world's item whose every material the platform holds (the person registry)."""
PATH = "/api/v1/applications"


# -- a) submissions over HTTP ---------------------------------------------------------------------
def bench_item() -> dict[str, Any]:
    """食品经营许可（告知承诺）: the demo's food licence form, the ID card its only material."""
    from yiwang.demo.catalog import ID_CARD, SHOP, item

    return item(ITEM, "食品经营许可（告知承诺制）", "SCJG", "licence", 20, 1, 4, [ID_CARD],
                [("申请人", ["applicant_name", "id_number", "mobile"]),
                 ("经营信息", ["entity_name", "food_category", "floor_area"]), *SHOP],
                ["食品经营许可证", "告知承诺"], cert=("FBL", "食品经营许可证"))


def setup_world() -> None:
    """Run in a subprocess with the bench's environment: the 开办餐饮店 items and bundle, the bench
    item, one citizen per client with a person record and an API token; prints one JSON line per
    client (token and form), and creates the bare app's table."""
    from sqlalchemy import text

    from yiwang.areas import service as areas_service
    from yiwang.catalog import service as catalog_service
    from yiwang.core.actor import SYSTEM
    from yiwang.core.db import Database
    from yiwang.core.jobs import bind_settings
    from yiwang.core.settings import get_settings
    from yiwang.demo.catalog import build_document
    from yiwang.demo.city import CITY_DEPARTMENTS
    from yiwang.demo.registry import generate_persons
    from yiwang.identity import service as identity_service
    from yiwang.registry import service as registry_service

    settings = get_settings()
    db = Database(settings)
    bind_settings(db.engine, settings)
    with db.transaction() as s:
        areas_service.create_area(s, SYSTEM, code="31", name="上海市", level="city")
        areas_service.create_area(s, SYSTEM, code="310101", name="黄浦区", level="district", parent_code="31")
        for suffix, name, kind in CITY_DEPARTMENTS:
            areas_service.create_department(s, SYSTEM, code=f"31-{suffix}", name=name, kind=kind, area_code="31")
        doc = build_document()
        restaurant = {"SCJG-001", "SCJG-003", "LHSR-001"}
        catalog_service.import_catalog(s, SYSTEM, json.dumps({
            "items": [i for i in doc["items"] if i["code"] in restaurant] + [bench_item()],
            "bundles": [b for b in doc["bundles"] if b["code"] == "YJS-001"]}, ensure_ascii=False), "json")
        for ddl in DDL:
            s.execute(text(ddl))
        for n, p in enumerate(generate_persons(["310101"], CONCURRENCY, seed=3)):
            person = registry_service.create_person(s, SYSTEM, {**p, "area_code": "310101"})
            user = identity_service.create_user(s, SYSTEM, username=f"bench_citizen{n}", password=None,
                                                kind="citizen", display_name=f"bench {n}",
                                                grants=[("citizen", "31", None)], person_id=person.id)
            token, _ = identity_service.create_token(s, SYSTEM, user.id, "bench")
            # A child in the registry has no phone of its own: the parent's number stands in.
            form = {"applicant_name": p["name"], "id_number": p["id_number"], "mobile": p["phone"] or f"139{n:08d}",
                    "entity_name": f"上海{p['name']}小吃店", "food_category": "catering", "floor_area": 40 + n,
                    "business_address": "上海市黄浦区南京东路100号", "area_code": "310101002"}
            print(json.dumps({"token": token, "data": form}, ensure_ascii=False))


async def _submitter(host: str, port: int, head: bytes, body: bytes, client: int, window: Window,
                     latencies: list[float], failures: Counter[str]) -> None:
    """One keep-alive connection filing back to back until ``stop``, each request with a new
    Idempotency-Key (so each is a real submission, never a replay of the first). The same minimal
    client as ``bench_web``'s, which sends one fixed request and so cannot vary the key. A refused
    submission is counted by its status and error code (and left out of the latencies)."""
    reader, writer = await asyncio.open_connection(host, port)
    n = 0
    try:
        while time.perf_counter() < window.stop:
            n += 1
            t = time.perf_counter()
            status, answer = await exchange(
                reader, writer, head + f"Idempotency-Key: bench-{client:03d}-{n:08d}\r\n\r\n".encode() + body)
            if status != 201:
                failures[f"{status} {json.loads(answer or b'{}').get('error', '')}"] += 1
                continue
            if window.measured(t):
                latencies.append(time.perf_counter() - t)
    finally:
        writer.close()


async def _submissions(url: str, clients: list[dict[str, Any]]) -> tuple[float, float, int, Counter[str], int]:
    """(submissions per second, p99 in ms, measured submissions, refusals, warm-up submissions)."""
    parts = httpx.URL(url)
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    jobs = []
    window = Window()
    for n, c in enumerate(clients):
        body = {"subject_kind": "item", "subject_code": ITEM, "data": c["data"], "submit": True}
        whole = _request(parts.host, "POST", PATH, c["token"], body)
        head, _, payload = whole.partition(b"\r\n\r\n")
        jobs.append(_submitter(parts.host, parts.port or 80, head + b"\r\n", payload, n, window, latencies, failures))
    await asyncio.gather(*jobs)
    elapsed = time.perf_counter() - window.start
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0.0
    return len(latencies) / elapsed, p99, len(latencies), failures, window.warm


def _submissions_run(sync: str) -> tuple[tuple[float, float], tuple[float, float, int, Counter[str], int]]:
    """(bare insert, platform) with ``synchronous=sync`` on both, each on a new database."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "YIWANG_VAR_DIR": tmp, "YIWANG_LOG_LEVEL": "WARNING",
               "YIWANG_CONFIG": str(Path(tmp) / "absent.toml"), "YIWANG_SQLITE_SYNCHRONOUS": sync}
        subprocess.run([sys.executable, "-m", "yiwang.cli", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        out = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-c", "from bench.bench_applications import setup_world; setup_world()"],
            cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
        clients = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        proc, url = _serve("bench.web_bare:app", env)
        try:
            bare = asyncio.run(_load(url + "/api/v1/bench/submissions", "POST", None, BODY))
        finally:
            proc.terminate()
            proc.wait(10)
        proc, url = _serve("yiwang.asgi:app", env)
        try:
            ours = asyncio.run(_submissions(url, clients))
        finally:
            proc.terminate()
            proc.wait(10)
        with sqlite3.connect(Path(tmp) / "yiwang.db") as conn:
            stored = conn.execute("SELECT count(*) FROM applications WHERE status = 'submitted'").fetchone()[0]
        if stored != ours[2] + ours[4]:
            raise RuntimeError(f"{ours[2] + ours[4]} submissions answered 201 but {stored} are stored")
    return bare, ours


def bench_submissions(report) -> None:  # noqa: ANN001
    """With the default ``synchronous=FULL`` (every acknowledged submission survives a power cut),
    then with ``NORMAL`` (an operator's choice, ADR 0010), each beside the bare insert with the same."""
    for sync in ("FULL", "NORMAL"):
        bare, ours = _submissions_run(sync)
        baseline = f"bare ASGI app, raw sqlite3 insert + commit, synchronous={sync} (web_bare.py)"
        label = f"POST /api/v1/applications submit=true, 64 clients, synchronous={sync}"
        report(f"{label}: throughput", ours[0], "req/s", baseline, bare[0],
               target="≥ 2,000/s and ≥ 1/3 of the bare insert" if sync == "FULL" else None)
        report(f"{label}: p99", ours[1], "ms", baseline, bare[1], higher_is_better=False)
        failed = sum(ours[3].values())
        if failed:
            print(f"  refused submissions: {dict(ours[3])} beside {ours[2]} accepted", file=sys.stderr)
        report(f"{label}: refused (any non-201)", failed, "requests",
               "bare insert (any non-2xx fails its run)", 0, target="0", higher_is_better=False)


# -- b) the inbox with a million applications -------------------------------------------------------
SMALL, LARGE = 10_000, 1_000_000
CHUNK = 50_000
CALLS = 300
WARM_UP = 20
#: Department code → share of branches (the busy bureaus first).
DEPARTMENT_SHARES = (("SCJG", 30), ("GAJ", 20), ("WJW", 12), ("LHSR", 10), ("ZJW", 8), ("XFJY", 6), ("SWJ", 5),
                     ("CGZF", 5), ("SJJ", 2), ("CYZX", 2))
#: Application status (outcome) → share: most applications ever filed are closed.
STATUS_SHARES = (("closed/approved", 760), ("closed/partly_approved", 20), ("closed/rejected", 60),
                 ("withdrawn", 30), ("refused", 20), ("in_review", 70), ("correction", 10), ("submitted", 20),
                 ("draft", 10))
DEPARTMENTS = {code: f"01BENCHDEPT{n:015d}" for n, (code, _) in enumerate(DEPARTMENT_SHARES)}
_DT = "%Y-%m-%d %H:%M:%S.%f"
_DATA = "v1." + "Q" * 180
"""A stand-in of the encrypted form: about the length of a small form's token."""

INSERT_APP = (
    "INSERT INTO applications (id, number, subject_kind, subject_code, subject_version_id, subject_name,"
    " applicant_kind, applicant_person_id, owner_user_id, filed_by_user_id, channel, area_code, status, outcome,"
    " data_enc, created_at, submitted_at, accepted_at, closed_at, updated_at)"
    " VALUES (?, ?, 'item', 'SCJG-003', ?, '食品经营许可', 'person', ?, ?, ?, 'online', '310101', ?, ?, ?, ?, ?, ?,"
    " ?, ?)"
)
INSERT_BRANCH = (
    "INSERT INTO application_branches (id, application_id, position, item_code, item_version_id, item_name,"
    " department_id, area_code, status, workflow_instance_id, tasks, limit_days, started_on, due_date,"
    " due_estimated, pauses, paused_since, decided_at, updated_at)"
    " VALUES (?, ?, ?, 'SCJG-003', ?, '食品经营许可', ?, '31', ?, ?, ?, 10, ?, ?, 0, '[]', ?, ?, ?)"
)
_VERSION = "01BENCHVERSION000000000001"
_TASKS = json.dumps([["01BENCHTASK000000000000000", "Task_review", "受理审查", "窗口"]], ensure_ascii=False)
_BRANCH_OF = {"closed/approved": ("approved",), "closed/partly_approved": ("approved", "rejected"),
              "closed/rejected": ("rejected",), "withdrawn": ("withdrawn",), "refused": ("withdrawn",),
              "in_review": ("in_review",), "correction": ("correction",), "submitted": ("pending",),
              "draft": ("pending",)}


def _weighted(rng: random.Random, shares: tuple[tuple[str, int], ...], n: int) -> list[str]:
    return rng.choices([k for k, _ in shares], weights=[w for _, w in shares], k=n)


def _moments(rng: random.Random, now: datetime, days: tuple[int, int], size: int = 4096) -> list[tuple[str, ...]]:
    """A pool of (created, started, closed, due) of applications filed ``days`` ago (as stored):
    formatting dates row by row would cost more than inserting them."""
    out = []
    for _ in range(size):
        created = now - timedelta(days=rng.randrange(*days), seconds=rng.randrange(86400))
        started = (created + timedelta(days=1)).date()
        closed = created + timedelta(days=rng.randrange(1, 20))
        due = started + timedelta(days=rng.randrange(5, 30))
        out.append((created.strftime(_DT), started.isoformat(), closed.strftime(_DT), due.isoformat(),
                    f"{created:%Y%m%d}"))
    return out


def _rows(start: int, n: int, today: date, rng: random.Random
          ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Applications ``start`` … ``start + n - 1`` with their branches (a sixth are bundles of three),
    as plain rows in the order of :data:`INSERT_APP` and :data:`INSERT_BRANCH`."""
    apps, branches = [], []
    statuses = _weighted(rng, STATUS_SHARES, n)
    depts = [DEPARTMENTS[d] for d in _weighted(rng, DEPARTMENT_SHARES, n * 3)]
    now = datetime.now(UTC)
    recent, old = _moments(rng, now, (0, 40)), _moments(rng, now, (20, 1500))
    paused = today.isoformat()
    pick = rng.random
    for k in range(n):
        i = start + k
        status = statuses[k]
        app_id = f"01BENCHAPP{i:016d}"
        closes = status.startswith("closed")
        pool = old if closes or status in ("withdrawn", "refused") else recent
        created, started, closed_at, due, day = pool[int(pick() * len(pool))]
        closed = closed_at if closes else None
        plain, _, outcome = status.partition("/")
        owner = f"01BENCHUSER{i % 50_000:015d}"
        apps.append((
            app_id, f"{day}{i:08d}", _VERSION, f"01BENCHPERSON{i % 50_000:013d}", owner, owner, plain,
            outcome or None, _DATA, created, None if status == "draft" else created,
            None if status in ("draft", "submitted", "refused") else created, closed, closed or created,
        ))
        kinds = _BRANCH_OF[status]
        for position in range(3 if pick() < 1 / 6 else 1):
            b_status = kinds[position % len(kinds)]
            pending = b_status == "pending"
            branches.append((
                f"01BENCHBR{i:015d}{position:02d}", app_id, position, _VERSION, depts[k * 3 + position], b_status,
                None if pending else f"01BENCHWF{i:015d}{position:02d}",
                _TASKS if b_status in ("in_review", "correction") else "[]", None if pending else started,
                None if pending else due, paused if b_status == "correction" else None, closed, closed or created,
            ))
    return apps, branches


def _build(path: Path, n: int, seed: int) -> tuple[Any, float]:
    """A database file of every table with ``n`` applications and their branches, built in one
    transaction; the two tables' secondary indexes are dropped for the load and built again after
    it (a sort instead of a million random inserts: the same indexes, a fraction of the time)."""
    import yiwang.models  # noqa: F401 - every table
    from yiwang.core.db import Base, Database
    from yiwang.core.jobs import bind_settings
    from yiwang.core.settings import Settings
    from yiwang.workdays import service as workdays_service

    settings = Settings(var_dir=path.parent, database_url=f"sqlite:///{path}", log_level="WARNING")
    db = Database(settings)
    bind_settings(db.engine, settings)
    Base.metadata.create_all(db.engine)
    tables = [Base.metadata.tables["applications"], Base.metadata.tables["application_branches"]]
    indexes = [ix for t in tables for ix in t.indexes]
    rng, today = random.Random(seed), workdays_service.today()
    started = time.perf_counter()
    with db.engine.begin() as conn:
        # The build only: a page cache big enough for the unique indexes' random-order inserts.
        conn.exec_driver_sql("PRAGMA cache_size = -1000000")
        for ix in indexes:
            ix.drop(conn)
        for first in range(0, n, CHUNK):
            apps, branches = _rows(first, min(CHUNK, n - first), today, rng)
            conn.exec_driver_sql(INSERT_APP, apps)
            conn.exec_driver_sql(INSERT_BRANCH, branches)
        for ix in indexes:
            ix.create(conn)
    return db, time.perf_counter() - started


def _approver() -> Any:
    from yiwang.core.actor import Actor, Grant

    return Actor(kind="staff", user_id="01BENCHAPPROVER00000000000", username="approver.scjg", grants=(
        Grant("approver", "31", DEPARTMENTS["SCJG"], frozenset({"application.decide", "application.read"})),))


def _inbox_p95s(dbs: list[Any]) -> list[tuple[float, int]]:
    """p95 of ``inbox`` on each database (``bench_web.p95s_alternating``)."""
    from yiwang.applications import service as applications_service

    actor = _approver()
    return p95s_alternating(dbs, lambda session: applications_service.inbox(session, actor), CALLS, WARM_UP)


def bench_inbox(report) -> None:  # noqa: ANN001
    with tempfile.TemporaryDirectory() as tmp:
        small_db, _ = _build(Path(tmp) / "small.db", SMALL, seed=7)
        large_db, built = _build(Path(tmp) / "large.db", LARGE, seed=7)
        (small, small_rows), (large, large_rows) = _inbox_p95s([small_db, large_db])
        small_db.dispose()
        large_db.dispose()
    if small_rows != large_rows:
        raise RuntimeError(f"inbox pages differ: {small_rows} rows with {SMALL:,}, {large_rows} with {LARGE:,}")
    print(f"  ({LARGE:,} applications built in {built:.1f}s)", file=sys.stderr)
    report(f"approver inbox (one department, first page of {large_rows}) p95, {LARGE:,} applications", large, "ms",
           f"the same with {SMALL:,} applications", small, target="ratio ≈ 1 (flat)", higher_is_better=False)


def run(report) -> None:  # noqa: ANN001
    bench_submissions(report)
    bench_inbox(report)
