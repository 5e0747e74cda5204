"""Areas: creation and its checks, reading the tree, and the point → grid look-up."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from yiwang.areas import errors, geo
from yiwang.areas import service as areas_service
from yiwang.areas.models import Area
from yiwang.core.actor import ANONYMOUS, SYSTEM
from yiwang.core.db import Database
from yiwang.core.errors import PermissionDenied

from .conftest import rect


def area_count(session) -> int:
    return session.scalar(select(func.count()).select_from(Area))


class TestCreateArea:
    def test_creates_a_district_under_its_city(self, session, sys_admin):
        areas_service.create_area(session, SYSTEM, code="31", name="上海市", level="city", boundary=rect(121, 31, 122, 32))

        got = areas_service.create_area(session, sys_admin, code="310101", name="黄浦区", level="district",
                                        parent_code="31", boundary=rect(121, 31, 121.5, 31.5))

        assert (got.code, got.name, got.level, got.parent_code, got.depth) == ("310101", "黄浦区", "district", "31", 1)
        assert (got.min_lon, got.min_lat, got.max_lon, got.max_lat) == (121, 31, 121.5, 31.5)
        assert (got.centroid_lon, got.centroid_lat) == (121.25, 31.25)
        assert areas_service.get_area(session, "310101") == got

    def test_area_without_boundary_is_allowed(self, session):
        areas_service.create_area(session, SYSTEM, code="31", name="上海市", level="city")

        assert areas_service.get_area(session, "31").min_lon is None
        assert areas_service.boundary(session, "31") is None

    @pytest.mark.parametrize(
        ("code", "level", "parent"),
        [("3101011", "district", "31"), ("31010", "district", "31"), ("3101010020", "street", "310101"),
         ("31a101", "district", "31"), ("310", "city", None)],
    )
    def test_refuses_a_code_of_the_wrong_length(self, tree, session, code, level, parent):
        with pytest.raises(errors.AreaCodeInvalid) as info:
            areas_service.create_area(session, SYSTEM, code=code, name="x", level=level, parent_code=parent)
        assert info.value.code == "area_code_invalid"
        assert areas_service.existing_codes(session, [code]) == set()

    def test_refuses_an_unknown_level(self, session):
        with pytest.raises(errors.AreaLevelInvalid) as info:
            areas_service.create_area(session, SYSTEM, code="31", name="上海市", level="province")
        assert info.value.code == "area_level_invalid"

    def test_refuses_a_code_that_does_not_extend_the_parent(self, tree, session):
        with pytest.raises(errors.AreaParentInvalid) as info:
            areas_service.create_area(session, SYSTEM, code="310104003", name="x", level="street",
                                      parent_code="310101")
        assert info.value.code == "area_parent_invalid"
        assert info.value.params["reason"] == "the code must extend the parent's code"

    def test_refuses_a_parent_of_the_wrong_level(self, tree, session):
        with pytest.raises(errors.AreaParentInvalid) as info:
            areas_service.create_area(session, SYSTEM, code="310101002001", name="x", level="community",
                                      parent_code="310101")
        assert info.value.params["reason"] == "the parent must be a street"

    def test_refuses_a_missing_parent(self, tree, session):
        with pytest.raises(errors.AreaParentNotFound) as info:
            areas_service.create_area(session, SYSTEM, code="310105", name="长宁区", level="district",
                                      parent_code="32")
        assert info.value.code == "area_parent_not_found"

    def test_refuses_a_district_without_parent(self, session):
        with pytest.raises(errors.AreaParentInvalid) as info:
            areas_service.create_area(session, SYSTEM, code="310101", name="黄浦区", level="district")
        assert info.value.params["reason"] == "only a city may have no parent"

    def test_refuses_an_existing_code(self, tree, session):
        with pytest.raises(errors.AreaExists) as info:
            areas_service.create_area(session, SYSTEM, code="310101", name="黄浦区", level="district",
                                      parent_code="31")
        assert (info.value.code, info.value.status) == ("area_exists", 409)

    @pytest.mark.parametrize(
        ("boundary", "reason"),
        [
            ({"type": "Point", "coordinates": [121, 31]}, "type must be Polygon or MultiPolygon"),
            ({"type": "Polygon", "coordinates": [[[121, 31], [121.1, 31], [121, 31]]]},
             "ring 0 of polygon 0 needs at least 4 positions"),
            ({"type": "Polygon", "coordinates": [[[121, 31], [121.1, 31], [121.1, 31.1], [121, 31.1]]]},
             "ring 0 of polygon 0 is not closed"),
            (rect(200, 31, 201, 32), "ring 0 of polygon 0 has a position outside WGS-84 ranges"),
            ({"type": "Polygon", "coordinates": [[[121, 31], [121.2, 31.2], [121.2, 31], [121, 31.2], [121, 31]]]},
             "the geometry is not valid: Self-intersection[121.1 31.1]"),
        ],
    )
    def test_refuses_a_bad_boundary(self, tree, session, boundary, reason):
        with pytest.raises(errors.AreaBoundaryInvalid) as info:
            areas_service.create_area(session, SYSTEM, code="310101003", name="x", level="street",
                                      parent_code="310101", boundary=boundary)
        assert info.value.code == "area_boundary_invalid"
        assert info.value.render("en") == f"The boundary is not a valid GeoJSON polygon in WGS-84: {reason}."

    def test_refuses_a_boundary_outside_the_parent(self, tree, session):
        with pytest.raises(errors.AreaOutsideParent) as info:
            areas_service.create_area(session, SYSTEM, code="310101003", name="x", level="street",
                                      parent_code="310101", boundary=rect(121.4, 31.5, 121.6, 31.6))
        assert info.value.code == "area_outside_parent"

    def test_accepts_a_sliver_outside_the_parent(self, tree, session):
        # 0.5 % of the street's area lies east of its district: within the tolerance.
        got = areas_service.create_area(session, SYSTEM, code="310101003", name="x", level="street",
                                        parent_code="310101", boundary=rect(121.3, 31.5, 121.501, 31.6))
        assert got.code == "310101003"

    def test_staff_of_one_district_cannot_create_under_another(self, tree, session, street_staff):
        before = area_count(session)

        with pytest.raises(PermissionDenied) as info:
            areas_service.create_area(session, street_staff, code="310104003", name="x", level="street",
                                      parent_code="310104")

        assert (info.value.permission, info.value.area_code) == ("area.manage", "310104")
        assert area_count(session) == before

    def test_staff_of_a_district_may_create_inside_it(self, tree, session, street_staff):
        got = areas_service.create_area(session, street_staff, code="310101003", name="外滩街道", level="street",
                                        parent_code="310101")
        assert got.parent_code == "310101"

    def test_anonymous_cannot_create(self, session):
        with pytest.raises(PermissionDenied):
            areas_service.create_area(session, ANONYMOUS, code="31", name="上海市", level="city")
        assert area_count(session) == 0


class TestReadTree:
    def test_children_in_code_order(self, tree, session):
        assert [a.code for a in areas_service.children(session, "31")] == ["310101", "310104"]

    def test_children_of_unknown_area_is_not_found(self, session):
        with pytest.raises(errors.AreaNotFound) as info:
            areas_service.children(session, "99")
        assert (info.value.code, info.value.status) == ("area_not_found", 404)

    def test_ancestors_from_the_top(self, tree, session):
        got = areas_service.ancestors(session, "310101002001002")
        assert [a.code for a in got] == ["31", "310101", "310101002", "310101002001"]

    def test_ancestors_of_a_city_is_empty(self, tree, session):
        assert areas_service.ancestors(session, "31") == []

    def test_subtree_codes_with_and_without_level(self, tree, session):
        assert areas_service.subtree_codes(session, "310101") == [
            "310101", "310101002", "310101002001", "310101002001001", "310101002001002"]
        assert areas_service.subtree_codes(session, "31", level="grid") == ["310101002001001", "310101002001002"]

    def test_existing_codes_in_chunks(self, tree, session):
        asked = ["310101", "310104", "310199"] + [f"x{i}" for i in range(1200)]
        assert areas_service.existing_codes(session, asked) == {"310101", "310104"}

    def test_get_unknown_area(self, session):
        with pytest.raises(errors.AreaNotFound):
            areas_service.get_area(session, "310101")

    def test_children_geojson_has_each_child_boundary(self, tree, session):
        got = areas_service.children_geojson(session, "310101002001")
        assert got["type"] == "FeatureCollection"
        assert [f["properties"]["code"] for f in got["features"]] == ["310101002001001", "310101002001002"]
        assert got["features"][0]["geometry"] == rect(121, 31, 121.25, 31.5)


class TestLocate:
    def test_point_inside_a_grid(self, tree, session):
        assert areas_service.locate(session, 121.1, 31.2).code == "310101002001001"
        assert areas_service.locate(session, 121.4, 31.2).code == "310101002001002"

    def test_point_outside_every_grid_is_none(self, tree, session):
        assert areas_service.locate(session, 121.7, 31.7) is None  # in the city, in no grid
        assert areas_service.locate(session, 100.0, 20.0) is None

    def test_point_on_a_shared_edge_goes_to_the_lower_code(self, tree, session):
        for _ in range(3):
            assert areas_service.locate(session, 121.25, 31.2).code == "310101002001001"

    def test_point_on_the_outer_edge_is_inside(self, tree, session):
        assert areas_service.locate(session, 121.5, 31.5).code == "310101002001002"

    def test_non_rectangular_grid(self, tree, session):
        # A triangle in a new community: its bounding box holds points that are not in it.
        areas_service.create_area(session, SYSTEM, code="310101002002", name="c2", level="community",
                                  parent_code="310101002", boundary=rect(121, 31, 121.5, 31.5))
        areas_service.create_area(session, SYSTEM, code="310101002002001", name="tri", level="grid",
                                  parent_code="310101002002", boundary={
                                      "type": "Polygon",
                                      "coordinates": [[[121.0, 31.0], [121.1, 31.0], [121.0, 31.1], [121.0, 31.0]]]})
        # The grids of community 001 cover the triangle too; the lower code wins there.
        assert areas_service.locate(session, 121.02, 31.02).code == "310101002001001"
        areas_service.create_area(session, SYSTEM, code="310104001", name="s", level="street",
                                  parent_code="310104", boundary=rect(121.5, 31, 122, 32))
        areas_service.create_area(session, SYSTEM, code="310104001001", name="c", level="community",
                                  parent_code="310104001", boundary=rect(121.5, 31, 122, 32))
        areas_service.create_area(session, SYSTEM, code="310104001001001", name="tri", level="grid",
                                  parent_code="310104001001", boundary={
                                      "type": "Polygon",
                                      "coordinates": [[[121.6, 31.6], [121.8, 31.6], [121.6, 31.8], [121.6, 31.6]]]})
        assert areas_service.locate(session, 121.65, 31.65).code == "310104001001001"
        assert areas_service.locate(session, 121.78, 31.78) is None

    def test_gcj02_point_is_converted_first(self, tree, session):
        # WGS-84 121.249 lies in the west grid; its GCJ-02 form is ~450 m east, in the east grid.
        g_lon, g_lat = geo.wgs84_to_gcj02(121.249, 31.2)
        assert g_lon > 121.25
        assert areas_service.locate(session, g_lon, g_lat, crs="gcj02").code == "310101002001001"
        assert areas_service.locate(session, g_lon, g_lat).code == "310101002001002"

    def test_unknown_crs_is_refused(self, tree, session):
        with pytest.raises(errors.CrsInvalid) as info:
            areas_service.locate(session, 121.1, 31.2, crs="bd09")
        assert info.value.code == "crs_invalid"

    def test_not_a_number_is_nowhere(self, tree, session):
        assert areas_service.locate(session, float("nan"), 31.2) is None

    def test_change_in_this_process_is_seen_at_once(self, tree, session, clock):
        assert areas_service.locate(session, 121.7, 31.7) is None
        add_grid_east(session)
        assert areas_service.locate(session, 121.7, 31.7).code == "310104001001001"

    def test_change_by_another_process_is_seen_within_a_second(self, tree, db, settings, clock):
        with db.transaction(write=False) as reader:
            assert areas_service.locate(reader, 121.7, 31.7) is None
        other = Database(settings)  # another engine stands for another app process
        with other.transaction() as writer:
            add_grid_east(writer)
        other.dispose()

        clock[0] += 0.5
        with db.transaction(write=False) as reader:
            stale = areas_service.locate(reader, 121.7, 31.7)
        clock[0] += 0.6
        with db.transaction(write=False) as reader:
            fresh = areas_service.locate(reader, 121.7, 31.7)

        assert stale is None  # not yet re-checked: no query per look-up
        assert fresh.code == "310104001001001"

    def test_rolled_back_change_is_forgotten(self, tree, session, clock):
        add_grid_east(session)
        assert areas_service.locate(session, 121.7, 31.7).code == "310104001001001"
        session.rollback()
        assert areas_service.locate(session, 121.7, 31.7) is None


def add_grid_east(session) -> None:
    areas_service.create_area(session, SYSTEM, code="310104001", name="s", level="street",
                              parent_code="310104", boundary=rect(121.5, 31, 122, 32))
    areas_service.create_area(session, SYSTEM, code="310104001001", name="c", level="community",
                              parent_code="310104001", boundary=rect(121.5, 31, 122, 32))
    areas_service.create_area(session, SYSTEM, code="310104001001001", name="g", level="grid",
                              parent_code="310104001001", boundary=rect(121.5, 31.5, 122, 32))


class TestGcj02:
    # Published reference pairs (WGS-84 → GCJ-02) for Shanghai, Shenzhen and Beijing.
    PAIRS = [
        ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),
        ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),
        ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),
    ]

    @staticmethod
    def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
        import math

        dx = (a[0] - b[0]) * 111_320 * math.cos(math.radians(a[1]))
        dy = (a[1] - b[1]) * 110_574
        return math.hypot(dx, dy)

    @pytest.mark.parametrize(("wgs", "gcj"), PAIRS)
    def test_forward_matches_reference(self, wgs, gcj):
        assert self.metres(geo.wgs84_to_gcj02(*wgs), gcj) < 0.01

    @pytest.mark.parametrize(("wgs", "gcj"), PAIRS)
    def test_inverse_within_a_metre(self, wgs, gcj):
        assert self.metres(geo.gcj02_to_wgs84(*gcj), wgs) < 1.0

    def test_outside_china_is_unchanged(self):
        assert geo.gcj02_to_wgs84(2.35, 48.85) == (2.35, 48.85)
        assert geo.wgs84_to_gcj02(2.35, 48.85) == (2.35, 48.85)
