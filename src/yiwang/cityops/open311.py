"""Open311 GeoReport v2 at ``/open311/v2/`` (http://wiki.open311.org/GeoReport_v2), XML and JSON,
with the ``servicerequestupdates`` extension FixMyStreet reads.

The router parses what clients send (form-encoded POST, query strings, W3C datetimes), calls the
cityops service and renders its answers. Errors follow the specification: ``<errors><error><code>
<description>`` (JSON: a list of ``{code, description}``) with the HTTP status as the code: 400 for
malformed input, 403 for a missing or refused ``api_key``, 404 for an unknown service, request,
token or format. ``jurisdiction_id`` is accepted and ignored: this endpoint serves one jurisdiction,
and the specification needs it "only if the endpoint serves multiple jurisdictions".
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from yiwang.cityops import errors, service
from yiwang.cityops.schemas import (
    Open311Definition,
    Open311Receipt,
    Open311Request,
    Open311Service,
    Open311Submission,
    Open311Update,
)
from yiwang.core.actor import Actor
from yiwang.core.db import Database, utcnow
from yiwang.core.errors import AppError, NotFoundError, PermissionDenied
from yiwang.core.groupcommit import run_write
from yiwang.core.web import ReadDbSession
from yiwang.identity import service as identity_service

router = APIRouter(prefix="/open311/v2", tags=["open311"], include_in_schema=True)

FORMATS = {"xml": "application/xml; charset=utf-8", "json": "application/json"}
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-01-01T00:00:00Z"
"""When this endpoint's behaviour last changed (discovery's ``changeset``)."""
SPAN_DAYS = 90
"""GeoReport v2, GET requests: "the range defaults to most recent 90 days" and "may not span more than 90 days"."""
CITY_TZ = ZoneInfo("Asia/Shanghai")
"""A date without a time (``2026-01-05``) is that day from midnight in the city."""
ADDRESS_LIMIT = 200
_MEDIA_URL = re.compile(r"^https?://[^\s<>\"']+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ATTRIBUTE = re.compile(r"^attribute\[([^\]]{1,40})\](\[\])?$")


# -- errors -------------------------------------------------------------------------------------------
class Open311BadRequest(AppError):
    """Malformed input (GeoReport v2: "400 - … was not provided", "400 - General service error")."""

    code = "open311_bad_request"
    status = 400


class ApiKeyRequired(Open311BadRequest):
    code = "open311_api_key_required"
    status = 403
    message = "Give the api_key of an account allowed to report (a platform API token)."


class ServiceCodeRequired(Open311BadRequest):
    code = "open311_service_code_required"
    message = "Give the service_code of the request (see services.xml)."


class LocationRequired(Open311BadRequest):
    code = "open311_location_required"
    message = "Give the location: lat and long (WGS-84), or address_string, or address_id."


class PointInvalid(Open311BadRequest):
    code = "open311_point_invalid"
    message = "Give lat and long together, as decimal degrees (WGS-84)."


class AddressTooLong(Open311BadRequest):
    code = "open311_address_too_long"
    message = "The address_string may hold at most {limit} characters."


class DateInvalid(Open311BadRequest):
    code = "open311_date_invalid"
    message = "{field} is not a W3C date and time such as 2026-01-05T08:00:00+08:00."


class DateRangeInvalid(Open311BadRequest):
    code = "open311_date_range_invalid"
    message = "The start_date must come before the end_date, at most {days} days apart."


class StatusInvalid(Open311BadRequest):
    code = "open311_status_invalid"
    message = "The status may be open or closed."


class MediaUrlInvalid(Open311BadRequest):
    code = "open311_media_url_invalid"
    message = "The media_url must be an http or https address of at most {limit} characters."


class FormatUnknown(NotFoundError):
    code = "open311_format_unknown"
    message = "The format {format} is not served; use xml or json."


class Open311Failure(Exception):
    """An error on its way to the client, in the format of the request."""

    def __init__(self, error: AppError, fmt: str) -> None:
        super().__init__(error.code)
        self.error = error
        self.fmt = fmt if fmt in FORMATS else "xml"

    @property
    def status(self) -> int:
        """GeoReport v2 knows 400, 403 and 404: a refusal of access is 403, a thing not found is
        404, anything else the service refuses (422 or 409 inside) is 400."""
        if isinstance(self.error, errors.CategoryUnknown):
            # GeoReport v2, "GET Service Definition" and "POST Service Request", Possible Errors:
            # "404 - service_code or jurisdiction_id … not found" (a missing one is 400).
            return 404
        s = self.error.status
        if s in (401, 403):
            return 403
        return 404 if s == 404 else 400


# -- rendering ----------------------------------------------------------------------------------------
def _w3c(value: datetime) -> str:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(CITY_TZ).isoformat(timespec="seconds")


def _plain(value: Any) -> Any:
    """A value as JSON carries it (datetimes in W3C format with the city's offset)."""
    if isinstance(value, datetime):
        return _w3c(value)
    if isinstance(value, float):
        return round(value, 7)
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(_plain(value))


def _element(parent: ET.Element, name: str, value: Any, item: str | None = None) -> None:
    node = ET.SubElement(parent, name)
    if isinstance(value, list):
        for v in value:
            _fill(ET.SubElement(node, item or "item"), v)
    elif isinstance(value, BaseModel | dict):
        _fill(node, value)
    else:
        node.text = _text(value)


#: The element names of list items in XML (GeoReport v2 names each list's items).
_ITEMS = {"attributes": "attribute", "values": "value", "endpoints": "endpoint", "formats": "format"}


def _fill(node: ET.Element, value: Any) -> None:
    data = value.model_dump() if isinstance(value, BaseModel) else value
    if not isinstance(data, Mapping):
        node.text = _text(data)
        return
    for key, v in data.items():
        _element(node, key, v, _ITEMS.get(key))


def _json_ready(value: Any) -> Any:
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, Mapping):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    return _plain(value)


