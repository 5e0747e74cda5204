"""Queries of 一网统管. Every list is bounded and served by an index, so its cost does not grow with
the number of events ever reported."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from yiwang.cityops.models import (
    Category,
    ClassifierModel,
    Consultation,
    Escalation,
    Event,
    Incident,
    Report,
    RoutingRule,
    TimelineEntry,
)
from yiwang.core import rows

OPEN = ("triage", "dispatched", "accepted", "handled", "returned", "reopened")


# -- categories ---------------------------------------------------------------------------------------
def category(session: Session, code: str) -> Category | None:
    return session.scalars(select(Category).where(Category.code == code)).first()


def categories(session: Session, limit: int = 2000) -> list[Category]:
    """The whole tree (a city has tens to a few hundred categories), in code order."""
    return list(session.scalars(select(Category).order_by(Category.code).limit(limit)))


# -- events -------------------------------------------------------------------------------------------
def event(session: Session, event_id: str, *, for_update: bool = False) -> Event | None:
    stmt = select(Event).where(Event.id == event_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def events(session: Session, event_ids: Iterable[str], *, for_update: bool = False) -> list[Event]:
    stmt = select(Event).where(Event.id.in_(list(event_ids))).order_by(Event.id)
    if for_update:
        stmt = stmt.with_for_update()
    return list(session.scalars(stmt))


def duplicate_candidates(session: Session, category_code: str, cells: list[str], since: datetime,
                         limit: int = 50) -> list[Event]:
    """Open events of the category in the given cells reported since ``since``, newest first
    (``ix_cityops_events_duplicates``: one range per cell)."""
    return list(session.scalars(
        select(Event).where(Event.category_code == category_code, Event.cell.in_(cells),
                            Event.created_at >= since, Event.status.in_(OPEN))
        .order_by(Event.created_at.desc()).limit(limit)
    ))


# The intake's write half runs these for every report inside the writer's turn: statements built
# once, executed on the connection (no ORM unit of work, no identity map: the rows are inserted as
# built and the merge counter is one UPDATE).
_EVENTS, _REPORTS, _TIMELINE = Event.__table__, Report.__table__, TimelineEntry.__table__
_DUPLICATES = (
    select(_EVENTS.c.id, _EVENTS.c.lon, _EVENTS.c.lat, _EVENTS.c.description)
    .where(_EVENTS.c.category_code == bindparam("category"), _EVENTS.c.cell.in_(bindparam("cells", expanding=True)),
           _EVENTS.c.created_at >= bindparam("since"), _EVENTS.c.status.in_(OPEN))
    .order_by(_EVENTS.c.created_at.desc()).limit(bindparam("limit"))
)
_MERGE = (
    update(_EVENTS).where(_EVENTS.c.id == bindparam("event_id"))
    .values(reporter_count=_EVENTS.c.reporter_count + 1, updated_at=bindparam("at"))
    .returning(_EVENTS.c.number, _EVENTS.c.status, _EVENTS.c.triage_reason, _EVENTS.c.area_code)
)


def duplicate_rows(session: Session, category_code: str, cells: list[str], since: datetime,
                   limit: int = 50) -> list[tuple[str, float | None, float | None, str]]:
    """(id, lon, lat, description) of :func:`duplicate_candidates`, without loading the events."""
    rows = session.connection().execute(_DUPLICATES, {"category": category_code, "cells": cells, "since": since,
                                                      "limit": limit})
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def count_merge(session: Session, event_id: str, at: datetime) -> tuple[str, str, str | None, str] | None:
    """One more reporter on the event (locking its row): its (number, status, triage reason, area
    code), or None when it is gone. A copy of the event loaded in the session is expired."""
    row = session.connection().execute(_MERGE, {"event_id": event_id, "at": at}).first()
    loaded = session.identity_map.get(session.identity_key(Event, event_id))
    if loaded is not None:
        session.expire(loaded)
    return None if row is None else (row[0], row[1], row[2], row[3])


def insert_intake(session: Session, event: dict | None, report: dict, timeline: list[dict]) -> None:
    """Insert an intake's rows as built (column values by key; the event first, for the keys), as
    plain rows on the driver's cursor (``core.rows``)."""
    dialect = session.get_bind().dialect
    steps = [rows.insert(dialect, _EVENTS, [event])] if event is not None else []
    steps.append(rows.insert(dialect, _REPORTS, [report]))
    if timeline:
        steps.append(rows.insert(dialect, _TIMELINE, timeline))
    rows.run(session, steps)


