"""The demo's 一网统管 (``yiwang.demo.cityops``): what issue 4 asks the demo to hold — thousands of
events in a real run, here a few hundred — loaded through the cityops service."""

from __future__ import annotations

from datetime import UTC, timedelta

from sqlalchemy import func, select

from yiwang.areas import service as areas_service
from yiwang.cityops import service as cityops_service
from yiwang.cityops.models import Category, Escalation, Event, Incident, Report, RoutingRule, TimelineEntry
from yiwang.cityops.schemas import ReportIn
from yiwang.core.actor import SYSTEM
from yiwang.core.db import utcnow
from yiwang.core.jobs import bind_settings
from yiwang.demo.city import load_city
from yiwang.demo.cityops import CATEGORIES, SPAN_DAYS, load_cityops, summary_line
from yiwang.demo.staff import load_staff
from yiwang.identity import service as identity_service

EVENTS = 300


def _load(db, settings):
    bind_settings(db.engine, settings)
    with db.transaction() as s:
        city = load_city(s)
    with db.transaction() as s:
        departments = {d.code: d.id for d in areas_service.list_departments(s)}
        load_staff(s, district_codes=city["district_codes"], street_codes=city["street_codes"],
                   departments=departments)
    with db.transaction() as s:
        summary = load_cityops(s, district_codes=city["district_codes"], events=EVENTS, seed=1)
    return city, summary


class TestDemoCityops:
    def test_events_in_every_state_from_every_channel_with_a_classifier_and_a_past_incident(self, db, session,
                                                                                            settings):
        # when the demo city, its staff and its 一网统管 are loaded
        city, summary = _load(db, settings)

        # then the category tree is a city's, with its defaults
        names = dict(session.execute(select(Category.code, Category.name)).all())
        assert {"市容环境", "街面秩序", "设施管理", "突发事件", "暴露垃圾", "乱堆物料", "占道经营", "乱张贴", "乱停车",
                "无证摊贩", "井盖缺损", "路灯不亮", "道路破损", "窨井冒溢", "道路积水", "树木倒伏", "燃气泄漏"} \
            <= set(names.values())
        assert len(names) == len(CATEGORIES) == summary["categories"]
        # every district has its routing rules
        areas = set(session.scalars(select(RoutingRule.area_prefix).where(RoutingRule.current.is_(True))))
        assert {a[:6] for a in areas} == set(city["district_codes"])

        # every report is an event or merged into one, from every channel
        reports = session.scalar(select(func.count()).select_from(Report))
        assert reports == summary["reports"] == EVENTS
        merged = session.scalar(select(func.count()).select_from(Report).where(Report.merged.is_(True)))
        assert merged == summary["merged"] >= 1
        assert session.scalar(select(func.count()).select_from(Event)) == EVENTS - merged == summary["events"]
        channels = dict(session.execute(select(Event.channel, func.count()).group_by(Event.channel)).all())
        assert set(channels) == {"citizen", "hotline", "patrol"}

        # in every state: the triage queue for each reason, open, closed with ratings, reopened, escalated
        states = dict(session.execute(select(Event.status, func.count()).group_by(Event.status)).all())
        assert set(states) == {"triage", "dispatched", "accepted", "returned", "handled", "closed", "reopened"}
        assert states == summary["states"]
        assert states["closed"] > EVENTS // 2
        reasons = set(session.scalars(select(Event.triage_reason).where(Event.status == "triage")))
        assert {"no_location", "outside_city"} <= reasons
        assert session.scalar(select(func.count()).select_from(Event).where(Event.rating.is_not(None))) >= 5
        assert session.scalar(select(func.count()).select_from(Escalation)) == summary["escalated"] > 0
        kinds = set(session.scalars(select(TimelineEntry.kind).distinct()))
        assert {"reported", "dispatched", "accepted", "handled", "closed", "rated", "returned", "reopened",
                "triaged", "merged", "escalated", "action"} <= kinds

        # placed inside the demo's grids, spread over the last weeks, never in the future
        placed = session.execute(select(Event.grid_code, Event.district_code).where(Event.grid_code.is_not(None))
                                 ).all()
        assert placed and all(g.startswith(d) and g in city["grid_codes"] for g, d in placed)
        first, last = session.execute(select(func.min(Event.created_at), func.max(Event.created_at))).one()
        now = utcnow()
        assert now - first.replace(tzinfo=UTC) > timedelta(days=SPAN_DAYS - 3)
        assert last.replace(tzinfo=UTC) <= now
        # closed events were closed when they were handled, not at load time
        closed_at = session.scalar(select(func.min(Event.closed_at)).where(Event.status == "closed"))
        assert now - closed_at.replace(tzinfo=UTC) > timedelta(days=14)
        # a hotline caller's phone is kept encrypted, never in clear
        phone = session.scalar(select(Report.caller_phone_enc).where(Report.caller_phone_enc.is_not(None)).limit(1))
        assert phone and not phone.isdigit()

        # the classifier was trained on the closed events, and recent reports without a category used it
        assert summary["classifier"].samples >= 100
        assert session.scalar(select(func.count()).select_from(Event)
                              .where(Event.classifier_confidence.is_not(None))) >= 5
        session.commit()
        out = cityops_service.intake(session, identity_service.actor_for_username(session, "citizen1"), "citizen",
                                     ReportIn(description="南京东路100号门口井盖缺失，很危险", area_code="310101002001001"))
        session.commit()
        assert out.triage_reason is None and out.status == "dispatched"

        # one past emergency incident, stood down, whose events went to its team and were closed
        incident = session.scalars(select(Incident)).one()
        assert incident.status == "stood_down" and incident.area_code == "310101"
        handled = session.execute(select(Event.status, Event.assignee_team_id)
                                  .where(Event.incident_id == incident.id)).all()
        assert len(handled) >= 10 and all(s == "closed" and t == incident.team_id for s, t in handled)

        # the demo accounts can work their events: a street team's handler sees its inbox
        handler = identity_service.actor_for_username(session, "handler.310101002.cgzd")
        page = cityops_service.list_events(session, handler)
        assert all(e.area_code.startswith("310101002") for e in page.items)

        # and the loader's line says it all
        line = summary_line(summary)
        assert line.startswith(f"city events: {EVENTS - merged} from {EVENTS} reports")
        assert "past emergency incidents 1" in line
        assert SYSTEM.is_system
