"""The open-data portal's pages (journey 6): search with facets, the dataset page with its preview,
downloads and API help, conditional access with a token, the demand list and the user's requests."""

from __future__ import annotations

import io
import json
import re
from html import unescape
from typing import Any
from urllib.parse import quote

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from yiwang.areas import service as areas_service
from yiwang.audit.models import AuditEntry
from yiwang.core.actor import SYSTEM, Actor, Grant
from yiwang.core.groupcommit import committer_for
from yiwang.core.ids import new_id
from yiwang.datacat import pages, service
from yiwang.datacat.models import AccessRequest, DataDemand, DataResource
from yiwang.datacat.schemas import FieldIn, ResourceIn

HTML = {"accept": "text/html"}
BUS_ROWS = 25
BUS_CSV = ("stop_name,lines,lon,lat\n" + "".join(
    f"南京东路{n}号站,{n}路;{n + 100}路,{121.47 + n / 1000:.4f},{31.23 + n / 1000:.4f}\n" for n in range(1, BUS_ROWS + 1)
)).encode()
FLOW_CSV = "stop_name,month,riders\n人民广场站,2026-01,120000\n外滩站,2026-01,98000\n".encode()
AIR_CSV = "station,day,aqi\n黄浦监测站,2026-01-01,42\n".encode()


def build_catalogue(db: Any) -> dict[str, Any]:
    """黄浦区 with its 交通委 and 生态环境局; through the service: 公交站点 (open to all, 25 rows),
    公交线路客流 (有条件开放), 公交车辆尾气监测 by the 环境局 (open to all), and 公交调度内部台账 (never opened)."""

    officer = SYSTEM

    def resource(s: Any, name: str, code: str, title: str, dept: str, topic: str, opening: str, summary: str,
                 fields: list[FieldIn], csv: bytes | None, cycle: str = "monthly") -> str:
        nonlocal officer
        made = service.create_resource(s, officer, ResourceIn(
            name=name, code=code, title=title, department_id=dept, summary=summary, topic=topic,
            update_cycle=cycle, opening=opening, opening_conditions="用于科研或公共服务" if opening == "conditional" else "",
            tags=["公交"], fields=fields))
        if csv is not None:
            outcome = service.add_distribution(s, officer, made.id, name=f"{title}表", data=csv, filename=f"{name}.csv")
            assert outcome.passed, outcome.message
            opened = service.open_resource(s, officer, made.id)
            assert opened.opened, opened.message
        return made.id

    with db.transaction() as s:
        areas_service.create_area(s, SYSTEM, code="31", name="上海市", level="city")
        areas_service.create_area(s, SYSTEM, code="310101", name="黄浦区", level="district", parent_code="31")
        jt = areas_service.create_department(s, SYSTEM, code="310101-JT", name="黄浦区交通委", area_code="310101")
        hb = areas_service.create_department(s, SYSTEM, code="310101-HB", name="黄浦区生态环境局", area_code="310101")
        officer = Actor(kind="staff", user_id=new_id(), username="data.officer", department_ids=(jt.id, hb.id),
                        grants=(Grant("data_officer", "310101", None, frozenset({"datacat.read", "datacat.manage"})),))
        stop = FieldIn(name="stop_name", title="站点名称", description="站点的中文名称")
        ids = {
            "jt": jt.id, "hb": hb.id,
            "bus": resource(s, "bus-stops", "310101-JT-00001", "公交站点", jt.id, "transport", "unconditional",
                            "黄浦区公交站点的位置与途经线路。",
                            [stop, FieldIn(name="lines", title="途经线路"),
                             FieldIn(name="lon", title="经度", type="number"),
                             FieldIn(name="lat", title="纬度", type="number")], BUS_CSV),
            "flow": resource(s, "bus-ridership", "310101-JT-00002", "公交线路客流", jt.id, "transport", "conditional",
                             "各站点每月的公交客流。",
                             [stop, FieldIn(name="month", title="月份"),
                              FieldIn(name="riders", title="客流人次", type="integer")], FLOW_CSV),
            "air": resource(s, "bus-exhaust", "310101-HB-00001", "公交车辆尾气监测", hb.id, "environment",
                            "unconditional", "公交车辆尾气排放的监测结果。",
                            [FieldIn(name="station", title="监测站"), FieldIn(name="day", title="日期", type="date"),
                             FieldIn(name="aqi", title="空气质量指数", type="integer")], AIR_CSV, cycle="daily"),
            "draft": resource(s, "bus-dispatch", "310101-JT-00003", "公交调度内部台账", jt.id, "transport", "none",
                              "内部使用。", [stop], None),
        }
    ids["bus_table"] = _table_of(db, ids["bus"])
    ids["flow_table"] = _table_of(db, ids["flow"])
    return ids


