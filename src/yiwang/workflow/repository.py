"""All SQL of the workflow domain."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.orm import Session

from yiwang.workflow.models import ProcessDefinition, WorkflowInstance


def get_definition(session: Session, definition_id: str) -> ProcessDefinition | None:
    return session.get(ProcessDefinition, definition_id)


def definition_shas(session: Session, ids: Sequence[str]) -> dict[str, str]:
    rows = session.execute(select(ProcessDefinition.id, ProcessDefinition.sha256)
                           .where(ProcessDefinition.id.in_(set(ids))))
    return {i: sha for i, sha in rows}


def insert_instances(session: Session, rows: list[dict]) -> None:
    session.execute(insert(WorkflowInstance), rows)


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


_STEP_COLUMNS = (WorkflowInstance.id, WorkflowInstance.definition_id, WorkflowInstance.status,
                 WorkflowInstance.state, WorkflowInstance.tasks, WorkflowInstance.created_at)


def instance_for_step(session: Session, instance_id: str) -> Row | None:
    """The columns a step needs, without building an ORM object (the hot path of every task)."""
    stmt = select(*_STEP_COLUMNS).where(WorkflowInstance.id == instance_id)
    if session.get_bind().dialect.name != "sqlite":
        stmt = stmt.with_for_update()
    return session.execute(stmt).first()


def instance_tasks(session: Session, instance_id: str) -> Row | None:
    return session.execute(select(WorkflowInstance.status, WorkflowInstance.tasks)
                           .where(WorkflowInstance.id == instance_id)).first()


def update_instance(session: Session, instance_id: str, values: dict) -> None:
    session.execute(update(WorkflowInstance).where(WorkflowInstance.id == instance_id).values(**values),
                    execution_options={"synchronize_session": False})
