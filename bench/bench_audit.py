"""Audit trail: append (one entry per transaction, and batched) and verification speed.

Each figure runs beside its baseline, measured in the same run on the same machine:

- append, one entry per transaction  vs a raw ``sqlite3`` insert of a same-size row into a table of
  the same shape (same indexes), one per transaction;
- batched append (1,000 entries per transaction) vs raw ``executemany`` of the same rows;
- verify                              vs a pure-Python ``hashlib.sha256`` chain over the same bytes.

Both sides use the same PRAGMAs (WAL, ``synchronous=FULL``) in a temporary folder.
"""

from __future__ import annotations

import hashlib
import sqlite3
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.schema import CreateIndex, CreateTable

from yiwang.audit import chain
from yiwang.audit import service as audit_service
from yiwang.audit.models import AuditChainHead, AuditCheckpoint, AuditEntry
from yiwang.core.actor import Actor
from yiwang.core.context import bound
from yiwang.core.db import Base, Database
from yiwang.core.jobs import bind_settings
from yiwang.core.settings import Settings

SINGLE_SECONDS = 2.5
BATCH = 1_000
BATCHES = 100
ROUNDS = 3
"""Verification and its baseline each run this many times; the best run counts (shared machines)."""
ACTOR = Actor(kind="staff", user_id="01HZXW3K9Q8R7T6Y5U4I3O2P1A")


def _entry(i: int) -> dict:
    return {
        "action": "registry.person.read_personal", "target_type": "person",
        "target_id": f"01HZXW3K9Q8R7T6Y5U4{i:07d}", "area_code": "310101002001",
        "purpose": "核实低保资格", "detail": {"fields": ["id_number", "phone"], "n": i},
    }


def _raw_db(path: Path) -> sqlite3.Connection:
    """A bare sqlite3 connection with the platform's PRAGMAs and a table shaped like audit_entries."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA cache_size=-65536")
    dialect = create_engine("sqlite://").dialect
    table = AuditEntry.__table__
    conn.execute(str(CreateTable(table).compile(dialect=dialect)))
    for index in table.indexes:
        conn.execute(str(CreateIndex(index).compile(dialect=dialect)))
    return conn


def _rows(first_seq: int, n: int) -> list[tuple]:
    """Same-size rows as the audit trail writes (fixed hashes: the baseline does no hashing)."""
    at = "2025-01-01 08:00:00.000000"
    return [
        (0, first_seq + i, at, ACTOR.label, ACTOR.user_id, "registry.person.read_personal", "person",
         f"01HZXW3K9Q8R7T6Y5U4{i:07d}", "310101002001", "核实低保资格", "ok", "01HZXW3K9Q8R7T6Y5U4I3O2P1Z",
         "10.0.0.9", chain.detail_text({"fields": ["id_number", "phone"], "n": i}), "0" * 64, "f" * 64)
        for i in range(n)
    ]


_INSERT = f"INSERT INTO audit_entries ({', '.join(chain.FIELDS)}, prev_hash, hash) VALUES ({', '.join('?' * 16)})"


def _platform_db(folder: Path) -> Database:
    settings = Settings(var_dir=folder, env="prod", log_level="WARNING")
    db = Database(settings)
    bind_settings(db.engine, settings)
    Base.metadata.create_all(db.engine, tables=[AuditEntry.__table__, AuditChainHead.__table__,
                                                AuditCheckpoint.__table__])
    return db


def _bench_single(folder: Path, report) -> None:  # noqa: ANN001
    db = _platform_db(folder / "single")
    n = 0
    started = time.perf_counter()
    with bound("01HZXW3K9Q8R7T6Y5U4I3O2P1Z", "10.0.0.9"):
        while time.perf_counter() - started < SINGLE_SECONDS:
            with db.transaction() as s:
                audit_service.record(s, ACTOR, **_entry(n))
            n += 1
    ours = n / (time.perf_counter() - started)
    db.dispose()

    raw = _raw_db(folder / "raw-single.db")
    rows = _rows(1, 1)
    n = 0
    started = time.perf_counter()
    while time.perf_counter() - started < SINGLE_SECONDS:
        raw.execute("BEGIN IMMEDIATE")
        raw.execute(_INSERT, (*rows[0][:1], n + 1, *rows[0][2:]))
        raw.execute("COMMIT")
        n += 1
    base = n / (time.perf_counter() - started)
    raw.close()
    report("append, 1 entry per transaction", ours, "entries/s", "raw sqlite3 insert per transaction", base)


def _bench_batched(folder: Path, report) -> Database:  # noqa: ANN001
    db = _platform_db(folder / "batched")
    batches = [[_entry(b * BATCH + i) for i in range(BATCH)] for b in range(BATCHES)]
    started = time.perf_counter()
    with bound("01HZXW3K9Q8R7T6Y5U4I3O2P1Z", "10.0.0.9"):
        for batch in batches:
            with db.transaction() as s:
                audit_service.record_many(s, ACTOR, batch)
    ours = BATCH * BATCHES / (time.perf_counter() - started)

    raw = _raw_db(folder / "raw-batched.db")
    raw_batches = [_rows(b * BATCH + 1, BATCH) for b in range(BATCHES)]
    started = time.perf_counter()
    for rows in raw_batches:
        raw.execute("BEGIN IMMEDIATE")
        raw.executemany(_INSERT, rows)
        raw.execute("COMMIT")
    base = BATCH * BATCHES / (time.perf_counter() - started)
    raw.close()
    report(f"batched append, {BATCH:,} per transaction", ours, "entries/s",
           "raw sqlite3 executemany per transaction", base, target="≥ 20,000 entries/s")
    return db


def _bench_verify(db: Database, report) -> None:  # noqa: ANN001
    ours = 0.0
    for _ in range(ROUNDS):
        with db.transaction(write=False) as s:
            started = time.perf_counter()
            result = audit_service.verify_chain(s)
            elapsed = time.perf_counter() - started
        assert result.ok, result.problems
        ours = max(ours, result.entries_checked / elapsed)

    # The same bytes the verifier hashes (each entry's canonical text after its predecessor's hex
    # hash), already in memory: the floor of any chain check in Python.
    with db.engine.connect() as conn:
        cols = ", ".join(chain.FIELDS)
        data = [r[0].encode() for r in conn.exec_driver_sql(
            f"SELECT json_array({cols}) FROM audit_entries WHERE chain_id = 0 ORDER BY seq")]
    sha256 = hashlib.sha256
    base = 0.0
    for _ in range(ROUNDS):
        started = time.perf_counter()
        h = chain.GENESIS.encode()
        for d in data:
            h = sha256(h + d).hexdigest().encode()
        base = max(base, len(data) / (time.perf_counter() - started))
    report(f"verify ({len(data):,} entries, best of {ROUNDS})", ours, "entries/s", "raw hashlib sha256 chain, same bytes, in memory", base,
           target="≥ 1/4 of baseline")


def run(report) -> None:  # noqa: ANN001
    with tempfile.TemporaryDirectory(prefix="yiwang-bench-audit-") as tmp:
        folder = Path(tmp)
        _bench_single(folder, report)
        db = _bench_batched(folder, report)
        _bench_verify(db, report)
        db.dispose()
