"""Tables of 一网统管: the category tree, events and the reports merged into them, their timelines,
versioned routing rules, escalations and emergency incidents.

An event (事件 / 工单) is one problem in the city, whichever channel it came from; each reporter's
submission is a report attached to it (a duplicate attaches to the event it repeats). A hotline
caller's phone number is personal data: it is a field-encryption token bound to the report's row
(AAD ``cityops.reports.phone:<id>``) with a blind index for look-ups; nothing personal is kept in
clear in these tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yiwang.core.db import Base, IdMixin, utcnow


class Category(IdMixin, Base):
    """事件分类 — a node of the category tree (市容环境 → 暴露垃圾 …) with its defaults."""

    __tablename__ = "cityops_categories"

    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    parent_code: Mapped[str | None] = mapped_column(String(40), index=True)
    level: Mapped[str] = mapped_column(String(10))
    """Default handling level: ``grid``, ``street``, ``district`` or ``city``."""
    urgency: Mapped[str] = mapped_column(String(10))
    """Default urgency: ``normal`` (一般), ``urgent`` (紧急) or ``critical`` (特急)."""
    deadlines: Mapped[str] = mapped_column(Text)
    """Deadline per urgency as JSON, e.g. ``{"normal": "3d", "urgent": "8h", "critical": "2h"}``:
    working days (``d``, to the close of office) or working hours (``h``)."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Event(IdMixin, Base):
    """事件 — one problem, one closed loop from the first report to the feedback."""

    __tablename__ = "cityops_events"

    number: Mapped[str] = mapped_column(String(24), unique=True)
    """事件编号, shown to people: the report date and the end of the id."""
    channel: Mapped[str] = mapped_column(String(10))
    """The first report's channel: ``citizen`` (随手拍), ``hotline`` (12345), ``patrol`` (巡查),
    ``open311`` or ``sensor``."""
    category_code: Mapped[str | None] = mapped_column(String(40))
    """None until the category is known (the triage queue decides it)."""
    description: Mapped[str] = mapped_column(Text)
    lon: Mapped[float | None] = mapped_column(Float)
    """WGS-84 (a GCJ-02 point from a phone map is converted before it is stored)."""
    lat: Mapped[float | None] = mapped_column(Float)
    cell: Mapped[str | None] = mapped_column(String(24))
    """The coarse spatial cell of the point (``lon//0.001:lat//0.001``) for the duplicate check."""
    address: Mapped[str | None] = mapped_column(String(200))
    area_code: Mapped[str] = mapped_column(String(15))
    """The most precise area known: the grid, else the street or district given, else the city."""
    grid_code: Mapped[str | None] = mapped_column(String(15))
    community_code: Mapped[str | None] = mapped_column(String(15))
    street_code: Mapped[str | None] = mapped_column(String(15))
    district_code: Mapped[str] = mapped_column(String(15))
    """The district, or the city's code while the event is placed in no district."""
    status: Mapped[str] = mapped_column(String(12))
    """``triage`` (manual queue), ``dispatched``, ``accepted``, ``handled``, ``closed``,
    ``returned`` (退单, back to dispatch) or ``reopened`` (back to the same team)."""
    triage_reason: Mapped[str | None] = mapped_column(String(24))
    """Why it waits in the triage queue: ``no_location``, ``outside_city``, ``no_category``,
    ``low_confidence``, ``no_route``."""
    urgency: Mapped[str] = mapped_column(String(10))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    """Higher first; an emergency incident raises it."""
    level: Mapped[str] = mapped_column(String(10))
    """Where it is supervised now: the category's level, raised one step per escalation."""
    due_at: Mapped[datetime]
    """The deadline of the current step (triage, or handling once dispatched)."""
    next_escalation_at: Mapped[datetime | None]
    """When the overdue job next escalates it (None: closed, or already at the city)."""
    assignee_department_id: Mapped[str | None] = mapped_column(String(26))
    assignee_team_id: Mapped[str | None] = mapped_column(String(26))
    """A 处置队伍 (a department of kind ``team``), when the rule names one."""
    assignee_user_id: Mapped[str | None] = mapped_column(String(26))
    """A grid worker (网格员), when the rule names one."""
    rule_id: Mapped[str | None] = mapped_column(String(26))
    rule_version: Mapped[int | None] = mapped_column(Integer)
    incident_id: Mapped[str | None] = mapped_column(String(26))
    reporter_count: Mapped[int] = mapped_column(Integer, default=1)
    classifier_confidence: Mapped[float | None] = mapped_column(Float)
    """When the category came from the classifier: its confidence."""
    result: Mapped[str | None] = mapped_column(Text)
    """The handler's result (处置结果)."""
    rating: Mapped[int | None] = mapped_column(Integer)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    dispatched_at: Mapped[datetime | None]
    handled_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_cityops_events_queue", "district_code", "status", "due_at", "id"),
        Index("ix_cityops_events_status_due", "status", "due_at", "id"),
        Index("ix_cityops_events_duplicates", "category_code", "cell", "created_at"),
        Index("ix_cityops_events_assignee", "assignee_department_id", "status", "due_at"),
        Index("ix_cityops_events_escalation", "next_escalation_at"),
        Index("ix_cityops_events_incident", "incident_id"),
        Index("ix_cityops_events_created", "created_at", "id"),  # Open311 requests by date
    )


