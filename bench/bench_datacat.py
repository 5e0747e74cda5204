"""Issue 5 (open data) figures: CKAN ``package_search`` with 100,000 open datasets.

A temporary SQLite database holds 16 departments and :data:`DATASETS` open resources, bulk-inserted
with their index rows (``datacat_terms``: words of title, summary and tags cut by the same jieba the
service uses, title words, facet values) and one table distribution each. The app is served by
``python -m yiwang.core.server`` with 2 workers (as the other benches), and asked a mix of
:data:`QUERIES` (words, filters, both, the empty front-page query; facets on organization, groups,
res_format, tags) over HTTP:

- p95 at 1 client (after one warm-up pass, so answers come from the per-process cache keyed on the
  catalogue's generation) beside the bare app's ``GET /api/v1/areas/{code}`` at 1 client;
- throughput and p95 at 64 clients beside the bare app at 64 clients;
- the uncached path in process: ``search.query`` + loading the page's packages with the answer cache
  off, p95 over the mix (target ≤ 50 ms), and the empty front-page query separately (facets over
  every open row, counted on the process's columnar snapshot);
- the snapshot's rebuild, which each process does once after a committed catalogue change, beside a
  raw ``sqlite3`` read of the same columns.

``.venv/bin/python -m bench datacat``; everything lives in temporary directories.
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
from pathlib import Path
from urllib.parse import urlencode

import httpx

from bench.bench_web import CONCURRENCY, ROOT, SECONDS, _load, _request, _serve, exchange

DATASETS = 100_000
FACETS = '["organization","groups","res_format","tags"]'
WORDS = ["公交", "地铁", "站点", "线路", "空气质量", "水质", "监测", "企业", "登记", "注册", "学校", "医院", "药店",
         "养老", "机构", "停车场", "充电桩", "公园", "绿地", "道路", "桥梁", "路灯", "垃圾", "分类", "回收",
         "人口", "统计", "财政", "预算", "招标", "采购", "税务", "气象", "降雨", "河道", "水位", "噪声", "排放",
         "食品", "安全", "检查", "许可", "证照", "服务", "大厅", "窗口", "社区", "街道", "文化", "体育", "场馆",
         "图书馆", "博物馆", "旅游", "景区", "农业", "农产品", "价格", "就业", "岗位", "培训", "补贴", "住房",
         "公积金", "房屋", "租赁", "交通", "事故", "违法", "信用", "红名单", "黑名单", "专利", "科技", "项目"]
TOPICS = ["transport", "environment", "economy", "health", "education", "society", "public-safety", "urban",
          "culture", "agriculture", "government", "credit"]
CYCLES = ["realtime", "daily", "weekly", "monthly", "quarterly", "yearly", "irregular"]
FORMATS = ["CSV", "XLSX", "JSON"]
QUERIES = [
    {"q": "公交 站点"}, {"q": "空气质量 监测"}, {"q": "图书馆"}, {"q": "企业 信用 红名单"},
    {"q": "养老 机构", "fq": "groups:health"}, {"q": "停车场", "fq": "res_format:CSV"},
    {"fq": "organization:310101-jt AND groups:transport"}, {"fq": "tags:充电桩 AND opening:unconditional"},
    {"q": "河道 水位", "sort": "metadata_modified desc"}, {"q": "就业 补贴", "rows": 20},
    {"q": "食品 安全 检查", "fq": "update_cycle:monthly"}, {"q": "专利 科技 项目"},
]
FRONT_PAGE: dict[str, str] = {}
"""The portal's front page: no words, no filters, every facet (all 100,000 rows are counted)."""


