"""The areas JSON API: public reads, guarded changes, the import upload."""

from __future__ import annotations

import json

from yiwang.areas import service as areas_service
from yiwang.core.actor import SYSTEM

from .conftest import audit_trail, rect


class TestReadApi:
    def test_anonymous_reads_an_area(self, tree, client):
        got = client.get("/api/v1/areas/310101")
        assert got.status_code == 200
        assert got.json() == {
            "code": "310101", "name": "黄浦区", "level": "district", "parent_code": "31", "depth": 1,
            "min_lon": 121.0, "min_lat": 31.0, "max_lon": 121.5, "max_lat": 32.0,
            "centroid_lon": 121.25, "centroid_lat": 31.5,
        }

    def test_unknown_area_is_404_with_code(self, client):
        got = client.get("/api/v1/areas/99")
        assert got.status_code == 404
        assert got.json()["error"] == "area_not_found"

    def test_children_and_ancestors(self, tree, client):
        assert [a["code"] for a in client.get("/api/v1/areas/31/children").json()] == ["310101", "310104"]
        assert [a["code"] for a in client.get("/api/v1/areas/310101002/ancestors").json()] == ["31", "310101"]
        assert [a["code"] for a in client.get("/api/v1/areas").json()] == ["31"]

    def test_geojson_of_the_children(self, tree, client):
        got = client.get("/api/v1/areas/310101002001/geojson")
        assert got.headers["content-type"] == "application/geo+json"
        body = got.json()
        assert [f["id"] for f in body["features"]] == ["310101002001001", "310101002001002"]
        assert body["features"][1]["geometry"] == rect(121.25, 31, 121.5, 31.5)

    def test_locate_wgs84_and_outside(self, tree, client):
        assert client.get("/api/v1/areas/locate", params={"lon": 121.1, "lat": 31.2}).json()["code"] == "310101002001001"
        outside = client.get("/api/v1/areas/locate", params={"lon": 121.7, "lat": 31.7})
        assert (outside.status_code, outside.json()["error"]) == (404, "area_not_found")

    def test_locate_gcj02(self, tree, client):
        from yiwang.areas import geo

        lon, lat = geo.wgs84_to_gcj02(121.249, 31.2)
        got = client.get("/api/v1/areas/locate", params={"lon": lon, "lat": lat, "crs": "gcj02"})
        assert got.json()["code"] == "310101002001001"

    def test_locate_refuses_unknown_crs(self, tree, client):
        got = client.get("/api/v1/areas/locate", params={"lon": 121.1, "lat": 31.2, "crs": "bd09"})
        assert (got.status_code, got.json()["error"]) == (422, "validation_failed")


class TestCreateAreaApi:
    def test_admin_creates_a_street(self, tree, client, as_actor, sys_admin):
        as_actor(sys_admin)
        got = client.post("/api/v1/areas", json={
            "code": "310104003", "name": "徐家汇街道", "level": "street", "parent_code": "310104",
            "boundary": rect(121.5, 31, 121.6, 31.1)})
        assert got.status_code == 201
        assert got.json()["code"] == "310104003"
        assert client.get("/api/v1/areas/310104003").status_code == 200

    def test_creation_is_audited(self, tree, client, as_actor, sys_admin, session):
        as_actor(sys_admin)
        client.post("/api/v1/areas", json={"code": "310104003", "name": "徐家汇街道", "level": "street",
                                           "parent_code": "310104"})
        assert audit_trail(session, "area.create")[-1] == ("area.create", "ok", "310104003", "310104003")

    def test_anonymous_is_refused(self, tree, client, session):
        got = client.post("/api/v1/areas", json={"code": "310104003", "name": "x", "level": "street",
                                                  "parent_code": "310104"})
        assert (got.status_code, got.json()["error"]) == (403, "permission_denied")
        assert areas_service.existing_codes(session, ["310104003"]) == set()

    def test_staff_of_310101_cannot_create_under_310104(self, tree, client, as_actor, street_staff, session):
        as_actor(street_staff)
        got = client.post("/api/v1/areas", json={"code": "310104003", "name": "x", "level": "street",
                                                  "parent_code": "310104"})
        assert (got.status_code, got.json()["error"]) == (403, "permission_denied")
        assert areas_service.existing_codes(session, ["310104003"]) == set()
        assert [a.code for a in areas_service.children(session, "310104")] == []
        assert audit_trail(session, "area.manage") == [("area.manage", "denied", "310104003", "310104")]

    def test_bad_code_is_422_with_its_code(self, tree, client, as_actor, sys_admin):
        as_actor(sys_admin)
        got = client.post("/api/v1/areas", json={"code": "3101040", "name": "x", "level": "street",
                                                  "parent_code": "310104"})
        assert (got.status_code, got.json()["error"]) == (422, "area_code_invalid")


