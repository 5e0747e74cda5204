"""一网统管 in a real browser (journey 3): a citizen reports a problem with a photo by tapping the
map → the dispatcher sees it on the console → dispatches it → the street team's handler accepts and
finishes it → the dispatcher checks and closes it → the citizen sees it closed and rates it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.cityops.conftest import rect
from yiwang.areas import service as areas_service
from yiwang.cityops import service as cityops_service
from yiwang.cityops.schemas import CategoryCreate, RuleCreate
from yiwang.core.actor import SYSTEM
from yiwang.core.jobs import bind_settings

from .conftest import LiveServer, artifacts_dir
from .helpers import create_user, login_as, page_problems

pytestmark = pytest.mark.browser

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
STREET = "310101002"


@pytest.fixture
def city(live_server: LiveServer) -> dict[str, str]:
    """上海市 → 黄浦区 → 南京东路街道 with one grid, 绿化市容局 and its street team, the category
    暴露垃圾 routed (by a dispatcher's choice here: no rule for 设施管理) to nobody."""
    bind_settings(live_server.db.engine, live_server.settings)
    with live_server.db.transaction() as s:
        make = areas_service.create_area
        make(s, SYSTEM, code="31", name="上海市", level="city", boundary=rect(121, 31, 122, 32))
        make(s, SYSTEM, code="310101", name="黄浦区", level="district", parent_code="31",
             boundary=rect(121, 31, 121.5, 32))
        make(s, SYSTEM, code=STREET, name="南京东路街道", level="street", parent_code="310101",
             boundary=rect(121, 31, 121.5, 32))
        make(s, SYSTEM, code=STREET + "001", name="第一社区", level="community", parent_code=STREET,
             boundary=rect(121, 31, 121.5, 32))
        make(s, SYSTEM, code=STREET + "001001", name="一号网格", level="grid", parent_code=STREET + "001",
             boundary=rect(121, 31, 121.5, 32))
        dept = areas_service.create_department(s, SYSTEM, code="310101-LHSR", name="黄浦区绿化市容局",
                                               area_code="310101")
        team = areas_service.create_department(s, SYSTEM, code="310101002-HJD", name="南京东路街道环境队",
                                               area_code=STREET, kind="team", parent_id=dept.id)
        cityops_service.create_category(s, SYSTEM, CategoryCreate(code="SRHJ", name="市容环境"))
        cityops_service.create_category(s, SYSTEM, CategoryCreate(code="SRHJ.LJ", name="暴露垃圾",
                                                                  parent_code="SRHJ", level="grid"))
        # The district's rule retires nothing and routes nothing: the dispatcher sends it by hand.
        cityops_service.create_rule(s, SYSTEM, RuleCreate(category_code="SRHJ", area_prefix="310101",
                                                          department_id=None))
    return {"dept": dept.id, "team": team.id}


def shot(page: Page, request: pytest.FixtureRequest, name: str) -> None:
    page.screenshot(path=str(artifacts_dir(request.config) / f"cityops-{name}.png"), full_page=True)


class TestJourneyThree:
    def test_a_citizen_report_is_dispatched_handled_closed_and_rated(
        self, live_server: LiveServer, new_page: Callable[..., Page], city: dict[str, str],
        request: pytest.FixtureRequest,
    ) -> None:
        base = live_server.url
        citizen = new_page(mobile=True)
        login_as(citizen, live_server, create_user(live_server, "zhang.citizen", kind="citizen"))
        citizen.goto(f"{base}/report?map={STREET}001")
        citizen.locator("#report-description").fill("路边有一堆暴露垃圾无人清理")
        citizen.locator("#report-category").select_option("SRHJ.LJ")
        citizen.locator("#report-photos").set_input_files({"name": "rubbish.png", "mimeType": "image/png",
                                                            "buffer": PNG})
        citizen.locator('#city-map path[data-area="310101002001001"]').click()
        expect(citizen.locator("#location-status")).to_contain_text("已定位")
        assert page_problems(citizen) == []
        shot(citizen, request, "report")
        with citizen.expect_navigation():
            citizen.get_by_role("button", name="提交上报").click()
        expect(citizen.locator("[role=status]")).to_have_text("您的上报已收到。")
        number = citizen.locator(".event-number").inner_text()
        report_url = citizen.url.split("?")[0]

        dispatcher = new_page()
        login_as(dispatcher, live_server, create_user(live_server, "disp.hp", grants=[("dispatcher", "310101")]))
        dispatcher.goto(f"{base}/cityops/console")
        row = dispatcher.locator("table.event-queue tbody tr", has_text=number)
        expect(row).to_contain_text("待研判")
        expect(dispatcher.locator(f'#city-map path[data-area="{STREET}"]')).to_have_attribute("data-count", "1")
        assert page_problems(dispatcher) == []
        shot(dispatcher, request, "console")
        row.locator("input[type=checkbox]").check()
        dispatcher.locator("#bulk-target").select_option(f"{city['dept']}|{city['team']}")
        with dispatcher.expect_navigation():
            dispatcher.get_by_role("button", name="派发所选事件").click()
        expect(dispatcher.locator("[role=status]")).to_have_text("事件已派单。")

        handler = new_page(mobile=True)
        login_as(handler, live_server, create_user(live_server, "handler.hjd",
                                                   grants=[("handler", STREET, city["team"])]))
        handler.goto(f"{base}/cityops/inbox")
        card = handler.locator(".ev-list li", has_text=number)
        assert page_problems(handler) == []
        shot(handler, request, "inbox")
        with handler.expect_navigation():
            card.get_by_role("button", name="接单").click()
        expect(handler.locator("[role=status]")).to_have_text("您已接单。")
        with handler.expect_navigation():
            handler.get_by_role("link", name="打开").first.click()
        handler.locator("#handle-result").fill("垃圾已清运，现场已清洁")
        handler.locator("#handle-photos").set_input_files({"name": "after.png", "mimeType": "image/png",
                                                           "buffer": PNG})
        shot(handler, request, "handle")
        with handler.expect_navigation():
            handler.get_by_role("button", name="按此结果办结").click()
        expect(handler.locator("[role=status]")).to_have_text("事件已处置，等待核查。")

        dispatcher.goto(f"{base}/cityops/console?status=handled")
        with dispatcher.expect_navigation():
            dispatcher.get_by_role("link", name=number).click()
        assert page_problems(dispatcher) == []
        shot(dispatcher, request, "event")
        with dispatcher.expect_navigation():
            dispatcher.get_by_role("button", name="已解决：结案").click()
        expect(dispatcher.locator(".event-status")).to_contain_text("已结案")

        citizen.goto(report_url)
        expect(citizen.locator(".event-status")).to_contain_text("已结案")
        expect(citizen.locator(".event-result")).to_have_text("垃圾已清运，现场已清洁")
        citizen.locator("label[for=score-5]").click()
        with citizen.expect_navigation():
            citizen.get_by_role("button", name="提交评价").click()
        expect(citizen.locator("[role=status]")).to_have_text("感谢您的评价。")
        expect(citizen.locator('li[data-step="rated"]')).to_contain_text("5 分")
        assert page_problems(citizen) == []
        shot(citizen, request, "rated")


class TestEmergencyMode:
    def test_a_declared_incident_takes_an_event_reported_over_the_api_until_it_is_stood_down(
        self, live_server: LiveServer, new_page: Callable[..., Page], city: dict[str, str],
        request: pytest.FixtureRequest,
    ) -> None:
        import httpx

        from yiwang.identity import service as identity_service

        base = live_server.url
        with live_server.db.transaction() as s:
            team = areas_service.create_department(s, SYSTEM, code="310101-YJ", name="黄浦区应急抢险队",
                                                   area_code="310101", kind="team")
        dispatcher = new_page()
        login_as(dispatcher, live_server, create_user(live_server, "disp.yj", grants=[("dispatcher", "310101")]))
        dispatcher.goto(f"{base}/cityops/console")
        with dispatcher.expect_navigation():
            dispatcher.locator(".ops-links").get_by_role("link", name="战时模式").click()
        dispatcher.locator("#incident-name").fill("暴雨内涝应急")
        dispatcher.locator("#incident-area").select_option("310101")
        dispatcher.get_by_label("市容环境", exact=True).check()
        dispatcher.locator("#incident-target").select_option(team.id)
        dispatcher.locator("#incident-deadline").fill("2h")
        dispatcher.locator("#incident-priority").select_option("1000")
        assert page_problems(dispatcher) == []
        shot(dispatcher, request, "declare")
        with dispatcher.expect_navigation():
            dispatcher.get_by_role("button", name="启动战时模式").click()
        expect(dispatcher.locator("[role=status]")).to_have_text("战时模式已启动：符合条件的新事件将派给指定队伍。")
        dispatcher.goto(f"{base}/cityops/console")
        expect(dispatcher.locator(".incident-banner")).to_contain_text("战时模式启动中：暴雨内涝应急")
        shot(dispatcher, request, "banner")

        citizen = create_user(live_server, "wang.citizen", kind="citizen")
        with live_server.db.transaction() as s:
            token, _ = identity_service.create_token(s, SYSTEM, citizen.id, "api", 1)
        sent = httpx.post(f"{base}/api/v1/cityops/reports/citizen", headers={"Authorization": f"Bearer {token}"},
                          json={"description": "路口积水垃圾堵塞下水道", "category_code": "SRHJ.LJ",
                                "lon": 121.2, "lat": 31.2})
        assert sent.status_code == 201, sent.text
        assert sent.json()["status"] == "dispatched"
        dispatcher.goto(f"{base}/cityops/events/{sent.json()['event_id']}")
        expect(dispatcher.locator(".event-assignee")).to_have_text("黄浦区应急抢险队")

        dispatcher.goto(f"{base}/cityops/incidents")
        card = dispatcher.locator("li[data-incident]", has_text="暴雨内涝应急")
        expect(card.locator(".incident-events")).to_have_text("1")
        with dispatcher.expect_navigation():
            card.get_by_role("link", name="解除战时模式……").click()
        expect(card).to_contain_text("确定解除“暴雨内涝应急”吗？")
        with dispatcher.expect_navigation():
            card.get_by_role("button", name="确定解除").click()
        expect(dispatcher.locator("[role=status]")).to_have_text("战时模式已解除：新事件恢复按派单规则派单。")
        expect(dispatcher.locator('li[data-incident][data-status="stood_down"]')).to_have_count(1)
        assert page_problems(dispatcher) == []
        dispatcher.goto(f"{base}/cityops/console")
        expect(dispatcher.locator(".incident-banner")).to_have_count(0)
