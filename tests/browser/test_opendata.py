"""The open-data portal in a real browser (journey 6, the outside developer's side): search 公交 →
tick a department → open the dataset → the preview shows rows → download the CSV → the API help is
there; and a 有条件开放 dataset: apply → approved → token shown → download with the token, refused
without it. The catalogue is built through the service (the upload goes through the gate)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.datacat.test_portal_pages import BUS_ROWS, build_catalogue
from yiwang.core.actor import SYSTEM
from yiwang.datacat import service
from yiwang.datacat.models import AccessRequest

from .conftest import LiveServer, artifacts_dir
from .helpers import create_user, login_as, page_problems

pytestmark = pytest.mark.browser


@pytest.fixture
def catalogue(live_server: LiveServer) -> dict[str, str]:
    return build_catalogue(live_server.db)


def shot(page: Page, request: pytest.FixtureRequest, name: str) -> None:
    page.screenshot(path=str(artifacts_dir(request.config) / f"opendata-{name}.png"), full_page=True)


class TestJourneySix:
    def test_search_facet_preview_download_and_api_help(self, live_server: LiveServer, page: Page,
                                                         catalogue: dict[str, str], request: pytest.FixtureRequest,
                                                         tmp_path: Path) -> None:
        base = live_server.url
        page.goto(f"{base}/")
        with page.expect_navigation():
            page.get_by_role("link", name="数据开放").first.click()
        page.locator("#opendata-q").fill("公交")
        with page.expect_navigation():
            page.locator("#opendata-q").press("Enter")
        expect(page.locator("#results-title")).to_have_text("3 个数据集")
        assert page_problems(page) == []
        shot(page, request, "search")

        with page.expect_navigation():  # ticking a filter applies it
            page.locator(f'fieldset[data-facet="organization"] input[value="{catalogue["jt"]}"]').check()
        expect(page.locator("#results-title")).to_have_text("2 个数据集")
        expect(page.locator(f'input[value="{catalogue["jt"]}"]')).to_be_checked()
        expect(page.locator("[data-dataset=bus-exhaust]")).to_have_count(0)

        with page.expect_navigation():
            page.get_by_role("link", name="公交站点", exact=True).click()
        expect(page.locator("h1")).to_have_text("公交站点")
        expect(page.locator("#dataset-facts")).to_contain_text("310101-JT-00001")
        expect(page.locator("table.od-preview tbody tr")).to_have_count(20)
        expect(page.locator("table.od-preview tbody tr").first).to_contain_text("南京东路1号站")
        table = catalogue["bus_table"]
        expect(page.locator(".api-ckanapi")).to_have_text(
            f"ckanapi action datastore_search resource_id={table} -r {base}")
        expect(page.locator(".api-curl")).to_contain_text(f"{base}/api/3/action/datastore_search?resource_id={table}")
        assert page_problems(page) == []
        shot(page, request, "dataset")

        with page.expect_download() as got:
            page.locator('a[data-format="csv"]').click()
        download = got.value
        assert download.suggested_filename == "公交站点.csv"
        saved = tmp_path / "bus.csv"
        download.save_as(saved)
        lines = saved.read_bytes().decode("utf-8-sig").splitlines()
        assert lines[0] == "_id,stop_name,lines,lon,lat" and len(lines) == BUS_ROWS + 1
        assert lines[25].startswith("25,南京东路25号站,")

    def test_the_portal_fits_a_phone(self, live_server: LiveServer, mobile_page: Page,
                                     catalogue: dict[str, str]) -> None:
        for path in ("/opendata?q=公交", "/opendata/dataset/bus-stops", "/opendata/demands"):
            mobile_page.goto(live_server.url + path)
            assert page_problems(mobile_page) == [], path

    def test_conditional_data_apply_approve_token_download(self, live_server: LiveServer,
                                                           new_page: Callable[..., Page], catalogue: dict[str, str],
                                                           request: pytest.FixtureRequest, tmp_path: Path) -> None:
        base = live_server.url
        applicant = new_page()
        login_as(applicant, live_server, create_user(live_server, "wang.dev", kind="citizen"))
        applicant.goto(f"{base}/opendata/dataset/bus-ridership")
        expect(applicant.locator("#access-needed")).to_be_visible()
        expect(applicant.locator("table.od-preview")).to_have_count(0)
        applicant.locator("#access-organisation").fill("复旦大学交通研究所")
        applicant.locator("#access-purpose").fill("研究公交客流的季节规律")
        assert page_problems(applicant) == []
        with applicant.expect_navigation():
            applicant.get_by_role("button", name="提交申请").click()
        expect(applicant.locator("[role=status]")).to_contain_text("申请已提交")
        expect(applicant.locator(".access-status")).to_have_text("待审批")

        with live_server.db.transaction() as s:
            req = s.scalars(select(AccessRequest)).one()
            service.decide_access(s, SYSTEM, req.id, approve=True, days=30)

        applicant.reload()
        token = applicant.locator("#access-token").inner_text().strip()
        assert token.startswith("ywa_")
        expect(applicant.locator("table.od-preview tbody tr").first).to_contain_text("人民广场站")
        assert page_problems(applicant) == []
        shot(applicant, request, "conditional")
        with applicant.expect_download() as got:
            applicant.locator('a[data-format="csv"]').click()
        saved = tmp_path / "flow.csv"
        got.value.save_as(saved)
        assert saved.read_bytes().decode("utf-8-sig").splitlines()[1] == "1,人民广场站,2026-01,120000"

        applicant.goto(f"{base}/opendata/my")
        expect(applicant.locator(".od-token")).to_have_text(token)

        outsider = new_page()  # no cookies: only the token speaks for the developer
        url = f"{base}/opendata/download/{catalogue['flow_table']}.csv"
        assert outsider.request.get(url).status == 403
        assert outsider.request.get(url, headers={"Authorization": token}).status == 200
        assert outsider.request.get(f"{url}?token={token}").status == 200
        outsider.goto(f"{base}/opendata/dataset/bus-ridership")
        expect(outsider.locator("table.od-preview")).to_have_count(0)
        expect(outsider.get_by_role("link", name="登录后申请访问")).to_be_visible()