def _table_of(db: Any, resource_id: str) -> str:
    with db.transaction(write=False) as s:
        return service.show(s, resource_id).distributions[0].id


def settle(app: Any) -> None:
    """Wait for the counters queued to the group commit by earlier requests."""
    committer_for(app.state.db).submit(lambda s: None).result(timeout=30)


def count(db: Any, model: Any, *where: Any) -> int:
    with db.transaction(write=False) as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def alert(html: str) -> str:
    found = re.search(r'role="alert"[^>]*>([^<]*)<', html)
    return unescape(found.group(1)).strip() if found else ""


def citizen(name: str = "li.citizen") -> Actor:
    return Actor(kind="citizen", user_id=new_id(), username=name)


@pytest.fixture
def cat(db: Any) -> dict[str, Any]:
    return build_catalogue(db)


class TestSearch:
    def test_chinese_words_find_the_open_datasets_with_facet_counts(self, client, cat):
        got = client.get("/opendata", params={"q": "公交"}, headers=HTML)

        assert got.status_code == 200
        found = re.findall(r'data-dataset="([^"]+)"', got.text)
        assert sorted(found) == ["bus-exhaust", "bus-ridership", "bus-stops"]
        assert "3 个数据集" in got.text
        assert re.search(r'value="' + cat["jt"] + r'"[^>]*>\s*<span>黄浦区交通委 <span class="od-count">\(2\)</span>',
                         got.text)
        assert re.search(r'value="' + cat["hb"] + r'"[^>]*>\s*<span>黄浦区生态环境局 <span class="od-count">\(1\)',
                         got.text)
        assert "交通出行 <span" in got.text and "有条件开放 <span" in got.text and "每日 <span" in got.text
        assert "公交调度内部台账" not in got.text

    def test_a_ticked_department_narrows_the_results_and_stays_ticked(self, client, cat):
        got = client.get("/opendata", params={"q": "公交", "organization": cat["hb"]}, headers=HTML)

        assert re.findall(r'data-dataset="([^"]+)"', got.text) == ["bus-exhaust"]
        assert re.search(r'value="' + cat["hb"] + r'" checked', got.text)
        assert "清除筛选" in got.text

    def test_two_ticked_departments_mean_either(self, client, cat):
        got = client.get("/opendata", params=[("q", "公交"), ("organization", cat["hb"]), ("organization", cat["jt"])],
                         headers=HTML)

        assert sorted(re.findall(r'data-dataset="([^"]+)"', got.text)) == ["bus-exhaust", "bus-ridership", "bus-stops"]

    def test_sort_by_name_and_paging(self, client, cat, monkeypatch):
        monkeypatch.setattr(pages, "PAGE_ROWS", 2)

        first = client.get("/opendata", params={"sort": "name"}, headers=HTML).text
        second = client.get("/opendata", params={"sort": "name", "page": "2"}, headers=HTML).text

        titles = sorted(["公交站点", "公交线路客流", "公交车辆尾气监测"])
        shown = re.findall(r'data-dataset="[^"]+">\s*<article[^>]*>\s*<h3[^>]*><a [^>]*>([^<]+)<', first + second)
        assert shown == titles
        assert "第 1 页，共 2 页" in first and 'rel="next"' in first and 'rel="prev"' in second

    def test_nothing_found_says_so_in_chinese(self, client, cat):
        got = client.get("/opendata", params={"q": "火箭发射"}, headers=HTML)

        assert got.status_code == 200 and "0 个数据集" in got.text and "data-dataset=" not in got.text


class TestDatasetPage:
    def test_shows_metadata_fields_preview_downloads_and_api_help(self, app, client, cat):
        got = client.get("/opendata/dataset/bus-stops", headers=HTML)

        assert got.status_code == 200
        text = got.text
        for words in ("资源代码", "310101-JT-00001", "黄浦区交通委", "每月", "无条件开放", "站点名称", "stop_name"):
            assert words in text, words
        assert "一般" not in text  # grades are not for the public
        assert text.count("<tr><td>南京东路") == 20  # the first 20 of 25 rows
        assert "南京东路1号站" in text and "南京东路21号站" not in text
        table = cat["bus_table"]
        for fmt in ("csv", "json", "xlsx"):
            assert f'href="/opendata/download/{table}.{fmt}"' in text
        assert f"ckanapi action datastore_search resource_id={table} -r http://testserver" in text
        assert f'curl "http://testserver/api/3/action/datastore_search?resource_id={table}&amp;limit=5"' in text

    def test_each_view_is_counted(self, app, client, cat):
        client.get("/opendata/dataset/bus-stops", headers=HTML)
        client.get("/opendata/dataset/bus-stops", headers=HTML)
        settle(app)

        assert "2 次浏览" in client.get("/opendata/dataset/bus-stops", headers=HTML).text

    @pytest.mark.parametrize("name", ["bus-dispatch", "no-such-dataset"])
    def test_a_dataset_not_open_or_unknown_is_a_404_page_in_chinese(self, client, cat, name):
        got = client.get(f"/opendata/dataset/{name}", headers=HTML)

        assert got.status_code == 404
        assert "页面不存在" in got.text and "<html lang=\"zh-CN\"" in got.text
        assert f"数据资源 {name} 不存在。" in got.text


