"""Tables of the workflow domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yiwang.core.db import Base, IdMixin, utcnow


class ProcessDefinition(IdMixin, Base):
    """流程定义 — one version of a BPMN 2.0 file. A new upload under the same key is a new version;
    instances keep the version they started with."""

    __tablename__ = "process_definitions"
    __table_args__ = (UniqueConstraint("key", "version", name="uq_process_definitions_key_version"),)

    key: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    process_id: Mapped[str] = mapped_column(String(200))
    bpmn_xml: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkflowInstance(IdMixin, Base):
    """流程实例 — one run of a definition (one item's approval, one branch of a 一件事 bundle).

    ``active`` holds the element ids of the tasks waiting now, space-separated and padded with
    spaces (`` Task_approve Task_review ``), so inboxes find "waiting at X" with a LIKE."""

    __tablename__ = "workflow_instances"
    __table_args__ = (Index("ix_workflow_instances_status_updated_at", "status", "updated_at"),)

    definition_id: Mapped[str] = mapped_column(String(26), ForeignKey("process_definitions.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(Text)
    data: Mapped[str] = mapped_column(Text, default="{}")
    active: Mapped[str] = mapped_column(String(1000), default="")
    tasks: Mapped[str] = mapped_column(Text, default="[]")
    """The user tasks waiting now as JSON (id, element_id, name, lane), so listing them needs no
    engine run."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
