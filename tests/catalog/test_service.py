"""Catalogue service: versions, checks of bad items, bundles and merged forms, import and export."""

from __future__ import annotations

import copy

import pytest
import yaml
from sqlalchemy import func, select

from yiwang.catalog import errors
from yiwang.catalog import service as catalog_service
from yiwang.catalog.models import ServiceItemVersion
from yiwang.core.actor import ANONYMOUS, SYSTEM
from yiwang.core.db import Base, Database
from yiwang.core.errors import AuthenticationRequired, PermissionDenied
from yiwang.core.settings import Settings

from .conftest import FORM, item_data, make_departments


def version_count(session) -> int:
    return session.scalar(select(func.count()).select_from(ServiceItemVersion))


def problems(exc: errors.ItemInvalid) -> list[tuple[str, str]]:
    return [(e["field"], e["problem"]) for e in exc.errors]


class TestVersions:
    def test_creates_an_item_with_its_first_published_version(self, session, departments, manager):
        got = catalog_service.create_item(session, manager, "SCJG-900", item_data())

        assert (got.code, got.version, got.current, got.status, got.name) == ("SCJG-900", 1, True, "published", "测试许可")
        assert (got.legal_limit_days, got.promised_limit_days, got.online_depth, got.kind) == (20, 10, 4, "licence")
        assert got.materials[0].stand_in == {"registry": "person"}
        assert got.certificate_type is not None and got.certificate_type.code == "TST"
        assert catalog_service.get_item(session, "SCJG-900") == got

    def test_a_new_version_leaves_the_old_one_intact_and_becomes_current(self, session, departments, manager):
        first = catalog_service.create_item(session, manager, "SCJG-900", item_data())

        second = catalog_service.publish_item_version(session, manager, "SCJG-900", item_data(
            name="测试许可（新）", promised_limit_days=5))

        old = catalog_service.get_item(session, "SCJG-900", version=1)
        assert (second.version, second.current, second.promised_limit_days) == (2, True, 5)
        assert (old.id, old.name, old.promised_limit_days, old.current, old.status) == (
            first.id, "测试许可", 10, False, "retired")
        assert catalog_service.get_item(session, "SCJG-900").id == second.id
        assert catalog_service.get_item_version(session, first.id).name == "测试许可"
        assert [v.version for v in catalog_service.item_versions(session, "SCJG-900")] == [2, 1]

    def test_refuses_a_code_that_exists(self, session, departments, manager):
        catalog_service.create_item(session, manager, "SCJG-900", item_data())

        with pytest.raises(errors.ItemExists):
            catalog_service.create_item(session, manager, "SCJG-900", item_data())
        assert version_count(session) == 1

    def test_new_version_of_an_unknown_item_is_not_found(self, session, departments, manager):
        with pytest.raises(errors.ItemNotFound):
            catalog_service.publish_item_version(session, manager, "NOPE-1", item_data())

    def test_unknown_version_number_is_not_found(self, session, departments, manager):
        catalog_service.create_item(session, manager, "SCJG-900", item_data())

        with pytest.raises(errors.ItemVersionNotFound):
            catalog_service.get_item(session, "SCJG-900", version=7)


class TestAccess:
    def test_clerk_may_not_publish(self, session, departments, clerk):
        with pytest.raises(PermissionDenied):
            catalog_service.create_item(session, clerk, "SCJG-900", item_data())
        assert version_count(session) == 0

    def test_anonymous_must_sign_in(self, session, departments):
        with pytest.raises(AuthenticationRequired):
            catalog_service.create_item(session, ANONYMOUS, "SCJG-900", item_data())

    def test_district_manager_may_not_publish_a_city_bureau_item(self, session, departments, district_manager):
        with pytest.raises(PermissionDenied):
            catalog_service.create_item(session, district_manager, "SCJG-900", item_data())
        assert version_count(session) == 0

    def test_district_manager_may_publish_a_district_bureau_item(self, session, departments, district_manager):
        got = catalog_service.create_item(session, district_manager, "HP-900", item_data(
            department="310101-SCJG", areas=["310101"]))

        assert got.department_code == "310101-SCJG"