def setup_world() -> None:
    """Run in a subprocess with the bench's environment: departments through the service, then the
    resources, their index rows and distributions in bulk with ``sqlite3``."""
    from yiwang.areas import service as areas_service
    from yiwang.core.actor import SYSTEM
    from yiwang.core.db import Database
    from yiwang.core.ids import new_id
    from yiwang.core.settings import get_settings
    from yiwang.datacat import search
    from yiwang.datacat.schemas import TOPICS as TOPIC_NAMES

    settings = get_settings()
    db = Database(settings)
    codes = ["JT", "HB", "SCJG", "WJ", "JY", "MZ", "GA", "ZJ", "WH", "NY", "CZ", "SW", "RS", "FG", "LY", "TJ"]
    with db.transaction() as s:
        areas_service.create_area(s, SYSTEM, code="31", name="上海市", level="city")
        areas_service.create_area(s, SYSTEM, code="310101", name="黄浦区", level="district", parent_code="31")
        deps = [(areas_service.create_department(s, SYSTEM, code=f"310101-{c}", name=f"黄浦区{c}局",
                                                 area_code="310101")) for c in codes]
    db.dispose()
    cut: dict[str, list[str]] = {}

    def words_of(text: str) -> list[str]:
        if text not in cut:
            cut[text] = search.words(text)
        return cut[text]

    rng = random.Random(5)
    path = settings.resolved_database_url.split("///", 1)[1]
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    now = time.time()
    resources, terms, dists = [], [], []
    for n in range(DATASETS):
        rid = new_id()
        title_words = rng.sample(WORDS, 3)
        title = "".join(title_words) + "数据"
        summary_words = rng.sample(WORDS, 3)
        tags = rng.sample(WORDS, 2)
        dep = deps[n % len(deps)]
        topic, cycle = rng.choice(TOPICS), rng.choice(CYCLES)
        opening = "conditional" if n % 10 == 0 else "unconditional"
        fmt = rng.choice(FORMATS)
        text_words: dict[str, None] = {}
        for part in [*title_words, "数据", *summary_words, *tags, *words_of(dep.name), *words_of(TOPIC_NAMES[topic])]:
            for w in words_of(part):
                text_words.setdefault(w, None)
        modified = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now - n * 37))
        resources.append((rid, f"ds-{n:06d}", f"310101-{n:08d}", title, dep.id, "、".join(summary_words), topic,
                          "table", cycle, "unconditional", "", opening, "", "cc-by-4.0",
                          json.dumps(tags, ensure_ascii=False), "2024-01-01", "open", 1, 0, 0,
                          " ".join(text_words), modified, modified))
        row_terms = set(text_words)
        terms.extend((t, rid) for t in row_terms if len(t) <= search.MAX_TERM)
        dists.append((new_id(), rid, 0, f"{title}.{fmt.lower()}", "", "table", fmt, new_id(), 0, 10, 1000,
                      modified, modified))
        if len(resources) >= 10_000:
            _flush(conn, resources, terms, dists)
            resources, terms, dists = [], [], []
    _flush(conn, resources, terms, dists)
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()


def _flush(conn: sqlite3.Connection, resources: list, terms: list, dists: list) -> None:
    conn.executemany(
        "INSERT INTO datacat_resources (id, name, code, title, department_id, summary, topic, format, update_cycle,"
        " sharing, sharing_conditions, opening, opening_conditions, license_id, tags, published_on, state,"
        " metadata_version, views, downloads, search_text, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", resources)
    conn.executemany("INSERT INTO datacat_terms (term, resource_id) VALUES (?, ?)", terms)
    conn.executemany(
        "INSERT INTO datacat_distributions (id, resource_id, position, name, description, kind, format,"
        " current_version_id, datastore_active, row_count, size, created_at, updated_at, steps)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '[]')", dists)
    conn.commit()


def _path(params: dict[str, str]) -> str:
    return "/api/3/action/package_search?" + urlencode({**params, "facet.field": FACETS})


async def _client(host: str, port: int, requests: list[bytes], stop: float, latencies: list[float],
                  offset: int) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    n = offset
    try:
        while time.perf_counter() < stop:
            t = time.perf_counter()
            status, answer = await exchange(reader, writer, requests[n % len(requests)])
            if status != 200:
                raise RuntimeError(f"package_search: {status} {answer[:200]!r}")
            latencies.append(time.perf_counter() - t)
            n += 1
    finally:
        writer.close()


