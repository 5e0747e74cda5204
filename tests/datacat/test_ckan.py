"""The CKAN Action API: CKAN's envelope and error types over HTTP, and the real ``ckanapi`` Python
client and command-line tool against a live server (both databases)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import ckanapi
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from yiwang.audit.models import AuditEntry
from yiwang.core.validators import resident_id_check_char
from yiwang.datacat.ckan import parse_fq
from yiwang.datacat.models import DataResource


def resident_id(n: int) -> str:
    first17 = f"11010119900307{n:03d}"
    return first17 + resident_id_check_char(first17)


CKANAPI = str(Path(sys.executable).with_name("ckanapi"))


@pytest.fixture
def api(open_catalogue, app):
    with TestClient(app) as c:
        yield c


class TestEnvelope:
    def test_success_carries_help_and_result(self, api):
        r = api.get("/api/3/action/package_list")
        assert r.status_code == 200
        body = r.json()
        assert body["success"] is True
        assert body["help"] == "http://testserver/api/3/action/help_show?name=package_list"
        assert body["result"] == ["air-quality", "bus-lines", "bus-stops"]
        assert api.post("/api/action/package_list", json={"limit": 1, "offset": 1}).json()["result"] == ["bus-lines"]

    def test_unknown_action_is_ckans_bad_request(self, api):
        r = api.get("/api/3/action/no_such_thing")
        assert (r.status_code, r.json()) == (400, "Bad request - Action name not known: no_such_thing")

    def test_unknown_dataset_is_not_found_error(self, api):
        r = api.get("/api/3/action/package_show", params={"id": "nope"})
        assert r.status_code == 404
        assert r.json()["error"] == {"__type": "Not Found Error", "message": "Not found"}
        assert r.json()["success"] is False

    def test_a_draft_is_not_found_for_outsiders(self, api, open_catalogue):
        r = api.get("/api/3/action/package_show", params={"id": "company-register"})
        assert r.status_code == 404

    def test_write_by_get_is_a_bad_request(self, api):
        r = api.get("/api/3/action/package_create", params={"name": "x"})
        assert r.status_code == 400
        assert r.json().startswith("Bad request - JSON Error")

    def test_bad_sort_is_a_search_query_error(self, api):
        r = api.get("/api/3/action/package_search", params={"sort": "colour desc"})
        assert r.status_code == 400
        assert r.json()["error"]["__type"] == "Search Query Error"

    def test_write_without_token_is_an_authorization_error(self, api, db):
        r = api.post("/api/3/action/package_create", json={"name": "new-one"})
        assert r.status_code == 403
        assert r.json()["error"]["__type"] == "Authorization Error"
        with db.session() as s:
            assert s.scalar(select(DataResource).where(DataResource.name == "new-one")) is None

    def test_write_by_staff_without_datacat_manage_is_refused_and_audited(self, api, db, open_catalogue):
        r = api.post("/api/3/action/package_create", json={"name": "new-one"},
                     headers={"Authorization": open_catalogue.clerk_token})
        assert r.status_code == 403
        with db.session() as s:
            denied = s.scalars(select(AuditEntry).where(AuditEntry.outcome == "denied")).all()
        assert [d.action for d in denied] == ["datacat.manage"]


class TestReads:
    def test_package_show_maps_the_metadata(self, api, open_catalogue):
        pkg = api.get("/api/3/action/package_show", params={"id": "bus-stops"}).json()["result"]
        assert (pkg["id"], pkg["name"], pkg["title"], pkg["notes"]) == (
            open_catalogue.resources["bus-stops"], "bus-stops", "黄浦区公交站点", "黄浦区公交站点的位置")
        assert pkg["organization"]["name"] == "310101-jt" and pkg["organization"]["title"] == "黄浦区交通委"
        assert pkg["owner_org"] == open_catalogue.departments["JT"]
        assert [g["name"] for g in pkg["groups"]] == ["transport"]
        assert [t["name"] for t in pkg["tags"]] == ["公交", "交通"]
        extras = {e["key"]: e["value"] for e in pkg["extras"]}
        assert (extras["resource_code"], extras["update_cycle"], extras["opening"]) == (
            "310101-JT-00001", "monthly", "unconditional")
        assert [f["name"] for f in json.loads(extras["fields"])] == ["站点名称", "经度", "纬度"]
        [res] = pkg["resources"]
        assert res["id"] == open_catalogue.tables["bus-stops"] and res["datastore_active"] is True
        assert res["url"] == f"http://testserver/opendata/download/{res['id']}.csv"
        by_id = api.get("/api/3/action/package_show", params={"id": pkg["id"]}).json()["result"]
        assert by_id["name"] == "bus-stops"

    def test_package_search_with_q_fq_facets_and_rows(self, api):
        r = api.get("/api/3/action/package_search", params={
            "q": "公交", "fq": 'organization:310101-jt AND tags:"公交"', "rows": 1, "sort": "name asc",
            "facet.field": '["organization","res_format","opening"]'})
        got = r.json()["result"]
        assert got["count"] == 2
        assert [p["name"] for p in got["results"]] == ["bus-lines"]
        assert got["facets"]["organization"] == {"310101-jt": 2}
        assert got["facets"]["res_format"] == {"CSV": 2}
        assert got["facets"]["opening"] == {"conditional": 1, "unconditional": 1}
        assert got["search_facets"]["organization"]["items"] == [
            {"name": "310101-jt", "display_name": "黄浦区交通委", "count": 2}]

    def test_organizations_groups_tags_licenses(self, api):
        assert api.get("/api/3/action/organization_list").json()["result"] == ["310101-hb", "310101-jt",
                                                                               "310101-scjg"]
        orgs = api.get("/api/3/action/organization_list", params={"all_fields": "true"}).json()["result"]
        assert {o["name"]: o["package_count"] for o in orgs} == {"310101-hb": 1, "310101-jt": 2, "310101-scjg": 0}
        org = api.get("/api/3/action/organization_show", params={"id": "310101-jt", "include_datasets": "true"}).json()
        assert org["result"]["package_count"] == 2 and len(org["result"]["packages"]) == 2
        group = api.get("/api/3/action/group_show", params={"id": "environment"}).json()["result"]
        assert (group["title"], group["package_count"]) == ("资源环境", 1)
        assert "transport" in api.get("/api/3/action/group_list").json()["result"]
        assert api.get("/api/3/action/tag_list").json()["result"] == sorted(["公交", "交通", "环境", "空气质量"])
        assert "cc-by-4.0" in [x["id"] for x in api.get("/api/3/action/license_list").json()["result"]]
        assert api.get("/api/3/action/status_show").json()["result"]["ckan_version"].startswith("2.")
        assert api.get("/api/3/action/organization_show", params={"id": "nope"}).status_code == 404

    def test_datastore_search_of_an_open_table(self, api, open_catalogue):
        table = open_catalogue.tables["air-quality"]
        got = api.get("/api/3/action/datastore_search", params={
            "resource_id": table, "filters": '{"监测点": "黄浦"}', "sort": "AQI desc"}).json()["result"]
        assert got["total"] == 2
        assert [r["AQI"] for r in got["records"]] == [61, 52]
        sql = api.get("/api/3/action/datastore_search_sql",
                      params={"sql": f'SELECT count(*) AS n FROM "{table}"'}).json()["result"]
        assert sql["records"] == [{"n": 3}]

    def test_conditional_data_needs_an_access_token(self, api, open_catalogue):
        table = open_catalogue.tables["bus-lines"]
        r = api.get("/api/3/action/datastore_search", params={"resource_id": table})
        assert (r.status_code, r.json()["error"]["__type"]) == (403, "Authorization Error")
        r = api.get("/api/3/action/datastore_search_sql", params={"sql": f'SELECT * FROM "{table}"'})
        assert r.status_code == 403

    def test_datastore_validation_error_names_the_field(self, api, open_catalogue):
        r = api.get("/api/3/action/datastore_search", params={
            "resource_id": open_catalogue.tables["air-quality"], "filters": '{"颜色": "红"}'})
        assert r.status_code == 409
        assert r.json()["error"]["__type"] == "Validation Error"


class TestWrites:
    def test_create_patch_update_and_refused_upload(self, api, db, open_catalogue):
        auth = {"Authorization": open_catalogue.officer_token}
        body = {"name": "service-halls", "title": "政务服务大厅", "notes": "大厅地址", "owner_org": "310101-jt",
                "groups": [{"name": "government"}], "tags": [{"name": "大厅"}],
                "extras": [{"key": "resource_code", "value": "310101-JT-00009"},
                           {"key": "opening", "value": "unconditional"},
                           {"key": "update_cycle", "value": "yearly"}]}
        created = api.post("/api/3/action/package_create", json=body, headers=auth).json()
        assert created["success"] is True, created
        assert created["result"]["state"] == "draft" and created["result"]["organization"]["name"] == "310101-jt"
        patched = api.post("/api/3/action/package_patch", json={"id": "service-halls", "title": "服务大厅"},
                           headers=auth).json()["result"]
        assert (patched["title"], patched["notes"]) == ("服务大厅", "大厅地址")
        r = api.post("/api/3/action/package_create", json={**body, "name": "Bad Name!"}, headers=auth)
        assert r.status_code == 409
        assert r.json()["error"]["__type"] == "Validation Error" and "name" in r.json()["error"]
        r = api.post("/api/3/action/package_create", json=body, headers=auth)
        assert r.status_code == 409  # the name is taken
        rows = [f"张{i},{resident_id(i)}" for i in range(12)]
        ids = ("姓名,身份证号\n" + "\n".join(rows) + "\n").encode()
        r = api.post("/api/3/action/resource_create", data={"package_id": "service-halls", "name": "people"},
                     files={"upload": ("people.csv", ids, "text/csv")}, headers=auth)
        assert r.status_code == 409, r.text
        assert r.json()["error"]["__type"] == "Validation Error" and "gate" in r.json()["error"]
        replaced = api.post("/api/3/action/package_update", json={**body, "title": "大厅名录"}, headers=auth).json()
        assert replaced["result"]["title"] == "大厅名录"


class TestFq:
    def test_parses_quoted_values_and_and(self):
        assert parse_fq('organization:a AND tags:"空气 质量" +res_format:CSV') == {
            "organization": ["a"], "tags": ["空气 质量"], "res_format": ["CSV"]}


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    command = [CKANAPI, *args, "-r", url]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=False)  # noqa: S603


class TestRealCkanapi:
    def test_python_client_lists_searches_shows_and_reads_the_datastore(self, open_catalogue, live_server):
        ckan = ckanapi.RemoteCKAN(live_server.url)
        assert ckan.action.package_list() == ["air-quality", "bus-lines", "bus-stops"]
        found = ckan.action.package_search(q="公交", facet_field=None, **{"facet.field": ["organization"]})
        assert found["count"] == 2 and found["facets"]["organization"] == {"310101-jt": 2}
        assert ckan.action.package_show(id="air-quality")["title"] == "空气质量历史数据"
        records = ckan.action.datastore_search(resource_id=open_catalogue.tables["bus-stops"], limit=1)
        assert records["total"] == 2 and len(records["records"]) == 1
        with pytest.raises(ckanapi.NotFound):
            ckan.action.package_show(id="no-such-dataset")
        with pytest.raises(ckanapi.NotAuthorized):
            ckan.action.package_create(name="x-y", title="x")
        officer = ckanapi.RemoteCKAN(live_server.url, apikey=open_catalogue.officer_token)
        with pytest.raises(ckanapi.ValidationError):
            officer.action.package_create(name="x-y", title="x")
        made = officer.action.package_create(name="x-y", title="新数据", owner_org="310101-hb",
                                             groups=[{"name": "environment"}],
                                             extras=[{"key": "resource_code", "value": "310101-HB-00042"}])
        assert made["name"] == "x-y"

    def test_command_line_tool_lists_searches_and_dumps(self, open_catalogue, live_server):
        listed = _cli(live_server.url, "action", "package_list")
        assert listed.returncode == 0, listed.stderr
        assert json.loads(listed.stdout) == ["air-quality", "bus-lines", "bus-stops"]
        found = _cli(live_server.url, "action", "package_search", "q=空气", 'facet.field=["organization"]')
        assert found.returncode == 0, found.stderr
        result = json.loads(found.stdout)
        assert result["count"] == 1 and result["facets"]["organization"] == {"310101-hb": 1}
        dumped = _cli(live_server.url, "dump", "datasets", "--all", "-q")
        assert dumped.returncode == 0, dumped.stderr
        names = sorted(json.loads(line)["name"] for line in dumped.stdout.splitlines() if line.strip())
        assert names == ["air-quality", "bus-lines", "bus-stops"]
