"""All SQL of the workflow domain.

The statements of a step (list an instance's tasks, read its state, write it back, insert a
bundle's instances) are built once and run by :class:`_Direct` on the session's own connection:
SQLAlchemy's work per execution (ORM compile state, execution context, result objects) cost
several times the statement itself and as much as the engine's step. Everything else uses the ORM.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from yiwang.workflow.models import ProcessDefinition, WorkflowInstance


def get_definition(session: Session, definition_id: str) -> ProcessDefinition | None:
    return session.get(ProcessDefinition, definition_id)


_DEFINITIONS = ProcessDefinition.__table__
_INSTANCES = WorkflowInstance.__table__


def definition_shas(session: Session, ids: Sequence[str]) -> dict[str, str]:
    """Definition id → sha256 of those of ``ids`` that exist (a bundle names a few definitions)."""
    found = {}
    for definition_id in dict.fromkeys(ids):
        row = _SHA.first(session, {"id": definition_id})
        if row is not None:
            found[definition_id] = row.sha256
    return found


def latest_definition(session: Session, key: str) -> ProcessDefinition | None:
    return session.scalars(
        select(ProcessDefinition).where(ProcessDefinition.key == key)
        .order_by(ProcessDefinition.version.desc()).limit(1)
    ).first()


def max_version(session: Session, key: str) -> int:
    return session.scalar(select(func.max(ProcessDefinition.version)).where(ProcessDefinition.key == key)) or 0


def list_definitions(session: Session, key: str | None = None) -> list[ProcessDefinition]:
    stmt = select(ProcessDefinition).order_by(ProcessDefinition.key, ProcessDefinition.version.desc())
    if key is not None:
        stmt = stmt.where(ProcessDefinition.key == key)
    return list(session.scalars(stmt))


def get_instance(session: Session, instance_id: str, *, for_update: bool = False) -> WorkflowInstance | None:
    if for_update and session.get_bind().dialect.name != "sqlite":
        # SQLite's write transactions are already exclusive (BEGIN IMMEDIATE): no row lock needed,
        # and the identity map then answers a second look-up in the same session for free.
        return session.scalars(
            select(WorkflowInstance).where(WorkflowInstance.id == instance_id).with_for_update()
        ).first()
    return session.get(WorkflowInstance, instance_id)


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def running_waiting_at(
    session: Session, element_id: str, definition_ids: Sequence[str] | None = None, limit: int = 200,
) -> list[WorkflowInstance]:
    stmt = (
        select(WorkflowInstance)
        .where(WorkflowInstance.status == "running", WorkflowInstance.active.like(f"% {_escaped(element_id)} %", escape="\\"))
        .order_by(WorkflowInstance.updated_at, WorkflowInstance.id)
        .limit(limit)
    )
    if definition_ids is not None:
        stmt = stmt.where(WorkflowInstance.definition_id.in_(list(definition_ids)))
    return list(session.scalars(stmt))


class _Direct:
    """A Core statement compiled once per dialect and run on the DBAPI cursor of the session's
    connection, inside the session's transaction (the connection begins it as usual). Values go
    through the columns' own type processors, so what is written and read is what the ORM would
    write and read; DBAPI errors are raised as SQLAlchemy's ``DBAPIError`` subclasses as usual."""

    def __init__(self, stmt: Executable, column_keys: Sequence[str] | None = None) -> None:
        self._stmt = stmt
        self._column_keys = list(column_keys) if column_keys else None
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Callable], list]] = {}
        columns = getattr(stmt, "selected_columns", ())
        self._row = namedtuple("Row", [c.key for c in columns]) if columns else None  # noqa: PYI024

    def _for(self, dialect: Any) -> tuple[str, tuple[str, ...] | None, dict[str, Callable], list]:
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self._stmt.compile(dialect=dialect, column_keys=self._column_keys)
            binds = {name: b.type.dialect_impl(dialect).bind_processor(dialect) for name, b in compiled.binds.items()}
            columns = getattr(self._stmt, "selected_columns", ())
            results = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]
            order = tuple(compiled.positiontup) if dialect.positional else None
            found = self._compiled[dialect.name] = (compiled.string, order, {k: v for k, v in binds.items() if v},
                                                    results)
        return found

    def _params(self, order: tuple[str, ...] | None, processors: dict[str, Callable], values: dict) -> Any:
        if processors:
            values = {k: (processors[k](v) if k in processors else v) for k, v in values.items()}
        return values if order is None else tuple(values[k] for k in order)

    def _run(self, session: Session, values: dict | list[dict]) -> tuple[Any, list]:
        conn = session.connection()
        dialect = conn.dialect
        sql, order, processors, results = self._for(dialect)
        cursor = conn.connection.driver_connection.cursor()
        try:
            if isinstance(values, list):
                cursor.executemany(sql, [self._params(order, processors, v) for v in values])
            else:
                cursor.execute(sql, self._params(order, processors, values))
        except dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(sql, values, exc, dialect.loaded_dbapi.Error) from exc
        return cursor, results

    def first(self, session: Session, values: dict) -> Any | None:
        """The first row (a named tuple of the selected columns), or None."""
        cursor, results = self._run(session, values)
        row = cursor.fetchone()
        cursor.close()
        if row is None:
            return None
        return self._row._make(p(v) if p else v for p, v in zip(results, row, strict=True))

    def execute(self, session: Session, values: dict | list[dict]) -> None:
        self._run(session, values)[0].close()


_SHA = _Direct(select(_DEFINITIONS.c.sha256).where(_DEFINITIONS.c.id == bindparam("id")))
_c = _INSTANCES.c
_INSERT = _Direct(insert(_INSTANCES), [c.key for c in _INSTANCES.columns])
_STEP = _Direct(select(_c.definition_id, _c.status, _c.state, _c.tasks, _c.created_at)
                .where(_c.id == bindparam("id")).with_for_update())  # SQLite renders no FOR UPDATE
_TASKS = _Direct(select(_c.status, _c.tasks).where(_c.id == bindparam("id")))
_STEP_VALUES = ("state", "data", "tasks", "active", "status", "updated_at")
_UPDATE = _Direct(update(_INSTANCES).where(_c.id == bindparam("instance_id")), _STEP_VALUES)


def insert_instances(session: Session, rows: list[dict]) -> None:
    """Insert instances (every column given) in one statement."""
    _INSERT.execute(session, rows)


def instance_for_step(session: Session, instance_id: str) -> Any | None:
    """``(definition_id, status, state, tasks, created_at)`` of an instance, the row locked
    (SQLite's write transactions are exclusive already)."""
    return _STEP.first(session, {"id": instance_id})


def instance_tasks(session: Session, instance_id: str) -> Any | None:
    """``(status, tasks)`` of an instance."""
    return _TASKS.first(session, {"id": instance_id})


def update_instance(session: Session, instance_id: str, values: dict) -> None:
    """Set the columns a step changes (``state, data, tasks, active, status, updated_at``)."""
    _UPDATE.execute(session, {"instance_id": instance_id, **values})
