"""Database engine, sessions and the declarative base.

SQLite is tuned for a server: WAL (readers never block the writer), ``synchronous=FULL`` by
default (a committed transaction survives power loss; an operator may choose ``NORMAL`` with the
``sqlite_synchronous`` setting — docs/adr/0010-durability.md), foreign keys on, and write
transactions that start with ``BEGIN IMMEDIATE`` so that they queue on the busy timeout instead of
failing half way when two of them try to upgrade a read lock at once. Read-only work asks for
``write=False`` and keeps a plain deferred transaction, which never waits for the writer.

The pragmas run once per connection, when it is opened. On SQLite the pool keeps every connection
it opens (no overflow connections that would be opened, set up and closed again per request): a
fresh connection pays the pragmas and SQLite's schema parse on its first statement.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, String, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from yiwang.core.ids import new_id
from yiwang.core.settings import Settings

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}


class IdMixin:
    """A time-ordered 26-character id made by the application, so a row's id is known before
    insert (field encryption binds ciphertext to it) and inserts append to the index."""

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)


def _sqlite_pragmas(settings: Settings):
    synchronous = settings.sqlite_synchronous

    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself, so we choose DEFERRED or IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(settings.sqlite_busy_timeout_ms)}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.execute("PRAGMA cache_size=-65536")
        cur.close()

    return on_connect


_BEGIN = {"IMMEDIATE": "BEGIN IMMEDIATE", "DEFERRED": "BEGIN DEFERRED"}


def _sqlite_begin(conn: Any) -> None:
    # Straight to the driver: every unit of work begins here, and SQLAlchemy's statement path
    # costs several times the statement.
    conn.connection.driver_connection.execute(_BEGIN[conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")])


def make_engine(settings: Settings, **kwargs: Any) -> Engine:
    url = settings.resolved_database_url
    if "poolclass" not in kwargs:
        if url.startswith("sqlite"):
            # A SQLite connection is a file handle: keep them all warm rather than reopen overflow ones.
            kwargs = {"pool_size": 2 * settings.db_pool_size, "max_overflow": 0, **kwargs}
        else:
            kwargs = {"pool_size": settings.db_pool_size, "max_overflow": settings.db_pool_size, **kwargs}
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": settings.sqlite_busy_timeout_ms / 1000},
            **kwargs,
        )
        event.listen(engine, "connect", _sqlite_pragmas(settings))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, **kwargs)


class Database:
    """One engine and its session factories; the app, the CLI and the worker each hold one."""

    def __init__(self, settings: Settings, *, poolless: bool = False) -> None:
        self.settings = settings
        self.engine = make_engine(settings, **({"poolclass": NullPool} if poolless else {}))
        # Sessions carry their settings, so a service can find the key dir and algorithms.
        self._factory = sessionmaker(self.engine, expire_on_commit=False, autoflush=True,
                                     info={"settings": settings})
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._read_factory = (
            sessionmaker(self.engine.execution_options(sqlite_begin="DEFERRED"), expire_on_commit=False,
                         autoflush=True, info={"settings": settings, "read_only": True})
            if self.is_sqlite
            else sessionmaker(self.engine, expire_on_commit=False, autoflush=True,
                              info={"settings": settings, "read_only": True})
        )

    def session(self, *, write: bool = True) -> Session:
        """A new session; it connects on first use. On SQLite a read-only one begins a deferred
        transaction, which never waits for the writer."""
        return (self._factory if write else self._read_factory)()

    @contextlib.contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Session]:
        """The unit of work of one request, job or command: commit on success, roll back on error."""
        s = self.session(write=write)
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def dispose(self) -> None:
        committer = getattr(self, "_group_committer", None)
        if committer is not None:  # core.groupcommit's writer thread: finish what is queued first
            committer.close()
        self.engine.dispose()


def utcnow() -> datetime:
    return datetime.now(UTC)
