"""Pydantic shapes of 一网统管: categories, report intake, events and their timelines, routing
rules and emergency incidents."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Channel = Literal["citizen", "hotline", "patrol", "open311", "sensor"]
Urgency = Literal["normal", "urgent", "critical"]
Level = Literal["grid", "street", "district", "city"]
Crs = Literal["wgs84", "gcj02"]

CHANNELS = ("citizen", "hotline", "patrol", "open311", "sensor")
"""随手拍, 12345, 巡查, Open311, 感知告警."""
URGENCIES = ("normal", "urgent", "critical")
"""一般, 紧急, 特急."""
LEVELS = ("grid", "street", "district", "city")
STATUSES = ("triage", "dispatched", "accepted", "handled", "closed", "returned", "reopened")
"""待研判, 已派单, 已接单, 已处置, 已结案, 已退单, 重新处理."""
OPEN_STATUSES = ("triage", "dispatched", "accepted", "handled", "returned", "reopened")


class CategoryCreate(BaseModel):
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=100)
    parent_code: str | None = None
    level: Level = "street"
    urgency: Urgency = "normal"
    deadlines: dict[str, str] = Field(default_factory=lambda: {"normal": "5d", "urgent": "8h", "critical": "2h"})
    """Deadline per urgency: ``Nh`` working hours or ``Nd`` working days; every urgency is needed."""


class CategoryRead(BaseModel):
    """事件分类 with its defaults."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    code: str
    name: str
    parent_code: str | None
    level: str
    urgency: str
    deadlines: dict[str, str]
    active: bool


class ReportIn(BaseModel):
    """One report through any channel's front door (the channel and reporter come from the door)."""

    description: str = Field(max_length=2000)
    category_code: str | None = None
    category_sure: bool = True
    """False when the reporter is unsure: the classifier is asked as when no category is given."""
    lon: float | None = None
    lat: float | None = None
    crs: Crs = "wgs84"
    area_code: str | None = None
    """Where it is when no point is given (a grid, community, street or district code)."""
    address: str | None = Field(default=None, max_length=200)
    photo_ids: list[str] = Field(default_factory=list)
    urgency: Urgency | None = None


class CitizenReport(ReportIn):
    """随手拍: a citizen's report with photos they uploaded (purpose ``photo``) and a map pin."""


class HotlineReport(ReportIn):
    """A 12345 call entered by the operator; the caller's phone is kept encrypted."""

    caller_phone: str | None = Field(default=None, max_length=20)


class PatrolReport(ReportIn):
    """A grid worker's patrol finding (巡查)."""


class ReportOutcome(BaseModel):
    """What became of a report: the event it opened or merged into."""

    report_id: str
    event_id: str
    number: str
    merged: bool
    status: str
    triage_reason: str | None


class EventSummary(BaseModel):
    """A line of the dispatcher's queue or a handler's inbox."""

    model_config = ConfigDict(frozen=True)

    id: str
    number: str
    channel: str
    category_code: str | None
    description: str
    area_code: str
    district_code: str
    status: str
    triage_reason: str | None
    urgency: str
    priority: int
    level: str
    due_at: datetime
    overdue: bool
    assignee_department_id: str | None
    assignee_team_id: str | None
    assignee_user_id: str | None
    incident_id: str | None
    reporter_count: int
    created_at: datetime


class EventPage(BaseModel):
    items: list[EventSummary]
    next_cursor: str | None


class TimelineRead(BaseModel):
    kind: str
    actor: str
    note: str | None
    detail: dict | None
    at: datetime


class ReportRead(BaseModel):
    """A report as staff see it: the caller's phone masked to its last four digits."""

    id: str
    channel: str
    reporter_user_id: str | None
    caller_phone: str | None
    description: str
    category_code: str | None
    lon: float | None
    lat: float | None
    address: str | None
    photo_ids: list[str]
    merged: bool
    created_at: datetime


class EventRead(EventSummary):
    """An event with its location, result, reports and timeline."""

    lon: float | None
    lat: float | None
    address: str | None
    grid_code: str | None
    community_code: str | None
    street_code: str | None
    rule_id: str | None
    rule_version: int | None
    classifier_confidence: float | None
    result: str | None
    rating: int | None
    reopen_count: int
    dispatched_at: datetime | None
    handled_at: datetime | None
    closed_at: datetime | None
    reports: list[ReportRead]
    timeline: list[TimelineRead]


class TriageDecision(BaseModel):
    """问题研判: the dispatcher places and classifies an event (then it is routed), or closes it as
    not a case (``invalid``, with the reason)."""

    decision: Literal["route", "invalid"] = "route"
    category_code: str | None = None
    area_code: str | None = None
    urgency: Urgency | None = None
    reason: str | None = None


