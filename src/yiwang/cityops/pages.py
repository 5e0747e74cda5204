"""Pages of 一网统管: the citizen's report (随手拍) and their reports, the dispatcher console, the
handler inbox, the event page with its timeline, and the 12345 operator's entry page.

- Citizens: ``/report`` (mobile first: description, category or 不确定, photos, a location from the
  browser, a tap on the SVG map, or a street) and ``/my/reports`` with each report's progress,
  rating and reopening.
- Dispatchers (``cityops.dispatch``): ``/cityops/console`` is the queue (filters, due-date order,
  overdue flagged, bulk dispatch) beside an SVG choropleth of open events per area.
- Handlers (``cityops.handle``): ``/cityops/inbox``; everyone with ``cityops.read`` the event page
  ``/cityops/events/{id}`` (an audited read) with the actions their permissions allow.
- Operators (``cityops.intake``): ``/cityops/hotline``, keyboard first, with caller look-up and
  duplicate suggestions as htmx fragments, and the service catalogue for questions.

The maps are inline SVG drawn from the areas' GeoJSON: no tiles, no network, no map library.
Every route is a thin front door to :mod:`yiwang.cityops.service`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from yiwang.areas import service as areas_service
from yiwang.catalog import service as catalog_service
from yiwang.cityops import errors, service
from yiwang.cityops.schemas import (
    BulkDispatchBody,
    CheckBody,
    DispatchBody,
    EventRead,
    HandleBody,
    IncidentCreate,
    IncidentRead,
    ReportIn,
    RuleCreate,
    RuleRead,
    TriageDecision,
)
from yiwang.core.actor import Actor
from yiwang.core.db import utcnow
from yiwang.core.errors import AppError, AuthenticationRequired, PermissionDenied
from yiwang.core.web import (
    CurrentActor,
    DbSession,
    SignedInActor,
    login_redirect,
    read_form,
    render,
    require_somewhere,
)
from yiwang.files import errors as files_errors
from yiwang.files import service as files_service
from yiwang.identity import service as identity_service

router = APIRouter(tags=["cityops"], include_in_schema=False)

UNSURE = "unsure"
"""The category choice 不确定: the classifier (or a dispatcher) decides."""
PHOTO_FIELD = "photos"
MAP_FEATURES = 400
"""At most this many areas are drawn on one map (a district has tens of streets, a street tens of grids)."""

STATUS_LABELS = {
    "triage": "Waiting for triage", "dispatched": "Dispatched", "accepted": "Being handled",
    "handled": "Handled, being checked", "closed": "Closed", "returned": "Returned to dispatch",
    "reopened": "Reopened",
}
STATUS_TONES = {"triage": "warning", "dispatched": "info", "accepted": "info", "handled": "info",
                "closed": "success", "returned": "warning", "reopened": "warning"}
TIMELINE_LABELS = {
    "reported": "Reported", "triage": "Sent to the triage queue", "triaged": "Triaged by a dispatcher",
    "dispatched": "Dispatched", "accepted": "Accepted by the handler", "returned": "Returned to dispatch",
    "action": "Action recorded", "handled": "Handled", "closed": "Checked and closed",
    "check_failed": "Check failed, back to the handler", "rated": "Rated", "reopened": "Reopened",
    "merged": "Another report of the same problem joined", "invalid": "Closed as not a case",
    "escalated": "Escalated as overdue",
}
TRIAGE_REASONS = {
    "no_location": "No location", "outside_city": "Outside the city", "no_category": "No category",
    "low_confidence": "Category uncertain", "no_route": "No routing rule",
}
CHANNEL_LABELS = {"citizen": "Citizen photo report", "hotline": "12345 hotline", "patrol": "Patrol",
                  "open311": "Open311", "sensor": "Sensor alert"}
URGENCY_LABELS = {"normal": "Normal", "urgent": "Urgent", "critical": "Critical"}
DONE_MESSAGES = {
    "reported": "Your report is received.", "merged": "Your report joined an event already reported.",
    "rated": "Thank you for rating.", "reopened": "The event is reopened.",
    "dispatched": "The events are dispatched.", "triaged": "The triage decision is recorded.",
    "accepted": "You accepted the event.", "returned": "The event is returned to dispatch.",
    "action": "The action is recorded.", "handled": "The event is handled and waits for the check.",
    "checked": "The check is recorded.", "opened": "The call is entered as an event.",
    "answered": "The answer is recorded as a 12345 consultation.",
}


# -- small helpers ----------------------------------------------------------------------------------




def _require_citizen(actor: Actor) -> None:
    if not actor.is_authenticated:
        raise AuthenticationRequired()
    if actor.kind != "citizen":
        raise PermissionDenied(permission="cityops.report")


def _refusal(exc: AppError) -> bool:
    return isinstance(exc, AuthenticationRequired | PermissionDenied | errors.EventNotFound)


def _done(value: str | None) -> str | None:
    return DONE_MESSAGES.get(value or "")


def _float(value: str | None) -> float | None:
    try:
        number = float((value or "").strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


Uploads = list[tuple[str, bytes]]


async def _read_form(request: Request) -> tuple[dict[str, str], dict[str, list[str]], Uploads]:
    """Posted fields (first value), every value of repeated fields, and the chosen photos (name,
    bytes; one more than the service takes, so it can refuse too many), each read at most one byte
    over the upload limit (the files domain refuses larger)."""
    limit = (request.app.state.settings.max_upload_bytes or files_service.DEFAULT_MAX_BYTES) + 1
    fields, many, files = await read_form(request, keep_file=lambda key: key == PHOTO_FIELD, limit=limit)
    return fields, many, [(name, data) for _key, name, data in files][: service.MAX_PHOTOS + 1]


def _store_photos(session: Session, actor: Actor, files: Uploads, kept: list[str]) -> tuple[list[str], str | None]:
    """Store the chosen photos beside those kept from an earlier try; (ids, the first problem)."""
    ids = [i for i in kept if (f := files_service.get(session, i)) is not None and f.owner_user_id == actor.user_id
           and f.purpose == "photo"]
    for filename, data in files:
        try:
            ids.append(files_service.store_upload(session, actor, data=data, filename=filename, purpose="photo").id)
        except AppError as exc:
            if _refusal(exc):
                raise
            return ids, exc.render()
    return ids, None


def _categories(session: Session) -> list[dict[str, Any]]:
    cats = service.list_categories(session)
    names = {c.code: c.name for c in cats}
    return [{"code": c.code, "name": c.name, "parent": names.get(c.parent_code or "", ""),
             "label": f"{names[c.parent_code]} · {c.name}" if c.parent_code in names else c.name}
            for c in cats if c.active]


def _category_names(session: Session) -> dict[str, str]:
    return {c["code"]: c["label"] for c in _categories(session)}


def _places(session: Session, limit: int = 300) -> list[dict[str, str]]:
    """Districts, streets and communities to choose from (bounded: a city's few hundred)."""
    out: list[dict[str, str]] = []
    roots = areas_service.roots(session)
    queue = [(a, 0) for a in roots[:1]]
    while queue and len(out) < limit:
        area, depth = queue.pop(0)
        for child in areas_service.children(session, area.code):
            if child.level in ("district", "street", "community"):
                out.append({"code": child.code, "name": ("　" * depth) + child.name, "level": child.level})
                queue.append((child, depth + 1))
    out.sort(key=lambda p: p["code"])
    return out[:limit]


def _area_name(session: Session, code: str | None) -> str:
    if not code:
        return ""
    area = areas_service.find_area(session, code)
    return area.name if area else code


# -- the SVG maps -----------------------------------------------------------------------------------
@dataclass(slots=True)
class MapShape:
    code: str
    name: str
    level: str
    d: str
    count: int = 0
    fill: str = "#e8f0f8"
    label_x: float = 0.0
    label_y: float = 0.0


@dataclass(slots=True)
class SvgMap:
    """Areas projected to an SVG view box: x = longitude·cos(mid-latitude), y = −latitude, scaled."""

    shapes: list[MapShape]
    view_box: str
    scale: float
    x0: float
    y0: float
    kx: float
    area_code: str
    area_name: str
    parent_code: str | None
    max_count: int = 0


def _rings(geometry: dict[str, Any]) -> list[list[list[float]]]:
    kind, coords = geometry.get("type"), geometry.get("coordinates") or []
    if kind == "Polygon":
        return list(coords)
    if kind == "MultiPolygon":
        return [ring for poly in coords for ring in poly]
    return []


def _svg_map(session: Session, area_code: str, counts: dict[str, int] | None = None) -> SvgMap | None:
    """The children of ``area_code`` as SVG paths (None when none has a boundary); with ``counts``
    (grid → open events) each child is shaded by the events in its subtree."""
    area = areas_service.find_area(session, area_code)
    if area is None:
        return None
    features = areas_service.children_geojson(session, area_code)["features"][:MAP_FEATURES]
    if not features:
        return None
    points = [p for f in features for ring in _rings(f["geometry"]) for p in ring]
    if not points:
        return None
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    kx = math.cos(math.radians((min(lats) + max(lats)) / 2))
    width = max((max(lons) - min(lons)) * kx, 1e-9)
    height = max(max(lats) - min(lats), 1e-9)
    scale = 1000 / max(width, height)
    x0, y0 = min(lons), max(lats)

    def xy(p: list[float]) -> tuple[float, float]:
        return (p[0] - x0) * kx * scale, (y0 - p[1]) * scale

    shapes: list[MapShape] = []
    for f in features:
        parts, xs, ys = [], [], []
        for ring in _rings(f["geometry"]):
            pts = [xy(p) for p in ring]
            xs += [x for x, _ in pts]
            ys += [y for _, y in pts]
            parts.append("M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in pts) + " Z")
        if not parts:
            continue
        props = f["properties"]
        n = sum(v for k, v in (counts or {}).items() if k.startswith(props["code"]))
        shapes.append(MapShape(code=props["code"], name=props["name"], level=props["level"], d=" ".join(parts),
                               count=n, label_x=(min(xs) + max(xs)) / 2, label_y=(min(ys) + max(ys)) / 2))
    top = max((s.count for s in shapes), default=0)
    if counts is not None:
        for s in shapes:
            # Five steps from pale to deep blue-red; white when nothing is open there.
            step = 0 if s.count == 0 else 1 + min(3, int(4 * s.count / (top + 1)))
            s.fill = ("#ffffff", "#fde0c5", "#f9b17a", "#e8743b", "#b3401a")[step]
    w, h = width * scale, height * scale
    return SvgMap(shapes=shapes, view_box=f"-10 -10 {w + 20:.1f} {h + 20:.1f}", scale=scale, x0=x0, y0=y0, kx=kx,
                  area_code=area.code, area_name=area.name, parent_code=area.parent_code, max_count=top)


# -- citizens: report -------------------------------------------------------------------------------
def _report_ctx(session: Session, *, values: dict[str, str] | None = None, photo_ids: list[str] | None = None,
                error: str | None = None, field_errors: dict[str, str] | None = None,
                map_area: str | None = None) -> dict[str, Any]:
    roots = areas_service.roots(session)
    code = map_area or (roots[0].code if roots else "")
    svg = _svg_map(session, code) if code else None
    if svg is None and roots and code != roots[0].code:
        svg = _svg_map(session, roots[0].code)
    photos = [f for i in photo_ids or [] if (f := files_service.get(session, i)) is not None]
    return {"categories": _categories(session), "places": _places(session), "svg": svg, "values": values or {},
            "photos": photos, "error": error, "field_errors": field_errors or {}, "unsure": UNSURE,
            "max_photos": service.MAX_PHOTOS}


@router.get("/report", response_class=HTMLResponse)
def report_form(request: Request, session: DbSession, actor: CurrentActor, map: str | None = None) -> Response:
    """随手拍: the citizen's report form (mobile first), with the SVG map of ``map``'s sub-areas."""
    if not actor.is_authenticated:
        return login_redirect(request)
    _require_citizen(actor)
    return render(request, "cityops/report.html", _report_ctx(session, map_area=map))


_FIELD_OF = {"event_description_required": "description", "category_unknown": "category",
             "event_location_invalid": "location", "area_unknown": "area_code", "event_photo_invalid": "photos"}


def _report_post(request: Request, session: Session, actor: Actor, fields: dict[str, str],
                 many: dict[str, list[str]], files: Uploads) -> Response:
    _require_citizen(actor)
    values = {k: fields.get(k, "").strip() for k in ("description", "category", "lon", "lat", "crs", "area_code",
                                                     "address", "map")}
    kept = many.get("photo_id", [])
    photo_ids, problem = _store_photos(session, actor, files, kept)

    def again(status: int, error: str, field_errors: dict[str, str]) -> HTMLResponse:
        return render(request, "cityops/report.html",
                      _report_ctx(session, values=values, photo_ids=photo_ids, error=error,
                                  field_errors=field_errors, map_area=values["map"] or None), status_code=status)

    if problem:
        return again(422, problem, {"photos": problem})
    lon, lat = _float(values["lon"]), _float(values["lat"])
    if (values["lon"] or values["lat"]) and (lon is None or lat is None):
        exc = errors.LocationInvalid()
        return again(422, exc.render(), {"location": exc.render()})
    category = values["category"]
    body = ReportIn.model_construct(
        description=values["description"][:service.DESCRIPTION_LIMIT + 1],
        category_code=None if category in ("", UNSURE) else category, category_sure=category != UNSURE,
        lon=lon, lat=lat, crs="gcj02" if values["crs"] == "gcj02" else "wgs84",
        area_code=values["area_code"] or None, address=values["address"][:200] or None, photo_ids=photo_ids,
        urgency=None)
    try:
        out = service.report_citizen(session, actor, body)
    except AppError as exc:
        if _refusal(exc):
            raise
        session.rollback()
        # The photos stored on this try went with the rollback; store them again for the next.
        photo_ids, _ = _store_photos(session, actor, files, kept)
        message = exc.render()
        return again(exc.status, message, {_FIELD_OF.get(exc.code, "form"): message})
    done = "merged" if out.merged else "reported"
    return RedirectResponse(f"/my/reports/{out.event_id}?{urlencode({'done': done})}", status_code=303)


@router.post("/report", response_class=HTMLResponse)
async def report_submit(request: Request, session: DbSession, actor: SignedInActor) -> Response:
    """Send the report: photos stored, then one intake; re-shows the form with the problem on refusal."""
    fields, many, files = await _read_form(request)
    return await run_in_threadpool(_report_post, request, session, actor, fields, many, files)


@router.get("/my/reports", response_class=HTMLResponse)
def my_reports(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """The citizen's own reports, newest first, with each event's progress."""
    if not actor.is_authenticated:
        return login_redirect(request)
    _require_citizen(actor)
    return render(request, "cityops/mine.html", {
        "rows": service.my_reports(session, actor), "labels": STATUS_LABELS, "tones": STATUS_TONES,
        "categories": _category_names(session)})


def _my_detail(request: Request, session: Session, actor: Actor, event_id: str, status_code: int = 200,
               **extra: Any) -> HTMLResponse:
    ev = service.get_event(session, actor, event_id)
    closed = ev.closed_at
    if closed is not None and closed.tzinfo is None:
        closed = closed.replace(tzinfo=UTC)
    may_reopen = ev.status == "closed" and closed is not None and \
        utcnow() - closed <= timedelta(days=service.REOPEN_DAYS)
    ctx = _event_ctx(session, ev)
    ctx.update(may_reopen=may_reopen, rating_error=None, reopen_error=None, done=None)
    ctx.update(extra)
    return render(request, "cityops/my_detail.html", ctx, status_code=status_code)


@router.get("/my/reports/{event_id}", response_class=HTMLResponse)
def my_report(event_id: str, request: Request, session: DbSession, actor: CurrentActor,
              done: str | None = None) -> Response:
    """One of the citizen's reports: its progress and timeline; rating and reopening once closed."""
    if not actor.is_authenticated:
        return login_redirect(request)
    _require_citizen(actor)
    return _my_detail(request, session, actor, event_id, done=_done(done))


def _my_action(request: Request, session: Session, actor: Actor, event_id: str, action: str,
               fields: dict[str, str]) -> Response:
    _require_citizen(actor)
    try:
        if action == "rate":
            try:
                score = int(fields.get("score", ""))
            except ValueError:
                score = 0
            service.rate(session, actor, event_id, score, fields.get("comment") or None)
        else:
            service.reopen(session, actor, event_id, fields.get("reason", ""))
    except AppError as exc:
        if _refusal(exc):
            raise
        session.rollback()
        key = "rating_error" if action == "rate" else "reopen_error"
        return _my_detail(request, session, actor, event_id, status_code=exc.status, **{key: exc.render()})
    done = "rated" if action == "rate" else "reopened"
    return RedirectResponse(f"/my/reports/{event_id}?done={done}", status_code=303)


@router.post("/my/reports/{event_id}/rating", response_class=HTMLResponse)
async def my_rate(event_id: str, request: Request, session: DbSession, actor: SignedInActor) -> Response:
    """Rate a closed event once, 1 to 5."""
    fields, _, _ = await _read_form(request)
    return await run_in_threadpool(_my_action, request, session, actor, event_id, "rate", fields)


@router.post("/my/reports/{event_id}/reopen", response_class=HTMLResponse)
async def my_reopen(event_id: str, request: Request, session: DbSession, actor: SignedInActor) -> Response:
    """Reopen a closed event within 7 days, with the reason."""
    fields, _, _ = await _read_form(request)
    return await run_in_threadpool(_my_action, request, session, actor, event_id, "reopen", fields)


# -- staff: the event page --------------------------------------------------------------------------
def _event_ctx(session: Session, ev: EventRead) -> dict[str, Any]:
    depts = areas_service.departments_by_ids(
        session, {d for d in (ev.assignee_department_id, ev.assignee_team_id) if d})
    return {"ev": ev, "labels": STATUS_LABELS, "tones": STATUS_TONES, "timeline_labels": TIMELINE_LABELS,
            "triage_reasons": TRIAGE_REASONS, "channels": CHANNEL_LABELS, "urgencies": URGENCY_LABELS,
            "categories": _category_names(session), "area_name": _area_name(session, ev.area_code),
            "departments": {k: d.name for k, d in depts.items()},
            "photo_base": f"/cityops/events/{ev.id}/photos/"}


def _targets(session: Session, actor: Actor, permission: str = "cityops.dispatch") -> list[dict[str, str]]:
    """Departments and teams a dispatcher may send events to: those homed in their areas (and above)."""
    seen: dict[str, dict[str, str]] = {}
    for scope in actor.scopes(permission):
        for code in {scope.area_code[:n] for n in (2, 6, 9) if len(scope.area_code) >= n} | {scope.area_code}:
            for d in areas_service.list_departments(session, code, subtree=code == scope.area_code):
                seen.setdefault(d.id, {"id": d.id, "name": d.name, "kind": d.kind, "parent_id": d.parent_id or ""})
    return sorted(seen.values(), key=lambda d: d["name"])[:300]


def _event_page(request: Request, session: Session, actor: Actor, event_id: str, status_code: int = 200,
                **extra: Any) -> HTMLResponse:
    require_somewhere(actor, "cityops.read")
    ev = service.get_event(session, actor, event_id)
    assignees = [d for d in (ev.assignee_department_id, ev.assignee_team_id) if d]
    may_handle = any(actor.can("cityops.handle", area_code=ev.area_code, department_id=d) for d in assignees) and \
        (ev.assignee_user_id is None or ev.assignee_user_id == actor.user_id)
    may_dispatch = actor.can("cityops.dispatch", area_code=ev.area_code)
    ctx = _event_ctx(session, ev)
    ctx.update(may_handle=may_handle, may_dispatch=may_dispatch, error=None, done=None, field_errors={},
               values={}, all_categories=_categories(session),
               targets=_targets(session, actor) if may_dispatch else [],
               places=_places(session) if may_dispatch and ev.status in ("triage", "returned") else [])
    ctx.update(extra)
    return render(request, "cityops/event.html", ctx, status_code=status_code)


@router.get("/cityops/events/{event_id}", response_class=HTMLResponse)
def event_page(event_id: str, request: Request, session: DbSession, actor: CurrentActor,
               done: str | None = None) -> Response:
    """An event with its reports and timeline (an audited staff read) and the actions the reader may take."""
    if not actor.is_authenticated:
        return login_redirect(request)
    return _event_page(request, session, actor, event_id, done=_done(done))


def _target(value: str, targets: list[dict[str, str]] | None = None) -> tuple[str, str | None]:
    """A target choice ``dept`` or ``dept|team`` → (department id, team id)."""
    dept, _, team = (value or "").partition("|")
    return dept.strip(), team.strip() or None


def _event_action(request: Request, session: Session, actor: Actor, event_id: str, action: str,
                  fields: dict[str, str], many: dict[str, list[str]], files: Uploads) -> Response:
    require_somewhere(actor, "cityops.read")
    photo_ids: list[str] = []
    try:
        if action == "triage":
            decision = "invalid" if fields.get("decision") == "invalid" else "route"
            service.triage_event(session, actor, event_id, TriageDecision.model_construct(
                decision=decision, category_code=fields.get("category_code") or None,
                area_code=fields.get("area_code") or None, urgency=_urgency(fields.get("urgency")),
                reason=fields.get("reason") or None))
            done = "triaged"
        elif action == "dispatch":
            dept, team = _target(fields.get("target", ""))
            if not dept:
                raise errors.DepartmentUnknown(ref="—")
            service.dispatch(session, actor, event_id, DispatchBody.model_construct(
                department_id=dept, team_id=team, user_id=None, urgency=_urgency(fields.get("urgency")),
                note=(fields.get("note") or "")[:500] or None))
            done = "dispatched"
        elif action == "check":
            service.check(session, actor, event_id, CheckBody.model_construct(
                passed=fields.get("passed") == "yes", note=(fields.get("note") or "")[:500]))
            done = "checked"
        elif action == "accept":
            service.accept(session, actor, event_id)
            done = "accepted"
        elif action == "return":
            service.return_event(session, actor, event_id, fields.get("reason", ""))
            done = "returned"
        else:
            photo_ids, problem = _store_photos(session, actor, files, [])
            if problem:
                session.rollback()
                return _event_page(request, session, actor, event_id, status_code=422, error=problem,
                                   values=fields)
            finish = fields.get("finish") == "yes"
            service.handle(session, actor, event_id, HandleBody.model_construct(
                note=(fields.get("note") or "")[:2000], photo_ids=photo_ids, finish=finish,
                result=(fields.get("result") or "")[:2001] or None))
            done = "handled" if finish else "action"
    except AppError as exc:
        if _refusal(exc):
            raise
        session.rollback()
        return _event_page(request, session, actor, event_id, status_code=exc.status, error=exc.render(),
                           values=fields, failed=action)
    back = fields.get("back", "")
    if back in ("inbox", "console") and action in ("accept", "dispatch", "return"):
        return RedirectResponse(f"/cityops/{back}?done={done}", status_code=303)
    return RedirectResponse(f"/cityops/events/{event_id}?done={done}", status_code=303)


def _urgency(value: str | None) -> str | None:
    return value if value in URGENCY_LABELS else None


@router.post("/cityops/events/{event_id}/{action}", response_class=HTMLResponse)
async def event_action(event_id: str, action: str, request: Request, session: DbSession,
                       actor: SignedInActor) -> Response:
    """One step of the loop from the event page: triage, dispatch, check (dispatchers); accept,
    return, handle (the assignee). Re-shows the page with the problem on refusal."""
    require_somewhere(actor, "cityops.read")
    if action not in ("triage", "dispatch", "check", "accept", "return", "handle"):
        raise errors.EventStatusConflict(status="—", action=action)
    fields, many, files = await _read_form(request)
    return await run_in_threadpool(_event_action, request, session, actor, event_id, action, fields, many, files)


# -- dispatchers: the console -----------------------------------------------------------------------
def _console(request: Request, session: Session, actor: Actor, *, status: str | None, category: str | None,
             area: str | None, cursor: str | None, status_code: int = 200, **extra: Any) -> HTMLResponse:
    require_somewhere(actor, "cityops.dispatch")
    status = status if status in STATUS_LABELS else None
    category = category or None
    area = (area or "").strip() or None
    page = service.list_events(session, actor, status=status, category_code=category, area_code=area,
                               cursor=cursor)
    home = area or actor.scopes("cityops.read")[0].area_code
    svg = None
    if actor.can("cityops.read", area_code=home):
        svg = _svg_map(session, home, service.open_counts(session, actor, home))
    ctx = {"page": page, "status": status or "", "category": category or "", "area": area or "",
           "labels": STATUS_LABELS, "tones": STATUS_TONES, "triage_reasons": TRIAGE_REASONS,
           "urgencies": URGENCY_LABELS, "categories": _categories(session), "names": _category_names(session),
           "places": _places(session), "targets": _targets(session, actor), "svg": svg, "error": None,
           "problems": [], "done": None, "checked": [], "incidents": _active_incidents_here(session, actor)}
    ctx.update(extra)
    return render(request, "cityops/console.html", ctx, status_code=status_code)


@router.get("/cityops/console", response_class=HTMLResponse)
def console(request: Request, session: DbSession, actor: CurrentActor, status: str | None = None,
            category: str | None = None, area: str | None = None, cursor: str | None = None,
            done: str | None = None) -> Response:
    """The dispatcher's queue (filters, earliest due first, overdue flagged) and the map of open events."""
    if not actor.is_authenticated:
        return login_redirect(request)
    return _console(request, session, actor, status=status, category=category, area=area, cursor=cursor,
                    done=_done(done))


def _bulk(request: Request, session: Session, actor: Actor, fields: dict[str, str],
          many: dict[str, list[str]]) -> Response:
    require_somewhere(actor, "cityops.dispatch")
    ids = [i for i in many.get("event_id", []) if i][: service.BULK_LIMIT + 1]
    dept, team = _target(fields.get("target", ""))
    filters = {"status": fields.get("status") or None, "category": fields.get("category") or None,
               "area": fields.get("area") or None, "cursor": None}
    try:
        if not dept:
            raise errors.DepartmentUnknown(ref="—")
        service.bulk_dispatch(session, actor, BulkDispatchBody.model_construct(
            event_ids=ids, department_id=dept, team_id=team, user_id=None, urgency=None, note=None))
    except AppError as exc:
        if isinstance(exc, AuthenticationRequired | PermissionDenied):
            raise
        session.rollback()
        problems = [p.get("message", "") for p in getattr(exc, "errors", None) or [] if isinstance(p, dict)]
        return _console(request, session, actor, status_code=exc.status, error=exc.render(), problems=problems,
                        checked=ids, **filters)
    return RedirectResponse("/cityops/console?done=dispatched", status_code=303)


@router.post("/cityops/console/dispatch", response_class=HTMLResponse)
async def bulk_dispatch(request: Request, session: DbSession, actor: SignedInActor) -> Response:
    """Dispatch the ticked events to one department or team: all of them or none."""
    fields, many, _ = await _read_form(request)
    return await run_in_threadpool(_bulk, request, session, actor, fields, many)


# -- handlers: the inbox ----------------------------------------------------------------------------
@router.get("/cityops/inbox", response_class=HTMLResponse)
def inbox(request: Request, session: DbSession, actor: CurrentActor, done: str | None = None) -> Response:
    """The handler's events: dispatched to their team, reopened, or accepted, earliest due first."""
    if not actor.is_authenticated:
        return login_redirect(request)
    require_somewhere(actor, "cityops.handle")
    return render(request, "cityops/inbox.html", {
        "rows": service.handler_inbox(session, actor), "labels": STATUS_LABELS, "tones": STATUS_TONES,
        "names": _category_names(session), "urgencies": URGENCY_LABELS, "done": _done(done)})


# -- operators: 12345 -------------------------------------------------------------------------------
def _hotline(request: Request, session: Session, actor: Actor, status_code: int = 200, **extra: Any) -> HTMLResponse:
    require_somewhere(actor, "cityops.intake")
    q = (extra.pop("q", "") or "").strip()[:100]
    ctx = {"categories": _categories(session), "places": _places(session), "urgencies": URGENCY_LABELS,
           "values": {}, "error": None, "field_errors": {}, "done": None, "number": None, "q": q,
           "hits": catalog_service.search(session, q, limit=10) if q else [],
           "answered": service.my_consultations(session, actor, limit=10)}
    ctx.update(extra)
    return render(request, "cityops/hotline.html", ctx, status_code=status_code)


@router.get("/cityops/hotline", response_class=HTMLResponse)
def hotline(request: Request, session: DbSession, actor: CurrentActor, done: str | None = None,
            number: str | None = None, q: str = "") -> Response:
    """12345: enter a call as an event, or answer a service question from the catalogue (``q``)."""
    if not actor.is_authenticated:
        return login_redirect(request)
    return _hotline(request, session, actor, done=_done(done), number=number, q=q)


def _hotline_post(request: Request, session: Session, actor: Actor, fields: dict[str, str]) -> Response:
    require_somewhere(actor, "cityops.intake")
    values = {k: fields.get(k, "").strip() for k in ("caller_phone", "description", "category", "area_code",
                                                     "address", "urgency")}
    category = values["category"]
    body = ReportIn.model_construct(
        description=values["description"][:service.DESCRIPTION_LIMIT + 1],
        category_code=None if category in ("", UNSURE) else category, category_sure=category != UNSURE,
        lon=None, lat=None, crs="wgs84", area_code=values["area_code"] or None,
        address=values["address"][:200] or None, photo_ids=[], urgency=_urgency(values["urgency"]))
    try:
        out = service.report_hotline(session, actor, body, values["caller_phone"][:20] or None)
    except AppError as exc:
        if _refusal(exc):
            raise
        session.rollback()
        message = exc.render()
        where = {"event_phone_invalid": "caller_phone", **_FIELD_OF}.get(exc.code, "form")
        values["caller_phone"] = ""  # the number is not echoed back into the page
        return _hotline(request, session, actor, status_code=exc.status, values=values, error=message,
                        field_errors={where: message})
    return RedirectResponse(f"/cityops/hotline?{urlencode({'done': 'opened', 'number': out.number})}",
                            status_code=303)


@router.post("/cityops/hotline", response_class=HTMLResponse)
async def hotline_submit(request: Request, session: DbSession, actor: SignedInActor) -> Response:
    """Open an event from the call (the caller's phone is kept encrypted)."""
    fields, _, _ = await _read_form(request)
    return await run_in_threadpool(_hotline_post, request, session, actor, fields)


def _answer_post(request: Request, session: Session, actor: Actor, fields: dict[str, str]) -> Response:
    require_somewhere(actor, "cityops.intake")
    question = (fields.get("q") or "").strip()
    kind, _, code = (fields.get("service") or "").partition(":")
    try:
        service.record_consultation(session, actor, caller_phone=(fields.get("caller_phone") or "")[:20] or None,
                                    question=question, service_kind=kind, service_code=code[:40])
    except AppError as exc:
        if _refusal(exc):
            raise
        session.rollback()
        return _hotline(request, session, actor, status_code=exc.status, q=question[:100], error=exc.render())
    return RedirectResponse(f"/cityops/hotline?{urlencode({'done': 'answered'})}", status_code=303)


@router.post("/cityops/hotline/answer", response_class=HTMLResponse)
async def hotline_answer(request: Request, session: DbSession, actor: SignedInActor) -> Response:
    """12345 咨询: record that the call was answered with a service from the catalogue."""
    fields, _, _ = await _read_form(request)
    return await run_in_threadpool(_answer_post, request, session, actor, fields)


@router.get("/cityops/hotline/suggest", response_class=HTMLResponse)
def hotline_suggest(request: Request, session: DbSession, actor: SignedInActor, description: str = "",
                    category: str = "", area_code: str = "") -> Response:
    """A fragment: open events that may be the same problem as the call being typed."""
    require_somewhere(actor, "cityops.intake")
    rows = service.suggest_duplicates(session, actor, description=description[:service.DESCRIPTION_LIMIT],
                                      category_code=category if category != UNSURE else None,
                                      area_code=area_code or None)
    return render(request, "cityops/_suggestions.html", {"rows": rows, "labels": STATUS_LABELS,
                                                         "tones": STATUS_TONES})


def _caller(request: Request, session: Session, actor: Actor, phone: str) -> Response:
    require_somewhere(actor, "cityops.intake")
    try:
        rows = service.caller_history(session, actor, phone)
        asked = service.caller_consultations(session, actor, phone)
        error = None
    except errors.PhoneInvalid as exc:
        rows, asked, error = [], [], exc.render()
    return render(request, "cityops/_caller.html", {"rows": rows, "asked": asked, "error": error,
                                                    "labels": STATUS_LABELS,
                                                    "tones": STATUS_TONES, "names": _category_names(session)},
                  status_code=422 if error else 200)


@router.post("/cityops/hotline/caller", response_class=HTMLResponse)
async def hotline_caller(request: Request, session: DbSession, actor: SignedInActor) -> Response:
    """A fragment: the caller's earlier events, by the encrypted phone's index (an audited look-up;
    posted, so the number stays out of URLs and access logs)."""
    fields, _, _ = await _read_form(request)
    return await run_in_threadpool(_caller, request, session, actor, fields.get("caller_phone", ""))


# -- photos of an event -----------------------------------------------------------------------------
INLINE_IMAGES = frozenset({"image/jpeg", "image/png", "image/webp"})
"""Photo types a browser shows itself: served inline (thumbnails); others stay downloads."""


def _event_photo(session: Session, actor: Actor, event_id: str, file_id: str) -> Response:
    if not actor.is_authenticated:
        raise AuthenticationRequired()
    if actor.kind != "citizen":
        require_somewhere(actor, "cityops.read")
    # The reader must be one the event is shown to, and the photo one of what they are shown with
    # it; a staff member's read of someone else's photo is audited as a file read.
    area = service.photo_area(session, actor, event_id, file_id)
    if area is None:
        raise files_errors.FileNotFound()
    stored, data = files_service.open_file(session, actor, file_id, can_read=lambda _f: True,
                                           area_code=area, reason="事件研判处置")
    headers = files_service.download_headers(stored)
    if stored.media_type in INLINE_IMAGES:
        headers["Content-Disposition"] = headers["Content-Disposition"].replace("attachment", "inline", 1)
    return Response(content=data, media_type=stored.media_type, headers=headers)


@router.get("/cityops/events/{event_id}/photos/{file_id}")
def event_photo(event_id: str, file_id: str, session: DbSession, actor: CurrentActor) -> Response:
    """A photo of a report or of the handler's evidence, for someone who may read the event: the
    reporter (their own report and the handler's photos) or staff over its area (audited as a file
    read). Never sniffed; images shown inline, anything else a download."""
    return _event_photo(session, actor, event_id, file_id)


# -- shared by the rules and incidents pages --------------------------------------------------------
def _places_for(session: Session, actor: Actor, permission: str) -> list[dict[str, str]]:
    """The city and the areas under it where the actor holds ``permission``."""
    roots = [{"code": r.code, "name": r.name, "level": r.level} for r in areas_service.roots(session)[:1]]
    return [p for p in roots + _places(session) if actor.can(permission, area_code=p["code"])]


def _area_names(session: Session, codes: set[str]) -> dict[str, str]:
    return {c: _area_name(session, c) for c in sorted(codes)[:300]}


def _department_names(session: Session, ids: set[str]) -> dict[str, str]:
    return {k: d.name for k, d in areas_service.departments_by_ids(session, {i for i in ids if i}).items()}


def _active_incidents_here(session: Session, actor: Actor) -> list[IncidentRead]:
    """Active incidents overlapping the actor's areas: the console's banner."""
    scopes = [s.area_code for s in actor.scopes("cityops.read")]
    if not scopes:
        return []
    return [i for i in service.list_incidents(session, actor, active_only=True)
            if any(i.area_code.startswith(s) or s.startswith(i.area_code) for s in scopes)]


DONE_MESSAGES.update({
    "rule_saved": "The routing rule is saved as a new version.",
    "declared": "The emergency incident is declared: matching new events go to its team.",
    "stood_down": "The emergency incident is stood down: new events follow the routing rules again.",
})


# -- dispatchers: routing rules (派单规则) ------------------------------------------------------------
def _grid_workers(session: Session, actor: Actor) -> list[tuple[str, str]]:
    """(user id, name) of the grid workers in the areas where the actor routes events."""
    ids = {u for scope in actor.scopes("cityops.route")
           for u in identity_service.holders_near(session, "cityops.patrol", scope.area_code)}
    names = identity_service.display_names(session, ids)
    return sorted(names.items(), key=lambda pair: (pair[1], pair[0]))


def _rules_ctx(session: Session, actor: Actor, rules: list[RuleRead]) -> dict[str, Any]:
    return {"categories": _categories(session), "names": _category_names(session), "workers": _grid_workers(session, actor),
            "places": _places_for(session, actor, "cityops.route"),
            "targets": _targets(session, actor, "cityops.route"),
            "area_names": _area_names(session, {r.area_prefix for r in rules}),
            "departments": _department_names(session, {d for r in rules for d in (r.department_id, r.team_id) if d}),
            "values": {}, "error": None, "field_errors": {}, "done": None}


def _rules_page(request: Request, session: Session, actor: Actor, *, category: str | None, area: str | None,
                status_code: int = 200, **extra: Any) -> HTMLResponse:
    require_somewhere(actor, "cityops.route")
    category, area = (category or "").strip() or None, (area or "").strip() or None
    rules = service.list_rules(session, actor, category_code=category, area_code=area)
    rules = [r for r in rules if actor.can("cityops.route", area_code=r.area_prefix)]
    ctx = _rules_ctx(session, actor, rules)
    ctx.update(rules=rules, category=category or "", area=area or "", rule=None, versions=[])
    ctx.update(extra)
    return render(request, "cityops/rules.html", ctx, status_code=status_code)


@router.get("/cityops/rules", response_class=HTMLResponse)
def rules_page(request: Request, session: DbSession, actor: CurrentActor, category: str | None = None,
               area: str | None = None, done: str | None = None) -> Response:
    """派单规则: the current routing rules in the dispatcher's areas (filters by category and area)
    and the form to add a rule or change one (cityops.route)."""
    if not actor.is_authenticated:
        return login_redirect(request)
    return _rules_page(request, session, actor, category=category, area=area, done=_done(done))


def _rule_page(request: Request, session: Session, actor: Actor, rule_id: str, status_code: int = 200,
               **extra: Any) -> HTMLResponse:
    require_somewhere(actor, "cityops.route")
    rule = service.get_rule(session, actor, rule_id)
    versions = service.rule_versions(session, actor, rule)
    ctx = _rules_ctx(session, actor, versions)
    target = f"{rule.department_id}|{rule.team_id}" if rule.team_id else (rule.department_id or "")
    ctx.update(rule=rule, versions=versions, values={"target": target, "user_id": rule.user_id or ""})
    ctx.update(extra)
    return render(request, "cityops/rule.html", ctx, status_code=status_code)


@router.get("/cityops/rules/{rule_id}", response_class=HTMLResponse)
def rule_page(rule_id: str, request: Request, session: DbSession, actor: CurrentActor,
              done: str | None = None) -> Response:
    """One routing rule with its version history and the form to change it (a change is a new version)."""
    if not actor.is_authenticated:
        return login_redirect(request)
    return _rule_page(request, session, actor, rule_id, done=_done(done))


_RULE_FIELD_OF = {"category_unknown": "category_code", "event_category_required": "category_code",
                  "event_area_unknown": "area_prefix", "routing_rule_invalid": "form",
                  "event_department_unknown": "target", "routing_rule_target_outside": "target",
                  "routing_rule_user_invalid": "user_id"}


def _rule_post(request: Request, session: Session, actor: Actor, fields: dict[str, str]) -> Response:
    require_somewhere(actor, "cityops.route")
    values = {k: (fields.get(k) or "").strip()[:100] for k in ("category_code", "area_prefix", "target", "user_id",
                                                              "rule_id")}
    dept, team = _target(values["target"]) if values["target"] != "retire" else ("", None)
    try:
        if not values["category_code"]:
            raise errors.CategoryRequired()
        if values["target"] != "retire" and not dept:
            raise errors.DepartmentUnknown(ref="—")
        saved = service.create_rule(session, actor, RuleCreate(
            category_code=values["category_code"], area_prefix=values["area_prefix"], department_id=dept or None,
            team_id=team if dept else None, user_id=(values["user_id"] or None) if dept else None))
    except AppError as exc:
        if isinstance(exc, AuthenticationRequired | PermissionDenied | errors.RuleNotFound):
            raise
        session.rollback()
        message = exc.render()
        where = {_RULE_FIELD_OF.get(exc.code, "form"): message}
        if values["rule_id"]:
            return _rule_page(request, session, actor, values["rule_id"], status_code=exc.status, error=message,
                              field_errors=where, values=values)
        return _rules_page(request, session, actor, category=None, area=None, status_code=exc.status,
                           error=message, field_errors=where, values=values)
    return RedirectResponse(f"/cityops/rules/{saved.id}?done=rule_saved", status_code=303)


@router.post("/cityops/rules", response_class=HTMLResponse)
async def rule_submit(request: Request, session: DbSession, actor: SignedInActor) -> Response:
    """Add a routing rule, or change one: the (category, area) rule gets a new version (cityops.route)."""
    fields, _, _ = await _read_form(request)
    return await run_in_threadpool(_rule_post, request, session, actor, fields)


# -- dispatchers: emergency incidents (战时模式) ------------------------------------------------------
INCIDENT_PRIORITIES = {"100": "High", "500": "Very high", "1000": "Highest"}
INCIDENT_DEADLINES = ("1h", "2h", "4h", "8h", "1d")


def _incidents_page(request: Request, session: Session, actor: Actor, *, confirm: str | None = None,
                    status_code: int = 200, **extra: Any) -> HTMLResponse:
    require_somewhere(actor, "cityops.read")
    incidents = service.list_incidents(session, actor)
    may_declare = bool(actor.scopes("cityops.incident"))
    ctx = {"incidents": incidents, "counts": service.incident_event_counts(session, actor, [i.id for i in incidents]),
           "names": _category_names(session), "area_names": _area_names(session, {i.area_code for i in incidents}),
           "departments": _department_names(session, {d for i in incidents for d in (i.department_id, i.team_id)
                                                      if d}),
           "may_declare": may_declare,
           "may_stand_down": {i.id for i in incidents
                              if i.status == "active" and actor.can("cityops.incident", area_code=i.area_code)},
           "categories": _categories(session) if may_declare else [],
           "places": _places_for(session, actor, "cityops.incident") if may_declare else [],
           "targets": _targets(session, actor, "cityops.incident") if may_declare else [],
           "priorities": INCIDENT_PRIORITIES, "deadlines": INCIDENT_DEADLINES, "confirm": confirm,
           "values": {}, "chosen": [], "error": None, "field_errors": {}, "done": None}
    ctx.update(extra)
    return render(request, "cityops/incidents.html", ctx, status_code=status_code)


@router.get("/cityops/incidents", response_class=HTMLResponse)
def incidents_page(request: Request, session: DbSession, actor: CurrentActor, confirm: str | None = None,
                   done: str | None = None) -> Response:
    """战时模式: active and past emergency incidents (cityops.read), the form to declare one and the
    stand-down with its confirmation (cityops.incident)."""
    if not actor.is_authenticated:
        return login_redirect(request)
    return _incidents_page(request, session, actor, confirm=confirm, done=_done(done))


_INCIDENT_FIELD_OF = {"incident_invalid": "form", "event_area_unknown": "area_code", "category_unknown": "categories",
                      "event_deadline_invalid": "deadline", "event_department_unknown": "target"}


def _declare(request: Request, session: Session, actor: Actor, fields: dict[str, str],
             many: dict[str, list[str]]) -> Response:
    require_somewhere(actor, "cityops.incident")
    values = {k: (fields.get(k) or "").strip()[:100] for k in ("name", "area_code", "target", "deadline",
                                                              "priority")}
    chosen = [c for c in dict.fromkeys(many.get("categories", [])) if c][:50]
    dept, team = _target(values["target"])
    try:
        if not values["name"] or not values["area_code"] or not chosen:
            raise errors.IncidentInvalid()
        if not dept:
            raise errors.DepartmentUnknown(ref="—")
        if values["priority"] not in INCIDENT_PRIORITIES:
            raise errors.IncidentInvalid()
        saved = service.declare_incident(session, actor, IncidentCreate(
            name=values["name"], area_code=values["area_code"], categories=chosen, department_id=dept,
            team_id=team, deadline=values["deadline"] or "4h", priority=int(values["priority"])))
    except AppError as exc:
        if isinstance(exc, AuthenticationRequired | PermissionDenied):
            raise
        session.rollback()
        message = exc.render()
        return _incidents_page(request, session, actor, status_code=exc.status, error=message, values=values,
                               chosen=chosen, field_errors={_INCIDENT_FIELD_OF.get(exc.code, "form"): message})
    return RedirectResponse(f"/cityops/incidents?done=declared#incident-{saved.id}", status_code=303)


@router.post("/cityops/incidents", response_class=HTMLResponse)
async def incident_declare(request: Request, session: DbSession, actor: SignedInActor) -> Response:
    """Declare an emergency incident for an area subtree and categories (cityops.incident)."""
    fields, many, _ = await _read_form(request)
    return await run_in_threadpool(_declare, request, session, actor, fields, many)


def _stand_down(request: Request, session: Session, actor: Actor, incident_id: str) -> Response:
    require_somewhere(actor, "cityops.incident")
    try:
        service.stand_down(session, actor, incident_id)
    except AppError as exc:
        if isinstance(exc, AuthenticationRequired | PermissionDenied | errors.IncidentNotFound):
            raise
        session.rollback()
        return _incidents_page(request, session, actor, status_code=exc.status, error=exc.render())
    return RedirectResponse("/cityops/incidents?done=stood_down", status_code=303)


@router.post("/cityops/incidents/{incident_id}/stand-down", response_class=HTMLResponse)
async def incident_stand_down(incident_id: str, request: Request, session: DbSession,
                              actor: SignedInActor) -> Response:
    """Stand an incident down (after the page's confirmation step): normal routing again."""
    await _read_form(request)
    return await run_in_threadpool(_stand_down, request, session, actor, incident_id)