def reports(session: Session, event_id: str, limit: int = 200) -> list[Report]:
    return list(session.scalars(
        select(Report).where(Report.event_id == event_id).order_by(Report.created_at, Report.id).limit(limit)
    ))


def reporter_of(session: Session, event_id: str, user_id: str) -> Report | None:
    """The user's report on the event, if they made one (``ix_cityops_reports_reporter_created``)."""
    return session.scalars(
        select(Report).where(Report.reporter_user_id == user_id, Report.event_id == event_id).limit(1)
    ).first()


def reporter_ids(session: Session, event_id: str, limit: int = 200) -> list[str]:
    return [u for u in session.scalars(
        select(Report.reporter_user_id).where(Report.event_id == event_id, Report.reporter_user_id.is_not(None),
                                              Report.channel.in_(("citizen", "open311")))
        .order_by(Report.created_at).limit(limit)
    ) if u]


def timeline(session: Session, event_id: str, limit: int = 500) -> list[TimelineEntry]:
    return list(session.scalars(
        select(TimelineEntry).where(TimelineEntry.event_id == event_id)
        .order_by(TimelineEntry.at, TimelineEntry.id).limit(limit)
    ))


def queue(session: Session, *, prefixes: list[str], statuses: tuple[str, ...], category_code: str | None,
          after: tuple[datetime, str] | None, limit: int) -> list[Event]:
    """Events in the area subtrees with the statuses, earliest due first.

    A district prefix (or a longer one) is one range of ``ix_cityops_events_queue`` per status; a
    city-wide prefix is served by ``ix_cityops_events_status_due``."""
    parts = []
    for p in prefixes:
        if len(p) >= 6:
            cond = Event.district_code == p[:6]
            if len(p) > 6:
                cond = and_(cond, Event.area_code.startswith(p, autoescape=True))
        else:
            cond = Event.district_code.startswith(p, autoescape=True)
        parts.append(cond)
    stmt = select(Event).where(or_(*parts), Event.status.in_(statuses))
    if category_code:
        stmt = stmt.where(Event.category_code == category_code)
    if after is not None:
        due, eid = after
        stmt = stmt.where(or_(Event.due_at > due, and_(Event.due_at == due, Event.id > eid)))
    return list(session.scalars(stmt.order_by(Event.due_at, Event.id).limit(limit)))


def overdue(session: Session, now: datetime, limit: int) -> list[Event]:
    """Open events whose next escalation is due, oldest first (``ix_cityops_events_escalation``)."""
    return list(session.scalars(
        select(Event).where(Event.next_escalation_at.is_not(None), Event.next_escalation_at <= now)
        .order_by(Event.next_escalation_at, Event.id).limit(limit).with_for_update(skip_locked=True)
    ))


def escalated(session: Session, event_id: str, level: str) -> bool:
    return session.scalars(
        select(Escalation.id).where(Escalation.event_id == event_id, Escalation.level == level)
    ).first() is not None


def labelled(session: Session, limit: int) -> list[tuple[str, str]]:
    """(description, category) of the newest closed events, for training the classifier."""
    return [(d, c) for d, c in session.execute(
        select(Event.description, Event.category_code)
        .where(Event.status == "closed", Event.category_code.is_not(None))
        .order_by(Event.created_at.desc()).limit(limit)
    )]


# -- routing ------------------------------------------------------------------------------------------
def rules_for(session: Session, category_codes: list[str], prefixes: list[str]) -> list[RoutingRule]:
    """The current rules of the categories whose area is one of ``prefixes``."""
    return list(session.scalars(
        select(RoutingRule).where(RoutingRule.category_code.in_(category_codes), RoutingRule.current.is_(True),
                                  RoutingRule.area_prefix.in_(prefixes))
    ))


def current_rules_of(session: Session, category_codes: list[str], limit: int) -> list[RoutingRule]:
    """The current rules of the categories, whatever their area, at most ``limit``
    (``ix_cityops_routing_rules_lookup``: one range per category)."""
    return list(session.scalars(
        select(RoutingRule).where(RoutingRule.category_code.in_(category_codes), RoutingRule.current.is_(True))
        .order_by(RoutingRule.category_code, RoutingRule.area_prefix).limit(limit)
    ))


