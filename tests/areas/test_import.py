"""Importing areas (CSV, GeoJSON) and departments (CSV): all or nothing, or skipping bad rows."""

from __future__ import annotations

import json

import pytest

from yiwang.areas import errors
from yiwang.areas import service as areas_service
from yiwang.core.actor import SYSTEM
from yiwang.core.errors import PermissionDenied

from .conftest import audit_trail, rect


def csv_with(*lines: str) -> bytes:
    return ("code,name,level,parent_code,boundary_geojson\n" + "\n".join(lines) + "\n").encode()


def geo(x0: float, y0: float, x1: float, y1: float) -> str:
    """A rectangle as a quoted CSV cell."""
    return '"' + json.dumps(rect(x0, y0, x1, y1)).replace('"', '""') + '"'


def triples(errs) -> list[tuple[int, str, str]]:
    return [(e["row"], e["field"], e["problem"]) if isinstance(e, dict) else (e.row, e.field, e.problem) for e in errs]


class TestImportAreasCsv:
    def test_imports_a_tree_whose_parents_come_earlier(self, session):
        data = csv_with(
            f"31,上海市,city,,{geo(121, 31, 122, 32)}",
            f"310101,黄浦区,district,31,{geo(121, 31, 121.5, 31.5)}",
            f"310101002,南京东路街道,street,310101,{geo(121, 31, 121.5, 31.5)}",
            "310101013,外滩街道,street,310101,",
        )

        report = areas_service.import_areas(session, SYSTEM, data, "csv")

        assert (report.rows, report.created, report.skipped, report.errors) == (4, 4, 0, [])
        assert audit_trail(session, "area.import") == [("area.import", "ok", None, "31")]
        assert areas_service.subtree_codes(session, "31") == ["31", "310101", "310101002", "310101013"]
        assert areas_service.get_area(session, "310101002").max_lon == 121.5

    def test_refuses_the_whole_file_listing_every_bad_row(self, session):
        data = csv_with(
            f"31,上海市,city,,{geo(121, 31, 122, 32)}",               # line 2: good
            "3101011,黄浦区,district,31,",                              # line 3: code length
            "310104,徐汇区,county,31,",                                 # line 4: level
            "310105001,x,street,310105,",                               # line 5: parent missing
            "310106,静安区,district,31,{\"type\":\"Polygon\"}",          # line 6: bad JSON cell → bad boundary
            f"310107,普陀区,district,31,{geo(122.5, 31, 123, 31.5)}",    # line 7: outside parent
            "310107,普陀区,district,31,",                               # line 8: duplicate in file
            "31,上海,city,,",                                            # line 9: duplicate of line 2
            f"310109,虹口区,district,31,{geo(121, 31, 121.2, 31.2)}",    # line 10: good
        )

        with pytest.raises(errors.ImportRefused) as info:
            areas_service.import_areas(session, SYSTEM, data, "csv")

        assert info.value.code == "import_refused"
        assert info.value.params["count"] == 7
        assert triples(info.value.errors) == [
            (3, "code", "area_code_invalid"),
            (4, "level", "area_level_invalid"),
            (5, "parent_code", "area_parent_not_found"),
            (6, "boundary_geojson", "area_boundary_invalid"),
            (7, "boundary_geojson", "area_outside_parent"),
            (8, "code", "area_exists"),
            (9, "code", "area_exists"),
        ]
        assert info.value.errors[0]["message"] == "代码 3101011 不符合区县的要求：应为 6 位数字。"
        assert areas_service.existing_codes(session, ["31", "310109"]) == set()

    def test_skip_bad_rows_imports_the_rest(self, session):
        data = csv_with(
            f"31,上海市,city,,{geo(121, 31, 122, 32)}",
            "3101011,黄浦区,district,31,",
            "310104,徐汇区,district,31,",
            "310104001,x,street,3101011,",  # its parent was bad: not found
        )

        report = areas_service.import_areas(session, SYSTEM, data, "csv", skip_bad_rows=True)

        assert (report.rows, report.created, report.skipped, report.codes) == (4, 2, 2, ["31", "310104"])
        assert triples(report.errors) == [(3, "code", "area_code_invalid"), (5, "parent_code", "area_parent_not_found")]
        assert areas_service.existing_codes(session, ["31", "310104", "3101011"]) == {"31", "310104"}

    def test_row_numbers_are_file_lines_even_with_multiline_cells(self, session):
        data = b'code,name,level,parent_code\n31,"Shang\nhai",city,\n999,x,city,\n'
        with pytest.raises(errors.ImportRefused) as info:
            areas_service.import_areas(session, SYSTEM, data, "csv")
        assert triples(info.value.errors) == [(4, "code", "area_code_invalid")]

    def test_parent_in_the_database_counts(self, tree, session):
        report = areas_service.import_areas(session, SYSTEM, csv_with("310104005,x,street,310104,"), "csv")
        assert report.codes == ["310104005"]

    def test_missing_columns_is_a_format_error(self, session):
        with pytest.raises(errors.ImportFormatInvalid) as info:
            areas_service.import_areas(session, SYSTEM, b"code,name\n31,x\n", "csv")
        assert info.value.render("en") == "The file cannot be read as CSV: missing columns: level, parent_code."

    def test_staff_cannot_import_outside_their_subtree(self, tree, session, street_staff):
        data = csv_with("310101003,外滩街道,street,310101,", "310104003,x,street,310104,")
        with pytest.raises(PermissionDenied) as info:
            areas_service.import_areas(session, street_staff, data, "csv")
        assert info.value.area_code == "310104"
        assert areas_service.existing_codes(session, ["310101003", "310104003"]) == set()

    def test_import_makes_new_grids_locatable(self, tree, session):
        data = csv_with(
            f"310104001,s,street,310104,{geo(121.5, 31, 122, 32)}",
            f"310104001001,c,community,310104001,{geo(121.5, 31, 122, 32)}",
            f"310104001001001,g,grid,310104001001,{geo(121.5, 31, 122, 32)}",
        )
        assert areas_service.locate(session, 121.7, 31.7) is None
        areas_service.import_areas(session, SYSTEM, data, "csv")
        assert areas_service.locate(session, 121.7, 31.7).code == "310104001001001"


