"""All SQL of the workflow domain.

The statements of a step (list the tasks, read the state, write it back, insert a bundle's
instances) are Core statements built once and run on the session's connection: the ORM's
per-statement work (compiling an ORM select, the unit of work, events) cost more than the step's
engine run. Everything else uses the ORM.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Row, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from yiwang.workflow.models import ProcessDefinition, WorkflowInstance


def get_definition(session: Session, definition_id: str) -> ProcessDefinition | None:
    return session.get(ProcessDefinition, definition_id)


_DEFINITIONS = ProcessDefinition.__table__
_INSTANCES = WorkflowInstance.__table__
_SHAS = select(_DEFINITIONS.c.id, _DEFINITIONS.c.sha256).where(_DEFINITIONS.c.id.in_(bindparam("ids", expanding=True)))
_INSERT = insert(_INSTANCES)


def definition_shas(session: Session, ids: Sequence[str]) -> dict[str, str]:
    return {i: sha for i, sha in session.connection().execute(_SHAS, {"ids": sorted(set(ids))})}


def insert_instances(session: Session, rows: list[dict]) -> None:
    """Insert instances (every column given) in one statement."""
    session.connection().execute(_INSERT, rows)


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


_c = _INSTANCES.c
_STEP = select(_c.definition_id, _c.status, _c.state, _c.tasks, _c.created_at).where(_c.id == bindparam("id"))
_STEP_LOCKED = _STEP.with_for_update()
_TASKS = select(_c.status, _c.tasks).where(_c.id == bindparam("id"))
_UPDATE = update(_INSTANCES).where(_c.id == bindparam("instance_id"))


def instance_for_step(session: Session, instance_id: str) -> Row | None:
    """The columns a step needs, the row locked (SQLite's write transactions are exclusive)."""
    conn = session.connection()
    return conn.execute(_STEP if conn.dialect.name == "sqlite" else _STEP_LOCKED, {"id": instance_id}).first()


def instance_tasks(session: Session, instance_id: str) -> Row | None:
    return session.connection().execute(_TASKS, {"id": instance_id}).first()


def update_instance(session: Session, instance_id: str, values: dict) -> None:
    """Set ``values`` (column → value) on one instance."""
    session.connection().execute(_UPDATE, {"instance_id": instance_id, **values})
