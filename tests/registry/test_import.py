"""CSV imports: every row checked first, all-or-nothing unless bad rows are skipped, one audit entry."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, text

from yiwang.core.actor import SYSTEM, Grant
from yiwang.core.errors import PermissionDenied
from yiwang.registry import errors
from yiwang.registry import service as registry_service
from yiwang.registry.models import LegalEntity, Person

from .conftest import FACTORY, LI, SHOP, ZHANG, resident_id, staff, uscc

PERSON_HEADER = "name,id_number,phone,address,area_code\n"
ENTITY_HEADER = "uscc,name,legal_representative,registered_address,area_code,industry,size,registration_date\n"


def person_line(p: dict) -> str:
    return f'{p["name"]},{p["id_number"]},{p["phone"]},"{p["address"]}",{p["area_code"]}\n'


def entity_line(e: dict) -> str:
    return (f'{e["uscc"]},{e["name"]},{e["legal_representative"]},{e["registered_address"]},{e["area_code"]},'
            f'{e["industry"]},{e["size"]},{e["registration_date"]}\n')


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def import_entries(session, action: str) -> list[dict]:
    rows = session.execute(text("SELECT outcome, detail, actor FROM audit_entries WHERE action = :a"), {"a": action})
    return [{**dict(r._mapping), "detail": json.loads(r.detail)} for r in rows]


GOOD_PERSONS = PERSON_HEADER + person_line(ZHANG) + person_line(LI) + person_line(
    {**ZHANG, "name": "王五", "id_number": resident_id("31010119800808004"), "phone": ""})

BAD_PERSONS = (
    PERSON_HEADER
    + person_line(ZHANG)                                                              # line 2: good
    + person_line({**LI, "id_number": "310104198511200022"})                          # line 3: check digit
    + person_line({**LI, "id_number": resident_id("31010419700101003"), "phone": "1234"})  # 4: mobile
    + person_line({**LI, "id_number": resident_id("31010419700101005"), "area_code": "310199"})  # 5: area
    + person_line({**ZHANG, "name": "张三明二"})                                        # line 6: dup of 2
    + person_line({**LI, "name": "", "id_number": resident_id("31010419700101007")})  # line 7: missing name
    + person_line({**LI, "id_number": resident_id("31010419700101009")})              # line 8: good
)


class TestImportPersons:
    def test_imports_all_rows_of_a_clean_file(self, session, city):
        report = registry_service.import_persons_csv(session, SYSTEM, GOOD_PERSONS.encode())

        assert (report.total, report.imported, report.skipped, report.refused, report.errors) == (3, 3, 0, False, [])
        assert count(session, Person) == 3
        wang = registry_service.find_person_by_id_number(session, SYSTEM, resident_id("31010119800808004"),
                                                         full=True, purpose="test")
        assert (wang.name, wang.phone, wang.gender, wang.birth_year) == ("王五", None, "F", 1980)

    def test_refuses_the_whole_file_and_lists_every_bad_row(self, session, city):
        report = registry_service.import_persons_csv(session, SYSTEM, BAD_PERSONS)

        assert (report.total, report.imported, report.skipped, report.refused) == (7, 0, 0, True)
        assert [(e.line, e.column, e.problem) for e in report.errors] == [
            (3, "id_number", "invalid_resident_id"),
            (4, "phone", "invalid_mobile"),
            (5, "area_code", "unknown_area"),
            (6, "id_number", "duplicate_in_file"),
            (7, "name", "missing_field"),
        ]
        assert report.errors[3].message == "本文件第 2 行已有相同的 id_number。"
        assert count(session, Person) == 0

    def test_refusal_is_audited_with_counts_only(self, session, city):
        registry_service.import_persons_csv(session, SYSTEM, BAD_PERSONS)

        [entry] = import_entries(session, "registry.person.import")
        assert entry["outcome"] == "refused"
        assert entry["detail"] == {"source": "csv", "total": 7, "imported": 0, "bad_rows": 5, "refused": True,
                                   "areas": 2}

    def test_skip_bad_rows_imports_the_good_ones_and_reports_the_rest(self, session, city):
        report = registry_service.import_persons_csv(session, SYSTEM, BAD_PERSONS, skip_bad_rows=True)

        assert (report.total, report.imported, report.skipped, report.refused) == (7, 2, 5, False)
        assert [e.line for e in report.errors] == [3, 4, 5, 6, 7]
        assert count(session, Person) == 2
        [entry] = import_entries(session, "registry.person.import")
        assert (entry["outcome"], entry["detail"]["imported"], entry["detail"]["bad_rows"]) == ("ok", 2, 5)

    def test_rows_already_registered_are_bad(self, session, city):
        registry_service.create_person(session, SYSTEM, ZHANG)

        report = registry_service.import_persons_csv(session, SYSTEM, GOOD_PERSONS)

        assert report.refused
        assert [(e.line, e.column, e.problem) for e in report.errors] == [(2, "id_number", "person_exists")]
        assert count(session, Person) == 1

    def test_reports_every_problem_of_one_row(self, session, city):
        data = PERSON_HEADER + ",310101199003071231,12,,\n"
        report = registry_service.import_persons_csv(session, SYSTEM, data)

        assert [(e.line, e.column, e.problem) for e in report.errors] == [
            (2, "name", "missing_field"), (2, "id_number", "invalid_resident_id"), (2, "phone", "invalid_mobile"),
            (2, "area_code", "missing_field")]

    def test_wrong_number_of_fields_is_reported(self, session, city):
        data = PERSON_HEADER + person_line(ZHANG).rstrip("\n") + ",extra\n"
        report = registry_service.import_persons_csv(session, SYSTEM, data)
        assert [(e.line, e.column, e.problem) for e in report.errors] == [(2, "*", "wrong_field_count")]

    def test_reads_a_bom_and_gb18030_and_any_column_order(self, session, city):
        data = "area_code,address,phone,id_number,name\r\n" + (
            f'{ZHANG["area_code"]},{ZHANG["address"]},{ZHANG["phone"]},{ZHANG["id_number"]},{ZHANG["name"]}\r\n')
        assert registry_service.import_persons_csv(session, SYSTEM, ("\ufeff" + data).encode()).imported == 1
        session.rollback()
        assert registry_service.import_persons_csv(session, SYSTEM, data.encode("gb18030")).imported == 1

    def test_blank_lines_are_ignored_and_line_numbers_kept(self, session, city):
        data = PERSON_HEADER + "\n" + person_line({**ZHANG, "phone": "1"})
        report = registry_service.import_persons_csv(session, SYSTEM, data)
        assert [(e.line, e.column) for e in report.errors] == [(3, "phone")]

    @pytest.mark.parametrize(("data", "reason"), [
        ("", "the header row is missing"),
        ("name,id_number,phone,address\n", "missing columns: area_code"),
        ("name,id_number,phone,address,area_code,notes\n", "unknown columns: notes"),
    ])
    def test_refuses_a_file_without_the_header(self, session, city, data, reason):
        with pytest.raises(errors.InvalidCsv) as info:
            registry_service.import_persons_csv(session, SYSTEM, data)
        assert info.value.code == "invalid_csv"
        assert info.value.render("en") == f"The file is not a CSV file with the expected header: {reason}"

    def test_needs_the_import_right_over_every_rows_area(self, session, city):
        huangpu_importer = staff(Grant("data_officer", "310101", None, frozenset({"registry.person.import"})))

        with pytest.raises(PermissionDenied) as info:
            registry_service.import_persons_csv(session, huangpu_importer, GOOD_PERSONS)
        assert info.value.area_code == "310104003"
        session.rollback()
        assert count(session, Person) == 0

    def test_importer_of_the_area_may_import(self, session, city):
        huangpu_importer = staff(Grant("data_officer", "310101", None, frozenset({"registry.person.import"})))
        data = PERSON_HEADER + person_line(ZHANG)
        assert registry_service.import_persons_csv(session, huangpu_importer, data).imported == 1

    def test_without_the_import_right_nothing_is_read(self, session, city):
        reader = staff(Grant("clerk", "31", None, frozenset({"registry.person.read"})))
        with pytest.raises(PermissionDenied):
            registry_service.import_persons_csv(session, reader, "garbage")

    def test_imports_thousands_of_rows(self, session, city):
        rows = [f"人{i},{resident_id(f'310101198001{(i % 28) + 1:02d}{i // 28:03d}')},138{i:08d},,310101002\n"
                for i in range(2000)]
        report = registry_service.import_persons_csv(session, SYSTEM, PERSON_HEADER + "".join(rows))

        assert (report.imported, report.errors) == (2000, [])
        assert count(session, Person) == 2000
        assert len(import_entries(session, "registry.person.import")) == 1


class TestImportEntities:
    def test_imports_a_clean_file(self, session, city):
        data = ENTITY_HEADER + entity_line(SHOP) + entity_line(FACTORY)
        report = registry_service.import_entities_csv(session, SYSTEM, data)

        assert (report.kind, report.imported, report.refused) == ("entities", 2, False)
        assert count(session, LegalEntity) == 2
        got = registry_service.find_entity_by_uscc(session, SYSTEM, FACTORY["uscc"], full=True, purpose="t")
        assert (got.legal_representative, got.size, str(got.registration_date)) == ("赵小芳", "medium", "2010-01-15")

    def test_refuses_bad_rows(self, session, city):
        data = (ENTITY_HEADER + entity_line(SHOP)
                + entity_line({**FACTORY, "uscc": FACTORY["uscc"][:-1] + "0"})
                + entity_line({**FACTORY, "uscc": uscc("91310104MA1AB0002"), "industry": "Z", "size": "giant"})
                + entity_line({**FACTORY, "uscc": uscc("91310104MA1AB0003"), "registration_date": "2010-13-01"})
                + entity_line({**SHOP, "name": "重复"}))
        report = registry_service.import_entities_csv(session, SYSTEM, data)

        assert report.refused
        assert [(e.line, e.column, e.problem) for e in report.errors] == [
            (3, "uscc", "invalid_uscc"), (4, "industry", "invalid_industry"), (4, "size", "invalid_size"),
            (5, "registration_date", "invalid_date"), (6, "uscc", "duplicate_in_file")]
        assert count(session, LegalEntity) == 0

    def test_optional_status_column(self, session, city):
        data = ENTITY_HEADER.rstrip("\n") + ",status\n" + entity_line(SHOP).rstrip("\n") + ",deregistered\n"
        report = registry_service.import_entities_csv(session, SYSTEM, data)
        assert report.imported == 1
        assert registry_service.find_entity_by_uscc(session, SYSTEM, SHOP["uscc"]).status == "deregistered"