def render(fmt: str, root: str, item: str | None, value: Any, status_code: int = 200) -> Response:
    """``value`` (a model, a dict or a list of them) as XML under ``<root>`` (list items named
    ``item``) or as JSON."""
    if fmt == "json":
        body = json.dumps(_json_ready(value), ensure_ascii=False, separators=(",", ":"))
        return Response(body.encode("utf-8"), status_code=status_code, media_type=FORMATS["json"])
    top = ET.Element(root)
    if isinstance(value, list):
        for v in value:
            _fill(ET.SubElement(top, item or "item"), v)
    else:
        _fill(top, value)
    body = b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, encoding="unicode").encode("utf-8")
    return Response(body, status_code=status_code, headers={"Content-Type": FORMATS["xml"]})


def install(app: FastAPI) -> None:
    """Errors of the Open311 routes in the specification's shape (the unit of work rolls back first)."""

    async def _failure(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Open311Failure)  # noqa: S101 - registered for this class only
        if isinstance(exc.error, PermissionDenied):
            hook = getattr(request.app.state, "on_denied", None)
            if hook:
                await run_in_threadpool(hook, request, exc.error)
        errors = [{"code": exc.status, "description": exc.error.render()}]
        return render(exc.fmt, "errors", "error", errors, status_code=exc.status)

    app.add_exception_handler(Open311Failure, _failure)


T = TypeVar("T")


def _format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise Open311Failure(FormatUnknown(format=fmt[:20]), "xml")
    return fmt


def _answer(fmt: str, fn: Callable[[], T]) -> T:
    """``fn()``, its domain errors turned into Open311 errors of the request's format."""
    _format(fmt)
    try:
        return fn()
    except AppError as exc:
        raise Open311Failure(exc, fmt) from exc


