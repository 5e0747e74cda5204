"""Acceptance: a street staff member of one district cannot read or change another district's
records through the API or the CLI, and every refusal is in the audit trail (the page path is in
tests/browser/test_district_isolation.py)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from yiwang.areas import service as areas_service
from yiwang.core.actor import SYSTEM
from yiwang.demo.registry import generate_persons
from yiwang.identity import service as identity_service
from yiwang.registry import service as registry_service

HUANGPU_STREET, XUHUI_STREET = "310101002", "310104003"


@pytest.fixture
def world(db):
    """Two districts with a street each, a person in each street, and two Huangpu street staff
    (a clerk who may read personal data, a data officer who may change records) with tokens."""
    with db.transaction() as s:
        areas_service.create_area(s, SYSTEM, code="31", name="上海市", level="city")
        for district, street, name in (("310101", HUANGPU_STREET, "黄浦区"), ("310104", XUHUI_STREET, "徐汇区")):
            areas_service.create_area(s, SYSTEM, code=district, name=name, level="district", parent_code="31")
            areas_service.create_area(s, SYSTEM, code=street, name=name + "街道", level="street",
                                      parent_code=district)
        ours = registry_service.create_person(s, SYSTEM, generate_persons([HUANGPU_STREET], 1, seed=1)[0])
        theirs_row = generate_persons([XUHUI_STREET], 1, seed=2)[0]
        theirs = registry_service.create_person(s, SYSTEM, theirs_row)
        tokens = {}
        for username, role in (("clerk.hp", "clerk"), ("officer.hp", "data_officer")):
            user = identity_service.create_user(s, SYSTEM, username=username, password="A-long-password-2026",
                                                kind="staff", display_name=username,
                                                grants=[(role, HUANGPU_STREET, None)])
            tokens[username] = identity_service.create_token(s, SYSTEM, user.id, "t", 1)[0]
    return {"ours": ours, "theirs": theirs, "theirs_row": theirs_row, "tokens": tokens}


def _denials(db) -> list[tuple[str, str, str | None]]:
    with db.transaction(write=False) as s:
        rows = s.execute(text("SELECT actor, action, target_id FROM audit_entries "
                              "WHERE outcome = 'denied' ORDER BY chain_id, seq")).all()
    return [tuple(r) for r in rows]


def _person_snapshot(db, person_id: str) -> tuple:
    with db.transaction(write=False) as s:
        return tuple(s.execute(text("SELECT * FROM persons WHERE id = :id"), {"id": person_id}).one())


class TestThroughTheApi:
    def test_reading_another_districts_person_is_refused_and_logged(self, client, db, world):
        auth = {"Authorization": f"Bearer {world['tokens']['clerk.hp']}"}
        theirs = world["theirs"].id

        responses = [
            client.get(f"/api/v1/registry/persons/{theirs}", headers=auth),
            client.post(f"/api/v1/registry/persons/{theirs}/reveal", json={"purpose": "核验"}, headers=auth),
            client.post("/api/v1/registry/persons/lookup", headers=auth,
                        json={"id_number": world["theirs_row"]["id_number"], "full": True, "purpose": "核验"}),
        ]

        assert [(r.status_code, r.json()["error"]) for r in responses] == [(403, "permission_denied")] * 3
        denials = _denials(db)
        assert len(denials) == 3
        assert all(actor.startswith("staff:") for actor, _, _ in denials)
        assert {action for _, action, _ in denials} == {"registry.person.read", "registry.person.read_personal"}

    def test_own_district_is_readable_and_listing_shows_only_it(self, client, world):
        auth = {"Authorization": f"Bearer {world['tokens']['clerk.hp']}"}
        assert client.get(f"/api/v1/registry/persons/{world['ours'].id}", headers=auth).status_code == 200
        listed = client.get("/api/v1/registry/persons", headers=auth).json()["items"]
        assert [p["id"] for p in listed] == [world["ours"].id]

    def test_changing_another_districts_person_is_refused_and_changes_nothing(self, client, db, world):
        auth = {"Authorization": f"Bearer {world['tokens']['officer.hp']}"}
        theirs = world["theirs"].id
        before = _person_snapshot(db, theirs)

        r = client.patch(f"/api/v1/registry/persons/{theirs}", json={"address": "改写的地址"}, headers=auth)

        assert (r.status_code, r.json()["error"]) == (403, "permission_denied")
        assert _person_snapshot(db, theirs) == before
        assert [action for _, action, _ in _denials(db)] == ["registry.person.write"]

    def test_creating_a_person_in_another_district_is_refused(self, client, db, world):
        auth = {"Authorization": f"Bearer {world['tokens']['officer.hp']}"}
        row = generate_persons([XUHUI_STREET], 2, seed=3)[1]

        r = client.post("/api/v1/registry/persons", json=row, headers=auth)

        assert r.status_code == 403
        with db.transaction(write=False) as s:
            assert s.execute(text("SELECT count(*) FROM persons")).scalar() == 2
        assert len(_denials(db)) == 1


class TestThroughTheCli:
    def test_importing_into_another_district_is_refused_and_logged(self, settings, db, world, tmp_path, monkeypatch):
        from yiwang.cli import main
        from yiwang.core.settings import reset_settings

        rows = generate_persons([XUHUI_STREET], 3, seed=4)
        csv = tmp_path / "persons.csv"
        csv.write_text("name,id_number,phone,address,area_code\n" + "".join(
            f"{r['name']},{r['id_number']},{r['phone']},{r['address']},{r['area_code']}\n" for r in rows))
        monkeypatch.setenv("YIWANG_VAR_DIR", str(settings.var_dir))
        monkeypatch.setenv("YIWANG_DATABASE_URL", settings.resolved_database_url)
        reset_settings()
        try:
            result = CliRunner().invoke(main, ["registry", "import", "persons", str(csv), "--as", "officer.hp"])
        finally:
            reset_settings()

        assert result.exit_code == 2
        assert "permission_denied" in result.output
        with db.transaction(write=False) as s:
            assert s.execute(text("SELECT count(*) FROM persons")).scalar() == 2
        denials = _denials(db)
        assert len(denials) == 1
        assert denials[0][0].startswith("staff:")
        assert denials[0][1] == "registry.person.import"


def test_denial_entries_hold_no_personal_data(client, db, world):
    auth = {"Authorization": f"Bearer {world['tokens']['clerk.hp']}"}
    client.post("/api/v1/registry/persons/lookup", headers=auth,
                json={"id_number": world["theirs_row"]["id_number"]})
    with db.transaction(write=False) as s:
        rows = s.execute(text("SELECT * FROM audit_entries")).all()
    dump = json.dumps([tuple(map(str, r)) for r in rows], ensure_ascii=False)
    for value in (world["theirs_row"]["id_number"], world["theirs_row"]["name"], world["theirs_row"]["phone"]):
        assert value not in dump
