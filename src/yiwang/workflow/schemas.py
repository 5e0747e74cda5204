"""Pydantic schemas of process definitions, instances and tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

InstanceStatus = Literal["running", "completed", "cancelled"]


class DefinitionRead(BaseModel):
    """One version of a BPMN process (流程定义), without its XML."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: str
    key: str
    version: int
    name: str
    process_id: str
    sha256: str
    created_at: datetime


class TaskRead(BaseModel):
    """A user task waiting for a person: its id (for completing it), BPMN element id, name, lane."""

    model_config = ConfigDict(frozen=True)

    id: str
    element_id: str
    name: str
    lane: str | None


class InstanceRead(BaseModel):
    """One run of a process (流程实例) and where it stands."""

    model_config = ConfigDict(frozen=True)

    id: str
    definition_id: str
    status: InstanceStatus
    data: dict[str, Any]
    active: list[str]
    created_at: datetime
    updated_at: datetime


class DiagramRead(BaseModel):
    """The BPMN XML of an instance's definition with the element ids waiting now and passed."""

    xml: str
    active: list[str]
    completed: list[str]
