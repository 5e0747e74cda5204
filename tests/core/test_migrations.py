from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import yiwang.models  # noqa: F401
from yiwang.core.db import Base
from yiwang.core.migrate import current_revision, head_revision


class TestMigrations:
    def test_migrated_schema_matches_the_models(self, db):
        with db.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, Base.metadata)
        assert diff == []

    def test_database_is_at_the_head_revision(self, db):
        with db.engine.connect() as conn:
            assert current_revision(conn) == head_revision()

    def test_every_model_table_exists(self, db):
        names = set(inspect(db.engine).get_table_names())
        assert set(Base.metadata.tables) <= names

    def test_audit_table_refuses_changes_at_the_database_level(self, db):
        from sqlalchemy import text
        from sqlalchemy.exc import DBAPIError

        from yiwang.audit import service as audit_service
        from yiwang.core.actor import SYSTEM

        with db.transaction() as s:
            audit_service.record(s, SYSTEM, "test.migrated")
        for statement in ("UPDATE audit_entries SET action = 'x'", "DELETE FROM audit_entries"):
            with db.engine.connect() as conn:
                try:
                    conn.execute(text(statement))
                    conn.commit()
                except DBAPIError:
                    conn.rollback()
                else:
                    raise AssertionError(f"{statement} was not refused")
