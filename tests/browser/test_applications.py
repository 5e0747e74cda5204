"""一网通办 in a real browser: a citizen applies for 开办餐饮店 and follows it to three certificates,
with a clerk, two departments' approvers and one correction (journey 1); a clerk of another district
files at the counter for the same citizen (journey 2, 全市通办)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.applications.conftest import ZHANG_ID, restaurant_catalogue
from yiwang.areas import service as areas_service
from yiwang.catalog import service as catalog_service
from yiwang.core.actor import SYSTEM
from yiwang.core.jobs import bind_settings
from yiwang.demo.city import CITY_DEPARTMENTS
from yiwang.identity import service as identity_service
from yiwang.registry import service as registry_service

from .conftest import LiveServer, artifacts_dir
from .helpers import DEFAULT_PASSWORD, TestUser, create_user, login_as, page_problems

pytestmark = pytest.mark.browser

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
SHOP = {
    "entity_name": "上海黄浦小笼包餐饮有限公司", "registered_capital": "50", "business_scope": "餐饮服务",
    "business_address": "上海市黄浦区南京东路200号", "area_code": "310101002", "floor_area": "80",
    "sign_text": "黄浦小笼", "sign_size": "3x1",
}
UPLOADS = ("articles", "premises", "layout", "safety_rules", "sign_design", "owner_consent")


@pytest.fixture
def city(live_server: LiveServer) -> dict[str, str]:
    """The city with 黄浦区 and 徐汇区, its bureaus, the restaurant bundle and 张三明 in the registry."""
    bind_settings(live_server.db.engine, live_server.settings)
    with live_server.db.transaction() as s:
        areas_service.create_area(s, SYSTEM, code="31", name="上海市", level="city")
        areas_service.create_area(s, SYSTEM, code="310101", name="黄浦区", level="district", parent_code="31")
        areas_service.create_area(s, SYSTEM, code="310104", name="徐汇区", level="district", parent_code="31")
        depts = {suffix: areas_service.create_department(s, SYSTEM, code=f"31-{suffix}", name=name, kind=kind,
                                                         area_code="31").id
                 for suffix, name, kind in CITY_DEPARTMENTS}
        catalog_service.import_catalog(s, SYSTEM, json.dumps(restaurant_catalogue(), ensure_ascii=False), "json")
        person = registry_service.create_person(s, SYSTEM, {
            "name": "张三明", "id_number": ZHANG_ID, "phone": "13812345678",
            "address": "上海市黄浦区南京东路100号", "area_code": "310101"})
    return {"SCJG": depts["SCJG"], "LHSR": depts["LHSR"], "person_id": person.id}


def citizen_account(live_server: LiveServer, person_id: str) -> TestUser:
    with live_server.db.transaction() as s:
        identity_service.seed_policy(s)
        user = identity_service.create_user(s, SYSTEM, username="zhang.sanming", password=DEFAULT_PASSWORD,
                                            kind="citizen", display_name="张三明", person_id=person_id,
                                            settings=live_server.settings)
    return TestUser(id=user.id, username="zhang.sanming", password=DEFAULT_PASSWORD, totp_secret=None)


def pdf(name: str) -> dict[str, object]:
    return {"name": name, "mimeType": "application/pdf", "buffer": PDF}


def shot(page: Page, request: pytest.FixtureRequest, name: str) -> None:
    page.screenshot(path=str(artifacts_dir(request.config) / f"applications-{name}.png"), full_page=True)


def decide_everything(page: Page, base: str, decision: str = "approve") -> int:
    """As the signed-in approver, decide every task in the inbox until none is left; returns how many."""
    done = 0
    while True:
        page.goto(f"{base}/inbox/tasks")
        links = page.locator("table.task-list tbody a")
        if links.count() == 0:
            return done
        with page.expect_navigation():
            links.first.click()
        with page.expect_navigation():
            page.locator(f'#decide-form button[value="{decision}"]').click()
        expect(page.locator("[role=status]")).to_have_text("审批意见已提交。")
        done += 1


class TestJourneyOne:
    def test_a_citizen_applies_for_the_restaurant_bundle_and_gets_three_certificates(
        self, live_server: LiveServer, new_page: Callable[..., Page], city: dict[str, str],
        request: pytest.FixtureRequest,
    ) -> None:
        base = live_server.url
        citizen = new_page()
        login_as(citizen, live_server, citizen_account(live_server, city["person_id"]))

        # The service guide leads to the form; the registry fills the applicant's part after consent.
        citizen.goto(f"{base}/services/bundles/YJS-001")
        with citizen.expect_navigation():
            citizen.get_by_role("link", name="在线办理").click()
        assert citizen.locator("h1").inner_text() == "开办餐饮店"
        held = citizen.locator('li[data-material="id_card"]')
        expect(held).to_contain_text("已由政府部门共享，无需提交")
        citizen.get_by_label("我同意读取我的登记信息用于填写本表。").check()
        with citizen.expect_navigation():
            citizen.get_by_role("button", name="用登记信息预填").click()
        expect(citizen.locator("#apply-applicant_name")).to_have_value("张三明")
        assert citizen.locator("#apply-id_number").get_attribute("readonly") is not None
        for name, value in SHOP.items():
            citizen.locator(f"#apply-{name}").fill(value)
        citizen.locator("#apply-food_category").select_option("catering")
        for code in UPLOADS:
            citizen.locator(f"#mat-{code}").set_input_files(pdf(f"{code}.pdf"))
        assert page_problems(citizen) == []
        shot(citizen, request, "apply")
        with citizen.expect_navigation():
            citizen.get_by_role("button", name="提交申请").click()
        expect(citizen.locator("[role=status]")).to_have_text("申请已提交。")
        application_url = citizen.url.split("?")[0]
        number = citizen.locator(".app-number").inner_text()

        # The clerk of 黄浦区 accepts it from the intake queue.
        clerk = new_page()
        login_as(clerk, live_server, create_user(live_server, "clerk.hp", grants=[("clerk", "310101")], totp=True))
        clerk.goto(f"{base}/workbench")
        assert page_problems(clerk) == []
        shot(clerk, request, "workbench")
        with clerk.expect_navigation():
            clerk.get_by_role("link", name=number).click()
        expect(clerk.locator('dd[data-answer="applicant_name"]')).to_have_text("张三明")
        assert page_problems(clerk) == []
        shot(clerk, request, "intake")
        with clerk.expect_navigation():
            clerk.get_by_role("button", name="受理", exact=True).click()
        expect(clerk.locator("[role=status]")).to_contain_text("办件已受理。")

        # 绿化市容局 asks for a correction of its branch; its diagram shows where the branch waits.
        lhsr = new_page()
        login_as(lhsr, live_server, create_user(live_server, "approver.lhsr", grants=[("approver", "31", city["LHSR"])],
                                                totp=True))
        lhsr.goto(f"{base}/inbox/tasks")
        expect(lhsr.locator("table.task-list tbody a")).to_have_text([number])
        assert page_problems(lhsr) == []
        shot(lhsr, request, "inbox")
        with lhsr.expect_navigation():
            lhsr.get_by_role("link", name=number).click()
        lhsr.wait_for_selector("#wf-canvas[data-state=drawn]")
        assert lhsr.locator("#wf-canvas .djs-element.wf-active").count() == 1
        assert page_problems(lhsr) == []
        shot(lhsr, request, "task")
        lhsr.get_by_label("审批意见或理由").fill("请补充招牌设计效果图（含尺寸标注）")
        with lhsr.expect_navigation():
            lhsr.get_by_role("button", name="补正", exact=True).click()
        expect(lhsr.locator("[role=status]")).to_have_text("审批意见已提交。")

        # The citizen sees why and answers with a new file.
        citizen.goto(application_url)
        branch = citizen.locator('li[data-item="LHSR-001"]')
        expect(branch.locator(".correction-reason")).to_have_text("请补充招牌设计效果图（含尺寸标注）")
        assert page_problems(citizen) == []
        shot(citizen, request, "correction")
        branch.get_by_label("重新上传“招牌设计效果图”（选填）").set_input_files(pdf("sign-v2.pdf"))
        with citizen.expect_navigation():
            branch.get_by_role("button", name="提交补正").click()
        expect(citizen.locator("[role=status]")).to_have_text("补正材料已提交。")

        # Both departments approve every step.
        scjg = new_page()
        login_as(scjg, live_server, create_user(live_server, "approver.scjg", grants=[("approver", "31", city["SCJG"])],
                                                totp=True))
        assert decide_everything(scjg, base) == 4  # two items, review then approval each
        assert decide_everything(lhsr, base) == 2

        # Closed: three certificates, and the citizen rates the service.
        citizen.goto(application_url)
        expect(citizen.locator(".status-badge").first).to_have_text("已办结")
        certificates = citizen.locator("li[data-certificate] a")
        expect(certificates).to_have_count(3)
        assert sorted(certificates.all_inner_texts()) == sorted(["营业执照", "食品经营许可证", "户外招牌设置许可决定书"])
        assert page_problems(citizen) == []
        shot(citizen, request, "closed")
        citizen.get_by_label("4 分").check()
        citizen.get_by_label("评价内容（选填）").fill("一次提交，三张证照，很方便")
        with citizen.expect_navigation():
            citizen.get_by_role("button", name="提交评价").click()
        expect(citizen.locator("[role=status]")).to_have_text("感谢您的评价。")
        expect(citizen.locator("#rate")).to_have_count(0)
        with citizen.expect_navigation():
            certificates.first.click()
        assert re.search(r"/my/certificates/\w+$", citizen.url)

        citizen.goto(f"{base}/my/applications")
        expect(citizen.locator(".app-list .status-badge")).to_have_text(["已办结"])
        assert page_problems(citizen) == []
        shot(citizen, request, "mine")

    def test_the_form_fits_a_phone(self, live_server: LiveServer, mobile_page: Page, city: dict[str, str],
                                   request: pytest.FixtureRequest) -> None:
        login_as(mobile_page, live_server, citizen_account(live_server, city["person_id"]))

        mobile_page.goto(f"{live_server.url}/apply/bundle/YJS-001")

        assert page_problems(mobile_page) == []
        shot(mobile_page, request, "apply-phone")


class TestJourneyTwo:
    def test_a_clerk_of_another_district_files_at_the_counter_and_everyone_sees_it(
        self, live_server: LiveServer, new_page: Callable[..., Page], city: dict[str, str],
        request: pytest.FixtureRequest,
    ) -> None:
        base = live_server.url
        clerk = new_page()
        login_as(clerk, live_server, create_user(live_server, "clerk.xh", grants=[("clerk", "310104")], totp=True))

        clerk.goto(f"{base}/workbench")
        with clerk.expect_navigation():
            clerk.get_by_role("link", name="窗口收件（全市通办）").click()
        clerk.get_by_label("事项名称、关键词或编码").fill("SCJG-001")
        with clerk.expect_navigation():
            clerk.get_by_role("button", name="查找事项").click()
        with clerk.expect_navigation():
            clerk.get_by_role("link", name="企业设立登记").click()
        clerk.get_by_label("身份证号码或统一社会信用代码").fill(ZHANG_ID)
        clerk.get_by_label("申请人姓名或企业名称").fill("张三明")
        for name, value in {"applicant_name": "张三明", "id_number": ZHANG_ID, "mobile": "13812345678",
                            "entity_name": SHOP["entity_name"], "registered_capital": "50",
                            "business_scope": "餐饮服务", "business_address": SHOP["business_address"],
                            "area_code": "310101002"}.items():
            clerk.locator(f"#hall-{name}").fill(value)
        for code in ("articles", "premises"):
            clerk.locator(f"#hall-mat-{code}").set_input_files(pdf(f"{code}.pdf"))
        assert page_problems(clerk) == []
        shot(clerk, request, "hall")
        with clerk.expect_navigation():
            clerk.get_by_role("button", name="登记并受理").click()
        expect(clerk.locator("[role=status]")).to_have_text("已登记并受理。")
        number = clerk.locator(".app-number").inner_text()
        expect(clerk.locator(".status-badge").first).to_have_text("审查中")

        approver = new_page()
        login_as(approver, live_server, create_user(live_server, "approver.scjg2",
                                                    grants=[("approver", "31", city["SCJG"])], totp=True))
        approver.goto(f"{base}/inbox/tasks")
        expect(approver.locator("table.task-list tbody a")).to_have_text([number])

        citizen = new_page()
        login_as(citizen, live_server, citizen_account(live_server, city["person_id"]))
        citizen.goto(f"{base}/my/applications")
        card = citizen.locator(".app-list > li")
        expect(card).to_have_count(1)
        expect(card.locator(".card__title")).to_have_text("企业设立登记")
        expect(card).to_contain_text("窗口受理（全市通办）")
        with citizen.expect_navigation():
            card.get_by_role("link", name="企业设立登记").click()
        expect(citizen.locator(".app-number")).to_have_text(number)
        assert page_problems(citizen) == []