def current_rule(session: Session, category_code: str, area_prefix: str) -> RoutingRule | None:
    return session.scalars(
        select(RoutingRule).where(RoutingRule.category_code == category_code, RoutingRule.area_prefix == area_prefix,
                                  RoutingRule.current.is_(True)).with_for_update()
    ).first()


def last_version(session: Session, category_code: str, area_prefix: str) -> int:
    return session.scalar(
        select(func.max(RoutingRule.version)).where(RoutingRule.category_code == category_code,
                                                    RoutingRule.area_prefix == area_prefix)
    ) or 0


def rules(session: Session, *, prefixes: list[str], category_code: str | None, limit: int) -> list[RoutingRule]:
    """Current rules inside the area subtrees, by category and area."""
    stmt = select(RoutingRule).where(RoutingRule.current.is_(True),
                                     or_(*[RoutingRule.area_prefix.startswith(p, autoescape=True) for p in prefixes]))
    if category_code:
        stmt = stmt.where(RoutingRule.category_code == category_code)
    return list(session.scalars(stmt.order_by(RoutingRule.category_code, RoutingRule.area_prefix).limit(limit)))


def rule(session: Session, rule_id: str) -> RoutingRule | None:
    return session.get(RoutingRule, rule_id)


def rule_versions(session: Session, category_code: str, area_prefix: str, limit: int) -> list[RoutingRule]:
    """Every version of a (category, area) rule, newest first (``ix_cityops_routing_rules_lookup``)."""
    return list(session.scalars(
        select(RoutingRule).where(RoutingRule.category_code == category_code, RoutingRule.area_prefix == area_prefix)
        .order_by(RoutingRule.version.desc()).limit(limit)))


def incident_event_counts(session: Session, incident_ids: list[str]) -> dict[str, int]:
    """How many events each incident took (``ix_cityops_events_incident``: one range per incident)."""
    if not incident_ids:
        return {}
    rows = session.execute(select(Event.incident_id, func.count()).where(Event.incident_id.in_(incident_ids))
                           .group_by(Event.incident_id))
    return {i: n for i, n in rows if i}


# -- incidents ----------------------------------------------------------------------------------------
def active_incidents(session: Session, limit: int = 100) -> list[Incident]:
    return list(session.scalars(
        select(Incident).where(Incident.status == "active").order_by(Incident.declared_at.desc()).limit(limit)
    ))


def incidents(session: Session, *, active_only: bool, limit: int) -> list[Incident]:
    stmt = select(Incident)
    if active_only:
        stmt = stmt.where(Incident.status == "active")
    return list(session.scalars(stmt.order_by(Incident.declared_at.desc()).limit(limit)))


