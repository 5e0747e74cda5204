"""Registry service: persons and legal entities — validation, scoping, masked and full reads, audit."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from yiwang.core.actor import SYSTEM, Actor, Grant
from yiwang.core.errors import PermissionDenied
from yiwang.core.validators import InvalidMobile, InvalidResidentId, InvalidUscc
from yiwang.registry import errors
from yiwang.registry import service as registry_service
from yiwang.registry.models import LegalEntity, Person
from yiwang.registry.schemas import EntityCreate, EntityUpdate, PersonCreate, PersonUpdate

from .conftest import FACTORY, LI, SHOP, ZHANG, resident_id, staff


def audit_rows(session, action: str | None = None) -> list[dict]:
    sql = ("SELECT action, actor, target_type, target_id, area_code, purpose, outcome, detail "
           "FROM audit_entries ORDER BY chain_id, seq")
    rows = [dict(r._mapping) for r in session.execute(text(sql))]
    return [r for r in rows if action is None or r["action"] == action]


def snapshot(session, model) -> list[tuple]:
    return [tuple(getattr(r, c.key) for c in model.__table__.columns)
            for r in session.scalars(select(model).order_by(model.id).execution_options(populate_existing=True))]


@pytest.fixture
def zhang(session, city) -> str:
    pid = registry_service.create_person(session, SYSTEM, PersonCreate(**ZHANG)).id
    session.commit()
    return pid


@pytest.fixture
def li(session, city) -> str:
    pid = registry_service.create_person(session, SYSTEM, PersonCreate(**LI)).id
    session.commit()
    return pid


@pytest.fixture
def shop(session, city) -> str:
    eid = registry_service.create_entity(session, SYSTEM, EntityCreate(**SHOP)).id
    session.commit()
    return eid


@pytest.fixture
def factory(session, city) -> str:
    eid = registry_service.create_entity(session, SYSTEM, EntityCreate(**FACTORY)).id
    session.commit()
    return eid


class TestCreatePerson:
    def test_returns_masked_view_and_derives_clear_fields(self, session, city, huangpu_staff):
        got = registry_service.create_person(session, huangpu_staff, PersonCreate(**ZHANG))

        assert (got.name, got.id_number, got.phone, got.address) == (
            "张*明", "**************1230", "*******5678", "***")
        assert (got.area_code, got.gender, got.birth_year, got.view) == ("310101002", "M", 1990, "masked")

    def test_stores_no_plaintext(self, session, city, huangpu_staff):
        pid = registry_service.create_person(session, huangpu_staff, PersonCreate(**ZHANG)).id
        session.commit()

        row = session.execute(text("SELECT * FROM persons WHERE id = :id"), {"id": pid}).one()
        dump = json.dumps([str(v) for v in row], ensure_ascii=False)
        for secret in (ZHANG["name"], ZHANG["id_number"], ZHANG["phone"], ZHANG["address"], "张三", "13812345678",
                       "310101199003071230"[:14]):
            assert secret not in dump
        assert row._mapping["name_enc"].startswith("v1.aes-gcm.k1.")

    def test_audits_the_creation_without_personal_data(self, session, city, huangpu_staff):
        pid = registry_service.create_person(session, huangpu_staff, PersonCreate(**ZHANG)).id

        [entry] = audit_rows(session, "registry.person.create")
        assert (entry["actor"], entry["target_type"], entry["target_id"], entry["area_code"]) == (
            "staff:huangpu", "person", pid, "310101002")
        assert ZHANG["name"] not in entry["detail"] and ZHANG["id_number"] not in entry["detail"]

    def test_normalises_lower_case_x_and_phone_prefix(self, session, city):
        number = resident_id("11010519491231002")
        assert number.endswith("X")
        got = registry_service.create_person(session, SYSTEM, {
            **ZHANG, "id_number": number.lower(), "phone": "+86 139-1234-5678"})
        full = registry_service.get_person(session, SYSTEM, got.id, full=True, purpose="check")

        assert (full.id_number, full.phone) == (number, "13912345678")

    def test_refuses_a_wrong_check_digit(self, session, city):
        with pytest.raises(InvalidResidentId):
            registry_service.create_person(session, SYSTEM, {**ZHANG, "id_number": "310101199003071231"})
        assert snapshot(session, Person) == []

    def test_refuses_a_bad_mobile(self, session, city):
        with pytest.raises(InvalidMobile):
            registry_service.create_person(session, SYSTEM, {**ZHANG, "phone": "12812345678"})

    def test_refuses_an_unknown_area(self, session, city):
        with pytest.raises(errors.UnknownArea) as info:
            registry_service.create_person(session, SYSTEM, {**ZHANG, "area_code": "310199"})
        assert info.value.code == "unknown_area"
        assert snapshot(session, Person) == []

    def test_refuses_an_id_number_already_registered(self, session, zhang):
        with pytest.raises(errors.PersonExists):
            registry_service.create_person(session, SYSTEM, {**ZHANG, "name": "张四"})
        assert len(snapshot(session, Person)) == 1

    def test_refuses_outside_the_actors_area(self, session, city, huangpu_staff):
        with pytest.raises(PermissionDenied):
            registry_service.create_person(session, huangpu_staff, PersonCreate(**LI))
        assert snapshot(session, Person) == []
        assert audit_rows(session, "registry.person.create") == []


class TestUpdatePerson:
    def test_changes_given_fields_and_rederives(self, session, zhang, huangpu_officer):
        new_number = resident_id("31010120000101001")
        got = registry_service.update_person(session, huangpu_officer, zhang,
                                             PersonUpdate(id_number=new_number, address=None))
        full = registry_service.get_person(session, huangpu_officer, zhang, full=True, purpose="verify update")

        assert (got.gender, got.birth_year, got.address) == ("M", 2000, None)
        assert (full.name, full.id_number, full.phone, full.address) == (ZHANG["name"], new_number,
                                                                         ZHANG["phone"], None)
        [entry] = audit_rows(session, "registry.person.update")
        assert json.loads(entry["detail"])["fields"] == ["id_number", "address"]

    def test_finds_the_person_by_the_new_number_only(self, session, zhang):
        new_number = resident_id("31010120000101001")
        registry_service.update_person(session, SYSTEM, zhang, {"id_number": new_number})

        assert registry_service.find_person_by_id_number(session, SYSTEM, new_number).id == zhang
        with pytest.raises(errors.PersonNotFound):
            registry_service.find_person_by_id_number(session, SYSTEM, ZHANG["id_number"])

    def test_street_staff_cannot_change_a_person_of_another_district(self, session, li, huangpu_staff):
        before = snapshot(session, Person)

        with pytest.raises(PermissionDenied):
            registry_service.update_person(session, huangpu_staff, li, PersonUpdate(name="李大红"))
        session.rollback()

        assert snapshot(session, Person) == before
        assert registry_service.get_person(session, SYSTEM, li, full=True, purpose="t").name == "李小红"

    def test_cannot_move_a_person_out_of_the_actors_area(self, session, zhang, huangpu_staff):
        before = snapshot(session, Person)

        with pytest.raises(PermissionDenied):
            registry_service.update_person(session, huangpu_staff, zhang, {"area_code": "310104003"})
        session.rollback()

        assert snapshot(session, Person) == before

    def test_refuses_another_persons_id_number(self, session, zhang, li):
        with pytest.raises(errors.PersonExists):
            registry_service.update_person(session, SYSTEM, zhang, {"id_number": LI["id_number"]})

    def test_refuses_clearing_the_name(self, session, zhang):
        with pytest.raises(errors.MissingField):
            registry_service.update_person(session, SYSTEM, zhang, {"name": None})

    def test_unknown_person(self, session, city):
        with pytest.raises(errors.PersonNotFound):
            registry_service.update_person(session, SYSTEM, "0" * 26, {"name": "x"})


class TestGetPerson:
    def test_masked_view_is_audited(self, session, zhang, huangpu_staff):
        got = registry_service.get_person(session, huangpu_staff, zhang)

        assert (got.view, got.name, got.address) == ("masked", "张*明", "***")
        [entry] = audit_rows(session, "registry.person.read")
        assert (entry["actor"], entry["target_id"], entry["purpose"]) == ("staff:huangpu", zhang, None)

    def test_street_staff_cannot_read_a_person_of_another_district(self, session, li, huangpu_staff):
        with pytest.raises(PermissionDenied) as info:
            registry_service.get_person(session, huangpu_staff, li)
        assert info.value.permission == "registry.person.read"
        assert audit_rows(session, "registry.person.read") == []

    def test_full_view_needs_read_personal(self, session, zhang, huangpu_staff):
        with pytest.raises(PermissionDenied) as info:
            registry_service.get_person(session, huangpu_staff, zhang, full=True, purpose="curious")
        assert info.value.permission == "registry.person.read_personal"
        assert audit_rows(session, "registry.person.read_personal") == []

    @pytest.mark.parametrize("purpose", [None, "", "   "])
    def test_full_view_needs_a_purpose(self, session, zhang, huangpu_officer, purpose):
        with pytest.raises(errors.PurposeRequired) as info:
            registry_service.get_person(session, huangpu_officer, zhang, full=True, purpose=purpose)
        assert info.value.code == "purpose_required"
        assert audit_rows(session, "registry.person.read_personal") == []

    def test_full_view_shows_everything_and_records_the_purpose(self, session, zhang, huangpu_officer):
        got = registry_service.get_person(session, huangpu_officer, zhang, full=True,
                                          purpose=" 办理低保资格核查 ")

        assert (got.view, got.name, got.id_number, got.phone, got.address) == (
            "full", ZHANG["name"], ZHANG["id_number"], ZHANG["phone"], ZHANG["address"])
        [entry] = audit_rows(session, "registry.person.read_personal")
        assert (entry["actor"], entry["target_type"], entry["target_id"], entry["area_code"], entry["purpose"]) == (
            "staff:officer", "person", zhang, "310101002", "办理低保资格核查")

    def test_citizen_reads_their_own_record_unmasked(self, session, zhang):
        me = Actor(kind="citizen", user_id="c1", person_id=zhang)

        got = registry_service.get_person(session, me, zhang)

        assert (got.view, got.name, got.id_number) == ("self", ZHANG["name"], ZHANG["id_number"])
        assert [e["target_id"] for e in audit_rows(session, "registry.person.read_self")] == [zhang]
        assert registry_service.get_my_person(session, me).id == zhang

    def test_citizen_cannot_read_someone_else(self, session, zhang, li):
        me = Actor(kind="citizen", user_id="c1", person_id=zhang,
                   grants=(Grant("citizen", "31", None, frozenset({"registry.person.read"})),))
        with pytest.raises(PermissionDenied):
            registry_service.get_person(session, me, li)
        with pytest.raises(PermissionDenied):
            registry_service.find_person_by_id_number(session, me, LI["id_number"])

    def test_citizen_lookup_of_an_unregistered_number_is_denied_not_not_found(self, session, zhang):
        me = Actor(kind="citizen", user_id="c1", person_id=zhang)
        with pytest.raises(PermissionDenied):
            registry_service.find_person_by_id_number(session, me, resident_id("31010119700101001"))

    def test_unknown_person(self, session, city):
        with pytest.raises(errors.PersonNotFound):
            registry_service.get_person(session, SYSTEM, "0" * 26)


class TestFindPersonByIdNumber:
    def test_finds_through_the_blind_index(self, session, zhang, li, huangpu_staff):
        got = registry_service.find_person_by_id_number(session, huangpu_staff, ZHANG["id_number"])

        assert (got.id, got.view) == (zhang, "masked")
        [entry] = audit_rows(session, "registry.person.read")
        assert json.loads(entry["detail"]) == {"via": "id_number"}

    def test_full_lookup_with_purpose(self, session, zhang, huangpu_officer):
        got = registry_service.find_person_by_id_number(session, huangpu_officer, ZHANG["id_number"].lower(),
                                                        full=True, purpose="窗口核验")
        assert got.phone == ZHANG["phone"]
        assert [e["purpose"] for e in audit_rows(session, "registry.person.read_personal")] == ["窗口核验"]

    def test_refuses_an_invalid_number(self, session, zhang, huangpu_staff):
        with pytest.raises(InvalidResidentId):
            registry_service.find_person_by_id_number(session, huangpu_staff, "310101199003071231")

    def test_not_found(self, session, zhang, huangpu_staff):
        with pytest.raises(errors.PersonNotFound):
            registry_service.find_person_by_id_number(session, huangpu_staff, resident_id("31010119700101001"))

    def test_other_district_is_denied(self, session, li, huangpu_staff):
        with pytest.raises(PermissionDenied):
            registry_service.find_person_by_id_number(session, huangpu_staff, LI["id_number"])

    def test_actor_without_any_read_right_cannot_probe(self, session, zhang):
        nobody = staff(Grant("handler", "31", None, frozenset({"registry.entity.read"})))
        with pytest.raises(PermissionDenied):
            registry_service.find_person_by_id_number(session, nobody, resident_id("31010119700101001"))


class TestListPersons:
    def test_lists_only_the_actors_scope(self, session, zhang, li, huangpu_staff):
        page = registry_service.list_persons(session, huangpu_staff)

        assert [(p.id, p.name, p.address) for p in page.items] == [(zhang, "张*明", "***")]
        assert page.next_cursor is None
        [entry] = audit_rows(session, "registry.person.list")
        assert json.loads(entry["detail"]) == {"count": 1, "ids": [zhang]}

    def test_narrowing_to_another_district_is_denied(self, session, zhang, li, huangpu_staff):
        with pytest.raises(PermissionDenied):
            registry_service.list_persons(session, huangpu_staff, area_code="310104")

    def test_widening_filter_stays_within_scope(self, session, zhang, li, huangpu_staff):
        page = registry_service.list_persons(session, huangpu_staff, area_code="31")
        assert [p.id for p in page.items] == [zhang]

    def test_keyset_pages_cover_everyone_once(self, session, city):
        numbers = [resident_id(f"3101011990010100{i}") for i in range(5)]
        ids = [registry_service.create_person(session, SYSTEM, {**ZHANG, "id_number": n}).id for n in numbers]
        ids += [registry_service.create_person(session, SYSTEM, {**LI, "id_number": resident_id(
            f"3101041990010100{i}")}).id for i in range(2)]

        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            page = registry_service.list_persons(session, SYSTEM, cursor=cursor, limit=3)
            seen += [p.id for p in page.items]
            pages += 1
            cursor = page.next_cursor
            if cursor is None:
                break
        assert pages == 3
        assert sorted(seen) == sorted(ids)
        assert len(seen) == 7

    def test_refuses_a_bad_cursor(self, session, city):
        with pytest.raises(errors.InvalidCursor):
            registry_service.list_persons(session, SYSTEM, cursor="nope")

    def test_actor_without_scope_is_denied(self, session, city):
        with pytest.raises(PermissionDenied):
            registry_service.list_persons(session, Actor(kind="citizen", user_id="c"))


class TestEntities:
    def test_create_returns_masked_representative_and_stores_it_encrypted(self, session, city, huangpu_staff):
        got = registry_service.create_entity(session, huangpu_staff, EntityCreate(**SHOP))
        session.commit()

        assert (got.uscc, got.name, got.legal_representative, got.industry, got.size, got.status) == (
            SHOP["uscc"], SHOP["name"], "王*伟", "H", "micro", "active")
        raw = session.execute(text("SELECT * FROM legal_entities")).one()
        assert "王大伟" not in json.dumps([str(v) for v in raw], ensure_ascii=False)
        assert raw._mapping["uscc"] == SHOP["uscc"]

    @pytest.mark.parametrize(("field", "value", "error"), [
        ("uscc", "91310101MA1FL0000B", InvalidUscc),
        ("industry", "Z", errors.InvalidIndustry),
        ("size", "huge", errors.InvalidSize),
        ("registration_date", "2999-01-01", errors.InvalidDate),
        ("registration_date", "2019/05/06", errors.InvalidDate),
        ("legal_representative", "", errors.MissingField),
        ("area_code", "310199", errors.UnknownArea),
    ])
    def test_create_refuses_bad_values(self, session, city, field, value, error):
        with pytest.raises(error):
            registry_service.create_entity(session, SYSTEM, {**SHOP, field: value})
        assert snapshot(session, LegalEntity) == []

    def test_create_accepts_chinese_size_names(self, session, city):
        got = registry_service.create_entity(session, SYSTEM, {**SHOP, "size": "小型", "industry": "h"})
        assert (got.size, got.industry) == ("small", "H")

    def test_create_refuses_a_registered_uscc(self, session, shop):
        with pytest.raises(errors.EntityExists):
            registry_service.create_entity(session, SYSTEM, {**SHOP, "name": "另一家"})

    def test_update_changes_fields_and_audits_names(self, session, shop, huangpu_officer):
        registry_service.update_entity(session, huangpu_officer, shop,
                                       EntityUpdate(legal_representative="钱多多", status="revoked"))
        got = registry_service.get_entity(session, huangpu_officer, shop, full=True, purpose="年报核查")

        assert (got.legal_representative, got.status) == ("钱多多", "revoked")
        [entry] = audit_rows(session, "registry.entity.update")
        assert json.loads(entry["detail"])["fields"] == ["legal_representative", "status"]

    def test_update_of_another_district_is_denied_and_changes_nothing(self, session, factory, huangpu_staff):
        before = snapshot(session, LegalEntity)
        with pytest.raises(PermissionDenied):
            registry_service.update_entity(session, huangpu_staff, factory, {"name": "改名"})
        session.rollback()
        assert snapshot(session, LegalEntity) == before

    def test_masked_read_full_read_and_purpose(self, session, shop, huangpu_staff, huangpu_officer):
        assert registry_service.get_entity(session, huangpu_staff, shop).legal_representative == "王*伟"
        with pytest.raises(PermissionDenied):
            registry_service.get_entity(session, huangpu_staff, shop, full=True, purpose="x")
        with pytest.raises(errors.PurposeRequired):
            registry_service.get_entity(session, huangpu_officer, shop, full=True)
        assert registry_service.get_entity(session, huangpu_officer, shop, full=True,
                                           purpose="招投标资格审查").legal_representative == "王大伟"
        assert [e["purpose"] for e in audit_rows(session, "registry.entity.read_personal")] == ["招投标资格审查"]
        assert len(audit_rows(session, "registry.entity.read")) == 1

    def test_find_by_uscc_and_scope(self, session, shop, factory, huangpu_staff):
        assert registry_service.find_entity_by_uscc(session, huangpu_staff, SHOP["uscc"].lower()).id == shop
        with pytest.raises(PermissionDenied):
            registry_service.find_entity_by_uscc(session, huangpu_staff, FACTORY["uscc"])
        with pytest.raises(InvalidUscc):
            registry_service.find_entity_by_uscc(session, huangpu_staff, "91310101MA1FL0000B")

    def test_enterprise_agent_reads_own_entity_only(self, session, shop, factory):
        agent = Actor(kind="enterprise", user_id="e1", entity_id=shop)
        got = registry_service.get_my_entity(session, agent)
        assert (got.id, got.view, got.legal_representative) == (shop, "self", "王大伟")
        with pytest.raises(PermissionDenied):
            registry_service.get_entity(session, agent, factory)

    def test_list_is_scoped(self, session, shop, factory, huangpu_staff, city_officer):
        assert [e.id for e in registry_service.list_entities(session, huangpu_staff).items] == [shop]
        assert {e.id for e in registry_service.list_entities(session, city_officer).items} == {shop, factory}
