"""Database-level guards: triggers that refuse UPDATE and DELETE (and TRUNCATE) of history.

``install_guards(connection)`` is idempotent. The Alembic migration calls it; the models attach it
to each table's ``after_create`` so ``create_all`` (tests) installs it too.

- ``audit_entries`` and ``audit_checkpoints``: no UPDATE, no DELETE, no TRUNCATE (PostgreSQL).
- ``audit_chain_heads``: may only move forward (seq never decreases) and is never deleted.

A superuser can still disable triggers (PostgreSQL ``session_replication_role = replica``,
SQLite by dropping them): that is the threat the hash chain and the exported checkpoints answer.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection

APPEND_ONLY = ("audit_entries", "audit_checkpoints")
HEADS = "audit_chain_heads"

_PG_FUNCTIONS = (
    """CREATE OR REPLACE FUNCTION yiwang_audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
    MESSAGE = 'audit history is append-only: ' || TG_OP || ' on ' || TG_TABLE_NAME || ' refused';
END $$""",
    """CREATE OR REPLACE FUNCTION yiwang_audit_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' OR NEW.seq < OLD.seq OR NEW.chain_id <> OLD.chain_id THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = 'audit chain heads only move forward: ' || TG_OP || ' on ' || TG_TABLE_NAME || ' refused';
  END IF;
  RETURN NEW;
END $$""",
)


def _sqlite(table: str) -> list[str]:
    if table == HEADS:
        return [
            f"CREATE TRIGGER IF NOT EXISTS {table}_forward BEFORE UPDATE ON {table} "
            "WHEN NEW.seq < OLD.seq OR NEW.chain_id <> OLD.chain_id "
            "BEGIN SELECT RAISE(ABORT, 'audit chain heads only move forward'); END",
            f"CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'audit chain heads only move forward'); END",
        ]
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table} "
        "BEGIN SELECT RAISE(ABORT, 'audit history is append-only'); END",
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table} "
        "BEGIN SELECT RAISE(ABORT, 'audit history is append-only'); END",
    ]


def _postgresql(table: str) -> list[str]:
    if table == HEADS:
        return [
            f"DROP TRIGGER IF EXISTS {table}_forward ON {table}",
            f"CREATE TRIGGER {table}_forward BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION yiwang_audit_head_forward()",
            f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION yiwang_audit_refuse_change()",
        ]
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}",
        f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION yiwang_audit_refuse_change()",
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION yiwang_audit_refuse_change()",
    ]


def install_guards(connection: Connection, tables: Iterable[str] = (*APPEND_ONLY, HEADS)) -> None:
    """Create (or re-create) the guard triggers on the audit tables named in ``tables``."""
    dialect = connection.dialect.name
    wanted = [t for t in tables if t in (*APPEND_ONLY, HEADS)]
    if not wanted:
        return
    if dialect == "sqlite":
        for table in wanted:
            for stmt in _sqlite(table):
                connection.exec_driver_sql(stmt)
    elif dialect == "postgresql":
        for stmt in _PG_FUNCTIONS:
            connection.exec_driver_sql(stmt)
        for table in wanted:
            for stmt in _postgresql(table):
                connection.exec_driver_sql(stmt)
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise RuntimeError(f"no audit guards for {dialect}")