class TestItemChecks:
    @pytest.mark.parametrize(("over", "expected"), [
        ({"form": {"type": "object", "properties": {"a": {"type": "strng"}}}}, [("form", "catalog_form_schema_invalid")]),
        ({"form": {"type": "array"}}, [("form", "catalog_form_schema_invalid")]),
        ({"promised_limit_days": 30}, [("promised_limit_days", "catalog_limits_invalid")]),
        ({"department": "31-NOPE"}, [("department", "catalog_department_not_found")]),
        ({"materials": [{"code": "x", "name": "某证", "stand_in": {"certificate": "UNKNOWN"}}]},
         [("materials[1].stand_in", "catalog_stand_in_invalid")]),
        ({"materials": [{"code": "x", "name": "某证", "stand_in": {"registry": "car"}}]},
         [("materials[1].stand_in", "catalog_stand_in_invalid")]),
        ({"kind": "permit"}, [("kind", "catalog_kind_invalid")]),
        ({"online_depth": 5}, [("online_depth", "catalog_depth_invalid")]),
        ({"name": ""}, [("name", "catalog_field_invalid")]),
    ])
    def test_refuses_a_bad_item_with_the_field_and_code(self, session, departments, manager, over, expected):
        with pytest.raises(errors.ItemInvalid) as caught:
            catalog_service.create_item(session, manager, "SCJG-900", item_data(**over))

        assert caught.value.code == "catalog_invalid"
        assert problems(caught.value) == expected
        assert version_count(session) == 0

    def test_reports_every_problem_at_once(self, session, departments, manager):
        with pytest.raises(errors.ItemInvalid) as caught:
            catalog_service.create_item(session, manager, "bad code!", item_data(
                department="31-NOPE", promised_limit_days=99))

        assert problems(caught.value) == [("code", "catalog_code_invalid"),
                                          ("department", "catalog_department_not_found"),
                                          ("promised_limit_days", "catalog_limits_invalid")]
        assert caught.value.errors[2]["message"] == "承诺时限（99 个工作日）不得超过法定时限（20 个工作日）。"

    def test_layout_naming_a_missing_field_is_refused(self, session, departments, manager):
        form = copy.deepcopy(FORM)
        form["x-layout"]["widgets"]["nothing"] = "textarea"

        with pytest.raises(errors.ItemInvalid) as caught:
            catalog_service.create_item(session, manager, "SCJG-900", item_data(form=form))
        assert problems(caught.value) == [("form", "catalog_form_layout_invalid")]

    def test_stand_in_by_a_certificate_another_item_issues(self, session, departments, manager):
        catalog_service.create_item(session, manager, "SCJG-900", item_data())

        got = catalog_service.create_item(session, manager, "SCJG-901", item_data(
            certificate_type=None,
            materials=[{"code": "licence", "name": "测试许可证", "stand_in": {"certificate": "TST"}}]))

        assert got.materials[0].stand_in == {"certificate": "TST"}


class TestBundles:
    def _two_items(self, session, actor, second_form=None):
        catalog_service.create_item(session, actor, "SCJG-900", item_data())
        form = second_form or {
            "type": "object",
            "properties": {"applicant_name": {"type": "string", "title": "姓名", "minLength": 2, "maxLength": 50},
                           "sign_text": {"type": "string", "title": "招牌文字"}},
            "required": ["applicant_name", "sign_text"]}
        catalog_service.create_item(session, actor, "LHSR-900", item_data(department="31-LHSR", name="招牌", form=form))

    def test_merged_form_asks_a_shared_field_once(self, session, departments, manager):
        self._two_items(session, manager)
        catalog_service.create_bundle(session, manager, "YJS-900", {"name": "开个店", "items": ["SCJG-900", "LHSR-900"],
                                                                   "keywords": ["开店"]})

        merged = catalog_service.merged_form(session, "YJS-900")

        assert list(merged.form["properties"]) == ["applicant_name", "id_number", "mobile", "floor_area", "category",
                                                  "shop_code", "sign_text"]
        assert merged.sources["applicant_name"] == ["SCJG-900", "LHSR-900"]
        assert merged.sources["sign_text"] == ["LHSR-900"]
        assert merged.form["required"] == ["applicant_name", "id_number", "mobile", "sign_text"]
        titles = [g["title"] for g in merged.form["x-layout"]["groups"]]
        assert titles == ["申请人", "测试许可", "招牌"]

    def test_conflicting_definitions_are_refused_at_publish(self, session, departments, manager):
        self._two_items(session, manager, second_form={
            "type": "object", "properties": {"mobile": {"type": "string", "title": "电话", "pattern": "^[0-9]+$"}}})

        with pytest.raises(errors.ItemInvalid) as caught:
            catalog_service.create_bundle(session, manager, "YJS-900", {"name": "开个店",
                                                                       "items": ["SCJG-900", "LHSR-900"]})
        assert problems(caught.value) == [("items", "catalog_form_conflict")]
        assert catalog_service.list_bundles(session) == []

    def test_a_new_item_version_that_breaks_a_bundle_is_refused(self, session, departments, manager):
        self._two_items(session, manager)
        catalog_service.create_bundle(session, manager, "YJS-900", {"name": "开个店", "items": ["SCJG-900", "LHSR-900"]})
        bad = {"type": "object", "properties": {"applicant_name": {"type": "integer"}}}

        with pytest.raises(errors.ItemInvalid) as caught:
            catalog_service.publish_item_version(session, manager, "LHSR-900", item_data(
                department="31-LHSR", name="招牌", form=bad))
        assert problems(caught.value) == [("form", "catalog_form_conflict")]
        assert catalog_service.get_item(session, "LHSR-900").version == 1

    def test_unknown_item_in_a_bundle_is_refused(self, session, departments, manager):
        with pytest.raises(errors.ItemInvalid) as caught:
            catalog_service.create_bundle(session, manager, "YJS-900", {"name": "x", "items": ["NOPE-1"]})
        assert problems(caught.value) == [("items", "catalog_bundle_item_not_found")]

    def test_bundle_versions(self, session, departments, manager):
        self._two_items(session, manager)
        catalog_service.create_bundle(session, manager, "YJS-900", {"name": "开个店", "items": ["SCJG-900"]})

        catalog_service.publish_bundle_version(session, manager, "YJS-900", {"name": "开个店",
                                                                            "items": ["SCJG-900", "LHSR-900"]})

        assert catalog_service.get_bundle(session, "YJS-900").item_codes == ["SCJG-900", "LHSR-900"]
        assert catalog_service.get_bundle(session, "YJS-900", version=1).item_codes == ["SCJG-900"]