class TestImportAreasGeoJson:
    @staticmethod
    def collection(*features: tuple[dict, dict | None]) -> bytes:
        return json.dumps({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": p, "geometry": g} for p, g in features]}).encode()

    def test_imports_features_with_boundaries(self, session):
        data = self.collection(
            ({"code": "31", "name": "上海市", "level": "city", "parent_code": None}, rect(121, 31, 122, 32)),
            ({"code": 310101, "name": "黄浦区", "level": "district", "parent_code": "31"}, rect(121, 31, 121.5, 31.5)),
        )
        report = areas_service.import_areas(session, SYSTEM, data, "geojson")
        assert report.codes == ["31", "310101"]
        assert areas_service.boundary(session, "310101") == rect(121, 31, 121.5, 31.5)

    def test_reports_feature_indexes(self, session):
        bowtie = {"type": "Polygon", "coordinates": [[[121, 31], [121.2, 31.2], [121.2, 31], [121, 31.2], [121, 31]]]}
        data = self.collection(
            ({"code": "31", "name": "上海市", "level": "city"}, rect(121, 31, 122, 32)),
            ({"code": "310101", "name": "", "level": "district", "parent_code": "31"}, None),
            ({"code": "310104", "name": "徐汇区", "level": "district", "parent_code": "31"}, bowtie),
            ({"code": "310105", "name": "长宁区", "level": "district", "parent_code": "31"},
             {"type": "LineString", "coordinates": [[121, 31], [121.1, 31.1]]}),
        )
        with pytest.raises(errors.ImportRefused) as info:
            areas_service.import_areas(session, SYSTEM, data, "geojson")
        assert triples(info.value.errors) == [
            (1, "name", "area_name_invalid"),
            (2, "geometry", "area_boundary_invalid"),
            (3, "geometry", "area_boundary_invalid"),
        ]
        assert areas_service.existing_codes(session, ["31"]) == set()

    def test_not_a_feature_collection(self, session):
        with pytest.raises(errors.ImportFormatInvalid) as info:
            areas_service.import_areas(session, SYSTEM, b'{"type": "Feature"}', "geojson")
        assert info.value.params["reason"] == "not a FeatureCollection"


class TestImportDepartments:
    HEADER = "code,name,kind,area_code,parent_code\n"

    def test_imports_with_parents_earlier_in_the_file(self, tree, session):
        data = (self.HEADER + "31-SCJG,市场监管局,bureau,31,\n"
                "310101-SCJG,黄浦区市场监管局,bureau,310101,31-SCJG\n"
                "310101002-JDB,南京东路街道办事处,street_office,310101002,\n").encode()

        report = areas_service.import_departments(session, SYSTEM, data)

        assert (report.created, report.errors) == (3, [])
        city = areas_service.get_department_by_code(session, "31-SCJG")
        district = areas_service.get_department_by_code(session, "310101-SCJG")
        assert district.parent_id == city.id
        assert [d.code for d in areas_service.list_departments(session, "310101", subtree=True)] == [
            "310101-SCJG", "310101002-JDB"]

    def test_refuses_bad_rows(self, tree, session):
        areas_service.create_department(session, SYSTEM, code="31-SCJG", name="市场监管局", area_code="31")
        data = (self.HEADER + "31-SCJG,重复,bureau,31,\n"          # 2: exists
                "310101-X,x,palace,310101,\n"                      # 3: kind
                "310199-X,x,bureau,310199,\n"                      # 4: area
                "310101-Y,x,bureau,310101,NOPE\n"                  # 5: parent missing
                "31-Z,x,bureau,31,310101-Y\n"                      # 6: parent bad row → missing
                "31-W,x,bureau,31,\n").encode()                    # 7: good
        with pytest.raises(errors.ImportRefused) as info:
            areas_service.import_departments(session, SYSTEM, data)
        assert triples(info.value.errors) == [
            (2, "code", "department_exists"), (3, "kind", "department_kind_invalid"),
            (4, "area_code", "area_not_found"), (5, "parent", "department_parent_invalid"),
            (6, "parent", "department_parent_invalid"),
        ]
        assert [d.code for d in areas_service.list_departments(session)] == ["31-SCJG"]

    def test_parent_must_contain_the_area(self, tree, session):
        data = (self.HEADER + "310101-SCJG,x,bureau,310101,\n310104-SCJG,x,bureau,310104,310101-SCJG\n").encode()
        report = areas_service.import_departments(session, SYSTEM, data, skip_bad_rows=True)
        assert report.codes == ["310101-SCJG"]
        assert report.errors[0].message == "上级部门 310101-SCJG 在此不适用：其所属区划必须包含本部门的区划。"


class TestDepartments:
    def test_create_and_read(self, tree, session, sys_admin):
        made = areas_service.create_department(session, sys_admin, code="310101-SCJG", name="黄浦区市场监管局",
                                               area_code="310101")
        assert areas_service.get_department(session, made.id) == made
        assert areas_service.get_department_by_code(session, "310101-SCJG") == made
        assert areas_service.departments_by_codes(session, ["310101-SCJG", "nope"]) == {"310101-SCJG": made}

    def test_refuses_a_duplicate_code(self, tree, session):
        areas_service.create_department(session, SYSTEM, code="31-SCJG", name="x", area_code="31")
        with pytest.raises(errors.DepartmentExists):
            areas_service.create_department(session, SYSTEM, code="31-SCJG", name="y", area_code="31")

    def test_refuses_an_unknown_area_and_kind(self, tree, session):
        with pytest.raises(errors.AreaNotFound):
            areas_service.create_department(session, SYSTEM, code="32-SCJG", name="x", area_code="32")
        with pytest.raises(errors.DepartmentKindInvalid):
            areas_service.create_department(session, SYSTEM, code="31-SCJG", name="x", area_code="31", kind="x")

    def test_refuses_an_unknown_parent(self, tree, session):
        with pytest.raises(errors.DepartmentParentInvalid) as info:
            areas_service.create_department(session, SYSTEM, code="31-SCJG", name="x", area_code="31",
                                            parent_id="NOPE")
        assert info.value.params["reason"] == "it does not exist"

    def test_staff_of_a_district_cannot_create_in_another(self, tree, session, street_staff):
        with pytest.raises(PermissionDenied):
            areas_service.create_department(session, street_staff, code="310104-SCJG", name="x", area_code="310104")
        assert areas_service.list_departments(session) == []

    def test_unknown_department(self, session):
        with pytest.raises(errors.DepartmentNotFound) as info:
            areas_service.get_department_by_code(session, "NOPE")
        assert (info.value.code, info.value.status) == ("department_not_found", 404)
