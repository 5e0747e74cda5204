"""DCAT-AP export of the open catalogue (rdflib): ``/catalog.jsonld``, ``/catalog.ttl`` and one
dataset at ``/dataset/{id or name}.jsonld`` / ``.ttl``, for harvesters (e.g. ckanext-dcat, data.europa.eu).

A ``dcat:Catalog`` of ``dcat:Dataset``s — only open resources — each with its resource code
(``dct:identifier``), title, description, publisher (a ``foaf:Agent``: the department), keywords,
theme (the EU data-theme of its topic), issued and modified, frequency (EU frequency URIs), access
rights (EU access-right URIs) and language (zh), and a ``dcat:Distribution`` per open table or file
with its access and download URLs, format (EU file-type URIs), media type and licence. The catalogue
is paged like ckanext-dcat's (``?page=``, :data:`PAGE_SIZE` datasets a page, newest change first)
with a ``hydra:PagedCollection`` saying where the other pages are, so every answer is bounded.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, XSD
from sqlalchemy.orm import Session

from yiwang.areas import service as areas_service
from yiwang.core.errors import NotFoundError, ValidationFailed
from yiwang.core.web import ReadDbSession
from yiwang.datacat import search
from yiwang.datacat.ckan import LICENSE_URLS, download_url
from yiwang.datacat.schemas import TOPICS

router = APIRouter(tags=["dcat"])

PAGE_SIZE = 100
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
EU = "http://publications.europa.eu/resource/authority/"
FREQUENCY = {"realtime": "UPDATE_CONT", "daily": "DAILY", "weekly": "WEEKLY", "monthly": "MONTHLY",
             "quarterly": "QUARTERLY", "yearly": "ANNUAL", "irregular": "IRREG"}
ACCESS_RIGHTS = {"unconditional": "PUBLIC", "conditional": "RESTRICTED", "none": "NON_PUBLIC"}
THEMES = {"transport": "TRAN", "environment": "ENVI", "economy": "ECON", "health": "HEAL", "education": "EDUC",
          "society": "SOCI", "public-safety": "JUST", "urban": "REGI", "culture": "EDUC", "agriculture": "AGRI",
          "government": "GOVE", "credit": "ECON"}
"""Our topics → the EU data themes (DCAT-AP's dcat:theme vocabulary)."""
MEDIA_TYPES = {"CSV": "text/csv", "JSON": "application/json", "PDF": "application/pdf",
               "XLSX": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
FORMATS = {"jsonld": ("json-ld", "application/ld+json"), "ttl": ("turtle", "text/turtle; charset=utf-8")}
_ANSWERS = search.AnswerCache(size=256)


class FormatUnknown(NotFoundError):
    code = "dcat_format_unknown"
    message = "DCAT is served as .jsonld or .ttl."


class PageInvalid(ValidationFailed):
    code = "dcat_page_invalid"
    message = "The page must be a whole number from 1 to {last}."


def _graph() -> Graph:
    g = Graph()
    for prefix, ns in (("dcat", DCAT), ("dct", DCTERMS), ("foaf", FOAF), ("hydra", HYDRA), ("vcard", VCARD)):
        g.bind(prefix, ns)
    return g


def _when(value: Any) -> Literal | None:
    if value is None:
        return None
    if hasattr(value, "hour"):
        return Literal(value.replace(tzinfo=None).isoformat(timespec="seconds"), datatype=XSD.dateTime)
    return Literal(value.isoformat(), datatype=XSD.date)


def add_dataset(g: Graph, loaded: search.Loaded, departments: dict[str, Any], base: str) -> URIRef:
    """The dataset's triples (and its distributions') in ``g``; returns its URI."""
    row = loaded.resource
    ds = URIRef(f"{base}/dataset/{row.name}")
    g.add((ds, RDF.type, DCAT.Dataset))
    g.add((ds, DCTERMS.identifier, Literal(row.code)))
    g.add((ds, DCTERMS.title, Literal(row.title, lang="zh")))
    if row.summary:
        g.add((ds, DCTERMS.description, Literal(row.summary, lang="zh")))
    g.add((ds, DCAT.landingPage, URIRef(f"{base}/opendata/dataset/{row.name}")))
    dept = departments.get(row.department_id)
    if dept is not None:
        agent = URIRef(f"{base}/organization/{dept.code.lower()}")
        g.add((ds, DCTERMS.publisher, agent))
        g.add((agent, RDF.type, FOAF.Agent))
        g.add((agent, FOAF.name, Literal(dept.name, lang="zh")))
        g.add((agent, DCTERMS.identifier, Literal(dept.code)))
    for tag in json.loads(row.tags or "[]"):
        g.add((ds, DCAT.keyword, Literal(tag, lang="zh")))
    if row.topic in THEMES:
        g.add((ds, DCAT.theme, URIRef(f"{EU}data-theme/{THEMES[row.topic]}")))
    g.add((ds, DCTERMS.subject, Literal(TOPICS.get(row.topic, row.topic), lang="zh")))
    for predicate, value in ((DCTERMS.issued, row.published_on), (DCTERMS.modified, row.updated_at)):
        literal = _when(value)
        if literal is not None:
            g.add((ds, predicate, literal))
    g.add((ds, DCTERMS.accrualPeriodicity, URIRef(f"{EU}frequency/{FREQUENCY.get(row.update_cycle, 'UNKNOWN')}")))
    g.add((ds, DCTERMS.accessRights, URIRef(f"{EU}access-right/{ACCESS_RIGHTS.get(row.opening, 'NON_PUBLIC')}")))
    g.add((ds, DCTERMS.language, URIRef(f"{EU}language/ZHO")))
    licence = URIRef(LICENSE_URLS.get(row.license_id) or f"{base}/licenses/{row.license_id}")
    for dist in loaded.distributions:
        if not (dist.current_version_id or dist.datastore_active):
            continue
        node = URIRef(f"{base}/dataset/{row.name}/resource/{dist.id}")
        g.add((ds, DCAT.distribution, node))
        g.add((node, RDF.type, DCAT.Distribution))
        g.add((node, DCTERMS.title, Literal(dist.name, lang="zh")))
        if dist.description:
            g.add((node, DCTERMS.description, Literal(dist.description, lang="zh")))
        url = URIRef(download_url(base, dist.id, dist.format if dist.kind == "file" else "csv"))
        g.add((node, DCAT.accessURL, url))
        g.add((node, DCAT.downloadURL, url))
        fmt = (dist.format or "").upper()
        # A table is served as CSV whatever was uploaded (the download URL says so).
        served = "CSV" if dist.kind == "table" else fmt
        if served:
            g.add((node, DCTERMS.format, URIRef(f"{EU}file-type/{served}")))
        if served in MEDIA_TYPES:
            g.add((node, DCAT.mediaType, URIRef(f"http://www.iana.org/assignments/media-types/{MEDIA_TYPES[served]}")))
        g.add((node, DCTERMS.license, licence))
        literal = _when(dist.updated_at)
        if literal is not None:
            g.add((node, DCTERMS.modified, literal))
        if dist.size:
            g.add((node, DCAT.byteSize, Literal(dist.size, datatype=XSD.decimal)))
    return ds


def _departments(session: Session) -> dict[str, Any]:
    return {d.id: d for d in areas_service.list_departments(session)}


def _format(fmt: str) -> tuple[str, str]:
    found = FORMATS.get(fmt)
    if found is None:
        raise FormatUnknown()
    return found


def catalogue(session: Session, base: str, fmt: str, page: int) -> bytes:
    """One page of the open catalogue in ``fmt`` (``jsonld`` or ``ttl``)."""
    rdf_format, _media = _format(fmt)
    found = search.query(session, sort="metadata_modified desc", rows=PAGE_SIZE, start=(page - 1) * PAGE_SIZE)
    last = max(1, -(-found.count // PAGE_SIZE))
    if page > last:
        raise PageInvalid(last=last)
    g = _graph()
    cat = URIRef(f"{base}/catalog.{fmt}")
    g.add((cat, RDF.type, DCAT.Catalog))
    g.add((cat, DCTERMS.title, Literal("政务数据开放目录", lang="zh")))
    g.add((cat, DCTERMS.description, Literal("开放的政务信息资源（DCAT-AP）", lang="zh")))
    g.add((cat, DCTERMS.language, URIRef(f"{EU}language/ZHO")))
    g.add((cat, FOAF.homepage, URIRef(f"{base}/opendata")))
    departments = _departments(session)
    for loaded in search.load(session, found.ids):
        g.add((cat, DCAT.dataset, add_dataset(g, loaded, departments, base)))
    paging = URIRef(f"{base}/catalog.{fmt}?page={page}")
    g.add((paging, RDF.type, HYDRA.PagedCollection))
    g.add((paging, HYDRA.totalItems, Literal(found.count, datatype=XSD.integer)))
    g.add((paging, HYDRA.itemsPerPage, Literal(PAGE_SIZE, datatype=XSD.integer)))
    g.add((paging, HYDRA.firstPage, Literal(f"{base}/catalog.{fmt}?page=1")))
    g.add((paging, HYDRA.lastPage, Literal(f"{base}/catalog.{fmt}?page={last}")))
    if page > 1:
        g.add((paging, HYDRA.previousPage, Literal(f"{base}/catalog.{fmt}?page={page - 1}")))
    if page < last:
        g.add((paging, HYDRA.nextPage, Literal(f"{base}/catalog.{fmt}?page={page + 1}")))
    return g.serialize(format=rdf_format, encoding="utf-8")


def dataset(session: Session, base: str, ref: str, fmt: str) -> bytes:
    """One open dataset in ``fmt``; not found unless it is open."""
    rdf_format, _media = _format(fmt)
    row = search.resource(session, ref)
    if row is None or row.state != "open":
        raise NotFoundError()
    g = _graph()
    add_dataset(g, search.load(session, [row.id])[0], _departments(session), base)
    return g.serialize(format=rdf_format, encoding="utf-8")


def _answer(request: Request, key: Any, make: Any, fmt: str) -> Response:
    stamp = search.stamp(request.app.state.settings)
    body = _ANSWERS.get(key, stamp)
    if body is None:
        body = make()
        _ANSWERS.put(key, stamp, body)
    return Response(body, media_type=_format(fmt)[1])


@router.get("/catalog.{fmt}")
def catalog_page(fmt: str, request: Request, session: ReadDbSession, page: int = 1) -> Response:
    """The open catalogue as DCAT-AP (JSON-LD or Turtle), one page of datasets (``?page=``)."""
    if page < 1:
        raise PageInvalid(last="…")
    base = str(request.base_url).rstrip("/")
    return _answer(request, ("catalog", base, fmt, page), lambda: catalogue(session, base, fmt, page), fmt)


@router.get("/dataset/{ref}.{fmt}")
def dataset_page(ref: str, fmt: str, request: Request, session: ReadDbSession) -> Response:
    """One open dataset as DCAT-AP (JSON-LD or Turtle), by id or name."""
    base = str(request.base_url).rstrip("/")
    return _answer(request, ("dataset", base, ref, fmt), lambda: dataset(session, base, ref, fmt), fmt)

