"""Backup throughput of a ~100 MB SQLite database, beside a raw file copy of the same file.

- ``sqlite backup API``: the online, consistent copy alone (``sqlite3.Connection.backup``);
- ``yiwang backup``: the whole ``create_backup`` — online copy, integrity check of the copy,
  SHA-256 of every file, fsync to disk, signed manifest, audit entry;
- baseline: ``shutil.copyfile`` of the same database file (not consistent while the app writes,
  and not fsynced: the backup's figure includes writing the copy to disk, the baseline's not).

Everything is in the page cache, so these are CPU/memory figures, not disk figures.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

SIZE_MB = 100
ROUNDS = 3


def run(report) -> None:
    import yiwang.models  # noqa: F401 - every table
    from yiwang.core.db import Base, Database
    from yiwang.core.jobs import bind_settings
    from yiwang.core.settings import Settings
    from yiwang.ops import service as ops_service

    with tempfile.TemporaryDirectory(prefix="yiwang-bench-ops-") as tmp:
        root = Path(tmp)
        settings = Settings(var_dir=root / "var", database_url="", log_level="WARNING")
        db = Database(settings, poolless=True)
        bind_settings(db.engine, settings)
        Base.metadata.create_all(db.engine)
        db.dispose()
        path = settings.var_dir / "yiwang.db"
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE bench_blobs (id INTEGER PRIMARY KEY, body BLOB)")
        chunk = 64 * 1024
        conn.executemany("INSERT INTO bench_blobs (body) VALUES (?)",
                         ((os.urandom(chunk),) for _ in range(SIZE_MB * 1024 * 1024 // chunk)))
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        megabytes = path.stat().st_size / (1024 * 1024)

        copies = iter(range(1_000))

        def raw_copy() -> None:
            shutil.copyfile(path, root / f"copy-{next(copies)}.db")

        def api_copy() -> None:
            src = sqlite3.connect(path)
            dst = sqlite3.connect(root / f"api-{next(copies)}.db")
            dst.execute("PRAGMA journal_mode=OFF")  # as ops.service does
            dst.execute("PRAGMA synchronous=OFF")
            src.backup(dst, pages=-1)
            dst.close()
            src.close()

        def full_backup() -> None:
            ops_service.create_backup(settings, root / f"backup-{next(copies)}")

        # Interleaved rounds, best of each: the machine is shared and the page cache is busy.
        best = {"raw": float("inf"), "api": float("inf"), "full": float("inf")}
        for _ in range(ROUNDS):
            for name, fn in (("raw", raw_copy), ("api", api_copy), ("full", full_backup)):
                started = time.perf_counter()
                fn()
                best[name] = min(best[name], time.perf_counter() - started)
        baseline = megabytes / best["raw"]
        report("sqlite backup API", megabytes / best["api"], "MB/s", "shutil.copyfile", baseline,
               target="≥ 0.25× raw copy")
        report("yiwang backup (copy+check+hash+sign)", megabytes / best["full"], "MB/s",
               "shutil.copyfile", baseline, target="≥ 0.1× raw copy")
