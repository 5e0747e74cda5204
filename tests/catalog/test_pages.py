"""Pages of the catalogue: the public guide and the administrators' pages."""

from __future__ import annotations

import yaml

from yiwang.catalog import service as catalog_service

HTML = {"accept": "text/html"}


class TestPublicGuide:
    def test_search_page_shows_the_bundle_first(self, client, demo):
        got = client.get("/services", params={"q": "开餐馆"}, headers=HTML)

        assert got.status_code == 200
        first = got.text.index('data-code="YJS-001"')
        assert first < got.text.index('data-code="SCJG-003"')
        assert '<a href="/services/bundles/YJS-001">开办餐饮店</a>' in got.text

    def test_search_page_without_a_query_lists_bundles(self, client, demo):
        got = client.get("/services", headers=HTML)

        assert got.status_code == 200
        assert '<a href="/services/bundles/YJS-004">新生儿出生一件事</a>' in got.text

    def test_item_guide_shows_limits_materials_and_form(self, client, demo):
        got = client.get("/services/SCJG-003", headers=HTML)

        assert got.status_code == 200
        assert "上海市市场监督管理局" in got.text
        assert "20 个工作日" in got.text and "10 个工作日" in got.text
        assert "免交：平台已有该证照" in got.text  # 营业执照 stands in by certificate BL
        assert "免交：平台已有您的信息" in got.text  # 身份证 from the person registry
        assert 'id="preview-id_number"' in got.text and 'aria-required="true"' in got.text
        assert '<option value="catering">餐饮服务</option>' in got.text

    def test_bundle_page_lists_its_three_items(self, client, demo):
        got = client.get("/services/bundles/YJS-001", headers=HTML)

        assert got.status_code == 200
        for code in ("SCJG-001", "SCJG-003", "LHSR-001"):
            assert f'<li data-code="{code}">' in got.text
        assert got.text.count('name="applicant_name"') == 1

    def test_unknown_item_is_404(self, client, demo):
        assert client.get("/services/NOPE-1", headers=HTML).status_code == 404


class TestAdminPages:
    def test_index_lists_items(self, client, as_actor, demo, manager):
        as_actor(manager)

        got = client.get("/admin/catalog", headers=HTML)

        assert got.status_code == 200
        assert '<a href="/admin/catalog/items/SCJG-001">SCJG-001</a>' in got.text

    def test_clerk_gets_403(self, client, as_actor, demo, clerk):
        as_actor(clerk)

        assert client.get("/admin/catalog", headers=HTML).status_code == 403
        assert client.get("/admin/catalog/items/SCJG-001", headers=HTML).status_code == 403

    def test_publish_from_the_edit_box(self, client, as_actor, session, demo, manager):
        as_actor(manager)
        data = catalog_service.catalog_item_document(catalog_service.get_item(session, "SCJG-012"))
        data["promised_limit_days"] = 2
        session.rollback()

        got = client.post("/admin/catalog/items/SCJG-012", data={
            "text": yaml.safe_dump(data, allow_unicode=True), "fmt": "yaml"}, follow_redirects=False)

        assert got.status_code == 303
        assert got.headers["location"] == "/admin/catalog/items/SCJG-012?published=2"
        session.expire_all()
        assert catalog_service.get_item(session, "SCJG-012").promised_limit_days == 2

    def test_bad_edit_shows_each_field_problem(self, client, as_actor, session, demo, manager):
        as_actor(manager)
        data = catalog_service.catalog_item_document(catalog_service.get_item(session, "SCJG-012"))
        data["promised_limit_days"] = 99
        session.rollback()

        got = client.post("/admin/catalog/items/SCJG-012", data={
            "text": yaml.safe_dump(data, allow_unicode=True), "fmt": "yaml"}, headers=HTML)

        assert got.status_code == 422
        assert "<code>promised_limit_days</code>: 承诺时限（99 个工作日）不得超过法定时限（20 个工作日）。" in got.text
        assert catalog_service.get_item(session, "SCJG-012").version == 1

    def test_import_page_reports(self, client, as_actor, session, demo, manager):
        as_actor(manager)
        text = catalog_service.export_catalog(session, "yaml")
        session.rollback()

        form = client.get("/admin/catalog/import", headers=HTML)
        got = client.post("/admin/catalog/import", files={"file": ("c.yaml", text.encode())}, headers=HTML)

        assert 'name="csrf_token"' in form.text
        assert got.status_code == 200
        assert "导入完成：新增事项 0 项，更新 0 项，未变 55 项" in got.text