def incident(session: Session, incident_id: str, *, for_update: bool = False) -> Incident | None:
    stmt = select(Incident).where(Incident.id == incident_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


# -- the classifier -----------------------------------------------------------------------------------
def latest_classifier(session: Session) -> ClassifierModel | None:
    return session.scalars(select(ClassifierModel).order_by(ClassifierModel.created_at.desc()).limit(1)).first()


def latest_classifier_id(session: Session) -> str | None:
    return session.scalars(
        select(ClassifierModel.id).order_by(ClassifierModel.created_at.desc()).limit(1)
    ).first()


# -- pages ---------------------------------------------------------------------------------------------
def reports_of(session: Session, user_id: str, limit: int) -> list[tuple[Report, Event]]:
    """The user's own reports with their events, newest first (``ix_cityops_reports_reporter_created``)."""
    return [(r, e) for r, e in session.execute(
        select(Report, Event).join(Event, Event.id == Report.event_id)
        .where(Report.reporter_user_id == user_id).order_by(Report.created_at.desc(), Report.id.desc()).limit(limit)
    )]


def assigned(session: Session, *, department_id: str, team_id: str | None, statuses: tuple[str, ...],
             limit: int) -> list[Event]:
    """Events assigned to a department (and, when given, its team), earliest due first
    (``ix_cityops_events_assignee``: one range per status)."""
    stmt = select(Event).where(Event.assignee_department_id == department_id, Event.status.in_(statuses))
    if team_id is not None:
        stmt = stmt.where(Event.assignee_team_id == team_id)
    return list(session.scalars(stmt.order_by(Event.due_at, Event.id).limit(limit)))


def open_counts_by_grid(session: Session, district_code: str, prefix: str, limit: int = 5000) -> list[tuple[str, int]]:
    """(area code, open events) in one district's subtree ``prefix`` — the grid where an event is
    placed in one, else the street or community it was placed in: one range of
    ``ix_cityops_events_queue`` per open status, so the cost follows the open events, not history."""
    stmt = select(Event.area_code, func.count()).where(Event.district_code == district_code, Event.status.in_(OPEN))
    if len(prefix) > len(district_code):
        stmt = stmt.where(Event.area_code.startswith(prefix, autoescape=True))
    return [(a, n) for a, n in session.execute(stmt.group_by(Event.area_code).limit(limit))]


def caller_reports(session: Session, phone_index: str, limit: int) -> list[tuple[Report, Event]]:
    """Reports of one caller (by the blind index of the phone), newest first."""
    return [(r, e) for r, e in session.execute(
        select(Report, Event).join(Event, Event.id == Report.event_id)
        .where(Report.caller_phone_index == phone_index).order_by(Report.created_at.desc()).limit(limit)
    )]


# -- Open311 ---
def events_by_numbers(session: Session, numbers: list[str], limit: int) -> list[Event]:
    """The events of the given numbers (the unique index on ``number``)."""
    if not numbers:
        return []
    return list(session.scalars(
        select(Event).where(Event.number.in_(numbers)).order_by(Event.created_at.desc(), Event.id.desc()).limit(limit)
    ))


def events_requested_between(session: Session, start: datetime, end: datetime, *, category_codes: list[str] | None,
                             statuses: tuple[str, ...] | None, limit: int) -> list[Event]:
    """Events reported in [start, end], newest first, at most ``limit`` (a range of
    ``ix_cityops_events_created``; the category and status are filters on that range)."""
    stmt = select(Event).where(Event.created_at >= start, Event.created_at <= end)
    if category_codes:
        stmt = stmt.where(Event.category_code.in_(category_codes))
    if statuses:
        stmt = stmt.where(Event.status.in_(statuses))
    return list(session.scalars(stmt.order_by(Event.created_at.desc(), Event.id.desc()).limit(limit)))


def report(session: Session, report_id: str) -> Report | None:
    return session.get(Report, report_id)


def timeline_kind(session: Session, event_ids: list[str], kind: str, limit: int) -> list[TimelineEntry]:
    """The entries of one kind of the given events (``ix_cityops_timeline_event_at``, one range per event)."""
    if not event_ids:
        return []
    return list(session.scalars(
        select(TimelineEntry).where(TimelineEntry.event_id.in_(event_ids), TimelineEntry.kind == kind)
        .order_by(TimelineEntry.at, TimelineEntry.id).limit(limit)
    ))


def timeline_between(session: Session, start: datetime, end: datetime, kinds: tuple[str, ...],
                     limit: int) -> list[tuple[TimelineEntry, str, str | None]]:
    """(entry, event number, event result) of the entries of ``kinds`` in [start, end], oldest
    first, at most ``limit`` (a range of ``ix_cityops_timeline_at``)."""
    rows = session.execute(
        select(TimelineEntry, Event.number, Event.result).join(Event, Event.id == TimelineEntry.event_id)
        .where(TimelineEntry.at >= start, TimelineEntry.at <= end, TimelineEntry.kind.in_(kinds))
        .order_by(TimelineEntry.at, TimelineEntry.id).limit(limit)
    )
    return [(t, n, r) for t, n, r in rows]


def has_children(session: Session, code: str) -> bool:
    """Whether a category has sub-categories (the index on ``parent_code``)."""
    return session.scalars(select(Category.id).where(Category.parent_code == code).limit(1)).first() is not None


# -- demo and bench ---
def status_counts(session: Session) -> dict[str, int]:
    """How many events are in each status (the demo loader's summary: a whole-table count, never on
    a request's path)."""
    return {s: n for s, n in session.execute(select(Event.status, func.count()).group_by(Event.status))}


def consultations_of_operator(session: Session, user_id: str, limit: int) -> list[Consultation]:
    """An operator's latest answered questions (``ix_cityops_consultations_operator``)."""
    return list(session.scalars(select(Consultation).where(Consultation.operator_user_id == user_id)
                                .order_by(Consultation.created_at.desc()).limit(limit)))


def consultations_of_caller(session: Session, phone_index: str, limit: int) -> list[Consultation]:
    """A caller's earlier questions, newest first (``ix_cityops_consultations_caller``)."""
    return list(session.scalars(select(Consultation).where(Consultation.caller_phone_index == phone_index)
                                .order_by(Consultation.created_at.desc()).limit(limit)))
