"""Fixtures shared by the whole suite.

Every test that asks for ``settings``, ``db``, ``session``, ``app`` or ``client`` runs once against
SQLite and once against PostgreSQL (when ``YIWANG_TEST_POSTGRES_URL`` names a server; under
``CI=true`` its absence is an error, not a skip). The schema is built by the real Alembic
migrations once per backend, then each test starts from empty tables.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

import yiwang.models  # noqa: F401
from yiwang.core.db import Base, Database
from yiwang.core.migrate import upgrade
from yiwang.core.settings import Settings

PG_URL = os.environ.get("YIWANG_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
if os.environ.get("CI") == "true" and not PG_URL:
    raise RuntimeError("CI=true but YIWANG_TEST_POSTGRES_URL is not set: the suite must also run on PostgreSQL")


def _base_settings(var_dir: Path, url: str) -> dict:
    return {
        "env": "test",
        "var_dir": var_dir,
        "database_url": url,
        # Cheap password hashing in tests; the benchmark measures the production cost.
        "argon2_time_cost": 1,
        "argon2_memory_kib": 1024,
        "db_pool_size": 5,
        "log_level": "WARNING",
    }


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sqlite-template")
    path = folder / "yiwang.db"
    _build_schema(Settings(**_base_settings(folder, f"sqlite:///{path}")))
    return path


def _build_schema(settings: Settings) -> None:
    """The real path: Alembic migrations (tests/core/test_migrations.py checks they match the models)."""
    upgrade(settings)


@pytest.fixture(scope="session")
def _pg_url() -> Iterator[str]:
    # One database per test process, so parallel runs on one server never drop each other's.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main") + f"_{os.getpid()}"
    name = f"yiwang_test_{worker}"
    admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    _build_schema(Settings(**_base_settings(Path("var"), url)))
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_pg(url: str) -> None:
    if not Base.metadata.sorted_tables:
        return
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        # A connection an earlier test's app left in a transaction would make TRUNCATE wait for
        # ever (it happened once in CI): end it, say so, and never wait more than a minute.
        ended = conn.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'")).scalar()
        if ended:
            warnings.warn(f"{ended} connection(s) of an earlier test were left in a transaction; ended them",
                          stacklevel=1)
        conn.execute(text("SET lock_timeout = '60s'"))
        # Replica mode disables the audit table's guard triggers for the reset only.
        conn.execute(text("SET session_replication_role = replica"))
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for one test: a private var dir and an empty, migrated database."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        shutil.copyfile(template, tmp_path / "yiwang.db")
        url = f"sqlite:///{tmp_path / 'yiwang.db'}"
    else:
        url = request.getfixturevalue("_pg_url")
        _truncate_pg(url)
    s = Settings(**_base_settings(tmp_path, url))
    _seed(s)
    return s


def _seed(settings: Settings) -> None:
    """What ``yiwang db upgrade`` seeds after migrating: the default access policy."""
    from yiwang.identity import service as identity_service

    database = Database(settings, poolless=True)
    with database.transaction() as session:
        identity_service.seed_policy(session)
    database.dispose()


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings)
    yield database
    database.dispose()


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    """A session whose work the test commits itself (``session.commit()``) when it needs to."""
    s = db.session()
    yield s
    s.rollback()
    s.close()


@pytest.fixture
def app(settings: Settings):
    from yiwang.app import create_app

    application = create_app(settings)
    yield application
    application.state.db.dispose()


@pytest.fixture
def as_actor(app):
    """Make every request of this test act as the given actor (bypasses sign-in; service tests of
    access use real actors, identity's tests cover the sign-in itself)."""

    def use(actor):
        app.state.actor_loader = lambda request, session: actor
        app.state.actor_needs_credentials = False
        return actor

    return use


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


@pytest.fixture
def run(settings, monkeypatch, tmp_path):
    """Run a ``yiwang`` command against this test's database and var dir; returns the click Result."""
    from click.testing import CliRunner

    from yiwang.cli import main
    from yiwang.core.settings import reset_settings

    monkeypatch.setenv("YIWANG_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("YIWANG_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("YIWANG_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("YIWANG_CONFIG", str(tmp_path / "absent.toml"))
    reset_settings()

    def invoke(*args: str):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    yield invoke
    reset_settings()
