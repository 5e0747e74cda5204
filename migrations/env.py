"""Alembic environment: the URL comes from yiwang's settings, the metadata from every domain."""

from __future__ import annotations

from alembic import context

import yiwang.models  # noqa: F401 - registers every domain's tables
from yiwang.core.db import Base, Database
from yiwang.core.settings import get_settings

config = context.config
settings = config.attributes.get("settings") or get_settings()


def run_migrations_online() -> None:
    db = Database(settings, poolless=True)
    with db.engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    db.dispose()


run_migrations_online()
