"""Demo registry data: well-formed, reproducible, loaded through the import path."""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import text

from yiwang.core.actor import SYSTEM
from yiwang.core.validators import (
    birth_date_from_id,
    gender_from_id,
    validate_mobile,
    validate_resident_id,
    validate_uscc,
)
from yiwang.demo.registry import _org_code, generate_entities, generate_persons, load_registry
from yiwang.registry import service as registry_service

AREAS = ["310101002", "310104003"]


def gb11714_ok(code: str) -> bool:
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    total = sum((int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(code[:8], weights, strict=True))
    check = 11 - total % 11
    return code[8] == ("X" if check == 10 else "0" if check == 11 else str(check))


class TestGeneratePersons:
    def test_rows_are_valid_and_match_their_area(self):
        rows = generate_persons(AREAS, 500, seed=7)

        assert len(rows) == 500
        assert len({r["id_number"] for r in rows}) == 500
        for r in rows:
            assert validate_resident_id(r["id_number"]) == r["id_number"]
            assert r["area_code"] in AREAS
            assert r["id_number"][:6] == r["area_code"][:6]
            assert birth_date_from_id(r["id_number"]) <= date.today()
            assert 2 <= len(r["name"]) <= 4
            if r["phone"]:
                assert validate_mobile(r["phone"]) == r["phone"]
            assert r["address"].startswith("上海市")

    def test_gender_follows_the_given_name(self):
        from yiwang.demo.registry import FEMALE_CHARS, MALE_CHARS

        for r in generate_persons(AREAS, 200, seed=3):
            chars = MALE_CHARS if gender_from_id(r["id_number"]) == "M" else FEMALE_CHARS
            assert r["name"][-1] in chars

    def test_same_seed_same_rows(self):
        assert generate_persons(AREAS, 50, seed=1) == generate_persons(AREAS, 50, seed=1)
        assert generate_persons(AREAS, 50, seed=1) != generate_persons(AREAS, 50, seed=2)


class TestGenerateEntities:
    def test_rows_are_valid(self):
        rows = generate_entities(AREAS, 300, seed=5)

        assert len({r["uscc"] for r in rows}) == 300
        for r in rows:
            assert validate_uscc(r["uscc"]) == r["uscc"]
            assert r["uscc"][2:8] == r["area_code"][:6]
            assert gb11714_ok(r["uscc"][8:17])
            assert r["size"] in ("micro", "small", "medium", "large")
            assert date.fromisoformat(r["registration_date"]) <= date.today()

    def test_organisation_codes_follow_the_era(self):
        import random

        rng = random.Random(1)
        assert _org_code(rng, date(2010, 1, 1))[:8].isdigit()
        assert _org_code(rng, date(2020, 1, 1)).startswith("MA")


class TestLoadRegistry:
    def test_loads_through_the_import_with_one_audit_entry_per_kind(self, session, city):
        got = load_registry(session, AREAS, persons=1500, entities=300, seed=1)

        assert got == {"persons": 1500, "entities": 300}
        assert registry_service.counts(session) == {"persons": 1500, "entities": 300}
        entries = session.execute(text(
            "SELECT action, detail FROM audit_entries WHERE action LIKE 'registry.%.import'")).all()
        assert sorted((a, json.loads(d)["imported"], json.loads(d)["source"]) for a, d in entries) == [
            ("registry.entity.import", 300, "demo"), ("registry.person.import", 1500, "demo")]

    def test_loaded_people_can_be_found_by_id_number(self, session, city):
        load_registry(session, AREAS, persons=50, entities=0, seed=9)
        first = generate_persons(AREAS, 50, seed=9)[0]

        got = registry_service.find_person_by_id_number(session, SYSTEM, first["id_number"],
                                                        full=True, purpose="demo check")
        assert (got.name, got.area_code) == (first["name"], first["area_code"])
