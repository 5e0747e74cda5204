"""Registry JSON API: masked reads, reveal with purpose, lookups in the body, imports, citizens."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from yiwang.core.actor import SYSTEM, Actor
from yiwang.registry import service as registry_service

from .conftest import FACTORY, LI, SHOP, ZHANG, resident_id
from .test_import import BAD_PERSONS, ENTITY_HEADER, GOOD_PERSONS, entity_line


@pytest.fixture
def people(session, city) -> dict[str, str]:
    ids = {"zhang": registry_service.create_person(session, SYSTEM, ZHANG).id,
           "li": registry_service.create_person(session, SYSTEM, LI).id,
           "shop": registry_service.create_entity(session, SYSTEM, SHOP).id,
           "factory": registry_service.create_entity(session, SYSTEM, FACTORY).id}
    session.commit()
    return ids


def audit(session, action: str) -> list[dict]:
    session.rollback()
    rows = session.execute(text("SELECT actor, target_id, purpose, outcome, detail FROM audit_entries "
                                "WHERE action = :a ORDER BY chain_id, seq"), {"a": action})
    return [dict(r._mapping) for r in rows]


def count_persons(session) -> int:
    session.rollback()
    return session.execute(text("SELECT count(*) FROM persons")).scalar_one()


class TestPersonsApi:
    def test_get_is_masked_and_not_cached(self, client, as_actor, people, huangpu_staff):
        as_actor(huangpu_staff)

        r = client.get(f"/api/v1/registry/persons/{people['zhang']}")

        assert r.status_code == 200
        body = r.json()
        assert (body["name"], body["id_number"], body["phone"], body["address"], body["view"]) == (
            "张*明", "**************1230", "*******5678", "***", "masked")
        assert r.headers["cache-control"] == "no-store"

    def test_get_of_another_district_is_403_and_the_denial_is_logged(self, client, as_actor, session, people,
                                                                       huangpu_staff):
        as_actor(huangpu_staff)

        r = client.get(f"/api/v1/registry/persons/{people['li']}")

        assert (r.status_code, r.json()["error"]) == (403, "permission_denied")
        assert LI["name"] not in r.text
        session.rollback()
        denied = [dict(row._mapping) for row in session.execute(text(
            "SELECT action, actor, target_type, target_id, area_code FROM audit_entries WHERE outcome = 'denied'"))]
        assert denied == [{"action": "registry.person.read", "actor": "staff:huangpu", "target_type": "person",
                           "target_id": people["li"], "area_code": "310104003"}]
        assert [e for e in audit(session, "registry.person.read") if e["outcome"] == "ok"] == []

    def test_anonymous_is_401(self, client, people):
        r = client.get(f"/api/v1/registry/persons/{people['zhang']}")
        assert (r.status_code, r.json()["error"]) == (401, "authentication_required")

    def test_reveal_needs_a_purpose(self, client, as_actor, session, people, huangpu_officer):
        as_actor(huangpu_officer)

        missing = client.post(f"/api/v1/registry/persons/{people['zhang']}/reveal", json={})
        blank = client.post(f"/api/v1/registry/persons/{people['zhang']}/reveal", json={"purpose": "  "})

        assert (missing.status_code, missing.json()["error"]) == (422, "validation_failed")
        assert (blank.status_code, blank.json()["error"]) == (422, "purpose_required")
        assert audit(session, "registry.person.read_personal") == []

    def test_reveal_returns_the_full_view_and_audits_the_purpose(self, client, as_actor, session, people,
                                                                 huangpu_officer):
        as_actor(huangpu_officer)

        r = client.post(f"/api/v1/registry/persons/{people['zhang']}/reveal", json={"purpose": "低保复核"})

        assert r.status_code == 200
        assert (r.json()["name"], r.json()["id_number"], r.json()["view"]) == (
            ZHANG["name"], ZHANG["id_number"], "full")
        [entry] = audit(session, "registry.person.read_personal")
        assert (entry["actor"], entry["target_id"], entry["purpose"]) == ("staff:officer", people["zhang"], "低保复核")

    def test_reveal_without_the_right_is_403(self, client, as_actor, session, people, huangpu_staff):
        as_actor(huangpu_staff)
        r = client.post(f"/api/v1/registry/persons/{people['zhang']}/reveal", json={"purpose": "x"})
        assert r.status_code == 403

    def test_lookup_takes_the_number_in_the_body(self, client, as_actor, people, huangpu_staff):
        as_actor(huangpu_staff)

        r = client.post("/api/v1/registry/persons/lookup", json={"id_number": ZHANG["id_number"]})
        bad = client.post("/api/v1/registry/persons/lookup", json={"id_number": "310101199003071231"})
        unknown = client.post("/api/v1/registry/persons/lookup",
                              json={"id_number": resident_id("31010119700101001")})

        assert (r.status_code, r.json()["id"], r.json()["view"]) == (200, people["zhang"], "masked")
        assert (bad.status_code, bad.json()["error"]) == (422, "invalid_resident_id")
        assert (unknown.status_code, unknown.json()["error"]) == (404, "person_not_found")

    def test_lookup_full_with_purpose(self, client, as_actor, people, huangpu_officer):
        as_actor(huangpu_officer)
        r = client.post("/api/v1/registry/persons/lookup",
                        json={"id_number": ZHANG["id_number"], "full": True, "purpose": "窗口核验"})
        assert (r.status_code, r.json()["phone"]) == (200, ZHANG["phone"])

    def test_list_is_scoped_and_paged(self, client, as_actor, people, huangpu_staff):
        as_actor(huangpu_staff)
        r = client.get("/api/v1/registry/persons", params={"limit": 10})
        assert r.status_code == 200
        assert [p["id"] for p in r.json()["items"]] == [people["zhang"]]
        assert r.json()["next_cursor"] is None

    def test_create_and_update(self, client, as_actor, city, huangpu_staff):
        as_actor(huangpu_staff)

        made = client.post("/api/v1/registry/persons", json=ZHANG)
        changed = client.patch(f"/api/v1/registry/persons/{made.json()['id']}", json={"phone": "13900001111"})
        refused = client.post("/api/v1/registry/persons", json={**ZHANG, "phone": "12345"})
        other = client.post("/api/v1/registry/persons", json=LI)

        assert (made.status_code, made.json()["name"]) == (201, "张*明")
        assert (changed.status_code, changed.json()["phone"]) == (200, "*******1111")
        assert (refused.status_code, refused.json()["error"]) == (422, "invalid_mobile")
        assert (other.status_code, other.json()["error"]) == (403, "permission_denied")

    def test_duplicate_is_409(self, client, as_actor, people, huangpu_staff):
        as_actor(huangpu_staff)
        r = client.post("/api/v1/registry/persons", json=ZHANG)
        assert (r.status_code, r.json()["error"]) == (409, "person_exists")


class TestImportApi:
    def test_imports_a_clean_file(self, client, as_actor, session, city):
        as_actor(SYSTEM)
        r = client.post("/api/v1/registry/persons/import",
                        files={"file": ("persons.csv", GOOD_PERSONS.encode(), "text/csv")})
        assert r.status_code == 200
        assert (r.json()["imported"], r.json()["refused"]) == (3, False)
        assert count_persons(session) == 3

    def test_refusal_is_422_with_every_bad_row_and_imports_nothing(self, client, as_actor, session, city):
        as_actor(SYSTEM)

        r = client.post("/api/v1/registry/persons/import",
                        files={"file": ("persons.csv", BAD_PERSONS.encode(), "text/csv")})

        assert r.status_code == 422
        body = r.json()
        assert body["error"] == "import_refused"
        assert [(e["line"], e["column"], e["problem"]) for e in body["errors"]] == [
            (3, "id_number", "invalid_resident_id"), (4, "phone", "invalid_mobile"),
            (5, "area_code", "unknown_area"), (6, "id_number", "duplicate_in_file"), (7, "name", "missing_field")]
        assert count_persons(session) == 0
        [entry] = audit(session, "registry.person.import")
        assert (entry["outcome"], json.loads(entry["detail"])["bad_rows"]) == ("refused", 5)

    def test_skip_bad_rows(self, client, as_actor, session, city):
        as_actor(SYSTEM)
        r = client.post("/api/v1/registry/persons/import", data={"skip_bad_rows": "true"},
                        files={"file": ("persons.csv", BAD_PERSONS.encode(), "text/csv")})
        assert (r.status_code, r.json()["imported"], r.json()["skipped"]) == (200, 2, 5)
        assert count_persons(session) == 2

    def test_bad_header_is_422(self, client, as_actor, city):
        as_actor(SYSTEM)
        r = client.post("/api/v1/registry/persons/import", files={"file": ("p.csv", b"a,b\n1,2\n", "text/csv")})
        assert (r.status_code, r.json()["error"]) == (422, "invalid_csv")

    def test_import_without_right_is_403(self, client, as_actor, session, city, huangpu_staff):
        as_actor(huangpu_staff)  # may import in 黄浦 only; the file has a 徐汇 row
        r = client.post("/api/v1/registry/persons/import",
                        files={"file": ("persons.csv", GOOD_PERSONS.encode(), "text/csv")})
        assert r.status_code == 403
        assert count_persons(session) == 0

    def test_entities_import(self, client, as_actor, city):
        as_actor(SYSTEM)
        data = ENTITY_HEADER + entity_line(SHOP) + entity_line(FACTORY)
        r = client.post("/api/v1/registry/entities/import", files={"file": ("e.csv", data.encode(), "text/csv")})
        assert (r.status_code, r.json()["imported"]) == (200, 2)


class TestEntitiesApi:
    def test_get_lookup_reveal_list(self, client, as_actor, people, huangpu_officer):
        as_actor(huangpu_officer)

        got = client.get(f"/api/v1/registry/entities/{people['shop']}")
        found = client.post("/api/v1/registry/entities/lookup", json={"uscc": SHOP["uscc"]})
        full = client.post(f"/api/v1/registry/entities/{people['shop']}/reveal", json={"purpose": "资质核验"})
        listed = client.get("/api/v1/registry/entities")
        other = client.get(f"/api/v1/registry/entities/{people['factory']}")

        assert (got.status_code, got.json()["legal_representative"]) == (200, "王*伟")
        assert found.json()["id"] == people["shop"]
        assert (full.status_code, full.json()["legal_representative"]) == (200, "王大伟")
        assert [e["id"] for e in listed.json()["items"]] == [people["shop"]]
        assert other.status_code == 403

    def test_create_and_update(self, client, as_actor, city, huangpu_staff):
        as_actor(huangpu_staff)
        made = client.post("/api/v1/registry/entities", json=SHOP)
        changed = client.patch(f"/api/v1/registry/entities/{made.json()['id']}", json={"size": "small"})
        bad = client.post("/api/v1/registry/entities", json={**SHOP, "uscc": SHOP["uscc"][:-1] + "B"})
        assert (made.status_code, changed.json()["size"]) == (201, "small")
        assert (bad.status_code, bad.json()["error"]) == (422, "invalid_uscc")

    def test_enterprise_agent_me(self, client, as_actor, people):
        as_actor(Actor(kind="enterprise", user_id="e1", entity_id=people["shop"]))
        r = client.get("/api/v1/registry/me/entity")
        assert (r.status_code, r.json()["legal_representative"], r.json()["view"]) == (200, "王大伟", "self")


class TestMe:
    def test_citizen_reads_their_own_record(self, client, as_actor, session, people):
        as_actor(Actor(kind="citizen", user_id="c1", person_id=people["zhang"]))

        r = client.get("/api/v1/registry/me")

        assert r.status_code == 200
        assert (r.json()["name"], r.json()["id_number"], r.json()["view"]) == (ZHANG["name"], ZHANG["id_number"],
                                                                               "self")
        assert [e["target_id"] for e in audit(session, "registry.person.read_self")] == [people["zhang"]]

    def test_citizen_cannot_read_another_person(self, client, as_actor, people):
        as_actor(Actor(kind="citizen", user_id="c1", person_id=people["zhang"]))
        r = client.get(f"/api/v1/registry/persons/{people['li']}")
        assert r.status_code == 403

    def test_staff_are_refused_the_citizens_own_record_route(self, client, as_actor, people, huangpu_staff):
        as_actor(huangpu_staff)
        r = client.get("/api/v1/registry/me")
        assert (r.status_code, r.json()["error"]) == (403, "permission_denied")
