"""Plain rows for the busiest writes: statements built once per table and database, values put in
the driver's form before the write begins, and run on the driver's own cursor.

Under SQLite's single writer (``core.groupcommit``) every microsecond spent inside a write is
spent by every waiting request. An ORM unit of work — or even a Core ``insert()`` — costs 50–150 µs
per statement there (attribute tracking, statement caching, result set-up); the driver's cursor
costs a few. So a hot use case does its work in two halves:

- **prepare**, outside the writer's turn: :func:`insert` takes the rows as dicts, fills the
  columns' Python-side defaults and applies each column type's bind processing for the dialect
  (a UTC ``datetime`` becomes SQLite's text, a JSON value its text, a bool 0/1), so the rows are
  exactly what SQLAlchemy would have sent;
- **apply**, inside it: :func:`run` hands the ready statements to the cursor.

What SQLAlchemy gives for free and this does not: ORM events and session tracking (the rows are
never objects in a session) and ``before_cursor_execute`` listeners. Use it only for plain
INSERTs of new rows and for the few fixed statements of a hot path (:class:`Statement`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

_NAME = re.compile(r"(?<!:):([a-z_][a-z0-9_]*)")


def _param_mark(dialect: Dialect) -> str:
    return "?" if dialect.paramstyle == "qmark" else "%s"


@dataclass(frozen=True, slots=True)
class Step:
    """One statement and its rows of parameters, ready for the driver."""

    sql: str
    params: list[tuple[Any, ...]]

    def run(self, cursor: Any) -> int:
        """Execute on ``cursor``; the number of rows written (0 when a conflict was skipped)."""
        if len(self.params) == 1:
            cursor.execute(self.sql, self.params[0])
        else:
            cursor.executemany(self.sql, self.params)
        return cursor.rowcount


class New(dict[str, Any]):
    """A new row's values by column key, readable and settable as attributes too (``row.status``),
    so that code reading an ORM object's columns reads a row built for :func:`insert` alike: a hot
    path builds its rows without the ORM's instrumentation (a tenth of a filing's CPU went to
    making ORM objects that were never added to a session). ``Model(**row)`` makes the ORM object
    where one is needed."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


_PLANS: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], tuple[str, tuple[Any, ...]]] = {}


def _plan(dialect: Dialect, table: Table, given: tuple[str, ...], skip_conflict: tuple[str, ...]
          ) -> tuple[str, tuple[Any, ...]]:
    key = (dialect.name, table.name, given, skip_conflict)
    found = _PLANS.get(key)
    if found is None:
        columns = []
        for column in table.columns:
            # A column the rows leave out is sent when Python gives its value (a default, else
            # NULL), and left to the database when the database has a default of its own.
            if column.key in given or column.default is not None or column.server_default is None:
                default = column.default
                if default is not None and not (default.is_scalar or default.is_callable):
                    raise ValueError(f"{table.name}.{column.key}: only scalar or callable defaults")
                columns.append((column.key, column.name, default, column.type._cached_bind_processor(dialect)))
        mark = _param_mark(dialect)
        sql = (f"INSERT INTO {table.name} ({', '.join(name for _, name, _, _ in columns)}) "
               f"VALUES ({', '.join([mark] * len(columns))})")
        if skip_conflict:
            sql += f" ON CONFLICT ({', '.join(skip_conflict)}) DO NOTHING"
        found = _PLANS[key] = (sql, tuple((k, d, p) for k, _, d, p in columns))
    return found


def insert(dialect: Dialect, table: Table, rows: list[dict[str, Any]], *,
           skip_conflict: tuple[str, ...] = ()) -> Step:
    """An INSERT of ``rows`` (dicts by column key, all with the same keys) into ``table``; a key
    missing or None takes the column's Python default, as an ORM insert would. With
    ``skip_conflict`` (the columns of a unique constraint) a row that would break it is skipped
    and :meth:`Step.run` says how many went in."""
    if not rows:
        raise ValueError("no rows to insert")
    sql, columns = _plan(dialect, table, tuple(sorted(rows[0])), skip_conflict)
    params = []
    for row in rows:
        values = []
        for key, default, process in columns:
            value = row.get(key)
            if value is None and default is not None:
                value = default.arg(None) if default.is_callable else default.arg
            if process is not None:
                value = process(value)
            values.append(value)
        params.append(tuple(values))
    return Step(sql, params)


class Statement:
    """A fixed statement written with ``:name`` parameters, run on the driver's cursor: the
    text is turned into the driver's parameter marks once per database."""

    __slots__ = ("_by_dialect", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._by_dialect: dict[str, tuple[str, tuple[str, ...]]] = {}

    def _compiled(self, dialect: Dialect) -> tuple[str, tuple[str, ...]]:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            names = tuple(_NAME.findall(self.text))
            found = self._by_dialect[dialect.name] = (_NAME.sub(_param_mark(dialect), self.text), names)
        return found

    def run(self, session: Session, **params: Any) -> Any:
        """Execute in the session's transaction; the driver's cursor (for ``fetchone`` / ``rowcount``)."""
        connection = session.connection()
        sql, names = self._compiled(connection.dialect)
        cursor = cursor_of(session)
        cursor.execute(sql, tuple(params[n] for n in names))
        return cursor


def cursor_of(session: Session) -> Any:
    """A cursor of the driver connection under the session's transaction (begun if need be)."""
    return session.connection().connection.cursor()


def run(session: Session, steps: list[Step]) -> list[int]:
    """Run prepared steps in order in the session's transaction; the rows each wrote."""
    cursor = cursor_of(session)
    return [step.run(cursor) for step in steps]
