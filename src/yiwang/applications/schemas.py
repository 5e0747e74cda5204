"""Pydantic shapes of applications, branches, materials, timelines and inboxes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SubjectKind = Literal["item", "bundle"]
Channel = Literal["online", "app", "hall", "hotline"]
Decision = Literal["approve", "reject", "correct"]

STATUSES = ("draft", "submitted", "refused", "in_review", "correction", "closed", "withdrawn")
"""草稿, 已提交, 不予受理, 审查中, 补正中, 已办结, 已撤回."""
BRANCH_STATUSES = ("pending", "in_review", "correction", "approved", "rejected", "withdrawn")
OUTCOMES = ("approved", "partly_approved", "rejected")


class TaskRead(BaseModel):
    id: str
    element_id: str
    name: str
    lane: str | None


class BranchRead(BaseModel):
    """One item of an application, in its department (并联审批 branch)."""

    model_config = ConfigDict(frozen=True)

    id: str
    position: int
    item_code: str
    item_name: str
    department_id: str
    department_name: str | None = None
    status: str
    tasks: list[TaskRead]
    limit_days: int
    started_on: date | None
    due_date: date | None
    due_estimated: bool
    deadline_state: str | None
    """``ok``, ``warning`` (2 working days or fewer left), ``overdue`` or ``paused`` (补正)."""
    paused_since: date | None
    decision_reason: str | None
    decided_at: datetime | None
    certificate_id: str | None
    workflow_instance_id: str | None


class MaterialRead(BaseModel):
    code: str
    name: str
    source: str
    file_id: str | None = None
    certificate_id: str | None = None


class EventRead(BaseModel):
    kind: str
    branch_id: str | None
    actor: str
    note: str | None
    at: datetime


class ApplicationSummary(BaseModel):
    """A line of a list of applications."""

    model_config = ConfigDict(frozen=True)

    id: str
    number: str
    subject_kind: str
    subject_code: str
    subject_name: str
    channel: str
    area_code: str
    status: str
    outcome: str | None
    created_at: datetime
    submitted_at: datetime | None
    closed_at: datetime | None


class ApplicationRead(ApplicationSummary):
    """An application with its form data, branches, materials and timeline."""

    applicant_kind: str
    reason: str | None
    data: dict[str, Any]
    branches: list[BranchRead]
    materials: list[MaterialRead]
    events: list[EventRead]
    rated: bool = False


class ApplicationPage(BaseModel):
    items: list[ApplicationSummary]
    next_cursor: str | None = None


class NeededMaterial(BaseModel):
    """A material of an item or bundle, and whether the platform already holds it (两个免于提交)."""

    code: str
    name: str
    required: bool
    held: bool
    source: str | None = None
    """``registry`` or ``certificate`` when held."""
    certificate_id: str | None = None


class ApplicationCreate(BaseModel):
    subject_kind: SubjectKind
    subject_code: str = Field(min_length=1, max_length=60)
    data: dict[str, Any] = {}
    materials: dict[str, str] = {}
    """Material code → the id of a file the applicant uploaded."""
    area_code: str | None = None
    channel: Literal["online", "app"] = "online"
    submit: bool = False


class ApplicationUpdate(BaseModel):
    data: dict[str, Any] | None = None
    materials: dict[str, str] | None = None


class HallIntake(BaseModel):
    """全市通办: a clerk files and accepts an application on behalf of an applicant."""

    subject_kind: SubjectKind
    subject_code: str = Field(min_length=1, max_length=60)
    applicant_kind: Literal["person", "entity"] = "person"
    applicant_identifier: str = Field(min_length=1, max_length=30)
    """The ID number (person) or USCC (entity) read from the applicant's document."""
    applicant_name: str = Field(min_length=1, max_length=100)
    data: dict[str, Any] = {}
    materials: dict[str, str] = {}


class ReasonBody(BaseModel):
    reason: str = ""


class DecisionBody(BaseModel):
    decision: str
    comment: str = ""
    task_id: str | None = None


class CorrectionBody(BaseModel):
    data: dict[str, Any] | None = None
    materials: dict[str, str] = {}
    note: str = ""


class RatingBody(BaseModel):
    score: int
    comment: str | None = None


class PrefillBody(BaseModel):
    subject_kind: SubjectKind
    subject_code: str
    consent: bool = False


class PrefillRead(BaseModel):
    values: dict[str, Any]
    """Field name → value from the applicant's own registry record (read-only on the form)."""


class InboxRow(BaseModel):
    """A branch waiting for a department: sorted by due date, with its deadline state."""

    branch_id: str
    application_id: str
    number: str
    item_code: str
    item_name: str
    department_id: str
    status: str
    task_name: str | None
    due_date: date | None
    due_estimated: bool
    deadline_state: str | None
    paused_since: date | None
    updated_at: datetime


class IntakeRow(BaseModel):
    """A submitted application waiting to be accepted (受理) in a district."""

    application_id: str
    number: str
    subject_name: str
    channel: str
    area_code: str
    submitted_at: datetime | None
