"""The applications service: filing, intake, parallel branches, corrections, certificates, ratings."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from yiwang.applications import errors
from yiwang.applications import service as applications_service
from yiwang.applications.models import Application, Branch, Event
from yiwang.audit.models import AuditEntry
from yiwang.certificates import service as certificates_service
from yiwang.core.errors import PermissionDenied
from yiwang.notifications.models import Notification
from yiwang.ratings.models import Rectification

from .conftest import BUNDLE, UPLOADS, ZHANG_ID, form_data

WRONG_ID = ZHANG_ID[:-1] + ("1" if ZHANG_ID[-1] == "0" else "0")


def count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


def branch_of(app, item_code):
    return next(b for b in app.branches if b.item_code == item_code)


def approve_all_steps(session, actor, app, item_code):
    """Approve every step of one branch (review, then approval) until it ends."""
    while True:
        b = branch_of(app, item_code)
        if b.status != "in_review":
            return app
        app = applications_service.decide(session, actor, app.id, b.id, "approve", "同意")


class TestFiling:
    def test_a_draft_keeps_partial_answers_and_is_not_checked(self, session, citizen, world):
        app, created = applications_service.create(session, citizen, subject_kind="bundle", subject_code=BUNDLE,
                                                   data={"entity_name": "小笼", "unknown_field": "x"})
        assert (created, app.status, app.data) == (True, "draft", {"entity_name": "小笼"})
        assert [b.item_code for b in app.branches] == ["SCJG-001", "SCJG-003", "LHSR-001"]
        assert {b.status for b in app.branches} == {"pending"}

    def test_submission_checks_the_merged_form_and_changes_nothing_when_it_fails(
            self, session, citizen, uploads):
        with pytest.raises(errors.FormInvalid) as failure:
            applications_service.create(session, citizen, subject_kind="bundle", subject_code=BUNDLE,
                                        data=form_data(id_number=WRONG_ID, floor_area=None),
                                        materials=uploads(citizen), submit=True)
        fields = {e["field"] for e in failure.value.errors}
        assert fields == {"id_number", "floor_area"}
        session.rollback()
        assert count(session, Application) == 0

    def test_materials_the_platform_holds_are_not_asked_for(self, session, citizen, world):
        needed = {m.code: m for m in applications_service.needed_materials(session, citizen, "bundle", BUNDLE)}
        assert (needed["id_card"].held, needed["id_card"].source) == (True, "registry")
        # The business licence is issued by the bundle's own first branch: never asked for.
        assert "business_licence" not in needed
        assert {c for c, m in needed.items() if not m.held} == set(UPLOADS)

    def test_a_missing_upload_is_named(self, session, citizen, uploads):
        given = uploads(citizen)
        del given["layout"]
        with pytest.raises(errors.MaterialMissing) as failure:
            applications_service.create(session, citizen, subject_kind="bundle", subject_code=BUNDLE,
                                        data=form_data(), materials=given, submit=True)
        assert failure.value.params == {"name": "经营场所平面布局图"}

    def test_someone_elses_file_is_not_a_material(self, session, citizen, other_citizen, uploads, upload):
        given = uploads(citizen)
        given["layout"] = upload(other_citizen)
        with pytest.raises(errors.MaterialFileInvalid):
            applications_service.create(session, citizen, subject_kind="bundle", subject_code=BUNDLE,
                                        data=form_data(), materials=given, submit=True)

    def test_a_retry_with_the_same_key_returns_the_first_application(self, session, citizen, uploads):
        kw = {"subject_kind": "bundle", "subject_code": BUNDLE, "data": form_data(), "materials": uploads(citizen),
              "submit": True, "idempotency_key": "retry-key-0001"}
        first, created = applications_service.create(session, citizen, **kw)
        session.commit()
        again, created_again = applications_service.create(session, citizen, **kw)
        assert (created, created_again, again.id) == (True, False, first.id)
        assert count(session, Application) == 1

    def test_submitted_with_its_timeline_and_audit(self, session, file_bundle, citizen):
        app = file_bundle()
        assert (app.status, app.area_code, app.channel) == ("submitted", "310101", "online")
        assert [e.kind for e in app.events] == ["submitted"]
        assert {m.code: m.source for m in app.materials}["id_card"] == "registry"
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.target_id == app.id)).all()
        assert actions == ["application.submitted"]
        # The answer to the filing is what a later read gives.
        assert applications_service.get(session, citizen, app.id) == app

    def test_form_data_is_encrypted_at_rest(self, session, file_bundle):
        app = file_bundle()
        stored = session.scalar(select(Application.data_enc).where(Application.id == app.id))
        assert ZHANG_ID not in stored and "张三明" not in stored

    def test_staff_cannot_file_online(self, session, clerk):
        with pytest.raises(PermissionDenied):
            applications_service.create(session, clerk, subject_kind="item", subject_code="SCJG-001", data={})


    def test_a_citizen_without_a_registry_record_cannot_apply(self, session, world):
        from yiwang.core.actor import Actor

        nobody = Actor(kind="citizen", user_id="01JNOBODY00000000000000001", username="nobody")
        with pytest.raises(errors.ApplicantRequired):
            applications_service.create(session, nobody, subject_kind="item", subject_code="SCJG-001", data={})


class TestIntake:
    def test_accepting_starts_each_branch_with_its_working_day_deadline(self, session, accepted_bundle):
        app = accepted_bundle()
        assert app.status == "in_review"
        due = {b.item_code: (b.started_on, b.due_date, b.limit_days) for b in app.branches}
        # 2026-09-30 + 3 working days: 10-01…10-07 are the National Day holiday, 10-10 a make-up workday.
        assert due["SCJG-001"] == (date(2026, 9, 30), date(2026, 10, 10), 3)
        assert due["LHSR-001"][1] == date(2026, 10, 13)
        assert due["SCJG-003"][1] == date(2026, 10, 20)
        assert {b.tasks[0].name for b in app.branches} == {"受理审查"}

    def test_a_clerk_of_another_district_cannot_accept(self, session, file_bundle, xuhui_clerk):
        app = file_bundle()
        with pytest.raises(PermissionDenied):
            applications_service.accept(session, xuhui_clerk, app.id)
        session.rollback()
        assert session.scalar(select(Application.status).where(Application.id == app.id)) == "submitted"

    def test_refused_with_its_reason(self, session, file_bundle, clerk):
        app = file_bundle()
        with pytest.raises(errors.ReasonRequired):
            applications_service.refuse(session, clerk, app.id, "  ")
        app = applications_service.refuse(session, clerk, app.id, "不属于本区受理范围")
        assert (app.status, app.reason) == ("refused", "不属于本区受理范围")
        with pytest.raises(errors.StatusConflict):
            applications_service.accept(session, clerk, app.id)

    def test_the_intake_queue_shows_the_districts_submitted_applications(self, session, file_bundle, clerk,
                                                                         xuhui_clerk):
        app = file_bundle()
        assert [r.application_id for r in applications_service.intake_queue(session, clerk)] == [app.id]
        assert applications_service.intake_queue(session, xuhui_clerk) == []


class TestBranches:
    def test_an_approver_of_another_department_is_refused_and_nothing_changes(self, session, accepted_bundle, lhsr):
        app = accepted_bundle()
        b = branch_of(app, "SCJG-001")
        with pytest.raises(PermissionDenied):
            applications_service.decide(session, lhsr, app.id, b.id, "approve")
        session.rollback()
        assert session.scalar(select(Branch.status).where(Branch.id == b.id)) == "in_review"

    def test_the_inbox_is_the_departments_branches_by_due_date(self, session, accepted_bundle, scjg, lhsr):
        app = accepted_bundle()
        rows = applications_service.inbox(session, scjg)
        assert [(r.item_code, r.due_date) for r in rows] == [("SCJG-001", date(2026, 10, 10)),
                                                              ("SCJG-003", date(2026, 10, 20))]
        assert [r.application_id for r in applications_service.inbox(session, lhsr)] == [app.id]

    def test_a_correction_pauses_only_its_branch_and_resumes_with_the_days_added(
            self, session, accepted_bundle, lhsr, citizen, monkeypatch):
        app = accepted_bundle()
        b = branch_of(app, "LHSR-001")
        app = applications_service.decide(session, lhsr, app.id, b.id, "correct", "招牌尺寸与效果图不一致")
        paused = branch_of(app, "LHSR-001")
        assert (app.status, paused.status, paused.deadline_state, paused.paused_since) == (
            "correction", "correction", "paused", date(2026, 9, 30))
        assert branch_of(app, "SCJG-001").status == "in_review"
        # The applicant answers on 2026-10-12 (Monday): the working days 10-08, 10-09, 10-10 (make-up) and
        # 10-12 were paused, so the 5 days run 10-13 … 10-19 instead of ending on 10-13.
        later = date(2026, 10, 12)
        monkeypatch.setattr("yiwang.workdays.service.today", lambda: later)
        app = applications_service.correct(session, citizen, app.id, b.id, data={"sign_size": "3x1.2"})
        resumed = branch_of(app, "LHSR-001")
        assert (resumed.status, resumed.due_date) == ("in_review", date(2026, 10, 19))
        assert app.data["sign_size"] == "3x1.2"
        assert [e.kind for e in app.events][-2:] == ["correction_requested", "corrected"]

    def test_a_rejection_reaches_the_applicant_with_its_reason(self, session, accepted_bundle, lhsr, citizen):
        app = accepted_bundle()
        b = branch_of(app, "LHSR-001")
        with pytest.raises(errors.ReasonRequired):
            applications_service.decide(session, lhsr, app.id, b.id, "reject", "")
        app = applications_service.decide(session, lhsr, app.id, b.id, "reject", "该路段禁止设置招牌")
        assert (branch_of(app, "LHSR-001").status, branch_of(app, "LHSR-001").decision_reason) == (
            "rejected", "该路段禁止设置招牌")
        bodies = session.scalars(select(Notification.body).where(Notification.user_id == citizen.user_id)).all()
        assert any("该路段禁止设置招牌" in body for body in bodies)

    def test_every_branch_approved_issues_three_certificates_and_closes(self, session, accepted_bundle, scjg, lhsr,
                                                                         citizen):
        app = accepted_bundle()
        app = approve_all_steps(session, scjg, app, "SCJG-001")
        app = approve_all_steps(session, scjg, app, "SCJG-003")
        assert app.status == "in_review"
        app = approve_all_steps(session, lhsr, app, "LHSR-001")
        assert (app.status, app.outcome) == ("closed", "approved")
        certs = certificates_service.holder_certificates(session, "person", citizen.person_id)
        assert sorted(c.type_code for c in certs) == ["BL", "FBL", "SIGN"]
        assert {b.certificate_id for b in app.branches} == {c.id for c in certs}
        lic = next(c for c in certs if c.type_code == "BL")
        assert lic.fields["事项"] == "企业设立登记" and ZHANG_ID not in str(lic.fields)
        assert applications_service.get(session, citizen, app.id).events[-1].kind == "closed"

    def test_one_rejected_branch_closes_as_partly_approved(self, session, accepted_bundle, scjg, lhsr):
        app = accepted_bundle()
        app = applications_service.decide(session, lhsr, app.id, branch_of(app, "LHSR-001").id, "reject", "不予许可")
        app = approve_all_steps(session, scjg, app, "SCJG-001")
        app = approve_all_steps(session, scjg, app, "SCJG-003")
        assert (app.status, app.outcome) == ("closed", "partly_approved")

    def test_a_decided_branch_cannot_be_decided_again(self, session, accepted_bundle, lhsr):
        app = accepted_bundle()
        b = branch_of(app, "LHSR-001")
        app = applications_service.decide(session, lhsr, app.id, b.id, "reject", "不予许可")
        with pytest.raises(errors.BranchStatusConflict):
            applications_service.decide(session, lhsr, app.id, b.id, "approve")

    def test_an_unknown_decision_is_refused(self, session, accepted_bundle, lhsr):
        app = accepted_bundle()
        with pytest.raises(errors.DecisionInvalid):
            applications_service.decide(session, lhsr, app.id, branch_of(app, "LHSR-001").id, "maybe")


class TestAfterClosing:
    def _closed(self, session, accepted_bundle, scjg, lhsr):
        app = accepted_bundle()
        for code, actor in (("SCJG-001", scjg), ("SCJG-003", scjg), ("LHSR-001", lhsr)):
            app = approve_all_steps(session, actor, app, code)
        return app

    def test_a_bad_rating_opens_a_rectification(self, session, accepted_bundle, scjg, lhsr, citizen):
        app = self._closed(session, accepted_bundle, scjg, lhsr)
        rating = applications_service.rate(session, citizen, app.id, 2, "等待时间太长")
        assert rating.score == 2
        assert count(session, Rectification) == 1
        assert applications_service.get(session, citizen, app.id).rated is True

    def test_only_a_closed_application_is_rated(self, session, accepted_bundle, citizen):
        app = accepted_bundle()
        with pytest.raises(errors.NotRatable):
            applications_service.rate(session, citizen, app.id, 5)


class TestHallIntake:
    def test_a_clerk_of_another_district_files_and_accepts_for_a_registered_person(
            self, session, xuhui_clerk, citizen, upload, scjg):
        materials = {c: upload(xuhui_clerk) for c in ("articles", "premises")}
        app = applications_service.hall_intake(
            session, xuhui_clerk, subject_kind="item", subject_code="SCJG-001", applicant_kind="person",
            applicant_identifier=ZHANG_ID, applicant_name="张三明",
            data=form_data(food_category=None, floor_area=None, sign_text=None, sign_size=None), materials=materials)
        assert (app.status, app.channel, app.area_code) == ("in_review", "hall", "310104")
        assert [r.application_id for r in applications_service.inbox(session, scjg)] == [app.id]
        assert [a.id for a in applications_service.mine(session, citizen).items] == [app.id]

    def test_a_name_that_does_not_match_the_registry_is_refused(self, session, xuhui_clerk):
        with pytest.raises(errors.ApplicantMismatch):
            applications_service.hall_intake(
                session, xuhui_clerk, subject_kind="item", subject_code="SCJG-001", applicant_kind="person",
                applicant_identifier=ZHANG_ID, applicant_name="张三", data=form_data())
        session.rollback()
        assert count(session, Application) == 0

    def test_a_wrong_id_number_is_refused(self, session, xuhui_clerk):
        from yiwang.core.errors import ValidationFailed

        with pytest.raises(ValidationFailed):
            applications_service.hall_intake(
                session, xuhui_clerk, subject_kind="item", subject_code="SCJG-001", applicant_kind="person",
                applicant_identifier=WRONG_ID,
                applicant_name="张三明", data=form_data())

    def test_a_citizen_cannot_use_the_hall(self, session, citizen):
        with pytest.raises(PermissionDenied):
            applications_service.hall_intake(
                session, citizen, subject_kind="item", subject_code="SCJG-001", applicant_kind="person",
                applicant_identifier=ZHANG_ID, applicant_name="张三明", data=form_data())


class TestReading:
    def test_a_staff_read_is_audited_and_an_outsider_refused(self, session, file_bundle, clerk, xuhui_clerk,
                                                             other_citizen):
        app = file_bundle()
        assert applications_service.get(session, clerk, app.id).data["id_number"] == ZHANG_ID
        reads = count(session, AuditEntry, AuditEntry.action == "application.read", AuditEntry.target_id == app.id)
        assert reads == 1
        with pytest.raises(PermissionDenied):
            applications_service.get(session, xuhui_clerk, app.id)
        with pytest.raises(PermissionDenied):
            applications_service.get(session, other_citizen, app.id)

    def test_prefill_needs_consent_and_records_it(self, session, citizen):
        with pytest.raises(errors.ConsentRequired):
            applications_service.prefill(session, citizen, "bundle", BUNDLE, consent=False)
        values = applications_service.prefill(session, citizen, "bundle", BUNDLE, consent=True)
        assert values == {"applicant_name": "张三明", "id_number": ZHANG_ID, "mobile": "13812345678"}
        assert count(session, AuditEntry, AuditEntry.action == "application.prefill_consent") == 1


class TestWithdrawal:
    def test_withdrawing_stops_every_open_branch(self, session, accepted_bundle, citizen):
        app = accepted_bundle()
        app = applications_service.withdraw(session, citizen, app.id, "不开了")
        assert (app.status, {b.status for b in app.branches}) == ("withdrawn", {"withdrawn"})
        with pytest.raises(errors.StatusConflict):
            applications_service.withdraw(session, citizen, app.id)

    def test_only_the_applicant_withdraws(self, session, accepted_bundle, other_citizen):
        app = accepted_bundle()
        with pytest.raises(PermissionDenied):
            applications_service.withdraw(session, other_citizen, app.id)


class TestEscalation:
    def test_an_overdue_branch_is_escalated_once_to_the_departments_head(self, session, accepted_bundle,
                                                                         head_of_scjg):
        app = accepted_bundle()
        late = date(2026, 10, 12)  # SCJG-001 was due on 10-10
        assert applications_service.escalate_overdue(session, late) == 1
        assert applications_service.escalate_overdue(session, late) == 0
        assert count(session, Notification, Notification.user_id == head_of_scjg) == 1
        kinds = session.scalars(select(Event.kind).where(Event.application_id == app.id)).all()
        assert kinds.count("escalated") == 1


class TestModellerProcess:
    """An item whose process is a file drawn in Camunda Modeler: lanes and a parallel gateway."""

    def _item_with_drawn_process(self, session):
        import json
        from pathlib import Path

        from yiwang.catalog import service as catalog_service
        from yiwang.core.actor import SYSTEM
        from yiwang.workflow import service as workflow_service

        xml = (Path(__file__).parents[1] / "workflow" / "fixtures" / "camunda_modeler_parallel.bpmn").read_text()
        workflow_service.register_definition(session, SYSTEM, "restaurant-joint", xml)
        doc = json.loads(catalog_service.export_catalog(session, "json"))
        item = next(i for i in doc["items"] if i["code"] == "LHSR-001")
        item.update(code="LHSR-099", name="招牌联合审查", process_key="restaurant-joint",
                    materials=[m for m in item["materials"] if m["code"] != "business_licence"])
        catalog_service.import_catalog(session, SYSTEM, json.dumps({"items": [item], "bundles": []},
                                                                   ensure_ascii=False), "json")
        session.commit()

    def _file(self, session, citizen, clerk, upload):
        self._item_with_drawn_process(session)
        app, _ = applications_service.create(
            session, citizen, subject_kind="item", subject_code="LHSR-099",
            data=form_data(registered_capital=None, business_scope=None, food_category=None, floor_area=None),
            materials={"sign_design": upload(citizen), "owner_consent": upload(citizen)}, submit=True)
        return applications_service.accept(session, clerk, app.id)

    def test_both_parallel_steps_wait_and_the_branch_ends_when_both_are_approved(
            self, session, citizen, clerk, lhsr, upload):
        app = self._file(session, citizen, clerk, upload)
        [b] = app.branches
        assert sorted(t.name for t in b.tasks) == sorted(["食品经营许可审批", "消防安全检查"])
        with pytest.raises(errors.TaskNotWaiting):  # two steps wait: the approver must say which
            applications_service.decide(session, lhsr, app.id, b.id, "approve")
        first, second = b.tasks
        app = applications_service.decide(session, lhsr, app.id, b.id, "approve", task_id=first.id)
        assert [t.id for t in app.branches[0].tasks] == [second.id]
        app = applications_service.decide(session, lhsr, app.id, b.id, "approve", task_id=second.id)
        assert (app.status, app.outcome, app.branches[0].certificate_id is not None) == ("closed", "approved", True)

    def test_a_correction_on_a_drawn_process_returns_to_the_same_step(self, session, citizen, clerk, lhsr, upload):
        app = self._file(session, citizen, clerk, upload)
        [b] = app.branches
        first = b.tasks[0]
        app = applications_service.decide(session, lhsr, app.id, b.id, "correct", "请补充产权证明", task_id=first.id)
        assert app.branches[0].status == "correction"
        app = applications_service.correct(session, citizen, app.id, b.id, materials={"owner_consent": upload(citizen)})
        assert (app.branches[0].status, len(app.branches[0].tasks)) == ("in_review", 2)

    def test_a_rejection_on_one_parallel_step_ends_the_branch(self, session, citizen, clerk, lhsr, upload):
        app = self._file(session, citizen, clerk, upload)
        [b] = app.branches
        app = applications_service.decide(session, lhsr, app.id, b.id, "reject", "消防条件不符合",
                                          task_id=b.tasks[1].id)
        assert (app.status, app.outcome, app.branches[0].tasks) == ("closed", "rejected", [])