class Report(IdMixin, Base):
    """上报 — one reporter's submission, attached to the event it opened or merged into."""

    __tablename__ = "cityops_reports"

    event_id: Mapped[str] = mapped_column(ForeignKey("cityops_events.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    reporter_user_id: Mapped[str | None] = mapped_column(String(26))
    """The signed-in reporter (a citizen, a grid worker) or the operator who took the call."""
    caller_phone_enc: Mapped[str | None] = mapped_column(Text)
    """A hotline caller's number, encrypted (AAD ``cityops.reports.phone:<id>``)."""
    caller_phone_index: Mapped[str | None] = mapped_column(String(32), index=True)
    description: Mapped[str] = mapped_column(Text)
    category_code: Mapped[str | None] = mapped_column(String(40))
    """The category as the reporter gave it (None when they gave none)."""
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(200))
    photo_ids: Mapped[str] = mapped_column(Text, default="[]")
    merged: Mapped[bool] = mapped_column(Boolean, default=False)
    """True when this report repeated an event already open (合并)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_cityops_reports_reporter_created", "reporter_user_id", "created_at"),)


class TimelineEntry(IdMixin, Base):
    """事件记录 — one step of an event's life (the audit trail has the same, chained)."""

    __tablename__ = "cityops_timeline"

    event_id: Mapped[str] = mapped_column(ForeignKey("cityops_events.id"))
    kind: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(80))
    note: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)
    """Facts of the step as JSON (ids, codes, levels, photo file ids): nothing personal."""
    at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_cityops_timeline_event_at", "event_id", "at"),
        Index("ix_cityops_timeline_at", "at", "id"),  # Open311 servicerequestupdates by time
    )


class Escalation(IdMixin, Base):
    """督办升级 — an overdue event raised to one level; at most once per (event, level)."""

    __tablename__ = "cityops_escalations"

    event_id: Mapped[str] = mapped_column(ForeignKey("cityops_events.id"))
    level: Mapped[str] = mapped_column(String(10))
    area_code: Mapped[str] = mapped_column(String(15))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("event_id", "level", name="uq_cityops_escalations_event_level"),)


class RoutingRule(IdMixin, Base):
    """派单规则 — category × area subtree → department, team or grid worker; one row per version."""

    __tablename__ = "cityops_routing_rules"

    category_code: Mapped[str] = mapped_column(String(40))
    area_prefix: Mapped[str] = mapped_column(String(15))
    version: Mapped[int] = mapped_column(Integer)
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    """Only the newest version of a (category, area) rule routes; older ones stay for the events
    they routed."""
    department_id: Mapped[str | None] = mapped_column(String(26))
    """None in a version that retires the rule."""
    team_id: Mapped[str | None] = mapped_column(String(26))
    user_id: Mapped[str | None] = mapped_column(String(26))
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("category_code", "area_prefix", "version", name="uq_cityops_routing_rules_version"),
        Index("ix_cityops_routing_rules_lookup", "category_code", "current", "area_prefix"),
    )


class Incident(IdMixin, Base):
    """突发事件 (战时模式) — while active, matching events go to its team with its deadline."""

    __tablename__ = "cityops_incidents"

    name: Mapped[str] = mapped_column(String(100))
    area_code: Mapped[str] = mapped_column(String(15))
    """The area subtree it covers."""
    categories: Mapped[str] = mapped_column(Text)
    """The category codes it covers, as a JSON list (a parent covers its children)."""
    department_id: Mapped[str] = mapped_column(String(26))
    team_id: Mapped[str | None] = mapped_column(String(26))
    deadline: Mapped[str] = mapped_column(String(8))
    """Deadline override, ``8h`` or ``1d`` as in the categories."""
    priority: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))
    """``active`` or ``stood_down``."""
    declared_by: Mapped[str] = mapped_column(String(80))
    declared_at: Mapped[datetime] = mapped_column(default=utcnow)
    stood_down_by: Mapped[str | None] = mapped_column(String(80))
    stood_down_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_cityops_incidents_status", "status", "declared_at"),)


class ClassifierModel(IdMixin, Base):
    """研判模型 — a classifier trained on the city's own labelled events (JSON, never pickle)."""

    __tablename__ = "cityops_classifiers"

    data: Mapped[str] = mapped_column(Text)
    samples: Mapped[int] = mapped_column(Integer)
    accuracy: Mapped[float | None] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_cityops_classifiers_created", "created_at"),)


class Consultation(IdMixin, Base):
    """12345 咨询 — a call answered from the service catalogue rather than opened as an event: kept so
    that the hotline's work (and a caller's earlier questions) is on record. The caller's phone is
    encrypted as a report's is (AAD ``cityops.consultations.phone:<id>``) with the same blind index."""

    __tablename__ = "cityops_consultations"

    operator_user_id: Mapped[str | None] = mapped_column(String(26))
    caller_phone_enc: Mapped[str | None] = mapped_column(Text)
    caller_phone_index: Mapped[str | None] = mapped_column(String(32))
    question: Mapped[str] = mapped_column(Text)
    service_kind: Mapped[str] = mapped_column(String(10))
    """``item`` (政务服务事项) or ``bundle`` (一件事)."""
    service_code: Mapped[str] = mapped_column(String(40))
    service_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_cityops_consultations_caller", "caller_phone_index", "created_at"),
                      Index("ix_cityops_consultations_operator", "operator_user_id", "created_at"))