class DispatchBody(BaseModel):
    """Manual dispatch to a department, optionally its team or one grid worker."""

    department_id: str
    team_id: str | None = None
    user_id: str | None = None
    urgency: Urgency | None = None
    note: str | None = Field(default=None, max_length=500)


class BulkDispatchBody(DispatchBody):
    event_ids: list[str]


class ReasonBody(BaseModel):
    reason: str = ""


class HandleBody(BaseModel):
    """处置: what was done, evidence photos, and with ``finish`` the result."""

    note: str = Field(default="", max_length=2000)
    photo_ids: list[str] = Field(default_factory=list)
    finish: bool = False
    result: str | None = Field(default=None, max_length=2000)


class CheckBody(BaseModel):
    """核查: the dispatcher confirms the result (closes the event) or sends it back to the handler."""

    passed: bool
    note: str = Field(default="", max_length=500)


class RatingBody(BaseModel):
    score: int
    comment: str | None = Field(default=None, max_length=500)


class RuleCreate(BaseModel):
    """A new version of the (category, area) rule; ``department_id`` None retires it."""

    category_code: str
    area_prefix: str
    department_id: str | None
    team_id: str | None = None
    user_id: str | None = None


class RuleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: str
    category_code: str
    area_prefix: str
    version: int
    current: bool
    department_id: str | None
    team_id: str | None
    user_id: str | None
    created_by: str
    created_at: datetime


class IncidentCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    area_code: str
    categories: list[str]
    department_id: str
    team_id: str | None = None
    deadline: str = "4h"
    priority: int = Field(default=100, ge=0, le=1000)


class IncidentRead(BaseModel):
    """突发事件 (战时模式)."""

    id: str
    name: str
    area_code: str
    categories: list[str]
    department_id: str
    team_id: str | None
    deadline: str
    priority: int
    status: str
    declared_by: str
    declared_at: datetime
    stood_down_by: str | None
    stood_down_at: datetime | None


class TrainingRead(BaseModel):
    id: str
    samples: int
    categories: list[str]
    accuracy: float | None


# -- pages ---------------------------------------------------------------------------------------------
class MyReport(BaseModel):
    """One of the reporter's own reports, with the event it opened or joined (随手拍 · my reports)."""

    report_id: str
    event_id: str
    number: str
    description: str
    category_code: str | None
    merged: bool
    status: str
    rating: int | None
    closed_at: datetime | None
    reported_at: datetime


class ConsultationRead(BaseModel):
    """A 12345 call answered from the service catalogue (the phone is never shown back)."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: str
    question: str
    service_kind: str
    service_code: str
    service_name: str
    created_at: datetime


class CallerEvent(BaseModel):
    """An event a hotline caller reported before (found by the encrypted phone's blind index)."""

    event_id: str
    number: str
    description: str
    category_code: str | None
    status: str
    reported_at: datetime


# -- Open311 ---
class Open311Value(BaseModel):
    key: str
    name: str


class Open311Attribute(BaseModel):
    """An attribute of a GeoReport v2 service definition."""

    variable: bool
    code: str
    datatype: str
    required: bool
    datatype_description: str | None
    order: int
    description: str
    values: list[Open311Value]


class Open311Service(BaseModel):
    """A GeoReport v2 service: one active leaf category."""

    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: str
    keywords: str
    group: str


class Open311Definition(BaseModel):
    service_code: str
    attributes: list[Open311Attribute]


class Open311Submission(BaseModel):
    """A GeoReport v2 POST requests, as the router parsed it (lat/long WGS-84, already numbers)."""

    service_code: str
    lat: float | None = None
    long: float | None = None
    address_string: str | None = None
    address_id: str | None = None
    description: str | None = None
    media_url: str | None = None
    phone: str | None = None
    attributes: dict[str, list[str]] = Field(default_factory=dict)


class Open311Receipt(BaseModel):
    """The answer to POST requests and GET tokens: the event number (service_request_id)."""

    service_request_id: str | None
    token: str | None = None
    service_notice: str | None = None
    account_id: str | None = None


class Open311Request(BaseModel):
    """A GeoReport v2 service request: an event as the public sees it (nothing about reporters)."""

    service_request_id: str
    status: str
    status_notes: str | None
    service_name: str | None
    service_code: str | None
    description: str
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: datetime
    updated_datetime: datetime
    expected_datetime: datetime | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float | None
    long: float | None
    media_url: str | None


class Open311Update(BaseModel):
    """A FixMyStreet ``request_update``: one public step of an event's timeline."""

    update_id: str
    service_request_id: str
    status: str
    updated_datetime: datetime
    description: str
    media_url: str | None