class TestDownloads:
    def test_csv_streams_the_whole_table_with_the_title_as_file_name_and_counts(self, app, client, cat):
        got = client.get(f"/opendata/download/{cat['bus_table']}.csv")

        assert got.status_code == 200
        assert got.headers["content-type"] == "text/csv; charset=utf-8"
        assert got.headers["content-disposition"] == (
            "attachment; filename=\"bus-stops.csv\"; filename*=UTF-8''" + quote("公交站点.csv", safe=""))
        lines = got.content.decode("utf-8-sig").splitlines()
        assert lines[0] == "_id,stop_name,lines,lon,lat"
        assert lines[1] == "1,南京东路1号站,1路;101路,121.471,31.231"
        assert len(lines) == BUS_ROWS + 1
        settle(app)
        assert "1 次下载" in client.get("/opendata/dataset/bus-stops", headers=HTML).text

    def test_json_and_xlsx(self, client, cat):
        as_json = client.get(f"/opendata/download/{cat['bus_table']}.json")
        as_xlsx = client.get(f"/opendata/download/{cat['bus_table']}.xlsx")

        body = json.loads(as_json.content)
        assert [f["id"] for f in body["fields"]] == ["_id", "stop_name", "lines", "lon", "lat"]
        assert len(body["records"]) == BUS_ROWS
        sheet = load_workbook(io.BytesIO(as_xlsx.content), read_only=True).active
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0] == ("_id", "stop_name", "lines", "lon", "lat") and rows[25][1] == "南京东路25号站"

    @pytest.mark.parametrize("path", ["{bus}.txt", "nope.csv"])
    def test_an_unknown_format_or_table_is_404(self, client, cat, path):
        got = client.get("/opendata/download/" + path.format(bus=cat["bus_table"]), headers=HTML)

        assert got.status_code == 404 and "页面不存在" in got.text and "该数据资源中没有数据表或文件" in got.text


    def test_a_closed_dataset_is_gone_from_search_page_and_downloads(self, client, cat, db):
        with db.transaction() as s:
            service.close_resource(s, SYSTEM, cat["bus"], reason="数据有误")

        assert "bus-stops" not in client.get("/opendata", params={"q": "公交"}, headers=HTML).text
        assert client.get("/opendata/dataset/bus-stops", headers=HTML).status_code == 404
        assert client.get(f"/opendata/download/{cat['bus_table']}.csv", headers=HTML).status_code == 404

    def test_english_on_request(self, client, cat):
        got = client.get("/opendata", params={"q": "公交", "lang": "en"}, headers=HTML)

        assert '<html lang="en"' in got.text and "3 datasets" in got.text and "Provider department" in got.text


