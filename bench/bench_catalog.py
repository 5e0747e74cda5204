"""Catalogue search with the demo catalogue (55 items, 4 bundles) in a temporary SQLite database.

- searches per second through ``catalog.service.search`` (jieba words + synonyms + field-weighted
  ranking, index warm, one version-token query per search), against a bare SQL ``LIKE '%q%'`` over
  the current item names — one query per search, no ranking, no synonyms — in the same run;
- the index build (read from the database, teach jieba the words) against reading the same rows.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

QUERIES = ["开餐馆", "营业执照", "我想开个饭店", "身份证", "生孩子上户口", "消防检查", "装修", "开理发店"]
SECONDS = 2.0


def _rate(fn) -> float:  # type: ignore[no-untyped-def]
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < SECONDS:
        fn(QUERIES[n % len(QUERIES)])
        n += 1
    return n / (time.perf_counter() - start)


def run(report) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    import yiwang.models  # noqa: F401 - every table
    from yiwang.areas import service as areas_service
    from yiwang.catalog import repository, search
    from yiwang.catalog import service as catalog_service
    from yiwang.catalog.models import ServiceItem, ServiceItemVersion
    from yiwang.core.actor import SYSTEM
    from yiwang.core.db import Base, Database
    from yiwang.core.settings import Settings
    from yiwang.demo.catalog import load_catalog
    from yiwang.demo.city import CITY_DEPARTMENTS

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Settings(var_dir=Path(tmp), env="test", log_level="WARNING"))
        Base.metadata.create_all(db.engine)
        with db.transaction() as s:
            areas_service.create_area(s, SYSTEM, code="31", name="上海市", level="city")
            for suffix, name, kind in CITY_DEPARTMENTS:
                areas_service.create_department(s, SYSTEM, code=f"31-{suffix}", name=name, kind=kind, area_code="31")
            load_catalog(s)
        with db.transaction() as s:
            catalog_service.search(s, "开餐馆")  # warm: jieba dictionary and the index

            def ranked(q: str) -> None:
                catalog_service.search(s, q)

            def like(q: str) -> None:
                list(s.scalars(select(ServiceItem.code)
                               .join(ServiceItemVersion, ServiceItemVersion.id == ServiceItem.current_version_id)
                               .where(ServiceItemVersion.name.like(f"%{q}%"))))

            report("search (jieba + synonyms + ranking)", _rate(ranked), "queries/s",
                   "SQL LIKE on names", _rate(like), target="≥ 0.3× LIKE")

            def build() -> None:
                search._build(s, repository.version_token(s))

            def read() -> None:
                repository.current_items(s)
                repository.current_bundles(s)

            n = 50
            t0 = time.perf_counter()
            for _ in range(n):
                build()
            t_build = (time.perf_counter() - t0) / n * 1000
            t0 = time.perf_counter()
            for _ in range(n):
                read()
            t_read = (time.perf_counter() - t0) / n * 1000
            report("index build", t_build, "ms", "read the rows", t_read, target="≤ 50 ms", higher_is_better=False)
        db.dispose()
