"""Tables of the applications domain: applications (办件), their branches (one per service item,
并联审批), the materials they carry and their timeline.

An application is filed for one service item or one bundle (一件事); each item becomes a branch
with its own department, BPMN process instance, promised deadline in working days and corrections.
The form data holds personal data, so it is a field-encryption token bound to the row (AAD
``applications.data:<id>``); nothing personal is kept in clear in these tables.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yiwang.core.db import Base, IdMixin, utcnow


class Application(IdMixin, Base):
    """办件 — one application by a person or a legal entity for an item or a bundle."""

    __tablename__ = "applications"

    number: Mapped[str] = mapped_column(String(24), unique=True)
    """办件编号, shown to people: the filing date and the end of the id."""
    subject_kind: Mapped[str] = mapped_column(String(8))
    """``item`` or ``bundle``."""
    subject_code: Mapped[str] = mapped_column(String(60), index=True)
    subject_version_id: Mapped[str] = mapped_column(String(26))
    """The catalogue version applied for: later versions never change this application."""
    subject_name: Mapped[str] = mapped_column(String(200))
    applicant_kind: Mapped[str] = mapped_column(String(8))
    """``person`` or ``entity``."""
    applicant_person_id: Mapped[str | None] = mapped_column(String(26), index=True)
    applicant_entity_id: Mapped[str | None] = mapped_column(String(26), index=True)
    owner_user_id: Mapped[str | None] = mapped_column(String(26))
    """The account that filed it online (None for a hall intake: the applicant follows it through
    their person or entity record)."""
    filed_by_user_id: Mapped[str] = mapped_column(String(26))
    channel: Mapped[str] = mapped_column(String(10))
    """``online``, ``app``, ``hall`` (窗口) or ``hotline``."""
    area_code: Mapped[str] = mapped_column(String(15))
    """Where it is accepted (受理): the hall's district, or the district the applicant filed in."""
    status: Mapped[str] = mapped_column(String(12))
    outcome: Mapped[str | None] = mapped_column(String(16))
    """Once closed: ``approved``, ``partly_approved`` or ``rejected``."""
    reason: Mapped[str | None] = mapped_column(Text)
    """Why it was refused at intake or withdrawn."""
    data_enc: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("filed_by_user_id", "idempotency_key", name="uq_applications_idempotency"),
        Index("ix_applications_owner_created", "owner_user_id", "created_at"),
        Index("ix_applications_intake", "area_code", "status", "submitted_at"),
    )


class Branch(IdMixin, Base):
    """审批分支 — one service item of an application, handled by its department (并联审批)."""

    __tablename__ = "application_branches"

    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    item_code: Mapped[str] = mapped_column(String(60))
    item_version_id: Mapped[str] = mapped_column(String(26))
    item_name: Mapped[str] = mapped_column(String(200))
    department_id: Mapped[str] = mapped_column(String(26))
    area_code: Mapped[str] = mapped_column(String(15))
    """The department's home area, copied: where its staff's permissions hold."""
    status: Mapped[str] = mapped_column(String(12))
    """``pending`` (before intake), ``in_review``, ``correction``, ``approved``, ``rejected``,
    ``withdrawn``."""
    workflow_instance_id: Mapped[str | None] = mapped_column(String(26))
    tasks: Mapped[str] = mapped_column(Text, default="[]")
    """The user tasks waiting now, copied from the workflow: ``[[task id, element id, name, lane]]``."""
    limit_days: Mapped[int] = mapped_column(Integer)
    started_on: Mapped[date | None] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date)
    due_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    pauses: Mapped[str] = mapped_column(Text, default="[]")
    """Closed 补正 pauses ``[[from, to]]`` (ISO dates); an open one is ``paused_since``."""
    paused_since: Mapped[date | None] = mapped_column(Date)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(26))
    decided_at: Mapped[datetime | None]
    certificate_id: Mapped[str | None] = mapped_column(String(26))
    escalated_on: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_application_branches_inbox", "department_id", "status", "due_date", "id"),
        Index("ix_application_branches_overdue", "status", "due_date"),
    )


class Material(IdMixin, Base):
    """申请材料 — what stands for one required material: an upload, a registry record or a
    certificate the platform already holds (两个免于提交)."""

    __tablename__ = "application_materials"

    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), index=True)
    code: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(12))
    """``upload``, ``registry`` or ``certificate``."""
    file_id: Mapped[str | None] = mapped_column(String(26))
    certificate_id: Mapped[str | None] = mapped_column(String(26))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("application_id", "code", name="uq_application_materials_code"),)


class Event(IdMixin, Base):
    """办件记录 — one step of an application's timeline (the audit trail has the same, chained)."""

    __tablename__ = "application_events"

    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"))
    branch_id: Mapped[str | None] = mapped_column(String(26))
    kind: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(80))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_application_events_application_at", "application_id", "at"),)
