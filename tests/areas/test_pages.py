"""Admin pages of areas and departments."""

from __future__ import annotations

import json

from yiwang.areas import service as areas_service

from .conftest import rect

HTML = {"accept": "text/html"}


class TestAreaPages:
    def test_index_lists_the_city(self, tree, client, as_actor, sys_admin):
        as_actor(sys_admin)
        got = client.get("/admin/areas", headers=HTML)
        assert got.status_code == 200
        assert '<a href="/admin/areas/31">31</a>' in got.text
        assert "上海市" in got.text

    def test_area_page_has_children_preview_and_breadcrumb(self, tree, client, as_actor, sys_admin):
        as_actor(sys_admin)
        got = client.get("/admin/areas/310101002001", headers=HTML)
        assert got.status_code == 200
        assert got.text.count('<a href="/admin/areas/310101002001001">') == 2  # map and table
        assert "<svg" in got.text and "<title>一号网格 310101002001001</title>" in got.text
        assert '<a href="/admin/areas/310101">黄浦区</a>' in got.text

    def test_others_get_403(self, tree, client, as_actor, clerk):
        as_actor(clerk)
        for path in ("/admin/areas", "/admin/areas/31", "/admin/areas/new", "/admin/areas/import",
                     "/admin/departments"):
            got = client.get(path, headers=HTML)
            assert got.status_code == 403, path

    def test_anonymous_must_sign_in(self, tree, client):
        assert client.get("/admin/areas", headers=HTML).status_code == 401

    def test_create_form_posts_and_redirects(self, tree, client, as_actor, sys_admin, session):
        as_actor(sys_admin)
        form = client.get("/admin/areas/new", params={"parent": "310104"}, headers=HTML)
        assert 'name="csrf_token"' in form.text
        assert '<option value="street" selected>' in form.text

        got = client.post("/admin/areas/new", data={
            "code": "310104003", "name": "徐家汇街道", "level": "street", "parent_code": "310104",
            "boundary": json.dumps(rect(121.5, 31, 121.6, 31.1))}, follow_redirects=False)

        assert (got.status_code, got.headers["location"]) == (303, "/admin/areas/310104003")
        assert areas_service.get_area(session, "310104003").name == "徐家汇街道"

    def test_create_form_shows_the_error(self, tree, client, as_actor, sys_admin, session):
        as_actor(sys_admin)
        got = client.post("/admin/areas/new", data={"code": "3101040", "name": "x", "level": "street",
                                                    "parent_code": "310104"}, headers=HTML)
        assert got.status_code == 422
        assert "代码 3101040 不符合街道的要求：应为 9 位数字。" in got.text
        assert 'value="3101040"' in got.text
        assert areas_service.existing_codes(session, ["3101040"]) == set()

    def test_street_staff_post_under_another_district_is_403(self, tree, client, as_actor, street_staff, session):
        as_actor(street_staff)
        got = client.post("/admin/areas/new", data={"code": "310104003", "name": "x", "level": "street",
                                                    "parent_code": "310104"}, headers=HTML)
        assert got.status_code == 403
        assert areas_service.existing_codes(session, ["310104003"]) == set()

    def test_import_shows_each_bad_row(self, tree, client, as_actor, sys_admin, session):
        as_actor(sys_admin)
        data = "code,name,level,parent_code\n310104003,徐家汇街道,street,310104\n3101040,x,street,310104\n"
        got = client.post("/admin/areas/import", files={"file": ("a.csv", data.encode(), "text/csv")},
                          headers=HTML)
        assert got.status_code == 422
        assert "<td class=\"num\">3</td><td>code</td><td><code>area_code_invalid</code></td>" in got.text
        assert areas_service.existing_codes(session, ["310104003"]) == set()

    def test_import_with_skip_reports_counts(self, tree, client, as_actor, sys_admin, session):
        as_actor(sys_admin)
        data = "code,name,level,parent_code\n310104003,徐家汇街道,street,310104\n3101040,x,street,310104\n"
        got = client.post("/admin/areas/import", data={"skip_bad_rows": "1"},
                          files={"file": ("a.csv", data.encode(), "text/csv")}, headers=HTML)
        assert got.status_code == 200
        assert "已导入 2 行中的 1 行，跳过 1 行。" in got.text
        assert areas_service.existing_codes(session, ["310104003"]) == {"310104003"}


class TestDepartmentPages:
    def test_list_and_create(self, tree, client, as_actor, sys_admin, session):
        as_actor(sys_admin)
        assert client.get("/admin/departments", headers=HTML).status_code == 200
        got = client.post("/admin/departments", data={"code": "310101-SCJG", "name": "黄浦区市场监管局",
                                                      "kind": "bureau", "area_code": "310101"},
                          follow_redirects=False)
        assert (got.status_code, got.headers["location"]) == (303, "/admin/departments?area=310101")
        page = client.get("/admin/departments", params={"area": "310101"}, headers=HTML)
        assert "<td>310101-SCJG</td><td>黄浦区市场监管局</td><td>委办局</td>" in page.text

    def test_create_with_unknown_parent_shows_the_error(self, tree, client, as_actor, sys_admin, session):
        as_actor(sys_admin)
        got = client.post("/admin/departments", data={"code": "310101-SCJG", "name": "x", "kind": "bureau",
                                                      "area_code": "310101", "parent_code": "NOPE"}, headers=HTML)
        assert got.status_code == 422
        assert "上级部门 NOPE 在此不适用：该部门不存在。" in got.text
        assert areas_service.list_departments(session) == []
