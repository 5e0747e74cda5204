"""Pages of 一网统管: the citizen's report and reports, the dispatcher console, the handler inbox,
the event page and the 12345 operator page — each page's main path and a refusal."""

from __future__ import annotations

import re
from html import unescape

from sqlalchemy import func, select

from yiwang.audit.models import AuditEntry
from yiwang.cityops import service as cityops_service
from yiwang.cityops.models import Event, Report
from yiwang.cityops.schemas import CheckBody, HandleBody

from .conftest import DISTRICT, GRID, HERE, STREET

HTML = {"accept": "text/html"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def count(session, model, *where) -> int:
    session.rollback()
    try:
        return session.scalar(select(func.count()).select_from(model).where(*where))
    finally:
        session.rollback()


def alert(html: str) -> str:
    found = re.search(r'role="alert"[^>]*>\s*(?:<p>)?([^<]*)<', html)
    return unescape(found.group(1)).strip() if found else ""


def only_event(session) -> Event:
    session.rollback()
    ev = session.scalars(select(Event)).one()
    session.expunge(ev)
    session.rollback()
    return ev


class TestCitizenReport:
    def test_shows_the_form_with_categories_places_and_the_svg_map(self, client, as_actor, citizen):
        as_actor(citizen)

        got = client.get("/report", headers=HTML)

        assert got.status_code == 200
        assert '<option value="unsure">不确定</option>' in got.text
        assert '<option value="SRHJ.LJ">市容环境 · 暴露垃圾</option>' in got.text
        assert f'<option value="{STREET}">' in got.text
        assert got.text.count('data-area="') == 1  # the city's one district, drawn from its GeoJSON
        assert 'name="csrf_token"' in got.text

    def test_a_report_with_a_photo_and_a_tapped_point_is_dispatched_and_listed(self, client, as_actor, citizen,
                                                                               session):
        as_actor(citizen)

        sent = client.post("/report", headers=HTML, follow_redirects=False,
                           data={"description": "路边有一堆暴露垃圾无人清理", "category": "SRHJ.LJ",
                                 "lon": str(HERE[0]), "lat": str(HERE[1]), "crs": "wgs84"},
                           files=[("photos", ("drain.png", PNG, "image/png"))])

        assert sent.status_code == 303
        ev = only_event(session)
        assert sent.headers["location"] == f"/my/reports/{ev.id}?done=reported"
        assert (ev.status, ev.grid_code) == ("dispatched", GRID)
        session.rollback()
        assert len(session.scalars(select(Report)).one().photo_ids) > 2
        session.rollback()
        page = client.get(sent.headers["location"], headers=HTML).text
        assert "您的上报已收到。" in page and ev.number in page
        mine = client.get("/my/reports", headers=HTML).text
        assert f'data-event="{ev.id}"' in mine and "已派单" in mine

    def test_an_empty_description_re_shows_the_form_in_chinese_and_keeps_nothing(self, client, as_actor, citizen,
                                                                                session):
        as_actor(citizen)

        got = client.post("/report", headers=HTML, data={"description": " ", "category": "unsure",
                                                          "area_code": STREET, "address": "南京东路1号"})

        assert got.status_code == 422
        assert alert(got.text) == "请描述问题（不超过 2000 个字）。"
        assert 'value="南京东路1号"' in got.text
        assert count(session, Event) == 0

    def test_staff_are_refused_and_visitors_sent_to_sign_in(self, client, as_actor, dispatcher):
        assert client.get("/report", headers=HTML, follow_redirects=False).headers["location"] == \
            "/login?next=%2Freport"
        as_actor(dispatcher)
        assert client.get("/report", headers=HTML).status_code == 403


class TestMyReport:
    def _closed(self, session, report, citizen, dispatcher, handler):
        out = report(citizen)
        cityops_service.accept(session, handler, out.event_id)
        cityops_service.handle(session, handler, out.event_id, HandleBody(finish=True, result="垃圾已清运"))
        cityops_service.check(session, dispatcher, out.event_id, CheckBody(passed=True))
        session.commit()
        return out.event_id

    def test_a_closed_report_is_rated_from_its_page(self, client, as_actor, session, report, citizen, dispatcher,
                                                    handler):
        event_id = self._closed(session, report, citizen, dispatcher, handler)
        as_actor(citizen)
        page = client.get(f"/my/reports/{event_id}", headers=HTML).text
        assert "垃圾已清运" in page and 'action="/my/reports/' in page and "重新处理" in page

        rated = client.post(f"/my/reports/{event_id}/rating", headers=HTML, data={"score": "5"})

        assert rated.status_code == 200 and "感谢您的评价。" in rated.text
        assert only_event(session).rating == 5

    def test_a_rating_without_a_score_is_refused_with_a_sentence(self, client, as_actor, session, report, citizen,
                                                                 dispatcher, handler):
        event_id = self._closed(session, report, citizen, dispatcher, handler)
        as_actor(citizen)

        got = client.post(f"/my/reports/{event_id}/rating", headers=HTML, data={})

        assert got.status_code == 422
        assert "1" in alert(got.text) and "5" in alert(got.text)
        assert only_event(session).rating is None

    def test_a_reopen_without_a_reason_is_refused_and_with_one_goes_back_to_the_team(
            self, client, as_actor, session, report, citizen, dispatcher, handler):
        event_id = self._closed(session, report, citizen, dispatcher, handler)
        as_actor(citizen)

        refused = client.post(f"/my/reports/{event_id}/reopen", headers=HTML, data={"reason": ""})
        assert refused.status_code == 422 and only_event(session).status == "closed"
        reopened = client.post(f"/my/reports/{event_id}/reopen", headers=HTML, data={"reason": "垃圾又堆起来了"})

        assert reopened.status_code == 200 and only_event(session).status == "reopened"

    def test_another_citizens_report_is_not_shown(self, client, as_actor, report, citizen, other_citizen):
        event_id = report(citizen).event_id
        as_actor(other_citizen)

        assert client.get(f"/my/reports/{event_id}", headers=HTML).status_code == 403


class TestDispatcherConsole:
    def test_the_queue_the_map_and_a_bulk_dispatch(self, client, as_actor, session, report, citizen, dispatcher,
                                                   city):
        first = report(citizen, category="SRHJ.LJ")
        second = report(citizen, "窨井盖不见了", point=None, category="SSGL.JG", area_code=STREET)
        lost = report(citizen, "不知道在哪里的问题", point=None, category=None)
        as_actor(dispatcher)

        page = client.get("/cityops/console", headers=HTML).text

        for out in (first, second):
            assert f'data-event="{out.event_id}"' in page
        assert f'data-event="{lost.event_id}"' not in page  # placed nowhere: the city's queue
        assert f'data-area="{STREET}" data-count="2"' in client.get(f"/cityops/console?area={DISTRICT}",
                                                                     headers=HTML).text
        done = client.post("/cityops/console/dispatch", headers=HTML, follow_redirects=False,
                           data={"event_id": [first.event_id, second.event_id],
                                 "target": f"{city['dept']}|{city['team']}"})
        assert done.status_code == 303 and done.headers["location"] == "/cityops/console?done=dispatched"
        session.rollback()
        assert {e.assignee_team_id for e in session.scalars(select(Event).where(
            Event.id.in_([first.event_id, second.event_id])))} == {city["team"]}

    def test_a_bulk_dispatch_with_nothing_ticked_is_refused_in_chinese(self, client, as_actor, dispatcher, city):
        as_actor(dispatcher)

        got = client.post("/cityops/console/dispatch", headers=HTML, data={"target": city["dept"]})

        assert got.status_code == 422 and "100" in alert(got.text)

    def test_a_handler_cannot_open_the_console(self, client, as_actor, handler):
        as_actor(handler)

        assert client.get("/cityops/console", headers=HTML).status_code == 403


class TestHandlerInboxAndEventPage:
    def test_accept_handle_with_a_photo_and_finish(self, client, as_actor, session, report, citizen, handler,
                                                   dispatcher):
        event_id = report(citizen).event_id
        as_actor(handler)
        inbox = client.get("/cityops/inbox", headers=HTML).text
        assert f'data-event="{event_id}"' in inbox

        client.post(f"/cityops/events/{event_id}/accept", headers=HTML, data={"back": "inbox"})
        act = client.post(f"/cityops/events/{event_id}/handle", headers=HTML,
                          data={"note": "已到现场", "finish": "no"}, files=[("photos", ("a.png", PNG, "image/png"))])
        assert act.status_code == 200 and "处置情况已记录。" in act.text
        done = client.post(f"/cityops/events/{event_id}/handle", headers=HTML,
                           data={"finish": "yes", "result": "垃圾已清运"})

        assert done.status_code == 200 and only_event(session).status == "handled"
        as_actor(dispatcher)
        page = client.get(f"/cityops/events/{event_id}", headers=HTML).text
        assert 'action="/cityops/events/' in page and "核查" in page
        closed = client.post(f"/cityops/events/{event_id}/check", headers=HTML, data={"passed": "yes"})
        assert closed.status_code == 200 and only_event(session).status == "closed"

    def test_finishing_without_a_result_re_shows_the_page_with_the_sentence(self, client, as_actor, session,
                                                                            report, citizen, handler):
        event_id = report(citizen).event_id
        cityops_service.accept(session, handler, event_id)
        session.commit()
        as_actor(handler)

        got = client.post(f"/cityops/events/{event_id}/handle", headers=HTML, data={"finish": "yes", "result": ""})

        assert got.status_code == 422 and alert(got.text) == "请描述问题（不超过 2000 个字）。"
        assert only_event(session).status == "accepted"

    def test_the_staff_read_is_audited(self, client, as_actor, session, report, citizen, dispatcher):
        event_id = report(citizen).event_id
        as_actor(dispatcher)

        assert client.get(f"/cityops/events/{event_id}", headers=HTML).status_code == 200
        assert count(session, AuditEntry, AuditEntry.action == "cityops.event_read") == 1

    def test_a_handler_of_another_street_is_refused_and_nothing_changes(self, client, as_actor, session, report,
                                                                        citizen, other_handler):
        event_id = report(citizen).event_id
        as_actor(other_handler)

        assert client.get("/cityops/inbox", headers=HTML).text.count('data-event="') == 0
        assert client.post(f"/cityops/events/{event_id}/accept", headers=HTML).status_code == 403
        assert only_event(session).status == "dispatched"


class TestHotline:
    def test_a_call_opens_an_event_and_the_caller_is_found_next_time(self, client, as_actor, session, operator):
        as_actor(operator)
        page = client.get("/cityops/hotline", headers=HTML).text
        assert 'autofocus accesskey="p"' in page and 'hx-get="/cityops/hotline/suggest"' in page

        sent = client.post("/cityops/hotline", headers=HTML, follow_redirects=False,
                           data={"caller_phone": "138 1234 5678", "description": "小区门口井盖缺了一块",
                                 "category": "SSGL.JG", "area_code": STREET})

        assert sent.status_code == 303 and "done=opened" in sent.headers["location"]
        ev = only_event(session)
        assert ev.status == "dispatched"
        found = client.post("/cityops/hotline/caller", headers=HTML, data={"caller_phone": "13812345678"}).text
        assert 'data-caller-events="1"' in found and ev.number in found
        assert "13812345678" not in found
        assert count(session, AuditEntry, AuditEntry.action == "cityops.caller_lookup") == 1
        suggested = client.get("/cityops/hotline/suggest", headers=HTML,
                               params={"description": "井盖缺了", "category": "SSGL.JG"}).text
        assert f'data-event="{ev.id}"' in suggested

    def test_a_question_answered_from_the_catalogue_is_recorded_as_a_consultation(self, client, as_actor, session,
                                                                                     operator):
        from tests.catalog.conftest import item_data
        from yiwang.catalog import service as catalog_service
        from yiwang.cityops.models import Consultation

        catalog_service.create_item(session, SYSTEM, "31-TEST-001", item_data(
            name="餐饮服务食品经营许可", department="310101-LHSR", keywords=["开餐馆", "食品经营"]))
        session.commit()
        as_actor(operator)
        page = client.get("/cityops/hotline", headers=HTML, params={"q": "食品经营许可"}).text
        assert 'value="item:31-TEST-001"' in page

        sent = client.post("/cityops/hotline/answer", headers=HTML, follow_redirects=False, data={
            "q": "开饭店要办什么证", "caller_phone": "13812345678", "service": "item:31-TEST-001"})

        assert sent.status_code == 303 and "done=answered" in sent.headers["location"]
        shown = client.get(sent.headers["location"], headers=HTML).text
        assert "答复已记为 12345 咨询工单" in shown and "开饭店要办什么证 → 餐饮服务食品经营许可" in shown
        session.rollback()
        row = session.query(Consultation).one()
        assert row.caller_phone_enc and "13812345678" not in row.caller_phone_enc and row.caller_phone_index
        assert count(session, Event) == 0
        assert count(session, AuditEntry, AuditEntry.action == "cityops.consultation") == 1
        found = client.post("/cityops/hotline/caller", headers=HTML, data={"caller_phone": "13812345678"}).text
        assert 'data-caller-questions="1"' in found and "餐饮服务食品经营许可" in found
        bad = client.post("/cityops/hotline/answer", headers=HTML, data={"q": "", "service": "item:31-TEST-001"})
        assert bad.status_code == 422 and "请填写来电人的问题" in bad.text
        assert session.query(Consultation).count() == 1

    def test_a_malformed_phone_re_shows_the_form_in_chinese_and_opens_nothing(self, client, as_actor, session,
                                                                             operator):
        as_actor(operator)

        got = client.post("/cityops/hotline", headers=HTML, data={"caller_phone": "abc", "description": "路灯不亮",
                                                                   "category": "unsure"})

        assert got.status_code == 422 and alert(got.text) == "来电号码应为 5 至 20 位数字。"
        assert 'value="abc"' not in got.text and "路灯不亮" in got.text
        assert count(session, Event) == 0

    def test_a_service_question_is_answered_from_the_catalogue(self, client, as_actor, operator):
        as_actor(operator)

        got = client.get("/cityops/hotline", headers=HTML, params={"q": "餐饮"})

        assert got.status_code == 200 and "没有匹配的服务事项" in got.text

    def test_a_citizen_cannot_use_the_operator_page(self, client, as_actor, citizen):
        as_actor(citizen)

        assert client.get("/cityops/hotline", headers=HTML).status_code == 403


# -- routing rules, emergency mode and photos -------------------------------------------------------
from yiwang.areas import service as areas_service  # noqa: E402
from yiwang.cityops.models import Incident, RoutingRule  # noqa: E402
from yiwang.core.actor import SYSTEM  # noqa: E402
from yiwang.files import service as files_service  # noqa: E402

from .conftest import OTHER_STREET  # noqa: E402


def rules_of(session, category: str) -> list[tuple[int, bool, str | None, str | None]]:
    session.rollback()
    try:
        return [(r.version, r.current, r.department_id, r.team_id) for r in session.scalars(
            select(RoutingRule).where(RoutingRule.category_code == category).order_by(RoutingRule.version))]
    finally:
        session.rollback()


class TestRoutingRulesPage:
    def test_a_change_makes_version_2_and_keeps_version_1_in_the_history(self, client, as_actor, session,
                                                                         dispatcher, city):
        as_actor(dispatcher)
        page = client.get("/cityops/rules", headers=HTML).text
        assert page.count('data-version="1"') == 2 and "南京东路街道环境队" in page and "黄浦区" in page
        assert 'href="/cityops/rules"' in page and 'href="/cityops/incidents"' in page  # the nav

        sent = client.post("/cityops/rules", headers=HTML, follow_redirects=False,
                           data={"category_code": "SRHJ", "area_prefix": DISTRICT, "target": city["emergency"]})

        assert sent.status_code == 303 and sent.headers["location"].endswith("?done=rule_saved")
        assert rules_of(session, "SRHJ") == [(1, False, city["dept"], city["team"]),
                                             (2, True, city["emergency"], None)]
        history = client.get(sent.headers["location"], headers=HTML).text
        assert "派单规则已保存为新版本。" in history
        assert re.search(r'<tr data-version="2" class="rule-current">.*?黄浦区应急抢险队', history, re.S)
        assert re.search(r'<tr data-version="1">.*?南京东路街道环境队', history, re.S)
        listed = client.get("/cityops/rules", headers=HTML, params={"category": "SRHJ"}).text
        assert listed.count("data-rule=") == 1 and 'data-version="2"' in listed
        assert count(session, AuditEntry, AuditEntry.action == "cityops.rule_changed") == 3  # 2 fixture + 1

    def test_the_change_form_of_a_rule_keeps_its_category_and_area(self, client, as_actor, session, dispatcher,
                                                                   city):
        as_actor(dispatcher)
        rule_id = re.search(r'data-rule="([^"]+)"', client.get("/cityops/rules", headers=HTML,
                                                                params={"category": "SSGL"}).text).group(1)

        sent = client.post("/cityops/rules", headers=HTML, follow_redirects=False,
                           data={"rule_id": rule_id, "category_code": "SSGL", "area_prefix": DISTRICT,
                                 "target": "retire"})

        assert sent.status_code == 303
        assert rules_of(session, "SSGL") == [(1, False, city["dept"], None), (2, True, None, None)]
        assert "已停用：事件进入待研判" in client.get(sent.headers["location"], headers=HTML).text

    def test_a_grid_worker_is_chosen_by_name_and_one_elsewhere_is_refused_in_chinese(self, client, as_actor,
                                                                                     session, dispatcher, city):
        from yiwang.core.actor import SYSTEM
        from yiwang.identity import service as identity_service

        worker = identity_service.create_user(session, SYSTEM, username="grid.worker", password=None, kind="staff",
                                              display_name="王网格", grants=[("grid_worker", GRID, None)])
        session.commit()
        as_actor(dispatcher)
        page = client.get("/cityops/rules", headers=HTML).text
        assert f'<option value="{worker.id}">王网格</option>' in page

        sent = client.post("/cityops/rules", headers=HTML, follow_redirects=False,
                           data={"category_code": "SSGL", "area_prefix": OTHER_STREET, "target": city["dept"],
                                 "user_id": worker.id})
        assert sent.status_code == 422
        assert "网格员须为在本规则区域内处置事件的在用账号。" in sent.text
        assert f'<option value="{worker.id}" selected>' in sent.text
        sent = client.post("/cityops/rules", headers=HTML, follow_redirects=False,
                           data={"category_code": "SSGL", "area_prefix": STREET, "target": city["dept"],
                                 "user_id": worker.id})
        assert sent.status_code == 303
        session.rollback()
        assert session.scalar(select(RoutingRule.user_id).where(RoutingRule.current.is_(True),
                                                                RoutingRule.area_prefix == STREET)) == worker.id

    def test_an_unknown_category_re_shows_the_form_in_chinese_with_the_choices_kept(self, client, as_actor,
                                                                                    session, dispatcher, city):
        as_actor(dispatcher)

        got = client.post("/cityops/rules", headers=HTML,
                          data={"category_code": "NOPE", "area_prefix": STREET, "target": city["dept"]})

        assert got.status_code == 422
        assert alert(got.text) == "NOPE 不是城市事件的分类，请从分类列表中选择。"
        assert f'<option value="{STREET}" selected>' in got.text
        assert f'<option value="{city["dept"]}" selected>' in got.text
        assert len(rules_of(session, "SRHJ")) == 1

    def test_a_department_of_another_street_is_refused_in_chinese(self, client, as_actor, session, dispatcher,
                                                                  city):
        other = areas_service.create_department(session, SYSTEM, code="310101003-HJD", name="外滩街道环境队",
                                                area_code=OTHER_STREET, kind="team", parent_id=city["dept"])
        session.commit()
        as_actor(dispatcher)

        got = client.post("/cityops/rules", headers=HTML, data={
            "category_code": "SRHJ.LJ", "area_prefix": STREET, "target": f"{city['dept']}|{other.id}"})

        assert got.status_code == 422
        assert alert(got.text) == "外滩街道环境队 不在南京东路街道范围内：请选择该区域或其上级区域的部门或队伍。"
        assert rules_of(session, "SRHJ.LJ") == []

    def test_a_rule_version_outside_the_dispatchers_area_and_a_handler_are_refused(self, client, as_actor,
                                                                                    session, dispatcher, handler,
                                                                                    city_dispatcher, city):
        as_actor(handler)
        assert client.get("/cityops/rules", headers=HTML).status_code == 403
        assert client.post("/cityops/rules", headers=HTML, data={
            "category_code": "SRHJ", "area_prefix": STREET, "target": city["dept"]}).status_code == 403
        as_actor(city_dispatcher)
        sent = client.post("/cityops/rules", headers=HTML, follow_redirects=False,
                           data={"category_code": "SRHJ", "area_prefix": "31", "target": city["dept"]})
        assert sent.status_code == 303
        as_actor(dispatcher)  # the district's dispatcher: the city's rule is not theirs
        assert client.get(sent.headers["location"].split("?")[0], headers=HTML).status_code == 403
        assert client.get("/cityops/rules/nope", headers=HTML).status_code == 404


class TestEmergencyModePage:
    def _declare(self, client, city, **more):
        data = {"name": "台风应急", "area_code": DISTRICT, "categories": ["SRHJ"], "target": city["emergency"],
                "deadline": "2h", "priority": "500", **more}
        return client.post("/cityops/incidents", headers=HTML, follow_redirects=False, data=data)

    def test_declare_the_banner_an_event_taken_and_stand_down(self, client, as_actor, session, report, citizen,
                                                              dispatcher, city):
        as_actor(dispatcher)
        assert 'id="declare-form"' in client.get("/cityops/incidents", headers=HTML).text

        sent = self._declare(client, city)

        assert sent.status_code == 303 and "done=declared" in sent.headers["location"]
        session.rollback()
        incident_id = session.scalars(select(Incident.id)).one()
        session.rollback()
        console = client.get("/cityops/console", headers=HTML).text
        assert f'class="alert alert--warning incident-banner" aria-labelledby="incident-banner-{incident_id}"' in console
        assert "战时模式启动中：台风应急" in console
        taken = report(citizen)
        ev = only_event(session)
        assert (ev.id, ev.incident_id, ev.assignee_department_id) == (taken.event_id, incident_id, city["emergency"])
        page = client.get("/cityops/incidents", headers=HTML).text
        assert re.search(r'data-status="active".*?台风应急.*?市容环境.*?黄浦区应急抢险队.*?2h.*?很高'
                         r'.*?<dd class="incident-events">1</dd>', page, re.S)
        assert f'action="/cityops/incidents/{incident_id}/stand-down"' not in page  # a confirmation step first
        confirm = client.get("/cityops/incidents", headers=HTML, params={"confirm": incident_id}).text
        assert "确定解除“台风应急”吗？" in confirm
        assert f'action="/cityops/incidents/{incident_id}/stand-down"' in confirm

        down = client.post(f"/cityops/incidents/{incident_id}/stand-down", headers=HTML, follow_redirects=False)

        assert down.status_code == 303 and down.headers["location"] == "/cityops/incidents?done=stood_down"
        assert "data-incident=" not in client.get("/cityops/console", headers=HTML).text
        after = client.get(down.headers["location"], headers=HTML).text
        assert "战时模式已解除：新事件恢复按派单规则派单。" in after and 'data-status="stood_down"' in after
        assert count(session, AuditEntry, AuditEntry.action.in_(
            ("cityops.incident_declared", "cityops.incident_stood_down"))) == 2

    def test_a_bad_deadline_re_shows_the_form_in_chinese_and_declares_nothing(self, client, as_actor, session,
                                                                              dispatcher, city):
        as_actor(dispatcher)

        got = self._declare(client, city, deadline="soon")

        assert got.status_code == 422
        assert alert(got.text) == "处置时限应为工作小时数或工作日数，如 8h 或 3d，而不是 soon。"
        assert 'value="台风应急"' in got.text and 'value="SRHJ" checked' in got.text
        assert count(session, Incident) == 0

    def test_no_category_re_shows_the_form(self, client, as_actor, session, dispatcher, city):
        as_actor(dispatcher)

        got = self._declare(client, city, categories=[])

        assert got.status_code == 422 and "至少" in alert(got.text)
        assert count(session, Incident) == 0

    def test_a_handler_sees_incidents_but_cannot_declare_and_a_citizen_sees_nothing(
            self, client, as_actor, session, handler, citizen, dispatcher, city):
        as_actor(dispatcher)
        self._declare(client, city)
        as_actor(handler)
        page = client.get("/cityops/incidents", headers=HTML)
        assert page.status_code == 200 and "台风应急" in page.text
        assert 'id="declare-form"' not in page.text and "stand-down" not in page.text
        assert self._declare(client, city, name="另一个").status_code == 403
        as_actor(citizen)
        assert client.get("/cityops/incidents", headers=HTML).status_code == 403
        assert count(session, Incident) == 1


class TestEventPhotos:
    def _photo(self, session, actor) -> str:
        stored = files_service.store_upload(session, actor, data=PNG, filename="drain.png", purpose="photo")
        session.commit()
        return stored.id

    def test_the_reporter_and_staff_see_the_photo_and_staff_reads_are_audited(self, client, as_actor, session,
                                                                              report, citizen, dispatcher):
        photo = self._photo(session, citizen)
        event_id = report(citizen, photo_ids=[photo]).event_id
        url = f"/cityops/events/{event_id}/photos/{photo}"
        as_actor(citizen)
        assert f'<img src="{url}"' in client.get(f"/my/reports/{event_id}", headers=HTML).text

        own = client.get(url)

        assert own.status_code == 200 and own.content == PNG
        assert own.headers["content-type"] == "image/png"
        assert own.headers["x-content-type-options"] == "nosniff"
        assert own.headers["content-disposition"].startswith("inline;")
        assert count(session, AuditEntry, AuditEntry.action == "file.read") == 0  # the owner's own
        as_actor(dispatcher)
        assert f'<img src="{url}"' in client.get(f"/cityops/events/{event_id}", headers=HTML).text
        staff = client.get(url)
        assert staff.status_code == 200 and staff.content == PNG
        assert count(session, AuditEntry, AuditEntry.action == "file.read") == 1

    def test_the_handlers_evidence_photo_is_shown_to_the_reporter(self, client, as_actor, session, report,
                                                                  citizen, handler):
        event_id = report(citizen).event_id
        evidence = self._photo(session, handler)
        cityops_service.accept(session, handler, event_id)
        cityops_service.handle(session, handler, event_id, HandleBody(note="已清运", photo_ids=[evidence]))
        session.commit()
        as_actor(citizen)
        url = f"/cityops/events/{event_id}/photos/{evidence}"

        assert f'<img src="{url}"' in client.get(f"/my/reports/{event_id}", headers=HTML).text
        assert client.get(url).content == PNG

    def test_another_citizen_and_a_photo_of_another_event_are_refused(self, client, as_actor, session, report,
                                                                      citizen, other_citizen, dispatcher):
        photo = self._photo(session, citizen)
        event_id = report(citizen, photo_ids=[photo]).event_id
        other_event = report(other_citizen, "窨井盖不见了", category="SSGL.JG").event_id
        as_actor(other_citizen)
        assert client.get(f"/cityops/events/{event_id}/photos/{photo}").status_code == 403
        assert client.get(f"/cityops/events/{other_event}/photos/{photo}").status_code == 404
        as_actor(dispatcher)
        assert client.get(f"/cityops/events/{other_event}/photos/{photo}").status_code == 404
        assert count(session, AuditEntry, AuditEntry.action == "file.read") == 0
