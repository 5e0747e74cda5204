"""Use cases of 一网统管: one intake for every channel, triage, dispatch, handling, the closed loop,
overdue escalation and emergency mode.

The life of an event::

    report ─intake→ triage (待研判, manual queue) ─triage decision→ dispatched
              └────────── placed, classified, routed ──────────→ dispatched (已派单)
    dispatched ─accept→ accepted ─handle (finish)→ handled ─check passed→ closed (结案)
         │                 │                          └─check failed→ accepted
         └─return (退单)───┴──→ returned → dispatch again
    closed ─reopen (within 7 days, by a reporter)→ reopened (same team) → accepted …

Every channel's front door (随手拍, 12345, patrol, later Open311 and sensors) calls :func:`intake`:
the report is placed (a point, WGS-84 or GCJ-02, or an area code), classified (the reporter's
category, or the classifier's when none or a doubtful one is given and it is confident enough),
checked for duplicates (same category, within :data:`DUPLICATE_METRES` and
:data:`DUPLICATE_HOURS`, similar text) and routed (an active emergency incident first, then the
most specific current routing rule). What cannot be placed, classified or routed waits in the
triage queue: nothing is lost.

Every transition writes a timeline entry and its audit entry in the same transaction.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yiwang.areas import service as areas_service
from yiwang.audit import service as audit_service
from yiwang.catalog import service as catalog_service
from yiwang.cityops import errors, memo, repository, triage
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
from yiwang.cityops.schemas import (
    CHANNELS,
    LEVELS,
    OPEN_STATUSES,
    STATUSES,
    URGENCIES,
    BulkDispatchBody,
    CategoryCreate,
    CategoryRead,
    CheckBody,
    ConsultationRead,
    DispatchBody,
    EventPage,
    EventRead,
    EventSummary,
    HandleBody,
    IncidentCreate,
    IncidentRead,
    Open311Attribute,
    Open311Definition,
    Open311Receipt,
    Open311Request,
    Open311Service,
    Open311Submission,
    Open311Update,
    Open311Value,
    ReportIn,
    ReportOutcome,
    ReportRead,
    RuleCreate,
    RuleRead,
    TimelineRead,
    TrainingRead,
    TriageDecision,
)
from yiwang.core import masking, rows
from yiwang.core.actor import SYSTEM, Actor
from yiwang.core.db import new_id, utcnow
from yiwang.core.errors import AuthenticationRequired, PermissionDenied
from yiwang.core.fieldcrypt import FieldCipher
from yiwang.core.i18n import translate
from yiwang.core.masking import mask
from yiwang.files import service as files_service
from yiwang.identity import service as identity_service
from yiwang.notifications import service as notifications_service
from yiwang.workdays import service as workdays_service

log = logging.getLogger("yiwang.cityops")

DUPLICATE_METRES = 50.0
"""Two reports of one category this close (and within :data:`DUPLICATE_HOURS`) may be one problem."""
DUPLICATE_HOURS = 24
DUPLICATE_SIMILARITY = triage.SIMILARITY_THRESHOLD
"""…and they are when their texts are at least this similar (``triage.text_similarity``, 0–1 over
jieba words and character bigrams; 0.5 — docs/adr/0011): "井盖缺失" and "这里井盖没了" are, "井盖缺失"
and "路灯不亮" are not."""
CONFIDENCE_THRESHOLD = triage.CONFIDENCE_THRESHOLD
"""The classifier's category is taken at this confidence or above; below, a dispatcher decides."""
CELL_DEGREES = 0.001
"""The duplicate check's grid cell: 0.001° is ≥ 66 m everywhere in China (lat ≤ 53.6°), so every
point within 50 m of a report lies in its cell or one of the eight around it."""
TRIAGE_HOURS = 2
"""Working hours a dispatcher has to decide an event in the triage queue (or a returned one)."""
REOPEN_DAYS = 7
MAX_PHOTOS = 9
DESCRIPTION_LIMIT = 2000
REASON_LIMIT = 500
BULK_LIMIT = 100
PAGE_SIZE = 50
ESCALATION_BATCH = 200
TRAINING_LIMIT = 50_000
LEVEL_UP = {"grid": "street", "street": "district", "district": "city"}
LEVEL_NAMES = {"grid": "网格", "street": "街道", "district": "区", "city": "市"}
_DEADLINE = re.compile(r"^([1-9][0-9]{0,3})([hd])$")
_PHONE = re.compile(r"^[0-9]{5,20}$")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
_CODE_LENGTHS = {"district": 6, "street": 9, "community": 12, "grid": 15}


# -- small helpers ------------------------------------------------------------------------------------
def _now(at: datetime | None = None) -> datetime:
    return (at or utcnow()).astimezone(UTC)


def _text(value: str | None, limit: int, error: type[errors.ValidationFailed]) -> str:
    text = (value or "").strip()
    if not text or len(text) > limit:
        raise error(limit=limit)
    return text


def _reason(value: str | None) -> str:
    return _text(value, REASON_LIMIT, errors.ReasonRequired)


def _number(event_id: str, at: datetime) -> str:
    return f"{at:%Y%m%d}{event_id[-8:].upper()}"


def _record(session: Session, actor: Actor, ev: Event, kind: str, *, note: str | None = None,
            detail: dict[str, Any] | None = None) -> None:
    """One timeline entry and its audit entry, in the caller's transaction."""
    facts = {k: v for k, v in (detail or {}).items() if v is not None}
    session.add(TimelineEntry(id=new_id(), event_id=ev.id, kind=kind, actor=actor.label, note=note,
                              detail=json.dumps(facts, ensure_ascii=False, sort_keys=True) if facts else None,
                              at=utcnow()))
    audit_service.record(session, actor, f"cityops.{kind}", target_type="event", target_id=ev.id,
                         area_code=ev.area_code, detail={"number": ev.number, "status": ev.status, **facts})


def _city_code(session: Session) -> str:
    """The city's code (the root of the areas), where events not yet placed belong."""
    def read() -> str:
        roots = areas_service.roots(session)
        return roots[0].code if roots else ""
    return memo.ROUTING.get(session, ("city", None), read)


def _require_some(actor: Actor, permission: str) -> None:
    if not actor.is_authenticated:
        raise AuthenticationRequired()
    if not actor.scopes(permission):
        raise PermissionDenied(permission=permission)


def _load(session: Session, event_id: str, *, for_update: bool = False) -> Event:
    ev = repository.event(session, event_id, for_update=for_update)
    if ev is None:
        raise errors.EventNotFound(ref=event_id)
    return ev


def _deadline(spec: str) -> tuple[int, str]:
    m = _DEADLINE.match(spec or "")
    if not m:
        raise errors.DeadlineInvalid(value=spec)
    return int(m.group(1)), m.group(2)


def _due(session: Session, start: datetime, spec: str) -> datetime:
    """The deadline ``spec`` (``8h`` working hours, ``3d`` working days to the close of office) from ``start``."""
    n, unit = _deadline(spec)
    if unit == "h":
        return workdays_service.add_working_hours(session, start, n).at
    return workdays_service.end_of_working_day(session, start, n).at


def _triage_due(session: Session, start: datetime) -> datetime:
    return workdays_service.add_working_hours(session, start, TRIAGE_HOURS).at


