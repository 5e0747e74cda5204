"""Registry: CSV import throughput and exact look-ups through the blind index.

In a temporary SQLite database (WAL, ``synchronous=FULL``, as in production) with a small city:

- CSV import of 10,000 persons through ``registry.service.import_persons_csv`` (parse, check every
  row — check digit, mobile, area, duplicates in the file and in the table — encrypt four fields,
  two blind indexes, Core executemany, one audit entry, commit), against a raw ``sqlite3``
  ``executemany`` of 10,000 plain five-column rows into an indexed table, committed, in the same run;
- look-ups by ID number: the blind-index path alone (HMAC + indexed SELECT of the row through the
  repository) against a raw indexed ``SELECT`` on the plain ID number and a Python dict; and the full
  audited service read (HMAC, SELECT, decrypt, mask, append a hash-chained audit entry, commit — a
  durable commit per read) against a raw ``SELECT`` + ``INSERT`` of a log row + ``COMMIT`` per read.

No targets were set for these figures; they are measured to be watched.
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
import time
from pathlib import Path

ROWS = 10_000
LOOKUP_SECONDS = 2.0
STREETS = [f"310101{i:03d}" for i in range(1, 11)]


def _timed(fn, seconds: float) -> float:  # type: ignore[no-untyped-def]
    """Calls per second of ``fn(i)`` over about ``seconds``."""
    n = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(50):
            fn(n)
            n += 1
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - started)


def run(report) -> None:  # type: ignore[no-untyped-def]
    import yiwang.models  # noqa: F401 - every table
    from yiwang.areas import service as areas_service
    from yiwang.core.actor import SYSTEM
    from yiwang.core.db import Base, Database
    from yiwang.core.fieldcrypt import FieldCipher
    from yiwang.core.jobs import bind_settings
    from yiwang.core.settings import Settings
    from yiwang.demo.registry import generate_persons
    from yiwang.registry import repository
    from yiwang.registry import service as registry_service

    people = generate_persons(STREETS, ROWS, seed=11)
    header = "name,id_number,phone,address,area_code\n"
    body = "".join(f'{p["name"]},{p["id_number"]},{p["phone"]},"{p["address"]}",{p["area_code"]}\n'
                   for p in people)
    data = (header + body).encode()

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(var_dir=Path(tmp), env="test", log_level="WARNING")
        db = Database(settings)
        bind_settings(db.engine, settings)
        Base.metadata.create_all(db.engine)
        with db.transaction() as s:
            areas_service.create_area(s, SYSTEM, code="31", name="上海市", level="city")
            areas_service.create_area(s, SYSTEM, code="310101", name="黄浦区", level="district", parent_code="31")
            for code in STREETS:
                areas_service.create_area(s, SYSTEM, code=code, name=code, level="street", parent_code="310101")

        # -- import ---------------------------------------------------------------------------
        started = time.perf_counter()
        with db.transaction() as s:
            got = registry_service.import_persons_csv(s, SYSTEM, data)
        import_seconds = time.perf_counter() - started
        assert got.imported == ROWS, got.errors[:3]

        raw = sqlite3.connect(str(Path(tmp) / "raw.db"), isolation_level=None)
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("PRAGMA synchronous=FULL")
        raw.execute("CREATE TABLE persons (id INTEGER PRIMARY KEY, name TEXT, id_number TEXT UNIQUE, phone TEXT,"
                    " address TEXT, area_code TEXT)")
        raw.execute("CREATE INDEX ix_area ON persons (area_code)")
        rows = [(p["name"], p["id_number"], p["phone"], p["address"], p["area_code"]) for p in people]
        started = time.perf_counter()
        raw.execute("BEGIN")
        raw.executemany("INSERT INTO persons (name, id_number, phone, address, area_code) VALUES (?,?,?,?,?)", rows)
        raw.execute("COMMIT")
        raw_seconds = time.perf_counter() - started
        report("CSV import, 10k persons (checked, encrypted, audited)", ROWS / import_seconds, "rows/s",
               "raw sqlite3 executemany of plain rows", ROWS / raw_seconds)

        # -- look-ups -------------------------------------------------------------------------
        rng = random.Random(3)
        numbers = [p["id_number"] for p in people]
        order = [rng.choice(numbers) for _ in range(4096)]
        cipher = FieldCipher.for_settings(settings)

        with db.transaction(write=False) as s:
            def blind(i: int) -> None:
                bidx = cipher.blind_index(order[i % 4096], registry_service.ID_NUMBER_INDEX)
                assert repository.person_by_id_number_index(s, bidx) is not None
                s.expunge_all()

            blind_rate = _timed(blind, LOOKUP_SECONDS)

        def audited(i: int) -> None:
            with db.transaction() as s:
                registry_service.find_person_by_id_number(s, SYSTEM, order[i % 4096])

        audited_rate = _timed(audited, LOOKUP_SECONDS)

        def raw_select(i: int) -> None:
            assert raw.execute("SELECT * FROM persons WHERE id_number = ?", (order[i % 4096],)).fetchone()

        raw_rate = _timed(raw_select, LOOKUP_SECONDS)
        raw.execute("CREATE TABLE reads (id INTEGER PRIMARY KEY, person_id INTEGER, at REAL)")

        def raw_logged(i: int) -> None:
            raw.execute("BEGIN IMMEDIATE")
            row = raw.execute("SELECT * FROM persons WHERE id_number = ?", (order[i % 4096],)).fetchone()
            raw.execute("INSERT INTO reads (person_id, at) VALUES (?, ?)", (row[0], time.time()))
            raw.execute("COMMIT")

        logged_rate = _timed(raw_logged, LOOKUP_SECONDS)
        table = {p["id_number"]: p for p in people}

        def dict_get(i: int) -> None:
            assert table[order[i % 4096]]

        dict_rate = _timed(dict_get, 0.5)

        report("blind-index look-up (HMAC + indexed SELECT, ORM row)", blind_rate, "lookups/s",
               "raw sqlite3 indexed SELECT on plain id", raw_rate)
        report("audited person look-up (service, own transaction each)", audited_rate, "lookups/s",
               "raw sqlite3 SELECT + INSERT log row + COMMIT each", logged_rate)
        report("blind-index look-up (HMAC + indexed SELECT, ORM row), vs dict", blind_rate, "lookups/s",
               "Python dict get", dict_rate)
        raw.close()
        db.dispose()
