"""Intake in two halves: the plan (checks, placing, classifying, routing; reads only) and the apply
(the duplicate check and the writes), each in a transaction of its own as the API runs them; the
routing memo and its invalidation; the classifier's prediction against scikit-learn's."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select

from tests.cityops.conftest import DISTRICT, HERE, OUTSIDE, STREET, metres_east
from yiwang.cityops import memo, triage
from yiwang.cityops import service as cityops_service
from yiwang.cityops.models import Event, Report, TimelineEntry
from yiwang.cityops.schemas import ReportIn, RuleCreate
from yiwang.core.actor import SYSTEM, Actor
from yiwang.identity import service as identity_service
from yiwang.notifications.models import Notification

GARBAGE = "路边有一堆暴露垃圾无人清理"


def _plan(db, actor: Actor, body: ReportIn) -> cityops_service.IntakePlan:
    with db.transaction(write=False) as s:
        return cityops_service.plan_citizen(s, actor, body)


def _apply(db, actor: Actor, plan: cityops_service.IntakePlan):
    with db.transaction() as s:
        return cityops_service.apply_intake(s, actor, plan)


def _report(db, actor: Actor, text: str = GARBAGE, point=HERE, category: str | None = "SRHJ.LJ", **more):
    body = ReportIn(description=text, category_code=category, lon=point[0] if point else None,
                    lat=point[1] if point else None, **more)
    return _apply(db, actor, _plan(db, actor, body))


def _event(db, event_id: str) -> Event:
    with db.transaction(write=False) as s:
        ev = s.get(Event, event_id)
        s.expunge(ev)
        return ev


def _handler_user(session, name: str, department_id: str) -> str:
    user = identity_service.create_user(session, SYSTEM, username=name, password=None, kind="staff",
                                        display_name=name, grants=[("handler", STREET, department_id)])
    return user.id


class TestPlanThenApply:
    def test_a_new_event_is_routed_by_the_rule_with_its_rows_audit_and_notices(self, db, session, citizen, city):
        out = _report(db, citizen)
        ev = _event(db, out.event_id)
        assert (out.merged, out.status, out.triage_reason) == (False, "dispatched", None)
        assert (ev.status, ev.assignee_department_id, ev.assignee_team_id, ev.grid_code) == (
            "dispatched", city["dept"], city["team"], "310101002001001")
        assert ev.rule_version == 1 and ev.due_at > ev.created_at and ev.next_escalation_at == ev.due_at
        kinds = session.scalars(select(TimelineEntry.kind).where(TimelineEntry.event_id == ev.id)
                                .order_by(TimelineEntry.at)).all()
        assert kinds == ["reported", "dispatched"]
        report = session.scalars(select(Report).where(Report.event_id == ev.id)).one()
        assert (report.merged, report.channel, report.reporter_user_id) == (False, "citizen", citizen.user_id)
        from yiwang.audit.models import AuditEntry

        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.target_id == ev.id)
                                  .order_by(AuditEntry.seq)).all()
        assert actions == ["cityops.reported", "cityops.dispatched"]
        notices = session.scalars(select(Notification.template).where(Notification.user_id == citizen.user_id)).all()
        assert notices == ["cityops.report_received"]

    def test_a_report_30_m_away_merges_and_60_m_or_another_category_does_not(self, db, citizen, other_citizen,
                                                                            city):
        first = _report(db, citizen)
        near = _report(db, other_citizen, "这里有垃圾堆着没人清理", metres_east(*HERE, 30))
        far = _report(db, other_citizen, "这里有垃圾堆着没人清理", metres_east(*HERE, 60))
        other = _report(db, other_citizen, "井盖缺失很危险", metres_east(*HERE, 10), category="SSGL.JG")
        assert (near.merged, near.event_id, near.number) == (True, first.event_id, first.number)
        assert near.status == "dispatched"
        assert not far.merged and far.event_id != first.event_id
        assert not other.merged and other.event_id != first.event_id
        assert _event(db, first.event_id).reporter_count == 2

    @pytest.mark.parametrize(("point", "more", "reason"), [
        (None, {}, "no_location"),
        (OUTSIDE, {}, "outside_city"),
        (HERE, {"category_sure": False}, "low_confidence"),
    ])
    def test_what_cannot_be_placed_or_classified_waits_in_triage(self, db, citizen, city, point, more, reason):
        out = _report(db, citizen, point=point, **more)
        ev = _event(db, out.event_id)
        assert (out.status, out.triage_reason) == ("triage", reason)
        assert (ev.status, ev.triage_reason, ev.next_escalation_at) == ("triage", reason, None)

    def test_a_plan_writes_nothing_and_refuses_as_intake_did(self, db, session, citizen, city):
        plan = _plan(db, citizen, ReportIn(description=GARBAGE, category_code="SRHJ.LJ", lon=HERE[0], lat=HERE[1]))
        assert session.scalar(select(func.count()).select_from(Event)) == 0
        assert plan.opening.event["status"] == "dispatched"
        from yiwang.cityops import errors

        with pytest.raises(errors.CategoryUnknown):
            _plan(db, citizen, ReportIn(description=GARBAGE, category_code="NOPE"))
        with pytest.raises(errors.DescriptionRequired):
            _plan(db, citizen, ReportIn(description="  ", category_code="SRHJ.LJ"))

    def test_two_duplicates_planned_before_either_is_applied_still_merge(self, db, citizen, other_citizen, city):
        body = ReportIn(description=GARBAGE, category_code="SRHJ.LJ", lon=HERE[0], lat=HERE[1])
        again = ReportIn(description="这里有垃圾堆着没人清理", category_code="SRHJ.LJ",
                         lon=metres_east(*HERE, 20)[0], lat=HERE[1])
        first_plan, second_plan = _plan(db, citizen, body), _plan(db, other_citizen, again)
        assert first_plan.opening.event["id"] != second_plan.opening.event["id"]
        # In one group commit (one transaction, the second applied after the first) …
        with db.transaction() as s:
            first = cityops_service.apply_intake(s, citizen, first_plan)
            second = cityops_service.apply_intake(s, other_citizen, second_plan)
        assert (second.merged, second.event_id) == (True, first.event_id)
        # … and in transactions of their own.
        third = _plan(db, citizen, ReportIn(description="垃圾堆在路边好几天了", category_code="SRHJ.LJ",
                                            lon=metres_east(*HERE, 2000)[0], lat=HERE[1]))
        fourth = _plan(db, other_citizen, ReportIn(description="路边垃圾堆好几天了没人管", category_code="SRHJ.LJ",
                                                   lon=metres_east(*HERE, 2010)[0], lat=HERE[1]))
        a, b = _apply(db, citizen, third), _apply(db, other_citizen, fourth)
        assert (a.merged, b.merged, b.event_id) == (False, True, a.event_id)
        assert _event(db, a.event_id).reporter_count == 2

    def test_a_merge_seen_by_an_event_loaded_in_the_session_is_not_stale(self, session, citizen, other_citizen,
                                                                         city, report):
        first = report(citizen)
        loaded = session.get(Event, first.event_id)
        assert loaded.reporter_count == 1
        report(other_citizen, "这里有垃圾堆着没人清理", metres_east(*HERE, 10))
        assert session.get(Event, first.event_id).reporter_count == 2


class TestRoutingMemo:
    def test_a_rule_changed_after_the_plan_is_the_one_the_apply_uses(self, db, citizen, city):
        _report(db, citizen, point=metres_east(*HERE, 3000))  # the memo holds the rule now
        plan = _plan(db, citizen, ReportIn(description=GARBAGE, category_code="SRHJ.LJ", lon=HERE[0], lat=HERE[1]))
        assert plan.opening.event["assignee_team_id"] == city["team"]
        with db.transaction() as s:
            cityops_service.create_rule(s, SYSTEM, RuleCreate(category_code="SRHJ", area_prefix=DISTRICT,
                                                              department_id=city["emergency"]))
        out = _apply(db, citizen, plan)
        ev = _event(db, out.event_id)
        assert (ev.assignee_department_id, ev.assignee_team_id, ev.rule_version) == (city["emergency"], None, 2)

    def test_a_new_rule_routes_the_next_report_at_once(self, db, citizen, city):
        before = _event(db, _report(db, citizen).event_id)
        assert before.assignee_team_id == city["team"]
        with db.transaction() as s:
            cityops_service.create_rule(s, SYSTEM, RuleCreate(category_code="SRHJ.LJ", area_prefix=STREET,
                                                              department_id=city["emergency"]))
        after = _event(db, _report(db, citizen, point=metres_east(*HERE, 3000)).event_id)
        assert (after.assignee_department_id, after.assignee_team_id) == (city["emergency"], None)

    def test_a_grant_given_or_taken_changes_who_is_told_at_once(self, db, citizen, city):
        with db.transaction() as s:
            first = _handler_user(s, "h1", city["team"])

        def told(event_id: str) -> set[str]:
            with db.transaction(write=False) as s:
                return set(s.scalars(select(Notification.user_id).where(
                    Notification.template == "cityops.event_dispatched",
                    Notification.params["event_id"].as_string() == event_id)))

        assert told(_report(db, citizen).event_id) == {first}
        assert told(_report(db, citizen, point=metres_east(*HERE, 3000)).event_id) == {first}  # memoised
        with db.transaction() as s:
            second = _handler_user(s, "h2", city["team"])
        assert told(_report(db, citizen, point=metres_east(*HERE, 6000)).event_id) == {first, second}
        with db.transaction() as s:
            grant = next(g for g in identity_service.get_user(s, SYSTEM, first).grants)
            identity_service.revoke_grant(s, SYSTEM, first, grant.id)
        assert told(_report(db, citizen, point=metres_east(*HERE, 9000)).event_id) == {second}

    def test_facts_are_read_once_then_memoised(self, db, citizen, city):
        _report(db, citizen)
        reads = memo.ROUTING.reads + memo.HANDLERS.reads
        _report(db, citizen, point=metres_east(*HERE, 3000))
        assert memo.ROUTING.reads + memo.HANDLERS.reads == reads

    def test_a_session_with_changes_of_its_own_reads_them_not_the_memo(self, session, citizen, city, report):
        report(citizen, point=metres_east(*HERE, 3000))
        cityops_service.create_rule(session, SYSTEM, RuleCreate(category_code="SRHJ.LJ", area_prefix=STREET,
                                                                department_id=city["emergency"]))
        out = cityops_service.report_citizen(session, citizen, ReportIn(
            description=GARBAGE, category_code="SRHJ.LJ", lon=HERE[0], lat=HERE[1]))
        assert session.get(Event, out.event_id).assignee_department_id == city["emergency"]


def _demo_docs() -> tuple[list[list[str]], list[str]]:
    from yiwang.demo.cityops import TEXTS

    docs, labels = [], []
    for code, texts in sorted(TEXTS.items()):
        for n, text in enumerate(texts):
            feats = triage.features(text.format(road="漕溪北路", no=n + 1, place="公交站旁"))
            docs.append(feats)
            labels.append(code)
    return docs, labels


@pytest.mark.parametrize("binary", [False, True])
def test_the_classifier_fast_path_equals_scikit_learn_predict_proba(binary):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    docs, labels = _demo_docs()
    if binary:
        keep = sorted(set(labels))[:2]
        docs, labels = zip(*[(d, lab) for d, lab in zip(docs, labels, strict=True) if lab in keep], strict=True)
        docs, labels = list(docs), list(labels)
    vectorizer = TfidfVectorizer(analyzer=triage._identity, sublinear_tf=True, norm="l2", smooth_idf=True,
                                 min_df=1, max_features=triage.MAX_FEATURES)
    x = vectorizer.fit_transform(docs)
    model = LogisticRegression(C=triage.REGULARISATION_C, max_iter=2000, random_state=triage.RANDOM_STATE)
    model.fit(x, labels)
    coef, intercept = model.coef_, model.intercept_
    if binary:
        coef, intercept = np.vstack([-coef[0] / 2, coef[0] / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    linear = triage._Linear.build([str(w) for w in vectorizer.get_feature_names_out()], vectorizer.idf_, coef,
                                  intercept)
    expected = model.predict_proba(vectorizer.transform(docs))
    unseen = triage.features("小区门口路灯不亮了晚上很黑")
    for feats, want in [*zip(docs, expected, strict=True), (unseen, model.predict_proba(vectorizer.transform([unseen]))[0])]:
        assert np.allclose(linear.probabilities(feats), want, rtol=0, atol=1e-9)
    # and the model as kept (rounded to 6 decimals) picks what scikit-learn picks
    classes, kept = triage._fit(docs, labels)
    picks = [classes[int(np.argmax(kept.probabilities(d)))] for d in docs]
    assert picks == list(model.predict(x))
