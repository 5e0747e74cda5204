"""一网统管 use cases: intake for every channel, duplicates, triage, dispatch, handling, the closed
loop, escalation, emergency mode and area scoping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from yiwang.areas import service as areas_service
from yiwang.cityops import errors
from yiwang.cityops import service as cityops_service
from yiwang.cityops.models import Escalation, Event, Report
from yiwang.cityops.schemas import (
    BulkDispatchBody,
    CheckBody,
    DispatchBody,
    HandleBody,
    IncidentCreate,
    ReportIn,
    RuleCreate,
    TriageDecision,
)
from yiwang.core.actor import SYSTEM
from yiwang.core.errors import PermissionDenied

from .conftest import DISTRICT, GRID, HERE, OTHER_STREET, OUTSIDE, STREET, THERE, metres_east


def event_row(session, event_id: str) -> Event:
    session.expire_all()
    return session.get(Event, event_id)


def kinds(session, event_id: str) -> list[str]:
    return [t.kind for t in cityops_service.get_event(session, SYSTEM, event_id).timeline]


class TestIntake:
    def test_a_located_classified_report_is_routed_by_the_rule(self, session, citizen, city, report):
        out = report(citizen)
        ev = event_row(session, out.event_id)
        assert (out.merged, out.status) == (False, "dispatched")
        assert (ev.grid_code, ev.community_code, ev.street_code, ev.district_code) == (
            GRID, GRID[:12], STREET, DISTRICT)
        assert (ev.assignee_department_id, ev.assignee_team_id) == (city["dept"], city["team"])
        assert ev.rule_version == 1 and ev.level == "grid" and ev.urgency == "normal"
        assert ev.due_at > ev.created_at
        assert kinds(session, ev.id) == ["reported", "dispatched"]

    def test_the_parent_categorys_rule_routes_a_child_category(self, session, citizen, city, report):
        out = report(citizen, "井盖缺失有安全隐患", category="SSGL.JG")
        ev = event_row(session, out.event_id)
        assert (ev.assignee_department_id, ev.assignee_team_id, ev.urgency) == (city["dept"], None, "urgent")

    def test_gcj02_point_is_converted_and_stored_as_wgs84(self, session, citizen, city):
        from yiwang.areas.geo import wgs84_to_gcj02

        lon, lat = wgs84_to_gcj02(*HERE)
        out = cityops_service.report_citizen(session, citizen, ReportIn(
            description="垃圾堆放", category_code="SRHJ.LJ", lon=lon, lat=lat, crs="gcj02"))
        ev = event_row(session, out.event_id)
        assert (round(ev.lon, 6), round(ev.lat, 6)) == HERE and ev.grid_code == GRID

    def test_no_location_goes_to_the_triage_queue(self, session, citizen, city, report):
        out = report(citizen, point=None)
        ev = event_row(session, out.event_id)
        assert (ev.status, ev.triage_reason, ev.area_code, ev.district_code) == ("triage", "no_location", "31", "31")
        assert session.scalar(select(func.count()).select_from(Report).where(Report.event_id == ev.id)) == 1

    def test_an_address_without_a_point_is_placed_by_the_street_it_names(self, session, citizen, city):
        out = cityops_service.report_citizen(session, citizen, ReportIn(
            description="垃圾堆放", category_code="SRHJ.LJ", address="黄浦区南京东路299号门口"))
        ev = event_row(session, out.event_id)
        assert (ev.area_code, ev.street_code, ev.grid_code, ev.district_code) == (STREET, STREET, None, DISTRICT)
        assert (ev.status, ev.assignee_department_id) == ("dispatched", city["dept"])

    def test_an_address_naming_no_area_goes_to_the_triage_queue(self, session, citizen, city):
        out = cityops_service.report_citizen(session, citizen, ReportIn(
            description="垃圾堆放", category_code="SRHJ.LJ", address="楼下门口"))
        ev = event_row(session, out.event_id)
        assert (ev.status, ev.triage_reason) == ("triage", "no_location")

    def test_a_point_outside_the_city_goes_to_the_triage_queue_with_its_point(self, session, citizen, city, report):
        out = report(citizen, point=OUTSIDE)
        ev = event_row(session, out.event_id)
        assert (ev.status, ev.triage_reason, ev.lon, ev.lat) == ("triage", "outside_city", *OUTSIDE)

    def test_no_category_and_no_classifier_goes_to_the_triage_queue(self, session, citizen, city, report):
        ev = event_row(session, report(citizen, category=None).event_id)
        assert (ev.status, ev.triage_reason, ev.category_code) == ("triage", "no_category", None)

    def test_an_unsure_category_without_a_confident_classifier_is_triaged(self, session, citizen, city, report):
        ev = event_row(session, report(citizen, category_sure=False).event_id)
        assert (ev.status, ev.triage_reason, ev.category_code) == ("triage", "low_confidence", None)

    def test_unknown_category_is_a_clear_error_and_nothing_is_written(self, session, citizen, city):
        with pytest.raises(errors.CategoryUnknown) as caught:
            cityops_service.report_citizen(session, citizen, ReportIn(description="垃圾", category_code="NOPE",
                                                                      lon=HERE[0], lat=HERE[1]))
        assert caught.value.render() == "NOPE 不是城市事件的分类，请从分类列表中选择。"
        session.rollback()
        assert session.scalar(select(func.count()).select_from(Event)) == 0

    def test_refuses_a_half_point_an_empty_text_and_an_unknown_area(self, session, citizen, city):
        with pytest.raises(errors.LocationInvalid):
            cityops_service.report_citizen(session, citizen, ReportIn(description="垃圾", lon=121.2))
        with pytest.raises(errors.DescriptionRequired):
            cityops_service.report_citizen(session, citizen, ReportIn(description="   ", lon=121.2, lat=31.2))
        with pytest.raises(errors.AreaUnknown):
            cityops_service.report_citizen(session, citizen, ReportIn(description="垃圾", area_code="310199"))

    def test_an_area_code_places_a_report_without_a_point(self, session, operator, city):
        out = cityops_service.report_hotline(session, operator, ReportIn(
            description="小区门口垃圾没人收", category_code="SRHJ.LJ", area_code=STREET), caller_phone="138 1234 5678")
        ev = event_row(session, out.event_id)
        assert (ev.status, ev.street_code, ev.grid_code, ev.channel) == ("dispatched", STREET, None, "hotline")

    def test_the_callers_phone_is_encrypted_and_shown_masked(self, session, operator, city):
        out = cityops_service.report_hotline(session, operator, ReportIn(
            description="小区门口垃圾没人收", category_code="SRHJ.LJ", area_code=STREET), caller_phone="13812345678")
        row = session.get(Report, out.report_id)
        assert "13812345678" not in (row.caller_phone_enc or "") and row.caller_phone_index
        read = cityops_service.get_event(session, SYSTEM, out.event_id)
        assert read.reports[0].caller_phone == "*******5678"

    def test_photos_must_be_the_reporters_own_images(self, session, settings, citizen, other_citizen, city, report):
        from yiwang.files import service as files_service

        png = b"\x89PNG\r\n\x1a\n" + bytes(24)
        mine = files_service.store(session, citizen, data=png, filename="a.png", purpose="photo").id
        theirs = files_service.store(session, other_citizen, data=png, filename="b.png", purpose="photo").id
        out = report(citizen, photo_ids=[mine])
        assert session.get(Report, out.report_id).photo_ids == f'["{mine}"]'
        with pytest.raises(errors.PhotoInvalid):
            report(citizen, photo_ids=[theirs])

    def test_only_citizens_use_the_citizen_door_and_operators_the_hotline(self, session, citizen, handler, city):
        with pytest.raises(PermissionDenied):
            cityops_service.report_citizen(session, handler, ReportIn(description="垃圾"))
        with pytest.raises(PermissionDenied):
            cityops_service.report_hotline(session, citizen, ReportIn(description="垃圾"), None)


class TestDuplicates:
    def test_same_category_within_50_m_and_24_h_merges(self, session, citizen, other_citizen, city, report):
        first = report(citizen, "路边有一堆暴露垃圾无人清理")
        second = report(other_citizen, "这里路边垃圾堆着没人清理", point=metres_east(*HERE, 40))
        assert (second.merged, second.event_id) == (True, first.event_id)
        ev = event_row(session, first.event_id)
        assert ev.reporter_count == 2
        assert kinds(session, ev.id) == ["reported", "dispatched", "merged"]
        assert session.scalar(select(func.count()).select_from(Event)) == 1

    def test_60_m_apart_does_not_merge(self, session, citizen, other_citizen, city, report):
        first = report(citizen, "路边有一堆暴露垃圾无人清理")
        second = report(other_citizen, "路边有一堆暴露垃圾无人清理", point=metres_east(*HERE, 60))
        assert second.merged is False and second.event_id != first.event_id

    def test_another_category_does_not_merge(self, session, citizen, other_citizen, city, report):
        first = report(citizen, "路边有一堆暴露垃圾无人清理")
        second = report(other_citizen, "路边有一堆暴露垃圾无人清理", category="SSGL.JG")
        assert second.merged is False and second.event_id != first.event_id

    def test_dissimilar_text_does_not_merge(self, session, citizen, other_citizen, city, report):
        first = report(citizen, "路边有一堆暴露垃圾无人清理")
        second = report(other_citizen, "绿化带里有人乱扔装修建材")
        assert second.event_id != first.event_id

    def test_after_24_hours_does_not_merge(self, session, citizen, other_citizen, city):
        body = ReportIn(description="路边有一堆暴露垃圾无人清理", category_code="SRHJ.LJ", lon=HERE[0], lat=HERE[1])
        t0 = datetime(2026, 9, 29, 1, 0, tzinfo=UTC)
        first = cityops_service.intake(session, citizen, "citizen", body, at=t0)
        later = cityops_service.intake(session, other_citizen, "citizen", body, at=t0 + timedelta(hours=25))
        assert later.merged is False and later.event_id != first.event_id


class TestTriageAndDispatch:
    def test_dispatcher_places_and_classifies_then_it_is_routed(self, session, citizen, dispatcher, city_dispatcher, city, report):
        out = report(citizen, category=None, point=None)
        read = cityops_service.triage_event(session, city_dispatcher, out.event_id, TriageDecision(
            category_code="SRHJ.LJ", area_code=GRID))
        assert (read.status, read.category_code, read.grid_code, read.assignee_team_id) == (
            "dispatched", "SRHJ.LJ", GRID, city["team"])

    def test_triage_without_an_area_for_an_unplaced_event_is_refused(self, session, citizen, city_dispatcher, city,
                                                                     report):
        out = report(citizen, point=None)
        with pytest.raises(errors.AreaRequired):
            cityops_service.triage_event(session, city_dispatcher, out.event_id, TriageDecision(category_code="SRHJ.LJ"))

    def test_invalid_closes_with_the_reason(self, session, citizen, dispatcher, city_dispatcher, city, report):
        out = report(citizen, category=None, point=None)
        read = cityops_service.triage_event(session, city_dispatcher, out.event_id, TriageDecision(
            decision="invalid", reason="重复来电，非城市管理问题"))
        assert (read.status, read.result) == ("closed", "重复来电，非城市管理问题")

    def test_manual_dispatch_and_bulk_dispatch(self, session, citizen, dispatcher, city_dispatcher, city, report):
        one = report(citizen, "垃圾一", point=None)
        two = report(citizen, "井盖二", point=None, category="SSGL.JG")
        for out in (one, two):
            cityops_service.triage_event(session, city_dispatcher, out.event_id, TriageDecision(area_code=STREET))
        read = cityops_service.dispatch(session, dispatcher, one.event_id, DispatchBody(
            department_id=city["emergency"], note="人手调配"))
        assert (read.assignee_department_id, read.rule_id) == (city["emergency"], None)
        rows = cityops_service.bulk_dispatch(session, dispatcher, BulkDispatchBody(
            event_ids=[one.event_id, two.event_id], department_id=city["dept"]))
        assert {r.assignee_department_id for r in rows} == {city["dept"]}

    def test_bulk_dispatch_is_all_or_nothing(self, session, citizen, dispatcher, city, report):
        good = report(citizen, "垃圾一")
        unplaced = report(citizen, "垃圾二", point=None)
        with pytest.raises(errors.BulkRefused) as caught:
            cityops_service.bulk_dispatch(session, dispatcher, BulkDispatchBody(
                event_ids=[good.event_id, unplaced.event_id], department_id=city["emergency"]))
        assert [e["field"] for e in caught.value.errors] == [unplaced.event_id]
        session.rollback()
        assert event_row(session, good.event_id).assignee_department_id == city["dept"]

    def test_queue_lists_open_events_in_the_dispatchers_district_earliest_due_first(
            self, session, citizen, dispatcher, city, report):
        urgent = report(citizen, "井盖缺失", category="SSGL.JG")
        normal = report(citizen, "垃圾", point=THERE)
        page = cityops_service.list_events(session, dispatcher, limit=1)
        assert [e.id for e in page.items] == [urgent.event_id] and page.next_cursor
        rest = cityops_service.list_events(session, dispatcher, cursor=page.next_cursor)
        assert [e.id for e in rest.items] == [normal.event_id]
        only = cityops_service.list_events(session, dispatcher, area_code=OTHER_STREET)
        assert [e.id for e in only.items] == [normal.event_id]
        assert cityops_service.list_events(session, dispatcher, category_code="SRHJ.LJ").items[0].id == normal.event_id


class TestHandlingLoop:
    def test_accept_handle_check_close_rate(self, session, citizen, dispatcher, handler, city, report):
        out = report(citizen)
        cityops_service.accept(session, handler, out.event_id)
        cityops_service.handle(session, handler, out.event_id, HandleBody(note="已到场"))
        cityops_service.handle(session, handler, out.event_id, HandleBody(finish=True, result="垃圾已清运"))
        read = cityops_service.check(session, dispatcher, out.event_id, CheckBody(passed=True))
        assert (read.status, read.result) == ("closed", "垃圾已清运")
        rated = cityops_service.rate(session, citizen, out.event_id, 5)
        assert rated.rating == 5
        with pytest.raises(errors.AlreadyRated):
            cityops_service.rate(session, citizen, out.event_id, 4)
        assert kinds(session, out.event_id) == ["reported", "dispatched", "accepted", "action", "handled",
                                                "closed", "rated"]

    def test_return_sends_it_back_to_dispatch(self, session, citizen, handler, city, report):
        out = report(citizen)
        read = cityops_service.return_event(session, handler, out.event_id, "不属于本队职责")
        assert (read.status, read.assignee_department_id) == ("returned", None)
        with pytest.raises(errors.ReasonRequired):
            cityops_service.return_event(session, handler, report(citizen, "另一处垃圾", point=metres_east(*HERE, 500)).event_id,
                                         " ")

    def test_a_failed_check_goes_back_to_the_handler(self, session, citizen, dispatcher, handler, city, report):
        out = report(citizen)
        cityops_service.accept(session, handler, out.event_id)
        cityops_service.handle(session, handler, out.event_id, HandleBody(finish=True, result="已清运"))
        read = cityops_service.check(session, dispatcher, out.event_id, CheckBody(passed=False, note="现场仍有垃圾"))
        assert read.status == "accepted"

    def test_reopen_within_7_days_returns_to_the_same_team(self, session, citizen, other_citizen, dispatcher,
                                                            handler, city, report):
        out = report(citizen)
        cityops_service.accept(session, handler, out.event_id)
        cityops_service.handle(session, handler, out.event_id, HandleBody(finish=True, result="已清运"))
        cityops_service.check(session, dispatcher, out.event_id, CheckBody(passed=True))
        with pytest.raises(errors.NotReporter):
            cityops_service.reopen(session, other_citizen, out.event_id, "没修好")
        read = cityops_service.reopen(session, citizen, out.event_id, "垃圾又堆起来了")
        ev = event_row(session, out.event_id)
        assert (read.status, ev.assignee_team_id, ev.reopen_count) == ("reopened", city["team"], 1)
        cityops_service.accept(session, handler, out.event_id)

    def test_reopen_after_7_days_is_refused(self, session, citizen, dispatcher, handler, city, report):
        out = report(citizen)
        cityops_service.accept(session, handler, out.event_id)
        cityops_service.handle(session, handler, out.event_id, HandleBody(finish=True, result="已清运"))
        cityops_service.check(session, dispatcher, out.event_id, CheckBody(passed=True))
        ev = event_row(session, out.event_id)
        ev.closed_at = ev.closed_at - timedelta(days=8)
        session.commit()
        with pytest.raises(errors.ReopenExpired):
            cityops_service.reopen(session, citizen, out.event_id, "没修好")

    def test_a_handler_of_another_street_is_refused_and_nothing_changes(self, session, citizen, other_handler,
                                                                        city, report):
        out = report(citizen)
        before = kinds(session, out.event_id)
        for call in (lambda: cityops_service.accept(session, other_handler, out.event_id),
                     lambda: cityops_service.return_event(session, other_handler, out.event_id, "不是我们的"),
                     lambda: cityops_service.handle(session, other_handler, out.event_id,
                                                    HandleBody(finish=True, result="x"))):
            with pytest.raises(PermissionDenied):
                call()
            session.rollback()
        ev = event_row(session, out.event_id)
        assert (ev.status, ev.assignee_team_id) == ("dispatched", city["team"])
        assert kinds(session, out.event_id) == before


class TestEscalation:
    def test_escalates_exactly_once_per_level_up_to_the_city(self, session, citizen, city):
        t0 = datetime(2026, 9, 29, 1, 0, tzinfo=UTC)  # Tuesday 09:00 in Shanghai
        out = cityops_service.intake(session, citizen, "citizen", ReportIn(
            description="垃圾", category_code="SRHJ.LJ", lon=HERE[0], lat=HERE[1], urgency="urgent"), at=t0)
        ev = event_row(session, out.event_id)
        due, span = ev.due_at, ev.due_at - ev.dispatched_at
        assert ev.level == "grid"
        assert cityops_service.escalate_overdue(session, due - timedelta(minutes=1)) == 0
        assert cityops_service.escalate_overdue(session, due + timedelta(minutes=1)) == 1
        assert cityops_service.escalate_overdue(session, due + timedelta(minutes=2)) == 0
        assert event_row(session, ev.id).level == "street"
        assert cityops_service.escalate_overdue(session, due + span + timedelta(minutes=1)) == 1
        assert cityops_service.escalate_overdue(session, due + 2 * span + timedelta(minutes=1)) == 1
        assert cityops_service.escalate_overdue(session, due + 10 * span) == 0
        session.commit()
        levels = [t.detail["level"] for t in cityops_service.get_event(session, SYSTEM, ev.id).timeline
                  if t.kind == "escalated"]
        assert levels == ["street", "district", "city"]
        assert sorted(session.scalars(select(Escalation.level).where(Escalation.event_id == ev.id))) == [
            "city", "district", "street"]

    def test_a_handled_event_does_not_escalate(self, session, citizen, handler, city):
        t0 = datetime(2026, 9, 29, 1, 0, tzinfo=UTC)
        out = cityops_service.intake(session, citizen, "citizen", ReportIn(
            description="垃圾", category_code="SRHJ.LJ", lon=HERE[0], lat=HERE[1]), at=t0)
        cityops_service.accept(session, handler, out.event_id)
        cityops_service.handle(session, handler, out.event_id, HandleBody(finish=True, result="已清运"))
        due = event_row(session, out.event_id).due_at
        assert cityops_service.escalate_overdue(session, due + timedelta(days=30)) == 0

    def test_the_cli_escalates_as_of_a_given_moment(self, session, citizen, city, run):
        t0 = datetime(2026, 9, 29, 1, 0, tzinfo=UTC)
        out = cityops_service.intake(session, citizen, "citizen", ReportIn(
            description="垃圾", category_code="SRHJ.LJ", lon=HERE[0], lat=HERE[1], urgency="critical"), at=t0)
        session.commit()
        due = event_row(session, out.event_id).due_at
        session.rollback()  # the CLI writes in its own transaction
        result = run("cityops", "escalate-overdue", "--at", (due + timedelta(minutes=5)).isoformat())
        assert result.exit_code == 0, result.output
        assert result.output.strip() == "escalated 1"
        assert event_row(session, out.event_id).level == "street"


class TestEmergencyMode:
    def test_declare_routes_matching_events_to_the_incident_team_and_stand_down_restores(
            self, session, citizen, dispatcher, city, report):
        incident = cityops_service.declare_incident(session, dispatcher, IncidentCreate(
            name="台风“烟花”防汛", area_code=DISTRICT, categories=["SRHJ"], department_id=city["emergency"],
            deadline="2h", priority=900))
        session.commit()
        during = event_row(session, report(citizen, "台风后路边垃圾堆积").event_id)
        assert (during.assignee_department_id, during.incident_id, during.priority) == (
            city["emergency"], incident.id, 900)
        other = event_row(session, report(citizen, "井盖被冲走", category="SSGL.JG").event_id)
        assert (other.assignee_department_id, other.incident_id) == (city["dept"], None)
        cityops_service.stand_down(session, dispatcher, incident.id)
        session.commit()
        after = event_row(session, report(citizen, "绿化带旁垃圾没人清理", point=THERE).event_id)
        assert (after.assignee_department_id, after.incident_id) == (city["dept"], None)
        with pytest.raises(errors.IncidentClosed):
            cityops_service.stand_down(session, dispatcher, incident.id)

    def test_declaring_outside_ones_area_is_refused(self, session, city):
        from yiwang.core.actor import Grant

        from .conftest import DISPATCH, staff

        street_dispatcher = staff(Grant("dispatcher", OTHER_STREET, None, DISPATCH), user_id="01JSTREETDISP0000000000001")
        with pytest.raises(PermissionDenied):
            cityops_service.declare_incident(session, street_dispatcher, IncidentCreate(
                name="x", area_code=DISTRICT, categories=["SRHJ"], department_id=city["emergency"]))


class TestRoutingRules:
    def test_a_change_adds_a_version_and_events_keep_theirs(self, session, citizen, dispatcher, city, report):
        first = event_row(session, report(citizen).event_id)
        rule = cityops_service.create_rule(session, dispatcher, RuleCreate(
            category_code="SRHJ", area_prefix=DISTRICT, department_id=city["emergency"]))
        assert rule.version == 2
        second = event_row(session, report(citizen, "另一处垃圾", point=THERE).event_id)
        assert (first.rule_version, second.rule_version, second.assignee_department_id) == (
            1, 2, city["emergency"])
        current = cityops_service.list_rules(session, dispatcher, category_code="SRHJ")
        assert [(r.version, r.current) for r in current] == [(2, True)]

    def test_a_rule_for_one_street_may_not_send_to_another_streets_team(self, session, dispatcher, city):
        other_team = areas_service.create_department(session, SYSTEM, code="310101003-HJD", name="外滩街道环境队",
                                                     area_code=OTHER_STREET, kind="team", parent_id=city["dept"])
        with pytest.raises(errors.RuleTargetOutside):
            cityops_service.create_rule(session, dispatcher, RuleCreate(
                category_code="SRHJ", area_prefix=STREET, department_id=city["dept"], team_id=other_team.id))
        session.rollback()
        assert [r.version for r in cityops_service.list_rules(session, dispatcher, category_code="SRHJ")] == [1]

    def test_a_rules_grid_worker_must_handle_events_in_its_area(self, session, dispatcher, city):
        from yiwang.identity import service as identity_service

        worker = identity_service.create_user(session, SYSTEM, username="grid.worker", password=None, kind="staff",
                                              display_name="王网格", grants=[("grid_worker", GRID, None)])
        elsewhere = identity_service.create_user(session, SYSTEM, username="grid.elsewhere", password=None,
                                                 kind="staff", display_name="李网格",
                                                 grants=[("grid_worker", OTHER_STREET + "001001", None)])
        session.commit()
        for user_id in ("01JNOBODY00000000000000001", elsewhere.id):
            with pytest.raises(errors.RuleUserInvalid):
                cityops_service.create_rule(session, dispatcher, RuleCreate(
                    category_code="SSGL", area_prefix=STREET, department_id=city["dept"], user_id=user_id))
            session.rollback()
        rule = cityops_service.create_rule(session, dispatcher, RuleCreate(
            category_code="SSGL", area_prefix=STREET, department_id=city["dept"], user_id=worker.id))
        assert rule.user_id == worker.id

    def test_a_retired_rule_sends_events_to_triage(self, session, citizen, dispatcher, city, report):
        cityops_service.create_rule(session, dispatcher, RuleCreate(category_code="SRHJ", area_prefix=DISTRICT,
                                                                    department_id=None))
        ev = event_row(session, report(citizen).event_id)
        assert (ev.status, ev.triage_reason) == ("triage", "no_route")


class TestClassifier:
    """``yiwang cityops train`` learns from the city's own closed events; then a report without a
    category is classified and routed like any other."""

    GARBAGE = ["小区门口垃圾堆放好几天没人清理", "路边暴露垃圾发臭", "绿化带里有人乱倒建筑垃圾",
               "垃圾桶满了溢出来一地垃圾", "菜场旁边垃圾成堆苍蝇很多", "河边堆了很多生活垃圾"]
    VENDING = ["人行道上有人摆摊卖水果占道经营", "店家把货物摆到店外占用人行道", "夜市小贩占道经营堵住路口",
               "流动摊贩在学校门口摆摊", "早点摊占用盲道经营", "商户出店经营占道摆放桌椅"]

    def _close(self, session, citizen, dispatcher, handler, report, texts, category, start):
        for n, text in enumerate(texts):
            out = report(citizen, text, metres_east(*HERE, 200 * (start + n)), category=category)
            cityops_service.accept(session, handler, out.event_id)
            cityops_service.handle(session, handler, out.event_id, HandleBody(finish=True, result="已处置"))
            cityops_service.check(session, dispatcher, out.event_id, CheckBody(passed=True))
            session.commit()

    def test_trained_on_closed_events_it_classifies_a_report_without_a_category(
            self, session, citizen, dispatcher, city_dispatcher, handler, city, report, run):
        from yiwang.cityops.schemas import CategoryCreate

        cityops_service.create_category(session, SYSTEM, CategoryCreate(code="SRHJ.ZD", name="占道经营",
                                                                         parent_code="SRHJ", level="grid"))
        session.commit()
        self._close(session, citizen, dispatcher, handler, report, self.GARBAGE, "SRHJ.LJ", 0)
        self._close(session, citizen, dispatcher, handler, report, self.VENDING, "SRHJ.ZD", 10)
        session.rollback()  # the CLI trains in its own transaction
        result = run("cityops", "train")
        assert result.exit_code == 0, result.output
        assert "12 events, 2 categories" in result.output
        out = report(citizen, "超市门口有人摆摊占道卖菜", metres_east(*HERE, 5000), category=None)
        read = event_row(session, out.event_id)
        assert (read.category_code, read.status) == ("SRHJ.ZD", "dispatched")

    def test_too_few_closed_events_is_a_clear_error(self, session, city_dispatcher, city):
        with pytest.raises(errors.ClassifierUnavailable):
            cityops_service.train_classifier(session, city_dispatcher)
