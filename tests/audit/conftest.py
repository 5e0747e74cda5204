"""Fixtures of the audit trail's tests: actors, a seeded chain, and a DBA-with-superuser handle."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, text

from yiwang.audit import chain
from yiwang.audit import service as audit_service
from yiwang.audit.ddl import install_guards
from yiwang.core.actor import Actor, Grant
from yiwang.core.context import bound
from yiwang.core.crypto import hasher
from yiwang.core.db import Database
from yiwang.core.jobs import bind_settings
from yiwang.core.settings import Settings

AUDITOR = Actor(kind="staff", user_id="u-aud", grants=(
    Grant("audit_admin", "31", None, frozenset({"audit.read", "audit.verify"})),))
DISTRICT_AUDITOR = Actor(kind="staff", user_id="u-aud2", grants=(
    Grant("audit_admin", "310101", None, frozenset({"audit.read", "audit.verify"})),))
SYS_ADMIN = Actor(kind="staff", user_id="u-sys", grants=(
    Grant("sys_admin", "31", None, frozenset({"user.manage", "role.manage", "area.manage", "backup.run"})),))
CLERK = Actor(kind="staff", user_id="u-clerk", grants=(
    Grant("clerk", "310101", None, frozenset({"registry.person.read"})),))
WRITER = Actor(kind="staff", user_id="u-w", grants=())


@pytest.fixture(autouse=True)
def _bound_settings(db: Database, settings: Settings) -> None:
    """Let the audit trail find these settings (key dir, checkpoint dir) from a session."""
    bind_settings(db.engine, settings)


def seed(db: Database, n: int, *, actor: Actor = WRITER, request_id: str = "req-seed-0001") -> None:
    """Record ``n`` entries, one transaction each (targets p1…pn, area 310101002)."""
    for i in range(1, n + 1):
        with bound(request_id, "10.0.0.9"), db.transaction() as s:
            audit_service.record(s, actor, "registry.person.write", target_type="person", target_id=f"p{i}",
                                 area_code="310101002", detail={"n": i})


@contextlib.contextmanager
def superuser(db: Database) -> Iterator[Connection]:
    """A connection that bypasses the guard triggers, as a DBA with superuser rights could."""
    with db.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            for name in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                             "AND tbl_name LIKE 'audit_%'").scalars().all():
                conn.exec_driver_sql(f"DROP TRIGGER {name}")
        else:
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        yield conn
        if conn.dialect.name == "sqlite":
            install_guards(conn)


def row(conn: Connection, seq: int, chain_id: int = 0) -> dict:
    r = conn.execute(text("SELECT * FROM audit_entries WHERE chain_id = :c AND seq = :s"),
                     {"c": chain_id, "s": seq}).mappings().one()
    return dict(r)


def forge_hash(values: dict, prev: str, algorithm: str = "sha256") -> str:
    """What an attacker who knows the (public) hash definition computes for a forged entry."""
    fields = [values[f] for f in chain.FIELDS]
    fields[2] = chain.at_text(fields[2])
    return hasher(algorithm)((prev + chain.canonical(fields)).encode()).hexdigest()


def shift(conn: Connection, after_seq: int, by: int, chain_id: int = 0) -> None:
    """Renumber the entries after ``after_seq`` by ``by`` (in two steps: seq is a primary key)."""
    conn.execute(text("UPDATE audit_entries SET seq = seq + 1000000 WHERE chain_id = :c AND seq > :s"),
                 {"c": chain_id, "s": after_seq})
    conn.execute(text("UPDATE audit_entries SET seq = seq - 1000000 + :by WHERE chain_id = :c AND seq > 1000000"),
                 {"c": chain_id, "by": by})


def insert_row(conn: Connection, values: dict) -> None:
    cols = ", ".join(values)
    conn.execute(text(f"INSERT INTO audit_entries ({cols}) VALUES ({', '.join(':' + c for c in values)})"), values)
