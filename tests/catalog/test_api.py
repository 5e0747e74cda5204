"""JSON API of the catalogue: public reading and search, publishing and import/export by managers."""

from __future__ import annotations

import json

from yiwang.catalog import service as catalog_service
from yiwang.core.actor import ANONYMOUS

from .conftest import item_data


class TestReading:
    def test_item_is_public_with_versions(self, client, session, demo, manager):
        catalog_service.publish_item_version(session, manager, "SCJG-003", item_data(name="食品经营许可（新）"))
        session.commit()

        current = client.get("/api/v1/catalog/items/SCJG-003")
        old = client.get("/api/v1/catalog/items/SCJG-003?version=1")

        assert current.status_code == 200 and old.status_code == 200
        assert (current.json()["version"], current.json()["name"]) == (2, "食品经营许可（新）")
        assert (old.json()["version"], old.json()["name"], old.json()["current"]) == (1, "食品经营许可", False)

    def test_unknown_item_is_404_with_a_code(self, client, demo):
        got = client.get("/api/v1/catalog/items/NOPE-1")

        assert got.status_code == 404
        assert got.json()["error"] == "catalog_item_not_found"

    def test_list_bundles_and_merged_form(self, client, demo):
        bundles = client.get("/api/v1/catalog/bundles").json()
        form = client.get("/api/v1/catalog/bundles/YJS-001/form").json()

        assert [b["code"] for b in bundles] == ["YJS-001", "YJS-002", "YJS-003", "YJS-004"]
        assert form["sources"]["entity_name"] == ["SCJG-001", "SCJG-003", "LHSR-001"]
        assert list(form["form"]["properties"]).count("applicant_name") == 1

    def test_search_is_public(self, client, demo):
        got = client.get("/api/v1/catalog/search", params={"q": "开餐馆"})

        assert got.status_code == 200
        assert got.json()[0]["code"] == "YJS-001"

    def test_list_items_filters(self, client, demo):
        got = client.get("/api/v1/catalog/items", params={"department": "31-XFJY"}).json()

        assert [i["code"] for i in got["items"]] == ["XFJY-001", "XFJY-002", "XFJY-003", "XFJY-004"]


class TestChanging:
    def test_manager_creates_and_publishes(self, client, as_actor, session, departments, manager):
        session.commit()
        as_actor(manager)

        created = client.post("/api/v1/catalog/items", json={"code": "SCJG-900", **item_data()})
        again = client.post("/api/v1/catalog/items/SCJG-900/versions", json=item_data(promised_limit_days=3))

        assert created.status_code == 201 and created.json()["version"] == 1
        assert again.status_code == 201 and again.json()["version"] == 2

    def test_bad_item_answers_422_with_each_field(self, client, as_actor, session, departments, manager):
        session.commit()
        as_actor(manager)

        got = client.post("/api/v1/catalog/items", json={"code": "SCJG-900", **item_data(promised_limit_days=50)})

        assert got.status_code == 422
        assert got.json()["error"] == "catalog_invalid"
        assert [(e["field"], e["problem"]) for e in got.json()["errors"]] == [
            ("promised_limit_days", "catalog_limits_invalid")]

    def test_clerk_is_refused_and_nothing_changes(self, client, as_actor, session, departments, clerk):
        session.commit()
        as_actor(clerk)

        got = client.post("/api/v1/catalog/items", json={"code": "SCJG-900", **item_data()})

        assert got.status_code == 403
        assert catalog_service.list_items(session).items == []

    def test_anonymous_may_not_export(self, client, as_actor, demo):
        as_actor(ANONYMOUS)

        assert client.get("/api/v1/catalog/export").status_code == 401

    def test_export_and_import(self, client, as_actor, demo, manager):
        as_actor(manager)

        exported = client.get("/api/v1/catalog/export", params={"format": "json"})
        imported = client.post("/api/v1/catalog/import", files={"file": ("c.json", exported.text.encode(), "application/json")})

        assert exported.status_code == 200 and len(json.loads(exported.text)["items"]) == 55
        assert imported.status_code == 200
        assert (imported.json()["items_unchanged"], imported.json()["bundles_unchanged"]) == (55, 4)

    def test_refused_import_lists_problems(self, client, as_actor, demo, manager):
        as_actor(manager)

        got = client.post("/api/v1/catalog/import", files={"file": ("c.yaml", b"items:\n- code: X-1\n  name: x\n")})

        assert got.status_code == 422
        assert got.json()["error"] == "catalog_import_refused"
        assert {e["field"] for e in got.json()["errors"]} >= {"department", "kind", "form"}