async def _mix(url: str, paths: list[str], clients: int, seconds: float = SECONDS) -> tuple[float, float]:
    """(requests per second, p95 in ms) of ``clients`` keep-alive clients cycling through ``paths``."""
    parts = httpx.URL(url)
    requests = [_request(parts.host, "GET", p) for p in paths]
    latencies: list[float] = []
    started = time.perf_counter()
    stop = started + seconds
    await asyncio.gather(*(_client(parts.host, parts.port or 80, requests, stop, latencies, k)
                           for k in range(clients)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return len(latencies) / elapsed, latencies[int(len(latencies) * 0.95)] * 1000


def _uncached(env: dict[str, str]) -> dict[str, float]:
    """p95 (ms) of the uncached search + the page's packages in process, in a subprocess with the env."""
    code = """
import json, time
from bench.bench_datacat import QUERIES, FRONT_PAGE
from yiwang.core.db import Database
from yiwang.core.settings import get_settings
from yiwang.datacat import ckan, search
from yiwang.datacat.ckan import parse_fq
db = Database(get_settings())
FIELDS = ["organization", "groups", "res_format", "tags"]
def one(session, params):
    fq = parse_fq(params.get("fq", ""))
    if "organization" in fq:
        fq["organization"] = [ckan._department(session, v).id for v in fq["organization"]]
    found = search.query(session, q=params.get("q", ""), fq=fq, sort=params.get("sort", "score desc, metadata_modified desc"),
                         rows=int(params.get("rows", 10)), facet_fields=FIELDS, use_cache=False)
    ckan._packages(session, found.ids, "http://bench")
    return found.count
out = {}
for name, mix, rounds in (("mix", QUERIES, 10), ("front", [FRONT_PAGE], 5)):
    times = []
    with db.session(write=False) as s:
        for r in range(rounds + 1):
            for params in mix:
                t = time.perf_counter(); one(s, params); took = time.perf_counter() - t
                if r:
                    times.append(took)
    times.sort()
    out[name] = times[int(len(times) * 0.95)] * 1000
with db.session(write=False) as s:
    t = time.perf_counter(); search._Snapshot(s, None); out["snapshot"] = (time.perf_counter() - t) * 1000
import sqlite3
raw = sqlite3.connect(get_settings().resolved_database_url.removeprefix("sqlite:///"))
t = time.perf_counter()
raw.execute("SELECT id, name, title, updated_at, created_at, department_id, topic, update_cycle, opening, tags, "
            "state FROM datacat_resources ORDER BY id").fetchall()
raw.execute("SELECT DISTINCT resource_id, format FROM datacat_distributions").fetchall()
out["raw_select"] = (time.perf_counter() - t) * 1000
print(json.dumps(out))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,  # noqa: S603
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(report) -> None:  # noqa: ANN001
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "YIWANG_VAR_DIR": tmp, "YIWANG_LOG_LEVEL": "WARNING",
               "YIWANG_CONFIG": str(Path(tmp) / "absent.toml")}
        subprocess.run([sys.executable, "-m", "yiwang.cli", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "from bench.bench_datacat import setup_world; setup_world()"],  # noqa: S603
                       cwd=ROOT, env=env, check=True)
        print(f"  ({DATASETS:,} datasets set up in {time.perf_counter() - started:.1f}s)", file=sys.stderr)
        uncached = _uncached(env)
        paths = [_path(q) for q in [*QUERIES, FRONT_PAGE]]
        proc, url = _serve("bench.web_bare:app", env)
        try:
            bare_one = asyncio.run(_mix(url, ["/api/v1/areas/310101"], 1))
            bare_many = asyncio.run(_load(url + "/api/v1/areas/310101", quantile=0.95))
        finally:
            proc.terminate()
            proc.wait(10)
        proc, url = _serve("yiwang.asgi:app", env)
        try:
            counts = [httpx.get(url + p, timeout=120).json()["result"]["count"] for p in paths]  # warm both workers
            for p in paths:
                httpx.get(url + p, timeout=120)
            one = asyncio.run(_mix(url, paths, 1))
            many = asyncio.run(_mix(url, paths, CONCURRENCY))
        finally:
            proc.terminate()
            proc.wait(10)
    print(f"  matches per query: {counts}", file=sys.stderr)
    label = f"package_search, {DATASETS:,} datasets, mix of {len(paths)} queries with 4 facets"
    report(f"{label}, 1 client: p95", one[1], "ms", "bare ASGI app GET, 1 client", bare_one[1],
           target="≤ 50 ms", higher_is_better=False)
    report(f"{label}, 64 clients: throughput", many[0], "req/s", "bare ASGI app GET, 64 clients", bare_many[0],
           target="≥ 700/s")
    report(f"{label}, 64 clients: p95", many[1], "ms", "bare ASGI app GET, 64 clients", bare_many[1],
           higher_is_better=False)
    report("search uncached (query + facets + 10 packages, in process): p95 over the word/filter mix",
           uncached["mix"], "ms", "bare ASGI app GET, 1 client", bare_one[1], target="≤ 50 ms",
           higher_is_better=False)
    report("search uncached: the empty front-page query (facets over every open row)", uncached["front"], "ms",
           "bare ASGI app GET, 1 client", bare_one[1], higher_is_better=False)
    report(f"search snapshot rebuild after a catalogue change ({DATASETS:,} datasets, once per process)",
           uncached["snapshot"], "ms", "raw sqlite3 SELECT of the same columns", uncached["raw_select"],
           higher_is_better=False)
