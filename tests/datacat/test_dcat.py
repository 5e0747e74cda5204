"""DCAT-AP export: the catalogue and one dataset as JSON-LD and Turtle, parsed back with rdflib
(both databases); only open resources, paged."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF

from yiwang.datacat import dcat

BASE = "http://testserver"
EU = "http://publications.europa.eu/resource/authority/"


@pytest.fixture
def web(open_catalogue, app):
    with TestClient(app) as c:
        yield c


def parse(response, fmt: str) -> Graph:
    assert response.status_code == 200, response.text
    return Graph().parse(data=response.content, format={"jsonld": "json-ld", "ttl": "turtle"}[fmt])


class TestCatalogue:
    @pytest.mark.parametrize("fmt", ["jsonld", "ttl"])
    def test_lists_only_open_datasets(self, web, fmt):
        r = web.get(f"/catalog.{fmt}")
        assert r.headers["content-type"].startswith(dcat.FORMATS[fmt][1].split(";")[0])
        g = parse(r, fmt)
        catalog = URIRef(f"{BASE}/catalog.{fmt}")
        assert (catalog, RDF.type, DCAT.Catalog) in g
        datasets = set(g.objects(catalog, DCAT.dataset))
        assert datasets == {URIRef(f"{BASE}/dataset/{n}") for n in ("bus-stops", "air-quality", "bus-lines")}
        paging = URIRef(f"{BASE}/catalog.{fmt}?page=1")
        assert int(g.value(paging, URIRef("http://www.w3.org/ns/hydra/core#totalItems"))) == 3

    def test_pages_are_bounded(self, web, monkeypatch):
        monkeypatch.setattr(dcat, "PAGE_SIZE", 2)
        first = parse(web.get("/catalog.ttl?page=1"), "ttl")
        second = parse(web.get("/catalog.ttl?page=2"), "ttl")
        catalog = URIRef(f"{BASE}/catalog.ttl")
        one, two = set(first.objects(catalog, DCAT.dataset)), set(second.objects(catalog, DCAT.dataset))
        assert (len(one), len(two), one & two) == (2, 1, set())
        hydra = "http://www.w3.org/ns/hydra/core#"
        assert str(first.value(URIRef(f"{BASE}/catalog.ttl?page=1"), URIRef(hydra + "nextPage"))).endswith("page=2")
        assert web.get("/catalog.ttl?page=3").status_code == 422
        assert web.get("/catalog.ttl?page=0").status_code == 422

    def test_unknown_format_is_not_found(self, web):
        assert web.get("/catalog.xml").status_code == 404


class TestDataset:
    def test_carries_the_dcat_ap_properties(self, web, open_catalogue):
        g = parse(web.get("/dataset/bus-lines.ttl"), "ttl")
        ds = URIRef(f"{BASE}/dataset/bus-lines")
        assert g.value(ds, DCTERMS.identifier) == Literal("310101-JT-00002")
        assert g.value(ds, DCTERMS.title) == Literal("公交线路站点明细", lang="zh")
        assert g.value(ds, DCTERMS.accrualPeriodicity) == URIRef(EU + "frequency/ANNUAL")
        assert g.value(ds, DCTERMS.accessRights) == URIRef(EU + "access-right/RESTRICTED")
        assert g.value(ds, DCTERMS.language) == URIRef(EU + "language/ZHO")
        assert g.value(ds, DCAT.theme) == URIRef(EU + "data-theme/TRAN")
        assert set(g.objects(ds, DCAT.keyword)) == {Literal("公交", lang="zh")}
        assert g.value(ds, DCTERMS.issued) is not None and g.value(ds, DCTERMS.modified) is not None
        publisher = g.value(ds, DCTERMS.publisher)
        assert (publisher, RDF.type, FOAF.Agent) in g
        assert g.value(publisher, FOAF.name) == Literal("黄浦区交通委", lang="zh")
        [dist] = list(g.objects(ds, DCAT.distribution))
        table = open_catalogue.tables["bus-lines"]
        assert g.value(dist, DCAT.downloadURL) == URIRef(f"{BASE}/opendata/download/{table}.csv")
        assert g.value(dist, DCTERMS.format) == URIRef(EU + "file-type/CSV")
        assert g.value(dist, DCAT.mediaType) == URIRef("http://www.iana.org/assignments/media-types/text/csv")
        assert g.value(dist, DCTERMS.license) == URIRef("https://creativecommons.org/licenses/by/4.0/")

    def test_by_id_as_json_ld(self, web, open_catalogue):
        g = parse(web.get(f"/dataset/{open_catalogue.resources['air-quality']}.jsonld"), "jsonld")
        assert (URIRef(f"{BASE}/dataset/air-quality"), RDF.type, DCAT.Dataset) in g

    def test_a_draft_or_unknown_dataset_is_not_found(self, web):
        assert web.get("/dataset/company-register.ttl").status_code == 404
        assert web.get("/dataset/nope.jsonld").status_code == 404