class TestImportApi:
    CSV = "code,name,level,parent_code\n310104003,徐家汇街道,street,310104\n310104004,天平路街道,street,310104\n"

    def test_admin_imports_csv(self, tree, client, as_actor, sys_admin):
        as_actor(sys_admin)
        got = client.post("/api/v1/areas/import", files={"file": ("a.csv", self.CSV.encode(), "text/csv")})
        assert got.status_code == 200
        assert got.json() == {"rows": 2, "created": 2, "skipped": 0, "errors": [],
                              "codes": ["310104003", "310104004"]}

    def test_bad_row_refuses_the_file(self, tree, client, as_actor, sys_admin, session):
        as_actor(sys_admin)
        data = self.CSV + "31010400,短码,street,310104\n"
        got = client.post("/api/v1/areas/import", files={"file": ("a.csv", data.encode(), "text/csv")})
        assert got.status_code == 422
        body = got.json()
        assert body["error"] == "import_refused"
        assert [(e["row"], e["field"], e["problem"]) for e in body["errors"]] == [(4, "code", "area_code_invalid")]
        assert areas_service.existing_codes(session, ["310104003", "310104004"]) == set()

    def test_geojson_upload_with_skip(self, tree, client, as_actor, sys_admin):
        as_actor(sys_admin)
        doc = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": rect(121.5, 31, 121.6, 31.1),
             "properties": {"code": "310104003", "name": "徐家汇街道", "level": "street", "parent_code": "310104"}},
            {"type": "Feature", "geometry": rect(121.5, 31, 121.6, 31.1),
             "properties": {"code": "310104004", "name": "x", "level": "street", "parent_code": "310199"}},
        ]}
        got = client.post("/api/v1/areas/import", data={"skip_bad_rows": "true"},
                          files={"file": ("a.geojson", json.dumps(doc).encode(), "application/geo+json")})
        assert got.status_code == 200
        body = got.json()
        assert (body["created"], body["skipped"], body["codes"]) == (1, 1, ["310104003"])
        assert [(e["row"], e["field"], e["problem"]) for e in body["errors"]] == [
            (1, "parent_code", "area_parent_not_found")]

    def test_anonymous_cannot_import(self, tree, client, session):
        got = client.post("/api/v1/areas/import", files={"file": ("a.csv", self.CSV.encode(), "text/csv")})
        assert got.status_code == 403
        assert areas_service.existing_codes(session, ["310104003"]) == set()


class TestDepartmentApi:
    def test_create_read_and_list(self, tree, client, as_actor, sys_admin):
        as_actor(sys_admin)
        made = client.post("/api/v1/departments", json={"code": "310101-SCJG", "name": "黄浦区市场监管局",
                                                         "area_code": "310101"})
        assert made.status_code == 201
        dep = made.json()
        assert (dep["code"], dep["kind"], dep["area_code"], dep["parent_id"]) == ("310101-SCJG", "bureau", "310101", None)
        assert client.get(f"/api/v1/departments/{dep['id']}").json() == dep
        assert client.get("/api/v1/departments", params={"area_code": "310101"}).json() == [dep]
        assert client.get("/api/v1/departments", params={"area_code": "31"}).json() == []
        assert client.get("/api/v1/departments", params={"area_code": "31", "subtree": True}).json() == [dep]

    def test_street_staff_cannot_create_in_another_district(self, tree, client, as_actor, street_staff, session):
        as_actor(street_staff)
        got = client.post("/api/v1/departments", json={"code": "310104-SCJG", "name": "徐汇区市场监管局",
                                                        "area_code": "310104"})
        assert (got.status_code, got.json()["error"]) == (403, "permission_denied")
        assert areas_service.list_departments(session) == []

    def test_unknown_department_is_404(self, client):
        got = client.get("/api/v1/departments/NOPE")
        assert (got.status_code, got.json()["error"]) == (404, "department_not_found")

    def test_seeded_department_via_service(self, tree, session, client):
        areas_service.create_department(session, SYSTEM, code="31-SCJG", name="市场监管局", area_code="31")
        session.commit()
        assert [d["code"] for d in client.get("/api/v1/departments").json()] == ["31-SCJG"]
