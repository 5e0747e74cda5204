"""The demo geography of 上海市."""

from __future__ import annotations

import pytest
from shapely.geometry import shape

from yiwang.areas import errors
from yiwang.areas import service as areas_service
from yiwang.demo.city import DISTRICTS, load_city

REAL_DISTRICTS = {
    "310101": "黄浦区", "310104": "徐汇区", "310105": "长宁区", "310106": "静安区", "310107": "普陀区",
    "310109": "虹口区", "310110": "杨浦区", "310112": "闵行区", "310113": "宝山区", "310114": "嘉定区",
    "310115": "浦东新区", "310116": "金山区", "310117": "松江区", "310118": "青浦区", "310120": "奉贤区",
    "310151": "崇明区",
}


@pytest.fixture
def city(session) -> dict:
    summary = load_city(session)
    session.commit()
    return summary


class TestLoadCity:
    def test_has_the_real_districts(self, city, session):
        assert {a.code: a.name for a in areas_service.children(session, "31")} == REAL_DISTRICTS
        assert city["district_codes"] == list(REAL_DISTRICTS)
        assert areas_service.get_area(session, "31").name == "上海市"

    def test_counts(self, city, session):
        assert city["counts"] == {"cities": 1, "districts": 16, "streets": 74, "communities": 148, "grids": 592,
                                  "areas": 831, "departments": 11 + 16 * 9 + 74}
        assert areas_service.count_by_level(session) == {"city": 1, "district": 16, "street": 74,
                                                         "community": 148, "grid": 592}
        assert len(city["grid_codes"]) == len(set(city["grid_codes"])) >= 500

    def test_every_grid_is_located_by_its_own_centroid(self, city, session):
        wrong = []
        for code in city["grid_codes"]:
            grid = areas_service.get_area(session, code)
            found = areas_service.locate(session, grid.centroid_lon, grid.centroid_lat)
            if found is None or found.code != code:
                wrong.append(code)
        assert wrong == []

    def test_districts_do_not_overlap(self):
        shapes = [shape({"type": "Polygon", "coordinates": [ring]}) for _, ring in DISTRICTS.values()]
        overlaps = [(i, j) for i in range(len(shapes)) for j in range(i + 1, len(shapes))
                    if shapes[i].intersection(shapes[j]).area > 0]
        assert overlaps == []

    def test_real_streets_and_a_known_point(self, city, session):
        assert [a.name for a in areas_service.children(session, "310101")] == [
            "南京东路街道", "外滩街道", "豫园街道", "打浦桥街道", "淮海中路街道"]
        # People's Square area, WGS-84: inside 黄浦区 in the demo geography.
        found = areas_service.locate(session, 121.475, 31.232)
        assert found.code.startswith("310101")
        assert [a.code for a in areas_service.ancestors(session, found.code)][:2] == ["31", "310101"]

    def test_departments(self, city, session):
        city_bureau = areas_service.get_department_by_code(session, "31-SCJG")
        district = areas_service.get_department_by_code(session, "310101-SCJG")
        office = areas_service.get_department_by_code(session, "310101002-JDB")
        assert (city_bureau.name, city_bureau.area_code) == ("上海市市场监督管理局", "31")
        assert (district.name, district.parent_id) == ("黄浦区市场监督管理局", city_bureau.id)
        assert (office.name, office.kind, office.area_code) == ("南京东路街道办事处", "street_office", "310101002")
        assert areas_service.get_department_by_code(session, "310112101-JDB").name == "莘庄镇人民政府"
        assert {d.code for d in areas_service.list_departments(session, "31")} == {
            "31-SCJG", "31-WJW", "31-LHSR", "31-SWJ", "31-CGZF", "31-GAJ", "31-XFJY", "31-ZJW", "31-12345",
            "31-CYZX", "31-SJJ"}
        assert len(areas_service.list_departments(session, "310115")) == 9

    def test_refuses_to_load_twice(self, city, session):
        with pytest.raises(errors.CityExists) as info:
            load_city(session)
        assert info.value.code == "city_exists"
        assert areas_service.count_by_level(session)["grid"] == 592