class TestConditionalAccess:
    def test_no_rows_or_downloads_without_access(self, client, cat, db):
        page = client.get("/opendata/dataset/bus-ridership", headers=HTML).text

        assert 'id="access-needed"' in page and "人民广场站" not in page
        assert "/opendata/download/" not in page
        assert "登录后申请" in page
        refused = client.get(f"/opendata/download/{cat['flow_table']}.csv")
        assert refused.status_code == 403
        assert count(db, AuditEntry, AuditEntry.outcome == "denied") >= 1

    def test_apply_be_approved_then_read_and_download_with_the_token(self, app, client, as_actor, cat, db):
        user = as_actor(citizen())

        sent = client.post("/opendata/dataset/bus-ridership/access", headers=HTML, follow_redirects=False,
                           data={"organisation": "复旦大学交通研究所", "purpose": "研究公交客流规律"})

        assert sent.status_code == 303
        assert sent.headers["location"] == "/opendata/dataset/bus-ridership?done=requested#access"
        page = client.get(sent.headers["location"], headers=HTML).text
        assert "申请已提交" in page and 'data-status="pending"' in page and 'id="access-form"' not in page
        with db.transaction() as s:
            req = s.scalars(select(AccessRequest)).one()
            assert (req.user_id, req.organisation) == (user.user_id, "复旦大学交通研究所")
            service.decide_access(s, SYSTEM, req.id, approve=True, days=30)
        page = client.get("/opendata/dataset/bus-ridership", headers=HTML).text
        token = re.search(r'id="access-token">([^<]+)<', page).group(1)
        assert token.startswith("ywa_")
        assert "人民广场站" in page
        assert f'href="/opendata/download/{cat["flow_table"]}.csv?token={quote(token)}"' in page
        assert f"-a {token}" in page and f'-H "Authorization: {token}"' in page
        assert token in client.get("/opendata/my", headers=HTML).text

        as_actor(Actor(kind="anonymous"))
        url = f"/opendata/download/{cat['flow_table']}.csv"
        assert client.get(url, params={"token": token}).content.decode("utf-8-sig").splitlines()[1] == \
            "1,人民广场站,2026-01,120000"
        assert client.get(url, headers={"Authorization": token}).status_code == 200
        assert client.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert client.get(url).status_code == 403
        assert client.get(url, params={"token": token[:-2] + "00"}).status_code == 403
        # a token is for its own dataset only: the bus stops are open anyway, the exhaust data too
        assert client.get(f"/opendata/download/{cat['bus_table']}.csv", params={"token": token}).status_code == 200

    def test_an_application_without_a_purpose_is_re_shown_in_chinese_and_nothing_is_kept(self, client, as_actor,
                                                                                        cat, db):
        as_actor(citizen())

        got = client.post("/opendata/dataset/bus-ridership/access", headers=HTML,
                          data={"organisation": "复旦大学", "purpose": "  "})

        assert got.status_code == 422
        assert alert(got.text) == "请修改下面标出的内容。"
        assert "请说明数据的用途。" in got.text and 'value="复旦大学"' in got.text
        assert count(db, AccessRequest) == 0

    def test_a_dataset_open_to_all_needs_no_application(self, client, as_actor, cat, db):
        as_actor(citizen())

        got = client.post("/opendata/dataset/bus-stops/access", headers=HTML,
                          data={"organisation": "复旦大学", "purpose": "研究"})

        assert got.status_code == 409 and count(db, AccessRequest) == 0

    def test_a_visitor_is_sent_to_sign_in(self, client, cat):
        got = client.post("/opendata/dataset/bus-ridership/access", headers=HTML, follow_redirects=False,
                          data={"organisation": "复旦大学", "purpose": "研究"})

        assert got.status_code == 303
        assert got.headers["location"] == "/login?next=" + quote("/opendata/dataset/bus-ridership", safe="")


class TestDemands:
    def test_a_signed_in_user_asks_and_the_answer_is_listed(self, client, as_actor, cat, db):
        as_actor(citizen())

        sent = client.post("/opendata/demands", headers=HTML, follow_redirects=False,
                           data={"title": "共享单车停放点", "description": "用于出行App"})

        assert sent.status_code == 303 and sent.headers["location"] == "/opendata/demands?done=demand"
        with db.transaction() as s:
            demand = s.scalars(select(DataDemand)).one()
            assert (demand.title, demand.requester_kind) == ("共享单车停放点", "public")
            service.answer_demand(s, SYSTEM, demand.id, status="answered", answer="已列入明年开放计划")
        page = client.get("/opendata/demands", headers=HTML).text
        assert "共享单车停放点" in page and "已列入明年开放计划" in page and "已答复" in page

    def test_an_empty_title_is_refused_in_chinese_and_nothing_kept(self, client, as_actor, cat, db):
        as_actor(citizen())

        got = client.post("/opendata/demands", headers=HTML, data={"title": " ", "description": "x"})

        assert got.status_code == 422 and alert(got.text) == "请修改下面标出的内容。"
        assert count(db, DataDemand) == 0

    def test_visitors_see_the_list_and_are_sent_to_sign_in_to_ask(self, client, cat, db):
        page = client.get("/opendata/demands", headers=HTML)
        sent = client.post("/opendata/demands", headers=HTML, follow_redirects=False, data={"title": "单车"})

        assert page.status_code == 200 and "登录后提出需求" in page.text
        assert sent.headers["location"] == "/login?next=" + quote("/opendata/demands", safe="")
        assert count(db, DataDemand) == 0


class TestMyAccess:
    def test_a_visitor_is_sent_to_sign_in(self, client, cat):
        got = client.get("/opendata/my", headers=HTML, follow_redirects=False)

        assert got.headers["location"] == "/login?next=" + quote("/opendata/my", safe="")

    def test_lists_only_the_users_own_requests(self, client, as_actor, cat, db):
        mine, other = citizen("a"), citizen("b")
        with db.transaction() as s:
            service.request_access(s, other, cat["flow"], organisation="别人的单位", purpose="别人的用途")
            service.request_access(s, mine, cat["flow"], organisation="我的单位", purpose="我的用途")
        as_actor(mine)

        page = client.get("/opendata/my", headers=HTML).text

        assert "我的单位" in page and "别人的单位" not in page and "待审批" in page
        assert count(db, DataResource) == 4