def _distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres (haversine, mean Earth radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(min(1.0, math.sqrt(h)))


def _cell_xy(lon: float, lat: float) -> tuple[int, int]:
    return math.floor(lon / CELL_DEGREES), math.floor(lat / CELL_DEGREES)


def _cell(lon: float, lat: float) -> str:
    x, y = _cell_xy(lon, lat)
    return f"{x}:{y}"


def _cells_around(lon: float, lat: float) -> list[str]:
    x, y = _cell_xy(lon, lat)
    return [f"{x + dx}:{y + dy}" for dx in (-1, 0, 1) for dy in (-1, 0, 1)]


# -- categories ---------------------------------------------------------------------------------------
def _category_read(c: Category) -> CategoryRead:
    return CategoryRead(code=c.code, name=c.name, parent_code=c.parent_code, level=c.level, urgency=c.urgency,
                        deadlines=json.loads(c.deadlines), active=c.active)


def list_categories(session: Session) -> list[CategoryRead]:
    """The category tree, in code order (public reference data)."""
    return [_category_read(c) for c in repository.categories(session)]


def _active_category(session: Session, code: str) -> Category:
    c = repository.category(session, code)
    if c is None or not c.active:
        raise errors.CategoryUnknown(code=code)
    return c


def _chain(session: Session, c: Category) -> list[Category]:
    """The category and its ancestors, most specific first (a tree is a few levels deep)."""
    out = [c]
    while out[-1].parent_code and len(out) < 8:
        parent = repository.category(session, out[-1].parent_code)
        if parent is None:
            break
        out.append(parent)
    return out


def create_category(session: Session, actor: Actor, body: CategoryCreate) -> CategoryRead:
    """Add a category to the tree (``cityops.category.manage`` over the city); refuses a bad code,
    an unknown parent, a deadline missing for an urgency or malformed, and a code already used."""
    _require_some(actor, "cityops.category.manage")
    actor.require("cityops.category.manage", area_code=_city_code(session))
    if not _CODE.match(body.code):
        raise errors.CategoryInvalid(code=body.code, reason="the code may hold letters, digits, '.', '-' and '_'")
    if body.parent_code and repository.category(session, body.parent_code) is None:
        raise errors.CategoryUnknown(code=body.parent_code)
    for urgency in URGENCIES:
        if urgency not in body.deadlines:
            raise errors.CategoryInvalid(code=body.code, reason="every urgency needs a deadline")
        _deadline(body.deadlines[urgency])
    if repository.category(session, body.code) is not None:
        raise errors.CategoryExists(code=body.code)
    row = Category(id=new_id(), code=body.code, name=body.name.strip(), parent_code=body.parent_code,
                   level=body.level, urgency=body.urgency,
                   deadlines=json.dumps({u: body.deadlines[u] for u in URGENCIES}), active=True)
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise errors.CategoryExists(code=body.code) from None
    audit_service.record(session, actor, "cityops.category_created", target_type="event_category",
                         target_id=row.code, detail={"level": row.level, "urgency": row.urgency})
    return _category_read(row)


# -- the classifier -----------------------------------------------------------------------------------
_MODEL_LOCK = threading.Lock()
_MODEL: dict[str, Any] = {"id": None, "classifier": None}


def _classifier(session: Session) -> triage.Classifier | None:
    """The newest trained classifier, loaded once per process per model (one indexed look-up each
    call to notice a newer one)."""
    latest = memo.ROUTING.get(session, ("classifier", None), lambda: repository.latest_classifier_id(session))
    if latest is None:
        return None
    with _MODEL_LOCK:
        if _MODEL["id"] == latest:
            return _MODEL["classifier"]
    row = repository.latest_classifier(session)
    if row is None:
        return None
    model = triage.Classifier.from_bytes(row.data.encode("utf-8"))
    with _MODEL_LOCK:
        _MODEL.update(id=row.id, classifier=model)
    return model


def train_classifier(session: Session, actor: Actor, limit: int = TRAINING_LIMIT) -> TrainingRead:
    """Train the classifier on the newest closed events' texts and categories and keep it; refuses
    (``classifier_unavailable``) when there are too few labelled events."""
    _require_some(actor, "cityops.category.manage")
    actor.require("cityops.category.manage", area_code=_city_code(session))
    samples = repository.labelled(session, max(1, min(limit, TRAINING_LIMIT)))
    try:
        model = triage.Classifier.train(samples)
    except triage.TriageError as exc:
        raise errors.ClassifierUnavailable(reason=exc.message, inner=exc.params) from None
    row = ClassifierModel(id=new_id(), data=model.to_bytes().decode("utf-8"), samples=model.samples,
                          accuracy=model.accuracy, created_by=actor.label)
    session.add(row)
    audit_service.record(session, actor, "cityops.classifier_trained", target_type="classifier", target_id=row.id,
                         detail={"samples": model.samples, "categories": len(model.categories),
                                 "accuracy": model.accuracy})
    session.flush()
    return TrainingRead(id=row.id, samples=model.samples, categories=list(model.categories), accuracy=model.accuracy)


# -- placing ------------------------------------------------------------------------------------------
class _Place:
    """Where a report is: its area codes, or why it could not be placed."""

    def __init__(self, city: str, code: str | None = None, reason: str | None = None) -> None:
        self.reason = reason
        self.codes: dict[str, str | None] = {level: None for level in _CODE_LENGTHS}
        if code:
            for level, n in _CODE_LENGTHS.items():
                if len(code) >= n:
                    self.codes[level] = code[:n]
        self.area_code = code or city
        self.district = self.codes["district"] or city

    @property
    def placed(self) -> bool:
        return self.reason is None


def _check_point(lon: float | None, lat: float | None) -> bool:
    if lon is None and lat is None:
        return False
    if lon is None or lat is None or not (math.isfinite(lon) and math.isfinite(lat)) \
            or not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise errors.LocationInvalid()
    return True


def _place(session: Session, lon: float | None, lat: float | None, area_code: str | None,
           address: str | None = None) -> _Place:
    """A point places to its grid; else an area code; else the most precise area the address text
    names (黄浦区南京东路… → the street); else nowhere (the triage queue)."""
    city = _city_code(session)
    if lon is not None and lat is not None:
        grid = areas_service.locate(session, lon, lat, "wgs84")
        return _Place(city, grid.code) if grid is not None else _Place(city, reason="outside_city")
    if area_code:
        return _area_place(session, area_code)
    named = areas_service.locate_address(session, address) if address else None
    if named is not None:
        return _area_place(session, named.code)
    return _Place(city, reason="no_location")


def _area_place(session: Session, area_code: str) -> _Place:
    area = areas_service.find_area(session, area_code.strip())
    if area is None:
        raise errors.AreaUnknown(code=area_code)
    city = _city_code(session)
    return _Place(city, area.code if area.level != "city" else None,
                  None if area.level != "city" else "no_location")


def _apply_place(ev: Event, place: _Place) -> None:
    ev.area_code, ev.district_code = place.area_code, place.district
    ev.grid_code, ev.community_code = place.codes["grid"], place.codes["community"]
    ev.street_code = place.codes["street"]


# -- routing ------------------------------------------------------------------------------------------
def _matching_incident(session: Session, ev: Event, chain: list[Category]) -> Incident | None:
    codes = {c.code for c in chain}
    for inc in repository.active_incidents(session):
        if ev.area_code.startswith(inc.area_code) and codes & set(json.loads(inc.categories)):
            return inc
    return None


def _matching_rule(session: Session, ev: Event, chain: list[Category]) -> RoutingRule | None:
    """The current rule of the most specific category, then the longest area prefix."""
    prefixes = [ev.area_code[:n] for n in range(1, len(ev.area_code) + 1)]
    found = [r for r in repository.rules_for(session, [c.code for c in chain], prefixes) if r.department_id]
    if not found:
        return None
    rank = {c.code: i for i, c in enumerate(chain)}
    return min(found, key=lambda r: (rank[r.category_code], -len(r.area_prefix)))


def _to_triage(session: Session, ev: Event, reason: str, now: datetime) -> None:
    ev.status, ev.triage_reason = "triage", reason
    ev.due_at, ev.next_escalation_at = _triage_due(session, now), None


def _assign(session: Session, actor: Actor, ev: Event, category: Category, *, department_id: str,
            team_id: str | None, user_id: str | None, deadline: str, now: datetime, kind: str,
            detail: dict[str, Any]) -> None:
    ev.assignee_department_id, ev.assignee_team_id, ev.assignee_user_id = department_id, team_id, user_id
    ev.status, ev.triage_reason = "dispatched", None
    ev.due_at = _due(session, now, deadline)
    ev.next_escalation_at = ev.due_at
    ev.dispatched_at, ev.updated_at = now, now
    if ev.level not in LEVELS:
        ev.level = category.level
    _record(session, actor, ev, kind, detail={
        "department_id": department_id, "team_id": team_id, "user_id": user_id,
        "due_at": ev.due_at.isoformat(), **detail})
    _notify_assignee(session, ev, "cityops.event_dispatched", {"category": category.name})


def _route(session: Session, actor: Actor, ev: Event, category: Category, now: datetime) -> bool:
    """Send a placed, classified event to an active incident's team or by the routing rules; to the
    triage queue (``no_route``) when no rule covers it. True when it was dispatched."""
    chain = _chain(session, category)
    incident = _matching_incident(session, ev, chain)
    if incident is not None:
        ev.incident_id, ev.priority = incident.id, max(ev.priority, incident.priority)
        _assign(session, actor, ev, category, department_id=incident.department_id, team_id=incident.team_id,
                user_id=None, deadline=incident.deadline, now=now, kind="dispatched",
                detail={"incident_id": incident.id, "by": "incident"})
        return True
    rule = _matching_rule(session, ev, chain)
    if rule is None or rule.department_id is None:
        _to_triage(session, ev, "no_route", now)
        _record(session, actor, ev, "triage", detail={"reason": "no_route"})
        return False
    ev.rule_id, ev.rule_version = rule.id, rule.version
    _assign(session, actor, ev, category, department_id=rule.department_id, team_id=rule.team_id,
            user_id=rule.user_id, deadline=json.loads(category.deadlines)[ev.urgency], now=now, kind="dispatched",
            detail={"rule_id": rule.id, "rule_version": rule.version, "by": "rule"})
    return True


# -- notifications ------------------------------------------------------------------------------------
def _local(at: datetime) -> str:
    return at.astimezone(workdays_service.TIMEZONE).strftime("%Y-%m-%d %H:%M")


def _handlers(session: Session, ev: Event) -> list[str]:
    if ev.assignee_user_id:
        return [ev.assignee_user_id]
    dept = ev.assignee_team_id or ev.assignee_department_id
    if dept is None:
        return []
    return identity_service.users_with_permission(session, "cityops.handle", area_code=ev.area_code,
                                                  department_id=dept)[:50]


def _notify_assignee(session: Session, ev: Event, template: str, params: dict[str, Any],
                     text: dict[str, Any] | None = None) -> None:
    for user_id in _handlers(session, ev):
        notifications_service.notify(session, user_id, template,
                                     {"reference": ev.number, "event_id": ev.id, "due_at": _local(ev.due_at),
                                      **params}, text=text)


def _notify_reporters(session: Session, ev: Event, template: str, text: dict[str, Any] | None = None) -> None:
    for user_id in dict.fromkeys(repository.reporter_ids(session, ev.id)):
        notifications_service.notify(session, user_id, template, {"reference": ev.number, "event_id": ev.id},
                                     text=text)


# -- intake: one plan and one apply for every channel -------------------------------------------------
# Every channel's report is first *planned* (checked, placed, classified, routed, its rows built:
# reads only, no lock held) and then *applied* (the duplicate check against every report committed
# before it, then the inserts), which is all that runs in the writer's turn of the group commit
# (core.groupcommit). :func:`intake` does both in the caller's transaction. Routing facts come
# from the memo (cityops.memo), valid while nothing they were read from has changed; the apply
# routes again when something did change after the plan.
def _photos(session: Session, actor: Actor, photo_ids: list[str]) -> list[str]:
    ids = list(dict.fromkeys(photo_ids))
    if len(ids) > MAX_PHOTOS:
        raise errors.PhotoInvalid(limit=MAX_PHOTOS)
    for file_id in ids:
        stored = files_service.get(session, file_id)
        if stored is None or stored.owner_user_id != actor.user_id or stored.purpose != "photo":
            raise errors.PhotoInvalid(limit=MAX_PHOTOS)
    return ids


@dataclass(frozen=True, slots=True)
class _Cat:
    """A category as intake uses it (memoised: see cityops.memo)."""

    code: str
    name: str
    parent_code: str | None
    level: str
    urgency: str
    deadlines: dict[str, str]
    active: bool


def _cat(session: Session, code: str) -> _Cat | None:
    def read() -> _Cat | None:
        c = repository.category(session, code)
        return None if c is None else _Cat(c.code, c.name, c.parent_code, c.level, c.urgency,
                                           json.loads(c.deadlines), bool(c.active))
    return memo.ROUTING.get(session, ("category", code), read)


def _cat_chain(session: Session, category: _Cat) -> tuple[str, ...]:
    """The codes of the category and its ancestors, most specific first (as :func:`_chain`)."""
    def read() -> tuple[str, ...]:
        out, parent = [category.code], category.parent_code
        while parent and len(out) < 8:
            found = repository.category(session, parent)
            if found is None:
                break
            out.append(found.code)
            parent = found.parent_code
        return tuple(out)
    return memo.ROUTING.get(session, ("chain", category.code), read)


@dataclass(frozen=True, slots=True)
class _Route:
    """Where a new event of a category chain in an area goes: an active incident's team or a rule's."""

    department_id: str
    team_id: str | None
    user_id: str | None
    deadline: str | None
    """The incident's deadline; None: the category's for the event's urgency."""
    rule_id: str | None
    rule_version: int | None
    incident_id: str | None
    priority: int


_Rule = tuple[str, str, str, str | None, str | None, str, int]
"""(category code, area prefix, department, team, user, rule id, version) of a current rule."""
RULES_MEMO_LIMIT = 5000
"""A category chain with more current rules than this is matched per area in the database."""


def _incidents(session: Session) -> tuple[tuple[str, str, frozenset[str], str, str | None, str, int], ...]:
    """The active incidents (id, area, categories, department, team, deadline, priority), newest first."""
    return memo.ROUTING.get(session, ("incidents", None), lambda: tuple(
        (i.id, i.area_code, frozenset(json.loads(i.categories)), i.department_id, i.team_id, i.deadline, i.priority)
        for i in repository.active_incidents(session)))


def _rules(session: Session, chain: tuple[str, ...]) -> tuple[_Rule, ...] | None:
    """The current rules of the chain's categories that route somewhere; None when there are too many."""
    def read() -> tuple[_Rule, ...] | None:
        rows = repository.current_rules_of(session, list(chain), RULES_MEMO_LIMIT + 1)
        if len(rows) > RULES_MEMO_LIMIT:
            return None
        return tuple((r.category_code, r.area_prefix, r.department_id, r.team_id, r.user_id, r.id, r.version)
                     for r in rows if r.department_id)
    return memo.ROUTING.get(session, ("rules", chain), read)


def _route_of(session: Session, chain: tuple[str, ...], area_code: str) -> _Route | None:
    """As :func:`_matching_incident` then :func:`_matching_rule`, from memoised incidents and rules:
    the current rule of the most specific category, then the longest area prefix."""
    codes = set(chain)
    for inc_id, inc_area, inc_codes, dept, team, deadline, priority in _incidents(session):
        if area_code.startswith(inc_area) and codes & inc_codes:
            return _Route(dept, team, None, deadline, None, None, inc_id, priority)
    rules = _rules(session, chain)
    if rules is None:
        prefixes = [area_code[:n] for n in range(1, len(area_code) + 1)]
        rules = memo.ROUTING.get(session, ("rules_in", (chain, area_code)), lambda: tuple(
            (r.category_code, r.area_prefix, r.department_id, r.team_id, r.user_id, r.id, r.version)
            for r in repository.rules_for(session, list(chain), prefixes) if r.department_id))
    rank = {c: i for i, c in enumerate(chain)}
    found = [r for r in rules if area_code.startswith(r[1])]
    if not found:
        return None
    code, prefix, dept, team, user, rule_id, version = min(found, key=lambda r: (rank[r[0]], -len(r[1])))
    return _Route(dept, team, user, None, rule_id, version, None, 0)


def _handlers_of(session: Session, route: _Route, area_code: str) -> tuple[str, ...]:
    """As :func:`_handlers` for an event routed by ``route`` in ``area_code``, memoised."""
    if route.user_id:
        return (route.user_id,)
    dept = route.team_id or route.department_id
    return memo.HANDLERS.get(session, (dept, area_code), lambda: tuple(
        identity_service.users_with_permission(session, "cityops.handle", area_code=area_code,
                                               department_id=dept)[:50]))


def _classify(session: Session, feats: list[str]) -> tuple[_Cat | None, float | None]:
    model = _classifier(session)
    prediction = model.predict_features(feats) if model is not None else None
    if prediction is None or prediction.confidence < CONFIDENCE_THRESHOLD:
        return None, prediction.confidence if prediction is not None else None
    found = _cat(session, prediction.category)
    if found is None or not found.active:
        return None, prediction.confidence
    return found, prediction.confidence


_Notice = tuple[str, str, dict[str, Any]]
"""(user id, template, params) of a notification to write."""


@dataclass(frozen=True, slots=True)
class _Opening:
    """The rows, audit entries and notifications of a new event, routed."""

    event: dict[str, Any]
    timeline: list[dict[str, Any]]
    audit: list[dict[str, Any]]
    notices: list[_Notice]
    stamp: tuple[memo.Stamp, ...] | None
    """The memo stamp the routing was read under (None: read from the session, unmemoised)."""


@dataclass(frozen=True, slots=True)
class IntakePlan:
    """Everything one report will write, found and checked by :func:`plan_intake` (reads only);
    :func:`apply_intake` checks it for a duplicate and writes it."""

    channel: str
    actor_user_id: str | None
    now: datetime
    text: str
    report: dict[str, Any]
    """The report's row, but for ``event_id`` and ``merged``."""
    category_code: str | None
    lon: float | None
    lat: float | None
    counts: Counter[str]
    """The text's features, for the duplicate check's similarity."""
    opening: _Opening
    inputs: dict[str, Any]
    """What :func:`_open` was given, to route again when the routing facts changed after the plan."""
    media_url: str | None = None


def _timeline_row(event_id: str, kind: str, actor: Actor, facts: dict[str, Any], note: str | None = None
                  ) -> dict[str, Any]:
    return {"id": new_id(), "event_id": event_id, "kind": kind, "actor": actor.label, "note": note,
            "detail": json.dumps(facts, ensure_ascii=False, sort_keys=True) if facts else None, "at": utcnow()}


def _entry(kind: str, ev: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    return {"action": f"cityops.{kind}", "target_type": "event", "target_id": ev["id"], "area_code": ev["area_code"],
            "detail": {"number": ev["number"], "status": ev["status"], **facts}}


def _step(actor: Actor, ev: dict[str, Any], kind: str, detail: dict[str, Any], timeline: list[dict[str, Any]],
          audit: list[dict[str, Any]]) -> None:
    """As :func:`_record`, for an event being built: its timeline row and audit entry."""
    facts = {k: v for k, v in detail.items() if v is not None}
    timeline.append(_timeline_row(ev["id"], kind, actor, facts))
    audit.append(_entry(kind, ev, facts))


def _open(session: Session, actor: Actor, *, channel: str, report_id: str, event_id: str, now: datetime,
          text: str, lon: float | None, lat: float | None, address: str | None, place: _Place,
          category: _Cat | None, given: _Cat | None, confidence: float | None, doubt: str | None,
          urgency: str | None) -> _Opening:
    """A new event's row, placed, classified and routed (or sent to triage), with its timeline,
    audit entries and notifications: what :func:`intake` did for a new event, built, not written."""
    stamp = memo.stamp(session)
    ev: dict[str, Any] = {
        "id": event_id, "number": _number(event_id, now), "channel": channel,
        "category_code": category.code if category else None, "description": text, "lon": lon, "lat": lat,
        "cell": _cell(lon, lat) if lon is not None and lat is not None else None, "address": address,
        "area_code": place.area_code, "grid_code": place.codes["grid"], "community_code": place.codes["community"],
        "street_code": place.codes["street"], "district_code": place.district, "status": "triage",
        "triage_reason": None, "urgency": urgency or (category.urgency if category else "normal"), "priority": 0,
        "level": category.level if category else "street", "due_at": now, "next_escalation_at": None,
        "assignee_department_id": None, "assignee_team_id": None, "assignee_user_id": None, "rule_id": None,
        "rule_version": None, "incident_id": None, "reporter_count": 1,
        "classifier_confidence": confidence if category is not None and (given is None or category.code != given.code)
        else None,
        "result": None, "rating": None, "reopen_count": 0, "dispatched_at": None, "handled_at": None,
        "closed_at": None, "created_at": now, "updated_at": now,
    }
    timeline: list[dict[str, Any]] = []
    audit: list[dict[str, Any]] = []
    notices: list[_Notice] = []
    _step(actor, ev, "reported", {"channel": channel, "report_id": report_id, "category": ev["category_code"],
                                  "confidence": ev["classifier_confidence"]}, timeline, audit)
    route = None
    if place.placed and category is not None:
        route = _route_of(session, _cat_chain(session, category), ev["area_code"])
    if route is None:
        reason = (place.reason if not place.placed else doubt if category is None else "no_route") or "no_category"
        ev["triage_reason"], ev["due_at"] = reason, _triage_due(session, now)
        _step(actor, ev, "triage", {"reason": reason}, timeline, audit)
    else:
        assert category is not None
        if route.incident_id is not None:
            ev["incident_id"], ev["priority"] = route.incident_id, max(ev["priority"], route.priority)
            detail: dict[str, Any] = {"incident_id": route.incident_id, "by": "incident"}
        else:
            ev["rule_id"], ev["rule_version"] = route.rule_id, route.rule_version
            detail = {"rule_id": route.rule_id, "rule_version": route.rule_version, "by": "rule"}
        due = _due(session, now, route.deadline or category.deadlines[ev["urgency"]])
        ev.update(assignee_department_id=route.department_id, assignee_team_id=route.team_id,
                  assignee_user_id=route.user_id, status="dispatched", due_at=due, next_escalation_at=due,
                  dispatched_at=now)
        if ev["level"] not in LEVELS:
            ev["level"] = category.level
        _step(actor, ev, "dispatched", {"department_id": route.department_id, "team_id": route.team_id,
                                        "user_id": route.user_id, "due_at": due.isoformat(), **detail}, timeline, audit)
        params = {"reference": ev["number"], "event_id": event_id, "due_at": _local(due), "category": category.name}
        notices += [(u, "cityops.event_dispatched", params) for u in _handlers_of(session, route, ev["area_code"])]
    if actor.kind == "citizen" and actor.user_id:
        notices.append((actor.user_id, "cityops.report_received", {"reference": ev["number"], "event_id": event_id}))
    return _Opening(ev, timeline, audit, notices, stamp)


def plan_intake(session: Session, actor: Actor, channel: str, report: ReportIn, *, caller_phone: str | None = None,
                at: datetime | None = None, media_url: str | None = None) -> IntakePlan:
    """Check a report from any channel and build what it will write, reading only (see :func:`intake`)."""
    if channel not in CHANNELS:
        raise errors.ChannelInvalid(channel=channel)
    now = _now(at)
    text = _text(report.description, DESCRIPTION_LIMIT, errors.DescriptionRequired)
    photos = _photos(session, actor, report.photo_ids)
    given = None
    if report.category_code:
        given = _cat(session, report.category_code)
        if given is None or not given.active:
            raise errors.CategoryUnknown(code=report.category_code)
    if report.urgency is not None and report.urgency not in URGENCIES:
        raise errors.UrgencyInvalid(urgency=report.urgency)
    phone = None
    if caller_phone:
        phone = re.sub(r"[\s-]", "", caller_phone)
        if not _PHONE.match(phone):
            raise errors.PhoneInvalid()
    lon, lat = report.lon, report.lat
    if _check_point(lon, lat) and report.crs == "gcj02":
        lon, lat = areas_service.to_wgs84(lon, lat, "gcj02")  # type: ignore[arg-type]
    place = _place(session, lon, lat, report.area_code, report.address)

    feats = triage.features(text)
    category, confidence, doubt = given, None, None
    if given is None or not report.category_sure:
        predicted, confidence = _classify(session, feats)
        if predicted is not None:
            category = predicted
        else:
            category, doubt = None, ("low_confidence" if confidence is not None or given is not None
                                     else "no_category")

    report_id = new_id()
    address = (report.address or "").strip() or None
    row: dict[str, Any] = {
        "id": report_id, "channel": channel, "reporter_user_id": actor.user_id, "caller_phone_enc": None,
        "caller_phone_index": None, "description": text, "category_code": report.category_code, "lon": lon,
        "lat": lat, "address": address, "photo_ids": json.dumps(photos), "created_at": now,
    }
    if phone:
        cipher = FieldCipher.for_session(session)
        row["caller_phone_enc"] = cipher.encrypt(phone, f"cityops.reports.phone:{report_id}")
        row["caller_phone_index"] = cipher.blind_index(phone, "cityops.caller_phone")
    inputs = {"channel": channel, "report_id": report_id, "event_id": new_id(), "now": now, "text": text,
              "lon": lon, "lat": lat, "address": address, "place": place, "category": category, "given": given,
              "confidence": confidence, "doubt": doubt, "urgency": report.urgency}
    return IntakePlan(channel=channel, actor_user_id=actor.user_id, now=now, text=text, report=row,
                      category_code=category.code if category is not None else None, lon=lon, lat=lat,
                      counts=Counter(feats), opening=_open(session, actor, **inputs), inputs=inputs,
                      media_url=media_url)


def _find_duplicate(session: Session, plan: IntakePlan) -> str | None:
    """The nearest open event of the category within 50 m and 24 h whose text is similar enough."""
    if plan.category_code is None or plan.lon is None or plan.lat is None:
        return None
    lon, lat = plan.lon, plan.lat
    best: tuple[float, str] | None = None
    since = plan.now - timedelta(hours=DUPLICATE_HOURS)
    for event_id, ev_lon, ev_lat, description in repository.duplicate_rows(
            session, plan.category_code, _cells_around(lon, lat), since):
        if ev_lon is None or ev_lat is None:
            continue
        d = _distance_m(lon, lat, ev_lon, ev_lat)
        if d > DUPLICATE_METRES or (best is not None and d >= best[0]):
            continue
        if triage.similarity(plan.counts, triage.feature_counts(description)) < DUPLICATE_SIMILARITY:
            continue
        best = (d, event_id)
    return best[1] if best else None


def apply_intake(session: Session, actor: Actor, plan: IntakePlan) -> ReportOutcome:
    """Write a planned report (see :func:`intake`): merged into the open event it repeats — which
    it finds among every report committed or written before it in this transaction — or as a new
    event, routed as planned (routed again if the routing facts changed since the plan)."""
    return _apply(session, actor, plan)[0]


def _apply(session: Session, actor: Actor, plan: IntakePlan) -> tuple[ReportOutcome, dict[str, Any]]:
    if actor.user_id != plan.actor_user_id:
        raise PermissionDenied(permission="cityops.report")
    session.flush()  # the duplicate check reads on the connection: the session's own changes first
    now, report_id, channel = plan.now, plan.report["id"], plan.channel
    dup_id = _find_duplicate(session, plan)
    merged = repository.count_merge(session, dup_id, now) if dup_id is not None else None
    if dup_id is not None and merged is not None:
        number, status, reason, area_code = merged
        ev: dict[str, Any] = {"id": dup_id, "number": number, "status": status, "area_code": area_code,
                              "triage_reason": reason}
        facts = {"report_id": report_id, "channel": channel}
        timeline, audit = [_timeline_row(dup_id, "merged", actor, facts)], [_entry("merged", ev, facts)]
        notices: list[_Notice] = []
        if actor.kind == "citizen" and actor.user_id:
            notices.append((actor.user_id, "cityops.report_merged", {"reference": number, "event_id": dup_id}))
        _media(actor, plan, ev, timeline, audit)
        repository.insert_intake(session, None, {**plan.report, "event_id": dup_id, "merged": True}, timeline)
        log.info("report merged", extra={"event_id": dup_id, "report_id": report_id})
    else:
        opening = plan.opening
        if opening.stamp is None or opening.stamp != memo.stamp(session):
            opening = _open(session, actor, **plan.inputs)
        ev = opening.event
        timeline, audit, notices = list(opening.timeline), list(opening.audit), opening.notices
        _media(actor, plan, ev, timeline, audit)
        repository.insert_intake(session, ev, {**plan.report, "event_id": ev["id"], "merged": False}, timeline)
        log.info("event opened", extra={"event_id": ev["id"], "status": ev["status"], "channel": channel})
    audit_service.record_many(session, actor, audit)
    if notices:
        dialect = session.get_bind().dialect
        rows.run(session, [notifications_service.prepare_inbox(dialect, user_id, template, params)
                           for user_id, template, params in notices])
    return ReportOutcome(report_id=report_id, event_id=ev["id"], number=ev["number"], merged=merged is not None,
                         status=ev["status"], triage_reason=ev["triage_reason"]), ev


def _media(actor: Actor, plan: IntakePlan, ev: dict[str, Any], timeline: list[dict[str, Any]],
           audit: list[dict[str, Any]]) -> None:
    """An Open311 report's media URL, kept in its event's timeline (after the report's own steps)."""
    if plan.media_url is None:
        return
    facts = {"media_url": plan.media_url, "report_id": plan.report["id"]}
    timeline.append(_timeline_row(ev["id"], "media", actor, facts))
    audit.append(_entry("media", ev, facts))


def intake(session: Session, actor: Actor, channel: str, report: ReportIn, *, caller_phone: str | None = None,
           at: datetime | None = None) -> ReportOutcome:
    """Take one report from any channel: place it, classify it, merge it into the event it repeats
    or open a new event and route it. A report that cannot be placed (no location, a point outside
    the city), classified (no or a doubtful category and an unsure classifier) or routed goes to the
    triage queue. Refuses an empty description, an unknown category or area code, a half or absurd
    point, photos that are not the reporter's own, a malformed caller phone.

    The same as :func:`plan_intake` then :func:`apply_intake` in one transaction; the API runs the
    plan in a read-only one and the apply in the group commit, so that only the writes hold the lock."""
    return apply_intake(session, actor, plan_intake(session, actor, channel, report, caller_phone=caller_phone, at=at))


def plan_citizen(session: Session, actor: Actor, body: ReportIn) -> IntakePlan:
    """随手拍, planned: a signed-in citizen reports a problem with photos and a map pin."""
    if not actor.is_authenticated:
        raise AuthenticationRequired()
    if actor.kind != "citizen":
        raise PermissionDenied(permission="cityops.report")
    return plan_intake(session, actor, "citizen", body)


def plan_hotline(session: Session, actor: Actor, body: ReportIn, caller_phone: str | None) -> IntakePlan:
    """12345, planned: an operator (``cityops.intake``) enters a call; the caller's phone is kept encrypted."""
    _require_some(actor, "cityops.intake")
    return plan_intake(session, actor, "hotline", body, caller_phone=caller_phone)


def plan_patrol(session: Session, actor: Actor, body: ReportIn) -> IntakePlan:
    """巡查, planned: a grid worker (``cityops.patrol``) reports what they found."""
    _require_some(actor, "cityops.patrol")
    return plan_intake(session, actor, "patrol", body)


def report_citizen(session: Session, actor: Actor, body: ReportIn) -> ReportOutcome:
    """随手拍: a signed-in citizen reports a problem with photos and a map pin."""
    return apply_intake(session, actor, plan_citizen(session, actor, body))


def report_hotline(session: Session, actor: Actor, body: ReportIn, caller_phone: str | None) -> ReportOutcome:
    """12345: an operator (``cityops.intake``) enters a call; the caller's phone is kept encrypted."""
    return apply_intake(session, actor, plan_hotline(session, actor, body, caller_phone))


def report_patrol(session: Session, actor: Actor, body: ReportIn) -> ReportOutcome:
    """巡查: a grid worker (``cityops.patrol``) reports what they found."""
    return apply_intake(session, actor, plan_patrol(session, actor, body))


# -- reading ------------------------------------------------------------------------------------------
def _overdue(ev: Event, now: datetime) -> bool:
    return ev.status not in ("closed", "handled") and ev.due_at < now


def _summary(ev: Event, now: datetime) -> EventSummary:
    return EventSummary(
        id=ev.id, number=ev.number, channel=ev.channel, category_code=ev.category_code,
        description=ev.description, area_code=ev.area_code, district_code=ev.district_code, status=ev.status,
        triage_reason=ev.triage_reason, urgency=ev.urgency, priority=ev.priority, level=ev.level,
        due_at=ev.due_at, overdue=_overdue(ev, now), assignee_department_id=ev.assignee_department_id,
        assignee_team_id=ev.assignee_team_id, assignee_user_id=ev.assignee_user_id, incident_id=ev.incident_id,
        reporter_count=ev.reporter_count, created_at=ev.created_at,
    )


def _report_read(session: Session, r: Report) -> ReportRead:
    phone = None
    if r.caller_phone_enc:
        phone = mask(FieldCipher.for_session(session).decrypt(r.caller_phone_enc,
                                                              f"cityops.reports.phone:{r.id}"), "last4")
    return ReportRead(id=r.id, channel=r.channel, reporter_user_id=r.reporter_user_id, caller_phone=phone,
                      description=r.description, category_code=r.category_code, lon=r.lon, lat=r.lat,
                      address=r.address, photo_ids=json.loads(r.photo_ids or "[]"), merged=r.merged,
                      created_at=r.created_at)


def _read(session: Session, ev: Event, *, reports: list[Report] | None = None) -> EventRead:
    rows = repository.reports(session, ev.id) if reports is None else reports
    return EventRead(
        **_summary(ev, _now()).model_dump(), lon=ev.lon, lat=ev.lat, address=ev.address, grid_code=ev.grid_code,
        community_code=ev.community_code, street_code=ev.street_code, rule_id=ev.rule_id,
        rule_version=ev.rule_version, classifier_confidence=ev.classifier_confidence, result=ev.result,
        rating=ev.rating, reopen_count=ev.reopen_count, dispatched_at=ev.dispatched_at, handled_at=ev.handled_at,
        closed_at=ev.closed_at, reports=[_report_read(session, r) for r in rows],
        timeline=[TimelineRead(kind=t.kind, actor=t.actor, note=t.note,
                               detail=json.loads(t.detail) if t.detail else None, at=t.at)
                  for t in repository.timeline(session, ev.id)],
    )


def get_event(session: Session, actor: Actor, event_id: str) -> EventRead:
    """An event with its reports and timeline: for staff with ``cityops.read`` over its area (the
    read is audited: reports carry reporters), or for a citizen who reported it (their own reports only)."""
    if not actor.is_authenticated:
        raise AuthenticationRequired()
    if actor.kind == "citizen":
        ev = _load(session, event_id)
        mine = repository.reporter_of(session, ev.id, actor.user_id or "")
        if mine is None:
            raise PermissionDenied(permission="cityops.own", target=f"event:{event_id}")
        return _read(session, ev, reports=[mine])
    _require_some(actor, "cityops.read")
    ev = _load(session, event_id)
    actor.require("cityops.read", area_code=ev.area_code, target=f"event:{event_id}")
    audit_service.record(session, actor, "cityops.event_read", target_type="event", target_id=ev.id,
                         area_code=ev.area_code, purpose="事件研判处置", detail={"number": ev.number})
    return _read(session, ev)


def photo_area(session: Session, actor: Actor, event_id: str, file_id: str) -> str | None:
    """The event's area when ``file_id`` is one of its photos that the actor may see — a reporter
    their own report's photos and the handler's evidence, staff (``cityops.read`` over the area)
    all of them — else None. No event-read entry is written: the file read itself is audited."""
    if not actor.is_authenticated:
        raise AuthenticationRequired()
    ev = _load(session, event_id)
    if actor.kind == "citizen":
        mine = repository.reporter_of(session, ev.id, actor.user_id or "")
        if mine is None:
            raise PermissionDenied(permission="cityops.own", target=f"event:{event_id}")
        reports = [mine]
    else:
        _require_some(actor, "cityops.read")
        actor.require("cityops.read", area_code=ev.area_code, target=f"event:{event_id}")
        reports = repository.reports(session, ev.id)
    ids = {i for r in reports for i in json.loads(r.photo_ids or "[]")}
    for t in repository.timeline(session, ev.id):
        detail = json.loads(t.detail) if t.detail else {}
        ids.update(i for i in (detail.get("photo_ids") or []) if isinstance(i, str))
    return ev.area_code if file_id in ids else None


def _prefixes(actor: Actor, permission: str, area: str | None) -> list[str]:
    scopes = sorted({s.area_code for s in actor.scopes(permission)})
    if area is None:
        return scopes
    inside = [area for s in scopes if area.startswith(s)]
    return inside[:1] or [s for s in scopes if s.startswith(area)]


def list_events(session: Session, actor: Actor, *, status: str | None = None, category_code: str | None = None,
                area_code: str | None = None, cursor: str | None = None, limit: int = PAGE_SIZE) -> EventPage:
    """The dispatcher's queue: events in the actor's areas (``cityops.read``), open ones by default,
    earliest due first, with filters by status, category and area (a subtree)."""
    _require_some(actor, "cityops.read")
    if status is not None and status not in STATUSES:
        raise errors.EventStatusConflict(status=status, action="listed")
    prefixes = _prefixes(actor, "cityops.read", area_code.strip() if area_code else None)
    if not prefixes:
        return EventPage(items=[], next_cursor=None)
    after = None
    if cursor:
        try:
            due, eid = cursor.split("|", 1)
            after = (datetime.fromisoformat(due), eid)
        except ValueError:
            after = None
    limit = max(1, min(limit, 200))
    rows = repository.queue(session, prefixes=prefixes, statuses=(status,) if status else OPEN_STATUSES,
                            category_code=category_code, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    now = _now()
    nxt = f"{rows[-1].due_at.isoformat()}|{rows[-1].id}" if more and rows else None
    return EventPage(items=[_summary(r, now) for r in rows], next_cursor=nxt)


# -- dispatching --------------------------------------------------------------------------------------
def _require_dispatch(actor: Actor, ev: Event) -> None:
    actor.require("cityops.dispatch", area_code=ev.area_code, target=f"event:{ev.id}")


def triage_event(session: Session, actor: Actor, event_id: str, body: TriageDecision) -> EventRead:
    """问题研判: a dispatcher over the event's area places and classifies an event of the triage
    queue (or a returned one), which is then routed; or closes it as not a case, with the reason."""
    _require_some(actor, "cityops.dispatch")
    ev = _load(session, event_id, for_update=True)
    _require_dispatch(actor, ev)
    if ev.status not in ("triage", "returned"):
        raise errors.EventStatusConflict(status=ev.status, action="triaged")
    now = _now()
    if body.decision == "invalid":
        reason = _reason(body.reason)
        ev.status, ev.result, ev.closed_at, ev.updated_at = "closed", reason, now, now
        ev.next_escalation_at, ev.triage_reason = None, None
        _record(session, actor, ev, "invalid", note=reason)
        _notify_reporters(session, ev, "cityops.event_closed", text={"result": reason})
        session.flush()
        return _read(session, ev)
    code = body.category_code or ev.category_code
    if not code:
        raise errors.CategoryRequired()
    category = _active_category(session, code)
    if body.area_code:
        place = _area_place(session, body.area_code)
        actor.require("cityops.dispatch", area_code=place.area_code, target=f"event:{ev.id}")
        if place.placed:
            _apply_place(ev, place)
    if ev.area_code == _city_code(session):
        raise errors.AreaRequired()
    ev.category_code = category.code
    ev.urgency = body.urgency or ev.urgency
    ev.level, ev.updated_at = category.level, now
    _record(session, actor, ev, "triaged", detail={"category": category.code, "area_code": ev.area_code,
                                                  "urgency": ev.urgency})
    _route(session, actor, ev, category, now)
    session.flush()
    return _read(session, ev)


def _check_target(session: Session, body: DispatchBody) -> None:
    ids = {body.department_id} | ({body.team_id} if body.team_id else set())
    found = areas_service.departments_by_ids(session, ids)
    for i in ids:
        if i not in found:
            raise errors.DepartmentUnknown(ref=i)


def _dispatchable(session: Session, actor: Actor, ev: Event) -> Category:
    _require_dispatch(actor, ev)
    if ev.status not in ("triage", "returned", "dispatched"):
        raise errors.EventStatusConflict(status=ev.status, action="dispatched")
    if not ev.category_code or ev.area_code == _city_code(session):
        raise errors.EventStatusConflict(status="triage", action="dispatched")
    return _active_category(session, ev.category_code)


def _manual(session: Session, actor: Actor, ev: Event, category: Category, body: DispatchBody,
            now: datetime) -> None:
    ev.urgency = body.urgency or ev.urgency
    ev.rule_id = ev.rule_version = None
    _assign(session, actor, ev, category, department_id=body.department_id, team_id=body.team_id,
            user_id=body.user_id, deadline=json.loads(category.deadlines)[ev.urgency], now=now,
            kind="dispatched", detail={"by": "dispatcher", "note": (body.note or "").strip() or None})


def dispatch(session: Session, actor: Actor, event_id: str, body: DispatchBody) -> EventRead:
    """派单: a dispatcher over the event's area sends a classified, placed event (waiting, returned
    or re-dispatched) to a department, its team or one grid worker, with the category's deadline."""
    _require_some(actor, "cityops.dispatch")
    ev = _load(session, event_id, for_update=True)
    category = _dispatchable(session, actor, ev)
    _check_target(session, body)
    _manual(session, actor, ev, category, body, _now())
    session.flush()
    return _read(session, ev)


def bulk_dispatch(session: Session, actor: Actor, body: BulkDispatchBody) -> list[EventSummary]:
    """Dispatch up to 100 events to one target at once: all of them, or none (the refusals listed)."""
    _require_some(actor, "cityops.dispatch")
    ids = list(dict.fromkeys(body.event_ids))
    if not ids or len(ids) > BULK_LIMIT:
        raise errors.BulkInvalid(limit=BULK_LIMIT)
    _check_target(session, body)
    rows = {e.id: e for e in repository.events(session, ids, for_update=True)}
    problems: list[dict[str, Any]] = []
    checked: list[tuple[Event, Category]] = []
    for eid in ids:
        ev = rows.get(eid)
        try:
            if ev is None:
                raise errors.EventNotFound(ref=eid)
            checked.append((ev, _dispatchable(session, actor, ev)))
        except (errors.EventNotFound, errors.EventStatusConflict, errors.CategoryUnknown, PermissionDenied) as exc:
            problems.append({"field": eid, "problem": exc.code, "message": exc.render()})
    if problems:
        raise errors.BulkRefused(count=len(problems), errors=problems)
    now = _now()
    for ev, category in checked:
        _manual(session, actor, ev, category, body, now)
    session.flush()
    return [_summary(ev, now) for ev, _ in checked]


# -- the assignee -------------------------------------------------------------------------------------
def _require_assignee(actor: Actor, ev: Event) -> None:
    """The handler must hold ``cityops.handle`` over the event's area, for its department or team;
    a grid worker named by the rule is the only one who may take it."""
    ok = any(actor.can("cityops.handle", area_code=ev.area_code, department_id=d)
             for d in (ev.assignee_department_id, ev.assignee_team_id) if d)
    if not ok:
        raise PermissionDenied(permission="cityops.handle", area_code=ev.area_code,
                               department_id=ev.assignee_team_id or ev.assignee_department_id,
                               target=f"event:{ev.id}")
    if ev.assignee_user_id and actor.user_id != ev.assignee_user_id and not actor.is_system:
        raise errors.NotAssignee()


def accept(session: Session, actor: Actor, event_id: str) -> EventRead:
    """接单: the assigned team (or grid worker) accepts a dispatched or reopened event."""
    _require_some(actor, "cityops.handle")
    ev = _load(session, event_id, for_update=True)
    _require_assignee(actor, ev)
    if ev.status not in ("dispatched", "reopened"):
        raise errors.EventStatusConflict(status=ev.status, action="accepted")
    ev.status, ev.updated_at = "accepted", _now()
    _record(session, actor, ev, "accepted")
    session.flush()
    return _read(session, ev)


def return_event(session: Session, actor: Actor, event_id: str, reason: str) -> EventRead:
    """退单: the assignee sends an event that is not theirs back to dispatch, with the reason."""
    _require_some(actor, "cityops.handle")
    ev = _load(session, event_id, for_update=True)
    _require_assignee(actor, ev)
    text = _reason(reason)
    if ev.status not in ("dispatched", "reopened", "accepted"):
        raise errors.EventStatusConflict(status=ev.status, action="returned")
    now = _now()
    previous = {"department_id": ev.assignee_department_id, "team_id": ev.assignee_team_id,
                "user_id": ev.assignee_user_id}
    ev.status, ev.updated_at = "returned", now
    ev.assignee_department_id = ev.assignee_team_id = ev.assignee_user_id = None
    ev.due_at, ev.next_escalation_at = _triage_due(session, now), None
    _record(session, actor, ev, "returned", note=text, detail=previous)
    for user_id in identity_service.users_with_permission(session, "cityops.dispatch", area_code=ev.area_code)[:50]:
        notifications_service.notify(session, user_id, "cityops.event_returned",
                                     {"reference": ev.number, "event_id": ev.id}, text={"reason": text})
    session.flush()
    return _read(session, ev)


def handle(session: Session, actor: Actor, event_id: str, body: HandleBody) -> EventRead:
    """处置: the assignee records an action with evidence photos; with ``finish`` and a result the
    event is handled and waits for the dispatcher's check."""
    _require_some(actor, "cityops.handle")
    ev = _load(session, event_id, for_update=True)
    _require_assignee(actor, ev)
    if ev.status != "accepted":
        raise errors.EventStatusConflict(status=ev.status, action="handled")
    photos = _photos(session, actor, body.photo_ids)
    note = (body.note or "").strip() or None
    now = _now()
    if body.finish:
        result = _text(body.result, DESCRIPTION_LIMIT, errors.DescriptionRequired)
        ev.status, ev.result, ev.handled_at, ev.next_escalation_at = "handled", result, now, None
        ev.updated_at = now
        _record(session, actor, ev, "handled", note=note or result, detail={"photo_ids": photos or None})
    else:
        if note is None and not photos:
            raise errors.DescriptionRequired(limit=DESCRIPTION_LIMIT)
        ev.updated_at = now
        _record(session, actor, ev, "action", note=note, detail={"photo_ids": photos or None})
    session.flush()
    return _read(session, ev)


def check(session: Session, actor: Actor, event_id: str, body: CheckBody) -> EventRead:
    """核查: a dispatcher over the event's area closes a handled event (its reporters are told the
    result) or sends it back to the handler with the reason."""
    _require_some(actor, "cityops.dispatch")
    ev = _load(session, event_id, for_update=True)
    _require_dispatch(actor, ev)
    if ev.status != "handled":
        raise errors.EventStatusConflict(status=ev.status, action="checked")
    now = _now()
    if body.passed:
        ev.status, ev.closed_at, ev.updated_at = "closed", now, now
        _record(session, actor, ev, "closed", note=(body.note or "").strip() or None)
        _notify_reporters(session, ev, "cityops.event_closed", text={"result": ev.result or ""})
    else:
        reason = _reason(body.note)
        ev.status, ev.updated_at, ev.next_escalation_at = "accepted", now, max(ev.due_at, now)
        _record(session, actor, ev, "check_failed", note=reason)
    session.flush()
    return _read(session, ev)


# -- the reporter -------------------------------------------------------------------------------------
def _own_report(session: Session, actor: Actor, event_id: str) -> Event:
    if not actor.is_authenticated:
        raise AuthenticationRequired()
    ev = _load(session, event_id, for_update=True)
    if actor.user_id is None or repository.reporter_of(session, ev.id, actor.user_id) is None:
        raise errors.NotReporter()
    return ev


def rate(session: Session, actor: Actor, event_id: str, score: int, comment: str | None = None) -> EventRead:
    """A reporter rates a closed event once, 1 to 5."""
    ev = _own_report(session, actor, event_id)
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise errors.ScoreInvalid()
    if ev.status != "closed":
        raise errors.EventStatusConflict(status=ev.status, action="rated")
    if ev.rating is not None:
        raise errors.AlreadyRated()
    ev.rating, ev.updated_at = score, _now()
    _record(session, actor, ev, "rated", note=(comment or "").strip()[:REASON_LIMIT] or None, detail={"score": score})
    session.flush()
    return _read(session, ev, reports=[r for r in [repository.reporter_of(session, ev.id, actor.user_id or "")] if r])


def reopen(session: Session, actor: Actor, event_id: str, reason: str) -> EventRead:
    """A reporter reopens a closed event within 7 days when it is not fixed: it goes back to the same
    team with its history and a new deadline (to dispatch when it never had a team)."""
    ev = _own_report(session, actor, event_id)
    text = _reason(reason)
    if ev.status != "closed":
        raise errors.EventStatusConflict(status=ev.status, action="reopened")
    now = _now()
    closed = ev.closed_at or now
    if now - closed > timedelta(days=REOPEN_DAYS):
        raise errors.ReopenExpired(days=REOPEN_DAYS, closed_on=_local(closed)[:10])
    ev.reopen_count += 1
    ev.closed_at, ev.handled_at, ev.updated_at = None, None, now
    if ev.assignee_department_id and ev.category_code:
        category = _active_category(session, ev.category_code)
        ev.status = "reopened"
        ev.due_at = _due(session, now, json.loads(category.deadlines)[ev.urgency])
        ev.next_escalation_at = ev.due_at
        _record(session, actor, ev, "reopened", note=text, detail={"due_at": ev.due_at.isoformat()})
        _notify_assignee(session, ev, "cityops.event_reopened", {}, text={"reason": text})
    else:
        _to_triage(session, ev, "reopened", now)
        _record(session, actor, ev, "reopened", note=text)
    session.flush()
    return _read(session, ev, reports=[r for r in [repository.reporter_of(session, ev.id, actor.user_id or "")] if r])


# -- the worker: overdue escalation (超期督办) ----------------------------------------------------------
def _level_area(session: Session, ev: Event, level: str) -> str:
    if level == "street" and ev.street_code:
        return ev.street_code
    if level in ("street", "district") and len(ev.district_code) >= 6:
        return ev.district_code
    return _city_code(session)


def escalate_overdue(session: Session, at: datetime | None = None, batch: int = ESCALATION_BATCH) -> int:
    """Raise each overdue open event one level (grid → street → district → city) and tell that
    level's supervisors (``cityops.supervise``); each level at most once per event. The next level
    follows one more deadline's span later if it is still not handled. Returns how many escalated."""
    now = _now(at)
    count = 0
    for ev in repository.overdue(session, now, batch):
        nxt = LEVEL_UP.get(ev.level)
        if ev.status in ("closed", "handled", "triage", "returned") or nxt is None:
            ev.next_escalation_at = None
            continue
        span = max((ev.due_at - (ev.dispatched_at or ev.created_at)), timedelta(hours=1))
        scheduled = ev.next_escalation_at or now
        ev.level = nxt
        ev.next_escalation_at = None if nxt == "city" else scheduled + span
        if repository.escalated(session, ev.id, nxt):
            continue
        area = _level_area(session, ev, nxt)
        session.add(Escalation(id=new_id(), event_id=ev.id, level=nxt, area_code=area, at=now))
        heads = identity_service.users_with_permission(session, "cityops.supervise", area_code=area)[:50]
        category = repository.category(session, ev.category_code) if ev.category_code else None
        for user_id in heads:
            notifications_service.notify(session, user_id, "cityops.event_escalated", {
                "reference": ev.number, "event_id": ev.id, "category": category.name if category else "",
                "due_at": _local(ev.due_at), "level": LEVEL_NAMES[nxt]})
        _record(session, SYSTEM, ev, "escalated",
                detail={"level": nxt, "area_code": area, "due_at": ev.due_at.isoformat(), "notified": len(heads)})
        count += 1
    session.flush()
    if count:
        log.info("overdue events escalated", extra={"count": count})
    return count


# -- routing rules ------------------------------------------------------------------------------------
def _rule_read(r: RoutingRule) -> RuleRead:
    return RuleRead.model_validate(r)


def create_rule(session: Session, actor: Actor, body: RuleCreate) -> RuleRead:
    """A new version of the (category, area) routing rule (``cityops.route`` over the area); the
    previous version stops routing but stays for the events it routed. ``department_id`` None
    retires the rule."""
    _require_some(actor, "cityops.route")
    prefix = (body.area_prefix or "").strip()
    if not prefix:
        raise errors.RuleInvalid()
    actor.require("cityops.route", area_code=prefix, target=f"routing_rule:{body.category_code}:{prefix}")
    _active_category(session, body.category_code)
    if areas_service.find_area(session, prefix) is None:
        raise errors.AreaUnknown(code=prefix)
    if body.department_id:
        _check_target(session, DispatchBody(department_id=body.department_id, team_id=body.team_id))
        _check_homed_in(session, prefix, [body.department_id] + ([body.team_id] if body.team_id else []))
        if body.user_id and body.user_id not in identity_service.holders_near(session, "cityops.handle", prefix):
            raise errors.RuleUserInvalid()
    elif body.team_id or body.user_id:
        raise errors.RuleInvalid()
    old = repository.current_rule(session, body.category_code, prefix)
    if old is not None:
        old.current = False
        session.flush()
    row = RoutingRule(id=new_id(), category_code=body.category_code, area_prefix=prefix,
                      version=repository.last_version(session, body.category_code, prefix) + 1, current=True,
                      department_id=body.department_id, team_id=body.team_id, user_id=body.user_id,
                      created_by=actor.label, created_at=_now())
    session.add(row)
    session.flush()
    audit_service.record(session, actor, "cityops.rule_changed", target_type="routing_rule", target_id=row.id,
                         area_code=prefix, detail={"category": row.category_code, "version": row.version,
                                                   "department_id": row.department_id, "team_id": row.team_id,
                                                   "user_id": row.user_id, "replaces": old.id if old else None})
    return _rule_read(row)


def _check_homed_in(session: Session, prefix: str, department_ids: list[str]) -> None:
    """The departments (and teams) a rule or incident sends events to must be homed in its area,
    above it or inside it (a district's rule cannot send to another district's team)."""
    area = areas_service.find_area(session, prefix)
    if area is None:
        return
    for d in areas_service.departments_by_ids(session, set(department_ids)).values():
        if not (prefix.startswith(d.area_code) or d.area_code.startswith(prefix)):
            raise errors.RuleTargetOutside(department=d.name, area=area.name)


RULE_VERSIONS = 50
"""At most this many versions of one rule are shown (newest first)."""


def get_rule(session: Session, actor: Actor, rule_id: str) -> RuleRead:
    """One version of a routing rule, for someone who may change rules over its area."""
    _require_some(actor, "cityops.route")
    row = repository.rule(session, rule_id)
    if row is None:
        raise errors.RuleNotFound(ref=rule_id)
    actor.require("cityops.route", area_code=row.area_prefix, target=f"routing_rule:{rule_id}")
    return _rule_read(row)


def rule_versions(session: Session, actor: Actor, rule: RuleRead) -> list[RuleRead]:
    """Every version of the rule's (category, area), newest first (at most :data:`RULE_VERSIONS`)."""
    actor.require("cityops.route", area_code=rule.area_prefix, target=f"routing_rule:{rule.id}")
    return [_rule_read(r) for r in repository.rule_versions(session, rule.category_code, rule.area_prefix,
                                                             RULE_VERSIONS)]


def incident_event_counts(session: Session, actor: Actor, incident_ids: list[str]) -> dict[str, int]:
    """How many events each incident took (``cityops.read``)."""
    _require_some(actor, "cityops.read")
    return repository.incident_event_counts(session, incident_ids[:200])


def list_rules(session: Session, actor: Actor, *, category_code: str | None = None, area_code: str | None = None,
               limit: int = 200) -> list[RuleRead]:
    """The current routing rules inside the actor's areas (``cityops.read``)."""
    _require_some(actor, "cityops.read")
    prefixes = _prefixes(actor, "cityops.read", area_code.strip() if area_code else None)
    if not prefixes:
        return []
    return [_rule_read(r) for r in repository.rules(session, prefixes=prefixes, category_code=category_code,
                                                    limit=max(1, min(limit, 500)))]


# -- emergency incidents (战时模式) -------------------------------------------------------------------
def _incident_read(i: Incident) -> IncidentRead:
    return IncidentRead(id=i.id, name=i.name, area_code=i.area_code, categories=json.loads(i.categories),
                        department_id=i.department_id, team_id=i.team_id, deadline=i.deadline, priority=i.priority,
                        status=i.status, declared_by=i.declared_by, declared_at=i.declared_at,
                        stood_down_by=i.stood_down_by, stood_down_at=i.stood_down_at)


def declare_incident(session: Session, actor: Actor, body: IncidentCreate) -> IncidentRead:
    """战时模式: an authorised dispatcher (``cityops.incident`` over the area) declares an incident:
    from now on, new events of its categories in its area subtree go to its department or team with
    its deadline and priority."""
    _require_some(actor, "cityops.incident")
    area = (body.area_code or "").strip()
    if not body.name.strip() or not area or not body.categories:
        raise errors.IncidentInvalid()
    actor.require("cityops.incident", area_code=area, target=f"area:{area}")
    if areas_service.find_area(session, area) is None:
        raise errors.AreaUnknown(code=area)
    codes = list(dict.fromkeys(body.categories))
    for code in codes:
        _active_category(session, code)
    _deadline(body.deadline)
    _check_target(session, DispatchBody(department_id=body.department_id, team_id=body.team_id))
    _check_homed_in(session, area, [body.department_id] + ([body.team_id] if body.team_id else []))
    row = Incident(id=new_id(), name=body.name.strip(), area_code=area, categories=json.dumps(codes),
                   department_id=body.department_id, team_id=body.team_id, deadline=body.deadline,
                   priority=body.priority, status="active", declared_by=actor.label, declared_at=_now())
    session.add(row)
    session.flush()
    audit_service.record(session, actor, "cityops.incident_declared", target_type="incident", target_id=row.id,
                         area_code=area, detail={"categories": codes, "department_id": row.department_id,
                                                 "team_id": row.team_id, "deadline": row.deadline,
                                                 "priority": row.priority})
    log.info("emergency incident declared", extra={"incident_id": row.id, "area_code": area})
    return _incident_read(row)


def stand_down(session: Session, actor: Actor, incident_id: str) -> IncidentRead:
    """Stand an incident down: new events route by the normal rules again (events it already
    routed stay with its team)."""
    _require_some(actor, "cityops.incident")
    row = repository.incident(session, incident_id, for_update=True)
    if row is None:
        raise errors.IncidentNotFound(ref=incident_id)
    actor.require("cityops.incident", area_code=row.area_code, target=f"incident:{incident_id}")
    if row.status != "active":
        raise errors.IncidentClosed()
    row.status, row.stood_down_by, row.stood_down_at = "stood_down", actor.label, _now()
    session.flush()
    audit_service.record(session, actor, "cityops.incident_stood_down", target_type="incident", target_id=row.id,
                         area_code=row.area_code, detail={"name": row.name})
    log.info("emergency incident stood down", extra={"incident_id": row.id})
    return _incident_read(row)


def list_incidents(session: Session, actor: Actor, *, active_only: bool = False, limit: int = 50) -> list[IncidentRead]:
    """Incidents, newest first (everyone with ``cityops.read`` sees the city's emergency state)."""
    _require_some(actor, "cityops.read")
    return [_incident_read(i) for i in repository.incidents(session, active_only=active_only,
                                                            limit=max(1, min(limit, 200)))]


# -- pages ---------------------------------------------------------------------------------------------
from yiwang.cityops.schemas import CallerEvent, MyReport  # noqa: E402 - the pages' block, appended

MY_REPORTS_LIMIT = 100
INBOX_STATUSES = ("dispatched", "reopened", "accepted")
SUGGESTION_LIMIT = 5
SUGGESTION_POOL = 200
SUGGESTION_SIMILARITY = 0.3
"""Looser than the merge threshold: an operator glances at possible repeats, nothing is merged."""
CALLER_LIMIT = 20


def my_reports(session: Session, actor: Actor, limit: int = MY_REPORTS_LIMIT) -> list[MyReport]:
    """The signed-in reporter's own reports, newest first, each with its event's progress (bounded)."""
    if not actor.is_authenticated or actor.user_id is None:
        raise AuthenticationRequired()
    rows = repository.reports_of(session, actor.user_id, max(1, min(limit, MY_REPORTS_LIMIT)))
    return [MyReport(report_id=r.id, event_id=e.id, number=e.number, description=r.description,
                     category_code=e.category_code, merged=r.merged, status=e.status, rating=e.rating,
                     closed_at=e.closed_at, reported_at=r.created_at) for r, e in rows]


def handler_inbox(session: Session, actor: Actor, limit: int = PAGE_SIZE) -> list[EventSummary]:
    """The events waiting for the actor's teams (``cityops.handle``): dispatched, reopened and
    accepted, earliest due first; a grid worker's own events and their teams' (bounded per scope)."""
    _require_some(actor, "cityops.handle")
    limit = max(1, min(limit, 200))
    found: dict[str, Event] = {}
    for scope in actor.scopes("cityops.handle"):
        if scope.department_id is None:
            rows = repository.queue(session, prefixes=[scope.area_code or _city_code(session)],
                                    statuses=INBOX_STATUSES, category_code=None, after=None, limit=limit)
        else:
            dept = areas_service.departments_by_ids(session, {scope.department_id}).get(scope.department_id)
            parent = getattr(dept, "parent_id", None) if dept is not None else None
            rows = repository.assigned(session, department_id=parent or scope.department_id,
                                       team_id=scope.department_id if parent else None,
                                       statuses=INBOX_STATUSES, limit=limit)
            if parent:
                rows += repository.assigned(session, department_id=scope.department_id, team_id=None,
                                            statuses=INBOX_STATUSES, limit=limit)
        for ev in rows:
            if not ev.area_code.startswith(scope.area_code):
                continue
            if ev.assignee_user_id and ev.assignee_user_id != actor.user_id:
                continue
            if not any(actor.can("cityops.handle", area_code=ev.area_code, department_id=d)
                       for d in (ev.assignee_department_id, ev.assignee_team_id) if d):
                continue
            found[ev.id] = ev
    now = _now()
    ordered = sorted(found.values(), key=lambda e: (e.due_at, e.id))[:limit]
    return [_summary(ev, now) for ev in ordered]


def open_counts(session: Session, actor: Actor, area_code: str) -> dict[str, int]:
    """Open events per grid inside ``area_code`` (``cityops.read`` over it): area code → count (the
    grid, or the street or community of an event placed no finer). One grouped count over the open
    events of each district (bounded: never all history)."""
    _require_some(actor, "cityops.read")
    code = (area_code or "").strip()
    actor.require("cityops.read", area_code=code, target=f"area:{code}")
    districts = areas_service.subtree_codes(session, code, "district")[:100] if len(code) < 6 else [code[:6]]
    out: dict[str, int] = {}
    for district in districts:
        for grid, n in repository.open_counts_by_grid(session, district, code):
            out[grid] = out.get(grid, 0) + n
    return out


def _phone_index(session: Session, phone: str) -> str:
    digits = re.sub(r"[\s-]", "", phone or "")
    if not _PHONE.match(digits):
        raise errors.PhoneInvalid()
    return FieldCipher.for_session(session).blind_index(digits, "cityops.caller_phone")


def caller_history(session: Session, actor: Actor, phone: str, limit: int = CALLER_LIMIT) -> list[CallerEvent]:
    """12345: the events a caller reported before, found through the encrypted phone's blind index
    (``cityops.intake``); the look-up is audited (a staff read of personal data), the number is not
    written anywhere in clear."""
    _require_some(actor, "cityops.intake")
    index = _phone_index(session, phone)
    rows = repository.caller_reports(session, index, max(1, min(limit, CALLER_LIMIT)))
    audit_service.record(session, actor, "cityops.caller_lookup", target_type="caller", target_id=index[:16],
                         purpose="12345诉求受理", detail={"found": len(rows)})
    return [CallerEvent(event_id=e.id, number=e.number, description=e.description, category_code=e.category_code,
                        status=e.status, reported_at=r.created_at) for r, e in rows]


QUESTION_LIMIT = 500
CONSULTATION_LIMIT = 20


def record_consultation(session: Session, actor: Actor, *, caller_phone: str | None, question: str,
                        service_kind: str, service_code: str) -> ConsultationRead:
    """12345 咨询: the operator (``cityops.intake``) answered the caller from the service catalogue;
    the question, the service read out and the caller's phone (encrypted, with its blind index so
    the next call finds it) are kept, and the act is audited."""
    _require_some(actor, "cityops.intake")
    text = (question or "").strip()
    if not text or len(text) > QUESTION_LIMIT:
        raise errors.QuestionInvalid(limit=QUESTION_LIMIT)
    if service_kind == "bundle":
        name = catalog_service.get_bundle(session, service_code).name
    elif service_kind == "item":
        name = catalog_service.get_item(session, service_code).name
    else:
        raise errors.QuestionInvalid(limit=QUESTION_LIMIT)
    row = Consultation(id=new_id(), operator_user_id=actor.user_id, question=text, service_kind=service_kind,
                       service_code=service_code, service_name=name[:200], created_at=_now())
    digits = re.sub(r"[\s-]", "", caller_phone or "")
    if digits:
        row.caller_phone_index = _phone_index(session, digits)
        row.caller_phone_enc = FieldCipher.for_session(session).encrypt(
            digits, f"cityops.consultations.phone:{row.id}")
    session.add(row)
    session.flush()
    audit_service.record(session, actor, "cityops.consultation", target_type="consultation", target_id=row.id,
                         detail={"service": service_code, "caller": bool(digits)})
    return ConsultationRead.model_validate(row)


def my_consultations(session: Session, actor: Actor, limit: int = CONSULTATION_LIMIT) -> list[ConsultationRead]:
    """The operator's latest answered questions."""
    _require_some(actor, "cityops.intake")
    rows = repository.consultations_of_operator(session, actor.user_id or "", max(1, min(limit, 100)))
    return [ConsultationRead.model_validate(r) for r in rows]


def caller_consultations(session: Session, actor: Actor, phone: str,
                         limit: int = CALLER_LIMIT) -> list[ConsultationRead]:
    """A caller's earlier questions (with :func:`caller_history`, whose look-up is the audited one)."""
    _require_some(actor, "cityops.intake")
    rows = repository.consultations_of_caller(session, _phone_index(session, phone), max(1, min(limit, CALLER_LIMIT)))
    return [ConsultationRead.model_validate(r) for r in rows]


def suggest_duplicates(session: Session, actor: Actor, *, description: str, category_code: str | None,
                       lon: float | None = None, lat: float | None = None, crs: str = "wgs84",
                       area_code: str | None = None, limit: int = SUGGESTION_LIMIT) -> list[EventSummary]:
    """Open events that may be the same problem, for the operator typing a call (``cityops.intake``
    or ``cityops.read``): of the category, near the point (the duplicate check's cells, 7 days) or
    with similar text among the category's open events in the area (a bounded pool), best first."""
    if not actor.is_authenticated:
        raise AuthenticationRequired()
    if not (actor.scopes("cityops.intake") or actor.scopes("cityops.read")):
        raise PermissionDenied(permission="cityops.intake")
    text = (description or "").strip()[:DESCRIPTION_LIMIT]
    if not category_code or len(text) < 2 or repository.category(session, category_code) is None:
        return []
    now = _now()
    scored: dict[str, tuple[float, Event]] = {}
    if lon is not None and lat is not None and _check_point(lon, lat):
        if crs == "gcj02":
            lon, lat = areas_service.to_wgs84(lon, lat, "gcj02")
        for ev in repository.duplicate_candidates(session, category_code, _cells_around(lon, lat),
                                                  now - timedelta(days=7), limit=SUGGESTION_POOL):
            if ev.lon is not None and ev.lat is not None and _distance_m(lon, lat, ev.lon, ev.lat) <= 2 * DUPLICATE_METRES:
                scored[ev.id] = (1.0 + triage.text_similarity(text, ev.description), ev)
    prefixes = [area_code.strip()] if area_code and area_code.strip() else [_city_code(session)]
    for ev in repository.queue(session, prefixes=prefixes, statuses=OPEN_STATUSES, category_code=category_code,
                               after=None, limit=SUGGESTION_POOL):
        if ev.id in scored:
            continue
        similarity = triage.text_similarity(text, ev.description)
        if similarity >= SUGGESTION_SIMILARITY:
            scored[ev.id] = (similarity, ev)
    best = sorted(scored.values(), key=lambda s: (-s[0], s[1].due_at))[:max(1, min(limit, 20))]
    return [_summary(ev, now) for _, ev in best]


# -- Open311 ---
# GeoReport v2 (docs: README "Open311"): the services are the active leaf categories, a service
# request is an event (its number is the service_request_id) and an Open311 report goes through
# :func:`intake` like every other channel. What the public sees of an event never names its reporters.
OPEN311_LIMIT = 1000
"""At most this many service requests or updates in one answer (GeoReport v2)."""
OPEN311_IDS = 200
"""At most this many service_request_ids in one GET requests."""
MEDIA_URL_LIMIT = 500
_MEDIA_URL = re.compile(r"^https?://[^\s<>\"']+$")
_URGENCY_NAMES = {"normal": "Normal", "urgent": "Urgent", "critical": "Critical"}
_OPEN311_STATUS_WORDS = {
    "triage": "Waiting for a dispatcher to place and classify it", "dispatched": "Dispatched to the responsible team",
    "accepted": "Being handled", "handled": "Handled, waiting for the check", "closed": "Closed",
    "returned": "Being dispatched again", "reopened": "Reopened and back with the responsible team",
}
_OPEN311_UPDATES = {
    # timeline kind: (FixMyStreet update status, public description)
    "dispatched": ("open", "Dispatched to the responsible team."),
    "accepted": ("in_progress", "The responsible team has accepted it."),
    "returned": ("open", "Sent back to dispatch to find the responsible team."),
    "handled": ("in_progress", "Handled: {result}"),
    "check_failed": ("in_progress", "The check found it not yet fixed; handling continues."),
    "closed": ("fixed", "Closed: {result}"),
    "invalid": ("closed", "Closed as not a case: {result}"),
    "reopened": ("open", "Reopened: it was not fixed."),
}


def _open311_attributes() -> list[Open311Attribute]:
    """Every service's definition: the urgency the reporter sees (categories carry no attributes
    of their own yet)."""
    return [Open311Attribute(
        variable=True, code="urgency", datatype="singlevaluelist", required=False, datatype_description=None,
        order=1, description=translate("How urgent is it? Without an answer, the category's default applies."),
        values=[Open311Value(key=u, name=translate(_URGENCY_NAMES[u])) for u in URGENCIES])]


def _open311_service(c: Category, parents: dict[str, Category]) -> Open311Service:
    parent = parents.get(c.parent_code or "")
    return Open311Service(service_code=c.code, service_name=c.name,
                          description=f"{parent.name} · {c.name}" if parent else c.name, metadata=True,
                          type="realtime", keywords=",".join(x for x in (c.name, parent.name if parent else "") if x),
                          group=parent.name if parent else "")


def open311_services(session: Session) -> list[Open311Service]:
    """GET services: one service per active leaf category, in code order (public)."""
    tree = repository.categories(session)
    by_code = {c.code: c for c in tree}
    parents = {c.parent_code for c in tree if c.parent_code}
    return [_open311_service(c, by_code) for c in tree if c.active and c.code not in parents]


def _open311_category(session: Session, code: str) -> Category:
    """The active leaf category of a service_code; ``category_unknown`` for anything else."""
    c = repository.category(session, code)
    if c is None or not c.active or repository.has_children(session, c.code):
        raise errors.CategoryUnknown(code=code)
    return c


def open311_definition(session: Session, code: str) -> Open311Definition:
    """GET services/{service_code}: the service definition with its attributes (public)."""
    return Open311Definition(service_code=_open311_category(session, code).code, attributes=_open311_attributes())


def open311_submit(session: Session, actor: Actor, body: Open311Submission) -> Open311Receipt:
    """POST requests: an account allowed to report (a citizen, or ``cityops.intake`` such as a
    machine user of a partner app) reports through the ``open311`` channel. The phone, if given,
    is kept encrypted as for hotline callers; e-mail and names are not kept. A media URL is kept in
    the event's timeline. Refuses an unknown service, a bad urgency or media URL, and whatever
    :func:`intake` refuses. :func:`plan_open311` then :func:`apply_open311` in one transaction."""
    return apply_open311(session, actor, plan_open311(session, actor, body))


def plan_open311(session: Session, actor: Actor, body: Open311Submission) -> IntakePlan:
    """Check an Open311 POST requests and plan its intake, reading only (see :func:`open311_submit`)."""
    if not actor.is_authenticated:
        raise AuthenticationRequired()
    if actor.kind != "citizen" and not actor.scopes("cityops.intake"):
        raise PermissionDenied(permission="cityops.intake")
    category = _open311_category(session, body.service_code)
    media = (body.media_url or "").strip() or None
    if media is not None and (len(media) > MEDIA_URL_LIMIT or not _MEDIA_URL.match(media)):
        raise errors.PhotoInvalid(limit=MAX_PHOTOS)
    urgency = None
    for value in body.attributes.get("urgency", []):
        if value not in URGENCIES or (urgency is not None and value != urgency):
            raise errors.UrgencyInvalid(urgency=value)
        urgency = value
    text = _text(body.description, DESCRIPTION_LIMIT, errors.DescriptionRequired)
    report = ReportIn(description=text, category_code=category.code, lon=body.long, lat=body.lat,
                      address=(body.address_string or "").strip()[:200] or None,
                      area_code=(body.address_id or "").strip() or None, urgency=urgency)  # type: ignore[arg-type]
    phone = (body.phone or "").strip().removeprefix("+") or None
    return plan_intake(session, actor, "open311", report, caller_phone=phone, media_url=media)


def apply_open311(session: Session, actor: Actor, plan: IntakePlan) -> Open311Receipt:
    """Write a planned Open311 report (:func:`apply_intake`, the media URL in the timeline) and answer."""
    outcome = apply_intake(session, actor, plan)
    if outcome.merged:
        notice = translate("Merged into event {number}, which is already being dealt with.", number=outcome.number)
    else:
        notice = translate("Received as event {number}: {status}.", number=outcome.number,
                           status=translate(_OPEN311_STATUS_WORDS[outcome.status]))
    return Open311Receipt(service_request_id=outcome.number, service_notice=notice,
                          account_id=actor.user_id if actor.kind == "citizen" else None)


def open311_token(session: Session, token: str) -> Open311Receipt:
    """GET tokens/{token}: the service request of an Open311 report (the token is the report's id)."""
    row = repository.report(session, token) if _CODE.match(token) else None
    ev = repository.event(session, row.event_id) if row is not None and row.channel == "open311" else None
    if ev is None:
        raise errors.EventNotFound(ref=token)
    return Open311Receipt(service_request_id=ev.number, token=token)


PRIVATE_CHANNELS = frozenset({"hotline"})
"""Channels whose reports are not published as told (Open311 shows their category and area only)."""


def _open311_requests(session: Session, rows: list[Event]) -> list[Open311Request]:
    names = {c.code: c.name for c in repository.categories(session)} if rows else {}
    depts = areas_service.departments_by_ids(
        session, {d for ev in rows for d in (ev.assignee_team_id or ev.assignee_department_id,) if d})
    media: dict[str, str] = {}
    for t in repository.timeline_kind(session, [ev.id for ev in rows], "media", OPEN311_LIMIT):
        media.setdefault(t.event_id, json.loads(t.detail or "{}").get("media_url"))
    out = []
    for ev in rows:
        closed = ev.status == "closed"
        dept = depts.get(ev.assignee_team_id or ev.assignee_department_id or "")
        # A 12345 call is told in confidence: the public sees its category and area, not the
        # operator's notes of what the caller said or the address they gave. Published text has
        # every identifier in it (ID, mobile, card numbers …) masked.
        private = ev.channel in PRIVATE_CHANNELS
        name = names.get(ev.category_code or "")
        out.append(Open311Request(
            service_request_id=ev.number, status="closed" if closed else "open",
            status_notes=(masking.mask_identifiers(ev.result, whole=False) if closed and ev.result
                          else translate(_OPEN311_STATUS_WORDS[ev.status])),
            service_name=name, service_code=ev.category_code,
            description=(name or translate("12345 hotline ticket")) if private
            else masking.mask_identifiers(ev.description, whole=False),
            agency_responsible=dept.name if dept else None, service_notice=None,
            requested_datetime=ev.created_at, updated_datetime=ev.closed_at if closed and ev.closed_at else ev.updated_at,
            expected_datetime=ev.due_at if ev.status in ("dispatched", "accepted", "reopened") else None,
            address=None if private else ev.address, address_id=ev.area_code, zipcode=None,
            lat=None if private else ev.lat, long=None if private else ev.lon,
            media_url=None if private else media.get(ev.id)))
    return out


def open311_requests(session: Session, *, numbers: list[str] | None = None, service_codes: list[str] | None = None,
                     start: datetime, end: datetime, statuses: list[str] | None = None) -> list[Open311Request]:
    """GET requests: the events of the given numbers (which override every other filter), else
    those reported in [start, end] (the caller keeps it within 90 days), of the service codes and
    statuses (``open``, ``closed``) given; newest first, at most :data:`OPEN311_LIMIT` (public)."""
    if numbers:
        return _open311_requests(session, repository.events_by_numbers(session, numbers[:OPEN311_IDS], OPEN311_LIMIT))
    wanted = set(statuses or ())
    event_statuses = None if wanted in (set(), {"open", "closed"}) else (
        ("closed",) if wanted == {"closed"} else OPEN_STATUSES)
    rows = repository.events_requested_between(session, start, end, category_codes=service_codes,
                                               statuses=event_statuses, limit=OPEN311_LIMIT)
    return _open311_requests(session, rows)


def open311_request(session: Session, number: str) -> Open311Request:
    """GET requests/{service_request_id}: one event as the public sees it."""
    rows = repository.events_by_numbers(session, [number], 1)
    if not rows:
        raise errors.EventNotFound(ref=number)
    return _open311_requests(session, rows)[0]


def open311_updates(session: Session, *, start: datetime, end: datetime) -> list[Open311Update]:
    """GET servicerequestupdates (the FixMyStreet extension): the public steps of events' timelines
    in [start, end], oldest first, at most :data:`OPEN311_LIMIT`; working notes, reasons and
    photos stay inside (the result of the handling is public)."""
    out = []
    for t, number, result in repository.timeline_between(session, start, end, tuple(_OPEN311_UPDATES), OPEN311_LIMIT):
        status, words = _OPEN311_UPDATES[t.kind]
        text = masking.mask_identifiers((t.note if t.kind in ("handled", "invalid") else result) or "", whole=False)
        out.append(Open311Update(update_id=t.id, service_request_id=number, status=status, updated_datetime=t.at,
                                 description=translate(words, result=text).rstrip(": ："), media_url=None))
    return out


# -- demo and bench ---
def demo_event(session: Session, event_id: str) -> Event:
    """The event's row as the service left it, for the demo loader acting as its staff (no staff
    read of personal data: nothing to audit). Not for requests."""
    return _load(session, event_id)


def demo_reporter(session: Session, event_id: str) -> str | None:
    """The user id of the event's first citizen reporter, for the demo loader's ratings and reopenings."""
    found = repository.reporter_ids(session, event_id, limit=1)
    return found[0] if found else None


def demo_status_counts(session: Session) -> dict[str, int]:
    """Events per status, for the demo loader's summary (a whole-table count, never on a request's path)."""
    return repository.status_counts(session)
