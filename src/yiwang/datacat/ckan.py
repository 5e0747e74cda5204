"""The CKAN Action API (2.9–2.11) of the open-data portal at ``/api/3/action/{action}`` and
``/api/action/{action}``, so that ``ckanapi`` and harvesters work unchanged.

GET with the parameters in the query string (list and dict values as JSON, e.g.
``facet.field=["organization"]``) for read actions; POST with a JSON body (or a multipart form, as
``ckanapi`` sends uploads) for all. Answers are CKAN's envelope: ``{"help": …, "success": true,
"result": …}``, errors ``{"help": …, "success": false, "error": {"__type": …, "message": …}}`` with
CKAN's types and statuses (Not Found Error 404, Authorization Error 403, Validation Error 409 with
field → messages, Search Query Error 400), and an unknown action CKAN's 400 ``"Bad request - Action
name not known: …"``.

Credentials as ``ckanapi`` sends them: the raw token in ``Authorization`` (or ``X-CKAN-API-Key``;
``Bearer`` is accepted too). A platform API token (``yw_…``) makes the caller that user (writes need
``datacat.manage``); an access token of an approved 有条件开放 request (``ywa_…``) opens that
resource's data to ``datastore_search``.

Packages are data resources (GB/T 21063 metadata in ``extras``), organizations are departments
(name: the department code in lower case), groups are topics, resources are distributions (``url``:
the portal's download). Read answers are cached per process until the catalogue changes
(:mod:`yiwang.datacat.search`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from yiwang.areas import service as areas_service
from yiwang.core.actor import ANONYMOUS, Actor
from yiwang.core.errors import (
    AppError,
    AuthenticationRequired,
    NotFoundError,
    PermissionDenied,
    ValidationFailed,
)
from yiwang.core.groupcommit import committer_for, run_write
from yiwang.core.i18n import translate
from yiwang.datacat import datastore, search, service
from yiwang.datacat.models import DataResource, Distribution
from yiwang.datacat.schemas import (
    OPENING_NAMES,
    SHARING_NAMES,
    TOPICS,
    UPDATE_CYCLE_NAMES,
    ResourceIn,
    facet_label,
)
from yiwang.identity import service as identity_service

log = logging.getLogger("yiwang.datacat.ckan")

router = APIRouter(tags=["ckan"])

CKAN_VERSION = "2.10.4"
PACKAGE_LIST_MAX = 100_000
"""``package_list`` without a limit answers at most this many names (``ckanapi dump --all`` reads it)."""
SEARCH_ROWS_MAX = 1000
MAX_BODY = 60 * 1024 * 1024
LICENSES = [
    ("cc-by-4.0", "Creative Commons Attribution 4.0", "https://creativecommons.org/licenses/by/4.0/", "approved"),
    ("cc-by-sa-4.0", "Creative Commons Attribution Share-Alike 4.0", "https://creativecommons.org/licenses/by-sa/4.0/",
     "approved"),
    ("cc-zero", "Creative Commons CCZero", "https://creativecommons.org/publicdomain/zero/1.0/", "approved"),
    ("odc-by", "Open Data Commons Attribution License", "https://opendatacommons.org/licenses/by/1-0/", "approved"),
    ("odc-odbl", "Open Data Commons Open Database License (ODbL)", "https://opendatacommons.org/licenses/odbl/1-0/",
     "approved"),
    ("other-open", "Other (Open)", "", "approved"),
    ("notspecified", "License not specified", "", "not reviewed"),
]
LICENSE_TITLES = {lid: title for lid, title, _url, _s in LICENSES}
LICENSE_URLS = {lid: url for lid, _t, url, _s in LICENSES}
EXTRA_KEYS = ("resource_code", "format", "update_cycle", "sharing", "sharing_conditions", "opening",
              "opening_conditions", "fields")
_TABLE_ID = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b")


# -- CKAN's errors ------------------------------------------------------------------------------------
class ActionError(Exception):
    """An answer in CKAN's error envelope."""

    status = 400
    type_ = "Error"

    def __init__(self, message: str = "", error: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.error = error

    def body(self) -> dict[str, Any]:
        if self.error is not None:
            return {**self.error, "__type": self.type_}
        return {"__type": self.type_, "message": self.message}


class NotFound(ActionError):
    status, type_ = 404, "Not Found Error"

    def __init__(self, detail: str = "") -> None:
        super().__init__("Not found" + (f": {detail}" if detail else ""))


class NotAuthorized(ActionError):
    status, type_ = 403, "Authorization Error"

    def __init__(self, detail: str = "", denied: PermissionDenied | None = None) -> None:
        super().__init__("Access denied" + (f": {detail}" if detail else ""))
        self.denied = denied


class Invalid(ActionError):
    status, type_ = 409, "Validation Error"

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__("", errors)


class SearchQueryError(ActionError):
    status, type_ = 400, "Search Query Error"

    def __init__(self, detail: str) -> None:
        super().__init__(f"Search Query is invalid: {detail!r}")


class BadRequest(Exception):
    """CKAN's plain 400: the body is a JSON string, not an envelope."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _from_app_error(exc: AppError) -> ActionError:
    message = exc.render()
    if isinstance(exc, (PermissionDenied, AuthenticationRequired)):
        return NotAuthorized(message, exc if isinstance(exc, PermissionDenied) else None)
    if isinstance(exc, NotFoundError):
        return NotFound(message)
    if isinstance(exc, ValidationFailed) and exc.errors:
        out: dict[str, list[str]] = {}
        for e in exc.errors:
            key = _CKAN_KEYS.get(str(e.get("field", "")).split(".")[0], str(e.get("field", "")) or "message")
            out.setdefault(key, []).append(str(e.get("message", "")))
        return Invalid(out)
    what = exc.params.get("what") if isinstance(exc.params.get("what"), str) else None
    key = _CODE_KEYS.get(exc.code) or _CKAN_KEYS.get(what or "", what or "message")
    return Invalid({key: [message]})


_CODE_KEYS = {"department_unknown": "owner_org", "topic_unknown": "groups", "data_fields_invalid": "fields"}


def _from_datastore(exc: datastore.DatastoreError) -> ActionError:
    if exc.kind == "not_found":
        return NotFound(exc.render())
    if exc.kind == "not_authorized":
        return NotAuthorized(exc.render())
    return Invalid(exc.error_dict())


_CKAN_KEYS = {"department_id": "owner_org", "summary": "notes", "code": "resource_code", "topic": "groups"}
"""Our field names → CKAN's, for validation errors."""


# -- the caller -----------------------------------------------------------------------------------------
def _credential(request: Request) -> str | None:
    for header in ("authorization", "x-ckan-api-key"):
        value = request.headers.get(header, "").strip()
        if value[:7].lower() == "bearer ":
            value = value[7:].strip()
        if value:
            return value
    return None


def _actor(session: Session, request: Request, credential: str | None) -> Actor:
    """The user of a platform API token, else anonymous (an access token is not a user)."""
    if not credential or not credential.startswith(identity_service.TOKEN_PREFIX):
        return ANONYMOUS
    db = request.app.state.db
    if session.info.get("read_only"):
        actor = identity_service.actor_for_token(session, credential, defer=committer_for(db).submit)
    else:
        actor = identity_service.actor_for_token(session, credential)
    if actor is None:
        raise NotAuthorized("the API token is not valid")
    request.state.actor = actor
    return actor


@dataclass
class Call:
    """One action call: its parameters, the caller's credential, the site's base URL."""

    request: Request
    data: dict[str, Any]
    credential: str | None
    base: str

    def actor(self, session: Session) -> Actor:
        return _actor(session, self.request, self.credential)


# -- shapes -----------------------------------------------------------------------------------------------
def _iso(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            from datetime import UTC

            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(timespec="microseconds")
    return value.isoformat()


def _org(dept: Any, count: int | None = None) -> dict[str, Any]:
    out = {"id": dept.id, "name": dept.code.lower(), "title": dept.name, "display_name": dept.name,
           "description": "", "type": "organization", "is_organization": True, "state": "active",
           "image_url": "", "image_display_url": "", "approval_status": "approved", "created": None}
    if count is not None:
        out["package_count"] = count
    return out


def _group(topic: str, count: int | None = None) -> dict[str, Any]:
    title = TOPICS.get(topic, topic)
    out = {"id": topic, "name": topic, "title": title, "display_name": title, "description": "",
           "type": "group", "is_organization": False, "state": "active", "image_url": "",
           "image_display_url": "", "approval_status": "approved", "created": None}
    if count is not None:
        out["package_count"] = count
    return out


def download_url(base: str, distribution_id: str, fmt: str = "csv") -> str:
    """The portal's download of a distribution (served by the portal's pages): a table as CSV, a
    document in its own format."""
    return f"{base}/opendata/download/{distribution_id}.{fmt.lower()}"


def _resource(dist: Distribution, base: str) -> dict[str, Any]:
    return {
        "id": dist.id, "package_id": dist.resource_id, "name": dist.name, "description": dist.description,
        "format": dist.format, "mimetype": "text/csv" if dist.kind == "table" else "application/pdf",
        "url": download_url(base, dist.id, dist.format if dist.kind == "file" else "csv"), "url_type": "upload",
        "position": dist.position,
        "datastore_active": bool(dist.datastore_active), "size": dist.size, "row_count": dist.row_count,
        "created": _iso(dist.created_at), "last_modified": _iso(dist.updated_at), "metadata_modified": _iso(dist.updated_at),
        "state": "active", "resource_type": dist.kind, "hash": "", "cache_url": None,
    }


def _package(loaded: search.Loaded, departments: dict[str, Any], base: str) -> dict[str, Any]:
    row = loaded.resource
    tags = json.loads(row.tags or "[]")
    dept = departments.get(row.department_id)
    fields = [{"name": f.name, "title": f.title, "type": f.type, "grade": f.grade, "level": f.level,
               "quasi_identifier": f.quasi_identifier, "description": f.description} for f in loaded.fields]
    extras = {
        "resource_code": row.code, "format": row.format, "update_cycle": row.update_cycle,
        "update_cycle_name": UPDATE_CYCLE_NAMES.get(row.update_cycle, row.update_cycle),
        "sharing": row.sharing, "sharing_name": SHARING_NAMES.get(row.sharing, row.sharing),
        "sharing_conditions": row.sharing_conditions, "opening": row.opening,
        "opening_name": OPENING_NAMES.get(row.opening, row.opening), "opening_conditions": row.opening_conditions,
        "published_on": _iso(row.published_on) or "", "data_updated_at": _iso(row.data_updated_at) or "",
        "provider": dept.name if dept else "", "fields": json.dumps(fields, ensure_ascii=False),
    }
    resources = [_resource(d, base) for d in loaded.distributions if d.current_version_id or d.datastore_active]
    return {
        "id": row.id, "name": row.name, "title": row.title, "notes": row.summary, "type": "dataset",
        "state": "active" if row.state == "open" else "draft", "private": row.state != "open",
        "owner_org": row.department_id, "organization": _org(dept) if dept else None,
        "groups": [_group(row.topic)],
        "tags": [{"id": t, "name": t, "display_name": t, "state": "active", "vocabulary_id": None} for t in tags],
        "num_tags": len(tags), "resources": resources, "num_resources": len(resources),
        "extras": [{"key": k, "value": v} for k, v in extras.items()],
        "license_id": row.license_id, "license_title": LICENSE_TITLES.get(row.license_id, row.license_id),
        "license_url": LICENSE_URLS.get(row.license_id, ""),
        "metadata_created": _iso(row.created_at), "metadata_modified": _iso(row.updated_at),
        "author": dept.name if dept else "", "author_email": None, "maintainer": dept.name if dept else "",
        "maintainer_email": None, "url": "", "version": str(row.metadata_version), "isopen": True,
        "creator_user_id": row.created_by, "relationships_as_object": [], "relationships_as_subject": [],
    }


_DEPARTMENTS = search.AnswerCache(size=4)


def _departments(session: Session) -> dict[str, Any]:
    """Every department by id, cached until a department or the catalogue changes."""
    stamp = search.stamp(session.info.get("settings"))
    found = _DEPARTMENTS.get("all", stamp)
    if found is None:
        found = {d.id: d for d in areas_service.list_departments(session)}
        _DEPARTMENTS.put("all", stamp, found)
    return found


def _department(session: Session, ref: str) -> Any:
    """A department by id, code or CKAN name (the code in lower case); NotFound if none."""
    departments = _departments(session)
    if ref in departments:
        return departments[ref]
    low = ref.lower()
    for d in departments.values():
        if d.code.lower() == low:
            return d
    raise NotFound()


def _packages(session: Session, ids: list[str], base: str) -> list[dict[str, Any]]:
    departments = _departments(session)
    return [_package(x, departments, base) for x in search.load(session, ids)]


def _visible(session: Session, call: Call, row: DataResource | None) -> DataResource:
    """An open resource for anyone; another only for staff who may read its catalogue entry."""
    if row is None:
        raise NotFound()
    if row.state == "open":
        return row
    actor = call.actor(session) if call.credential else ANONYMOUS
    if not actor.is_authenticated:
        raise NotFound()
    try:
        service.require_read(actor, session, row)
    except AppError:
        raise NotFound() from None
    return row


# -- parameters ---------------------------------------------------------------------------------------
def _int(data: dict[str, Any], key: str, default: int, *, low: int = 0, high: int | None = None) -> int:
    value = data.get(key, default)
    if value in (None, ""):
        return default
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise Invalid({key: ["Invalid integer"]}) from None
    if n < low:
        raise Invalid({key: ["Must be a natural number" if low == 0 else f"Must be at least {low}"]})
    return min(n, high) if high is not None else n


def _json_value(value: Any, key: str) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("[", "{"):
            try:
                return json.loads(text)
            except ValueError:
                raise Invalid({key: ["Invalid JSON"]}) from None
    return value


def _list(data: dict[str, Any], key: str) -> list[str]:
    value = _json_value(data.get(key), key)
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise Invalid({key: ["Must be a list of strings"]})


def _required(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if value in (None, ""):
        raise Invalid({key: ["Missing value"]})
    if not isinstance(value, str):
        raise Invalid({key: ["Must be a string"]})
    return value


_FQ_TERM = re.compile(r'\s*(?:\+)?([a-z_]+):(?:"((?:[^"\\]|\\.)*)"|(\S+))\s*')


def parse_fq(fq: str) -> dict[str, list[str]]:
    """``organization:x AND tags:"空气 质量" res_format:CSV`` → {field: [values]} (terms AND-ed)."""
    out: dict[str, list[str]] = {}
    rest = fq.strip()
    while rest:
        if rest.startswith(("AND ", "&& ")):
            rest = rest[4 if rest.startswith("AND ") else 3:].lstrip()
            continue
        m = _FQ_TERM.match(rest)
        if m is None:
            raise SearchQueryError(f"cannot parse fq {fq!r}")
        name, quoted, plain = m.group(1), m.group(2), m.group(3)
        value = quoted.replace('\\"', '"') if quoted is not None else plain
        if name in ("owner_org", "organization_id"):
            name = "organization"
        elif name == "groups_name" or name == "group":
            name = "groups"
        elif name == "tag" or name == "tags_name":
            name = "tags"
        out.setdefault(name, []).append(value)
        rest = rest[m.end():]
    return out


# -- read actions --------------------------------------------------------------------------------------
def status_show(session: Session, call: Call) -> dict[str, Any]:
    settings = call.request.app.state.settings
    return {"site_title": getattr(settings, "area_name", "") or "yiwang", "site_description": "政务数据开放",
            "site_url": call.base, "ckan_version": CKAN_VERSION, "error_emails_to": None,
            "locale_default": "zh_Hans_CN", "extensions": ["datastore", "dcat"]}


def package_list(session: Session, call: Call) -> list[str]:
    limit = _int(call.data, "limit", PACKAGE_LIST_MAX, high=PACKAGE_LIST_MAX)
    offset = _int(call.data, "offset", 0)
    return search.names(session, limit=limit, offset=offset)


def _search_params(session: Session, data: dict[str, Any]) -> dict[str, Any]:
    q = data.get("q") or ""
    if not isinstance(q, str):
        raise Invalid({"q": ["Must be a string"]})
    q = q.strip()
    if q in ("*:*", "*"):
        q = ""
    fq: dict[str, list[str]] = {}
    # "field:value" inside q, as CKAN's portal sends them, are filters.
    if ":" in q:
        plain, filters = [], []
        for part in q.split():
            (filters if re.match(r"^[a-z_]+:", part) else plain).append(part)
        q = " ".join(plain)
        fq = parse_fq(" ".join(filters))
    raw_fq = data.get("fq") or ""
    if not isinstance(raw_fq, str):
        raise Invalid({"fq": ["Must be a string"]})
    for key, values in parse_fq(raw_fq).items():
        fq.setdefault(key, []).extend(values)
    if "organization" in fq:
        fq["organization"] = [_department_id_or_none(session, v) for v in fq["organization"]]
    fq.pop("dataset_type", None)
    fq.pop("type", None)
    fq.pop("state", None)
    fq.pop("capacity", None)
    facet_fields = _list(data, "facet.field")
    facet = str(data.get("facet", "true")).lower() != "false"
    return {
        "q": q, "fq": fq, "sort": str(data.get("sort") or "score desc, metadata_modified desc"),
        "rows": _int(data, "rows", 10, high=SEARCH_ROWS_MAX), "start": _int(data, "start", 0),
        "facet_fields": facet_fields if facet else [],
        "facet_limit": _int(data, "facet.limit", 50, low=-1) if data.get("facet.limit") not in (None, "") else 50,
    }


def _department_id_or_none(session: Session, ref: str) -> str:
    try:
        return _department(session, ref).id
    except NotFound:
        return "-" + ref[:30]  # matches nothing


def package_search(session: Session, call: Call) -> dict[str, Any]:
    p = _search_params(session, call.data)
    limit = p["facet_limit"] if p["facet_limit"] >= 0 else 1000
    try:
        result = search.query(session, q=p["q"], fq=p["fq"], sort=p["sort"], rows=p["rows"], start=p["start"],
                              facet_fields=p["facet_fields"], facet_limit=min(limit, 1000))
    except search.QueryError as exc:
        raise SearchQueryError(str(exc)) from None
    facets, search_facets = {}, {}
    for name, pairs in result.facets.items():
        shown = [(_name_of(session, name, v), v, n) for v, n in pairs]
        facets[name] = {key: n for key, _v, n in shown}
        search_facets[name] = {"title": name, "items": [
            {"name": key, "display_name": facet_label(name, v, {k: d.name for k, d in _departments(session).items()}), "count": n} for key, v, n in shown]}
    return {"count": result.count, "sort": p["sort"], "facets": facets, "search_facets": search_facets,
            "results": _packages(session, result.ids, call.base)}


def _name_of(session: Session, facet: str, value: str) -> str:
    """A facet value as CKAN names it (an organization by its name, not its id)."""
    if facet == "organization":
        dept = _departments(session).get(value)
        return dept.code.lower() if dept else value
    return value


def package_show(session: Session, call: Call) -> dict[str, Any]:
    ref = _required(call.data, "id") if "id" in call.data or "name_or_id" not in call.data else \
        _required(call.data, "name_or_id")
    row = _visible(session, call, search.resource(session, ref))
    return _packages(session, [row.id], call.base)[0]


def resource_show(session: Session, call: Call) -> dict[str, Any]:
    found = search.distribution(session, _required(call.data, "id"))
    if found is None:
        raise NotFound()
    dist, row = found
    _visible(session, call, row)
    out = _resource(dist, call.base)
    if dist.datastore_active:
        with contextlib.suppress(datastore.DatastoreError):
            out["datastore_fields"] = datastore.info(call.request.app.state.settings, dist.id)
    return out


def organization_list(session: Session, call: Call) -> list[Any]:
    counts = search.counts_by_department(session)
    departments = sorted(_departments(session).values(), key=lambda d: d.code.lower())
    limit = _int(call.data, "limit", 1000, high=1000)
    offset = _int(call.data, "offset", 0)
    page = departments[offset:offset + limit]
    if str(call.data.get("all_fields", "false")).lower() in ("true", "1"):
        return [_org(d, counts.get(d.id, 0)) for d in page]
    return [d.code.lower() for d in page]


def organization_show(session: Session, call: Call) -> dict[str, Any]:
    dept = _department(session, _required(call.data, "id"))
    found = search.query(session, fq={"organization": [dept.id]}, sort="metadata_modified desc", rows=10)
    out = _org(dept, found.count)
    if str(call.data.get("include_datasets", "false")).lower() in ("true", "1"):
        out["packages"] = _packages(session, found.ids, call.base)
    return out


def group_list(session: Session, call: Call) -> list[Any]:
    counts = dict(search.query(session, facet_fields=["groups"], rows=0, facet_limit=1000).facets["groups"])
    if str(call.data.get("all_fields", "false")).lower() in ("true", "1"):
        return [_group(t, counts.get(t, 0)) for t in TOPICS]
    return list(TOPICS)


def group_show(session: Session, call: Call) -> dict[str, Any]:
    topic = _required(call.data, "id")
    if topic not in TOPICS:
        matches = [code for code, title in TOPICS.items() if title == topic]
        if not matches:
            raise NotFound()
        topic = matches[0]
    found = search.query(session, fq={"groups": [topic]}, sort="metadata_modified desc", rows=10)
    out = _group(topic, found.count)
    if str(call.data.get("include_datasets", "false")).lower() in ("true", "1"):
        out["packages"] = _packages(session, found.ids, call.base)
    return out


def tag_list(session: Session, call: Call) -> list[str]:
    tags = [v for v, _n in search.query(session, facet_fields=["tags"], rows=0, facet_limit=1000).facets["tags"]]
    text = call.data.get("query") or call.data.get("q") or ""
    if text:
        tags = [t for t in tags if str(text).lower() in t.lower()]
    return sorted(tags)


def license_list(session: Session, call: Call) -> list[dict[str, Any]]:
    return [{"id": lid, "title": title, "url": url, "status": status, "od_conformance": status,
             "osd_conformance": "not reviewed", "domain_content": True, "domain_data": True,
             "domain_software": False, "family": "", "maintainer": "", "is_generic": lid in ("other-open",
                                                                                             "notspecified")}
            for lid, title, url, status in LICENSES]


def _readable_table(session: Session, call: Call, table_id: Any) -> Distribution:
    if not isinstance(table_id, str) or not table_id:
        raise Invalid({"resource_id": ["Missing value"]})
    found = search.distribution(session, table_id)
    if found is None:
        raise NotFound(f"Resource \"{table_id[:40]}\" was not found.")
    dist, row = found
    if row.state != "open" or not dist.datastore_active:
        raise NotFound(f"Resource \"{table_id[:40]}\" was not found.")
    actor = ANONYMOUS
    token = call.credential
    if token and token.startswith(identity_service.TOKEN_PREFIX):
        actor, token = call.actor(session), None
    if not service.can_read_data(session, actor, row, token):
        raise NotAuthorized(translate("Conditionally open data needs an approved access token."))
    return dist


def datastore_search(session: Session, call: Call) -> dict[str, Any]:
    data = call.data
    dist = _readable_table(session, call, data.get("resource_id") or data.get("id"))
    filters = _json_value(data.get("filters"), "filters")
    if filters is not None and not isinstance(filters, dict):
        raise Invalid({"filters": ["Must be a JSON object"]})
    q = _json_value(data.get("q"), "q")
    fields = _json_value(data.get("fields"), "fields")
    include_total = str(data.get("include_total", "true")).lower() not in ("false", "0")
    try:
        out = datastore.search(call.request.app.state.settings, dist.id, filters=filters, q=q or None,
                               fields=fields or None, sort=data.get("sort") or None,
                               limit=data.get("limit", datastore.DEFAULT_LIMIT), offset=data.get("offset", 0),
                               include_total=include_total)
    except datastore.DatastoreError as exc:
        raise _from_datastore(exc) from None
    return out


def datastore_search_sql(session: Session, call: Call) -> dict[str, Any]:
    sql = _required(call.data, "sql")
    named = set(_TABLE_ID.findall(sql))
    if not named:
        raise Invalid({"query": ["The query names no table of the datastore."]})
    for table_id in named:
        _readable_table(session, call, table_id)
    try:
        return datastore.search_sql(call.request.app.state.settings, sql, allowed_tables=named)
    except datastore.DatastoreError as exc:
        raise _from_datastore(exc) from None


# -- write actions (run in the worker's group commit; the service checks datacat.manage) ------------------
def _require_officer(actor: Actor) -> None:
    if not actor.is_authenticated:
        raise NotAuthorized(translate("This needs the API token of a data officer."))
    if not actor.scopes(service.MANAGE):
        raise NotAuthorized(denied=PermissionDenied(permission=service.MANAGE))


def _extras(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    extras = _json_value(data.get("extras"), "extras")
    if isinstance(extras, list):
        for e in extras:
            if isinstance(e, dict) and "key" in e:
                out[str(e["key"])] = e.get("value")
    elif isinstance(extras, dict):
        out.update(extras)
    for key in EXTRA_KEYS:
        if key in data:
            out[key] = data[key]
    return out


def resource_input(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """A CKAN package dict → the keys of :class:`ResourceIn` it gives (all of them unless ``partial``)."""
    out: dict[str, Any] = {}
    for ours, theirs in (("name", "name"), ("title", "title"), ("summary", "notes"), ("license_id", "license_id")):
        if theirs in data and data[theirs] is not None:
            out[ours] = data[theirs]
    if data.get("owner_org"):
        out["department_id"] = data["owner_org"]
    groups = _json_value(data.get("groups"), "groups")
    if groups:
        first = groups[0] if isinstance(groups, list) else groups
        out["topic"] = first.get("name") or first.get("id") if isinstance(first, dict) else str(first)
    elif data.get("topic"):
        out["topic"] = data["topic"]
    tags = _json_value(data.get("tags"), "tags")
    if tags is not None:
        if isinstance(tags, str):
            tags = [t.strip() for t in tags.split(",") if t.strip()]
        out["tags"] = [t.get("name", "") if isinstance(t, dict) else str(t) for t in tags]
    extras = _extras(data)
    if "resource_code" in extras:
        out["code"] = extras["resource_code"]
    for key in ("format", "update_cycle", "sharing", "sharing_conditions", "opening", "opening_conditions"):
        if key in extras and extras[key] is not None:
            out[key] = extras[key]
    if "fields" in extras:
        fields = _json_value(extras["fields"], "fields")
        if not isinstance(fields, list):
            raise Invalid({"fields": ["Must be a JSON list of fields"]})
        out["fields"] = fields
    if not partial:
        missing = {k: ["Missing value"] for k, theirs in (("name", "name"), ("title", "title"),
                                                          ("department_id", "owner_org"), ("code", "resource_code"),
                                                          ("topic", "groups"))
                   if k not in out or out[k] in (None, "")}
        if missing:
            raise Invalid({_CKAN_KEYS.get(k, k): v for k, v in missing.items()})
    return out


def _invalid_input(exc: PydanticValidationError) -> Invalid:
    out: dict[str, list[str]] = {}
    for e in exc.errors():
        key = str(e["loc"][0]) if e["loc"] else "message"
        out.setdefault(_CKAN_KEYS.get(key, key), []).append(e["msg"])
    return Invalid(out)


def _show_after(session: Session, call: Call, ref: str) -> dict[str, Any]:
    row = search.resource(session, ref)
    assert row is not None
    return _packages(session, [row.id], call.base)[0]


def _owner(session: Session, changes: dict[str, Any]) -> dict[str, Any]:
    """``owner_org`` given as a CKAN organization name (the department code in lower case) → its id."""
    if changes.get("department_id"):
        try:
            changes["department_id"] = _department(session, str(changes["department_id"])).id
        except NotFound:
            raise Invalid({"owner_org": [f"Organization does not exist: {changes['department_id']}"]}) from None
    return changes


def package_create(session: Session, call: Call) -> dict[str, Any]:
    actor = call.actor(session)
    _require_officer(actor)
    try:
        data = ResourceIn.model_validate(_owner(session, resource_input(call.data, partial=False)))
    except PydanticValidationError as exc:
        raise _invalid_input(exc) from None
    created = service.create_resource(session, actor, data)
    return _show_after(session, call, created.id)


def _update(session: Session, call: Call, *, replace: bool) -> dict[str, Any]:
    actor = call.actor(session)
    _require_officer(actor)
    ref = _required(call.data, "id") if "id" in call.data else _required(call.data, "name")
    row = search.resource(session, ref)
    if row is None:
        raise NotFound()
    changes = _owner(session, resource_input({k: v for k, v in call.data.items() if k != "id"}, partial=True))
    if replace:
        changes.setdefault("name", row.name)
    updated = service.update_resource(session, actor, row.id, changes, replace=replace)
    return _show_after(session, call, updated.id)


def package_update(session: Session, call: Call) -> dict[str, Any]:
    return _update(session, call, replace=True)


def package_patch(session: Session, call: Call) -> dict[str, Any]:
    return _update(session, call, replace=False)


@dataclass
class _Refused(Exception):
    """The gate refused an upload: recorded (committed), then answered as a Validation Error."""

    errors: dict[str, Any]


def resource_create(session: Session, call: Call) -> dict[str, Any] | _Refused:
    actor = call.actor(session)
    _require_officer(actor)
    ref = _required(call.data, "package_id")
    upload = call.data.get("upload")
    if not isinstance(upload, tuple):
        raise Invalid({"upload": [translate("Upload the data as a CSV, XLSX or JSON file.")]})
    filename, content = upload
    name = call.data.get("name") or filename or ""
    outcome = service.add_distribution(session, actor, ref, name=str(name), data=content, filename=filename,
                                       description=str(call.data.get("description") or ""))
    if not outcome.passed:
        return _Refused({"upload": [outcome.message or translate("The data did not pass the check before opening.")], "gate": [outcome.report],
                         "row_errors": outcome.errors[:20]})
    assert outcome.distribution is not None
    dist = session.get(Distribution, outcome.distribution.id)
    assert dist is not None
    return _resource(dist, call.base)


Handler = Callable[[Session, Call], Any]


@dataclass(frozen=True)
class Action:
    fn: Handler
    read: bool
    """Side-effect free: allowed by GET, run in a read-only unit of work, its answer cached."""
    cached: bool = False


ACTIONS: dict[str, Action] = {
    "status_show": Action(status_show, True),
    "package_list": Action(package_list, True, cached=True),
    "current_package_list_with_resources": Action(lambda s, c: package_search(
        s, Call(c.request, {"rows": c.data.get("limit", 10), "start": c.data.get("offset", 0),
                            "sort": "metadata_modified desc"}, c.credential, c.base))["results"], True, cached=True),
    "package_search": Action(package_search, True, cached=True),
    "package_show": Action(package_show, True),
    "resource_show": Action(resource_show, True),
    "organization_list": Action(organization_list, True, cached=True),
    "organization_show": Action(organization_show, True, cached=True),
    "group_list": Action(group_list, True, cached=True),
    "group_show": Action(group_show, True, cached=True),
    "tag_list": Action(tag_list, True, cached=True),
    "license_list": Action(license_list, True),
    "datastore_search": Action(datastore_search, True),
    "datastore_search_sql": Action(datastore_search_sql, True),
    "package_create": Action(package_create, False),
    "package_update": Action(package_update, False),
    "package_patch": Action(package_patch, False),
    "resource_create": Action(resource_create, False),
}

ANSWERS = search.AnswerCache(size=2048)
"""Answers of cached read actions by (action, parameters, base URL), for one catalogue generation."""


# -- the route ---------------------------------------------------------------------------------------------
def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, default=str), status_code=status,
                    media_type="application/json;charset=utf-8")


def _mixed(items: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in items:
        if key in out:
            out[key] = [*out[key], value] if isinstance(out[key], list) else [out[key], value]
        else:
            out[key] = value
    return out


async def _request_data(request: Request, action: Action) -> dict[str, Any]:
    if request.method == "GET":
        if not action.read:
            raise BadRequest("JSON Error: Invalid request. Please use POST method for your request")
        return _mixed(list(request.query_params.multi_items()))
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form(max_part_size=MAX_BODY)
        data: dict[str, Any] = {}
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                data[key] = (value.filename or "upload", await value.read(MAX_BODY + 1))
            else:
                data[key] = value
        if len(data) == 1 and next(iter(data.values())) in ("", "1") and next(iter(data))[:1] == "{":
            data = json.loads(next(iter(data)))  # CKAN's "JSON as the only form key"
        return data
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"JSON Error: Error decoding JSON data. Error: {exc!r}") from None
    if not isinstance(data, dict):
        raise BadRequest(f"Bad request data: Request data JSON decoded to {data!r} but it needs to be a dictionary.")
    return data


def _cache_key(name: str, call: Call) -> Any:
    return name, call.base, json.dumps(call.data, sort_keys=True, default=str)


def _run_read(db: Any, action: Action, call: Call) -> Any:
    with db.transaction(write=False) as session:
        return action.fn(session, call)


async def _dispatch(request: Request, name: str, version: int) -> Response:
    base = str(request.base_url).rstrip("/")
    envelope: dict[str, Any] = {"help": f"{base}/api/{version}/action/help_show?name={name}"}
    action = ACTIONS.get(name)
    if action is None:
        return _json(400, f"Bad request - Action name not known: {name}")
    try:
        data = await _request_data(request, action)
    except BadRequest as exc:
        return _json(400, f"Bad request - {exc.message}")
    data.pop("callback", None)
    call = Call(request, data, _credential(request), base)
    db = request.app.state.db
    try:
        if action.read:
            key = _cache_key(name, call) if action.cached else None
            stamp = search.stamp(request.app.state.settings)
            result = ANSWERS.get(key, stamp) if key is not None else None
            if result is None:
                result = await run_in_threadpool(_run_read, db, action, call)
                if key is not None:
                    ANSWERS.put(key, stamp, result)
        else:
            result = await run_write(db, lambda s: action.fn(s, call))
            if isinstance(result, _Refused):
                raise Invalid(result.errors)
    except AppError as exc:
        error = _from_app_error(exc)
        await _denied(request, error)
        return _json(error.status, {**envelope, "success": False, "error": error.body()})
    except ActionError as error:
        await _denied(request, error)
        return _json(error.status, {**envelope, "success": False, "error": error.body()})
    return _json(200, {**envelope, "success": True, "result": result})


async def _denied(request: Request, error: ActionError) -> None:
    """A refused permission goes to the audit trail, as the platform's other routes do."""
    denied = getattr(error, "denied", None)
    hook = getattr(request.app.state, "on_denied", None)
    if denied is not None and hook is not None:
        await run_in_threadpool(hook, request, denied)


@router.get("/api/3/action/{action}")
async def action_get_v3(action: str, request: Request) -> Response:
    """CKAN Action API (read actions by GET)."""
    return await _dispatch(request, action, 3)


@router.post("/api/3/action/{action}")
async def action_post_v3(action: str, request: Request) -> Response:
    """CKAN Action API (every action by POST; writes need a data officer's API token)."""
    return await _dispatch(request, action, 3)


@router.get("/api/action/{action}")
async def action_get(action: str, request: Request) -> Response:
    """CKAN Action API without the version in the path (read actions by GET)."""
    return await _dispatch(request, action, 3)


@router.post("/api/action/{action}")
async def action_post(action: str, request: Request) -> Response:
    """CKAN Action API without the version in the path (every action by POST)."""
    return await _dispatch(request, action, 3)