# -- parsing ------------------------------------------------------------------------------------------
def _field(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    value = value.strip() if isinstance(value, str) else None
    return value or None


def _list(data: Mapping[str, Any], name: str) -> list[str]:
    """A comma-delimited argument, which GeoReport v2 also lets a client repeat."""
    values = data.getlist(name) if hasattr(data, "getlist") else [data.get(name) or ""]
    return [p.strip() for v in values for p in str(v).split(",") if p.strip()]


def _when(data: Mapping[str, Any], name: str, end_of_day: bool = False) -> datetime | None:
    raw = _field(data, name)
    if raw is None:
        return None
    try:
        if _DATE.match(raw):
            day = datetime.fromisoformat(raw).date()
            return datetime.combine(day, time.max if end_of_day else time.min, CITY_TZ).astimezone(UTC)
        value = datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        raise DateInvalid(field=name) from None
    if value.tzinfo is None:
        raise DateInvalid(field=name)
    return value.astimezone(UTC)


def _window(data: Mapping[str, Any]) -> tuple[datetime, datetime]:
    """[start_date, end_date]: by default the 90 days up to now (or up to the end, or from the
    start); refused when reversed or longer than 90 days."""
    start, end = _when(data, "start_date"), _when(data, "end_date", end_of_day=True)
    span = timedelta(days=SPAN_DAYS)
    if start is None and end is None:
        end = utcnow()
    if start is None:
        start = end - span  # type: ignore[operator]
    if end is None:
        end = min(start + span, max(start, utcnow()))
    if end < start or end - start > span:
        raise DateRangeInvalid(days=SPAN_DAYS)
    return start, end


def _number(data: Mapping[str, Any], name: str) -> float | None:
    raw = _field(data, name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise PointInvalid() from None
    if not math.isfinite(value):
        raise PointInvalid()
    return value


def submission(form: FormData | Mapping[str, Any]) -> Open311Submission:
    """The fields of a POST requests form (api_key apart); 400 for a missing service_code or
    location, or a malformed point."""
    code = _field(form, "service_code")
    if code is None:
        raise ServiceCodeRequired()
    lat, lon = _number(form, "lat"), _number(form, "long")
    if (lat is None) != (lon is None):
        raise PointInvalid()
    address, address_id = _field(form, "address_string"), _field(form, "address_id")
    if lat is None and address is None and address_id is None:
        raise LocationRequired()
    if address is not None and len(address) > ADDRESS_LIMIT:
        raise AddressTooLong(limit=ADDRESS_LIMIT)
    media = _field(form, "media_url")
    if media is not None and (len(media) > service.MEDIA_URL_LIMIT or not _MEDIA_URL.match(media)):
        raise MediaUrlInvalid(limit=service.MEDIA_URL_LIMIT)
    attributes: dict[str, list[str]] = {}
    for key in form:
        m = _ATTRIBUTE.match(key)
        if m:
            values = form.getlist(key) if hasattr(form, "getlist") else [form[key]]
            attributes.setdefault(m.group(1), []).extend(str(v) for v in values if str(v).strip())
    return Open311Submission(service_code=code, lat=lat, long=lon, address_string=address, address_id=address_id,
                             description=_field(form, "description"), media_url=media,
                             phone=_field(form, "phone"), attributes=attributes)


def _plan(db: Database, api_key: str, body: Open311Submission) -> tuple[Actor, service.IntakePlan]:
    """The reporter and the planned intake, in a short unit of work of its own (resolving the key
    may note the token's use: not read-only)."""
    with db.transaction() as session:
        actor = identity_service.actor_for_token(session, api_key)
        if actor is None:
            raise ApiKeyRequired()
        return actor, service.plan_open311(session, actor, body)


# -- routes -------------------------------------------------------------------------------------------
def _discovery(request: Request) -> dict[str, Any]:
    url = str(request.base_url).rstrip("/") + router.prefix
    return {"changeset": CHANGESET, "contact": "12345", "key_service": "yiwang token create USERNAME NAME",
            "endpoints": [{"specification": SPECIFICATION, "url": url, "changeset": CHANGESET,
                           "type": "production", "formats": ["application/xml", "application/json"]}]}


@router.get("/discovery.{fmt}", include_in_schema=True)
def discovery(fmt: str, request: Request) -> Response:
    """Open311 service discovery: this endpoint, its specification and formats."""
    return render(_format(fmt), "discovery", None, _discovery(request))


@router.get("/services.{fmt}", include_in_schema=True)
def services(fmt: str, session: ReadDbSession) -> Response:
    """GeoReport v2 service list: one service per active leaf category of events."""
    found: list[Open311Service] = _answer(fmt, lambda: service.open311_services(session))
    return render(fmt, "services", "service", found)


@router.get("/services/{service_code}.{fmt}", include_in_schema=True)
def service_definition(service_code: str, fmt: str, session: ReadDbSession) -> Response:
    """GeoReport v2 service definition: the attributes a request of the service may carry."""
    found: Open311Definition = _answer(fmt, lambda: service.open311_definition(session, service_code))
    return render(fmt, "service_definition", None, found)


@router.post("/requests.{fmt}", include_in_schema=True)
async def create_request(fmt: str, request: Request) -> Response:
    """GeoReport v2 POST service request: form-encoded, with the api_key of an account allowed to report."""
    _format(fmt)
    try:
        form = await request.form()
    except Exception:  # noqa: BLE001 - a body that is not a form is malformed input
        raise Open311Failure(Open311BadRequest(), fmt) from None
    try:
        api_key = _field(form, "api_key")
        if api_key is None:
            raise ApiKeyRequired()
        body = submission(form)
        # As every channel: the plan outside the writer's turn, the duplicate check and the
        # writes in the worker's group commit (cityops.api).
        db = request.app.state.db
        actor, plan = await run_in_threadpool(_plan, db, api_key, body)
        receipt = await run_write(db, lambda s: service.apply_open311(s, actor, plan), plain=True)
    except AppError as exc:
        raise Open311Failure(exc, fmt) from exc
    return render(fmt, "service_requests", "request", [receipt.model_dump(exclude={"token"})])


@router.get("/tokens/{token}.{fmt}", include_in_schema=True)
def token(token: str, fmt: str, session: ReadDbSession) -> Response:
    """GeoReport v2 service_request_id from a token (the token an Open311 report was given)."""
    found: Open311Receipt = _answer(fmt, lambda: service.open311_token(session, token))
    return render(fmt, "service_requests", "request", [found.model_dump(include={"service_request_id", "token"})])


@router.get("/requests.{fmt}", include_in_schema=True)
def requests(fmt: str, request: Request, session: ReadDbSession) -> Response:
    """GeoReport v2 service requests: by ids, or by date range (90 days at most), service and status."""
    q = request.query_params

    def find() -> list[Open311Request]:
        numbers = _list(q, "service_request_id")
        statuses = _list(q, "status")
        if any(s not in ("open", "closed") for s in statuses):
            raise StatusInvalid()
        start, end = _window(q) if not numbers else (utcnow(), utcnow())
        return service.open311_requests(session, numbers=numbers, service_codes=_list(q, "service_code"),
                                        start=start, end=end, statuses=statuses)

    return render(fmt, "service_requests", "request", _answer(fmt, find))


@router.get("/requests/{service_request_id}.{fmt}", include_in_schema=True)
def request_one(service_request_id: str, fmt: str, session: ReadDbSession) -> Response:
    """GeoReport v2 one service request (404 when there is none of that id)."""
    found: Open311Request = _answer(fmt, lambda: service.open311_request(session, service_request_id))
    return render(fmt, "service_requests", "request", [found])


@router.get("/servicerequestupdates.{fmt}", include_in_schema=True)
def updates(fmt: str, request: Request, session: ReadDbSession) -> Response:
    """FixMyStreet extension: public updates of service requests between start_date and end_date."""
    q = request.query_params

    def find() -> list[Open311Update]:
        start, end = _window(q)
        return service.open311_updates(session, start=start, end=end)

    return render(fmt, "service_request_updates", "request_update", _answer(fmt, find))

