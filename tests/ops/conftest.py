"""Fixtures of the backup and restore tests: a small dataset in the live database and var dir, and
an empty target (a new var dir, and on PostgreSQL a new empty database on the same server)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from yiwang.areas import service as areas_service
from yiwang.audit import service as audit_service
from yiwang.core.actor import SYSTEM
from yiwang.core.db import Database
from yiwang.core.jobs import bind_settings
from yiwang.core.settings import Settings

STORED = {
    "2026/11/a1b2c3.pdf": b"%PDF-1.7 scanned licence\n" + bytes(range(256)) * 8,
    "2026/11/photo.jpg": b"\xff\xd8\xff\xe0 drain photo " + b"\x00" * 1000,
    "readme.txt": "材料 — stored material\n".encode(),
}


@dataclass
class Dataset:
    settings: Settings
    audit_entries: int


def open_db(settings: Settings) -> Database:
    """A database whose sessions tell the audit trail their settings (key dir, algorithms)."""
    database = Database(settings, poolless=True)
    bind_settings(database.engine, settings)
    return database


def write_dataset(settings: Settings) -> Dataset:
    """Areas, audit entries (committed), one signed checkpoint, and stored files."""
    database = open_db(settings)
    try:
        session = database.session()
        try:
            areas_service.create_area(session, SYSTEM, code="31", name="上海市", level="city")
            areas_service.create_area(session, SYSTEM, code="310101", name="黄浦区", level="district",
                                      parent_code="31")
            for i in range(5):
                audit_service.record(session, SYSTEM, "test.change", target_type="thing", target_id=f"t{i}",
                                     detail={"n": i})
            session.commit()
            audit_service.create_checkpoint(session, SYSTEM)
            session.commit()
            audit_service.record(session, SYSTEM, "test.after_checkpoint", target_type="thing", target_id="t9")
            session.commit()
            entries = sum(seq for _chain, seq, _hash in audit_service.chain_heads(session))
        finally:
            session.close()
    finally:
        database.dispose()
    files = settings.resolved_files_dir
    for rel, data in STORED.items():
        (files / rel).parent.mkdir(parents=True, exist_ok=True)
        (files / rel).write_bytes(data)
    return Dataset(settings, entries)


@pytest.fixture
def dataset(settings: Settings) -> Dataset:
    return write_dataset(settings)


@pytest.fixture
def backup_dir(tmp_path: Path) -> Path:
    """Where a backup goes: a directory that does not exist yet."""
    return tmp_path.parent / f"{tmp_path.name}-backup"


@pytest.fixture
def target(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings of a fresh machine: a new, empty var dir; on PostgreSQL a new, empty database."""
    var_dir = tmp_path_factory.mktemp("restore-target")
    if settings.is_sqlite:
        yield settings.model_copy(update={"var_dir": var_dir, "database_url": ""})
        return
    server = os.environ["YIWANG_TEST_POSTGRES_URL"]
    name = f"yiwang_restore_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield settings.model_copy(update={"var_dir": var_dir, "database_url": server.rsplit("/", 1)[0] + "/" + name})
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def carry_keys(source: Settings, target: Settings) -> None:
    """What the operator does on a fresh machine before restoring: bring the key directory from
    the separate medium where it is kept."""
    shutil.copytree(source.resolved_key_dir, target.resolved_key_dir)