class TestListItems:
    def test_filters_and_pages(self, session, demo):
        page = catalog_service.list_items(session, department="31-GAJ", limit=4)

        assert [i.code for i in page.items] == ["GAJ-001", "GAJ-002", "GAJ-003", "GAJ-004"]
        assert page.next_cursor == "GAJ-004"
        rest = catalog_service.list_items(session, department="31-GAJ", cursor=page.next_cursor, limit=50)
        assert [i.code for i in rest.items] == ["GAJ-005", "GAJ-006", "GAJ-007", "GAJ-008", "GAJ-009"]
        assert rest.next_cursor is None
        assert {i.kind for i in catalog_service.list_items(session, kind="benefit").items} == {"benefit"}


class TestDemoCatalogue:
    def test_has_fifty_items_and_the_restaurant_bundle(self, session, demo):
        assert demo == {"items": 55, "bundles": 4}
        bundle = catalog_service.get_bundle(session, "YJS-001")
        assert (bundle.name, bundle.item_codes) == ("开办餐饮店", ["SCJG-001", "SCJG-003", "LHSR-001"])
        names = [catalog_service.get_item(session, c).certificate_type.code for c in bundle.item_codes]
        assert names == ["BL", "FBL", "SIGN"]
        merged = catalog_service.merged_form(session, "YJS-001")
        assert merged.sources["applicant_name"] == ["SCJG-001", "SCJG-003", "LHSR-001"]


class TestImportExport:
    def test_round_trip_into_an_empty_database(self, session, demo, db, settings):
        text = catalog_service.export_catalog(session, "yaml")
        doc = yaml.safe_load(text)
        assert len(doc["items"]) == 55 and len(doc["bundles"]) == 4

        other_settings = Settings(**{**settings.model_dump(), "database_url": f"sqlite:///{settings.var_dir}/other.db"})
        other = Database(other_settings, poolless=True)
        Base.metadata.create_all(other.engine)
        with other.transaction() as s2:
            make_departments(s2)
            report = catalog_service.import_catalog(s2, SYSTEM, text, "yaml")
        with other.transaction() as s2:
            again = catalog_service.export_catalog(s2, "yaml")
        other.dispose()

        assert (report.items_created, report.bundles_created, report.errors) == (55, 4, [])
        assert again == text

    def test_import_of_the_same_catalogue_changes_nothing(self, session, demo):
        before = version_count(session)

        report = catalog_service.import_catalog(session, SYSTEM, catalog_service.export_catalog(session, "json"), "json")

        assert (report.items_unchanged, report.bundles_unchanged, report.items_updated) == (55, 4, 0)
        assert version_count(session) == before

    def test_bad_entries_refuse_the_whole_file(self, session, departments):
        doc = {"items": [{"code": "A-1", **item_data()}, {"code": "B-1", **item_data(promised_limit_days=99)},
                         {"code": "C-1", **item_data(department="31-NOPE")}],
               "bundles": [{"code": "Y-1", "name": "x", "items": ["A-1", "B-1"]}]}

        with pytest.raises(errors.ImportRefused) as caught:
            catalog_service.import_catalog(session, SYSTEM, yaml.safe_dump(doc, allow_unicode=True), "yaml")

        assert [(e["entry"], e["field"], e["problem"]) for e in caught.value.errors] == [
            ("item B-1", "promised_limit_days", "catalog_limits_invalid"),
            ("item C-1", "department", "catalog_department_not_found"),
            ("bundle Y-1", "items", "catalog_bundle_item_not_found")]
        assert version_count(session) == 0

    def test_skip_bad_imports_the_good_entries(self, session, departments):
        doc = {"items": [{"code": "A-1", **item_data()}, {"code": "B-1", **item_data(kind="x")}]}

        report = catalog_service.import_catalog(session, SYSTEM, yaml.safe_dump(doc, allow_unicode=True), "yaml",
                                                skip_bad=True)

        assert (report.items_created, report.skipped) == (1, 1)
        assert [(e.entry, e.problem) for e in report.errors] == [("item B-1", "catalog_kind_invalid")]
        assert catalog_service.get_item(session, "A-1").version == 1

    def test_unreadable_file_is_refused(self, session, departments):
        with pytest.raises(errors.ImportFormatInvalid):
            catalog_service.import_catalog(session, SYSTEM, "{not json", "json")

    def test_clerk_may_not_import(self, session, departments, clerk):
        with pytest.raises(PermissionDenied):
            catalog_service.import_catalog(session, clerk, "items: []", "yaml")
